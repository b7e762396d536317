"""RoboCasa GR1 tabletop (robocasa_gr1): protocol, conversions and the rollout path, with fake envs.

Nothing here imports robocasa at collection; the one simulator test is marked ``sim`` and skips
when robocasa is not installed (it is not on PyPI; see suites/robocasa/env.toml).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tomllib

from vla_eval.executors.local import InProcessSlot
from vla_eval.executors.replicas import InProcessPolicy
from vla_eval.rollout import LoopConfig, run_episodes
from vla_eval.suite import get_suite
from vla_eval.suites.robocasa import driver
from vla_eval.suites.robocasa.suite import RobocasaSuite
from vla_eval.types import PolicySpec
from vla_eval.worker import WorkerCore

ROOT = Path(__file__).resolve().parents[1]
SUITE_DIR = ROOT / "suites" / "robocasa"

# protocols.md section 3 (NVIDIA/Isaac-GR00T examples/robocasa-gr1-tabletop-tasks/README.md;
# starVLA batch_eval_args.sh ENV_NAMES): the 24 env ids.
TASKS = [
    "PnPBottleToCabinetClose",
    "PnPCanToDrawerClose",
    "PnPCupToDrawerClose",
    "PnPMilkToMicrowaveClose",
    "PnPPotatoToMicrowaveClose",
    "PnPWineToCabinetClose",
    *(
        f"PosttrainPnPNovelFrom{x}SplitA"
        for x in (
            "CuttingboardToBasket",
            "CuttingboardToCardboardbox",
            "CuttingboardToPan",
            "CuttingboardToPot",
            "CuttingboardToTieredbasket",
            "PlacematToBasket",
            "PlacematToBowl",
            "PlacematToPlate",
            "PlacematToTieredshelf",
            "PlateToBowl",
            "PlateToCardboardbox",
            "PlateToPan",
            "PlateToPlate",
            "TrayToCardboardbox",
            "TrayToPlate",
            "TrayToPot",
            "TrayToTieredbasket",
            "TrayToTieredshelf",
        )
    ),
]


def robocasa_importable() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("robocasa", "robosuite", "mujoco", "gymnasium"))


# --------------------------------------------------------------------------------------------
# protocol
# --------------------------------------------------------------------------------------------
def test_protocol_parameters_match_protocols_md():
    s = get_suite("robocasa_gr1")
    p = s.protocol
    assert [t.name for t in p.tasks] == TASKS
    assert {t.episodes for t in p.tasks} == {50} and p.n_episodes == 1200
    assert {t.max_steps for t in p.tasks} == {720}
    assert p.replan_steps == 12
    assert p.image_size == (256, 256) and p.cameras == ("ego_view", "ego_view_pad")
    assert p.extra["camera_keys"]["ego_view"] == "video.ego_view_bg_crop_pad_res256_freq20"
    assert p.extra["control_freq"] == 20
    assert list(p.extra["state_groups"]) == ["left_arm", "right_arm", "left_hand", "right_hand", "waist"]
    assert list(p.extra["state_group_dims"]) == [7, 7, 6, 6, 3] and p.action_dim == 29
    assert len(p.action_low) == len(p.action_high) == len(p.idle_action) == 29
    assert p.extra["aggregation"] == "task_mean"
    assert driver.env_id(p, p.tasks[0].name) == "gr1_unified/PnPBottleToCabinetClose_GR1ArmsAndWaistFourierHands_Env"
    assert p.seed == 7
    assert RobocasaSuite.verified is False and driver.RobocasaEnv.verified is False


def test_plan_is_the_core_plan():
    specs = get_suite("robocasa_gr1").plan()
    assert len(specs) == 1200 and len({s.episode_id for s in specs}) == 1200
    assert all(s.max_steps == 720 for s in specs)


def test_availability_without_robocasa_says_so_and_imports_nothing():
    code = (
        "import sys; from vla_eval.suite import get_suite; s = get_suite('robocasa_gr1'); ok, why = s.availability();"
        "import vla_eval.suites.robocasa.driver;"
        "assert 'robocasa' not in sys.modules and 'robosuite' not in sys.modules and 'gymnasium' not in sys.modules;"
        "print(ok, why)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "not yet run against the simulator" in out
    if not robocasa_importable():
        assert out.startswith("False") and "env.toml" in out


def test_env_toml():
    doc = tomllib.loads((SUITE_DIR / "env.toml").read_text())
    assert all(isinstance(r, str) for r in doc["requirements"])
    assert "robosuite==1.5.1" in doc["requirements"] and "mujoco==3.2.6" in doc["requirements"]
    assert not [r for r in doc["requirements"] if r.startswith("torch") and r != "torch==2.13.0"]
    setup = SUITE_DIR / doc["setup"]
    text = setup.read_text()
    assert "robocasa-gr1-tabletop-tasks" in text and "4840e671596f93ca03651524b9f72ffb1aadfeff" in text
    assert "download_tabletop_assets.py -y" in text
    assert subprocess.run(["bash", "-n", str(setup)]).returncode == 0
    assert doc["conda"] == [] and "download_tabletop_assets" in doc["notes"]


# --------------------------------------------------------------------------------------------
# conversions
# --------------------------------------------------------------------------------------------
def _layout():
    return driver.state_layout(get_suite("robocasa_gr1").protocol)


def test_state_and_action_layout_fixed_order():
    lay = _layout()
    assert lay == [
        ("left_arm", 0, 7),
        ("right_arm", 7, 14),
        ("left_hand", 14, 20),
        ("right_hand", 20, 26),
        ("waist", 26, 29),
    ]
    obs = {f"state.{g}": np.full(b - a, i, dtype=np.float64) for i, (g, a, b) in enumerate(lay)}
    v = driver.state_vector(obs, lay)
    assert v.dtype == np.float32 and v.shape == (29,)
    assert v.tolist() == [0.0] * 7 + [1.0] * 7 + [2.0] * 6 + [3.0] * 6 + [4.0] * 3
    # the state as the multistep wrapper stacks it ([1, n]) flattens the same way
    assert np.array_equal(driver.state_vector({k: x[None] for k, x in obs.items()}, lay), v)

    a = np.arange(29, dtype=np.float32)
    d = driver.action_dict(a, lay)
    assert list(d) == ["action.left_arm", "action.right_arm", "action.left_hand", "action.right_hand", "action.waist"]
    assert d["action.left_arm"].tolist() == list(range(0, 7))
    assert d["action.right_arm"].tolist() == list(range(7, 14))
    assert d["action.left_hand"].tolist() == list(range(14, 20))
    assert d["action.right_hand"].tolist() == list(range(20, 26))
    assert d["action.waist"].tolist() == [26, 27, 28]
    assert all(x.dtype == np.float64 for x in d.values())
    # round trip: the state layout is the action layout
    back = driver.state_vector({k.replace("action.", "state."): x for k, x in d.items()}, lay)
    assert np.array_equal(back, a)


def test_conversions_refuse_wrong_sizes():
    lay = _layout()
    obs = {f"state.{g}": np.zeros(b - a) for g, a, b in lay}
    obs["state.waist"] = np.zeros(4)
    with pytest.raises(ValueError, match="state.waist"):
        driver.state_vector(obs, lay)
    del obs["state.waist"]
    with pytest.raises(KeyError, match="state.waist"):
        driver.state_vector(obs, lay)
    with pytest.raises(ValueError, match="28"):
        driver.action_dict(np.zeros(28), lay)


# --------------------------------------------------------------------------------------------
# a fake gr1_unified gym env (the GrootRoboCasaEnv interface)
# --------------------------------------------------------------------------------------------
OBJECTS = {name: f"object{i}" for i, name in enumerate(TASKS)}


class FakeGym:
    """Mimics GrootRoboCasaEnv under gym.make: dict observations, an instruction per episode drawn
    from the robosuite env's rng, info["success"] after ``success_at`` steps (None: never)."""

    instances: list["FakeGym"] = []
    success_at: int | None = 5
    success_only_at: int | None = None  # success at exactly this step, not after

    def __init__(self, env_name: str, enable_render: bool) -> None:
        self.env_name = env_name
        self.enable_render = enable_render
        self.env = SimpleNamespace(rng=None)  # the robosuite env
        self.unwrapped = self
        self.actions: list[dict] = []
        self.reset_seeds: list[int | None] = []
        self.closed = False
        self.t = 0
        self.lang = ""
        type(self).instances.append(self)

    @property
    def task(self) -> str:
        return self.env_name.split("/")[1].split("_GR1")[0]

    def _obs(self) -> dict:
        base = float(self.t)
        img = np.full((256, 256, 3), self.t % 256, dtype=np.uint8)
        obs = {
            "state.left_arm": np.full(7, base, np.float32),
            "state.right_arm": np.full(7, base + 0.1, np.float32),
            "state.left_hand": np.full(6, base + 0.2, np.float32),
            "state.right_hand": np.full(6, base + 0.3, np.float32),
            "state.waist": np.full(3, base + 0.4, np.float32),
            "video.ego_view_pad_res256_freq20": img,
            "video.ego_view_bg_crop_pad_res256_freq20": img + 1,
            "annotation.human.coarse_action": f"unlocked_waist: {self.lang}",
        }
        return obs

    def reset(self, seed=None, options=None):
        assert self.env.rng is not None, "the driver must seed the robosuite rng before reset"
        self.reset_seeds.append(seed)
        self.t = 0
        variant = int(self.env.rng.integers(0, 1000))
        self.lang = f"pick up the {OBJECTS[self.task]} v{variant}, place it into the drawer and close the drawer"
        return self._obs(), {"success": False}

    def step(self, action):
        assert sorted(action) == sorted(
            ["action.left_arm", "action.right_arm", "action.left_hand", "action.right_hand", "action.waist"]
        )
        self.actions.append(action)
        self.t += 1
        if self.success_only_at is not None:
            success = self.t == self.success_only_at
        else:
            success = self.success_at is not None and self.t >= self.success_at
        return self._obs(), float(success), False, False, {"success": success}

    def close(self):
        self.closed = True


