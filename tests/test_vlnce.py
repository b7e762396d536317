"""VLN-CE (r2r_val_unseen, r2r_val_seen, rxr_val_unseen): dataset planning, actions, metrics,
and the episode loop with a fake simulator.

Nothing here imports habitat at collection; the simulator test is marked ``sim`` and skips when
habitat-sim or the data is missing. The small dataset files are written by the tests (tmp_path),
in the layout of VLN-CE's R2R_VLNCE_v1-3_preprocessed and RxR_VLNCE_v0 files.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

from vla_eval.errors import UsageError
from vla_eval.executors.local import InProcessSlot
from vla_eval.executors.replicas import InProcessPolicy
from vla_eval.ledger import result_row
from vla_eval.rollout import LoopConfig, run_episodes
from vla_eval.suite import get_suite
from vla_eval.suites.vlnce import dataset, driver, metrics
from vla_eval.suites.vlnce import ndtw as vlnce_ndtw
from vla_eval.suites.vlnce.suite import VlnceSuite
from vla_eval.types import PolicySpec
from vla_eval.worker import WorkerCore

ROOT = Path(__file__).resolve().parents[1]
SUITE_DIR = ROOT / "suites" / "vlnce"


# --------------------------------------------------------------------------------------------
# small dataset files
# --------------------------------------------------------------------------------------------
def _episode(eid, scene="mp3d/scanA/scanA.glb", start=(0.0, 0.0, 0.0), goal=(0.0, 0.0, 2.0), lang=None, text=None):
    instr = {"instruction_text": text or f"walk to the goal of episode {eid}", "instruction_tokens": [1, 2]}
    if lang is not None:
        instr.update(language=lang, instruction_id=str(eid), annotator_id="a1", edit_distance=0.1)
    return {
        "episode_id": eid,
        "trajectory_id": 100 + int(eid),
        "scene_id": scene,
        "start_position": list(start),
        "start_rotation": [0.0, 0.0, 0.0, 1.0],
        "info": {"geodesic_distance": float(np.linalg.norm(np.subtract(goal, start)))},
        "goals": [{"position": list(goal), "radius": 3.0}],
        "reference_path": [list(start), list(goal)],
        "instruction": instr,
    }


def _write(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(doc, f)
    return path


def make_r2r(root: Path, split="val_unseen", ids=(10, 2, 33), gt_missing=()) -> Path:
    d = root / "R2R_VLNCE_v1-3_preprocessed" / split
    eps = [_episode(i) for i in ids]
    _write(d / f"{split}.json.gz", {"episodes": eps, "instruction_vocab": {"word_list": ["a", "b"]}})
    gt = {
        str(e["episode_id"]): {"locations": [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 2.0]], "forward_steps": 8}
        for e in eps
        if e["episode_id"] not in gt_missing
    }
    _write(d / f"{split}_gt.json.gz", gt)
    return root


def make_rxr(root: Path) -> Path:
    d = root / "RxR_VLNCE_v0" / "val_unseen"
    langs = ["en-US", "hi-IN", "en-IN", "te-IN", "en-US"]
    eps = [_episode(str(i + 1), lang=lang) for i, lang in enumerate(langs)]
    _write(d / "val_unseen_guide.json.gz", {"episodes": eps})
    gt = {e["episode_id"]: {"locations": [[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]} for e in eps}
    _write(d / "val_unseen_guide_gt.json.gz", gt)
    return root


def r2r_suite(data: Path, name="r2r_val_unseen", n=3, scenes=None) -> VlnceSuite:
    """The real protocol, with the expected file size set to the small file's."""
    s = VlnceSuite(name, data_dir=data, scenes_dir=scenes)
    s.protocol = dataclasses.replace(s.protocol, extra={**s.protocol.extra, "expected_total_episodes": n})
    return s


@pytest.fixture(autouse=True)
def _no_user_data(monkeypatch):
    monkeypatch.delenv(dataset.DATA_ENV, raising=False)
    monkeypatch.delenv(dataset.SCENES_ENV, raising=False)


