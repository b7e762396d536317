"""Part (b): LIBERO steps/s per worker with the two 256x256 cameras (agentview, wrist), N
workers stepping at once. Each worker is a process holding the harness's own env worker
(``vla_eval.worker.WorkerCore``, the LIBERO driver unchanged), fed one idle action per step
message; steps are counted from the moment every worker has built its env and reset it."""

from __future__ import annotations

import multiprocessing as mp
import os
import time

SUITE = "libero_spatial"
IDLE = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]


def _worker(index: int, env: dict, seconds: float, ready, go, results) -> None:
    os.environ.update(env)
    import numpy as np

    from vla_eval import wire
    from vla_eval.suite import get_suite
    from vla_eval.types import PolicySpec
    from vla_eval.worker import WorkerCore

    suite = get_suite(SUITE)
    spec = suite.plan(str(index % 10), "0", None)[0]
    pspec = PolicySpec(name="gpu_check", action_dim=7, cameras=("agentview", "wrist"))
    core = WorkerCore(suite)
    t0 = time.perf_counter()
    start = {"op": "start", "spec": spec.to_dict(), "policy": wire.policy_spec_to_dict(pspec)}
    reply = core.handle(start)
    if not reply.get("ok"):
        results.put({"worker": index, "error": reply.get("error")})
        ready.wait()
        return
    build_s = time.perf_counter() - t0
    shape = {k: list(np.asarray(v).shape) for k, v in reply["obs"]["images"].items()}
    ready.wait()  # every worker has its env: start stepping together
    go.wait()
    steps, t0 = 0, time.perf_counter()
    action = np.asarray([IDLE], dtype=np.float32)
    while time.perf_counter() - t0 < seconds:
        r = core.handle({"op": "step", "actions": action})
        if not r.get("ok"):
            results.put({"worker": index, "error": r.get("error")})
            return
        steps += 1
        if r.get("done") or steps % 600 == 0:
            core.handle(start)
    elapsed = time.perf_counter() - t0
    core.close()
    results.put({"worker": index, "steps": steps, "seconds": elapsed, "build_s": build_s, "images": shape})


def measure(workers: int, seconds: float, env: dict) -> dict:
    ctx = mp.get_context("spawn")
    ready, go, results = ctx.Barrier(workers + 1), ctx.Barrier(workers + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(i, env, seconds, ready, go, results), daemon=True) for i in range(workers)
    ]
    for p in procs:
        p.start()
    ready.wait(timeout=300)
    go.wait(timeout=60)
    rows = [results.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    errors = [r for r in rows if "error" in r]
    if errors:
        raise RuntimeError(f"LIBERO worker {errors[0]['worker']} failed: {errors[0]['error']}")
    per = [r["steps"] / r["seconds"] for r in rows]
    return {
        "workers": workers,
        "steps_per_s_per_worker": sum(per) / len(per),
        "steps_per_s_min": min(per),
        "steps_per_s_total": sum(per),
        "env_build_s_mean": sum(r["build_s"] for r in rows) / len(rows),
        "images": rows[0]["images"],
    }


def run(dry: bool) -> dict:
    from vla_eval.suite import get_suite

    if not dry:
        os.environ.setdefault("MUJOCO_GL", "egl")  # the GPU's EGL; an error if it does not render
    env = dict(get_suite(SUITE).prepare())  # GL backend that renders here (probed in a subprocess)
    if not dry:
        env["MUJOCO_EGL_DEVICE_ID"] = os.environ.get("MUJOCO_EGL_DEVICE_ID", "0")
    counts = (1, 2) if dry else (1, 8)
    seconds = 3.0 if dry else 15.0
    return {"gl": env.get("MUJOCO_GL"), "runs": [measure(n, seconds, env) for n in counts]}
