"""The privileged scripted LIBERO expert: pure helpers (fast) and an end-to-end golden run (sim).

The golden run goes through the real runner (worker processes, wire format, ledger, report)
on the official protocol of two suites. A scripted expert that solves them is end-to-end
evidence that init states, frames, the action scale, gripper polarity and the success rule
are all right: get any of them wrong and it fails.
"""

import math
import os

import numpy as np
import pytest

from tests.conftest import requires_libero
from vla_eval.policies.scripted import LiberoScriptedExpert
from vla_eval.policies.scripted.geometry import (
    box_footprint,
    gripper_collision,
    mat_to_rotvec,
    nearest_top_down,
    position_action,
    quat_xyzw_to_mat,
    rotation_action,
    top_down_frame,
)
from vla_eval.policies.scripted.libero_expert import parse_goal
from vla_eval.policy import load_policy
from vla_eval.types import Observation


def _rz(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# --- fast unit tests (no simulator) -------------------------------------------------------------
def test_quat_to_mat_matches_known_rotations():
    np.testing.assert_allclose(quat_xyzw_to_mat([0, 0, 0, 1]), np.eye(3), atol=1e-12)
    # 180 degrees about x: robosuite's top-down Panda gripper at rest.
    np.testing.assert_allclose(quat_xyzw_to_mat([1, 0, 0, 0]), np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    s = math.sin(0.3 / 2)
    np.testing.assert_allclose(quat_xyzw_to_mat([0, 0, s, math.cos(0.3 / 2)]), _rz(0.3), atol=1e-12)


def test_rotvec_roundtrip_and_near_pi():
    rng = np.random.default_rng(0)
    for _ in range(50):
        v = rng.normal(size=3)
        v *= rng.uniform(0.01, 3.1) / np.linalg.norm(v)
        q = np.r_[np.sin(np.linalg.norm(v) / 2) * v / np.linalg.norm(v), np.cos(np.linalg.norm(v) / 2)]
        np.testing.assert_allclose(mat_to_rotvec(quat_xyzw_to_mat(q)), v, atol=1e-6)
    r = mat_to_rotvec(np.diag([1.0, -1.0, -1.0]))  # exactly pi about x
    np.testing.assert_allclose(np.abs(r), [math.pi, 0, 0], atol=1e-6)
    assert np.allclose(mat_to_rotvec(np.eye(3)), 0)


def test_top_down_frame_points_down_and_closes_along_direction():
    r = top_down_frame([0.0, -1.0])
    np.testing.assert_allclose(r, np.diag([1.0, -1.0, -1.0]), atol=1e-12)  # robosuite's rest pose
    r = top_down_frame([1.0, 1.0])
    assert np.isclose(np.linalg.det(r), 1.0)
    np.testing.assert_allclose(r[:, 2], [0, 0, -1])
    np.testing.assert_allclose(r[:, 1], [2**-0.5, 2**-0.5, 0])
    # Either sign of the closing direction is the same grasp: the smaller wrist turn wins.
    rest = np.diag([1.0, -1.0, -1.0])
    np.testing.assert_allclose(nearest_top_down([0.0, 1.0], rest), rest, atol=1e-12)


def test_actions_point_at_the_target_and_stay_in_range():
    a = position_action([1.0, 0.0, 0.0], [0.0, 0.0, 0.0], gain=20.0)
    np.testing.assert_allclose(a, [1.0, 0.0, 0.0])  # clipped, direction kept
    a = position_action([0.01, -0.02, 0.0], [0.0, 0.0, 0.0], gain=20.0)
    np.testing.assert_allclose(a, [0.2, -0.4, 0.0])
    a = position_action([0.3, 0.6, 0.0], [0.0, 0.0, 0.0], gain=20.0)
    np.testing.assert_allclose(a, [0.5, 1.0, 0.0])
    cur = np.diag([1.0, -1.0, -1.0])
    w = rotation_action(_rz(0.2) @ cur, cur, gain=2.0)
    np.testing.assert_allclose(w, [0.0, 0.0, 0.4], atol=1e-9)  # world-frame z turn, unit 0.5 rad
    assert np.all(np.abs(rotation_action(_rz(3.0) @ cur, cur, gain=2.0)) <= 1.0)


def test_gripper_collision_model():
    # A can 0.08 m beside the eef along the closing axis, taller than the hand's underside.
    can = box_footprint([0.0, 0.08, 0.04], np.eye(3), [0.03, 0.03, 0.04])
    assert gripper_collision([0.0, 0.0, 0.02], [0.0, 1.0], [can]) > 0  # hand over the can
    assert gripper_collision([0.0, 0.0, 0.02], [1.0, 0.0], [can]) == 0  # turned 90 degrees: clear
    assert gripper_collision([0.0, 0.0, 0.2], [0.0, 1.0], [can]) == 0  # well above it
    # A rotated box's footprint is its own rectangle, not its (larger) AABB.
    tilted = box_footprint([0.0, 0.0, 0.0], _rz(math.pi / 4), [0.1, 0.01, 0.05])
    assert len(tilted[1]) == 2 and np.isclose(abs(tilted[1][0] @ np.array([1.0, 0.0])), 2**-0.5)


def test_parse_goal_is_case_insensitive():
    assert parse_goal([["In", "alphabet_soup_1", "basket_1_contain_region"]]) == (
        "in",
        "alphabet_soup_1",
        "basket_1_contain_region",
    )
    assert parse_goal([["on", "akita_black_bowl_1", "plate_1"]]) == ("on", "akita_black_bowl_1", "plate_1")
    assert parse_goal([["open", "drawer_1"]]) is None


def test_metadata_reset_and_idle_without_a_goal():
    policy = load_policy("scripted_libero")
    spec = policy.metadata()
    assert isinstance(policy, LiberoScriptedExpert)
    assert spec.privileged and spec.cameras == () and spec.needs_state
    assert spec.horizon == 1 and spec.replan_steps == 1 and spec.action_dim == 7
    obs = [
        Observation(
            images={},
            state=np.zeros(8, np.float32),
            instruction="x",
            env_id=i,
            episode_id=f"e{i}",
            extras={"goal": [], "objects": {}, "eef_pos": np.zeros(3), "eef_quat": np.array([1.0, 0, 0, 0])},
        )
        for i in range(3)
    ]
    out = policy.infer_batch(obs)
    assert out.shape == (3, 1, 7) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], [[0, 0, 0, 0, 0, 0, -1]] * 3)  # idle: gripper open
    assert set(policy.states) == {0, 1, 2}
    policy.reset([1])
    assert set(policy.states) == {0, 2}
    policy.reset()
    assert policy.states == {}


