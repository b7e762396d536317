"""Per-suite environments: build one, run a suite's workers in it, refuse what cannot run."""

import subprocess
import sys
from pathlib import Path

import pytest

from vla_eval.errors import UsageError
from vla_eval.ledger import EPISODES_FILE, read_rows
from vla_eval.runner import RunConfig, run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toy_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("envs")
    r = subprocess.run(
        [sys.executable, "-m", "vla_eval.cli", "env", "create", "toy_reach"],
        cwd=ROOT,
        env={**__import__("os").environ, "VLA_EVAL_ENVS": str(root)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    return root


def test_env_create_builds_a_separate_interpreter(toy_env, monkeypatch, tmp_path):
    py = toy_env / "toy" / "bin" / "python"
    assert py.exists() and (toy_env / "toy" / ".vla-eval-env.json").exists()
    # the suite env has the worker's needs and vla_eval, but not the runner's (tyro, rich, pandas)
    r = subprocess.run(
        [str(py), "-c", "import numpy, msgpack, vla_eval.worker; import tyro"], capture_output=True, text=True
    )
    assert r.returncode != 0 and "No module named 'tyro'" in r.stderr
    monkeypatch.setenv("VLA_EVAL_ENVS", str(toy_env))
    out = tmp_path / "out"
    assert (
        run(
            RunConfig(
                suite="toy_reach",
                policy="tests.toy_policies:ToyExpert",
                out=out,
                tasks="0",
                episodes="0:3",
                replan_steps=1,
                workers=2,
            )
        )
        == 0
    )
    rows = list(read_rows(out / EPISODES_FILE))
    assert len(rows) == 3 and all(r["status"] == "ok" and r["success"] for r in rows)
    # the workers ran in the suite's environment, the policy in this one
    assert {r["metrics"]["worker_prefix"] for r in rows} == {str(toy_env / "toy")}
    assert sys.prefix != str(toy_env / "toy")


def test_env_create_is_idempotent(toy_env, monkeypatch, capsys):
    from vla_eval import envs

    monkeypatch.setenv("VLA_EVAL_ENVS", str(toy_env))
    envs.create("toy_reach")
    assert "is up to date" in capsys.readouterr().err


def test_a_broken_suite_environment_is_one_line(tmp_path, monkeypatch):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named vla_eval' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(UsageError, match="cannot start a worker: ModuleNotFoundError"):
        run(RunConfig(suite="toy_reach", policy="noop", out=tmp_path / "o", python=str(fake)))
    assert not (tmp_path / "o").exists()
    with pytest.raises(UsageError, match="does not exist"):
        run(RunConfig(suite="toy_reach", policy="noop", out=tmp_path / "o", python=str(tmp_path / "nope")))


def test_env_create_unknown_suite():
    r = subprocess.run(
        [sys.executable, "-m", "vla_eval.cli", "env", "create", "nope"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 2 and r.stderr.startswith("error: unknown suite 'nope'")