@pytest.fixture(autouse=True)
def _fresh_fake():
    FakeGym.instances = []
    FakeGym.success_at = 5
    FakeGym.success_only_at = None
    yield


class FakeRobocasaSuite(RobocasaSuite):
    def make_env(self, spec, policy):
        return driver.RobocasaEnv(self.protocol, spec.task_index, cameras=policy.cameras, make_gym=FakeGym)


def _spec(suite, task, episode):
    return [s for s in suite.plan(str(task), str(episode))][0]


def test_env_reset_step_and_success_or():
    s = FakeRobocasaSuite("robocasa_gr1")
    env = driver.RobocasaEnv(s.protocol, 2, cameras=("ego_view",), make_gym=FakeGym)
    fake = FakeGym.instances[-1]
    assert fake.env_name == "gr1_unified/PnPCupToDrawerClose_GR1ArmsAndWaistFourierHands_Env"
    assert fake.enable_render is True
    spec = _spec(s, 2, 3)
    obs = env.reset(spec)
    assert fake.reset_seeds == [7 * 1000 + 3] == [driver.episode_seed(spec)]
    assert obs.instruction.startswith("unlocked_waist: pick up the object2")
    assert obs.extras["language"] == obs.instruction[len("unlocked_waist: ") :]
    assert set(obs.images) == {"ego_view"} and obs.images["ego_view"].shape == (256, 256, 3)
    assert obs.images["ego_view"][0, 0, 0] == 1  # the bg-crop view, not the padded one
    assert obs.state.shape == (29,) and obs.state.dtype == np.float32
    assert obs.embodiment == "gr1_arms_waist_fourier_hands" and obs.episode_id == spec.episode_id
    for t in range(1, 5):
        o, done, info = env.step(np.full(29, t, np.float32))
        assert not done and info == {"success": False} and o.step == t
    np.testing.assert_array_equal(fake.actions[0]["action.waist"], [1.0, 1.0, 1.0])
    o, done, info = env.step(np.zeros(29, np.float32))
    assert done and info["success"]
    r = env.result()
    assert r["success"] is True and r["first_success_step"] == 5 and r["instruction"] == obs.instruction
    env.close()
    assert fake.closed


