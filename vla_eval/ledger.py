"""The episode ledger: ``OUT/run.json`` (the run's configuration) + ``OUT/episodes.jsonl``.

One JSON object per finished episode, appended, flushed and fsynced before the next is
reported, so a killed run loses at most the episodes that were in flight. Running the same
command again skips finished episodes; a different configuration into the same OUT is
refused. A torn last line (a crash mid-write) is cut off and its episode runs again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from vla_eval import __version__
from vla_eval.errors import UsageError
from vla_eval.runlock import RunLock
from vla_eval.types import EpisodeResult

RUN_FILE = "run.json"
EPISODES_FILE = "episodes.jsonl"


def _jsonable(x: Any) -> Any:
    """numpy scalars/arrays inside metrics -> plain JSON values."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return x.tolist()
    return x


def result_row(result: EpisodeResult, run: Mapping[str, Any]) -> dict[str, Any]:
    ep = result.episode
    return {
        "episode_id": ep.episode_id,
        "suite": ep.suite,
        "protocol_version": ep.protocol_version,
        "task": ep.task,
        "task_index": ep.task_index,
        "episode_index": ep.episode_index,
        "seed": ep.seed,
        "init_state_id": ep.init_state_id,
        "scene_id": ep.scene_id,
        "max_steps": ep.max_steps,
        "policy": run.get("policy"),
        "checkpoint": run.get("checkpoint"),
        "harness_version": __version__,
        "simulator": run.get("simulator", {}),
        "status": result.status,
        "error": result.error,
        "error_class": result.error_class,
        "attempts": int(result.attempts),
        "worker": result.worker,
        "success": bool(result.success),
        "steps": int(result.steps),
        "metrics": _jsonable(result.metrics),
        "timing": {k: round(v, 6) for k, v in dataclasses.asdict(result.timing).items()},
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of an episodes.jsonl; a torn last line is skipped, a corrupt inner line is an error."""
    if not path.exists():
        return
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # no newline after it: the write was cut off
                continue
            raise UsageError(f"{path}: line {i + 1} is not valid JSON; the ledger is damaged") from None


def latest_rows(path: Path) -> dict[str, dict[str, Any]]:
    """One row per episode_id (the last one written wins)."""
    return {row["episode_id"]: row for row in read_rows(path)}


class Ledger:
    def __init__(self, out: Path, config: Mapping[str, Any]) -> None:
        self.out = Path(out)
        self.config = dict(config)
        self.run_path = self.out / RUN_FILE
        self.path = self.out / EPISODES_FILE
        self._file = None
        self._lock = RunLock(self.out)

    def check(self) -> dict[str, dict[str, Any]]:
        """Refuse a mismatched OUT; return the rows already there. Writes nothing."""
        if self.out.exists() and not self.out.is_dir():
            raise UsageError(f"--out {self.out} exists and is not a directory")
        if self.run_path.exists():
            try:
                existing = json.loads(self.run_path.read_text())["config"]
            except (json.JSONDecodeError, KeyError):
                raise UsageError(f"{self.run_path} is damaged; use another --out") from None
            mine = json.loads(json.dumps(self.config))
            diffs = [
                f"{k}: {existing.get(k)!r} there, {mine.get(k)!r} now"
                for k in sorted(set(existing) | set(mine))
                if existing.get(k) != mine.get(k)
            ]
            if diffs:
                raise UsageError(
                    f"--out {self.out} holds a run of another configuration ({'; '.join(diffs)}); use another --out"
                )
        elif self.path.exists():
            raise UsageError(f"--out {self.out} has {EPISODES_FILE} but no {RUN_FILE}; use another --out")
        return latest_rows(self.path)

    def open(
        self, simulator: Mapping[str, Any] | None = None, labels: Mapping[str, Any] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Create OUT and run.json on first use; refuse a simulator of other package versions.

        Takes OUT's run lock first (one run per OUT, see :mod:`vla_eval.runlock`): a second
        concurrent run is refused here, before it writes anything. Returns the rows already in
        the ledger, read under the lock (a run that finished meanwhile is not redone).
        """
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            self.check()  # again, under the lock: another run may have written run.json meanwhile
            self._open(simulator, labels)
        except BaseException:
            self._lock.release()
            raise
        return latest_rows(self.path)

    def _open(self, simulator: Mapping[str, Any] | None, labels: Mapping[str, Any] | None) -> None:
        sim = {k: v for k, v in (simulator or {}).items() if k not in ("render", "python")}
        if self.run_path.exists():
            doc = json.loads(self.run_path.read_text())
            there = doc.get("simulator")
            if sim and there and there != sim:
                raise UsageError(
                    f"--out {self.out} was run with simulator packages {there}, this environment has {sim}; "
                    "use another --out"
                )
        else:
            doc = {"config": self.config, "simulator": sim, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            doc.update(labels or {})
            tmp = self.run_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, indent=2))
            os.replace(tmp, self.run_path)
        self._truncate_torn_tail()
        self._file = open(self.path, "a", encoding="utf-8")

    def _truncate_torn_tail(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                cut = data.rfind(b"\n") + 1
                f.truncate(cut)
                print(
                    f"note: {self.path} ended in a torn line (a crash mid-write); that episode runs again",
                    file=sys.stderr,
                )

    def append(self, row: Mapping[str, Any]) -> None:
        assert self._file is not None, "ledger not open"
        self._file.write(json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._lock.release()
