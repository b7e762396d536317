"""Fast checks of the RoboTwin 2.0 suites: protocol parameters (protocols.md §4, upstream
task_config files), expert-checked seed planning, instruction sampling, observation conversion,
eval args, and the driver's control flow against a fake RoboTwin checkout (no simulator)."""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tomllib

from tests.fake_robotwin import FAKE_TASK, make_fake_root, write_packages
from vla_eval.suite import TaskSpec, get_suite
from vla_eval.suites.robotwin import common

__all__ = ["FAKE_TASK", "fake_packages", "make_fake_root"]  # shared with test_domino

ROOT = Path(__file__).resolve().parents[1]

# protocols.md §4: the 50 RoboTwin 2.0 tasks.
TASKS_50 = """adjust_bottle beat_block_hammer blocks_ranking_rgb blocks_ranking_size click_alarmclock click_bell
dump_bin_bigbin grab_roller handover_block handover_mic hanging_mug lift_pot move_can_pot move_pillbottle_pad
move_playingcard_away move_stapler_pad open_laptop open_microwave pick_diverse_bottles pick_dual_bottles
place_a2b_left place_a2b_right place_bread_basket place_bread_skillet place_burger_fries place_can_basket
place_cans_plasticbox place_container_plate place_dual_shoes place_empty_cup place_fan place_mouse_pad
place_object_basket place_object_scale place_object_stand place_phone_stand place_shoe press_stapler
put_bottles_dustbin put_object_cabinet rotate_qrcode scan_object shake_bottle_horizontally shake_bottle
stack_blocks_three stack_blocks_two stack_bowls_three stack_bowls_two stamp_seal turn_switch""".split()
# RoboTwin stable_2.0 task_config/_eval_step_limit.yml (a sample).
STEP_LIM = {
    "adjust_bottle": 400,
    "blocks_ranking_rgb": 1200,
    "open_microwave": 1500,
    "put_bottles_dustbin": 1700,
    "hanging_mug": 900,
    "place_dual_shoes": 600,
    "stack_bowls_two": 900,
    "handover_block": 800,
}


@pytest.mark.parametrize("suite,config", [("robotwin_easy", "demo_clean"), ("robotwin_hard", "demo_randomized")])
def test_protocol_matches_protocols_md(suite, config):
    s = get_suite(suite)
    p = s.protocol
    assert s.verified is False
    assert sorted(t.name for t in p.tasks) == sorted(TASKS_50) and len(p.tasks) == 50
    assert all(t.episodes == 100 for t in p.tasks)
    steps = {t.name: t.max_steps for t in p.tasks}
    for k, v in STEP_LIM.items():
        assert steps[k] == v
    assert p.extra["task_config"] == config
    assert p.seed == 0 and common.start_seed(p.seed) == 100000 and common.start_seed(1) == 200000
    assert p.embodiment == "aloha-agilex"
    assert p.cameras == ("head_camera", "left_camera", "right_camera") and p.image_size == (240, 320)
    assert p.extra["camera_type"] == "D435" and p.extra["instruction_type"] == "unseen"
    assert p.action_dim == 14 and p.replan_steps == 50
    assert p.extra["aggregation"] == "task_mean"


def test_env_toml():
    d = tomllib.loads((ROOT / "suites" / "robotwin" / "env.toml").read_text())
    # the torch cuRobo and pytorch3d are compiled against (RoboTwin's requirements.txt), h5py
    # (envs/utils imports it), the hub client of the asset download; cuRobo by the setup script
    for req in ("torch==2.4.1", "sapien==3.0.0b1", "mplib==0.2.1", "h5py==3.11.0", "huggingface_hub==0.25.0"):
        assert req in d["requirements"], req
    assert d["setup"] == "setup_env.sh" and (ROOT / "suites" / "robotwin" / "setup_env.sh").exists()
    script = (ROOT / "suites" / "robotwin" / "setup_upstream.sh").read_text()
    assert "curobo.git" in script and "v0.7.8" in script and "_download_assets.sh" in script