# --------------------------------------------------------------------------------------------
# protocol parameters (protocols.md section 6; VLN-CE task configs)
# --------------------------------------------------------------------------------------------
def test_r2r_protocol_parameters():
    for name, split, n in (("r2r_val_unseen", "val_unseen", 1839), ("r2r_val_seen", "val_seen", 778)):
        p = get_suite(name).protocol
        x = p.extra
        assert [t.name for t in p.tasks] == [split] and p.n_episodes == n and x["expected_total_episodes"] == n
        assert p.tasks[0].max_steps == 500
        assert x["actions"] == ["STOP", "MOVE_FORWARD", "TURN_LEFT", "TURN_RIGHT"]
        assert x["forward_step"] == 0.25 and x["turn_angle"] == 15
        assert x["success_distance"] == 3.0
        assert x["rgb_size"] == [224, 224] and x["rgb_hfov"] == 90 and p.image_size == (224, 224)
        assert x["depth_size"] == [256, 256]
        assert (x["agent_height"], x["agent_radius"], x["sensor_height"]) == (1.5, 0.1, 1.25)
        assert x["allow_sliding"] is True
        assert x["dataset_dir"] == "R2R_VLNCE_v1-3_preprocessed"
        assert p.action_dim == 1 and p.action_low == (0.0,) and p.action_high == (3.0,) and p.idle_action == (0.0,)
        assert x["aggregation"] == "episode_mean"
        assert p.cameras == ("rgb", "depth")


def test_rxr_protocol_parameters():
    p = get_suite("rxr_val_unseen").protocol
    x = p.extra
    assert p.tasks[0].name == "val_unseen" and p.tasks[0].max_steps == 500
    assert p.n_episodes == 11006  # all languages (protocols.md) while no data is configured
    assert x["actions"] == ["STOP", "MOVE_FORWARD", "TURN_LEFT", "TURN_RIGHT", "LOOK_UP", "LOOK_DOWN"]
    assert x["turn_angle"] == 30 and x["tilt_angle"] == 30 and x["forward_step"] == 0.25
    assert x["rgb_size"] == [480, 640] and x["rgb_hfov"] == 79 and x["depth_size"] == [480, 640]
    assert (x["depth_min"], x["depth_max"]) == (0.5, 5.0)
    assert (x["agent_height"], x["agent_radius"], x["sensor_height"]) == (0.88, 0.18, 0.88)
    assert x["allow_sliding"] is False
    assert x["role"] == "guide" and x["languages"] == ["en-US", "en-IN"]
    assert x["success_distance"] == 3.0 and x["aggregation"] == "episode_mean"
    assert p.action_high == (5.0,)


def test_labels_and_env_toml():
    assert VlnceSuite.verified is False and driver.VlnceEnv.verified is False
    doc = tomllib.loads((SUITE_DIR / "env.toml").read_text())
    assert all(isinstance(r, str) for r in doc["requirements"])
    # habitat-sim 0.3.4: the first release with conda builds for Python 3.10-3.12; fastdtw: VLN-CE's nDTW
    assert doc["conda_env"]["packages"] == ["habitat-sim=0.3.4", "headless"]
    assert doc["conda_env"]["python"] == "3.11" and "aihabitat" in doc["conda_env"]["channels"]
    assert "fastdtw==0.3.4" in doc["requirements"] and doc["setup"] == "setup_env.sh"
    script = (SUITE_DIR / "setup_env.sh").read_text()
    assert "R2R_VLNCE_v1-3_preprocessed" in script and "RxR_VLNCE_v0" in script and "download_mp.py" in script
    assert "VLA_EVAL_VLNCE_DATA" in doc["notes"] and "VLA_EVAL_VLNCE_SCENES" in doc["notes"]
    assert not [r for r in doc["requirements"] if r.startswith("torch") and r != "torch==2.13.0"]


