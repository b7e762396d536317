"""Parts (c) and (d): libero_spatial end to end, W env workers and the Qwen-VLA (random
weights, saved in the project's checkpoint layout and loaded by the policy) as one replica on
the GPU: episodes per minute, mean batch size, GPU utilisation; then the run's wall time
against DESIGN's bound max(total sim time / workers, total inference time / batching gain)."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

from vla_eval.policies.qwen_vla.policy import QwenVLAPolicy


class CountingQwenVLA(QwenVLAPolicy):
    """QwenVLAPolicy that appends each call's batch size and seconds to ``log`` (one JSON a line)."""

    def __init__(self, log: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self._log = Path(log)

    def infer_batch(self, observations):
        t0 = time.perf_counter()
        out = super().infer_batch(observations)
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        with open(self._log, "a") as f:
            f.write(json.dumps({"batch": len(observations), "s": time.perf_counter() - t0}) + "\n")
        return out


class GpuSampler:
    """Samples the GPU's utilisation (NVML, else nothing) every ``period`` seconds in a thread."""

    def __init__(self, period: float = 0.2) -> None:
        self.period, self.samples, self.why = period, [], ""
        self._stop = threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml, self._h = pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception as e:  # no NVML here (CPU dry run) or no GPU
            self._nvml, self.why = None, f"no NVML ({type(e).__name__})"
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self.samples.append(self._nvml.nvmlDeviceGetUtilizationRates(self._h).gpu)

    def __enter__(self) -> "GpuSampler":
        if self._nvml is not None:
            self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._nvml is not None:
            self._t.join(timeout=5)

    def summary(self) -> dict:
        if not self.samples:
            return {"gpu_util_mean": None, "gpu_util_note": self.why or "no samples"}
        s = sorted(self.samples)
        return {"gpu_util_mean": sum(s) / len(s), "gpu_util_p50": s[len(s) // 2], "gpu_util_samples": len(s)}


def run(dry: bool, workers: int | None = None, tasks: str | None = None, episodes: str | None = None) -> dict:
    from benchmarks._common import cost_bound, rows
    from benchmarks.qwen_vla_loader import save_phase
    from vla_eval.runner import RunConfig
    from vla_eval.runner import run as run_eval
    from vla_eval.suite import get_suite

    ok, why = get_suite("libero_spatial").availability()
    if not ok:  # before minutes of building and saving the model
        raise RuntimeError(f"libero_spatial cannot run here: {why}")
    workers = workers or (2 if dry else 12)
    tasks = tasks or ("0" if dry else "0:4")
    episodes = episodes or ("0:2" if dry else "0:6")
    work = Path(tempfile.mkdtemp(prefix="gpu-check-e2e-"))
    try:
        ckpt = work / "checkpoint"
        ckpt.mkdir()
        t0 = time.perf_counter()
        saved = save_phase(ckpt, tiny=dry, dtype_name="bfloat16", horizon=16, steps=10, device="cpu" if dry else "cuda")
        ckpt_s = time.perf_counter() - t0
        log = work / "calls.jsonl"
        device = "cpu" if dry else "cuda"
        cfg = RunConfig(
            suite="libero_spatial",
            policy="benchmarks.gpu_check.e2e:CountingQwenVLA",
            policy_args=(f"checkpoint={ckpt}", f"log={log}", f"device={device}", "dtype=bfloat16", "max_batch=64"),
            out=work / "run",
            tasks=tasks,
            episodes=episodes,
            max_steps=10 if dry else None,  # dry: a few steps; GPU: the protocol's 220
            workers=workers,
            gpus="none" if dry else "0",
            record_video="none",
        )
        t0 = time.perf_counter()
        with GpuSampler() as gpu:
            code = run_eval(cfg)
        wall = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f"the evaluation exited with {code}")
        ledger = rows(work / "run")
        calls = [json.loads(line) for line in log.read_text().splitlines()]
        cost = cost_bound(ledger, wall, workers)
        n = len(ledger)
        return {
            "workers": workers,
            "episodes": n,
            "errors": sum(r["status"] != "ok" for r in ledger),
            "steps": sum(r["steps"] for r in ledger),
            "wall_s": wall,
            "checkpoint_s": ckpt_s,
            "backbone_params": saved["backbone_params"],
            "dit_params": saved["dit_params"],
            "episodes_per_min": 60.0 * n / wall,
            "calls": len(calls),
            "mean_batch": sum(c["batch"] for c in calls) / len(calls),
            "inference_s": sum(c["s"] for c in calls),
            **gpu.summary(),
            "cost": cost,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
