"""Aggregate ledgers into tables: per suite and task, n, successes, SR and its 95% interval.

How a row counts is :mod:`vla_eval.outcomes`: an episode that ran to its end counts; a policy
error (the policy broke its contract: non-finite values, wrong shape, a bad id) counts as a
failure of the policy and is also shown on its own (``policy_errors``); a simulator,
infrastructure or timeout error counts neither way and is shown apart (``errors``): the run is
incomplete, and the verdicts say so.

- Per task: SR = k/n with a Wilson interval.
- Per suite: the rule its protocol names in ``[defaults] aggregation`` (see
  :mod:`vla_eval.aggregation`): ``pooled`` k/n over all episodes (label "N task(s)"),
  ``task_mean`` mean of per-task rates (label "mean of N task(s)"), ``episode_mean``.
- Benchmark rows that a suite's protocol declares (``[defaults.benchmarks.<id>]``: e.g. the
  "LIBERO average" of spatial/object/goal/10) when every member suite is present in the rows.
- Other per-episode metrics a protocol declares (``rate_metrics``: SimplerEnv's grasp flags;
  ``mean_metrics``: SPL, nDTW, DOMINO's MS and RC) are aggregated apart, never averaged with success.

All of it is returned as one frozen :class:`Report`.
- Published reference rows (results/reference) for the same suite and split, and, for a run
  labelled as a reproduction of a method, "reproduced" / "not reproduced".

Rendering (``report.md``, ``report.csv``, rich tables, the leaderboard) is in
:mod:`vla_eval.render`; loading run dirs and suite settings in :mod:`vla_eval.runs`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from vla_eval import aggregation as agg
from vla_eval import outcomes
from vla_eval.errors import UsageError
from vla_eval.ledger import LedgerRow
from vla_eval.metrics import wilson_interval
from vla_eval.reference import ReferenceRow, check_method, load_reference, verdict
from vla_eval.runs import InfoLookup, SuiteInfo, suite_info

# n counts policy errors as failures; errors = episodes not counted (incomplete); policy_errors is part of n.
COLUMNS = ["suite", "task_index", "task", "n", "successes", "sr", "ci_low", "ci_high", "errors", "policy_errors"]
METRIC_COLUMNS = ["level", "suite", "task_index", "task", "metric", "kind", "n", "value", "ci_low", "ci_high"]
REFERENCE_COLUMNS = [
    "suite",
    "split",
    "task",
    "method",
    "metric",
    "published",
    "training_protocol",
    "source",
    "notes",
    "reproduces",
    "ours",
    "ours_ci_low",
    "ours_ci_high",
    "verdict",
    "comparable_to",
]


# --------------------------------------------------------------------------- the records


@dataclass(frozen=True)
class TableRow:
    """One row of the main table (``report.csv``: the fields but ``level``).

    level: "task", "suite" (task_index "all": the suite as its protocol aggregates) or
    "benchmark" (task_index "all": a benchmark row declared in a protocol, e.g. libero_avg).
    n counts policy errors as failures; errors: episodes not counted (the run is incomplete).
    """

    suite: str
    task_index: Any  # int, or "all" on suite and benchmark rows
    task: str
    n: int
    successes: int
    sr: float
    ci_low: float
    ci_high: float
    errors: int
    policy_errors: int
    level: str = "task"


@dataclass(frozen=True)
class MetricRow:
    """A declared per-episode metric other than success, aggregated (``report_metrics.csv``)."""

    level: str  # "task", "suite" or "benchmark"
    suite: str
    task_index: Any
    task: str
    metric: str
    kind: str  # "rate" or "mean"
    n: int
    value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class ReferenceLine:
    """A published reference row beside ours, with the verdict when it is reproduced (``report_reference.csv``).

    Fields not given are "" (as in the CSV).
    """

    suite: str = ""
    split: str = ""
    task: str = ""
    method: str = ""
    metric: str = ""
    published: Any = ""
    training_protocol: str = ""
    source: str = ""
    notes: str = ""
    reproduces: str = ""
    ours: Any = ""
    ours_ci_low: Any = ""
    ours_ci_high: Any = ""
    verdict: str = ""
    comparable_to: str = ""


@dataclass(frozen=True)
class FailedEpisode:
    """An episode that did not succeed, with the files it left (paths relative to the run dir, "" if none)."""

    suite: str
    task_index: int
    task: str
    episode_index: int
    episode_id: str
    outcome: str  # vla_eval.outcomes: failure, policy_error or incomplete
    error: str
    steps: int
    video: str
    trajectory: str


@dataclass(frozen=True)
class SuiteSummary:
    aggregation: str
    split: str | None


@dataclass(frozen=True)
class Report:
    """What :func:`aggregate` produces; the renderers (:mod:`vla_eval.render`,
    :mod:`vla_eval.html_report`) are functions of it.

    rows: per (suite, task), then one "suite" row per suite, then the benchmark rows.
    metrics: declared metrics apart from success. reference: published rows beside ours.
    reproduces: the methods the runs are labelled as reproducing. failed: the episodes that did
    not succeed. suites: each suite's aggregation rule and split. benchmarks: the benchmark rows
    the suites' protocols declare (present in ``rows`` or not: a member may be missing).
    """

    rows: tuple[TableRow, ...]
    metrics: tuple[MetricRow, ...] = ()
    reference: tuple[ReferenceLine, ...] = ()
    reproduces: tuple[str, ...] = ()
    failed: tuple[FailedEpisode, ...] = ()
    suites: Mapping[str, SuiteSummary] = field(default_factory=dict)
    benchmarks: tuple[agg.Benchmark, ...] = ()

    def row(self, suite: str, task_index: Any = "all") -> TableRow | None:
        """The row of ``suite`` (a suite or a benchmark id) and task ("all": its summary row), or None."""
        return next((r for r in self.rows if r.suite == suite and r.task_index == task_index), None)

    @property
    def summary_rows(self) -> tuple[TableRow, ...]:
        """The suite and benchmark rows (task_index "all")."""
        return tuple(r for r in self.rows if r.level != "task")

    @property
    def incomplete(self) -> tuple[tuple[str, int], ...]:
        """(suite, episodes not counted) for every suite with simulator/infrastructure/timeout errors."""
        return tuple((r.suite, r.errors) for r in self.rows if r.level == "suite" and r.errors > 0)

    def to_frame(self):
        """The main table as a pandas DataFrame of :data:`COLUMNS` (``report.csv``)."""
        import pandas as pd

        return pd.DataFrame([{c: getattr(r, c) for c in COLUMNS} for r in self.rows], columns=COLUMNS)

    def metrics_frame(self):
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(m) for m in self.metrics], columns=METRIC_COLUMNS)

    def reference_frame(self):
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(x) for x in self.reference], columns=REFERENCE_COLUMNS)


# --------------------------------------------------------------------------- aggregation


def _nan() -> float:
    return float("nan")


def _task_row(suite: str, ti: Any, task: str, rows: Sequence[LedgerRow]) -> TableRow:
    counted = [r for r in rows if outcomes.counted(r)]
    k = sum(1 for r in counted if outcomes.succeeded(r))
    n = len(counted)
    lo, hi = wilson_interval(k, n) if n else (_nan(), _nan())
    return TableRow(
        suite=suite,
        task_index=ti,
        task=task,
        n=n,
        successes=k,
        sr=k / n if n else _nan(),
        ci_low=lo,
        ci_high=hi,
        errors=len(rows) - n,
        policy_errors=outcomes.count(rows, outcomes.POLICY_ERROR),
    )


def _estimate_row(
    suite: str, label: str, est: agg.Estimate | None, errors: int, policy_errors: int, level: str
) -> TableRow:
    if est is None:
        return TableRow(suite, "all", label, 0, 0, _nan(), _nan(), _nan(), errors, policy_errors, level)
    k = est.k if est.k is not None else 0
    return TableRow(suite, "all", label, est.n, k, est.value, est.low, est.high, errors, policy_errors, level)


def _metric_value(row: LedgerRow, name: str, kind: str) -> Any:
    v = row.metrics.get(name)
    if v is None:
        return None
    if kind == "rate":
        if isinstance(v, bool) or v in (0, 1):
            return bool(v)
    elif not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    raise UsageError(
        f"episode {row.episode_id}: metric {name!r} = {v!r} is not a "
        + ("success flag (bool)" if kind == "rate" else "finite number")
    )


@dataclass
class _SuiteAgg:
    info: SuiteInfo
    success: agg.Estimate | None
    metrics: dict[str, tuple[str, agg.Estimate]]
    errors: int  # not counted: simulator, infrastructure, timeout (the run is incomplete)
    policy_errors: int  # counted as failures
    attempted: int
    overridden: bool


def _aggregate_suite(
    suite: str, srows: list[LedgerRow], info: SuiteInfo, out: list[TableRow], mout: list[MetricRow]
) -> _SuiteAgg:
    rule = agg.rule(info.aggregation)
    tis = sorted({r.task_index for r in srows})
    by_task = {ti: [r for r in srows if r.task_index == ti] for ti in tis}
    counted = {ti: [r for r in by_task[ti] if outcomes.counted(r)] for ti in tis}
    task_est: dict[Any, agg.Estimate] = {}
    if rule.task_rows is not None:  # e.g. SimplerEnv's group means: from each episode's metrics
        for ti in tis:
            eps = [{**r.metrics, "success": outcomes.succeeded(r)} for r in counted[ti]]
            if any(e.get("counted", True) is not False for e in eps):
                task_est[ti] = rule.task_rows(eps)
    for ti in tis:
        row = _task_row(suite, ti, by_task[ti][0].task, by_task[ti])
        if ti in task_est:
            e = task_est[ti]
            row = dataclasses.replace(row, n=e.n, successes=e.k, sr=e.value, ci_low=e.low, ci_high=e.high)
        out.append(row)
    groups = [[outcomes.succeeded(r) for r in counted[ti]] for ti in tis if counted[ti]]
    if rule.task_rows is not None:
        success = agg.combine(list(task_est.values())) if task_est else None
        groups = [g for ti, g in zip([t for t in tis if counted[t]], groups) if ti in task_est]
    else:
        success = rule.rate(groups) if groups else None
    label = rule.task_label(len(groups), len(tis))
    errors = len(srows) - sum(len(v) for v in counted.values())
    policy_errors = outcomes.count(srows, outcomes.POLICY_ERROR)
    out.append(_estimate_row(suite, label, success, errors, policy_errors, "suite"))
    ok = {ti: [r for r in by_task[ti] if r.ok] for ti in tis}  # other metrics: episodes that ran

    metrics: dict[str, tuple[str, agg.Estimate]] = {}
    declared = [(n, "rate") for n in info.rate_metrics] + [(n, "mean") for n in info.mean_metrics]
    for name, kind in declared:
        per_task = {ti: [v for r in ok[ti] if (v := _metric_value(r, name, kind)) is not None] for ti in tis}
        for ti in tis:
            vals = per_task[ti]
            if not vals:
                continue
            est = agg.rate_pooled([vals]) if kind == "rate" else agg.mean_pooled([vals])
            mout.append(_metric_row("task", suite, ti, by_task[ti][0].task, name, kind, est))
        mgroups = [per_task[ti] for ti in tis if per_task[ti]]
        if mgroups:
            est = (rule.rate if kind == "rate" else rule.mean)(mgroups)
            metrics[name] = (kind, est)
            mout.append(_metric_row("suite", suite, "all", label, name, kind, est))
    overridden = bool(info.task_max_steps) and any(
        r.max_steps is not None and info.task_max_steps.get(r.task_index) not in (None, r.max_steps) for r in srows
    )
    return _SuiteAgg(info, success, metrics, errors, policy_errors, len(srows), overridden)


def _metric_row(level, suite, ti, task, name, kind, est: agg.Estimate) -> MetricRow:
    return MetricRow(level, suite, ti, task, name, kind, est.n, est.value, est.low, est.high)


def _qualify(v: str, members: Sequence[_SuiteAgg]) -> str:
    """Say when a verdict is not about the protocol: a shortened step limit, only part of the episodes,
    or episodes that the harness or simulator could not complete (not counted)."""
    if v not in ("reproduced", "not reproduced"):
        return v
    if any(m.overridden for m in members):
        return "not comparable (step limit overridden)"
    notes = []
    attempted = sum(m.attempted for m in members)
    total = sum(m.info.n_episodes or 0 for m in members)
    if total and attempted < total:
        notes.append(f"partial run: {attempted} of {total} episodes")
    errors = sum(m.errors for m in members)
    if errors:
        notes.append(f"incomplete: {errors} episode(s) with simulator/infrastructure/timeout errors not counted")
    policy_errors = sum(m.policy_errors for m in members)
    if policy_errors:
        notes.append(f"{policy_errors} policy error(s) counted as failures")
    return f"{v} ({'; '.join(notes)})" if notes else v


def failed_episodes(rows: Iterable[LedgerRow | Mapping[str, Any]]) -> list[FailedEpisode]:
    """Every episode that did not succeed, in suite/task/episode order, with what it left to look at:
    ``video`` (``videos/<episode_id>.mp4``) and ``trajectory`` (``trajectories/<episode_id>.npz``),
    paths relative to the run directory, "" when not recorded."""
    out = []
    rows = [LedgerRow.coerce(r) for r in rows]
    for r in sorted(rows, key=lambda r: (r.suite, r.task_index, r.episode_index, r.episode_id)):
        what = outcomes.outcome(r)
        if what == outcomes.SUCCESS:
            continue
        m = r.metrics
        out.append(
            FailedEpisode(
                suite=r.suite,
                task_index=r.task_index,
                task=r.task,
                episode_index=r.episode_index,
                episode_id=r.episode_id,
                outcome=what,
                error=r.error or "",
                steps=r.steps,
                video=f"videos/{r.episode_id}.mp4" if m.get("video") else "",
                trajectory=str(m.get("trajectory") or ""),
            )
        )
    return out


def declared_benchmarks(infos: Iterable[SuiteInfo]) -> tuple[agg.Benchmark, ...]:
    """The benchmark rows the suites' protocols declare, once each (first declaration first);
    UsageError when two protocols declare one id differently."""
    found: dict[str, tuple[agg.Benchmark, str]] = {}
    for info in infos:
        for b in info.benchmarks:
            first, by = found.setdefault(b.id, (b, info.name))
            if first != b:
                raise UsageError(
                    f"benchmark row {b.id!r} is declared differently by the protocols of {by!r} and {info.name!r}"
                )
    return tuple(b for b, _ in found.values())


def aggregate(
    rows: Iterable[LedgerRow | Mapping[str, Any]],
    *,
    reproduces: str | Mapping[str, str | None] | None = None,
    reference: Sequence[ReferenceRow] | None = None,
    info: InfoLookup | None = None,
) -> Report:
    """The :class:`Report` of ledger rows (:class:`LedgerRow`, or their JSON as mappings).

    Rows per (suite, task), one "suite" row per suite, benchmark rows (declared in the suites'
    protocols); the declared extra metrics; the published rows for the same suites and splits,
    with a verdict on the rows of method ``reproduces`` (one name for all suites, or suite ->
    name; a benchmark row takes the name its member suites share); the failed episodes.
    ``reference`` defaults to results/reference; ``info`` to :func:`suite_info`.
    """
    rows = [LedgerRow.coerce(r) for r in rows]
    info = info or suite_info
    reference = load_reference() if reference is None else list(reference)
    labels = dict(reproduces) if isinstance(reproduces, Mapping) else None
    canon = {
        m: check_method(reference, m)
        for m in ([reproduces] if isinstance(reproduces, str) else (labels or {}).values())
        if m
    }

    def method_for(names: Sequence[str]) -> str | None:
        if isinstance(reproduces, str):
            return canon[reproduces]
        got = {(labels or {}).get(n) for n in names}
        return canon[got.pop()] if len(got) == 1 and None not in got else None

    out: list[TableRow] = []
    mout: list[MetricRow] = []
    suites: dict[str, _SuiteAgg] = {}
    for suite in sorted({r.suite for r in rows}):
        srows = [r for r in rows if r.suite == suite]
        suites[suite] = _aggregate_suite(suite, srows, info(suite), out, mout)
    benchmarks = declared_benchmarks(a.info for a in suites.values())

    # benchmark rows: present when every member suite has counted episodes
    benches: dict[str, tuple[str | None, list[_SuiteAgg], agg.Estimate, dict[str, agg.Estimate]]] = {}
    for b in benchmarks:
        members = [suites.get(m) for m in b.members]
        if any(m is None or m.success is None for m in members):
            continue
        splits = {m.info.split for m in members}
        if len(splits) != 1:
            continue
        est = agg.combine([m.success for m in members])
        label = f"{b.label} (mean of {len(members)} suites)"
        errors, policy_errors = sum(m.errors for m in members), sum(m.policy_errors for m in members)
        out.append(_estimate_row(b.id, label, est, errors, policy_errors, "benchmark"))
        bmetrics: dict[str, agg.Estimate] = {}
        for name in sorted(set.intersection(*(set(m.metrics) for m in members))):
            kind = members[0].metrics[name][0]
            mest = agg.combine([m.metrics[name][1] for m in members], (0.0, 1.0) if kind == "rate" else None)
            bmetrics[name] = mest
            mout.append(_metric_row("benchmark", b.id, "all", label, name, kind, mest))
        benches[b.id] = (splits.pop(), members, est, bmetrics)

    # reference rows beside ours, and verdicts for the reproduced method
    refs: list[ReferenceLine] = []
    levels: list[tuple[str, str | None, list[_SuiteAgg], agg.Estimate | None, dict[str, agg.Estimate]]] = [
        (s, a.info.split, [a], a.success, {k: e for k, (_, e) in a.metrics.items()}) for s, a in suites.items()
    ] + [(bid, split, members, est, bm) for bid, (split, members, est, bm) in benches.items()]
    for name, split, members, success, level_metrics in levels:
        method = method_for([m.info.name for m in members])
        mine = [r for r in reference if r.suite == name and (split is None or r.split == split)]
        for r in sorted(mine, key=lambda r: (r.task, r.metric != "SR", r.metric, r.method.lower())):
            rec = ReferenceLine(
                suite=name,
                split=r.split,
                task=r.task,
                method=r.method,
                metric=r.metric,
                published=r.value,
                training_protocol=r.training_protocol,
                source=r.source,
                notes=r.notes,
                comparable_to=r.comparable_to,
            )
            if method is not None and r.method == method and not r.task and r.comparable_to:
                rec = dataclasses.replace(rec, reproduces=method, verdict=f"not comparable: {r.comparable_to}")
            elif method is not None and r.method == method and not r.task:
                m = r.ours
                est = None if m is None else (success if m.key == "success" else level_metrics.get(m.key))
                if est is None:
                    rec = dataclasses.replace(rec, reproduces=method, verdict="not measured")
                else:
                    rec = dataclasses.replace(
                        rec,
                        reproduces=method,
                        ours=est.value,
                        ours_ci_low=est.low,
                        ours_ci_high=est.high,
                        verdict=_qualify(verdict(r.value, m.scale, est.low, est.high), members),
                    )
            refs.append(rec)
        if method is not None and not any(x.suite == name and x.reproduces for x in refs):
            refs.append(
                ReferenceLine(
                    suite=name,
                    split=split or "",
                    method=method,
                    reproduces=method,
                    verdict=f"no reference row for {method} on {name}" + (f" ({split})" if split else ""),
                )
            )

    return Report(
        rows=tuple(out),
        metrics=tuple(mout),
        reference=tuple(refs),
        reproduces=tuple(sorted(set(canon.values()))),
        failed=tuple(failed_episodes(rows)),
        suites={s: SuiteSummary(a.info.aggregation, a.info.split) for s, a in suites.items()},
        benchmarks=benchmarks,
    )