def test_nothing_imports_habitat():
    code = (
        "import sys; from vla_eval.suite import get_suite;"
        "[get_suite(n).availability() for n in ('r2r_val_unseen', 'r2r_val_seen', 'rxr_val_unseen')];"
        "import vla_eval.suites.vlnce.driver;"
        "assert not [m for m in sys.modules if m.startswith(('habitat', 'habitat_sim'))]; print('ok')"
    )
    env = {k: v for k, v in os.environ.items() if k not in (dataset.DATA_ENV, dataset.SCENES_ENV)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# --------------------------------------------------------------------------------------------
# dataset loading and planning
# --------------------------------------------------------------------------------------------
def test_plan_reads_the_dataset_in_episode_id_order(tmp_path):
    s = r2r_suite(make_r2r(tmp_path))
    specs = s.plan()
    assert [x.init_state_id for x in specs] == ["2", "10", "33"]
    assert [x.episode_index for x in specs] == [0, 1, 2]
    assert {x.task for x in specs} == {"val_unseen"} and {x.task_index for x in specs} == {0}
    assert specs[1].instruction == "walk to the goal of episode 10"
    assert all(x.max_steps == 500 and x.seed == 100 for x in specs)
    assert len({x.episode_id for x in specs}) == 3
    # stable: the same episode has the same id from a fresh suite
    assert [x.episode_id for x in r2r_suite(tmp_path).plan()] == [x.episode_id for x in specs]
    # selections
    assert [x.init_state_id for x in s.plan("0", "1:3")] == ["10", "33"]
    assert s.plan(episodes="2", max_steps=20)[0].max_steps == 20
    with pytest.raises(UsageError, match="out of range"):
        s.plan(episodes="3")
    with pytest.raises(UsageError, match="task index 1"):
        s.plan(tasks="1")


def test_episode_fields_are_read(tmp_path):
    make_r2r(tmp_path)
    total, eps = dataset.load_episodes(tmp_path / "R2R_VLNCE_v1-3_preprocessed/val_unseen/val_unseen.json.gz")
    assert total == 3
    e = eps[0]
    assert e.episode_id == "2" and e.scene_id == "mp3d/scanA/scanA.glb"
    assert e.start_position == (0.0, 0.0, 0.0) and e.start_rotation == (0.0, 0.0, 0.0, 1.0)
    assert e.goals == ((0.0, 0.0, 2.0),) and e.goal_radius == 3.0 and e.geodesic_distance == 2.0
    assert e.reference_path == ((0.0, 0.0, 0.0), (0.0, 0.0, 2.0))
    gt = dataset.load_gt(tmp_path / "R2R_VLNCE_v1-3_preprocessed/val_unseen/val_unseen_gt.json.gz")
    assert gt["33"] == [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 2.0]]
    # scene paths: VLN-CE drops a data/scene_datasets/ prefix before joining
    assert dataset.scene_path("data/scene_datasets/mp3d/x/x.glb", Path("/s")) == Path("/s/mp3d/x/x.glb")
    assert dataset.scene_path("mp3d/x/x.glb", Path("/s")) == Path("/s/mp3d/x/x.glb")


def test_env_var_configures_the_dataset(tmp_path, monkeypatch):
    make_r2r(tmp_path, split="val_seen", ids=range(1, 779))
    monkeypatch.setenv(dataset.DATA_ENV, str(tmp_path))
    s = get_suite("r2r_val_seen")  # the protocol's own count, 778, matches the file
    assert len(s.plan()) == 778
    assert s.scenes_dir() == tmp_path.parent / "scene_datasets"
    monkeypatch.setenv(dataset.SCENES_ENV, "/elsewhere")
    assert s.scenes_dir() == Path("/elsewhere")


def test_rxr_keeps_english_guide_episodes_and_counts_them(tmp_path):
    make_rxr(tmp_path)
    s = VlnceSuite("rxr_val_unseen", data_dir=tmp_path)
    assert s.protocol.n_episodes == 3  # the English count replaces the all-language one
    specs = s.plan()
    assert [x.init_state_id for x in specs] == ["1", "3", "5"]
    ok, why = s.availability()
    assert "not yet run against the simulator" in why


def test_missing_dataset_is_one_clear_line(tmp_path):
    s = VlnceSuite("r2r_val_unseen")
    with pytest.raises(UsageError) as e:
        s.plan()
    msg = str(e.value)
    assert "\n" not in msg and dataset.DATA_ENV in msg and "R2R_VLNCE_v1-3_preprocessed" in msg
    ok, why = s.availability()
    assert not ok and dataset.DATA_ENV in why and "not yet run against the simulator" in why

    s = VlnceSuite("r2r_val_unseen", data_dir=tmp_path)  # configured, but nothing there
    with pytest.raises(UsageError) as e:
        s.plan()
    assert "\n" not in str(e.value) and "does not exist" in str(e.value) and "val_unseen.json.gz" in str(e.value)


