"""Issue 14 on the toy suite, through the public harness: a candidate that breaks on part of the
suite fails the gate, and a second concurrent run into one OUT is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vla_eval.cli import main
from vla_eval.ledger import EPISODES_FILE, read_rows
from vla_eval.runner import RunConfig, run
from vla_eval.suite import get_suite

ROOT = Path(__file__).resolve().parents[1]


def cli(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main([*map(str, args)])
    out, err = capsys.readouterr()
    return e.value.code, out, err


def test_half_broken_candidate_fails_the_gate_and_lists_the_broken_episodes(tmp_path, capsys):
    ids = sorted(s.episode_id for s in get_suite("toy_reach").plan())
    assert len(ids) == 24
    broken = ids[:11]  # NaN actions in 11 of the 24 episodes
    base, cand = tmp_path / "base", tmp_path / "cand"
    assert (
        run(RunConfig(suite="toy_reach", policy="tests.toy_policies:ToyExpert", out=base, replan_steps=1, workers=2))
        == 0
    )
    assert (
        run(
            RunConfig(
                suite="toy_reach",
                policy="tests.toy_policies:HalfBrokenExpert",
                out=cand,
                replan_steps=1,
                workers=2,
                policy_args=(f"broken={','.join(broken)}",),
            )
        )
        == 0
    )
    rows = {r["episode_id"]: r for r in read_rows(cand / EPISODES_FILE)}
    assert {i for i, r in rows.items() if r["error_class"] == "policy"} == set(broken)
    assert all(rows[i]["success"] for i in ids[11:])
    capsys.readouterr()

    # the report counts the broken episodes as failures, and shows them on their own
    code, out, _ = cli(capsys, "report", cand, "--format", "csv")
    assert code == 0
    suite_row = next(line for line in out.splitlines() if line.startswith("toy_reach,all,"))
    assert suite_row.split(",")[3:5] == ["24", "13"] and suite_row.endswith(",0,11")  # n 24, 13 successes

    # the gate: exit 1, and every broken episode is listed with its error
    code, out, _ = cli(capsys, "compare", base, cand)
    assert code == 1, out
    assert "REGRESSION" in out and "success → failure: 11 episode(s)" in out
    for i in broken:
        assert f"[{i}]: policy error: policy 'tests.toy_policies:HalfBrokenExpert', episode {i}" in out
    assert "policy errors (counted as failures) in toy_reach: base 0, candidate 11" in out


def _run_cmd(out: Path, episodes: str = "0:8") -> list[str]:
    return [
        sys.executable,
        "-m",
        "vla_eval.cli",
        "run",
        "--suite",
        "toy_reach",
        "--policy",
        "tests.toy_policies:ToyExpert",
        "--tasks",
        "0",
        "--episodes",
        episodes,
        "--replan-steps",
        "1",
        "--out",
        str(out),
    ]


def test_second_concurrent_run_is_refused_and_a_killed_runs_lock_does_not_block_resume(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "VLA_EVAL_TOY_STEP_DELAY": "0.05", "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(
        _run_cmd(out), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.time() + 120
        while not (out / EPISODES_FILE).exists() or not list(read_rows(out / EPISODES_FILE)):
            assert first.poll() is None, first.stderr.read().decode()
            assert time.time() < deadline, "the first run wrote no episode in time"
            time.sleep(0.2)
        before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != EPISODES_FILE}
        second = subprocess.run(_run_cmd(out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        lines = [x for x in second.stderr.splitlines() if x.strip()]
        assert second.returncode == 2, second.stderr
        assert len(lines) == 1 and lines[0].startswith("error: --out ") and "in use by another vla-eval run" in lines[0]
        assert f"(pid {first.pid})" in lines[0]
        after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != EPISODES_FILE}
        assert after == before  # the refused run wrote nothing
        os.killpg(first.pid, signal.SIGKILL)  # a killed run: its lock dies with it
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
    done_before = len({r["episode_id"] for r in read_rows(out / EPISODES_FILE)})
    assert done_before < 8
    resumed = subprocess.run(
        _run_cmd(out),
        cwd=ROOT,
        env={**env, "VLA_EVAL_TOY_STEP_DELAY": "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    rows = list(read_rows(out / EPISODES_FILE))
    assert len(rows) == 8 and len({r["episode_id"] for r in rows}) == 8  # each episode once


def test_runs_that_start_together_write_each_episode_once(tmp_path):
    """Two runs started at the same moment: one runs, the other is refused (or finds all done)."""
    out = tmp_path / "run"
    env = {**os.environ, "VLA_EVAL_TOY_STEP_DELAY": "0.01", "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            _run_cmd(out, "0:4"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    codes = []
    for p in procs:
        _, err = p.communicate(timeout=300)
        codes.append((p.returncode, err))
    assert sorted(c for c, _ in codes)[0] == 0, codes
    for c, err in codes:
        assert c == 0 or (c == 2 and "in use by another vla-eval run" in err), err
    rows = list(read_rows(out / EPISODES_FILE))
    assert len(rows) == 4 and len({r["episode_id"] for r in rows}) == 4
    assert json.loads((out / "run.json").read_text())["config"]["suite"] == "toy_reach"