# --- golden end-to-end run through the harness (real simulator) -------------------------------
@requires_libero
@pytest.mark.sim
def test_scripted_expert_solves_libero_through_the_harness(tmp_path):
    from vla_eval.report import aggregate
    from vla_eval.runner import RunConfig, run
    from vla_eval.runs import load_run

    if "MUJOCO_GL" not in os.environ:
        from vla_eval.suites.libero.suite import choose_gl_backend

        backend = choose_gl_backend()
        os.environ["MUJOCO_GL"] = os.environ["PYOPENGL_PLATFORM"] = backend
    total_k = total_n = 0
    # 2 tasks of 2 suites, 2 episodes each (8 episodes): ~1-3 s of simulation per episode.
    for suite, tasks in (("libero_object", "0,1"), ("libero_spatial", "0,4")):
        out = tmp_path / suite
        cfg = RunConfig(suite=suite, policy="scripted_libero", out=out, tasks=tasks, episodes="0:2", workers=2)
        assert run(cfg) == 0
        rows = load_run(out)
        assert len(rows) == 4
        assert all(r.ok for r in rows), [r.error for r in rows]
        overall = aggregate(rows).row(suite)
        total_k += int(overall.successes)
        total_n += int(overall.n)
        # Official step limits (no --max-steps override), and a success ends the episode early.
        assert all(r.success == (r.steps < r.max_steps) for r in rows if r.max_steps is not None)
    # The expert solves these ~100% of the time; allow one unlucky episode.
    assert total_k >= total_n - 1, f"scripted expert solved only {total_k}/{total_n}"