def test_expert_seeds_are_the_first_solvable_seeds_and_cached(tmp_path):
    calls = []

    def check(s):
        calls.append(s)
        return s % 3 == 0  # 100002, 100005, ... are solvable

    seeds = common.ExpertSeeds(tmp_path / "t.json", 100000, meta={"cfg": "demo_clean"})
    assert seeds.seed_for(0, check) == 100002
    assert seeds.seed_for(2, check) == 100008
    n = len(calls)
    assert seeds.seed_for(1, check) == 100005 and len(calls) == n  # cached: no expert run
    # Another worker (another object on the same file) agrees without re-checking.
    other = common.ExpertSeeds(tmp_path / "t.json", 100000, meta={"cfg": "demo_clean"})
    assert other.seed_for(2, lambda s: pytest.fail("re-checked")) == 100008
    assert other.known() == [100002, 100005, 100008]
    assert calls == list(range(100000, 100009))  # every candidate once, in increasing order
    # Another setting does not reuse the list.
    fresh = common.ExpertSeeds(tmp_path / "t.json", 100000, meta={"cfg": "demo_randomized"})
    assert fresh.seed_for(0, lambda s: True) == 100000


def _fake_describe(task, episodes, n):
    import random

    templates = [f"{task} {i} {{A}}" for i in range(5)]
    random.shuffle(templates)
    out = [t.replace("{A}", episodes[0]["{A}"]) for t in templates][:n]
    return [{"seen": out, "unseen": [s.upper() for s in out]}]


def test_instruction_sampling_is_upstream_draw_and_repeatable():
    np.random.seed(100007)  # what setup_demo does with the episode seed
    a = common.sample_instruction(_fake_describe, "lift_pot", {"{A}": "pot"}, "unseen", 100007)
    np.random.seed(100007)
    b = common.sample_instruction(_fake_describe, "lift_pot", {"{A}": "pot"}, "unseen", 100007)
    assert a == b and a.isupper() and "POT" in a
    # the draw is numpy's np.random.choice over the generated list, after random is seeded
    import random

    random.seed(100007)
    choices = _fake_describe("lift_pot", [{"{A}": "pot"}], 100)[0]["unseen"]
    np.random.seed(100007)
    assert a == str(np.random.choice(choices))
    with pytest.raises(RuntimeError):
        common.sample_instruction(lambda *a: [{"seen": [], "unseen": []}], "t", {}, "unseen", 1)


def test_convert_observation():
    raw = {
        "observation": {c: {"rgb": np.full((240, 320, 3), i, np.uint8)} for i, c in enumerate(common.CAMERAS)},
        "joint_action": {"vector": np.arange(14, dtype=np.float64)},
        "endpose": {"left_endpose": [0.1] * 7, "left_gripper": 0.5},
    }
    images, state, extras = common.convert_observation(raw, ("head_camera", "right_camera"))
    assert set(images) == {"head_camera", "right_camera"} and images["right_camera"][0, 0, 0] == 2
    assert images["head_camera"].dtype == np.uint8 and images["head_camera"].shape == (240, 320, 3)
    assert state.dtype == np.float32 and state.tolist() == list(range(14))
    assert extras["left_gripper"] == 0.5
    with pytest.raises(KeyError):
        common.convert_observation(raw, ("front_camera",))


def _embodiment(n=6):
    return {"arm_joints_name": [[f"l{i}" for i in range(n)], [f"r{i}" for i in range(n)]]}


