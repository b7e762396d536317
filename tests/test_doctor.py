"""`vla-eval doctor SUITE`: real smoke episodes where the simulator runs here (toy_reach, LIBERO);
RoboTwin's checks against the faithful fake checkout (tests/fake_robotwin.py): a missing
import-time dependency (h5py, cuRobo) fails, the complete set passes and runs the smoke episode."""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.fake_robotwin import make_fake_root, write_packages
from tests.test_robotwin import fake_packages
from vla_eval.diagnose import Dependency, Finding, dependency_findings, version_findings
from vla_eval.suite import TaskSpec, get_suite
from vla_eval.suites.robotwin import requirements

ROOT = Path(__file__).resolve().parents[1]


def doctor(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vla_eval.cli", "doctor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_toy_reach_is_ready_with_a_real_smoke_episode():
    r = doctor("toy_reach")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert all(ln.startswith("ok ") for ln in lines)
    assert any("smoke episode" in ln and "ran 5 step(s)" in ln for ln in lines)
    assert "toy_reach: ready" in r.stderr


@pytest.mark.sim
def test_libero_is_ready_with_a_real_smoke_episode():
    r = doctor("libero_spatial", "--smoke-steps", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok       render device (EGL)" in r.stdout
    assert any("smoke episode" in ln and "ran 3 step(s)" in ln for ln in r.stdout.splitlines())


def test_a_failing_smoke_episode_is_a_problem(tmp_path):
    # the toy suite's fault injection: the simulator raises at step 1 of task 0 episode 0
    faults = json.dumps([{"kind": "raise", "task": 0, "episode": 0, "step": 1, "times": 5}])
    r = doctor("toy_reach", env={"VLA_EVAL_TOY_FAULTS": faults, "VLA_EVAL_TOY_FAULT_DIR": str(tmp_path)})
    assert r.returncode == 1, r.stdout + r.stderr
    bad = [ln for ln in r.stdout.splitlines() if ln.startswith("PROBLEM")]
    assert len(bad) == 1 and "smoke episode" in bad[0] and "status error" in bad[0] and "-- fix:" in bad[0]


def test_unknown_suite_is_exit_2():
    r = doctor("no_such_suite")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1


def test_robotwin_without_checkout_says_what_to_run(monkeypatch):
    env = {k: v for k, v in os.environ.items() if k != "ROBOTWIN_ROOT"}
    r = subprocess.run(
        [sys.executable, "-m", "vla_eval.cli", "doctor", "robotwin_easy"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert r.returncode == 1
    # Whether a Vulkan driver is found depends on the machine (and on whether the lavapipe ICD was
    # built yet); the checkout problem must be reported either way, once, with its fix.
    bad = [ln for ln in r.stdout.splitlines() if ln.startswith("PROBLEM") and "render device" not in ln]
    assert bad == [bad[0]] and "checkout" in bad[0] and "fix: vla-eval env create robotwin_easy" in bad[0]


def test_helpers_report_missing_modules_and_versions():
    found = dependency_findings([Dependency("json", "json", "x.py"), Dependency("no_such_mod_x", "nsm==1", "y.py")])
    assert found == [Finding("import no_such_mod_x", False, "not installed (imported by y.py)", "pip install 'nsm==1'")]
    v = {f.check: f for f in version_findings({"numpy": np.__version__, "msgpack": "0.0.1"})}
    assert v["version numpy"].ok and not v["version msgpack"].ok
    assert v["version msgpack"].fix == "pip install 'msgpack==0.0.1'"
    assert Finding("a", False, "b", "c").line() == "PROBLEM  a: b -- fix: c"


def test_dependency_table_matches_the_recipe():
    import tomllib

    env = tomllib.loads((ROOT / "suites" / "robotwin" / "env.toml").read_text())
    reqs = set(env["requirements"])
    for d in requirements.DEPENDENCIES:
        if d.module == "curobo":
            continue  # built by setup_env.sh
        assert d.requirement in reqs, d
    assert f"torch=={requirements.TORCH}" in reqs
    dom = tomllib.loads((ROOT / "suites" / "domino" / "env.toml").read_text())
    assert set(dom["requirements"]) == reqs


# --- the faithful fake: a missing import-time dependency fails as upstream --------------------
@pytest.mark.parametrize(
    "missing, says",
    [
        ("h5py", "No module named 'h5py'"),  # envs/utils/__init__.py -> pkl2hdf5.py
        ("curobo", "cannot import name 'CuroboPlanner'"),  # envs/robot/robot.py -> planner.py
        ("sapien", "No module named 'sapien'"),
    ],
)
def test_fake_checkout_fails_without_an_import_time_dependency(tmp_path, monkeypatch, missing, says):
    from vla_eval.suites.robotwin.driver import RoboTwinEnv, import_check

    root = make_fake_root(tmp_path)
    monkeypatch.setenv("ROBOTWIN_ROOT", str(root))
    monkeypatch.setenv("VLA_EVAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    suite = get_suite("robotwin_easy")
    with fake_packages(tmp_path / "site", omit=[missing]):
        f = import_check(root, "fake_task", requirements.DEPENDENCIES)
        assert not f.ok and says in f.detail
        if missing == "h5py":
            assert f.fix == "pip install 'h5py==3.11.0'"
        ok, why = suite.availability()
        assert not ok and missing in why
        proto = replace(suite.protocol, tasks=(TaskSpec("fake_task", "fake task", 1, 7),))
        with pytest.raises(ImportError):
            RoboTwinEnv(proto, 0)
    with fake_packages(tmp_path / "site2"):  # the complete set
        assert import_check(root, "fake_task", requirements.DEPENDENCIES).ok
        assert suite.availability() == (True, "")


def _doctor_on_fake(tmp_path: Path, omit=()) -> subprocess.CompletedProcess:
    root = make_fake_root(tmp_path, task_names=("adjust_bottle",))
    site = write_packages(tmp_path / "site", names=[*requirements_names(), "torch"], omit=omit)
    icd = tmp_path / "icd.json"
    icd.write_text(json.dumps({"file_format_version": "1.0.0", "ICD": {"library_path": "libvulkan_fake.so"}}))
    env = {
        "ROBOTWIN_ROOT": str(root),
        "VLA_EVAL_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
        "VK_ICD_FILENAMES": str(icd),
        "CUDA_VISIBLE_DEVICES": "",
    }
    return doctor("robotwin_easy", env=env, timeout=900)


def requirements_names():
    from tests.fake_robotwin import MISSING_HERE

    return MISSING_HERE


def test_doctor_on_the_fake_checkout_runs_the_smoke_episode(tmp_path):
    r = _doctor_on_fake(tmp_path)
    lines = r.stdout.splitlines()
    if ctypes.util.find_library("vulkan") is None:  # no Vulkan loader on this machine: that is the problem
        bad = [ln for ln in lines if ln.startswith("PROBLEM")]
        assert r.returncode == 1 and len(bad) == 1 and "render device (Vulkan)" in bad[0], r.stdout + r.stderr
        return
    assert r.returncode == 0, r.stdout + r.stderr
    text = "\n".join(lines)
    for check in (
        "checkout",
        "import-time dependencies",
        "version sapien: 3.0.0b1",
        "version torch: 2.4.1",
        "patch mplib/planner.py: applied",
        "assets",
        "import the upstream code",
        "CUDA device: fake GPU",
        "render device (Vulkan)",
        "prepare: ROBOTWIN_ROOT=",
    ):
        assert f"ok       {check}" in text, check
    assert any("smoke episode" in ln and "ran 5 step(s)" in ln for ln in lines)


def test_doctor_on_the_fake_checkout_names_the_missing_dependency(tmp_path):
    r = _doctor_on_fake(tmp_path, omit=["h5py"])
    assert r.returncode == 1
    bad = [ln for ln in r.stdout.splitlines() if ln.startswith("PROBLEM")]
    assert bad[0] == (
        "PROBLEM  import h5py: not installed (imported by envs/utils/pkl2hdf5.py (via envs/utils/__init__.py)) "
        "-- fix: pip install 'h5py==3.11.0'"
    )
    assert not any("smoke episode" in ln for ln in r.stdout.splitlines())  # no smoke run on a broken setup