def test_missing_dataset_through_the_cli(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in (dataset.DATA_ENV, dataset.SCENES_ENV)}
    cmd = [
        sys.executable,
        "-m",
        "vla_eval.cli",
        "run",
        "--suite",
        "r2r_val_unseen",
        "--policy",
        "noop",
        "--out",
        str(tmp_path / "out"),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and dataset.DATA_ENV in lines[0]
    assert not (tmp_path / "out").exists()


def test_bad_dataset_files(tmp_path):
    make_r2r(tmp_path)
    s = VlnceSuite("r2r_val_unseen", data_dir=tmp_path)  # the protocol expects 1839 episodes
    with pytest.raises(UsageError, match="holds 3 episodes.*1839"):
        s.plan()
    # no ground truth
    (tmp_path / "R2R_VLNCE_v1-3_preprocessed/val_unseen/val_unseen_gt.json.gz").unlink()
    with pytest.raises(UsageError, match="ground-truth file .* does not exist"):
        r2r_suite(tmp_path).plan()
    # not gzip
    bad = tmp_path / "bad"
    (bad / "R2R_VLNCE_v1-3_preprocessed/val_unseen").mkdir(parents=True)
    (bad / "R2R_VLNCE_v1-3_preprocessed/val_unseen/val_unseen.json.gz").write_text("{}")
    (bad / "R2R_VLNCE_v1-3_preprocessed/val_unseen/val_unseen_gt.json.gz").write_text("{}")
    with pytest.raises(UsageError, match="not a gzipped JSON file"):
        r2r_suite(bad).plan()
    # an episode without goals
    broken = tmp_path / "broken"
    make_r2r(broken)
    p = broken / "R2R_VLNCE_v1-3_preprocessed/val_unseen/val_unseen.json.gz"
    doc = json.loads(gzip.decompress(p.read_bytes()))
    doc["episodes"][1]["goals"] = []
    _write(p, doc)
    with pytest.raises(UsageError, match="episode 2 has no goals"):
        r2r_suite(broken).plan()
    # no episodes list
    _write(p, {"nothing": []})
    with pytest.raises(UsageError, match="no 'episodes' list"):
        r2r_suite(broken).plan()


# --------------------------------------------------------------------------------------------
# actions
# --------------------------------------------------------------------------------------------
def test_action_ids():
    assert [driver.action_id(np.array([float(i)], np.float32), 4) for i in range(4)] == [0, 1, 2, 3]
    assert driver.action_id(np.array([5.0]), 6) == 5
    assert driver.ACTION_NAMES[:4] == ("STOP", "MOVE_FORWARD", "TURN_LEFT", "TURN_RIGHT")
    for bad in ([4.0], [-1.0], [1.5], [np.nan], [1.0, 2.0]):
        with pytest.raises(ValueError):
            driver.action_id(np.array(bad), 4)
    with pytest.raises(ValueError, match="0 STOP, 1 MOVE_FORWARD, 2 TURN_LEFT, 3 TURN_RIGHT"):
        driver.action_id(np.array([7.0]), 4)


# --------------------------------------------------------------------------------------------
# metrics from a recorded position series (hand-computed)
# --------------------------------------------------------------------------------------------
REF = [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 2.0]]
# start; forward 0.5; turn (same place); 1.0 sideways; 1.5 ahead; the distances are given
POSITIONS = [[0, 0, 0], [0, 0, 0.5], [0, 0, 0.5], [1.5, 0, 0.5], [1.5, 0, 2.0]]
DISTANCES = [2.0, 1.5, 1.5, math.sqrt(4.5), 1.5]


def _record(stop: bool, distances=DISTANCES, positions=POSITIONS) -> dict:
    rec = driver.NavRecorder(REF, 3.0)
    rec.start(positions[0], distances[0])
    for p, d in zip(positions[1:], distances[1:]):
        rec.record(p, d)
    if stop:
        rec.record(positions[-1], distances[-1], stop=True)
    return rec.metrics()