def test_success_at_any_step_is_kept():
    """A success that holds for one step only still counts (OR over the episode)."""
    FakeGym.success_at = None
    FakeGym.success_only_at = 3
    s = FakeRobocasaSuite("robocasa_gr1")
    env = driver.RobocasaEnv(s.protocol, 0, make_gym=FakeGym)
    assert FakeGym.instances[-1].enable_render is False  # no camera asked: nothing rendered
    env.reset(_spec(s, 0, 0))
    dones = [env.step(np.zeros(29))[1] for _ in range(3)]
    assert dones == [False, False, True]
    assert env.result()["success"] is True


def test_no_success_runs_to_the_step_limit():
    FakeGym.success_at = None
    s = FakeRobocasaSuite("robocasa_gr1")
    env = driver.RobocasaEnv(s.protocol, 0, make_gym=FakeGym)
    env.reset(_spec(s, 0, 0))
    assert not any(env.step(np.zeros(29))[1] for _ in range(30))
    assert env.result()["success"] is False and env.result()["first_success_step"] is None


def test_seeding_pins_the_episode():
    s = FakeRobocasaSuite("robocasa_gr1")
    env = driver.RobocasaEnv(s.protocol, 1, make_gym=FakeGym)
    a = env.reset(_spec(s, 1, 4)).instruction
    b = env.reset(_spec(s, 1, 5)).instruction
    c = env.reset(_spec(s, 1, 4)).instruction
    assert a == c and FakeGym.instances[-1].reset_seeds == [7004, 7005, 7004]
    other = driver.RobocasaEnv(s.protocol, 1, make_gym=FakeGym)  # a fresh env (another worker)
    assert other.reset(_spec(s, 1, 4)).instruction == a
    assert isinstance(b, str)


