"""Render a :class:`vla_eval.report.Report` (what :func:`vla_eval.report.aggregate` returns):
markdown, CSV files, rich tables, and the leaderboard over several run dirs. Every renderer is a
function of the Report alone.

Files: ``report.md``, ``report.csv`` (columns: suite, task_index, task, n, successes, sr,
ci_low, ci_high, errors, policy_errors), plus ``report_metrics.csv`` and
``report_reference.csv`` when there is something to put in them.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from vla_eval import aggregation as agg
from vla_eval.ledger import LedgerRow
from vla_eval.reference import REFERENCE_METRICS, ReferenceRow, load_reference
from vla_eval.report import FailedEpisode, ReferenceLine, Report, TableRow, aggregate
from vla_eval.runs import InfoLookup, RunInfo

# Display scale of continuous metrics (fractions shown in percent, as papers do).
DISPLAY_SCALE = {m.key: m.scale for m in REFERENCE_METRICS.values()}


# --------------------------------------------------------------------------- output


def _console():
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=132)  # pipes and CI logs: not 80 columns


def _pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.1f}"


def _is_all(r: TableRow) -> bool:
    return r.task_index == "all"


def _label(r: TableRow, bold: str = "**") -> str:
    if not _is_all(r):
        return f"{r.task_index}: {r.task}"
    if r.level == "benchmark":
        name, _, rest = r.task.partition(" (")
        return f"{bold}{name}{bold} ({rest}"
    if r.task.startswith("mean of"):
        return f"{bold}all{bold} ({r.task})"
    return f"{bold}all{bold}"


def _ci(n: int, lo: float, hi: float, fmt=_pct) -> str:
    return "-" if n == 0 or lo != lo else f"[{fmt(lo)}, {fmt(hi)}]"


def fmt_metric(name: str, kind: str, x: Any) -> str:
    """Rates and fraction-scale metrics in percent; others as they are (3 decimals)."""
    if x is None or x == "" or (isinstance(x, float) and x != x):
        return "-"
    scale = 100.0 if kind == "rate" else DISPLAY_SCALE.get(name, 1.0)
    return f"{x * scale:.1f}" if scale != 1.0 else f"{x:.3f}"


def fmt_published(metric: str, value: Any) -> str:
    if value == "" or value is None:
        return "-"
    v = float(value)
    return f"{v:.1f}" if round(v, 1) == v else f"{v:g}"


OTHER_SETTING = "†"
OTHER_SETTING_NOTE = (
    "† published for another setting than the suite as run here (see its comparable_to in results/reference)"
)


def shown_verdict(x: ReferenceLine) -> str:
    """A reference row's verdict; a row that measures another setting says so even when nothing reproduces it."""
    if x.verdict:
        return x.verdict
    return f"not comparable: {x.comparable_to}" if x.comparable_to else ""


def board_published(x: ReferenceLine) -> str:
    """A published SR for a leaderboard cell, marked when the row measures another setting."""
    return fmt_published("SR", x.published) + (OTHER_SETTING if x.comparable_to else "")


def suite_order(names: Iterable[str], benchmarks: Iterable[agg.Benchmark] = ()) -> list[str]:
    """Suites in the order of the benchmark rows that declare them (LIBERO spatial, object, goal, 10,
    then the average), others by name."""
    rank: dict[str, tuple] = {}
    for i, b in enumerate(benchmarks):
        for j, m in enumerate(b.members):
            rank.setdefault(m, (0, i, j, m))
        rank.setdefault(b.id, (0, i, len(b.members), b.id))
    return sorted(set(names), key=lambda s: rank.get(s, (1, 0, 0, s)))


def benchmarks_of(reports: Iterable[Report]) -> list[agg.Benchmark]:
    """The benchmark rows declared in any of the reports, once each."""
    out: dict[str, agg.Benchmark] = {}
    for rep in reports:
        for b in rep.benchmarks:
            out.setdefault(b.id, b)
    return list(out.values())


