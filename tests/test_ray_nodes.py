"""--executor ray beyond one node: a head and a second Ray node on this machine (loopback only,
each with its own node id and resources); env actors spread over both; the second node's
processes are killed mid-run. The run completes, the lost episodes are retried (attempts in
their rows), no episode is lost or doubled, and the table equals an undisturbed run's.
Skipped when ray is not installed.

The Ray driver runs in a fresh process (tests/ray_nodes_driver.py): a process that already used
Ray keeps client state across ``ray.shutdown()`` (a local ``ray.init()`` switches token
authentication on for the rest of the process), which breaks the next cluster's actors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from vla_eval.ledger import EPISODES_FILE, read_rows
from vla_eval.runner import RunConfig, run

pytest.importorskip("ray")

from tests.ray_nodes_driver import EPISODES, kill_tree  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HEAD_IP, SECOND_IP = "127.0.0.2", "127.0.0.3"  # loopback addresses (Ray rewrites 127.0.0.1 to the host's IP)
STEP_DELAY = "0.05"  # seconds per toy step: episodes last long enough to be cut by the node's death
# The cluster notices a dead node in seconds instead of the default ~30 s (read by the head's GCS);
# no token authentication (it switches itself on when another Ray run left a token in ~/.ray).
RAY_ENV = {
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_AUTH_MODE": "disabled",
    "PYTHONPATH": str(ROOT),
    "VLA_EVAL_TOY_STEP_DELAY": STEP_DELAY,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))  # free on every interface
        return s.getsockname()[1]


def _ray_start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`ray start ... --block` in its own session (the node's processes are all under it)."""
    cmd = [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--block",
        "--num-gpus=0",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
        *args,
    ]
    with open(log, "w") as f:
        return subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    kill_tree(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _wait_started(proc: subprocess.Popen, log: Path, deadline: float) -> None:
    """Until `ray start` says the node is up (it has registered with the head's GCS)."""
    while "Ray runtime started" not in log.read_text():
        assert proc.poll() is None, f"ray start exited:\n{log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"the Ray node did not come up in time:\n{log.read_text()[-2000:]}"
        time.sleep(0.5)


@pytest.fixture
def two_nodes():
    """A Ray head (4 CPUs, on 127.0.0.2) and a second node (2 CPUs, resource "second_node", on
    127.0.0.3), each `ray start` in its own session. Yields (address, the second's Popen)."""
    tmp = Path(tempfile.mkdtemp(prefix="vr"))  # short: Ray's socket paths must stay under 108 bytes
    env = {**os.environ, **RAY_ENV}
    address = f"{HEAD_IP}:{_free_port()}"
    procs: list[subprocess.Popen] = []
    try:
        deadline = time.monotonic() + 90
        procs.append(
            _ray_start(
                [
                    "--head",
                    f"--node-ip-address={HEAD_IP}",
                    f"--port={address.split(':')[1]}",
                    "--num-cpus=4",
                    "--include-dashboard=false",
                    f"--temp-dir={tmp / 'ray'}",
                ],
                env,
                tmp / "head.log",
            )
        )
        _wait_started(procs[0], tmp / "head.log", deadline)
        procs.append(
            _ray_start(
                [
                    f"--address={address}",
                    f"--node-ip-address={SECOND_IP}",
                    "--num-cpus=2",
                    '--resources={"second_node": 1}',
                ],
                env,
                tmp / "second.log",
            )
        )
        _wait_started(procs[1], tmp / "second.log", deadline)
        yield address, procs[1]
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def test_losing_a_ray_node_mid_run_retries_its_episodes_and_changes_nothing(two_nodes, tmp_path):
    address, second = two_nodes
    out, result = tmp_path / "ray", tmp_path / "seen.json"
    driver = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.ray_nodes_driver",
            "--address",
            address,
            "--second-pid",
            str(second.pid),
            "--out",
            str(out),
            "--result",
            str(result),
        ],
        cwd=ROOT,
        env={**os.environ, **RAY_ENV},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert driver.returncode == 0 and result.exists(), driver.stderr[-3000:]
    seen = json.loads(result.read_text())
    head_id, second_id = seen["nodes"]["head"], seen["nodes"]["second"]
    assert seen["addresses"] == [HEAD_IP, SECOND_IP]  # two nodes, loopback only
    assert seen["code"] == 0
    assert seen["replica_nodes"] == [head_id]  # the CPU policy replica stays beside the driver
    assert set(seen["placed"].values()) == {head_id, second_id}  # env actors on both nodes
    on_second = {int(i) for i, node in seen["placed"].items() if node == second_id}
    assert seen["killed_after"] is not None and seen["killed_after"] < 12  # the node died mid-run
    assert second.poll() is not None  # its `ray start` is gone with the rest of it

    rows = list(read_rows(out / EPISODES_FILE))
    ids = [r["episode_id"] for r in rows]
    assert len(ids) == 12 and len(set(ids)) == 12  # nothing lost, nothing doubled
    assert all(r["status"] == "ok" for r in rows)
    retried = [r for r in rows if r["attempts"] > 1]
    died = seen["died"]
    assert died and set(died) <= on_second  # only workers of the lost node died ...
    assert len(retried) == len(died) and all(r["attempts"] == 2 for r in retried)  # ... and each lost episode ran again
    assert seen["restarted_on"] == [head_id] * len(died)  # on the surviving node
    print(
        json.dumps(
            {
                "wall_s": round(seen["wall_s"], 1),
                "on_second": sorted(on_second),
                "killed_after_rows": seen["killed_after"],
                "died": died,
                "retried": len(retried),
            }
        )
    )

    undisturbed = tmp_path / "local"
    assert (
        run(
            RunConfig(
                suite="toy_reach",
                policy="tests.toy_policies:ToyExpert",
                out=undisturbed,
                workers=2,
                gpus="none",
                **EPISODES,
            )
        )
        == 0
    )
    assert (undisturbed / "report.csv").read_text() == (out / "report.csv").read_text()
    outcome = lambda rs: {r["episode_id"]: (r["success"], r["steps"]) for r in rs}  # noqa: E731
    assert outcome(rows) == outcome(read_rows(undisturbed / EPISODES_FILE))
    assert 0 < sum(r["success"] for r in rows) < 12  # a table with both outcomes in it
