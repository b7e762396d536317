"""``--policy openpi://HOST:PORT``: any model served with openpi's websocket protocol.

Protocol (openpi ``serving/websocket_policy_server.py`` / ``openpi_client``): on connect the
server sends one binary msgpack frame of metadata; then, per step, the client sends
msgpack(observation dict) and receives msgpack({"actions": [H, D], ...}); a text frame
instead of a reply is an error from the server. numpy arrays travel in openpi's msgpack layout
(``vla_eval.wire``).

One websocket connection per env slot (``Observation.env_id``), as openpi's own clients run
one connection per environment; ``infer_batch`` sends the observations of a batch over their
connections concurrently and waits for all replies. ``reset(env_ids)`` closes those slots'
connections so that the next episode starts a fresh server session.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from vla_eval import wire
from vla_eval.conventions import CONVENTIONS, ActionSpace, Convention
from vla_eval.errors import UsageError
from vla_eval.policies.openpi.mapping import (
    EPISODE_KEY,
    OPENPI_IMAGE_SIZE,
    STEP_KEY,
    get_mapping,
)
from vla_eval.policy import Policy
from vla_eval.types import Observation, PolicySpec


class RemotePolicyError(RuntimeError):
    """The server answered with an error frame, closed the connection, or sent a bad reply."""


def _known(cls: type[Convention], value: Any) -> Convention | None:
    try:
        return cls.parse_optional(value)
    except ValueError:
        return None


def _ws_uri(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        rest = url
    elif scheme not in ("openpi", "ws", "wss"):
        raise UsageError(f"openpi policy url {url!r}: scheme must be openpi://, ws:// or wss://")
    rest = rest.rstrip("/")
    if not rest:
        raise UsageError(f"openpi policy url {url!r} has no HOST:PORT")
    return ("wss://" if scheme == "wss" else "ws://") + rest


class _Session:
    """One websocket connection (one env slot)."""

    def __init__(self, uri: str, headers: dict[str, str] | None, open_timeout: float, max_size: int | None) -> None:
        from websockets.exceptions import InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        try:
            self.ws = connect(
                uri, compression=None, max_size=max_size, additional_headers=headers, open_timeout=open_timeout
            )
        except InvalidStatus as e:
            code = e.response.status_code
            hint = " (wrong or missing token?)" if code in (401, 403) else ""
            raise UsageError(f"openpi server at {uri} refused the connection: HTTP {code}{hint}") from None
        except (OSError, TimeoutError, ValueError, WebSocketException) as e:
            raise UsageError(f"cannot connect to an openpi server at {uri}: {e}") from None
        try:
            first = self.ws.recv(timeout=open_timeout)
        except (TimeoutError, WebSocketException) as e:
            self.ws.close()
            raise UsageError(f"openpi server at {uri} sent no metadata frame: {e}") from None
        if isinstance(first, str):
            self.ws.close()
            raise UsageError(f"openpi server at {uri} sent an error instead of its metadata: {first.strip()[:500]}")
        meta = wire.unpackb(first)
        self.metadata = meta if isinstance(meta, dict) else {}

    def infer(self, payload: dict[str, Any], timeout: float, max_bytes: int | None) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        try:
            self.ws.send(wire.packb(payload))
            reply = self.ws.recv(timeout=timeout)
        except ConnectionClosed as e:
            raise RemotePolicyError(f"the server closed the connection ({e})") from None
        except TimeoutError:
            raise RemotePolicyError(f"no reply from the server in {timeout:.0f} s") from None
        if isinstance(reply, str):
            raise RemotePolicyError(f"error from the server: {reply.strip()}")
        out = wire.unpackb(reply, max_bytes=max_bytes)
        if not isinstance(out, dict) or "actions" not in out:
            raise RemotePolicyError(
                f"reply has no 'actions' (keys: {sorted(out) if isinstance(out, dict) else type(out).__name__})"
            )
        return out

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass


class OpenpiPolicy(Policy):
    """A remote policy speaking openpi's websocket protocol.

    Args:
        url: openpi://HOST:PORT (or ws://, wss://); set from ``--policy``.
        mapping: observation key mapping: libero, aloha or generic (default: the one a
            ``vla-eval serve`` server announces, else libero).
        action_space: the suite's action space (the runner passes it); gives the action dimension.
        action_dim: the action dimension, when no action_space is given (default 7).
        horizon: chunk length H (default: the server's metadata, else 1; informational).
        cameras: harness cameras to render and send (default: the mapping's, or the served
            policy's).
        image_size: openpi-style mappings resize-with-pad images to this square size.
        token: sent as ``Authorization: Api-Key TOKEN`` (openpi_client's api_key header).
        open_timeout / reply_timeout: seconds to connect / to wait for one reply.
        max_message_bytes: largest reply accepted (default: no limit, as openpi's client).
        replan_steps: actions executed per chunk (default: the server's, else the suite's).
        max_batch: the most observations sent concurrently.
    """

    def __init__(
        self,
        url: str,
        mapping: str | None = None,
        action_space: ActionSpace | None = None,
        action_dim: int | None = None,
        horizon: int | None = None,
        cameras: Sequence[str] | str | None = None,
        image_size: int = OPENPI_IMAGE_SIZE,
        token: str | None = None,
        open_timeout: float = 30.0,
        reply_timeout: float = 600.0,
        max_message_bytes: int | None = None,
        replan_steps: int | None = None,
        max_batch: int = 64,
    ) -> None:
        if action_dim is None:
            action_dim = action_space.dim if action_space is not None else 7
        self.url = url
        self.uri = _ws_uri(url)
        self.headers = {"Authorization": f"Api-Key {token}"} if token else None
        self.open_timeout = float(open_timeout)
        self.reply_timeout = float(reply_timeout)
        self.max_message_bytes = max_message_bytes
        self.image_size = int(image_size)
        self._lock = threading.Lock()
        self._sessions: dict[int, _Session] = {}
        probe = _Session(self.uri, self.headers, self.open_timeout, self.max_message_bytes)
        self.server_metadata = probe.metadata
        ours = self.server_metadata.get("vla_eval")
        self.served = ours if isinstance(ours, dict) else None
        served_spec = (self.served or {}).get("policy_spec") or {}
        self.mapping = get_mapping(mapping or (self.served or {}).get("mapping") or "libero")
        if isinstance(cameras, str):
            cameras = [c for c in cameras.split(",") if c]
        self.cameras = tuple(cameras or self.mapping.cameras or served_spec.get("cameras") or ())
        meta_h = served_spec.get("horizon") or self.server_metadata.get("action_horizon")
        self.horizon = int(horizon or meta_h or 1)
        if self.served is not None and served_spec.get("action_dim") not in (None, action_dim):
            probe.close()
            raise UsageError(
                f"policy served at {self.uri} returns {served_spec['action_dim']}-D actions;"
                f" this suite takes {action_dim}-D"
            )
        self.action_dim = int(action_dim)
        self.replan_steps = replan_steps or served_spec.get("replan_steps")
        self.max_batch = int(max_batch)
        self.checkpoint = served_spec.get("checkpoint")
        # The conventions a ``vla-eval serve`` server's policy declares (checked by the suite);
        # a value this version does not know is left undeclared.
        self.conventions = {k: _known(cls, served_spec.get(k)) for k, cls in CONVENTIONS.items()}
        self._pool = ThreadPoolExecutor(max_workers=self.max_batch, thread_name_prefix="openpi")
        self._sessions[-1] = probe  # reused by the first env slot that asks

    def metadata(self) -> PolicySpec:
        return PolicySpec(
            name=f"openpi[{self.uri}]",
            action_dim=self.action_dim,
            horizon=self.horizon,
            cameras=self.cameras,
            needs_state=True,
            replan_steps=self.replan_steps,
            max_batch=self.max_batch,
            checkpoint=self.checkpoint,
            **self.conventions,
        )

    def _session(self, env_id: int) -> _Session:
        with self._lock:
            s = self._sessions.get(env_id)
            if s is None and -1 in self._sessions:
                s = self._sessions.pop(-1)
                self._sessions[env_id] = s
        if s is None:
            s = _Session(self.uri, self.headers, self.open_timeout, self.max_message_bytes)
            with self._lock:
                self._sessions[env_id] = s
        return s

    def _payload(self, obs: Observation) -> dict[str, Any]:
        missing = [c for c in self.mapping.cameras if c not in obs.images]
        if missing:
            raise ValueError(
                f"openpi mapping {self.mapping.name!r} needs cameras {missing};"
                f" the observation has {sorted(obs.images)}"
            )
        d = self.mapping.to_wire(obs, self.image_size)
        if self.served is not None:
            d[EPISODE_KEY] = obs.episode_id
            d[STEP_KEY] = int(obs.step)
        return d

    def _infer_env(self, env_id: int, observations: list[Observation]) -> list[np.ndarray]:
        session = self._session(env_id)
        out = []
        for obs in observations:
            try:
                reply = session.infer(self._payload(obs), self.reply_timeout, self.max_message_bytes)
            except RemotePolicyError as e:
                self._drop(env_id)
                raise RemotePolicyError(
                    f"openpi server {self.uri}, env {env_id}, episode {obs.episode_id}: {e}"
                ) from None
            actions = np.asarray(reply["actions"])
            if actions.ndim == 1:
                actions = actions[None]
            out.append(actions)
        return out

    def infer_batch(self, observations: list[Observation]) -> np.ndarray:
        by_env: dict[int, list[int]] = {}
        for i, o in enumerate(observations):
            by_env.setdefault(o.env_id, []).append(i)
        futures = {
            env: self._pool.submit(self._infer_env, env, [observations[i] for i in idx]) for env, idx in by_env.items()
        }
        chunks: list[np.ndarray | None] = [None] * len(observations)
        errors = []
        for env, fut in futures.items():
            try:
                for i, a in zip(by_env[env], fut.result()):
                    chunks[i] = a
            except Exception as e:  # noqa: BLE001 - collected, the first is raised below
                errors.append(e)
        if errors:
            raise errors[0]
        shapes = {c.shape for c in chunks if c is not None}
        if len(shapes) != 1:
            raise RemotePolicyError(
                f"openpi server {self.uri} returned chunks of different shapes {sorted(shapes)} in one batch"
            )
        return np.stack(chunks)  # the harness validates dtype, shape and values

    def _drop(self, env_id: int) -> None:
        with self._lock:
            s = self._sessions.pop(env_id, None)
        if s is not None:
            s.close()

    def reset(self, env_ids: Sequence[int] | None = None) -> None:
        """A new episode in these slots: close their connections (the next call reconnects)."""
        with self._lock:
            ids = [k for k in self._sessions if k != -1] if env_ids is None else list(env_ids)
        for env_id in ids:
            self._drop(env_id)

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for s in sessions:
            s.close()
        self._pool.shutdown(wait=False)