def test_build_eval_args():
    cfg = {
        "embodiment": ["aloha-agilex"],
        "camera": {"head_camera_type": "D435"},
        "data_type": {"rgb": True, "qpos": True},
        "eval_video_log": True,
        "render_freq": 0,
        "clear_cache_freq": 5,
        "domain_randomization": {},
    }
    args = common.build_eval_args(
        cfg,
        {"D435": {"w": 320, "h": 240}},
        {"aloha-agilex": {"file_path": "./assets/embodiments/aloha-agilex/"}},
        lambda f: _embodiment(),
        "lift_pot",
        "demo_clean",
        want_rgb=True,
    )
    assert (args["head_camera_h"], args["head_camera_w"]) == (240, 320)
    assert args["left_robot_file"] == args["right_robot_file"] and args["dual_arm_embodied"] is True
    assert args["eval_mode"] is True and args["eval_video_log"] is False and args["task_name"] == "lift_pot"
    assert common.arm_dims(args) == (6, 6)
    cfg3 = dict(cfg, embodiment=["piper", "ur5-wsg", 0.6])
    args3 = common.build_eval_args(
        cfg3,
        {"D435": {"w": 320, "h": 240}},
        {"piper": {"file_path": "p"}, "ur5-wsg": {"file_path": "u"}},
        lambda f: _embodiment(6),
        "lift_pot",
        "demo_clean",
        want_rgb=False,
    )
    assert args3["dual_arm_embodied"] is False and args3["embodiment_dis"] == 0.6 and args3["data_type"]["rgb"] is False
    assert cfg["eval_video_log"] is True  # the input is not modified


# --------------------------------------------------------------------------------------------
# A fake RoboTwin checkout (tests/fake_robotwin.py): upstream's import structure, scripted tasks.
# --------------------------------------------------------------------------------------------
UPSTREAM_MODULES = ("envs", "generate_episode_instructions", "eval_metrics")


@contextlib.contextmanager
def fake_packages(folder: Path, omit=()):
    """The fake third-party packages on sys.path (first); every module loaded from them or from a
    fake checkout is forgotten afterwards."""
    write_packages(folder, omit=omit)
    saved_path = list(sys.path)
    sys.path.insert(0, str(folder))
    try:
        yield folder
    finally:
        sys.path[:] = saved_path
        for m, mod in list(sys.modules.items()):
            f = str(getattr(mod, "__file__", None) or "")
            if m.split(".")[0] in UPSTREAM_MODULES or f.startswith(str(folder)):
                del sys.modules[m]
        importlib.invalidate_caches()


@pytest.fixture
def fake_robotwin(tmp_path, monkeypatch):
    root = make_fake_root(tmp_path)
    monkeypatch.setenv("ROBOTWIN_ROOT", str(root))
    monkeypatch.setenv("VLA_EVAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with fake_packages(tmp_path / "site"):
        yield root


def test_driver_against_fake_robotwin(fake_robotwin):
    from vla_eval.suites.robotwin.driver import RoboTwinEnv

    suite = get_suite("robotwin_easy")
    proto = replace(suite.protocol, tasks=(TaskSpec("fake_task", "fake task", 3, 7),))
    specs = [replace(s, task="fake_task") for s in suite.plan(tasks="0", episodes="0:2")]
    env = RoboTwinEnv(proto, 0, cameras=("head_camera",))
    obs = env.reset(specs[0])
    # 100000 is unstable, 100001 the expert fails: episode 0 runs on 100002.
    assert env.env_seed == 100002
    assert obs.images["head_camera"].shape == (240, 320, 3) and obs.state.shape == (14,)
    assert obs.instruction.endswith("!") and "red block" in obs.instruction  # an "unseen" description
    assert env.args["eval_mode"] is True and env.args["render_freq"] == 0
    first_instruction = obs.instruction
    a = np.zeros(14, np.float32)
    obs, done, info = env.step(a)
    assert not done
    a[0] = 1.0
    obs, done, info = env.step(a)
    assert done and env.result()["success"] is True and env.result()["actions_taken"] == 2
    obs = env.reset(specs[1])
    assert env.env_seed == 100003
    assert env.result()["success"] is False
    env.close()
    cached = json.loads(env.seeds.path.read_text())
    assert cached["checked"] == {"100000": False, "100001": False, "100002": True, "100003": True}
    # The same episode in a fresh env gets the same seed and the same instruction.
    env2 = RoboTwinEnv(proto, 0, cameras=("head_camera",))
    assert env2.reset(specs[0]).instruction == first_instruction and env2.env_seed == 100002
    env2.close()


def test_suite_availability_without_checkout(monkeypatch):
    monkeypatch.delenv("ROBOTWIN_ROOT", raising=False)
    ok, why = get_suite("robotwin_easy").availability()
    assert not ok and "ROBOTWIN_ROOT" in why
