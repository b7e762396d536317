"""What a report reads: run directories (``OUT/episodes.jsonl``, ``OUT/run.json``) and each
suite's report settings from its protocol file (no simulator import).

- :func:`load_run`: the latest row per episode of a run dir's ledger.
- :func:`load_run_json` / :func:`load_run_info`: ``run.json`` (configuration, "reproduces" label)
  beside the rows, as a :class:`RunInfo`.
- :func:`suite_info`: a suite's ``aggregation``, ``split``, declared metrics (``rate_metrics``,
  ``mean_metrics``), declared benchmark rows (``benchmarks``) and step limits, as a
  :class:`SuiteInfo` (:func:`info_from_protocol` for a Protocol at hand).
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from vla_eval import aggregation as agg
from vla_eval.errors import UsageError
from vla_eval.ledger import EPISODES_FILE, RUN_FILE, LedgerRow, latest_rows

if TYPE_CHECKING:
    from vla_eval.suite import Protocol

# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class SuiteInfo:
    """What the report needs from a suite's protocol."""

    name: str
    aggregation: str = "pooled"
    split: str | None = None  # the protocol's `split` key; None: reference rows of any split of the suite
    rate_metrics: tuple[str, ...] = ()  # per-episode flags reported apart from success (`rate_metrics`)
    mean_metrics: tuple[str, ...] = ()  # per-episode numbers reported apart from success (`mean_metrics`)
    task_max_steps: Mapping[int, int] = field(default_factory=dict)
    n_episodes: int | None = None
    known: bool = True
    benchmarks: tuple[agg.Benchmark, ...] = ()  # benchmark rows the protocol declares (`benchmarks`)


def info_from_protocol(name: str, p: Protocol) -> SuiteInfo:
    """A suite's report settings from its protocol: all of them are in ``p.extra``."""
    how = str(p.extra.get("aggregation", "pooled"))
    if how not in agg.AGGREGATIONS:
        raise UsageError(f"protocol of suite {name!r}: aggregation {how!r} is not one of {', '.join(agg.AGGREGATIONS)}")
    try:
        benchmarks = agg.benchmarks_from(p.extra.get("benchmarks"), f"protocol of suite {name!r}")
    except ValueError as e:
        raise UsageError(str(e)) from None
    return SuiteInfo(
        name=name,
        aggregation=how,
        split=str(p.extra["split"]) if "split" in p.extra else None,
        rate_metrics=tuple(p.extra.get("rate_metrics", ())),
        mean_metrics=tuple(p.extra.get("mean_metrics", ())),
        task_max_steps={i: t.max_steps for i, t in enumerate(p.tasks)},
        n_episodes=p.n_episodes,
        benchmarks=benchmarks,
    )


@functools.lru_cache(maxsize=None)
def suite_info(name: str) -> SuiteInfo:
    """Read a suite's report settings from its protocol file (no simulator import)."""
    from vla_eval.suite import get_suite

    try:
        p = get_suite(name).protocol
    except UsageError:
        print(f"note: suite {name!r} is not installed here; its rows are aggregated as 'pooled'", file=sys.stderr)
        return SuiteInfo(name, known=False)
    return info_from_protocol(name, p)


InfoLookup = Callable[[str], SuiteInfo]


# --------------------------------------------------------------------------- runs


def load_run(out: Path) -> list[LedgerRow]:
    path = Path(out) / EPISODES_FILE
    if not Path(out).is_dir():
        raise UsageError(f"{out} is not a run directory")
    if not path.exists():
        raise UsageError(f"{out} has no {EPISODES_FILE}: no episode has finished there")
    return list(latest_rows(path).values())


def load_run_json(out: Path) -> dict[str, Any]:
    """``OUT/run.json`` as a dict ({} when absent); a damaged file is a UsageError."""
    path = Path(out) / RUN_FILE
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise UsageError(f"{path} is damaged (not JSON)") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path} is damaged (not a JSON object)")
    return doc


@dataclass
class RunInfo:
    """A run directory: its rows, its configuration and its optional reproduction label."""

    dir: Path
    rows: list[LedgerRow]
    config: dict[str, Any]
    reproduces: str | None

    @property
    def identity(self) -> str:
        """What makes two run dirs the same policy (so their suites form one leaderboard entry)."""
        c = self.config
        keys = ("policy", "policy_args", "checkpoint", "max_steps", "replan_steps")
        if not c:
            return f"dir:{self.dir}"
        return json.dumps({k: c.get(k) for k in keys}, sort_keys=True)

    @property
    def label(self) -> str:
        c = self.config
        if not c:
            return str(self.dir)
        name = str(c.get("policy_name") or c.get("policy") or self.dir)
        args = c.get("policy_args") or {}
        if args:
            name += " " + " ".join(f"{k}={v}" for k, v in sorted(args.items()))
        if c.get("checkpoint"):
            name += f" [{str(c['checkpoint'])[:19]}]"
        return name


def load_run_info(out: Path, reproduces: str | None = None) -> RunInfo:
    rows = load_run(out)
    doc = load_run_json(out)
    label = reproduces if reproduces is not None else doc.get("reproduces")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise UsageError(f"{Path(out) / RUN_FILE}: 'reproduces' must be a method name, got {label!r}")
    return RunInfo(Path(out), rows, dict(doc.get("config") or {}), label)
