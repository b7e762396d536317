"""Fault injection: crashed, hung and raising simulators; Ctrl-C; GPU placement; batching."""

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


def rows(out):
    return {r["episode_id"]: r for r in read_rows(Path(out) / EPISODES_FILE)}


def faults(monkeypatch, tmp_path, *specs):
    monkeypatch.setenv("VLA_EVAL_TOY_FAULTS", json.dumps(list(specs)))
    d = tmp_path / "faults"
    d.mkdir(exist_ok=True)
    monkeypatch.setenv("VLA_EVAL_TOY_FAULT_DIR", str(d))


def by_index(rs):
    return {(r["task_index"], r["episode_index"]): r for r in rs.values()}


def cfg(out, **kw):
    kw.setdefault("policy", "tests.toy_policies:ToyExpert")
    kw.setdefault("replan_steps", 1)
    return RunConfig(suite="toy_reach", out=out, tasks="0", episodes="0:4", workers=2, **kw)


@pytest.mark.parametrize("kind", ["crash", "raise"])
def test_worker_death_or_exception_is_retried(monkeypatch, tmp_path, capsys, kind):
    faults(monkeypatch, tmp_path, {"kind": kind, "task": 0, "episode": 1, "step": 3, "times": 1})
    assert run(cfg(tmp_path / "out")) == 0
    r = by_index(rows(tmp_path / "out"))
    assert len(r) == 4 and all(x["status"] == "ok" and x["success"] for x in r.values())
    assert r[(0, 1)]["attempts"] == 2 and r[(0, 0)]["attempts"] == 1
    err = capsys.readouterr().err
    assert "attempt 1 failed" in err
    assert ("SIGSEGV" in err) if kind == "crash" else ("injected simulator fault" in err)


def test_persistent_crash_becomes_an_infrastructure_error_not_a_failure(monkeypatch, tmp_path):
    faults(monkeypatch, tmp_path, {"kind": "crash", "task": 0, "episode": 2, "step": 1, "times": 99})
    assert run(cfg(tmp_path / "out", max_retries=1)) == 0
    r = by_index(rows(tmp_path / "out"))
    bad = r[(0, 2)]
    assert bad["status"] == "error" and bad["error_class"] == "infrastructure" and bad["attempts"] == 2
    assert "was killed by SIGSEGV" in bad["error"]
    assert all(x["status"] == "ok" for k, x in r.items() if k != (0, 2))
    csv = (tmp_path / "out" / "report.csv").read_text()
    assert "toy_reach,all,1 task(s),3,3,1.0," in csv and csv.strip().endswith(
        ",1,0"
    )  # n=3 ok, 1 error apart, 0 policy errors


def test_hang_is_killed_by_the_watchdog_and_retried(monkeypatch, tmp_path):
    faults(monkeypatch, tmp_path, {"kind": "hang", "task": 0, "episode": 0, "step": 2, "times": 1})
    t0 = time.time()
    assert run(cfg(tmp_path / "out", reply_timeout=2.0)) == 0
    assert time.time() - t0 < 30
    r = by_index(rows(tmp_path / "out"))
    assert r[(0, 0)]["status"] == "ok" and r[(0, 0)]["attempts"] == 2


def test_persistent_hang_is_a_timeout_error(monkeypatch, tmp_path):
    faults(monkeypatch, tmp_path, {"kind": "hang", "task": 0, "episode": 3, "step": 0, "times": 99})
    assert run(cfg(tmp_path / "out", reply_timeout=1.5, max_retries=0)) == 0
    r = by_index(rows(tmp_path / "out"))
    assert r[(0, 3)]["status"] == "error" and r[(0, 3)]["error_class"] == "timeout"
    assert "no reply from env worker" in r[(0, 3)]["error"]


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path):
    out = tmp_path / "out"
    args = [
        sys.executable,
        "-m",
        "vla_eval.cli",
        "run",
        "--suite",
        "toy_reach",
        "--policy",
        "random",
        "--workers",
        "2",
        "--out",
        str(out),
    ]
    env = {**os.environ, "VLA_EVAL_TOY_STEP_DELAY": "0.01"}
    p = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while len(rows(out)) < 3 and time.time() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err.decode()
    assert "run the same command to resume" in err.decode() and "Traceback" not in err.decode()
    done = len(rows(out))
    # no worker outlives the runner
    left = subprocess.run(["pgrep", "-f", "vla_eval.worker --suite toy_reach"], capture_output=True, text=True)
    assert str(out) not in left.stdout
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and f"skipped {done} finished" in r.stderr
    assert len(rows(out)) == 24


