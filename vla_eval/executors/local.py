"""Env slots on this machine: worker subprocesses (the default) or one in-process worker.

A slot holds one simulator and runs one episode at a time. Both kinds answer the same
messages (see ``vla_eval.worker``); the rollout loop cannot tell them apart.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from vla_eval import wire
from vla_eval.worker import WorkerCore


class WorkerDied(RuntimeError):
    pass


def spawn(
    cmd: list[str], env: dict[str, str], log: IO[bytes] | None
) -> tuple[subprocess.Popen, Connection, Connection]:
    """Start ``cmd + ["--read-fd", R, "--write-fd", W]`` with a private pipe pair.

    Returns (process, tx to the child, rx from the child). The child's stdout and stderr go to
    ``log``, so nothing it prints can corrupt the channel; it runs in its own session, so Ctrl-C
    reaches only the runner, which stops its children itself.
    """
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    out = log if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        [*cmd, "--read-fd", str(to_child_r), "--write-fd", str(from_child_w)],
        pass_fds=(to_child_r, from_child_w),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=out,
        env={**os.environ, **env},
        start_new_session=True,
    )
    os.close(to_child_r)
    os.close(from_child_w)
    return proc, Connection(to_child_w, readable=False), Connection(from_child_r, writable=False)


def open_log(path: Path | None) -> IO[bytes] | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "ab")


class ProcessSlot:
    """A worker subprocess; messages go over a private pipe pair, its stdout/stderr to a log file."""

    def __init__(
        self,
        index: int,
        suite: str,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        python: str | None = None,
    ) -> None:
        self.index = index
        self.suite = suite
        self.env = env or {}
        self.log_path = log_path
        self.python = python or sys.executable
        self.proc: subprocess.Popen | None = None
        self.rx: Connection | None = None
        self.tx: Connection | None = None
        self._log: IO[bytes] | None = None
        self.start()

    def start(self) -> None:
        self._log = open_log(self.log_path)
        self.proc, self.tx, self.rx = spawn(
            [self.python, "-m", "vla_eval.worker", "--suite", self.suite], self.env, self._log
        )

    def ready_now(self) -> bool:
        return False

    def wait_handle(self) -> Connection | None:
        return self.rx

    def send(self, msg: dict[str, Any]) -> None:
        assert self.tx is not None
        try:
            self.tx.send_bytes(wire.packb(msg))
        except (BrokenPipeError, OSError) as e:
            raise WorkerDied(self._death(f"{type(e).__name__}")) from None

    def recv(self) -> dict[str, Any]:
        assert self.rx is not None
        try:
            return wire.unpackb(self.rx.recv_bytes())
        except (EOFError, OSError):
            raise WorkerDied(self._death("closed its channel")) from None

    def _death(self, what: str) -> str:
        code = self.proc.poll() if self.proc else None
        if code is None and self.proc is not None:
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        if code is not None and code < 0:
            try:
                what = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                what = f"exited with signal {-code}"
        elif code is not None:
            what = f"exited with code {code}"
        log = f" (log: {self.log_path})" if self.log_path else ""
        return f"env worker {self.index} {what}{log}"

    def kill(self) -> None:
        for c in (self.tx, self.rx):
            if c is not None:
                with contextlib.suppress(OSError):
                    c.close()
        self.tx = self.rx = None
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        if self.tx is not None and self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.tx.send_bytes(wire.packb({"op": "close"}))
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self.kill()


class InProcessSlot:
    """The worker runs in the runner's process (``--in-process``): for debugging and profiling.

    No crash isolation and no watchdog: a simulator that hangs hangs the run. Messages still
    go through the wire codec so that behaviour matches the subprocess path exactly.
    """

    def __init__(self, index: int, suite: str, env: dict[str, str] | None = None, log_path: Path | None = None):
        self.index = index
        os.environ.update(env or {})
        self.core = WorkerCore(suite)
        self._reply: bytes | None = None

    def ready_now(self) -> bool:
        return self._reply is not None

    def wait_handle(self) -> None:
        return None

    def send(self, msg: dict[str, Any]) -> None:
        reply = self.core.handle(wire.unpackb(wire.packb(msg)))
        self._reply = wire.packb(reply)

    def recv(self) -> dict[str, Any]:
        data, self._reply = self._reply, None
        assert data is not None, "recv without a pending reply"
        return wire.unpackb(data)

    def kill(self) -> None:
        self.core.close()

    def restart(self) -> None:
        self.core.close()

    def close(self) -> None:
        self.core.close()
