"""The episode ledger: ``OUT/run.json`` (the run's configuration) + ``OUT/episodes.jsonl``.

One JSON object per finished episode, appended, flushed and fsynced before the next is
reported, so a killed run loses at most the episodes that were in flight. Running the same
command again skips finished episodes; a different configuration into the same OUT is
refused. A torn last line (a crash mid-write) is cut off and its episode runs again.

Row schema (:class:`LedgerRow`; :data:`SCHEMA_VERSION` = 2), one JSON object per line::

    schema_version    2 (absent in rows written before it existed: those are schema 1)
    episode_id        content hash of the episode (EpisodeSpec.episode_id)
    suite, protocol_version, task, task_index, episode_index, seed, init_state_id, scene_id,
    max_steps         the episode (EpisodeSpec fields)
    policy, checkpoint, harness_version, simulator   who ran it, with which simulator packages
    status            "ok" (ran to its end) | "error"                       (EpisodeStatus)
    error             the error message, or null
    error_class       "policy" | "simulator" | "infrastructure" | "timeout" | null (ErrorClass)
    attempts, worker  1 + retries; the env worker slot of the last attempt
    success           the episode's success: stored here only
    steps             policy steps executed
    metrics           the suite's other per-episode metrics (plain JSON; paths of a video or
                      trajectory), without ``success``
    timing            sim_s, policy_s, harness_s, total_s (seconds, 6 decimals)
    finished_at       local time the row was written

Schema 1 is the same without ``schema_version``, with ``success`` also inside ``metrics``
(the same value; it is dropped on reading). Rows of older harness versions may lack
``scene_id``, ``attempts``, ``worker`` or ``harness_version``; they read as "", 1, null, "".
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from vla_eval import __version__
from vla_eval.errors import UsageError
from vla_eval.runlock import RunLock
from vla_eval.types import EpisodeResult, EpisodeStatus, ErrorClass, Timing

RUN_FILE = "run.json"
EPISODES_FILE = "episodes.jsonl"
SCHEMA_VERSION = 2


def _jsonable(x: Any) -> Any:
    """numpy scalars/arrays inside metrics -> plain JSON values."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return x.tolist()
    return x