class DeviceProbe(toy_policies.ToyExpert):
    """Records which CUDA device its process was given, per replica process."""

    def metadata(self):
        from vla_eval.types import PolicySpec

        return PolicySpec(name="device_probe", action_dim=2, horizon=1, privileged=True)

    def infer_batch(self, observations):
        log = Path(os.environ["DEVICE_PROBE_LOG"])
        with open(log, "a") as f:
            for o in observations:
                f.write(f"{os.environ.get('CUDA_VISIBLE_DEVICES')} {o.env_id}\n")
        return super().infer_batch(observations)[:, :1]


def test_one_policy_replica_per_gpu_and_workers_pinned(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # two logical GPUs; nothing touches a real device
    monkeypatch.setenv("DEVICE_PROBE_LOG", str(tmp_path / "probe.log"))
    out = tmp_path / "out"
    assert (
        run(RunConfig(suite="toy_reach", policy="tests.test_survival:DeviceProbe", out=out, workers=4, episodes="0:4"))
        == 0
    )
    seen = {tuple(line.split()) for line in (tmp_path / "probe.log").read_text().splitlines()}
    # worker i is tied to replica i mod 2, and that replica runs on GPU i mod 2
    assert {(gpu, env_id) for gpu, env_id in seen} == {("0", "0"), ("1", "1"), ("0", "2"), ("1", "3")}
    assert all(r["success"] for r in rows(out).values())
    logs = sorted(p.name for p in (out / "logs").iterdir())
    assert logs == [f"worker-{i}.log" for i in range(4)]


def test_more_gpus_than_exist_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(UsageError, match=r"GPU 1 not visible here \(visible: 0\)"):
        run(RunConfig(suite="toy_reach", policy="noop", out=tmp_path / "o", gpus="0,1"))
    assert not (tmp_path / "o").exists()


class BatchSizes(toy_policies.ToyExpert):
    sizes: list = []

    def infer_batch(self, observations):
        type(self).sizes.append(len(observations))
        return super().infer_batch(observations)


def test_observations_of_all_workers_are_batched(monkeypatch, tmp_path):
    BatchSizes.sizes = []
    monkeypatch.setenv("VLA_EVAL_TOY_STEP_DELAY", "0.002")
    assert (
        run(
            RunConfig(
                suite="toy_reach",
                policy="tests.test_survival:BatchSizes",
                out=tmp_path / "o",
                workers=3,
                replan_steps=1,
                batch_wait_ms=50,
                gpus="none",
            )
        )
        == 0
    )
    assert max(BatchSizes.sizes) == 3
    assert sum(s == 3 for s in BatchSizes.sizes) > len(BatchSizes.sizes) / 2


def test_workers_die_with_a_killed_runner(monkeypatch, tmp_path):
    """kill -9 of the runner takes its workers along, even one stuck in a hung simulator."""
    out = tmp_path / "out"
    env = {
        **os.environ,
        "VLA_EVAL_TOY_FAULTS": json.dumps([{"kind": "hang", "task": 0, "episode": 0, "step": 1, "times": 9}]),
        "VLA_EVAL_TOY_FAULT_DIR": str(tmp_path),
    }
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vla_eval.cli",
            "run",
            "--suite",
            "toy_reach",
            "--policy",
            "noop",
            "--tasks",
            "0",
            "--episodes",
            "0",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while not (tmp_path / "fault-0").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "fault-0").exists()  # the worker is now hung in the simulator
    log = str(out / "logs" / "worker-0.log")
    assert _writing_to(log)  # the worker (its stdout is its log file) is alive
    p.kill()
    p.wait()
    deadline = time.time() + 10
    while _writing_to(log) and time.time() < deadline:
        time.sleep(0.1)
    assert not _writing_to(log)


def _writing_to(path: str) -> list[int]:
    """PIDs whose stdout is ``path``."""
    pids = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and os.readlink(d / "fd" / "1") == path:
                pids.append(int(d.name))
        except OSError:
            pass
    return pids
