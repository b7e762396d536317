"""Policy replicas: the policy object in the runner's process, or one process per GPU.

Both answer ``submit(observations)`` then ``collect() -> (actions, seconds)``; ``collect``
raises PolicyCrashed when the policy raised. One batch is in flight per replica at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Mapping, Sequence

from vla_eval import conventions, wire
from vla_eval.executors.local import open_log, spawn
from vla_eval.types import Observation


class PolicyCrashed(RuntimeError):
    """The policy raised inside ``infer_batch`` (or its replica died): the run stops."""


class InProcessPolicy:
    def __init__(self, policy: Any, label: str, index: int = 0) -> None:
        self.policy = policy
        self.label = label
        self.index = index
        self.busy = False
        self._result: tuple[Any, float] | None = None
        self._error: BaseException | None = None

    def ready_now(self) -> bool:
        return self.busy

    def wait_handle(self) -> None:
        return None

    def reset(self, env_ids: Sequence[int] | None) -> None:
        self.policy.reset(list(env_ids) if env_ids is not None else None)

    def submit(self, observations: list[Observation]) -> None:
        self.busy = True
        t0 = time.perf_counter()
        try:
            self._result = (self.policy.infer_batch(observations), time.perf_counter() - t0)
        except Exception as e:
            self._error = e

    def collect(self) -> tuple[Any, float]:
        self.busy = False
        err, self._error = self._error, None
        if err is not None:
            raise PolicyCrashed(f"policy {self.label!r} raised {type(err).__name__}: {err}") from err
        result, self._result = self._result, None
        assert result is not None
        return result

    def close(self) -> None:
        if hasattr(self.policy, "close"):
            self.policy.close()


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

    def metadata(self) -> dict[str, Any]:
        self._send({"op": "metadata"})
        reply = self._recv()
        return reply["spec"]

    def reset(self, env_ids: Sequence[int] | None) -> None:
        self._send({"op": "reset", "env_ids": list(env_ids) if env_ids is not None else None})

    def submit(self, observations: list[Observation]) -> None:
        self.busy = True
        self._send({"op": "infer", "obs": [wire.observation_to_dict(o) for o in observations]})

    def collect(self) -> tuple[Any, float]:
        self.busy = False
        reply = self._recv()
        if not reply.get("ok"):
            raise PolicyCrashed(
                f"policy {self.label!r} (replica {self.index}) raised {reply.get('error')}\n{reply.get('traceback', '')}"
            )
        return reply["actions"], float(reply.get("elapsed", 0.0))

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
