"""A self-contained HTML leaderboard: no external CSS, JS or fonts; bars are inline SVG.

Per suite (and benchmark row) one table: for every task and every run, n, SR, the 95%
interval, a bar whose width is the SR and a whisker spanning the interval; published
reference rows of the same suite and split beside them; links to the episode videos that
were recorded (``DIR/videos/<episode_id>.mp4``), relative to the HTML file.

Bars: ``<rect class="bar" width=SR*BAR_W>``; whiskers: ``<line class="whisker" x1=lo*BAR_W x2=hi*BAR_W>``.
"""

from __future__ import annotations

import html
import os
import urllib.parse
from pathlib import Path
from typing import Any, Sequence

from vla_eval import aggregation as agg
from vla_eval import outcomes
from vla_eval.render import (
    OTHER_SETTING,
    OTHER_SETTING_NOTE,
    Entry,
    _ci,
    _ours,
    _pct,
    benchmarks_of,
    board_published,
    fmt_metric,
    fmt_published,
    suite_order,
)

BAR_W = 300  # px for 100 %
BAR_H = 14
PALETTE = ["#3b6fb6", "#d9822b", "#3a9d5d", "#b84a62", "#7d5ba6", "#8c7a3f"]
REF_COLOR = "#9aa0a6"

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;\
margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px}
small,.dim{color:#656d76}
table{border-collapse:collapse;margin:6px 0 12px}
th,td{padding:3px 8px;border-bottom:1px solid #e4e7eb;text-align:left;vertical-align:middle}
th{background:#f6f8fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.task{max-width:26em;overflow-wrap:anywhere}td.ci,td.run{white-space:nowrap}
.verdict{font-size:12px;white-space:nowrap}
table.board td:first-child{white-space:nowrap}
tr.all td{font-weight:600;border-top:2px solid #d0d7de}
tr.ref td{color:#656d76}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
svg.barchart{display:block}
svg .axis{stroke:#d0d7de;stroke-width:1}
svg .whisker{stroke:#1f2328;stroke-width:1.5}
.videos a{margin-right:6px;text-decoration:none}
.videos a.fail{color:#cf222e}.videos a.succ{color:#1a7f37}
.trajs a{margin-right:6px;text-decoration:none;color:#cf222e}
.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _f(x: float) -> str:
    return f"{x:.2f}"


def bar_svg(sr: float, lo: float, hi: float, color: str, *, css_class: str = "bar") -> str:
    """One bar (width = SR x BAR_W) with a whisker over [lo, hi]; empty axis when SR is NaN."""
    parts = [
        f'<svg class="barchart" width="{BAR_W + 2}" height="{BAR_H}" viewBox="0 0 {BAR_W + 2} {BAR_H}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img">',
        f'<line class="axis" x1="0" y1="{BAR_H - 0.5}" x2="{BAR_W}" y2="{BAR_H - 0.5}"/>',
    ]
    if sr == sr:
        parts.append(
            f'<rect class="{css_class}" data-sr="{sr:.6f}" x="0" y="2" width="{_f(sr * BAR_W)}" '
            f'height="{BAR_H - 5}" fill="{color}"><title>{_pct(sr)} %</title></rect>'
        )
    if lo == lo and hi == hi:
        y = (BAR_H - 1) / 2
        parts.append(
            f'<g class="whisker-group" data-lo="{lo:.6f}" data-hi="{hi:.6f}">'
            f'<line class="whisker" x1="{_f(lo * BAR_W)}" y1="{y}" x2="{_f(hi * BAR_W)}" y2="{y}"/>'
            f'<line class="whisker cap" x1="{_f(lo * BAR_W)}" y1="{y - 4}" x2="{_f(lo * BAR_W)}" y2="{y + 4}"/>'
            f'<line class="whisker cap" x1="{_f(hi * BAR_W)}" y1="{y - 4}" x2="{_f(hi * BAR_W)}" y2="{y + 4}"/></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _video_links(entry: Entry, suite: str, task_index: Any, html_dir: Path) -> str:
    links = []
    for run in entry.runs:
        vdir = run.dir / "videos"
        if not vdir.is_dir():
            continue
        rows = [r for r in run.rows if r.suite == suite and r.task_index == task_index]
        for r in sorted(rows, key=lambda r: r.episode_index):
            path = vdir / f"{r.episode_id}.mp4"
            if path.exists():
                rel = os.path.relpath(path.resolve(), html_dir.resolve()).replace(os.sep, "/")
                cls, mark = ("succ", "✓") if outcomes.succeeded(r) else ("fail", "✗")
                links.append(
                    f'<a class="{cls}" href="{_e(urllib.parse.quote(rel))}" '
                    f'title="episode {r.episode_index} ({_e(r.episode_id)})">{mark}{r.episode_index}</a>'
                )
    return f'<span class="videos">{"".join(links)}</span>' if links else ""


def _trajectory_links(entry: Entry, suite: str, task_index: Any, html_dir: Path) -> str:
    """Links to the recorded trajectories (--record-trajectory) of the episodes that did not succeed."""
    links = []
    for run in entry.runs:
        rows = [
            r
            for r in run.rows
            if r.suite == suite
            and r.task_index == task_index
            and not outcomes.succeeded(r)
            and r.metrics.get("trajectory")
        ]
        for r in sorted(rows, key=lambda r: r.episode_index):
            path = run.dir / str(r.metrics["trajectory"])
            if path.exists():
                rel = os.path.relpath(path.resolve(), html_dir.resolve()).replace(os.sep, "/")
                what = outcomes.outcome(r).replace("_", " ")
                links.append(
                    f'<a class="fail" href="{_e(urllib.parse.quote(rel))}" title="trajectory of episode '
                    f'{r.episode_index} ({_e(r.episode_id)}): {_e(what)}">⤓{r.episode_index}</a>'
                )
    return f'<span class="trajs">{"".join(links)}</span>' if links else ""


def render(entries: Sequence[Entry], html_path: Path, title: str = "vla-eval leaderboard") -> str:
    """The whole page as a string; ``html_path`` is where it will be written (for video links)."""
    html_dir = Path(html_path).parent
    colors = {id(e): PALETTE[i % len(PALETTE)] for i, e in enumerate(entries)}
    reports = [e.report for e in entries]
    suites = suite_order((r.suite for rep in reports for r in rep.rows), benchmarks_of(reports))

    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        '<p class="dim">SR with its 95% interval (Wilson per task; each suite as its protocol aggregates: '
        "pooled k/n or mean of tasks; benchmark rows as the mean of their suites). A policy error (the policy "
        "broke its contract) counts as a failure and is shown in its own column; simulator, infrastructure and "
        "timeout errors are not counted and are shown apart (the run is incomplete). Published rows are from "
        "results/reference.</p>",
    ]

    # legend
    out.append(
        "<p>"
        + " ".join(
            f'<span title="{_e(", ".join(str(r.dir) for r in e.runs))}"><span class="swatch" '
            f'style="background:{colors[id(e)]}"></span>{_e(e.label)} '
            f"<small>({_e(', '.join(r.dir.name for r in e.runs))})</small></span>&nbsp;&nbsp;"
            for e in entries
        )
        + "</p>"
    )

    # summary board
    out.append(
        '<h2>Summary</h2><table class="board"><tr><th>method</th>'
        + "".join(f'<th><a href="#suite-{_e(s)}">{_e(s)}</a></th>' for s in suites)
        + "</tr>"
    )
    for e in entries:
        cells = []
        for s in suites:
            r = e.report.row(s)
            if r is None:
                cells.append("<td></td>")
                continue
            v = _verdict(e, s)
            cells.append(f'<td class="num">{_pct(r.sr)} <small>{_ci(r.n, r.ci_low, r.ci_high)} n={r.n}</small>{v}</td>')
        out.append(
            f'<tr class="entry"><td><span class="swatch" style="background:{colors[id(e)]}"></span>'
            f"{_e(e.label)}</td>{''.join(cells)}</tr>"
        )
    pub: dict[str, dict[str, str]] = {}
    for e in entries:
        for x in e.report.reference:
            if x.metric == "SR" and not x.task and x.published != "":
                pub.setdefault(x.method, {})[x.suite] = board_published(x)
    for m, vals in pub.items():
        out.append(
            f'<tr class="ref"><td>{_e(m)} <small>(published)</small></td>'
            + "".join(f'<td class="num">{_e(vals.get(s, ""))}</td>' for s in suites)
            + "</tr>"
        )
    out.append("</table>")
    if any(OTHER_SETTING in v for vals in pub.values() for v in vals.values()):
        out.append(f"<p><small>{_e(OTHER_SETTING_NOTE)}</small></p>")

    # per suite
    for s in suites:
        info = next((e.report.suites[s] for e in entries if s in e.report.suites), None)
        sub = (
            (
                f"{'split ' + info.split + ' · ' if info.split else ''}aggregation {info.aggregation}: "
                f"{agg.rule(info.aggregation).describe}"
            )
            if info
            else "benchmark row: mean of its suites, stratified score interval"
        )
        out.append(f'<section class="suite" id="suite-{_e(s)}"><h2>{_e(s)} <small>{_e(sub)}</small></h2>')
        out.append(
            '<table class="tasks"><tr><th>task</th><th>run</th><th class="num">n</th><th class="num">SR %</th>'
            '<th>95% CI</th><th class="num">policy errors</th><th class="num">errors</th><th>SR and 95% CI</th>'
            "<th>videos (✓ ✗) and trajectories of failures (⤓)</th></tr>"
        )
        tasks: list[tuple[Any, str]] = []
        for e in entries:
            for r in e.report.rows:
                if r.suite != s:
                    continue
                key = (r.task_index, r.task)
                if key not in tasks:
                    tasks.append(key)
        tasks.sort(key=lambda k: (k[0] == "all", k[0] if k[0] != "all" else 0))
        for ti, task in tasks:
            is_all = ti == "all"
            label = f"all ({task})" if is_all else f"{ti}: {task}"
            for e in entries:
                r = e.report.row(s, ti)
                if r is None:
                    continue
                vids = "" if is_all else _video_links(e, s, ti, html_dir) + _trajectory_links(e, s, ti, html_dir)
                out.append(
                    f'<tr class="{"all" if is_all else "task"}"><td class="task">{_e(label)}</td>'
                    f'<td class="run">{_e(e.label)}</td>'
                    f'<td class="num">{r.n}</td><td class="num">{_pct(r.sr)}</td>'
                    f'<td class="ci">{_ci(r.n, r.ci_low, r.ci_high)}</td>'
                    f'<td class="num">{r.policy_errors}</td><td class="num">{r.errors}</td>'
                    f"<td>{bar_svg(r.sr, r.ci_low, r.ci_high, colors[id(e)])}</td>"
                    f"<td>{vids}</td></tr>"
                )
            if is_all:
                seen = set()
                for e in entries:
                    for x in e.report.reference:
                        if x.suite != s or x.task or x.metric != "SR" or x.published == "":
                            continue
                        if x.method in seen:
                            continue
                        seen.add(x.method)
                        p = float(x.published) / 100.0
                        out.append(
                            f'<tr class="ref"><td class="task">published</td><td class="run" '
                            f'title="training protocol: {_e(x.training_protocol)}">{_e(x.method)}</td><td></td>'
                            f'<td class="num">{_e(board_published(x))}</td><td></td>'
                            f"<td></td><td>{bar_svg(p, float('nan'), float('nan'), REF_COLOR, css_class='bar ref')}"
                            "</td>"
                            f'<td><small title="{_e(x.source)}">{_e(x.source.split(" (")[0])}</small></td></tr>'
                        )
        out.append("</table>")
        out.extend(_metrics_table(entries, s))
        out.extend(_verdicts_table(entries, s))
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)


def _verdict(e: Entry, suite: str) -> str:
    for x in e.report.reference:
        if x.suite == suite and x.reproduces and x.metric in ("SR", "") and not x.comparable_to:
            v = x.verdict
            cls = "ok" if v.startswith("reproduced") else ("bad" if v.startswith("not reproduced") else "dim")
            mark = {"ok": "✓", "bad": "✗"}.get(cls, "·")
            short = v.split(" (")[0]
            return (
                f'<br><span class="{cls} verdict" title="{_e(v)} ({_e(x.reproduces)})">{mark} {_e(short)} '
                f"{_e(x.reproduces)}</span>"
            )
    return ""


def _metrics_table(entries: Sequence[Entry], suite: str) -> list[str]:
    rows = []
    for e in entries:
        for m in e.report.metrics:
            if m.suite == suite:
                task = "all" if m.task_index == "all" else f"{m.task_index}: {m.task}"
                f = lambda v, m=m: fmt_metric(m.metric, m.kind, v)  # noqa: E731
                rows.append(
                    f"<tr><td>{_e(task)}</td><td>{_e(e.label)}</td><td>{_e(m.metric)}</td>"
                    f'<td class="num">{m.n}</td><td class="num">{f(m.value)}</td>'
                    f"<td>{_ci(m.n, m.ci_low, m.ci_high, f)}</td></tr>"
                )
    if not rows:
        return []
    return [
        "<h3>Other metrics <small>(apart from success, never averaged with it)</small></h3>",
        '<table class="metrics"><tr><th>task</th><th>run</th><th>metric</th><th class="num">n</th>'
        '<th class="num">value</th><th>95% CI</th></tr>',
        *rows,
        "</table>",
    ]


def _verdicts_table(entries: Sequence[Entry], suite: str) -> list[str]:
    rows = []
    for e in entries:
        for x in e.report.reference:
            if x.suite == suite and x.reproduces:
                v = x.verdict
                cls = "ok" if v.startswith("reproduced") else ("bad" if v.startswith("not reproduced") else "dim")
                rows.append(
                    f"<tr><td>{_e(e.label)}</td><td>{_e(x.reproduces)}</td><td>{_e(x.metric or '-')}</td>"
                    f'<td class="num">{_e(fmt_published(x.metric, x.published))}</td><td>{_e(_ours(x))}</td>'
                    f'<td class="{cls}">{_e(v)}</td></tr>'
                )
    if not rows:
        return []
    return [
        '<h3>Reproduction</h3><table class="verdicts"><tr><th>run</th><th>reproduces</th><th>metric</th>'
        '<th class="num">published</th><th>ours [95% CI]</th><th>verdict</th></tr>',
        *rows,
        "</table>",
    ]


def write_html(entries: Sequence[Entry], path: Path, title: str = "vla-eval leaderboard") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(entries, path, title), encoding="utf-8")
    os.replace(tmp, path)
    return path
