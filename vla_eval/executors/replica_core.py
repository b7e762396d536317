"""One policy replica's work, whatever carries its messages.

The replica subprocess (``vla_eval.policy_worker``), the Ray policy actor, the in-process
replica and ``vla-eval serve`` all hold a :class:`ReplicaCore`: the loaded policy, and the one
place that calls its ``metadata``, ``reset`` and ``infer_batch``, times inference and turns an
exception into an error reply instead of a dead replica.

Messages (dicts; msgpack on the wire) and replies:

    {"op": "metadata"}                           -> {"ok": True, "spec": PolicySpec dict}
    {"op": "reset", "env_ids": [int] | None}     -> (no reply)
    {"op": "infer", "obs": [Observation dicts]}  -> {"ok": True, "actions": [B, H, D], "elapsed": s}
    a failure                                    -> {"ok": False, "error": "Type: text", "traceback": "..."}

``{"op": "close"}`` is for the carrier (it stops serving); the core never sees it.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from vla_eval import wire
from vla_eval.executors.interfaces import PolicyCrashed
from vla_eval.types import Observation, PolicySpec
from vla_eval.validate import ActionError, check_batch, check_chunk


@dataclass(frozen=True)
class Inference:
    """The outcome of one ``infer_batch`` call: the actions and the seconds it took, or its error.

    ``exception`` is the exception itself, kept only in the process that raised it (never on
    the wire), so that the in-process replica can chain it and the server can answer with it.
    """

    actions: Any = None
    elapsed: float = 0.0
    error: str | None = None
    traceback: str = ""
    exception: BaseException | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_wire(self) -> dict[str, Any]:
        if self.ok:
            return {"ok": True, "actions": self.actions, "elapsed": self.elapsed}
        return {"ok": False, "error": self.error, "traceback": self.traceback}

    @classmethod
    def from_wire(cls, reply: Mapping[str, Any]) -> Inference:
        if reply.get("ok"):
            return cls(actions=reply["actions"], elapsed=float(reply.get("elapsed", 0.0)))
        return cls(error=str(reply.get("error")), traceback=str(reply.get("traceback", "")))

    def unwrap(self, label: str, replica: int | None = None) -> tuple[Any, float]:
        """``(actions, seconds)``; raises PolicyCrashed when the policy raised."""
        if self.ok:
            return self.actions, self.elapsed
        where = "" if replica is None else f" (replica {replica})"
        msg = f"policy {label!r}{where} raised {self.error}"
        if self.exception is None and self.traceback:  # a chained exception prints its own
            msg += f"\n{self.traceback}"
        raise PolicyCrashed(msg) from self.exception


def _failure(e: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


# --- the messages a replica's owner sends (subprocess pipe, Ray actor) ------------------------
METADATA: dict[str, Any] = {"op": "metadata"}


def reset_message(env_ids: Sequence[int] | None) -> dict[str, Any]:
    return {"op": "reset", "env_ids": list(env_ids) if env_ids is not None else None}


def infer_message(observations: Sequence[Observation]) -> dict[str, Any]:
    return {"op": "infer", "obs": [wire.observation_to_dict(o) for o in observations]}


def spec_from_reply(reply: Mapping[str, Any], label: str, replica: int) -> PolicySpec:
    """The PolicySpec of a ``metadata`` reply; raises PolicyCrashed when ``metadata()`` raised."""
    if not reply.get("ok"):
        raise PolicyCrashed(
            f"policy {label!r} (replica {replica}): metadata() raised {reply.get('error')}\n"
            f"{reply.get('traceback', '')}"
        )
    return wire.policy_spec_from_dict(reply["spec"])


def encode_reply(reply: Mapping[str, Any]) -> bytes:
    """msgpack of a reply; actions the wire cannot carry become an error reply (the policy's fault)."""
    try:
        return wire.packb(dict(reply))
    except (TypeError, ValueError) as e:
        return wire.packb({"ok": False, "error": f"unsendable actions: {e}", "traceback": ""})


class ReplicaCore:
    """A loaded policy behind the replica messages (see the module docstring)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self._spec: PolicySpec | None = None

    @classmethod
    def load(cls, name_or_path: str, args: Mapping[str, Any] | None = None) -> ReplicaCore:
        from vla_eval.policy import load_policy

        return cls(load_policy(name_or_path, args))

    def metadata(self) -> PolicySpec:
        """The policy's PolicySpec (asked once: it is the policy's fixed contract)."""
        if self._spec is None:
            self._spec = self.policy.metadata()
        return self._spec

    def reset(self, env_ids: Sequence[int] | None) -> None:
        self.policy.reset(list(env_ids) if env_ids is not None else None)

    def infer(self, observations: list[Observation]) -> Inference:
        """One ``infer_batch`` call, timed; an exception is captured, never raised."""
        t0 = time.perf_counter()
        try:
            actions = self.policy.infer_batch(observations)
        except Exception as e:  # noqa: BLE001 - the policy's error goes back to whoever asked
            return Inference(
                elapsed=time.perf_counter() - t0,
                error=f"{type(e).__name__}: {e}",
                traceback=traceback.format_exc(),
                exception=e,
            )
        return Inference(actions=actions, elapsed=time.perf_counter() - t0)

    def infer_each(self, observations: list[Observation], label: str) -> list[Any]:
        """One ``infer_batch`` call; per observation a checked float32 chunk [H, D] or an exception.

        When the batched call raises or returns a malformed batch, each observation is run
        alone, so that only the observations that make the policy fail get an error (one
        client's bad input never fails another's). Used by ``vla-eval serve``.
        """
        inf = self.infer(observations)
        err = inf.exception
        if inf.ok:
            try:
                check_batch(inf.actions, len(observations), label)
            except ActionError as e:
                err = e
        if err is not None:
            if len(observations) == 1:
                return [err]
            return [res for o in observations for res in self.infer_each([o], label)]
        action_dim = self.metadata().action_dim
        out: list[Any] = []
        for o, chunk in zip(observations, inf.actions):
            try:
                out.append(check_chunk(np.asarray(chunk), action_dim, label, o.episode_id))
            except ActionError as e:
                out.append(e)
        return out

    def handle(self, msg: Mapping[str, Any]) -> dict[str, Any] | None:
        """Answer one message (a dict as decoded from the wire); ``reset`` has no reply.

        A failing ``reset`` raises (its caller expects no reply to carry the error)."""
        op = msg.get("op")
        if op == "reset":
            self.reset(msg.get("env_ids"))
            return None
        try:
            if op == "metadata":
                return {"ok": True, "spec": wire.policy_spec_to_dict(self.metadata())}
            if op == "infer":
                return self.infer([wire.observation_from_dict(o) for o in msg["obs"]]).to_wire()
            raise ValueError(f"unknown replica message {op!r}")
        except Exception as e:  # noqa: BLE001 - a bad message is answered, the replica lives on
            return _failure(e)

    def handle_bytes(self, data: bytes) -> bytes | None:
        """``handle`` on msgpack bytes: the reply encoded, or None."""
        reply = self.handle(wire.unpackb(data))
        return None if reply is None else encode_reply(reply)

    def close(self) -> None:
        if hasattr(self.policy, "close"):
            self.policy.close()


__all__ = [
    "METADATA",
    "Inference",
    "ReplicaCore",
    "encode_reply",
    "infer_message",
    "reset_message",
    "spec_from_reply",
]
