"""The prepared GPU check: one script, one table, one JSON.

    python -m benchmarks.gpu_check --json OUT.json          # on a GPU machine (see run.sh)
    python -m benchmarks.gpu_check --dry-run --json OUT.json  # here, on the CPU: every part, small

(a) the full-size Qwen-VLA (random init, bf16) at batch 1/8/32/64: latency p50/p90, VLM and DiT
parts, throughput, and whether the fast linear-attention kernels (fla, causal_conv1d) were there;
(b) LIBERO with EGL on the GPU: steps/s per worker with the two 256x256 cameras, 1 and 8 workers;
(c) libero_spatial end to end, 12 workers, the full-size model as one replica on the GPU:
episodes per minute, mean batch size, GPU utilisation; (d) (c)'s wall time over DESIGN's bound
max(total sim time / workers, total inference time / batching gain).

The dry run swaps the GPU for the CPU and the sizes for small ones (tiny model, batches 1 and 2;
1 and 2 LIBERO workers with whatever GL renders here; 2 workers, 2 episodes of 10 steps) and
runs the same code otherwise. A part that cannot run (LIBERO not installed, out of budget) is
reported as skipped with the reason; the others still run. Exit 0 when every part ran.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.append(str(Path(__file__).resolve().parents[2]))  # after an installed vla_eval

from benchmarks.gpu_check import table  # noqa: E402

PARTS = ("a", "b", "c")  # (d) is computed from (c)


def _run_part(name: str, fn, budget_end: float, min_left: float) -> dict:
    left = budget_end - time.monotonic()
    if left < min_left:
        return {"skipped": f"out of time budget ({left:.0f} s left, needs ~{min_left:.0f} s)"}
    t0 = time.monotonic()
    try:
        out = fn()
    except Exception as e:  # one part failing must not cost the others
        traceback.print_exc()
        return {"skipped": f"{type(e).__name__}: {e}".splitlines()[0][:300], "seconds": time.monotonic() - t0}
    out["seconds"] = time.monotonic() - t0
    print(f"part ({name}) done in {out['seconds']:.0f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="on the CPU, small sizes: checks everything but the GPU")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--parts", default="a,b,c", help="which parts to run (d comes with c)")
    ap.add_argument("--budget-s", type=float, default=480.0, help="stop starting parts after this long")
    a = ap.parse_args(argv)
    parts = [p for p in a.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        print(f"error: unknown part(s) {unknown} (known: a, b, c)", file=sys.stderr)
        return 2
    if not a.dry_run:
        import torch

        if not torch.cuda.is_available():
            print(
                "error: no CUDA device visible to torch (use --dry-run to check the script on the CPU)", file=sys.stderr
            )
            return 2
    end = time.monotonic() + a.budget_s
    from benchmarks._common import machine

    results: dict = {
        "dry_run": a.dry_run,
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if "a" in parts:
        from benchmarks.gpu_check import model

        results["a"] = _run_part("a", lambda: model.run(a.dry_run), end, 20 if a.dry_run else 90)
    if "b" in parts:
        from benchmarks.gpu_check import render

        results["b"] = _run_part("b", lambda: render.run(a.dry_run), end, 20 if a.dry_run else 60)
    if "c" in parts:
        from benchmarks.gpu_check import e2e

        results["c"] = _run_part("c", lambda: e2e.run(a.dry_run), end, 30 if a.dry_run else 150)
    results["total_s"] = a.budget_s - (end - time.monotonic())
    print()
    print(table.render(results))
    if a.json:
        a.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"results: {a.json}")
    ran = all("skipped" not in results[p] for p in parts)
    return 0 if ran else 1


if __name__ == "__main__":
    sys.exit(main())
