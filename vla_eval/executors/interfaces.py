"""What the rollout loop needs from env slots and policy replicas, whatever executor made them.

Every executor (local subprocesses, in-process, Ray actors) gives the loop objects with these
methods; ``vla_eval.rollout`` and ``vla_eval.executors.waiting`` use nothing else.

A reply is waited for through ``ready_now()`` (a reply already in hand: in-process work) or
``wait_handle()`` (a multiprocessing Connection, a Ray ObjectRef, or None when nothing is out).
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from vla_eval.types import Observation, PolicySpec


class PolicyCrashed(RuntimeError):
    """The policy raised inside ``infer_batch`` (or its replica died): the run stops."""


@runtime_checkable
class Waitable(Protocol):
    """Something with at most one reply outstanding."""

    def ready_now(self) -> bool:
        """A reply is already in hand (in-process work): no need to wait."""
        ...

    def wait_handle(self) -> Any:
        """What to wait on for the reply (a Connection, a Ray ObjectRef), or None."""
        ...


@runtime_checkable
class EnvSlot(Waitable, Protocol):
    """One simulator, one episode at a time, driven by the messages of ``vla_eval.worker``.

    ``send`` and ``recv`` raise ``vla_eval.executors.local.WorkerDied`` when the worker is gone.
    """

    index: int

    def send(self, msg: dict[str, Any]) -> None: ...

    def recv(self) -> dict[str, Any]: ...

    def kill(self) -> None:
        """Stop the worker now (no goodbye): after a crash, a hang, or at the end of a run."""
        ...

    def restart(self) -> None:
        """A fresh worker in place of this one (its simulator state is lost)."""
        ...

    def close(self) -> None:
        """Ask the worker to exit, then make sure it did."""
        ...


@runtime_checkable
class PolicyReplica(Waitable, Protocol):
    """One copy of the policy: ``submit`` a batch, then ``collect`` its actions; one batch at a time.

    ``busy`` is True between ``submit`` and ``collect``. ``collect`` and ``metadata`` raise
    :class:`PolicyCrashed` when the policy raised or its replica died.
    """

    index: int
    busy: bool

    def metadata(self) -> PolicySpec: ...

    def reset(self, env_ids: Sequence[int] | None) -> None: ...

    def submit(self, observations: list[Observation]) -> None: ...

    def collect(self) -> tuple[Any, float]:
        """The actions of the submitted batch (not validated) and the seconds inference took."""
        ...

    def close(self) -> None: ...


__all__ = ["EnvSlot", "PolicyCrashed", "PolicyReplica", "Waitable"]
