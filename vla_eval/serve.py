"""``vla-eval serve``: any of our policies behind openpi's websocket protocol.

    vla-eval serve --policy qwen_vla --policy-args checkpoint=DIR embodiment=franka_libero \\
        --suite libero_spatial --port 8000

Protocol (openpi-compatible): on connect the server sends a msgpack metadata dict (openpi
clients read and keep it; ours reads the served PolicySpec from its "vla_eval" entry); then
each binary msgpack observation is answered with msgpack({"actions": [H, D] float32,
"server_timing": {"infer_ms", "batch_size"}}). Errors are text frames (openpi's client raises
them as RuntimeError) and the session stays open: a malformed frame or a policy exception
affects only the requests concerned.

- Batching: requests of concurrent sessions go into one ``infer_batch`` call, up to
  ``--max-batch`` (default: the policy's max_batch); the server waits at most
  ``--max-wait-ms`` for more requests once one arrived, and not at all once every connected
  session has one in.
- One session per connection: it is the env slot (``Observation.env_id``) the policy sees;
  when the connection closes the policy's ``reset([slot])`` runs.
- ``GET /healthz`` answers 200 "OK".
- Bound to 127.0.0.1 unless ``--host`` says otherwise.
- ``--token T`` (or the environment variable VLA_EVAL_SERVE_TOKEN): every websocket handshake
  must carry the header ``Authorization: Api-Key T`` (what openpi_client sends for its
  ``api_key``) or ``Authorization: Bearer T``; otherwise HTTP 401. /healthz needs no token.
- ``--max-message-bytes N``: a larger frame closes that session with code 1009 (message too big).
- ``--suite S``: the suite whose observation keys clients send (LIBERO: openpi's
  "observation/image" ... keys) and whose action convention the policy gets, as in ``run``.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from vla_eval import wire
from vla_eval.codecs import DEFAULT_CODEC, get_codec
from vla_eval.errors import UsageError
from vla_eval.executors.replica_core import ReplicaCore
from vla_eval.types import Observation, PolicySpec

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
TOKEN_ENV = "VLA_EVAL_SERVE_TOKEN"


@dataclass
class _Request:
    session: int
    obs: Observation
    future: asyncio.Future


@dataclass
class _Session:
    sid: int
    episode: str
    steps: int = 0


class PolicyServer:
    """Serve ``policy`` (our interface) over openpi's websocket protocol.

    ``serve_forever()`` blocks; ``start()`` runs it in a background thread and returns the
    bound port (tests, embedding); ``stop()`` shuts it down.
    """

    def __init__(
        self,
        policy: Any,
        mapping: str = "generic",
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        max_batch: int | None = None,
        max_wait_ms: float = 5.0,
        max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES,
        embodiment: str = "",
        label: str = "",
        extra_metadata: dict[str, Any] | None = None,
        codec: str = DEFAULT_CODEC,
    ) -> None:
        self.policy = policy
        self.core = ReplicaCore(policy)  # metadata, inference with per-request errors, reset
        self.spec: PolicySpec = self.core.metadata()
        self.label = label or self.spec.name
        self.codec = get_codec(codec)
        self.mapping = self.codec.mapping(mapping)
        self.host = host
        self.port = port
        self.token = token or None
        self.max_batch = max(1, int(max_batch or self.spec.max_batch))
        self.max_wait_s = max(0.0, float(max_wait_ms) / 1000.0)
        self.max_message_bytes = max_message_bytes
        self.embodiment = embodiment
        self.metadata = {
            **(extra_metadata or {}),
            "vla_eval": {
                "policy": self.label,
                "policy_spec": wire.policy_spec_to_dict(self.spec),
                "mapping": self.mapping.name,
                "embodiment": embodiment,
            },
            "action_dim": self.spec.action_dim,
            "action_horizon": self.spec.horizon,
        }
        self._ids = itertools.count()
        self._sessions: dict[int, _Session] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy")  # one inference at a time
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._queue: asyncio.Queue[_Request] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.stats = {"batches": 0, "requests": 0, "max_batch_seen": 0, "errors": 0}

    # --- http side ------------------------------------------------------------------------
    def _authorized(self, request: Any) -> bool:
        if self.token is None:
            return True
        got = request.headers.get("Authorization", "")
        for prefix in ("Api-Key ", "Bearer "):
            if got.startswith(prefix) and hmac.compare_digest(got[len(prefix) :].encode(), self.token.encode()):
                return True
        return False

    def _process_request(self, connection: Any, request: Any) -> Any:
        import http

        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if not self._authorized(request):
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
        return None

    # --- observations -----------------------------------------------------------------------
    def _observation(self, d: Any, s: _Session) -> Observation:
        if not isinstance(d, dict):
            raise ValueError(f"an observation must be a msgpack map, got {type(d).__name__}")
        images, state, instruction = self.mapping.from_wire(d)
        missing = [c for c in self.spec.cameras if c not in images]
        if missing:
            raise ValueError(f"observation lacks cameras {missing} (has {sorted(images)})")
        episode = d.get(self.codec.episode_key) or s.episode
        step = d.get(self.codec.step_key)
        step = int(step) if isinstance(step, (int, np.integer)) else s.steps
        s.steps += 1
        emb = d.get("embodiment") if self.mapping.name == "generic" else None
        return Observation(
            images=images,
            state=state,
            instruction=instruction,
            embodiment=str(emb or self.embodiment),
            env_id=s.sid,
            episode_id=str(episode),
            step=step,
        )

    # --- batching ---------------------------------------------------------------------------
    def _infer(self, reqs: list[_Request]) -> list[Any]:
        """In the inference thread: one infer_batch call; per request a chunk or an exception.

        When the batched call fails, each request is run alone, so that only the requests
        that make the policy fail get an error (one session's bad input never fails another's).
        """
        return self.core.infer_each([r.obs for r in reqs], self.label)

    async def _batcher(self) -> None:
        assert self._queue is not None and self._loop is not None
        loop = self._loop
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait_s
            while len(batch) < self.max_batch:
                if len(batch) >= len(self._sessions):
                    break  # every connected session has a request in: nothing more to wait for
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            t0 = time.perf_counter()
            results = await loop.run_in_executor(self._pool, self._infer, batch)
            ms = (time.perf_counter() - t0) * 1000.0
            self.stats["batches"] += 1
            self.stats["requests"] += len(batch)
            self.stats["max_batch_seen"] = max(self.stats["max_batch_seen"], len(batch))
            for r, res in zip(batch, results):
                if not r.future.done():
                    if isinstance(res, BaseException):
                        r.future.set_exception(res)
                    else:
                        r.future.set_result((res, ms, len(batch)))

    async def _handler(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        assert self._queue is not None and self._loop is not None
        sid = next(self._ids)
        s = _Session(sid, episode=f"session-{sid}")
        self._sessions[sid] = s
        try:
            await ws.send(wire.packb(self.metadata))
            while True:
                msg = await ws.recv()
                if isinstance(msg, str):
                    self.stats["errors"] += 1
                    await ws.send("error: expected a binary msgpack frame, got a text frame")
                    continue
                try:
                    obs = self._observation(wire.unpackb(msg), s)
                except Exception as e:  # noqa: BLE001 - malformed input: answer, keep the session
                    self.stats["errors"] += 1
                    await ws.send(f"error: malformed observation: {type(e).__name__}: {e}")
                    continue
                fut = self._loop.create_future()
                await self._queue.put(_Request(sid, obs, fut))
                try:
                    chunk, ms, n = await fut
                except Exception as e:  # noqa: BLE001 - the policy failed on this request
                    self.stats["errors"] += 1
                    await ws.send(f"error: policy {self.label!r} failed: {type(e).__name__}: {e}")
                    continue
                await ws.send(wire.packb({"actions": chunk, "server_timing": {"infer_ms": ms, "batch_size": n}}))
        except ConnectionClosed:
            pass
        finally:
            self._sessions.pop(sid, None)
            try:
                await self._loop.run_in_executor(self._pool, self.core.reset, [sid])
            except Exception:  # noqa: BLE001 - a failing reset must not take the server down
                pass

    # --- running ----------------------------------------------------------------------------
    async def _main(self, install_signals: bool) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._queue = asyncio.Queue()
        if install_signals:
            import signal

            for sig in (signal.SIGINT, signal.SIGTERM):
                self._loop.add_signal_handler(sig, self._stop.set)
        batcher = asyncio.create_task(self._batcher())
        try:
            async with serve(
                self._handler,
                self.host,
                self.port,
                compression=None,
                max_size=self.max_message_bytes,
                process_request=self._process_request,
            ) as server:
                self.port = server.sockets[0].getsockname()[1]
                self._ready.set()
                await self._stop.wait()
        finally:
            batcher.cancel()

    def serve_forever(self) -> None:
        try:
            asyncio.run(self._main(install_signals=threading.current_thread() is threading.main_thread()))
        finally:
            self._pool.shutdown(wait=True)

    def start(self, timeout: float = 30.0) -> int:
        def run() -> None:
            try:
                asyncio.run(self._main(install_signals=False))
            except BaseException as e:  # noqa: BLE001 - surfaced by start()
                self._error = e
                self._ready.set()

        self._thread = threading.Thread(target=run, name="vla-eval-serve", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("server did not start in time")
        if self._error is not None:
            raise self._error
        return self.port

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True)


def serve(
    policy: str,
    port: int,
    policy_args: tuple[str, ...] = (),
    host: str = "127.0.0.1",
    token: Optional[str] = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    suite: Optional[str] = None,
    max_batch: Optional[int] = None,
    max_wait_ms: float = 5.0,
) -> int:
    """Serve a policy over openpi's websocket protocol (any openpi client can evaluate it).

    Args:
        policy: A registered policy name, package.module:ClassName, or openpi://HOST:PORT (a relay).
        port: TCP port to listen on (0: any free port; the chosen one is printed).
        policy_args: Policy constructor arguments as KEY=VALUE (values parsed as JSON when they can be).
        host: Address to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes it to the network).
        token: Require "Authorization: Api-Key TOKEN" (or "Bearer TOKEN") on every connection
            (default: $VLA_EVAL_SERVE_TOKEN, else none).
        max_message_bytes: Largest frame accepted; a larger one closes that session (code 1009).
        suite: The suite clients run: sets the observation keys (LIBERO: openpi's) and the action
            convention passed to the policy.
        max_batch: Most requests in one infer_batch call (default: the policy's max_batch).
        max_wait_ms: Longest wait for more requests once one arrived, before running a batch.
    """
    from vla_eval.policy import load_policy, parse_policy_args, resolve_policy_class

    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {port}")
    if max_message_bytes < 1024:
        raise UsageError(f"--max-message-bytes must be >= 1024, got {max_message_bytes}")
    if max_batch is not None and max_batch < 1:
        raise UsageError(f"--max-batch must be >= 1, got {max_batch}")
    if max_wait_ms < 0:
        raise UsageError(f"--max-wait-ms must be >= 0, got {max_wait_ms}")
    try:
        import websockets  # noqa: F401
    except ImportError:
        raise UsageError("serve needs the websockets package: pip install 'vla-evalkit[serve]'") from None
    user = parse_policy_args(policy_args)
    embodiment, mapping = "", "generic"
    kwargs = dict(user)
    if suite is not None:
        from vla_eval.runner import policy_kwargs
        from vla_eval.suite import get_suite

        s = get_suite(suite)
        kwargs = policy_kwargs(policy, s, user)
        embodiment = s.protocol.embodiment
        mapping = get_codec().mapping_for_embodiment(embodiment).name
    else:
        resolve_policy_class(policy)
    pol = load_policy(policy, kwargs)
    spec = pol.metadata()
    if suite is not None:
        s.check_policy(spec)
    token = token or os.environ.get(TOKEN_ENV) or None
    server = PolicyServer(
        pol,
        mapping=mapping,
        host=host,
        port=port,
        token=token,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_message_bytes=max_message_bytes,
        embodiment=embodiment,
        label=policy,
        extra_metadata={"suite": suite} if suite else None,
    )

    def announce() -> None:
        server._ready.wait()
        if server._error is None:
            auth = ", token required" if token else ""
            print(
                f"serving {policy} ({spec.name}, {spec.action_dim}-D x {spec.horizon}) on ws://{host}:{server.port} "
                f"(mapping {mapping}, max batch {server.max_batch}, max wait {max_wait_ms:g} ms{auth}); "
                "health: /healthz",
                file=sys.stderr,
                flush=True,
            )

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.serve_forever()
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e}") from None
    finally:
        if hasattr(pol, "close"):
            pol.close()
    return 0


__all__ = ["PolicyServer", "serve"]
