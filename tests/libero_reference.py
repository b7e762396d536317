"""An independent implementation of the reference LIBERO evaluation loop, for conformance tests.

Written from openpi ``examples/libero/main.py`` (``eval_libero`` and ``_get_libero_env``), using
only LIBERO itself: it imports nothing from the harness's LIBERO driver. Per task the reference
builds ``OffScreenRenderEnv(bddl_file_name, camera_heights=256, camera_widths=256)``, calls
``env.seed(7)`` and then, for episode i = 0, 1, ... in order in that one env: ``env.reset()``,
``obs = env.set_init_state(initial_states[i])``, 10 steps of ``[0]*6 + [-1]``, and then asks the
policy with ``obs["agentview_image"][::-1, ::-1]``, ``obs["robot0_eye_in_hand_image"][::-1, ::-1]``
and the state ``concat(robot0_eef_pos, quat2axisangle(robot0_eef_quat), robot0_gripper_qpos)``.

Also a policy that records the first observation of every episode it sees, to compare the
harness's first observations with the reference's.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from vla_eval.types import Observation, PolicySpec

DUMMY_ACTION = [0.0] * 6 + [-1.0]
RESOLUTION = 256
WAIT_STEPS = 10


def _quat2axisangle(quat: np.ndarray) -> np.ndarray:
    # As in the reference client (robosuite's transform_utils.quat2axisangle).
    quat = np.array(quat, dtype=np.float64)
    quat[3] = min(1.0, max(-1.0, quat[3]))
    den = np.sqrt(1.0 - quat[3] * quat[3])
    if math.isclose(den, 0.0):
        return np.zeros(3)
    return (quat[:3] * 2.0 * math.acos(quat[3])) / den


def reference_first_observations(
    suite: str,
    task_id: int,
    episodes: set[int],
    seed: int = 7,
    policy_steps: int = 20,
    global_seed: int | None = None,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Run the reference loop for one task over episodes 0..max(episodes) in order.

    ``seed`` is the env's (``env.seed``), ``global_seed`` what the loop seeds numpy with first
    (default: ``seed``). openpi seeds both with 7; OpenVLA / OpenVLA-OFT's ``run_libero_eval.py``
    calls ``set_seed_everywhere(7)`` and then ``env.seed(0)`` in ``get_libero_env``.

    Yields (episode index, first observation the policy sees) for the requested episodes: the
    two 256x256 images rotated 180 degrees and the 8-D float64 state. Between episodes it takes
    ``policy_steps`` random actions (standing in for the policy's, which draw no random numbers
    from the global generator; the loop's scene sequence must not depend on them).
    """
    from libero.libero import benchmark, get_libero_path
    from libero.libero.envs import OffScreenRenderEnv

    np.random.seed(seed if global_seed is None else global_seed)
    task_suite = benchmark.get_benchmark_dict()[suite]()
    task = task_suite.get_task(task_id)
    initial_states = task_suite.get_task_init_states(task_id)
    bddl = Path(get_libero_path("bddl_files")) / task.problem_folder / task.bddl_file
    env = OffScreenRenderEnv(bddl_file_name=bddl, camera_heights=RESOLUTION, camera_widths=RESOLUTION)
    env.seed(seed)
    actions = np.random.RandomState(1234)  # its own generator: the global one is the env's
    try:
        for episode_idx in range(max(episodes) + 1):
            env.reset()
            obs = env.set_init_state(initial_states[episode_idx])
            if episode_idx not in episodes:
                continue
            for _ in range(WAIT_STEPS):
                obs, _, _, _ = env.step(DUMMY_ACTION)
            yield (
                episode_idx,
                {
                    "agentview": np.ascontiguousarray(obs["agentview_image"][::-1, ::-1]),
                    "wrist": np.ascontiguousarray(obs["robot0_eye_in_hand_image"][::-1, ::-1]),
                    "state": np.concatenate(
                        (obs["robot0_eef_pos"], _quat2axisangle(obs["robot0_eef_quat"]), obs["robot0_gripper_qpos"])
                    ),
                },
            )
            for _ in range(policy_steps):
                env.step(list(actions.uniform(-1, 1, 7)))
    finally:
        env.close()


class FirstObservationRecorder:
    """Saves the first observation of each episode to ``out/<episode_id>.npz``; acts with the idle action."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="first_obs_recorder", action_dim=7, horizon=1, cameras=("agentview", "wrist"))

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations: list[Observation]) -> np.ndarray:
        for obs in observations:
            if obs.step == 0:
                path = self.out / f"{obs.episode_id}.npz"
                tmp = path.with_suffix(".tmp.npz")
                np.savez(tmp, agentview=obs.images["agentview"], wrist=obs.images["wrist"], state=obs.state)
                os.replace(tmp, path)
        out = np.zeros((len(observations), 1, 7), dtype=np.float32)
        out[..., 6] = -1.0
        return out


def compare(reference: dict[str, np.ndarray], harness: dict[str, np.ndarray]) -> list[str]:
    """What differs between a reference and a harness first observation ([] when equal bit for bit).

    The state is compared as the float32 the harness hands to policies.
    """
    problems = []
    for cam in ("agentview", "wrist"):
        a, b = reference[cam], harness[cam]
        if a.shape != b.shape or not np.array_equal(a, b):
            diff = np.abs(a.astype(int) - b.astype(int))
            problems.append(f"{cam}: {int((diff > 0).sum())} values differ, max {int(diff.max())}")
    ref_state = reference["state"].astype(np.float32)
    if not np.array_equal(ref_state, harness["state"]):
        problems.append(f"state: max diff {float(np.abs(ref_state - harness['state']).max()):.3g}")
    return problems
