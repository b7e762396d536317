"""Policy replicas: the policy object in the runner's process, or one process per GPU.

Both are :class:`~vla_eval.executors.interfaces.PolicyReplica`: ``submit(observations)`` then
``collect() -> (actions, seconds)``; ``collect`` raises PolicyCrashed when the policy raised.
One batch is in flight per replica at a time. The policy itself sits in a
:class:`~vla_eval.executors.replica_core.ReplicaCore` (here or in the replica process).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Mapping, Sequence

from vla_eval import conventions, wire
from vla_eval.executors.interfaces import PolicyCrashed
from vla_eval.executors.local import open_log, spawn
from vla_eval.executors.replica_core import (
    METADATA,
    Inference,
    ReplicaCore,
    infer_message,
    reset_message,
    spec_from_reply,
)
from vla_eval.types import Observation, PolicySpec

__all__ = ["InProcessPolicy", "PolicyCrashed", "ProcessPolicy"]


class InProcessPolicy:
    """The policy in the runner's process (CPU runs, debugging): no wire, no isolation."""

    def __init__(self, policy: Any, label: str, index: int = 0) -> None:
        self.core = policy if isinstance(policy, ReplicaCore) else ReplicaCore(policy)
        self.policy = self.core.policy
        self.label = label
        self.index = index
        self.busy = False
        self._result: Inference | None = None

    def ready_now(self) -> bool:
        return self.busy

    def wait_handle(self) -> None:
        return None

    def metadata(self) -> PolicySpec:
        return self.core.metadata()

    def reset(self, env_ids: Sequence[int] | None) -> None:
        self.core.reset(env_ids)

    def submit(self, observations: list[Observation]) -> None:
        self.busy = True
        self._result = self.core.infer(observations)

    def collect(self) -> tuple[Any, float]:
        self.busy = False
        result, self._result = self._result, None
        assert result is not None, "collect without a submitted batch"
        return result.unwrap(self.label)  # the policy's exception is chained: its traceback is printed

    def close(self) -> None:
        self.core.close()


class ProcessPolicy:
    """A replica process (see ``vla_eval.policy_worker``) with its own environment (e.g. one GPU)."""

    def __init__(
        self,
        index: int,
        policy: str,
        policy_args: Mapping[str, Any],
        label: str,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.index = index
        self.label = label
        self.busy = False
        self._log = open_log(log_path)
        self.proc, self.tx, self.rx = spawn(
            [
                sys.executable,
                "-m",
                "vla_eval.policy_worker",
                "--policy",
                policy,
                "--policy-args",
                json.dumps(dict(policy_args), default=conventions.json_default),  # ActionSpace: tagged
            ],
            dict(env or {}),
            self._log,
        )

    def ready_now(self) -> bool:
        return False

    def wait_handle(self) -> Connection | None:
        return self.rx if self.busy else None

    def _send(self, msg: dict[str, Any]) -> None:
        try:
            self.tx.send_bytes(wire.packb(msg))
        except OSError:
            raise PolicyCrashed(self._death()) from None

    def _recv(self) -> dict[str, Any]:
        try:
            return wire.unpackb(self.rx.recv_bytes())
        except (EOFError, OSError):
            raise PolicyCrashed(self._death()) from None

    def _death(self) -> str:
        code = self.proc.poll()
        if code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.proc.wait(timeout=5)
        return f"policy replica {self.index} ({self.label!r}) died (exit code {code})"

    def metadata(self) -> PolicySpec:
        self._send(METADATA)
        return spec_from_reply(self._recv(), self.label, self.index)

    def reset(self, env_ids: Sequence[int] | None) -> None:
        self._send(reset_message(env_ids))

    def submit(self, observations: list[Observation]) -> None:
        self.busy = True
        self._send(infer_message(observations))

    def collect(self) -> tuple[Any, float]:
        self.busy = False
        return Inference.from_wire(self._recv()).unwrap(self.label, self.index)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.tx.send_bytes(wire.packb({"op": "close"}))
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for c in (self.tx, self.rx):
            with contextlib.suppress(OSError):
                c.close()
        if self._log is not None:
            self._log.close()
