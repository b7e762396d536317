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
- Benchmark rows (e.g. "LIBERO average" of spatial/object/goal/10) when every member suite
  is present in the rows.
- Other per-episode metrics a protocol declares (``rate_metrics``: SimplerEnv's grasp flags;
  ``mean_metrics``: SPL, nDTW, MS) are aggregated apart, never averaged with success.
- Published reference rows (results/reference) for the same suite and split, and, for a run
  labelled as a reproduction of a method, "reproduced" / "not reproduced".

Rendering (``report.md``, ``report.csv``, rich tables, the leaderboard) is in
:mod:`vla_eval.render`; loading run dirs and suite settings in :mod:`vla_eval.runs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from vla_eval import aggregation as agg
from vla_eval import outcomes
from vla_eval.errors import UsageError
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


# Per-episode metrics reported apart from success whenever rows carry them ("rate": a flag per
# episode, aggregated like success; "mean": a number per episode). A protocol can add its own with
# `rate_metrics = [...]` / `mean_metrics = [...]`.
KNOWN_METRICS: Mapping[str, str] = {
    "is_src_obj_grasped": "rate",  # SimplerEnv: grasped at any step
    "consecutive_grasp": "rate",  # SimplerEnv: grasped >= 5 consecutive steps
    "oracle_success": "rate",  # VLN-CE OSR
    "spl": "mean",
    "ndtw": "mean",
    "sdtw": "mean",
    "navigation_error": "mean",
    "route_completion": "mean",  # DOMINO RC (0..100)
    "manipulation_score": "mean",  # DOMINO MS (0..100)
}


# --------------------------------------------------------------------------- aggregation


def _nan() -> float:
    return float("nan")


def _task_row(suite: str, ti: Any, task: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    counted = [r for r in rows if outcomes.counted(r)]
    k = sum(1 for r in counted if outcomes.succeeded(r))
    n = len(counted)
    lo, hi = wilson_interval(k, n) if n else (_nan(), _nan())
    return {
        "suite": suite,
        "task_index": ti,
        "task": task,
        "n": n,
        "successes": k,
        "sr": k / n if n else _nan(),
        "ci_low": lo,
        "ci_high": hi,
        "errors": len(rows) - n,
        "policy_errors": outcomes.count(rows, outcomes.POLICY_ERROR),
    }


def _estimate_row(suite: str, label: str, est: agg.Estimate | None, errors: int, policy_errors: int) -> dict[str, Any]:
    if est is None:
        return {
            "suite": suite,
            "task_index": "all",
            "task": label,
            "n": 0,
            "successes": 0,
            "sr": _nan(),
            "ci_low": _nan(),
            "ci_high": _nan(),
            "errors": errors,
            "policy_errors": policy_errors,
        }
    return {
        "suite": suite,
        "task_index": "all",
        "task": label,
        "n": est.n,
        "successes": est.k if est.k is not None else 0,
        "sr": est.value,
        "ci_low": est.low,
        "ci_high": est.high,
        "errors": errors,
        "policy_errors": policy_errors,
    }


def _metric_value(row: dict[str, Any], name: str, kind: str) -> Any:
    v = (row.get("metrics") or {}).get(name)
    if v is None:
        return None
    if kind == "rate":
        if isinstance(v, bool) or v in (0, 1):
            return bool(v)
    elif not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    raise UsageError(
        f"episode {row.get('episode_id')}: metric {name!r} = {v!r} is not a "
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


def _aggregate_suite(suite: str, srows: list[dict[str, Any]], info: SuiteInfo, out: list, mout: list) -> _SuiteAgg:
    rule = agg.rule(info.aggregation)
    tis = sorted({r["task_index"] for r in srows})
    by_task = {ti: [r for r in srows if r["task_index"] == ti] for ti in tis}
    counted = {ti: [r for r in by_task[ti] if outcomes.counted(r)] for ti in tis}
    task_est: dict[Any, agg.Estimate] = {}
    if rule.task_rows is not None:  # e.g. SimplerEnv's group means: from each episode's metrics
        for ti in tis:
            eps = [{**(r.get("metrics") or {}), "success": outcomes.succeeded(r)} for r in counted[ti]]
            if any(e.get("counted", True) is not False for e in eps):
                task_est[ti] = rule.task_rows(eps)
    for ti in tis:
        row = _task_row(suite, ti, by_task[ti][0]["task"], by_task[ti])
        if ti in task_est:
            e = task_est[ti]
            row.update(n=e.n, successes=e.k, sr=e.value, ci_low=e.low, ci_high=e.high)
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
    out.append(_estimate_row(suite, label, success, errors, policy_errors))
    ok = {ti: [r for r in by_task[ti] if r["status"] == "ok"] for ti in tis}  # other metrics: episodes that ran

    metrics: dict[str, tuple[str, agg.Estimate]] = {}
    carried = {k for r in srows if r["status"] == "ok" for k in (r.get("metrics") or {})}
    declared = [(n, "rate") for n in info.rate_metrics] + [(n, "mean") for n in info.mean_metrics]
    wanted = declared + [
        (n, kind) for n, kind in KNOWN_METRICS.items() if n in carried and n not in {d for d, _ in declared}
    ]
    for name, kind in wanted:
        per_task = {ti: [v for r in ok[ti] if (v := _metric_value(r, name, kind)) is not None] for ti in tis}
        for ti in tis:
            vals = per_task[ti]
            if not vals:
                continue
            est = agg.rate_pooled([vals]) if kind == "rate" else agg.mean_pooled([vals])
            mout.append(_metric_row("task", suite, ti, by_task[ti][0]["task"], name, kind, est))
        mgroups = [per_task[ti] for ti in tis if per_task[ti]]
        if mgroups:
            est = (rule.rate if kind == "rate" else rule.mean)(mgroups)
            metrics[name] = (kind, est)
            mout.append(_metric_row("suite", suite, "all", label, name, kind, est))
    overridden = bool(info.task_max_steps) and any(
        r.get("max_steps") is not None and info.task_max_steps.get(r["task_index"]) not in (None, r["max_steps"])
        for r in srows
    )
    return _SuiteAgg(info, success, metrics, errors, policy_errors, len(srows), overridden)


def _metric_row(level, suite, ti, task, name, kind, est: agg.Estimate) -> dict[str, Any]:
    return {
        "level": level,
        "suite": suite,
        "task_index": ti,
        "task": task,
        "metric": name,
        "kind": kind,
        "n": est.n,
        "value": est.value,
        "ci_low": est.low,
        "ci_high": est.high,
    }


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


def failed_episodes(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every episode that did not succeed, in suite/task/episode order, with what it left to look at:
    ``video`` (``videos/<episode_id>.mp4``) and ``trajectory`` (``trajectories/<episode_id>.npz``),
    paths relative to the run directory, "" when not recorded."""
    out = []
    for r in sorted(rows, key=lambda r: (r["suite"], r["task_index"], r["episode_index"], r["episode_id"])):
        what = outcomes.outcome(r)
        if what == outcomes.SUCCESS:
            continue
        m = r.get("metrics") or {}
        out.append(
            {
                "suite": r["suite"],
                "task_index": r["task_index"],
                "task": r["task"],
                "episode_index": r["episode_index"],
                "episode_id": r["episode_id"],
                "outcome": what,
                "error": r.get("error") or "",
                "steps": r.get("steps"),
                "video": f"videos/{r['episode_id']}.mp4" if m.get("video") else "",
                "trajectory": str(m.get("trajectory") or ""),
            }
        )
    return out


def aggregate(
    rows: Iterable[dict[str, Any]],
    *,
    reproduces: str | Mapping[str, str | None] | None = None,
    reference: Sequence[ReferenceRow] | None = None,
    info: InfoLookup | None = None,
):
    """A pandas DataFrame (COLUMNS): per (suite, task), one "all" row per suite, benchmark rows.

    ``df.attrs["metrics"]`` holds the declared extra metrics (rows of METRIC_COLUMNS),
    ``df.attrs["reference"]`` the published rows for the same suites and splits (rows of
    REFERENCE_COLUMNS), with a verdict on the rows of method ``reproduces`` (one name for
    all suites, or suite -> name; a benchmark row takes the name its member suites share).
    ``reference`` defaults to results/reference; ``info`` to :func:`suite_info`.
    """
    import pandas as pd

    rows = list(rows)
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

    out: list[dict[str, Any]] = []
    mout: list[dict[str, Any]] = []
    suites: dict[str, _SuiteAgg] = {}
    for suite in sorted({r["suite"] for r in rows}):
        srows = [r for r in rows if r["suite"] == suite]
        suites[suite] = _aggregate_suite(suite, srows, info(suite), out, mout)

    # benchmark rows: present when every member suite has ok episodes
    benches: dict[str, tuple[str | None, list[_SuiteAgg], agg.Estimate, dict[str, agg.Estimate]]] = {}
    for b in agg.BENCHMARKS:
        members = [suites.get(m) for m in b.members]
        if any(m is None or m.success is None for m in members):
            continue
        splits = {m.info.split for m in members}
        if len(splits) != 1:
            continue
        est = agg.combine([m.success for m in members])
        label = f"{b.label} (mean of {len(members)} suites)"
        out.append(
            _estimate_row(b.id, label, est, sum(m.errors for m in members), sum(m.policy_errors for m in members))
        )
        bmetrics: dict[str, agg.Estimate] = {}
        for name in sorted(set.intersection(*(set(m.metrics) for m in members))):
            kind = members[0].metrics[name][0]
            mest = agg.combine([m.metrics[name][1] for m in members], (0.0, 1.0) if kind == "rate" else None)
            bmetrics[name] = mest
            mout.append(_metric_row("benchmark", b.id, "all", label, name, kind, mest))
        benches[b.id] = (splits.pop(), members, est, bmetrics)

    # reference rows beside ours, and verdicts for the reproduced method
    refs: list[dict[str, Any]] = []
    levels: list[tuple[str, str | None, list[_SuiteAgg], agg.Estimate | None, dict[str, agg.Estimate]]] = [
        (s, a.info.split, [a], a.success, {k: e for k, (_, e) in a.metrics.items()}) for s, a in suites.items()
    ] + [(bid, split, members, est, bm) for bid, (split, members, est, bm) in benches.items()]
    for name, split, members, success, level_metrics in levels:
        method = method_for([m.info.name for m in members])
        mine = [r for r in reference if r.suite == name and (split is None or r.split == split)]
        for r in sorted(mine, key=lambda r: (r.task, r.metric != "SR", r.metric, r.method.lower())):
            rec = {c: "" for c in REFERENCE_COLUMNS}
            rec.update(
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
                rec["reproduces"] = method
                rec["verdict"] = f"not comparable: {r.comparable_to}"
            elif method is not None and r.method == method and not r.task:
                m = r.ours
                est = None if m is None else (success if m.key == "success" else level_metrics.get(m.key))
                rec["reproduces"] = method
                if est is None:
                    rec["verdict"] = "not measured"
                else:
                    rec.update(ours=est.value, ours_ci_low=est.low, ours_ci_high=est.high)
                    rec["verdict"] = _qualify(verdict(r.value, m.scale, est.low, est.high), members)
            refs.append(rec)
        if method is not None and not any(x["suite"] == name and x["reproduces"] for x in refs):
            rec = {c: "" for c in REFERENCE_COLUMNS}
            rec.update(
                suite=name,
                split=split or "",
                method=method,
                reproduces=method,
                verdict=f"no reference row for {method} on {name}" + (f" ({split})" if split else ""),
            )
            refs.append(rec)

    df = pd.DataFrame(out, columns=COLUMNS)
    df.attrs["metrics"] = mout
    df.attrs["reference"] = refs
    df.attrs["reproduces"] = sorted(set(canon.values()))
    df.attrs["failed"] = failed_episodes(rows)
    df.attrs["suites"] = {s: {"aggregation": a.info.aggregation, "split": a.info.split} for s, a in suites.items()}
    return df