def test_metrics_of_a_successful_episode():
    m = _record(stop=True)
    # VLN-CE's locations: the distinct positions after each action (no start; the turn and STOP
    # add no point): Q0 (0,0,.5), Q1 (1.5,0,.5), Q2 (1.5,0,2). DTW by hand:
    # Q0-R0 0.5, Q1-R1 sqrt(1.5^2 + 0.5^2), Q2-R2 1.5 (fastdtw's window covers 3x3: the same)
    dtw = 0.5 + math.sqrt(2.5) + 1.5
    assert vlnce_ndtw.measure_locations(POSITIONS) == [[0, 0, 0.5], [1.5, 0, 0.5], [1.5, 0, 2.0]]
    assert metrics.dtw_distance(vlnce_ndtw.measure_locations(POSITIONS), REF) == pytest.approx(dtw)
    ndtw = math.exp(-dtw / (3 * 3.0))
    assert m["ndtw_exact"] == pytest.approx(ndtw) and m["sdtw_exact"] == pytest.approx(ndtw)
    assert m["success"] is True and m["stop_called"] is True
    assert m["steps_taken"] == 5  # four moves and STOP
    assert m["path_length"] == pytest.approx(0.5 + 1.5 + 1.5)
    assert m["spl"] == pytest.approx(2.0 / 3.5)  # l = 2.0 (distance at reset), p = 3.5
    assert m["navigation_error"] == 1.5
    assert m["oracle_success"] is True and m["oracle_navigation_error"] == 1.5
    assert m["ndtw"] == pytest.approx(ndtw) and m["sdtw"] == pytest.approx(ndtw)
    assert m["start_distance_to_goal"] == 2.0
    assert len(m["path"]) == len(m["distances"]) == 6
    assert m["distances"][3] == round(math.sqrt(4.5), 4)
    json.dumps(m, allow_nan=False)


def test_metrics_without_stop_fail():
    m = _record(stop=False)
    assert m["success"] is False and m["stop_called"] is False
    assert m["spl"] == 0.0 and m["sdtw"] == 0.0
    assert m["ndtw"] == pytest.approx(math.exp(-(2.0 + math.sqrt(2.5)) / 9.0))
    assert m["navigation_error"] == 1.5 and m["oracle_success"] is True


def _vlnce_reference_ndtw(locations, gt, d=3.0):
    """What VLN-CE's NDTW.update_metric computes from its locations list (measures.py)."""
    from fastdtw import fastdtw

    def euclidean(a, b):
        return np.linalg.norm(np.array(b) - np.array(a), ord=2)

    return float(np.exp(-fastdtw(locations, gt, dist=euclidean)[0] / (len(gt) * d)))


def test_ndtw_is_vlnce_fastdtw_and_exact_is_kept_apart():
    rng = np.random.default_rng(15)  # a case where fastdtw's radius-1 window misses the optimum
    gt = np.cumsum(rng.normal(0, 1, (12, 3)) * [1, 0, 1], axis=0).tolist()
    # a wandering path of 40 moves
    positions = [[0.0, 0.0, 0.0]] + np.cumsum(rng.normal(0, 0.4, (40, 3)) * [1, 0, 1], axis=0).tolist()
    rec = driver.NavRecorder(gt, 3.0)
    rec.start(positions[0], 2.0)
    for p in positions[1:]:
        rec.record(p, 2.0)
    rec.record(positions[-1], 2.0, stop=True)
    m = rec.metrics()
    locations = [list(map(float, p)) for p in positions[1:]]  # VLN-CE's list: after each action
    assert m["ndtw"] == pytest.approx(_vlnce_reference_ndtw(locations, gt), rel=1e-12)
    assert m["success"] is True and m["sdtw"] == m["ndtw"]  # STOP within 3 m
    assert m["ndtw_exact"] == pytest.approx(metrics.ndtw(locations, gt, 3.0), rel=1e-12)
    assert m["ndtw"] < m["ndtw_exact"]  # fastdtw's distance is larger here: the two differ
    # the start is not one of VLN-CE's locations: with it, the value changes
    assert m["ndtw"] != pytest.approx(_vlnce_reference_ndtw(positions, gt), rel=1e-9)
    # recomputed from what the ledger row keeps
    again = vlnce_ndtw.from_row(json.loads(json.dumps(m)))
    for k in ("ndtw", "sdtw", "ndtw_exact", "sdtw_exact"):
        assert again[k] == pytest.approx(m[k], rel=1e-4)


def test_stop_far_from_goal_and_the_strict_radius():
    far = [5.0, 4.0, 4.0, 2.5, 3.5]
    m = _record(stop=True, distances=far)
    assert m["success"] is False and m["oracle_success"] is True and m["oracle_navigation_error"] == 2.5
    assert m["navigation_error"] == 3.5
    edge = [5.0, 4.0, 4.0, 4.0, 3.0]  # exactly 3.0 at STOP: not < 3.0
    m = _record(stop=True, distances=edge)
    assert m["success"] is False and m["oracle_success"] is False