@dataclass(frozen=True)
class LedgerRow:
    """One line of ``episodes.jsonl`` (the schema is in the module docstring)."""

    episode_id: str
    suite: str
    protocol_version: str
    task: str
    task_index: int
    episode_index: int
    status: EpisodeStatus
    success: bool
    seed: int | None = None
    init_state_id: str = ""
    scene_id: str = ""
    max_steps: int | None = None
    policy: str | None = None
    checkpoint: str | None = None
    harness_version: str = ""
    simulator: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_class: ErrorClass | None = None
    attempts: int = 1
    worker: int | None = None
    steps: int = 0
    metrics: Mapping[str, Any] = field(default_factory=dict)
    timing: Timing = Timing()
    finished_at: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", EpisodeStatus(self.status))
        if self.error_class is not None:
            object.__setattr__(self, "error_class", ErrorClass(self.error_class))

    @property
    def ok(self) -> bool:
        """The episode ran to its end (a success or a failure)."""
        return self.status is EpisodeStatus.OK

    def to_json(self) -> dict[str, Any]:
        """The row as written to the ledger (plain JSON types; the enums as their strings)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "episode_id": self.episode_id,
            "suite": self.suite,
            "protocol_version": self.protocol_version,
            "task": self.task,
            "task_index": self.task_index,
            "episode_index": self.episode_index,
            "seed": self.seed,
            "init_state_id": self.init_state_id,
            "scene_id": self.scene_id,
            "max_steps": self.max_steps,
            "policy": self.policy,
            "checkpoint": self.checkpoint,
            "harness_version": self.harness_version,
            "simulator": dict(self.simulator),
            "status": self.status.value,
            "error": self.error,
            "error_class": None if self.error_class is None else self.error_class.value,
            "attempts": self.attempts,
            "worker": self.worker,
            "success": self.success,
            "steps": self.steps,
            "metrics": dict(self.metrics),
            "timing": dataclasses.asdict(self.timing),
            "finished_at": self.finished_at,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "LedgerRow":
        """A row of any schema version (see the module docstring); UsageError for a row that is not one."""
        version = d.get("schema_version", 1)
        eid = d.get("episode_id", "?")
        if version not in (1, SCHEMA_VERSION):
            raise UsageError(f"episode {eid}: ledger row schema_version {version!r} is newer than this harness")
        missing = [k for k in ("episode_id", "suite", "task", "task_index", "status") if k not in d]
        if missing:
            raise UsageError(f"episode {eid}: ledger row lacks {', '.join(missing)}")
        try:
            status = EpisodeStatus(d["status"])
        except ValueError:
            raise UsageError(f"episode {eid}: unknown status {d['status']!r} in the ledger") from None
        err_class = d.get("error_class")
        # an error class this harness does not know counts as no class: the episode is incomplete
        err_class = err_class if err_class in ErrorClass._value2member_map_ else None
        metrics = {k: v for k, v in (d.get("metrics") or {}).items() if k != "success"}
        names = {f.name for f in dataclasses.fields(Timing)}
        timing = Timing(**{k: float(v) for k, v in (d.get("timing") or {}).items() if k in names})
        return cls(
            episode_id=str(d["episode_id"]),
            suite=str(d["suite"]),
            protocol_version=str(d.get("protocol_version", "")),
            task=str(d["task"]),
            task_index=d["task_index"],
            episode_index=d.get("episode_index", 0),
            status=status,
            success=bool(d.get("success", False)),
            seed=d.get("seed"),
            init_state_id=str(d.get("init_state_id") or ""),
            scene_id=str(d.get("scene_id") or ""),
            max_steps=d.get("max_steps"),
            policy=d.get("policy"),
            checkpoint=d.get("checkpoint"),
            harness_version=str(d.get("harness_version") or ""),
            simulator=dict(d.get("simulator") or {}),
            error=d.get("error"),
            error_class=err_class,
            attempts=int(d.get("attempts", 1)),
            worker=d.get("worker"),
            steps=int(d.get("steps") or 0),
            metrics=metrics,
            timing=timing,
            finished_at=str(d.get("finished_at") or ""),
            schema_version=version,
        )

    @classmethod
    def coerce(cls, row: "LedgerRow | Mapping[str, Any]") -> "LedgerRow":
        """A LedgerRow as it is, a mapping (a JSON row) through :meth:`from_json`."""
        return row if isinstance(row, LedgerRow) else cls.from_json(row)


def result_row(result: EpisodeResult, run: Mapping[str, Any]) -> LedgerRow:
    """The ledger row of a finished episode; ``run``: policy, checkpoint, simulator of the run."""
    ep = result.episode
    return LedgerRow(
        episode_id=ep.episode_id,
        suite=ep.suite,
        protocol_version=ep.protocol_version,
        task=ep.task,
        task_index=ep.task_index,
        episode_index=ep.episode_index,
        seed=ep.seed,
        init_state_id=ep.init_state_id,
        scene_id=ep.scene_id,
        max_steps=ep.max_steps,
        policy=run.get("policy"),
        checkpoint=run.get("checkpoint"),
        harness_version=__version__,
        simulator=run.get("simulator", {}),
        status=result.status,
        error=result.error,
        error_class=result.error_class,
        attempts=int(result.attempts),
        worker=result.worker,
        success=bool(result.success),
        steps=int(result.steps),
        metrics={k: v for k, v in _jsonable(result.metrics).items() if k != "success"},
        timing=Timing(**{k: round(v, 6) for k, v in dataclasses.asdict(result.timing).items()}),
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of an episodes.jsonl, as written; a torn last line is skipped, a corrupt
    inner line is an error. :func:`read_ledger` gives them as :class:`LedgerRow`."""
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


def read_ledger(path: Path) -> Iterator[LedgerRow]:
    """The rows of an episodes.jsonl as :class:`LedgerRow` (any schema version)."""
    for row in read_rows(path):
        yield LedgerRow.from_json(row)


def latest_rows(path: Path) -> dict[str, LedgerRow]:
    """One row per episode_id (the last one written wins)."""
    return {row.episode_id: row for row in read_ledger(path)}


class Ledger:
    def __init__(self, out: Path, config: Mapping[str, Any]) -> None:
        self.out = Path(out)
        self.config = dict(config)
        self.run_path = self.out / RUN_FILE
        self.path = self.out / EPISODES_FILE
        self._file = None
        self._lock = RunLock(self.out)

    def check(self) -> dict[str, LedgerRow]:
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
    ) -> dict[str, LedgerRow]:
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

    def append(self, row: LedgerRow | Mapping[str, Any]) -> None:
        assert self._file is not None, "ledger not open"
        doc = row.to_json() if isinstance(row, LedgerRow) else row
        self._file.write(json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._lock.release()
