"""Shared bits of the benchmark scripts (they print figures; they are not tests)."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from pathlib import Path


def machine() -> str:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    import os

    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def timed(fn, *args, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t0, out


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines() if line.strip()]


def cli(*args: str, env: dict | None = None) -> None:
    import os
    import sys

    subprocess.run(
        [sys.executable, "-m", "vla_eval.cli", *args],
        check=True,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
    )


def cost_bound(rows: list[dict], wall_s: float, workers: int, replicas: int = 1) -> dict:
    """DESIGN's cost model: wall >= max(total simulator time / workers, total inference time /
    (replicas x batching gain)). From the ledger rows: simulator time is the sum of the episodes'
    ``sim_s`` (env creation, resets and steps in the workers); inference time is the sum of their
    ``policy_s``, each episode's share of the batched calls it was in, so the sum is the time the
    policy spent in its calls, batching gain included. The ratio wall / bound is what the harness
    adds (process start-up, scheduling, waiting for stragglers); DESIGN asks for within 10%."""
    sim = sum(float(r["timing"]["sim_s"]) for r in rows)
    inference = sum(float(r["timing"]["policy_s"]) for r in rows)
    bound = max(sim / workers, inference / replicas)
    return {
        "wall_s": wall_s,
        "sim_total_s": sim,
        "inference_total_s": inference,
        "workers": workers,
        "replicas": replicas,
        "bound_s": bound,
        "ratio": wall_s / bound if bound > 0 else float("inf"),
    }


def cost_line(label: str, c: dict) -> str:
    return (
        f"{label}: wall {c['wall_s']:.1f} s, bound max(sim {c['sim_total_s']:.1f} s / {c['workers']}, "
        f"inference {c['inference_total_s']:.1f} s / {c['replicas']}) = {c['bound_s']:.1f} s, "
        f"ratio {c['ratio']:.2f} (DESIGN: <= 1.10)"
    )