def test_unreachable_distances_are_json_safe():
    inf = float("inf")
    m = _record(stop=True, distances=[inf, inf, inf, inf, inf])
    assert m["success"] is False and m["navigation_error"] is None and m["spl"] == 0.0
    assert m["distances"] == [None] * 6 and m["start_distance_to_goal"] is None
    json.dumps(m, allow_nan=False)


# --------------------------------------------------------------------------------------------
# the episode loop with a fake simulator
# --------------------------------------------------------------------------------------------
class FakeSim:
    """A flat world: position (x, z), heading; geodesic distance = Euclidean to the nearest goal."""

    instances: list["FakeSim"] = []

    def __init__(self, cfg, cameras, n_actions, seed):
        self.cfg, self.cameras, self.n_actions, self.seed = cfg, tuple(cameras), n_actions, seed
        self.loaded: list[str] = []
        self.pos = np.zeros(3)
        self.heading = 0.0  # degrees, 0 = +z
        self.pitch = 0.0
        self.acts: list[str] = []
        self.closed = False
        FakeSim.instances.append(self)

    def load(self, scene):
        if not self.loaded or self.loaded[-1] != scene:
            self.loaded.append(scene)

    def place(self, position, rotation):
        self.pos = np.asarray(position, dtype=np.float64).copy()
        self.heading = 0.0

    def act(self, key):
        self.acts.append(key)
        if key == "move_forward":
            r = math.radians(self.heading)
            self.pos = self.pos + float(self.cfg["forward_step"]) * np.array([math.sin(r), 0.0, math.cos(r)])
        elif key in ("turn_left", "turn_right"):
            self.heading += float(self.cfg["turn_angle"]) * (1 if key == "turn_left" else -1)
        elif key in ("look_up", "look_down"):
            self.pitch += float(self.cfg["tilt_angle"]) * (1 if key == "look_up" else -1)
        else:
            raise KeyError(key)

    def position(self):
        return [float(c) for c in self.pos]

    def rotation(self):
        return [0.0, 0.0, 0.0, 1.0]

    def geodesic(self, position, goals):
        return float(min(np.linalg.norm(np.subtract(g, position)) for g in goals))

    def observe(self):
        h, w = self.cfg["rgb_size"]
        dh, dw = self.cfg["depth_size"]
        out = {}
        if "rgb" in self.cameras:
            out["rgb"] = np.full((h, w, 4), 7, np.uint8)
        if "depth" in self.cameras:
            out["depth"] = np.linspace(-1.0, 12.0, dh * dw, dtype=np.float32).reshape(dh, dw)
        return out

    def oracle_action(self, goal):
        return 1

    def close(self):
        self.closed = True


class FakeVlnceSuite(VlnceSuite):
    def make_env(self, spec, policy):
        files = self.files()
        return driver.VlnceEnv(
            self.protocol,
            files.episodes,
            files.gt,
            self.scenes_dir(),
            cameras=policy.cameras,
            privileged=policy.privileged,
            backend=FakeSim,
        )


def _fake_suite(tmp_path, name="r2r_val_unseen") -> FakeVlnceSuite:
    make_r2r(tmp_path, ids=(10, 2, 33))
    s = FakeVlnceSuite(name, data_dir=tmp_path, scenes_dir=tmp_path / "scenes")
    s.protocol = dataclasses.replace(s.protocol, extra={**s.protocol.extra, "expected_total_episodes": 3})
    return s