def incomplete_note(report: Report) -> str:
    """One line when episodes could not be completed (not counted), else ""."""
    if not report.incomplete:
        return ""
    what = ", ".join(f"{suite} {errors}" for suite, errors in report.incomplete)
    return (
        f"INCOMPLETE: episodes with simulator/infrastructure/timeout errors are not counted ({what}); "
        "run the same command with --retry-errors to run them again"
    )


def to_markdown(report: Report) -> str:
    head = (
        "| suite | task | n | SR % | 95% CI | policy errors (failures, in n) | errors (not counted) |\n"
        "|---|---|---:|---:|---|---:|---:|\n"
    )
    lines = []
    for r in report.rows:
        lines.append(
            f"| {r.suite} | {_label(r)} | {r.n} | {_pct(r.sr)} | {_ci(r.n, r.ci_low, r.ci_high)} | "
            f"{r.policy_errors} | {r.errors} |"
        )
    text = head + "\n".join(lines) + "\n"
    note = incomplete_note(report)
    if note:
        text += f"\n**{note.split(':')[0]}**:{note.split(':', 1)[1]}\n"
    if report.metrics:
        text += "\nOther metrics (kept apart from success, never averaged with it; rates and SPL/nDTW in %):\n\n"
        text += "| suite | task | metric | n | value | 95% CI |\n|---|---|---|---:|---:|---|\n"
        for m in report.metrics:
            task = (
                f"{m.task_index}: {m.task}"
                if m.task_index != "all"
                else (f"**{m.task.split(' (')[0]}**" if m.level == "benchmark" else "**all**")
            )
            f = functools.partial(fmt_metric, m.metric, m.kind)
            ci = _ci(m.n, m.ci_low, m.ci_high, f)
            text += f"| {m.suite} | {task} | {m.metric} | {m.n} | {f(m.value)} | {ci} |\n"
    if report.reference:
        text += (
            "\nPublished reference rows for the same suite and split (results/reference; values as "
            "published, % for rates):\n\n"
        )
        text += (
            "| suite | split | task | method | metric | published | ours [95% CI] | verdict | training protocol "
            "| source |\n"
        )
        text += "|---|---|---|---|---|---:|---|---|---|---|\n"
        for x in report.reference:
            text += (
                f"| {x.suite} | {x.split} | {x.task or 'all'} | {x.method} | {x.metric or '-'} | "
                f"{fmt_published(x.metric, x.published)} | {_ours(x)} | {shown_verdict(x)} | "
                f"{x.training_protocol} | {x.source} |\n"
            )
    text += failed_markdown(report.failed)
    return text


def failed_markdown(failed: Sequence[FailedEpisode]) -> str:
    """The episodes that did not succeed, with links to their video and trajectory (relative to OUT)."""
    if not failed:
        return ""
    text = (
        f"\nEpisodes that did not succeed ({len(failed)}): failure, policy error (a failure) or incomplete "
        "(not counted); video and trajectory where recorded (`--record-video`, `--record-trajectory`):\n\n"
        "| suite | task | episode | id | outcome | steps | video | trajectory | error |\n"
        "|---|---|---:|---|---|---:|---|---|---|\n"
    )
    for f in failed:
        video = f"[mp4]({f.video})" if f.video else ""
        traj = f"[npz]({f.trajectory})" if f.trajectory else ""
        err = str(f.error).replace("|", "\\|").replace("\n", " ")[:200]
        text += (
            f"| {f.suite} | {f.task_index}: {f.task} | {f.episode_index} | {f.episode_id} | "
            f"{f.outcome.replace('_', ' ')} | {f.steps} | {video} | {traj} | {err} |\n"
        )
    return text


def _ours(x: ReferenceLine) -> str:
    if x.ours in ("", None):
        return ""
    m = REFERENCE_METRICS.get(x.metric)
    s = m.scale if m else 1.0
    f = (lambda v: f"{v * s:.1f}") if s != 1.0 else (lambda v: f"{v:.2f}")
    lo, hi = x.ours_ci_low, x.ours_ci_high
    return f"{f(x.ours)} [{f(lo)}, {f(hi)}]" if lo == lo else f(x.ours)


def to_csv(report: Report) -> str:
    """``report.csv``: the main table (:data:`vla_eval.report.COLUMNS`)."""
    return report.to_frame().to_csv(index=False)


