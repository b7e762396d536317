"""Golden traces: record an episode with ``--record-trajectory``, play it back open loop with the
``replay`` policy, and get the same outcome and the same states step by step (so the same final
state). Everything goes through the public harness (CLI, runner, workers, ledger), so a change of
a suite's driver that keeps its episodes deterministic keeps these passing, and one that breaks
replay (a flipped action, a reset that depends on history, an unseeded draw) fails them.

- toy_reach: always (no simulator).
- LIBERO (sim): the scripted expert on libero_spatial task 0, episode 0, full protocol.
- ManiSkill3 (sim, where its environment is built: `vla-eval env create maniskill3`): there is no
  scripted expert for ManiSkill3 here, so the recorded policy is `random` (seeded per episode),
  20 steps of PickCube-v1.
- SimplerEnv WidowX (sim, same environment, plus the Bridge assets: $MS_ASSET_DIR or
  ../shared/assets/maniskill_bridge, whose placeholder files make it a driver check, not a
  benchmark): `random`, 10 steps of the spoon task.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import requires_libero
from vla_eval.ledger import EPISODES_FILE, read_rows
from vla_eval.trajectory import load

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: int = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "vla_eval.cli", "run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def record_and_replay(
    tmp_path: Path,
    suite: str,
    policy: str,
    tasks: str,
    episodes: str,
    *extra: str,
    policy_args: tuple[str, ...] = (),
    env: dict | None = None,
) -> list[tuple[dict, dict]]:
    rec, rep = tmp_path / "recorded", tmp_path / "replayed"
    sel = ["--suite", suite, "--tasks", tasks, "--episodes", episodes, *extra, "--record-trajectory"]
    pa = [a for x in policy_args for a in ("--policy-args", x)]
    _run(*sel, "--policy", policy, *pa, "--out", str(rec), env=env)
    _run(*sel, "--policy", "replay", "--policy-args", f"source={rec}", "--out", str(rep), env=env)
    a = {r["episode_id"]: r for r in read_rows(rec / EPISODES_FILE)}
    b = {r["episode_id"]: r for r in read_rows(rep / EPISODES_FILE)}
    assert set(a) == set(b) and a
    pairs = []
    for eid in a:
        x, y = a[eid], b[eid]
        assert x["metrics"]["trajectory"] == f"trajectories/{eid}.npz"
        ta, tb = load(rec / x["metrics"]["trajectory"]), load(rep / y["metrics"]["trajectory"])
        # same outcome, same number of steps, the same actions executed
        assert (x["status"], x["success"], x["steps"]) == (y["status"], y["success"], y["steps"]), (x, y)
        assert ta.steps == tb.steps == x["steps"]
        np.testing.assert_array_equal(ta.actions, tb.actions)
        # the same state after the reset and after every step (so the same final state)
        np.testing.assert_allclose(tb.state, ta.state, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(ta.done, tb.done)
        np.testing.assert_array_equal(ta.success, tb.success)
        if not suite.startswith("simpler"):  # these suites' success: at any step (SimplerEnv: at the last)
            assert bool(ta.success.any()) == x["success"]
        pairs.append((ta, tb))
    return pairs


def test_toy_golden_trace_and_file_format(tmp_path):
    pairs = record_and_replay(
        tmp_path, "toy_reach", "tests.toy_policies:ToyExpert", "0,2", "0:3", "--replan-steps", "2", "--workers", "2"
    )
    assert any(ta.success[-1] for ta, _ in pairs)
    ta, _ = pairs[0]
    assert ta.actions.dtype == np.float32 and ta.actions.shape == (ta.steps, 2)
    assert ta.state.shape == (ta.steps + 1, 2) and ta.done.dtype == bool and ta.sim_s.shape == (ta.steps,)
    assert ta.policy_s.shape == (ta.steps,) and (ta.policy_s > 0).sum() == -(-ta.steps // 2)  # one chunk per 2 steps
    assert ta.meta["format"] == "vla-eval-trajectory" and ta.meta["version"] == 1
    assert ta.meta["episode"]["suite"] == "toy_reach" and ta.meta["replan_steps"] == 2
    path = tmp_path / "recorded" / "trajectories" / f"{ta.episode_id}.npz"
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as z:  # plain arrays: no pickle needed to read it
        assert sorted(z.files) == ["actions", "done", "meta", "policy_s", "sim_s", "state", "success"]
        assert json.loads(str(z["meta"]))["episode"]["episode_id"] == ta.episode_id
    # the state follows the actions: the toy point moves by 0.05 * action per step (inside the square)
    step = ta.state[1:] - ta.state[:-1]
    inside = np.all((ta.state[1:] > 0) & (ta.state[1:] < 1), axis=1)
    np.testing.assert_allclose(step[inside], 0.05 * np.clip(ta.actions[inside], -1, 1), atol=1e-6)


def test_replay_of_an_episode_that_was_not_recorded_stops_the_run(tmp_path):
    _run(
        "--suite",
        "toy_reach",
        "--policy",
        "noop",
        "--tasks",
        "0",
        "--episodes",
        "0",
        "--record-trajectory",
        "--out",
        str(tmp_path / "rec"),
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vla_eval.cli",
            "run",
            "--suite",
            "toy_reach",
            "--policy",
            "replay",
            "--policy-args",
            f"source={tmp_path / 'rec'}",
            "--tasks",
            "0",
            "--episodes",
            "1",
            "--out",
            str(tmp_path / "rep"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1 and "was not recorded" in r.stderr
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vla_eval.cli",
            "run",
            "--suite",
            "toy_reach",
            "--policy",
            "replay",
            "--policy-args",
            f"source={tmp_path / 'nothing'}",
            "--out",
            str(tmp_path / "rep2"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("error: replay: source=")


@pytest.mark.sim
@requires_libero
def test_libero_golden_trace_of_the_scripted_expert(tmp_path):
    ((ta, tb),) = record_and_replay(tmp_path, "libero_spatial", "scripted_libero", "0", "0")
    assert ta.success[-1] and tb.success[-1]  # the expert solves it, and so does its replay
    assert ta.state.shape[1] == 8  # eef pos, axis-angle, gripper qpos


def _maniskill3_python() -> Path | None:
    from vla_eval.envs import env_python, env_spec
    from vla_eval.suite import get_suite

    return env_python(env_spec(get_suite("maniskill3")))


@pytest.mark.sim
@pytest.mark.skipif(
    _maniskill3_python() is None,
    reason="needs the ManiSkill3 environment (vla-eval env create maniskill3); CI does not build it",
)
def test_maniskill3_golden_trace(tmp_path):
    pairs = record_and_replay(tmp_path, "maniskill3", "random", "0", "0", "--max-steps", "20")
    ((ta, tb),) = pairs
    assert ta.steps == 20 and np.ptp(ta.state[:, :7], axis=0).max() > 1e-3  # the arm moved


def test_report_and_html_link_each_failed_episodes_video_and_trajectory(tmp_path, capsys):
    from vla_eval.cli import main

    out = tmp_path / "run"
    _run(
        "--suite",
        "toy_reach",
        "--policy",
        "tests.toy_policies:CameraPolicy",
        "--tasks",
        "0",
        "--episodes",
        "0:2",
        "--max-steps",
        "5",
        "--record-video",
        "failures",
        "--record-trajectory",
        "--out",
        str(out),
    )
    rows = list(read_rows(out / EPISODES_FILE))
    assert len(rows) == 2 and not any(r["success"] for r in rows)
    with pytest.raises(SystemExit):
        main(["report", str(out)])
    printed = capsys.readouterr().out
    md = (out / "report.md").read_text()
    for r in rows:
        eid = r["episode_id"]
        assert (out / "videos" / f"{eid}.mp4").exists() and (out / "trajectories" / f"{eid}.npz").exists()
        assert f"[mp4](videos/{eid}.mp4) | [npz](trajectories/{eid}.npz)" in md
        assert f"videos/{eid}.mp4, trajectories/{eid}.npz" in printed
    board = tmp_path / "board.html"
    with pytest.raises(SystemExit):
        main(["report", str(out), "--format", "html", "--output", str(board)])
    html = board.read_text()
    for r in rows:
        assert f'href="run/trajectories/{r["episode_id"]}.npz"' in html
        assert f'href="run/videos/{r["episode_id"]}.mp4"' in html


def _bridge_assets() -> str | None:
    import os

    for cand in (os.environ.get("MS_ASSET_DIR"), str(ROOT.parent / "shared" / "assets" / "maniskill_bridge")):
        if cand and (Path(cand) / "data" / "tasks" / "bridge_v2_real2sim_dataset").is_dir():
            return cand
    return None


@pytest.mark.sim
@pytest.mark.skipif(
    _maniskill3_python() is None or _bridge_assets() is None,
    reason="needs the ManiSkill3 environment and the Bridge assets",
)
def test_simpler_widowx_golden_trace(tmp_path):
    import os

    env = {**os.environ, "MS_ASSET_DIR": str(_bridge_assets())}
    ((ta, tb),) = record_and_replay(tmp_path, "simpler_widowx", "random", "0", "0", "--max-steps", "10", env=env)
    assert ta.steps == 10 and ta.state.shape[1] == 15  # ee xyz, quat wxyz, qpos 8