def test_env_episode_forward_then_stop(tmp_path):
    s = _fake_suite(tmp_path)
    spec = s.plan(episodes="0")[0]
    env = s.make_env(spec, PolicySpec(name="p", action_dim=1, cameras=("rgb", "depth"), privileged=True))
    sim = FakeSim.instances[-1]
    obs = env.reset(spec)
    assert sim.loaded == [str(tmp_path / "scenes" / "mp3d/scanA/scanA.glb")]
    assert obs.instruction == "walk to the goal of episode 2" and obs.state.shape == (0,)
    assert obs.images["rgb"].shape == (224, 224, 3) and obs.images["rgb"].dtype == np.uint8
    depth = obs.extras["depth"]
    assert depth.shape == (256, 256, 1) and depth.dtype == np.float32
    assert depth.min() == 0.0 and depth.max() == 1.0  # clipped to [0, 10] m, normalised
    assert obs.extras["distance_to_goal"] == 2.0 and obs.extras["oracle_action"] == 1
    for k in range(1, 7):  # 6 x 0.25 m forward: 1.5 m along +z
        obs, done, info = env.step(np.array([1.0], np.float32))
        assert not done and obs.step == k and info["action"] == "MOVE_FORWARD"
    assert sim.acts == ["move_forward"] * 6
    obs, done, info = env.step(np.array([0.0], np.float32))
    assert done and info["action"] == "STOP" and len(sim.acts) == 6  # STOP moves nothing
    with pytest.raises(RuntimeError):
        env.step(np.array([1.0]))
    m = env.result()
    assert m["success"] is True and m["steps_taken"] == 7
    assert m["navigation_error"] == 0.5 and m["path_length"] == pytest.approx(1.5)
    assert m["spl"] == pytest.approx(1.0)
    assert m["dataset_episode_id"] == "2" and m["dataset_geodesic_distance"] == 2.0
    assert [p[2] for p in m["path"]] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.5]
    env.close()
    assert sim.closed


def test_env_turns_and_bad_actions(tmp_path):
    s = _fake_suite(tmp_path)
    spec = s.plan(episodes="1")[0]
    env = s.make_env(spec, PolicySpec(name="p", action_dim=1))
    sim = FakeSim.instances[-1]
    obs = env.reset(spec)
    assert obs.images == {} and "depth" not in obs.extras and "position" not in obs.extras
    env.step(np.array([2.0]))
    env.step(np.array([3.0]))
    env.step(np.array([3.0]))
    assert sim.acts == ["turn_left", "turn_right", "turn_right"] and sim.heading == -15.0
    for bad in (4.0, 0.5, -1.0):  # LOOK_UP is not an R2R action; not integers; negative
        with pytest.raises(ValueError, match="not an action id"):
            env.step(np.array([bad]))
    with pytest.raises(ValueError, match="not in the dataset"):
        env.reset(dataclasses.replace(spec, init_state_id="999"))


def test_rxr_look_actions(tmp_path):
    make_rxr(tmp_path)
    s = FakeVlnceSuite("rxr_val_unseen", data_dir=tmp_path, scenes_dir=tmp_path)
    spec = s.plan(episodes="0")[0]
    env = s.make_env(spec, PolicySpec(name="p", action_dim=1, cameras=("rgb",)))
    obs = env.reset(spec)
    assert obs.images["rgb"].shape == (480, 640, 3)
    env.step(np.array([4.0]))
    env.step(np.array([5.0]))
    env.step(np.array([2.0]))
    sim = FakeSim.instances[-1]
    assert sim.acts == ["look_up", "look_down", "turn_left"] and sim.heading == 30.0


class ForwardThenStop:
    """Scripted: k forward steps, then STOP; chunks of two actions."""

    def __init__(self, k: int = 6) -> None:
        self.k = k
        self.calls: dict[int, int] = {}

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="fwd", action_dim=1, horizon=2, replan_steps=2, cameras=("rgb",))

    def reset(self, env_ids=None) -> None:
        for i in env_ids or []:
            self.calls[i] = 0

    def infer_batch(self, observations):
        out = np.zeros((len(observations), 2, 1), dtype=np.float32)
        for b, obs in enumerate(observations):
            for h in range(2):
                out[b, h, 0] = 1.0 if obs.step + h < self.k else 0.0
        return out


class Slot(InProcessSlot):
    def __init__(self, index: int, suite) -> None:
        self.index = index
        self.core = WorkerCore(suite)
        self._reply = None


def test_rollout_path_and_ledger_rows(tmp_path):
    s = _fake_suite(tmp_path)
    specs = s.plan()
    policy = ForwardThenStop(k=6)
    p = s.protocol
    cfg = LoopConfig(
        policy_spec=policy.metadata(),
        policy_label="fwd",
        replan_steps=2,
        action_low=np.asarray(p.action_low, np.float32),
        action_high=np.asarray(p.action_high, np.float32),
    )
    results = []
    run_episodes(specs, [Slot(0, s), Slot(1, s)], [InProcessPolicy(policy, "fwd")], cfg, results.append)
    assert len(results) == 3 and all(r.status == "ok" for r in results)
    for r in results:
        assert r.success and r.steps == 7 and r.metrics["steps_taken"] == 7
        assert r.metrics["actions_out_of_range"] == 0
        row = result_row(r, {"policy": "fwd", "checkpoint": None, "simulator": {}})
        json.dumps(row.to_json(), allow_nan=False)  # the ledger's strict JSON
    # an action id outside the table ends that episode as an error naming the value
    bad = ForwardThenStop(k=6)
    bad.infer_batch = lambda obs: np.full((len(obs), 2, 1), 9.0, np.float32)  # type: ignore[method-assign]
    results = []
    run_episodes(
        specs[:1], [Slot(0, s)], [InProcessPolicy(bad, "bad")], dataclasses.replace(cfg, max_retries=0), results.append
    )
    assert results[0].status == "error" and "9.0" in results[0].error and "not an action id" in results[0].error


