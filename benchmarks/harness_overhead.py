"""Harness overhead on LIBERO: the same episodes stepped by a plain loop and through the harness.

    python benchmarks/harness_overhead.py [--episodes 3] [--steps 100] [--cameras]

The plain loop does exactly the env work of an episode (seed, reset, init state, 10 settle
steps, N steps of the idle action) in one process. The harness runs the same episodes with the
noop policy (one worker process, wire protocol, validation, ledger). With --cameras both render
agentview + wrist at 256x256 (the harness through a policy that asks for them), as a VLA would.
Target: the harness adds at most 1% to a step.
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
from benchmarks._common import machine, rows  # noqa: E402


class CameraNoop:
    """noop that asks for the protocol's two cameras (so the harness renders them)."""

    def __init__(self, action_space=None, horizon: int = 1) -> None:
        from vla_eval.policies.baselines import NoopPolicy

        self.inner = NoopPolicy(action_space=action_space, horizon=horizon)

    def metadata(self):
        import dataclasses

        return dataclasses.replace(self.inner.metadata(), name="noop_cameras", cameras=("agentview", "wrist"))

    def reset(self, env_ids=None):
        pass

    def infer_batch(self, obs):
        return self.inner.infer_batch(obs)


def plain_loop(episodes: int, steps: int, cameras: bool) -> tuple[float, float]:
    """Returns (total wall seconds, seconds spent in the policy-driven steps)."""
    from libero.libero import benchmark, get_libero_path
    from libero.libero.envs.env_wrapper import ControlEnv

    bench = benchmark.get_benchmark_dict()["libero_spatial"]()
    task = bench.get_task(0)
    init = bench.get_task_init_states(0)
    bddl = os.path.join(get_libero_path("bddl_files"), task.problem_folder, task.bddl_file)
    t0 = time.perf_counter()
    cams = ["agentview", "robot0_eye_in_hand"] if cameras else []
    env = ControlEnv(
        bddl_file_name=bddl,
        use_camera_obs=cameras,
        has_offscreen_renderer=cameras,
        camera_names=cams,
        camera_heights=256,
        camera_widths=256,
    )
    stepping = 0.0
    idle = [0.0] * 6 + [-1.0]
    for i in range(episodes):
        env.seed(7)
        env.reset()
        env.set_init_state(init[i])
        for _ in range(10):
            env.step(idle)
        ts = time.perf_counter()
        for _ in range(steps):
            obs, _, _, _ = env.step(idle)
            if cameras:  # what the harness does with each frame: rotate and hand it over
                _ = obs["agentview_image"][::-1, ::-1].copy(), obs["robot0_eye_in_hand_image"][::-1, ::-1].copy()
        stepping += time.perf_counter() - ts
    env.close()
    return time.perf_counter() - t0, stepping


def harness(episodes: int, steps: int, cameras: bool, replan: int) -> tuple[float, float, float]:
    """Returns (total wall seconds, worker start-up seconds, steady-state harness seconds per step).

    The first episode's harness time includes starting the worker process (imports); it is
    reported apart. The steady state is the harness time of the other episodes per step."""
    from vla_eval.runner import RunConfig, run

    out = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    policy = "benchmarks.harness_overhead:CameraNoop" if cameras else "noop"
    t0 = time.perf_counter()
    run(
        RunConfig(
            suite="libero_spatial",
            policy=policy,
            out=out / "run",
            tasks="0",
            episodes=f"0:{episodes}",
            max_steps=steps,
            replan_steps=replan,
            policy_args=(f"horizon={replan}",),
            record_video="none",
        )
    )
    wall = time.perf_counter() - t0
    r = sorted(rows(out / "run"), key=lambda x: x["episode_index"])
    shutil.rmtree(out)
    first, rest = r[0], r[1:]
    per_step = sum(x["timing"]["harness_s"] for x in rest) / max(1, sum(x["steps"] for x in rest))
    return wall, first["timing"]["harness_s"], per_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--cameras", action="store_true")
    ap.add_argument("--replan", type=int, default=5, help="actions per chunk (LIBERO protocol: 5)")
    a = ap.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    plain_wall, plain_steps = plain_loop(a.episodes, a.steps, a.cameras)
    h_wall, startup, per_step = harness(a.episodes, a.steps, a.cameras, a.replan)
    plain_per_step = plain_steps / (a.episodes * a.steps)
    print(f"machine: {machine()}")
    print(
        f"LIBERO libero_spatial task 0, {a.episodes} episodes x {a.steps} steps, "
        f"cameras={'2x256' if a.cameras else 'none'}, {a.replan} actions per chunk"
    )
    print(f"plain loop: {plain_wall:.2f} s wall, {1000 * plain_per_step:.2f} ms per step")
    print(
        f"harness:    {h_wall:.2f} s wall; worker start-up {startup:.2f} s once; "
        f"steady-state harness time {1000 * per_step:.3f} ms per step"
    )
    print(f"harness share of a step: {100 * per_step / plain_per_step:.2f}% (target <= 1%)")
    print(f"wall-time ratio harness/plain: {h_wall / plain_wall:.3f}")


if __name__ == "__main__":
    main()
