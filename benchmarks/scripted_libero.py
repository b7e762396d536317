"""Run the privileged scripted LIBERO expert through the harness on a suite's official protocol.

    python benchmarks/scripted_libero.py --suite libero_object,libero_spatial \
        --tasks 0:10 --episodes 0:5 --workers 2 --out /tmp/scripted_libero

Each suite runs with its protocol's own step limit (libero_spatial 220, libero_object 280,
...), init states and seed, exactly as ``vla-eval run --policy scripted_libero`` does; the
results go to OUT/<suite> (a normal run directory: re-running resumes it). Prints the success
rate per task and overall, with 95% Wilson intervals, and the wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vla_eval.metrics import wilson_interval
from vla_eval.report import aggregate
from vla_eval.runner import RunConfig, run
from vla_eval.runs import load_run


def _pct(x: float) -> str:
    return "  -  " if x != x else f"{100 * x:5.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="libero_object,libero_spatial", help="suite name(s), comma separated")
    ap.add_argument("--tasks", default=None, help="task selection, e.g. 0:10 or 0,3 (default: all)")
    ap.add_argument("--episodes", default=None, help="episode selection per task, e.g. 0:5 (default: all 50)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/scripted_libero"))
    ap.add_argument("--retry-errors", action="store_true", help="re-run episodes that ended in an error")
    ap.add_argument("--python", default=None, help="interpreter for the env workers (another LIBERO stack)")
    args = ap.parse_args(argv)

    summary = []
    for suite in [s.strip() for s in args.suite.split(",") if s.strip()]:
        out = args.out / suite
        t0 = time.perf_counter()
        rc = run(
            RunConfig(
                suite=suite,
                policy="scripted_libero",
                out=out,
                tasks=args.tasks,
                episodes=args.episodes,
                workers=args.workers,
                retry_errors=args.retry_errors,
                python=args.python,
            )
        )
        wall = time.perf_counter() - t0
        if rc != 0:
            print(f"{suite}: run exited with {rc}", file=sys.stderr)
            return rc
        report = aggregate(load_run(out))
        print(f"\n== scripted_libero on {suite} ({out}), wall {wall:.0f} s, {args.workers} worker(s)")
        print(f"{'task':>4}  {'k/n':>7}  {'SR %':>5}  {'95% Wilson CI':>15}  errors  name")
        for r in report.rows:
            lo, hi = wilson_interval(int(r.successes), int(r.n)) if r.n else (float("nan"), float("nan"))
            label = "all" if r.task_index == "all" else str(r.task_index)
            print(
                f"{label:>4}  {r.successes:>3}/{r.n:<3}  {_pct(r.sr)}  [{_pct(lo)}, {_pct(hi)}]"
                f"  {r.errors:>6}  {r.task}"
            )
            if r.task_index == "all":
                summary.append((suite, int(r.successes), int(r.n), lo, hi, wall))
    if len(summary) > 1:
        print("\n== overall")
        for suite, k, n, lo, hi, wall in summary:
            print(
                f"{suite:>16}: {k}/{n} = {_pct(k / n if n else float('nan'))}%"
                f"  [{_pct(lo)}, {_pct(hi)}]  ({wall:.0f} s)"
            )
        k, n = sum(s[1] for s in summary), sum(s[2] for s in summary)
        lo, hi = wilson_interval(k, n) if n else (float("nan"), float("nan"))
        print(f"{'pooled':>16}: {k}/{n} = {_pct(k / n if n else float('nan'))}%  [{_pct(lo)}, {_pct(hi)}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
