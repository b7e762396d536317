"""RoboTwin 2.0 integration test: runs wherever RoboTwin (ROBOTWIN_ROOT, SAPIEN 3.0.0b1, a GPU) is
installed, in this interpreter or the suite's environment (.venvs/robotwin); skips otherwise.
Not run here: the project's machines have no GPU and cannot fetch RoboTwin's hub assets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.sim


def suite_python(folder: str) -> str:
    envs = Path(os.environ.get("VLA_EVAL_ENVS", ROOT / ".venvs"))
    py = envs / folder / "bin" / "python"
    return str(py) if py.exists() else sys.executable


def availability(suite: str, py: str) -> tuple[bool, str]:
    code = (
        "from vla_eval.suite import get_suite; import json; "
        f"print('AV' + json.dumps(get_suite({suite!r}).availability()))"
    )
    r = subprocess.run([py, "-c", code], capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("AV")]
    if not lines:
        return False, (r.stderr.strip().splitlines() or ["no output"])[-1]
    ok, why = json.loads(lines[-1][2:])
    return ok, why


def run_one_episode(suite: str, folder: str, tmp_path: Path) -> dict:
    py = suite_python(folder)
    ok, why = availability(suite, py)
    if not ok:
        pytest.skip(f"{suite} is not installed here: {why}")
    out = tmp_path / "run"
    cmd = [
        py,
        "-m",
        "vla_eval.cli",
        "run",
        "--suite",
        suite,
        "--policy",
        "noop",
        "--tasks",
        "0",
        "--episodes",
        "0:1",
        "--max-steps",
        "5",
        "--out",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["status"] == "ok", rows
    return rows[0]


def test_robotwin_easy_one_episode(tmp_path):
    row = run_one_episode("robotwin_easy", "robotwin", tmp_path)
    assert row["metrics"]["env_seed"] >= 100000 and row["metrics"]["instruction"]
