"""Throughput with 1 and 2 simulator workers on the same LIBERO episodes (target: >= 1.8x on 2 cores).

    python benchmarks/scaling.py [--episodes 8] [--steps 150] [--suite libero_spatial]

It also measures the machine's own ceiling: how much faster two CPU-bound processes finish
than one (a pure-Python loop in each). On a VM whose two vCPUs share a physical core or a CPU
quota, that ceiling is well under 2x, and no harness can scale past it. Each run's wall time is
printed beside DESIGN's bound, max(total simulator time / workers, total inference time /
batching gain), from its ledger's timings, with the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import cost_bound, cost_line, machine, rows  # noqa: E402


def throughput(workers: int, episodes: int, steps: int, suite: str) -> tuple[float, dict]:
    """Episodes per second, and the run's wall time beside DESIGN's bound (``cost_bound``)."""
    from vla_eval.runner import RunConfig, run

    out = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    t0 = time.perf_counter()
    run(
        RunConfig(
            suite=suite,
            policy="random",
            out=out / "run",
            tasks="0:2",
            episodes=f"0:{episodes // 2}",
            max_steps=steps,
            workers=workers,
            record_video="none",
        )
    )
    wall = time.perf_counter() - t0
    cost = cost_bound(rows(out / "run"), wall, workers)
    shutil.rmtree(out)
    return episodes / wall, cost


def _burn(n: int) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t0


def machine_ceiling(n: int = 20_000_000) -> float:
    """Speed-up of 2 CPU-bound processes over 1 on this machine."""
    import multiprocessing as mp

    one = _burn(n)
    with mp.get_context("spawn").Pool(2) as pool:
        two = max(pool.map(_burn, [n, n]))
    return 2 * one / two


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=8)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--suite", default="libero_spatial")
    a = ap.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    one, cost1 = throughput(1, a.episodes, a.steps, a.suite)
    two, cost2 = throughput(2, a.episodes, a.steps, a.suite)
    print(f"machine: {machine()}")
    print(f"{a.suite}, random policy, {a.episodes} episodes over 2 tasks x {a.steps} steps")
    print(f"1 worker:  {60 * one:.2f} episodes/min")
    print(f"2 workers: {60 * two:.2f} episodes/min")
    ceiling = machine_ceiling()
    print(f"speed-up: {two / one:.2f}x (target >= 1.8x)")
    print(
        f"this machine's ceiling (2 CPU-bound processes vs 1): {ceiling:.2f}x; "
        f"the harness reaches {two / one / ceiling:.0%} of it"
    )
    print(cost_line("1 worker ", cost1))
    print(cost_line("2 workers", cost2))


if __name__ == "__main__":
    main()
