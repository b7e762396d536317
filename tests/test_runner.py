"""The runner, rollout loop, ledger and report on the toy suite (no simulator, subprocess workers)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import toy_policies
from vla_eval.errors import UsageError
from vla_eval.ledger import EPISODES_FILE, read_rows
from vla_eval.runner import RunConfig, run

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = {
    "episode_id",
    "suite",
    "protocol_version",
    "task",
    "episode_index",
    "seed",
    "policy",
    "checkpoint",
    "harness_version",
    "status",
    "error",
    "success",
    "steps",
    "metrics",
    "timing",
}


def rows(out: Path) -> list[dict]:
    return list(read_rows(out / EPISODES_FILE))


def cfg(out, policy="tests.toy_policies:ToyExpert", **kw) -> RunConfig:
    return RunConfig(suite="toy_reach", policy=policy, out=out, **kw)


def test_expert_solves_toy_with_two_workers(tmp_path):
    assert run(cfg(tmp_path, workers=2, replan_steps=1)) == 0
    r = rows(tmp_path)
    assert len(r) == 24 and len({x["episode_id"] for x in r}) == 24
    assert all(REQUIRED <= set(x) for x in r)
    assert all(x["status"] == "ok" and x["success"] for x in r)
    assert all(set(x["timing"]) == {"sim_s", "policy_s", "harness_s", "total_s"} for x in r)
    # rows of the current schema: success stored once, outside metrics
    assert all(x["schema_version"] == 2 and "success" not in x["metrics"] for x in r)
    assert (tmp_path / "report.md").exists() and (tmp_path / "report.csv").exists()
    # both workers took episodes from the one queue
    assert all((tmp_path / "logs" / f"worker-{i}.log").exists() for i in range(2))


def test_noop_fails_and_interval_is_reported(tmp_path):
    assert run(cfg(tmp_path, policy="noop", tasks="0", episodes="0:4")) == 0
    r = rows(tmp_path)
    assert [x["success"] for x in r] == [False] * 4 and all(x["steps"] == 40 for x in r)
    csv = (tmp_path / "report.csv").read_text().splitlines()
    assert csv[0].startswith("suite,task_index,task,n,successes,sr,ci_low,ci_high,errors")
    assert any(line.startswith("toy_reach,all,") for line in csv)


def test_resume_skips_finished(tmp_path, capsys):
    run(cfg(tmp_path, replan_steps=1, tasks="0", episodes="0:3"))
    first = rows(tmp_path)
    capsys.readouterr()
    run(cfg(tmp_path, replan_steps=1, tasks="0"))
    assert "skipped 3 finished episode(s), 5 to run" in capsys.readouterr().err
    second = rows(tmp_path)
    assert second[:3] == first and len(second) == 8 and len({x["episode_id"] for x in second}) == 8


def test_other_configuration_is_refused_and_nothing_written(tmp_path):
    run(cfg(tmp_path, replan_steps=1, tasks="0", episodes="0:2"))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(UsageError, match="another configuration.*policy"):
        run(cfg(tmp_path, policy="noop", tasks="0", episodes="0:2"))
    with pytest.raises(UsageError, match="replan_steps"):
        run(cfg(tmp_path, replan_steps=2, tasks="0", episodes="0:2"))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_torn_last_line_is_rerun(tmp_path, capsys):
    run(cfg(tmp_path, replan_steps=1, tasks="1", episodes="0:3"))
    path = tmp_path / EPISODES_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    torn_id = json.loads(lines[-1])["episode_id"]
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # crash mid-write
    assert len(rows(tmp_path)) == 2  # the torn line is not read as a row
    capsys.readouterr()
    run(cfg(tmp_path, replan_steps=1, tasks="1", episodes="0:3"))
    err = capsys.readouterr().err
    assert "torn line" in err and "1 to run" in err
    r = rows(tmp_path)
    assert len(r) == 3 and r[-1]["episode_id"] == torn_id
    assert all(line.endswith(b"\n") for line in path.read_bytes().splitlines(keepends=True))


def test_determinism(tmp_path):
    keep = ("episode_id", "status", "success", "steps", "metrics")
    outs = []
    for name in ("a", "b"):
        run(cfg(tmp_path / name, policy="random", policy_args=("seed=3",), workers=2))
        outs.append(sorted([{k: x[k] for k in keep} for x in rows(tmp_path / name)], key=lambda x: x["episode_id"]))
    assert outs[0] == outs[1]
    assert len({json.dumps(x["metrics"]) for x in outs[0]}) > 1  # the episodes really differ


@pytest.mark.parametrize(
    "policy, needle",
    [
        ("tests.toy_policies:BadValuePolicy", "action[1, 1] = nan is not finite"),
        ("tests.toy_policies:WrongShapePolicy", "shape (1, 3); expected [H>=1, 2]"),
        ("tests.toy_policies:IntActionPolicy", "dtype is int64"),
    ],
)
def test_bad_actions_end_the_episode_with_an_error(tmp_path, policy, needle):
    assert run(cfg(tmp_path, policy=policy, tasks="0", episodes="0:2", in_process=True)) == 0
    r = rows(tmp_path)
    assert len(r) == 2
    for x in r:
        assert x["status"] == "error" and x["error_class"] == "policy" and not x["success"]
        assert needle in x["error"] and policy in x["error"] and x["episode_id"] in x["error"]
    report = (tmp_path / "report.csv").read_text()
    assert "toy_reach,all,2 task(s)" not in report  # sanity: one task
    # policy errors are failures of the policy: n = 2, SR 0, 0 incomplete, 2 policy errors
    assert "toy_reach,all,1 task(s),2,0,0.0,0.0," in report and report.strip().endswith(",0,2")


def test_replan_steps_sets_how_often_the_policy_is_asked(tmp_path):
    counts = {}
    for k in (1, 4):
        toy_policies.ToyExpert.calls = 0
        run(cfg(tmp_path / str(k), policy="noop", tasks="0", episodes="0"))  # warm nothing; noop runs 40 steps
        toy_policies.ToyExpert.calls = 0
        run(
            cfg(tmp_path / f"e{k}", tasks="0", episodes="0", replan_steps=k, in_process=True, policy_args=("gain=0.2",))
        )
        counts[k] = (toy_policies.ToyExpert.calls, rows(tmp_path / f"e{k}")[0]["steps"])
    calls1, steps1 = counts[1]
    calls4, steps4 = counts[4]
    assert calls1 == steps1
    assert calls4 == -(-steps4 // 4)


def test_cameras_are_rendered_only_when_asked(tmp_path):
    toy_policies.CameraPolicy.seen.clear()
    run(cfg(tmp_path / "cam", policy="tests.toy_policies:CameraPolicy", tasks="0", episodes="0", in_process=True))
    assert toy_policies.CameraPolicy.seen and all(
        s == {"top": ((16, 16, 3), "|u1")} for s in toy_policies.CameraPolicy.seen
    )


def _cli(args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "vla_eval.cli", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw
    )


def test_kill_9_then_resume_gives_the_same_table(tmp_path):
    args = ["run", "--suite", "toy_reach", "--policy", "random", "--policy-args", "seed=1", "--workers", "2"]
    ref = _cli([*args, "--out", str(tmp_path / "ref")])
    assert ref.wait(timeout=120) == 0, ref.stderr.read().decode()

    env = {**os.environ, "VLA_EVAL_TOY_STEP_DELAY": "0.01"}  # ~0.4 s per episode: room to kill mid-run
    out = tmp_path / "killed"
    p = _cli([*args, "--out", str(out)], env=env, start_new_session=True)
    deadline = time.time() + 60
    while len(rows(out)) < 4 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    done = len(rows(out))
    assert 4 <= done < 24, done
    again = _cli([*args, "--out", str(out)])
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    assert f"skipped {done} finished" in err.decode()
    r = rows(out)
    assert len(r) == 24 and len({x["episode_id"] for x in r}) == 24  # nothing lost, nothing twice
    assert (out / "report.csv").read_text() == (tmp_path / "ref" / "report.csv").read_text()


def test_policy_exception_stops_the_run_and_loses_nothing(tmp_path, capsys):
    assert run(cfg(tmp_path, policy="tests.toy_policies:RaisingPolicy", tasks="0", episodes="0:2")) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and "policy 'tests.toy_policies:RaisingPolicy' raised" in err
    assert rows(tmp_path) == []  # the interrupted episodes are not recorded as failures


def test_workers_keep_to_the_task_whose_env_they_hold(tmp_path):
    """Affinity: 2 workers, 2 tasks of 4 episodes: each worker runs one task, so each env is built once."""
    run(cfg(tmp_path, policy="noop", tasks="0:2", episodes="0:4", workers=2))
    by_worker = {}
    for x in rows(tmp_path):
        by_worker.setdefault(x["worker"], set()).add(x["task_index"])
    assert sorted(by_worker) == [0, 1] and sorted(len(t) for t in by_worker.values()) == [1, 1]