def test_step_limit_without_stop_fails(tmp_path):
    s = _fake_suite(tmp_path)
    spec = s.plan(episodes="0", max_steps=5)[0]
    policy = ForwardThenStop(k=100)
    p = s.protocol
    cfg = LoopConfig(
        policy_spec=policy.metadata(),
        policy_label="fwd",
        replan_steps=2,
        action_low=np.asarray(p.action_low, np.float32),
        action_high=np.asarray(p.action_high, np.float32),
    )
    results = []
    run_episodes([spec], [Slot(0, s)], [InProcessPolicy(policy, "fwd")], cfg, results.append)
    r = results[0]
    assert r.status == "ok" and r.steps == 5 and not r.success
    assert r.metrics["stop_called"] is False and r.metrics["oracle_success"] is True


# --------------------------------------------------------------------------------------------
# the real simulator (only with habitat-sim, the dataset and the scenes)
# --------------------------------------------------------------------------------------------
def _sim_ready() -> bool:
    return importlib.util.find_spec("habitat_sim") is not None and bool(os.environ.get(dataset.DATA_ENV))


@pytest.mark.sim
@pytest.mark.skipif(
    not _sim_ready(),
    reason="needs habitat-sim and the VLN-CE data (VLA_EVAL_VLNCE_DATA, scenes): see suites/vlnce/env.toml",
)
def test_real_r2r_episode_with_the_oracle():
    s = get_suite("r2r_val_unseen")
    os.environ.update(s.prepare())
    spec = s.plan(episodes="0")[0]
    env = s.make_env(spec, PolicySpec(name="oracle", action_dim=1, cameras=("rgb", "depth"), privileged=True))
    try:
        obs = env.reset(spec)
        assert obs.images["rgb"].shape == (224, 224, 3) and obs.extras["depth"].shape == (256, 256, 1)
        done, steps = False, 0
        while not done and steps < spec.max_steps:
            a = obs.extras["oracle_action"]
            obs, done, _ = env.step(np.array([float(0 if a is None else a)], np.float32))
            steps += 1
        m = env.result()
        json.dumps(m, allow_nan=False)
        assert m["success"] is True and m["ndtw"] > 0.5
    finally:
        env.close()


# --------------------------------------------------------------------------------------------
# vla-eval doctor's checks (a fake habitat_sim module; the small dataset files)
# --------------------------------------------------------------------------------------------
def test_diagnose_names_missing_scenes_and_passes_when_they_are_there(tmp_path, monkeypatch):
    site = tmp_path / "site" / "habitat_sim"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("__version__ = '0.3.4'\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "habitat_sim", raising=False)
    data = make_r2r(tmp_path / "data")
    scenes = tmp_path / "scenes"
    s = r2r_suite(data, scenes=scenes)
    found = {f.check: f for f in s.diagnose()}
    assert found["import-time dependencies"].ok and found["version habitat-sim"].ok
    assert found["episodes"].ok and "3 of 3" in found["episodes"].detail
    assert not found["scenes"].ok and "download_mp.py" in found["scenes"].fix
    (scenes / "mp3d" / "scanA").mkdir(parents=True)
    (scenes / "mp3d" / "scanA" / "scanA.glb").write_text("")
    assert all(f.ok for f in s.diagnose())
    sys.modules.pop("habitat_sim", None)


def test_diagnose_without_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("VLA_EVAL_ENVS", str(tmp_path / "envs"))  # no built environment either
    found = {f.check: f for f in VlnceSuite("r2r_val_unseen").diagnose()}
    assert not found["episodes"].ok and found["episodes"].fix.startswith("vla-eval env create r2r_val_unseen")
