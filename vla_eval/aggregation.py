"""How per-episode outcomes become suite and benchmark numbers, each with its interval and its n.

Each benchmark's papers aggregate differently; a suite's protocol file names its rule in
``[defaults] aggregation`` and the report looks the rule up in :data:`AGGREGATIONS` (no
if-chains on suite names):

``pooled``
    suite SR = k/n over all its episodes, 95% Wilson interval (LIBERO: k/500; toy_reach).
``task_mean``
    suite SR = unweighted mean of the per-task rates, stratified score interval
    (:func:`vla_eval.metrics.stratified_score_interval`; it never collapses to a point when every
    task is at 0% or 100%, as the normal one did) (SimplerEnv, RoboTwin, RoboCasa, DOMINO).
``episode_mean``
    mean over episodes (VLN-CE): success as k/n with a Wilson interval, continuous metrics
    (SPL, nDTW, NE, ...) as a mean with a normal interval.
``group_mean``
    SimplerEnv's official metric script (tools/calc_metrics_evaluation_videos.py): per task, the
    mean over subtasks of the mean over result groups of each group's success rate, leaving out
    episodes marked ``counted: false``; suite = mean of the tasks (see :func:`rate_group_mean`).

Benchmark rows (:class:`Benchmark`, declared in protocol files: e.g. the "LIBERO average" of four
suites in suites/libero/protocol.toml) are the mean of their member suites' numbers; a rate's
interval is the same stratified score interval over the members' strata (for pooled members: one
stratum per suite).

Everything here is pure; empty input raises ``ValueError`` naming what was empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from vla_eval.metrics import stratified_score_interval, wilson_interval

Z95 = 1.96  # two-sided 95% normal quantile, as the metrics module (Wilson, stratified)


@dataclass(frozen=True)
class Estimate:
    """An aggregate: its value, 95% interval, n (episodes), and k (successes; rates only).

    ``var`` is the variance of ``value`` (as a normal approximation) so estimates can be
    combined into benchmark rows; ``tasks`` is the number of tasks (or suites) averaged.
    ``strata`` (rates only): the (k, n, weight) behind ``value = sum weight * k/n``, so that
    benchmark rows get a score interval over them.
    """

    value: float
    low: float
    high: float
    n: int
    k: int | None = None
    var: float = math.nan
    tasks: int = 1
    strata: tuple[tuple[int, int, float], ...] = ()


def _check_groups(groups: Sequence[Sequence], what: str) -> list[list]:
    groups = [list(g) for g in groups]
    if not groups:
        raise ValueError(f"{what}: no tasks to aggregate")
    empty = [i for i, g in enumerate(groups) if not g]
    if empty:
        raise ValueError(f"{what}: task group(s) {empty} have no episodes (n = 0)")
    return groups


def _flags(values: Sequence, what: str) -> list[bool]:
    out = []
    for v in values:
        if isinstance(v, bool) or (isinstance(v, (int, float)) and v in (0, 1)):
            out.append(bool(v))
        else:
            raise ValueError(f"{what}: expected a success flag (bool or 0/1), got {v!r}")
    return out


def _reals(values: Sequence, what: str) -> list[float]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise ValueError(f"{what}: expected a finite number, got {v!r}")
        out.append(float(v))
    return out


# --------------------------------------------------------------------------- rates


def rate_pooled(groups: Sequence[Sequence[bool]]) -> Estimate:
    """k/n over all episodes of all tasks, Wilson 95% interval."""
    groups = _check_groups(groups, "pooled rate")
    flags = [f for g in groups for f in _flags(g, "pooled rate")]
    k, n = sum(flags), len(flags)
    lo, hi = wilson_interval(k, n)
    p = k / n
    return Estimate(p, lo, hi, n=n, k=k, var=p * (1 - p) / n, tasks=len(groups), strata=((k, n, 1.0),))


def rate_task_mean(groups: Sequence[Sequence[bool]]) -> Estimate:
    """Unweighted mean of per-task rates k_t/n_t, stratified 95% score interval."""
    groups = _check_groups(groups, "task-mean rate")
    ks = [sum(_flags(g, "task-mean rate")) for g in groups]
    ns = [len(g) for g in groups]
    mean, lo, hi = stratified_score_interval(ks, ns)
    t = len(groups)
    var = sum((k / n) * (1 - k / n) / n for k, n in zip(ks, ns)) / (t * t)
    return Estimate(
        mean, lo, hi, n=sum(ns), k=sum(ks), var=var, tasks=t, strata=tuple((k, n, 1.0 / t) for k, n in zip(ks, ns))
    )


# --------------------------------------------------------------------------- continuous means


def mean_interval(values: Sequence[float], z: float = Z95) -> tuple[float, float, float, float]:
    """(mean, low, high, variance of the mean) with a normal interval mean +- z*s/sqrt(n).

    s is the sample standard deviation (ddof = 1); with one value there is no interval
    (low = high = NaN). Raises ValueError for an empty sequence or non-finite values.
    """
    xs = _reals(values, "mean")
    if not xs:
        raise ValueError("mean: no values (n = 0)")
    n = len(xs)
    m = math.fsum(xs) / n
    if n < 2:
        return m, math.nan, math.nan, math.nan
    var_mean = math.fsum((x - m) ** 2 for x in xs) / (n - 1) / n
    half = z * math.sqrt(var_mean)
    return m, m - half, m + half, var_mean


def mean_pooled(groups: Sequence[Sequence[float]]) -> Estimate:
    """Mean over all episodes (VLN-CE style), normal interval."""
    groups = _check_groups(groups, "pooled mean")
    xs = [x for g in groups for x in g]
    m, lo, hi, var = mean_interval(xs)
    return Estimate(m, lo, hi, n=len(xs), var=var, tasks=len(groups))


def mean_task_mean(groups: Sequence[Sequence[float]]) -> Estimate:
    """Mean of per-task means, SE = sqrt(sum_t s_t^2/n_t) / T (stratified)."""
    groups = _check_groups(groups, "task-mean mean")
    parts = [mean_interval(g) for g in groups]
    t = len(parts)
    m = math.fsum(p[0] for p in parts) / t
    var = math.fsum(p[3] for p in parts) / (t * t)  # NaN when some task has a single episode
    half = Z95 * math.sqrt(var) if not math.isnan(var) else math.nan
    return Estimate(m, m - half, m + half, n=sum(len(g) for g in groups), var=var, tasks=t)


def rate_group_mean(episodes: Sequence[Mapping[str, Any]]) -> Estimate:
    """One task's success rate as SimplerEnv's official metric script computes it.

    ``episodes``: one mapping per episode with ``success`` (bool), ``group`` (the result directory
    the script averages first: env id + variant), ``subtask`` ("" when the task has one; coke-can
    orientation, drawer open / close) and ``counted`` (False: left out, as the script leaves out
    the camera variants). Value = mean over subtasks of the mean over their groups of the group's
    success rate. Interval: normal, each group a stratum with weight 1 / (subtasks x its subtask's
    groups). Raises ValueError when no episode counts.
    """
    counted = [e for e in episodes if e.get("counted", True) is not False]
    if not counted:
        raise ValueError("group mean: no counted episodes (n = 0)")
    tree: dict[str, dict[str, list[bool]]] = {}
    for e in counted:
        flag = e.get("success")
        if not isinstance(flag, bool):
            raise ValueError(f"group mean: success must be a bool, got {flag!r}")
        tree.setdefault(str(e.get("subtask", "")), {}).setdefault(str(e.get("group", "")), []).append(flag)
    value = var = 0.0
    for groups in tree.values():
        for flags in groups.values():
            w = 1.0 / (len(tree) * len(groups))
            p = sum(flags) / len(flags)
            value += w * p
            var += w * w * p * (1 - p) / len(flags)
    half = Z95 * math.sqrt(var)
    k = sum(sum(f) for g in tree.values() for f in g.values())
    return Estimate(value, max(0.0, value - half), min(1.0, value + half), n=len(counted), k=k, var=var)


@dataclass(frozen=True)
class Rule:
    """An aggregation rule: how per-task groups of episode values become a suite number."""

    name: str
    rate: Callable[[Sequence[Sequence[bool]]], Estimate]
    mean: Callable[[Sequence[Sequence[float]]], Estimate]
    describe: str
    label: str  # the suite row's task label; {all}: tasks in the rows, {used}: tasks with ok episodes ("k of n")
    # When set, a task's success rate comes from its episodes' metrics (group, subtask, counted),
    # and the suite's is the mean of the tasks' (combine).
    task_rows: Callable[[Sequence[Mapping[str, Any]]], Estimate] | None = None

    def task_label(self, used: int, all_: int) -> str:
        return self.label.format(all=all_, used=used if used == all_ else f"{used} of {all_}")


AGGREGATIONS: Mapping[str, Rule] = {
    "pooled": Rule("pooled", rate_pooled, mean_pooled, "k/n over all episodes, Wilson interval", "{all} task(s)"),
    "task_mean": Rule(
        "task_mean",
        rate_task_mean,
        mean_task_mean,
        "mean of per-task rates, stratified score interval",
        "mean of {used} task(s)",
    ),
    "episode_mean": Rule("episode_mean", rate_pooled, mean_pooled, "mean over episodes", "{all} task(s)"),
    "group_mean": Rule(
        "group_mean",
        rate_task_mean,
        mean_task_mean,
        "SimplerEnv metric script: per task, mean over subtasks of group means; mean of tasks",
        "mean of {used} task(s)",
        task_rows=rate_group_mean,
    ),
}


def rule(name: str) -> Rule:
    try:
        return AGGREGATIONS[name]
    except KeyError:
        raise ValueError(f"unknown aggregation {name!r} (known: {', '.join(AGGREGATIONS)})") from None


# --------------------------------------------------------------------------- benchmark rows


@dataclass(frozen=True)
class Benchmark:
    """A benchmark-level row: the unweighted mean of its member suites, present when all are.

    Declared in a suite's protocol file, e.g. ``[defaults.benchmarks.libero_avg]`` with
    ``label = "LIBERO average"`` and ``members = [...]`` (see :func:`benchmarks_from`).
    """

    id: str
    label: str
    members: tuple[str, ...]


def benchmarks_from(declared: Any, where: str) -> tuple[Benchmark, ...]:
    """The benchmark rows a protocol declares under ``benchmarks`` (id -> {label, members}).

    Raises ValueError naming ``where`` for a declaration that is not one.
    """
    if declared is None:
        return ()
    if not isinstance(declared, Mapping):
        raise ValueError(f"{where}: benchmarks must be a table of id -> {{label, members}}, got {declared!r}")
    out = []
    for bid, d in declared.items():
        members = d.get("members") if isinstance(d, Mapping) else None
        if not isinstance(members, (list, tuple)) or not members or not all(isinstance(m, str) for m in members):
            raise ValueError(f"{where}: benchmark {bid!r} needs members = [suite names]")
        label = d.get("label", bid)
        if not isinstance(label, str) or not label:
            raise ValueError(f"{where}: benchmark {bid!r}: label must be a string")
        out.append(Benchmark(str(bid), label, tuple(members)))
    return tuple(out)


def combine(estimates: Sequence[Estimate], bounds: tuple[float, float] | None = (0.0, 1.0)) -> Estimate:
    """Mean of member estimates; the members are independent strata: var = sum var_i / T^2.

    Rates whose members carry their strata (``bounds`` (0, 1)) get the stratified score interval
    over all the members' strata, each weighted 1/T times its weight in its member (for pooled
    members: one stratum per member); other estimates a normal interval from var.
    ``bounds`` clips the interval (rates: [0, 1]; None for unbounded means).
    """
    est = list(estimates)
    if not est:
        raise ValueError("combine: no member estimates")
    t = len(est)
    m = math.fsum(e.value for e in est) / t
    var = math.fsum(e.var for e in est) / (t * t)
    strata = tuple((k, n, w / t) for e in est for k, n, w in e.strata)
    if bounds == (0.0, 1.0) and all(e.strata for e in est):
        _, lo, hi = stratified_score_interval([x[0] for x in strata], [x[1] for x in strata], [x[2] for x in strata])
    elif math.isnan(var):
        lo = hi = math.nan
    else:
        half = Z95 * math.sqrt(var)
        lo, hi = m - half, m + half
        if bounds is not None:
            lo, hi = min(bounds[1], max(bounds[0], lo)), min(bounds[1], max(bounds[0], hi))
    ks = [e.k for e in est]
    return Estimate(
        m,
        lo,
        hi,
        n=sum(e.n for e in est),
        k=None if None in ks else sum(ks),
        var=var,
        tasks=t,
        strata=strata if all(e.strata for e in est) else (),
    )