def test_reset_refuses_another_task():
    s = FakeRobocasaSuite("robocasa_gr1")
    env = driver.RobocasaEnv(s.protocol, 1, make_gym=FakeGym)
    with pytest.raises(ValueError, match="task 1"):
        env.reset(_spec(s, 2, 0))


# --------------------------------------------------------------------------------------------
# per-env instructions through the worker / rollout path (starVLA#400 sent env 0's to all)
# --------------------------------------------------------------------------------------------
class Slot(InProcessSlot):
    """An in-process worker slot around a given suite object (the fake-env suite)."""

    def __init__(self, index: int, suite) -> None:
        self.index = index
        self.core = WorkerCore(suite)
        self._reply = None


class RecordingPolicy:
    def __init__(self) -> None:
        self.batches: list[list] = []

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="recorder", action_dim=29, horizon=12, cameras=("ego_view",))

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations):
        self.batches.append(list(observations))
        return np.zeros((len(observations), 12, 29), dtype=np.float32)


def test_each_parallel_env_carries_its_own_instruction():
    suite = FakeRobocasaSuite("robocasa_gr1")
    FakeGym.success_at = 30
    specs = [_spec(suite, 0, 0), _spec(suite, 7, 1), _spec(suite, 2, 2), _spec(suite, 7, 3)]
    policy = RecordingPolicy()
    p = suite.protocol
    cfg = LoopConfig(
        policy_spec=policy.metadata(),
        policy_label="recorder",
        replan_steps=12,
        action_low=np.asarray(p.action_low, dtype=np.float32),
        action_high=np.asarray(p.action_high, dtype=np.float32),
    )
    results = []
    run_episodes(specs, [Slot(0, suite), Slot(1, suite)], [InProcessPolicy(policy, "recorder")], cfg, results.append)

    assert len(results) == 4 and all(r.status == "ok" and r.success for r in results)
    # what each env itself produced at reset (the expected instruction of every episode)
    expected = {r.episode.episode_id: r.metrics["instruction"] for r in results}
    assert len(set(expected.values())) == 4  # four different instructions
    for r in results:  # the instruction is the one of that episode's own task
        assert OBJECTS[TASKS[r.episode.task_index]] in r.metrics["instruction"]
    batched = [b for b in policy.batches if len(b) == 2]
    assert batched, "the two envs were never batched together"
    for batch in policy.batches:
        assert len({o.env_id for o in batch}) == len(batch)
        for obs in batch:
            assert obs.instruction == expected[obs.episode_id]
    for batch in batched:
        assert batch[0].instruction != batch[1].instruction


