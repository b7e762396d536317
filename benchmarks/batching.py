"""Batched inference: K env workers against a policy with a fixed per-call cost, versus the same
policy called one env at a time (as a serial client does). Target: >= 0.8 of the ideal speed-up.

    python benchmarks/batching.py [--workers 4] [--call-ms 100] [--step-ms 5]

The toy suite stands in for a simulator (each step sleeps --step-ms, so it costs no CPU); the
policy sleeps --call-ms per infer_batch call whatever the batch size, like a GPU forward pass.
Serial: one worker, so one observation per call. Batched: K workers, observations batched.
The ideal speed-up is K (K envs served per call instead of one). Each run's wall time is also
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import cost_bound, cost_line, machine, rows  # noqa: E402
from vla_eval.types import PolicySpec  # noqa: E402


class FixedCostPolicy:
    def __init__(self, call_ms: float = 100.0) -> None:
        self.cost = call_ms / 1000.0

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="fixed_cost", action_dim=2, horizon=1, max_batch=64)

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations):
        time.sleep(self.cost)
        return np.zeros((len(observations), 1, 2), dtype=np.float32)


def steps_per_second(workers: int, call_ms: float, episodes: int) -> tuple[float, dict]:
    from vla_eval.runner import RunConfig, run

    out = Path(tempfile.mkdtemp(prefix="bench-batching-"))
    t0 = time.perf_counter()
    run(
        RunConfig(
            suite="toy_reach",
            policy="benchmarks.batching:FixedCostPolicy",
            out=out / "run",
            tasks="0",
            episodes=f"0:{episodes}",
            max_steps=20,
            workers=workers,
            replan_steps=1,
            policy_args=(f"call_ms={call_ms}",),
            gpus="none",
            record_video="none",
        )
    )
    wall = time.perf_counter() - t0
    cost = cost_bound(rows(out / "run"), wall, workers)
    shutil.rmtree(out)
    return episodes * 20 / wall, cost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--call-ms", type=float, default=100.0)
    ap.add_argument("--step-ms", type=float, default=5.0)
    a = ap.parse_args()
    os.environ["VLA_EVAL_TOY_STEP_DELAY"] = str(a.step_ms / 1000.0)
    serial, cost1 = steps_per_second(1, a.call_ms, 2)
    batched, cost_k = steps_per_second(a.workers, a.call_ms, 2 * a.workers)
    speedup = batched / serial
    print(f"machine: {machine()}")
    print(f"policy call {a.call_ms:.0f} ms, env step {a.step_ms:.0f} ms, {a.workers} workers")
    print(f"serial (one env per call): {serial:.2f} env-steps/s")
    print(f"batched ({a.workers} workers):     {batched:.2f} env-steps/s")
    print(f"speed-up {speedup:.2f}x of ideal {a.workers}x = {speedup / a.workers:.2f} (target >= 0.8)")
    print(cost_line("serial ", cost1))
    print(cost_line("batched", cost_k))


if __name__ == "__main__":
    main()
