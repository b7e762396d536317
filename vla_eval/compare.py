"""``vla-eval compare BASE CAND``: a paired comparison of two runs on the same episodes; a CI gate.

Episodes are paired by ``episode_id`` (a content hash of the episode, not of the policy), using
the episodes that count in both runs (:mod:`vla_eval.outcomes`): an episode that ran to its end,
or a policy error, which is a failure of the policy (a candidate that emits NaN fails those
episodes; it cannot pass the gate by breaking). Episodes that a simulator, infrastructure or
timeout error left incomplete in either run are not paired, and counted. Per task and per suite: the SR difference
(candidate - base) with a paired bootstrap interval and the exact McNemar p-value on the
discordant episodes; the episodes that flipped; for continuous per-episode metrics
(SPL, nDTW, MS, ...; any numeric value in the rows' ``metrics`` that both runs carry) the mean
difference with a paired bootstrap interval.

The suite-level difference is over all paired episodes of the suite (equal to the difference
of task means when every task has the same number of paired episodes, as in every protocol here).

Exit codes: 0 no significant regression; 1 the candidate is significantly worse on some suite
(McNemar p < alpha and a negative difference); 2 "cannot decide": the runs cannot be paired
(another suite or protocol version in run.json, no common episode ids; one line on stderr) or other
bad input, or, when there is no significant regression, episodes present in both runs that
simulator/infrastructure/timeout errors left incomplete in one of them (the comparison is short of
those episodes; ``vla-eval run ... --retry-errors`` completes them).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from vla_eval import outcomes
from vla_eval.errors import UsageError
from vla_eval.ledger import LedgerRow
from vla_eval.metrics import mcnemar_exact, paired_bootstrap
from vla_eval.runs import load_run, load_run_json

N_RESAMPLES = 10_000
SEED = 0


@dataclass(frozen=True)
class PairedRate:
    level: str  # "task" or "suite"
    suite: str
    task_index: Any
    task: str
    n: int
    base_sr: float
    cand_sr: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    worse: int  # base success -> candidate failure
    better: int  # base failure -> candidate success
    base_policy_errors: int = 0  # counted as failures (in n)
    cand_policy_errors: int = 0


@dataclass(frozen=True)
class PairedMean:
    suite: str
    metric: str
    n: int
    base_mean: float
    cand_mean: float
    diff: float
    ci_low: float
    ci_high: float


@dataclass
class Comparison:
    alpha: float
    rates: list[PairedRate] = field(default_factory=list)
    means: list[PairedMean] = field(default_factory=list)
    flipped_worse: list[LedgerRow] = field(default_factory=list)  # base rows that flipped to failure
    flipped_better: list[LedgerRow] = field(default_factory=list)
    unpaired_base: int = 0
    unpaired_cand: int = 0
    # Episodes in both runs that an error of the harness or simulator left incomplete in either run:
    # (base row, candidate row), not paired, and what makes the comparison undecided.
    incomplete: list[tuple[LedgerRow, LedgerRow]] = field(default_factory=list)

    @property
    def regressions(self) -> list[PairedRate]:
        """Suites where the candidate is significantly worse: p < alpha and diff < 0."""
        return [r for r in self.rates if r.level == "suite" and r.p_value < self.alpha and r.diff < 0]

    @property
    def exit_code(self) -> int:
        if self.regressions:
            return 1
        return 2 if self.incomplete else 0


def _check_alpha(alpha: float) -> float:
    if not (isinstance(alpha, (int, float)) and 0.0 < float(alpha) < 1.0):
        raise UsageError(f"--alpha must be in (0, 1), got {alpha!r}")
    return float(alpha)


def _paired_rate(level, suite, ti, task, pairs, alpha) -> PairedRate:
    b = [outcomes.succeeded(x) for x, _ in pairs]
    c = [outcomes.succeeded(y) for _, y in pairs]
    n = len(pairs)
    diff, lo, hi = paired_bootstrap(
        [float(v) for v in b], [float(v) for v in c], n_resamples=N_RESAMPLES, seed=SEED, alpha=alpha
    )
    return PairedRate(
        level=level,
        suite=suite,
        task_index=ti,
        task=task,
        n=n,
        base_sr=sum(b) / n,
        cand_sr=sum(c) / n,
        diff=diff,
        ci_low=lo,
        ci_high=hi,
        p_value=mcnemar_exact(b, c),
        worse=sum(1 for x, y in zip(b, c) if x and not y),
        better=sum(1 for x, y in zip(b, c) if y and not x),
        base_policy_errors=sum(1 for x, _ in pairs if outcomes.outcome(x) == outcomes.POLICY_ERROR),
        cand_policy_errors=sum(1 for _, y in pairs if outcomes.outcome(y) == outcomes.POLICY_ERROR),
    )


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(float(v)):
        return float(v)
    return None


def compare_rows(
    base_rows: Sequence[LedgerRow | Mapping[str, Any]],
    cand_rows: Sequence[LedgerRow | Mapping[str, Any]],
    alpha: float = 0.05,
) -> Comparison:
    """Pair the counted episodes of two runs by episode_id and compare them (pure; no I/O)."""
    alpha = _check_alpha(alpha)
    base_all = {r.episode_id: r for r in map(LedgerRow.coerce, base_rows)}
    cand_all = {r.episode_id: r for r in map(LedgerRow.coerce, cand_rows)}
    base = {i: r for i, r in base_all.items() if outcomes.counted(r)}
    cand = {i: r for i, r in cand_all.items() if outcomes.counted(r)}
    common = sorted(set(base) & set(cand), key=lambda i: (base[i].suite, base[i].task_index, base[i].episode_index, i))
    if not common:
        raise UsageError(
            f"cannot pair the runs: no common episode ids that ran to their end or failed by a policy error "
            f"(base has {len(base)}, candidate {len(cand)})"
        )
    short = sorted(
        (set(base_all) & set(cand_all)) - set(common),
        key=lambda i: (base_all[i].suite, base_all[i].task_index, base_all[i].episode_index, i),
    )
    out = Comparison(
        alpha=alpha,
        unpaired_base=len(set(base_all) - set(cand_all)),
        unpaired_cand=len(set(cand_all) - set(base_all)),
        incomplete=[(base_all[i], cand_all[i]) for i in short],
    )
    pairs = [(base[i], cand[i]) for i in common]
    for suite in sorted({x.suite for x, _ in pairs}):
        sp = [(x, y) for x, y in pairs if x.suite == suite]
        for ti in sorted({x.task_index for x, _ in sp}):
            tp = [(x, y) for x, y in sp if x.task_index == ti]
            out.rates.append(_paired_rate("task", suite, ti, tp[0][0].task, tp, alpha))
        out.rates.append(
            _paired_rate("suite", suite, "all", f"{len({x.task_index for x, _ in sp})} task(s)", sp, alpha)
        )
        names = sorted({k for x, y in sp for k in x.metrics if k in y.metrics})  # success: the table above
        for name in names:
            vals = [
                (_number(x.metrics[name]), _number(y.metrics[name]))
                for x, y in sp
                if name in x.metrics and name in y.metrics
            ]
            vals = [(a, b) for a, b in vals if a is not None and b is not None]
            if not vals:
                continue
            xs, ys = [a for a, _ in vals], [b for _, b in vals]
            diff, lo, hi = paired_bootstrap(xs, ys, n_resamples=N_RESAMPLES, seed=SEED, alpha=alpha)
            out.means.append(PairedMean(suite, name, len(vals), sum(xs) / len(xs), sum(ys) / len(ys), diff, lo, hi))
        for x, y in sp:
            if outcomes.succeeded(x) and not outcomes.succeeded(y):
                out.flipped_worse.append(y)  # the candidate's row: its error, if it broke
            elif outcomes.succeeded(y) and not outcomes.succeeded(x):
                out.flipped_better.append(x)
    return out


def check_pairable(base_dir: Path, cand_dir: Path) -> tuple[list[LedgerRow], list[LedgerRow]]:
    """Rows of both runs; UsageError (exit 2) when they are of another suite or protocol version."""
    base_rows, cand_rows = load_run(base_dir), load_run(cand_dir)
    bcfg = load_run_json(base_dir).get("config") or {}
    ccfg = load_run_json(cand_dir).get("config") or {}

    def values(cfg, rows, key) -> str:
        vals = [str(cfg[key])] if key in cfg else sorted({str(getattr(r, key)) for r in rows})
        return ", ".join(repr(v) for v in vals)

    for key in ("suite", "protocol_version"):
        bv, cv = values(bcfg, base_rows, key), values(ccfg, cand_rows, key)
        if bv != cv:
            raise UsageError(f"cannot pair the runs: {key} {bv} in {base_dir}, {cv} in {cand_dir}")
    return base_rows, cand_rows


def _pp(x: float) -> str:
    return f"{100 * x:+.1f}"


def _p(p: float) -> str:
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"


def print_comparison(c: Comparison, base_dir: Path, cand_dir: Path, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or (Console() if sys.stdout.isatty() else Console(width=132))
    level = f"{100 * (1 - c.alpha):g}%"
    t = Table(title=f"compare: candidate {cand_dir} vs base {base_dir} (paired by episode id)", title_justify="left")
    for col, just in [
        ("suite", "left"),
        ("task", "left"),
        ("n pairs", "right"),
        ("base SR %", "right"),
        ("cand SR %", "right"),
        ("diff pts", "right"),
        (f"{level} CI", "left"),
        ("McNemar p", "right"),
        ("s→f", "right"),
        ("f→s", "right"),
    ]:
        t.add_column(col, justify=just)
    for r in c.rates:
        is_suite = r.level == "suite"
        task = "all" if is_suite else f"{r.task_index}: {r.task}"
        style = "bold" if is_suite else None
        if is_suite and r in c.regressions:
            style = "bold red"
        t.add_row(
            r.suite,
            task[:50],
            str(r.n),
            f"{100 * r.base_sr:.1f}",
            f"{100 * r.cand_sr:.1f}",
            _pp(r.diff),
            f"[{_pp(r.ci_low)}, {_pp(r.ci_high)}]",
            _p(r.p_value),
            str(r.worse),
            str(r.better),
            style=style,
        )
    console.print(t)
    if c.means:
        m = Table(title="continuous metrics (mean, paired bootstrap)", title_justify="left")
        for col, just in [
            ("suite", "left"),
            ("metric", "left"),
            ("n pairs", "right"),
            ("base", "right"),
            ("cand", "right"),
            ("diff", "right"),
            (f"{level} CI", "left"),
        ]:
            m.add_column(col, justify=just)
        for x in c.means:
            m.add_row(
                x.suite,
                x.metric,
                str(x.n),
                f"{x.base_mean:.4g}",
                f"{x.cand_mean:.4g}",
                f"{x.diff:+.4g}",
                f"[{x.ci_low:+.4g}, {x.ci_high:+.4g}]",
            )
        console.print(m)
    for title, rows in (("success → failure", c.flipped_worse), ("failure → success", c.flipped_better)):
        console.print(f"{title}: {len(rows)} episode(s)", highlight=False)
        for r in rows:
            broke = f": policy error: {r.error}" if outcomes.outcome(r) == outcomes.POLICY_ERROR else ""
            console.print(
                f"  {r.suite} task {r.task_index} ({r.task}) episode {r.episode_index} [{r.episode_id}]{broke}",
                highlight=False,
                soft_wrap=True,
                markup=False,
            )
    pol = [
        (s.suite, s.base_policy_errors, s.cand_policy_errors)
        for s in c.rates
        if s.level == "suite" and (s.base_policy_errors or s.cand_policy_errors)
    ]
    for suite, b, k in pol:
        console.print(f"policy errors (counted as failures) in {suite}: base {b}, candidate {k}", highlight=False)
    if c.unpaired_base or c.unpaired_cand:
        console.print(
            f"not paired (missing in the other run): {c.unpaired_base} base, {c.unpaired_cand} candidate episode(s)",
            highlight=False,
        )
    if c.incomplete:
        console.print(
            f"incomplete: {len(c.incomplete)} episode(s) of both runs not paired: a simulator, "
            "infrastructure or timeout error in one of them",
            highlight=False,
        )
        for x, y in c.incomplete:
            which = "; ".join(
                f"{who}: {r.error_class or 'unknown'} error: {r.error}"
                for who, r in (("base", x), ("candidate", y))
                if not outcomes.counted(r)
            )
            console.print(
                f"  {x.suite} task {x.task_index} ({x.task}) episode {x.episode_index} [{x.episode_id}]: {which}",
                highlight=False,
                soft_wrap=True,
                markup=False,
            )
    if c.regressions:
        worst = ", ".join(f"{r.suite} ({_pp(r.diff)} pts, p = {_p(r.p_value)})" for r in c.regressions)
        console.print(f"[bold red]REGRESSION[/]: the candidate is significantly worse (alpha {c.alpha:g}) on {worst}")
    elif c.incomplete:
        paired = sum(r.n for r in c.rates if r.level == "suite")
        console.print(
            f"[bold yellow]CANNOT DECIDE[/]: no significant regression on the {paired} paired episode(s), "
            f"but {len(c.incomplete)} episode(s) are incomplete; rerun the incomplete run with "
            "--retry-errors, then compare again (exit 2)"
        )
    else:
        console.print(f"no significant regression (alpha {c.alpha:g})", highlight=False)


def run_compare(base_dir: Path, cand_dir: Path, alpha: float = 0.05, console=None) -> int:
    alpha = _check_alpha(alpha)
    base_rows, cand_rows = check_pairable(Path(base_dir), Path(cand_dir))
    c = compare_rows(base_rows, cand_rows, alpha)
    print_comparison(c, Path(base_dir), Path(cand_dir), console)
    if c.exit_code == 2:
        print(
            f"cannot decide: {len(c.incomplete)} episode(s) incomplete (simulator/infrastructure/timeout errors); "
            "rerun with --retry-errors",
            file=sys.stderr,
        )
    return c.exit_code