# --------------------------------------------------------------------------------------------
# the real simulator (only where robocasa and its assets are installed)
# --------------------------------------------------------------------------------------------
@pytest.mark.sim
@pytest.mark.skipif(
    not robocasa_importable(), reason="robocasa (GR1 tabletop) is not installed: see suites/robocasa/env.toml"
)
def test_real_env_reset_step_and_determinism():
    suite = get_suite("robocasa_gr1")
    env_vars = suite.prepare()  # GL backend, assets
    import os

    os.environ.update(env_vars)
    spec = suite.plan("2", "0")[0]
    pspec = PolicySpec(name="t", action_dim=29, cameras=("ego_view",))
    env = suite.make_env(spec, pspec)
    try:
        obs = env.reset(spec)
        assert obs.state.shape == (29,) and obs.images["ego_view"].shape == (256, 256, 3)
        assert obs.instruction.startswith("unlocked_waist: ") and "drawer" in obs.instruction
        hold = obs.state.copy()
        for _ in range(3):
            obs, done, info = env.step(hold)
            assert obs.state.shape == (29,) and "success" in info
        again = env.reset(spec)
        first = suite.make_env(spec, pspec).reset(spec)
        assert again.instruction == first.instruction
        np.testing.assert_allclose(again.state, first.state)
        json.dumps(env.result(), allow_nan=False)
    finally:
        env.close()


def test_prepare_names_missing_assets(tmp_path, monkeypatch):
    from vla_eval.errors import SimulatorUnavailable
    from vla_eval.suites.robocasa import suite as suite_mod

    monkeypatch.setattr(suite_mod, "_package_dir", lambda name: tmp_path)
    s = get_suite("robocasa_gr1")
    with pytest.raises(SimulatorUnavailable, match="objaverse.*download_tabletop_assets.py -y"):
        s._check_assets()
    for r in ("objaverse", "sketchfab", "lightwheel"):
        d = tmp_path / "models" / "assets" / "objects" / r
        d.mkdir(parents=True)
        (d / "x.xml").write_text("")
    s._check_assets()


def test_doctor_checks_follow_the_recipe():
    """vla-eval doctor's module list and pins are env.toml's; without robocasa it says to build the env."""
    from vla_eval.suites.robocasa.suite import DEPENDENCIES, PINS

    doc = tomllib.loads((ROOT / "suites" / "robocasa" / "env.toml").read_text())
    reqs = set(doc["requirements"])
    for d in DEPENDENCIES:
        if d.module != "robocasa":
            assert d.requirement in reqs, d
    for dist, version in PINS.items():
        assert f"{dist}=={version}" in reqs
    found = {f.check: f for f in get_suite("robocasa_gr1").diagnose()}
    if "import robocasa" in found:  # robocasa is not installed in the test environment
        assert found["import robocasa"].fix == "vla-eval env create robocasa_gr1"