def write_report(out: Path, report: Report) -> tuple[Path, Path]:
    """report.md and report.csv (and report_metrics.csv / report_reference.csv when non-empty)."""
    out = Path(out)
    md, csv = out / "report.md", out / "report.csv"
    md.write_text(to_markdown(report))
    report.to_frame().to_csv(csv, index=False)
    for present, frame, name in (
        (report.metrics, report.metrics_frame, "report_metrics.csv"),
        (report.reference, report.reference_frame, "report_reference.csv"),
    ):
        path = out / name
        if present:
            frame().to_csv(path, index=False)
        elif path.exists():
            path.unlink()  # stale from an earlier report of this run
    return md, csv


def print_table(report: Report, title: str, console=None) -> None:
    from rich.table import Table

    console = console or _console()
    table = Table(title=title, title_justify="left")
    for col, just in [
        ("suite", "left"),
        ("task", "left"),
        ("n", "right"),
        ("SR %", "right"),
        ("95% CI", "left"),
        ("policy err.", "right"),
        ("errors", "right"),
    ]:
        table.add_column(col, justify=just)
    for r in report.rows:
        task = _label(r, bold="")
        if len(task) > 60:
            task = task[:57] + "..."
        ci = _ci(r.n, r.ci_low, r.ci_high)
        table.add_row(
            r.suite,
            task,
            str(r.n),
            _pct(r.sr),
            ci,
            str(r.policy_errors),
            str(r.errors),
            style="bold" if _is_all(r) else None,
        )
    console.print(table)
    console.print(
        "policy err.: the policy broke its contract (counted as failures, in n); errors: simulator, "
        "infrastructure or timeout (not counted)",
        style="dim",
        highlight=False,
    )
    note = incomplete_note(report)
    if note:
        console.print(note, style="bold red", highlight=False, markup=False)
    failed = report.failed
    recorded = [f for f in failed if f.video or f.trajectory]
    if recorded:
        console.print(
            f"{len(failed)} episode(s) did not succeed; {len(recorded)} with a video or trajectory, "
            "listed in report.md:",
            highlight=False,
        )
        for f in recorded[:10]:
            files = ", ".join(x for x in (f.video, f.trajectory) if x)
            console.print(
                f"  {f.suite} task {f.task_index} episode {f.episode_index} ({f.outcome.replace('_', ' ')}): {files}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        if len(recorded) > 10:
            console.print(f"  ... and {len(recorded) - 10} more", highlight=False)
    if report.metrics:
        t = Table(title="other metrics (apart from success)", title_justify="left")
        for col, just in [
            ("suite", "left"),
            ("task", "left"),
            ("metric", "left"),
            ("n", "right"),
            ("value", "right"),
            ("95% CI", "left"),
        ]:
            t.add_column(col, justify=just)
        for m in report.metrics:
            f = functools.partial(fmt_metric, m.metric, m.kind)
            task = "all" if m.task_index == "all" else f"{m.task_index}: {m.task}"
            t.add_row(
                m.suite,
                task[:60],
                m.metric,
                str(m.n),
                f(m.value),
                _ci(m.n, m.ci_low, m.ci_high, f),
                style="bold" if m.task_index == "all" else None,
            )
        console.print(t)
    if report.reference:
        t = Table(title="published reference rows (same suite and split)", title_justify="left")
        for col, just in [
            ("suite", "left"),
            ("split", "left"),
            ("method", "left"),
            ("metric", "left"),
            ("published", "right"),
            ("ours [95% CI]", "left"),
            ("verdict", "left"),
            ("source", "left"),
        ]:
            t.add_column(col, justify=just)
        for x in report.reference:
            v = shown_verdict(x)
            style = "green" if v.startswith("reproduced") else ("red" if v.startswith("not reproduced") else None)
            src = x.source.split(" (")[0] if x.source else ""
            suite = x.suite + (f" / {x.task}" if x.task else "")
            t.add_row(
                suite,
                x.split,
                x.method,
                x.metric or "-",
                fmt_published(x.metric, x.published),
                _ours(x),
                v,
                src,
                style=style,
            )
        console.print(t)


# --------------------------------------------------------------------------- several runs


@dataclass
class Entry:
    """One policy configuration over one or more run dirs (e.g. one per LIBERO suite)."""

    label: str
    runs: list[RunInfo]
    report: Report | None = None

    @property
    def rows(self) -> list[LedgerRow]:
        merged: dict[str, LedgerRow] = {}
        for run in self.runs:
            for r in run.rows:
                merged[r.episode_id] = r
        return list(merged.values())

    @property
    def reproduces(self) -> dict[str, str | None]:
        """Suite -> the method its run reproduces (a suite run in two dirs keeps the label they share)."""
        out: dict[str, str | None] = {}
        for run in self.runs:
            for suite in {r.suite for r in run.rows}:
                out[suite] = run.reproduces if out.get(suite, run.reproduces) == run.reproduces else None
        return out


def group_runs(runs: Sequence[RunInfo]) -> list[Entry]:
    """Run dirs of the same policy configuration form one entry (in the order first seen)."""
    entries: dict[str, Entry] = {}
    for run in runs:
        e = entries.setdefault(run.identity, Entry(run.label, []))
        e.runs.append(run)
    labels = [e.label for e in entries.values()]
    for e in entries.values():
        if labels.count(e.label) > 1:
            e.label += f" ({', '.join(str(r.dir) for r in e.runs)})"
    return list(entries.values())


def leaderboard(
    runs: Sequence[RunInfo], reference: Sequence[ReferenceRow] | None = None, info: InfoLookup | None = None
) -> list[Entry]:
    """Entries with their aggregate (incl. benchmark rows) over all their run dirs."""
    reference = load_reference() if reference is None else list(reference)
    entries = group_runs(runs)
    for e in entries:
        e.report = aggregate(e.rows, reproduces=e.reproduces, reference=reference, info=info)
    return entries


def print_leaderboard(entries: Sequence[Entry], console=None) -> None:
    """One row per entry and per published method; one column per suite / benchmark row."""
    from rich.console import Console
    from rich.table import Table

    reports = [e.report for e in entries]
    cols = suite_order((r.suite for rep in reports for r in rep.summary_rows), benchmarks_of(reports))
    body: list[tuple[str, list[str], str]] = []
    for e in entries:
        cells = []
        for c in cols:
            r = e.report.row(c)
            if r is None:
                cells.append("")
                continue
            v = next(
                (
                    x.verdict
                    for x in e.report.reference
                    if x.suite == c and x.reproduces and x.metric == "SR" and not x.comparable_to
                ),
                "",
            )
            mark = {"reproduced": " ✓", "not reproduced": " ✗"}.get(v.split(" (")[0], "")
            cells.append(f"{_pct(r.sr)} {_ci(r.n, r.ci_low, r.ci_high)} n={r.n}{mark}")
        body.append((e.label, cells, "bold"))
    published: dict[str, dict[str, str]] = {}
    for e in entries:
        for x in e.report.reference:
            if x.suite in cols and x.metric == "SR" and not x.task and x.published != "":
                published.setdefault(f"{x.method} (published)", {})[x.suite] = board_published(x)
    for m, vals in published.items():
        body.append((m, [vals.get(c, "") for c in cols], "dim"))
    widths = [max([len("method")] + [len(b[0]) for b in body])] + [
        max([len(c)] + [len(b[1][i]) for b in body]) for i, c in enumerate(cols)
    ]
    if console is None:  # as wide as the table needs, so that a pipe or a CI log shows one line per row
        console = Console() if sys.stdout.isatty() else Console(width=max(132, sum(widths) + 3 * len(widths) + 1))
    t = Table(title="leaderboard: SR % [95% CI] n (✓ / ✗: reproduces its published row or not)", title_justify="left")
    t.add_column("method")
    for c in cols:
        t.add_column(c, no_wrap=True)
    for label, cells, style in body:
        t.add_row(label, *cells, style=style)
    if any(OTHER_SETTING in cell for _, cells, _ in body for cell in cells):
        t.caption, t.caption_justify = OTHER_SETTING_NOTE, "left"
    console.print(t)
