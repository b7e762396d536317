"""One run per OUT: an OS lock on ``OUT/.lock`` held for as long as a ``vla-eval run`` writes there.

The lock is ``flock(LOCK_EX | LOCK_NB)`` on an open file descriptor: the kernel drops it when
the process dies, however it dies (``kill -9`` included), so a lock left by a killed run never
blocks its resume; there is no stale-lock file to clean up. A second ``vla-eval run`` into the
same OUT while the first holds the lock is refused with one line (exit 2) and writes nothing.
Several machines on one evaluation are the Ray executor's job (one runner, one ledger), not
several runners on one OUT.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from vla_eval.errors import UsageError

LOCK_FILE = ".lock"


def _refusal(out: Path, holder: str) -> UsageError:
    who = f" (pid {holder})" if holder else ""
    return UsageError(f"--out {out} is in use by another vla-eval run{who}; wait for it to finish or use another --out")


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 64, 0).decode(errors="replace").strip()
    except OSError:
        return ""


def check_free(out: Path) -> None:
    """Refuse early (before any work) when another run holds OUT's lock. Creates nothing."""
    path = Path(out) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # no lock file: no run has ever locked OUT (or OUT does not exist yet)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _refusal(out, _holder(fd)) from None
    finally:
        os.close(fd)  # closing drops the probe's lock at once


class RunLock:
    """Holds ``OUT/.lock`` until :meth:`release` (or the process's death)."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.path = self.out / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock (OUT must exist); UsageError when another process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise _refusal(self.out, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # for the refusal message only; the lock is the flock
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
