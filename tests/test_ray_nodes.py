"""--executor ray beyond one node: a head and a second Ray node on this machine (loopback only,
each with its own node id and resources); env actors spread over both; the second node's
processes are killed mid-run. The run completes, the lost episodes are retried (attempts in
their rows), no episode is lost or doubled, and the table equals an undisturbed run's.
Skipped when ray is not installed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from vla_eval.executors.local import WorkerDied
from vla_eval.ledger import EPISODES_FILE, read_rows
from vla_eval.runner import RunConfig, run

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]
# The cluster notices a dead node in seconds instead of the default ~30 s (read by the head's GCS);
# no token auth (it would switch itself on when another Ray run left a token in ~/.ray).
RAY_ENV = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "500",
           "RAY_health_check_failure_threshold": "3", "RAY_health_check_initial_delay_ms": "0",
           "RAY_AUTH_MODE": "disabled"}  # fmt: skip
EPISODES = {"tasks": "0:3", "episodes": "0:4", "max_steps": 15}  # 12 episodes; some fail in 15 steps
STEP_DELAY = "0.05"  # seconds per toy step: episodes last long enough to be cut by the node's death


HEAD_IP, SECOND_IP = "127.0.0.2", "127.0.0.3"  # loopback addresses (Ray rewrites 127.0.0.1 to the host's IP)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))  # free on every interface
        return s.getsockname()[1]


def _ray_start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`ray start ... --block` in its own session (the node's processes are all under it)."""
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--num-gpus=0",
           "--object-store-memory=100000000", "--disable-usage-stats", *args]  # fmt: skip
    with open(log, "w") as f:
        return subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _kill_node(proc: subprocess.Popen) -> None:
    """SIGKILL a node: `ray start`, its process group, and every process under it (Ray's worker
    processes, which the raylet starts, are in other process groups)."""
    for _ in range(20):  # until nothing is left (a worker may be starting while we kill)
        pids = _descendants(proc.pid) | ({proc.pid} if proc.poll() is None else set())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(0.05)
    proc.wait(timeout=30)


def _nodes(address: str, want: int, deadline: float, procs: dict[str, tuple[subprocess.Popen, Path]]) -> list[dict]:
    """The cluster's alive nodes, once there are ``want`` (a driver connection of its own)."""
    ray.init(address=address, log_to_driver=False)
    try:
        while True:
            alive = [n for n in ray.nodes() if n["Alive"]]
            if len(alive) >= want:
                return alive
            for name, (proc, log) in procs.items():
                assert proc.poll() is None, f"{name} exited:\n{log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the Ray nodes did not come up in time"
            time.sleep(0.5)
    finally:
        ray.shutdown()


@pytest.fixture
def two_nodes(monkeypatch):
    """A Ray head (4 CPUs, on 127.0.0.2) and a second node (2 CPUs, resource "second_node", on
    127.0.0.3), each `ray start` in its own process group. Yields (address, second's Popen, ids)."""
    tmp = Path(tempfile.mkdtemp(prefix="vr"))  # short: Ray's socket paths must stay under 108 bytes
    env = {**os.environ, **RAY_ENV, "PYTHONPATH": str(ROOT), "VLA_EVAL_TOY_STEP_DELAY": STEP_DELAY}
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("VLA_EVAL_TOY_STEP_DELAY", STEP_DELAY)
    port = _free_port()
    address = f"{HEAD_IP}:{port}"
    procs: dict[str, tuple[subprocess.Popen, Path]] = {}
    try:
        procs["head"] = (_ray_start(["--head", f"--node-ip-address={HEAD_IP}", f"--port={port}", "--num-cpus=4",
                                     "--include-dashboard=false", f"--temp-dir={tmp / 'ray'}"], env, tmp / "head.log"),
                         tmp / "head.log")  # fmt: skip
        deadline = time.monotonic() + 90
        while True:  # the head's GCS answers
            try:
                socket.create_connection((HEAD_IP, port), timeout=1).close()
                break
            except OSError:
                assert procs["head"][0].poll() is None, (tmp / "head.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the Ray head did not come up in time"
                time.sleep(0.5)
        _nodes(address, 1, deadline, procs)
        procs["second"] = (_ray_start([f"--address={address}", f"--node-ip-address={SECOND_IP}", "--num-cpus=2",
                                       '--resources={"second_node": 1}'], env, tmp / "second.log"), tmp / "second.log")  # fmt: skip
        alive = _nodes(address, 2, deadline, procs)
        ids = {("second" if "second_node" in n["Resources"] else "head"): n["NodeID"] for n in alive}
        assert sorted(n["NodeManagerAddress"] for n in alive) == [HEAD_IP, SECOND_IP]  # loopback only
        yield address, procs["second"][0], ids
    finally:
        for proc, _ in reversed(procs.values()):
            _kill_node(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def test_losing_a_ray_node_mid_run_retries_its_episodes_and_changes_nothing(two_nodes, monkeypatch, tmp_path):
    from vla_eval.executors import ray_executor

    address, second, ids = two_nodes
    head_id, second_id = ids["head"], ids["second"]
    placed: dict[int, str] = {}  # env worker slot -> node of its first actor
    replica_nodes: list[str] = []
    died: list[int] = []  # slots whose actor died
    restarted_on: list[str] = []  # nodes of the actors that replaced them
    started = threading.Event()
    real_start_slots, real_recv, real_restart = (ray_executor.RayCluster.start_slots, ray_executor.RaySlot.recv,
                                                 ray_executor.RaySlot.restart)  # fmt: skip

    def start_slots(self, *a, **kw):  # learn where each actor was placed
        slots = real_start_slots(self, *a, **kw)
        placed.update(zip((s.index for s in slots), ray.get([s.actor.node.remote() for s in slots], timeout=60)))
        replica_nodes.extend(node for node, _ in self.replica_sites)
        started.set()
        return slots

    def recv(self):
        try:
            return real_recv(self)
        except WorkerDied:
            died.append(self.index)
            raise

    def restart(self):
        real_restart(self)
        restarted_on.append(ray.get(self.actor.node.remote(), timeout=60))

    monkeypatch.setattr(ray_executor.RayCluster, "start_slots", start_slots)
    monkeypatch.setattr(ray_executor.RaySlot, "recv", recv)
    monkeypatch.setattr(ray_executor.RaySlot, "restart", restart)
    out = tmp_path / "ray"
    episodes_file = out / EPISODES_FILE
    killed_after: list[int] = []

    def kill_second_node() -> None:  # once episodes are finishing on both nodes, SIGKILL node 2's processes
        started.wait(60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = len(episodes_file.read_text().splitlines()) if episodes_file.exists() else 0
            if done >= 3:
                killed_after.append(done)
                _kill_node(second)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_second_node, daemon=True)
    killer.start()
    t0 = time.monotonic()
    code = run(RunConfig(suite="toy_reach", policy="tests.toy_policies:ToyExpert", out=out, workers=4, executor="ray",
                         ray_address=address, reply_timeout=30, **EPISODES))  # fmt: skip
    wall = time.monotonic() - t0
    killer.join(5)
    assert replica_nodes == [head_id], (replica_nodes, ids)  # the CPU policy replica stays beside the driver
    assert code == 0
    assert set(placed.values()) == {head_id, second_id}, placed  # env actors on both nodes
    on_second = {i for i, node in placed.items() if node == second_id}
    assert killed_after and killed_after[0] < 12  # the node died mid-run

    rows = list(read_rows(episodes_file))
    ids = [r["episode_id"] for r in rows]
    assert len(ids) == 12 and len(set(ids)) == 12  # nothing lost, nothing doubled
    assert all(r["status"] == "ok" for r in rows)
    retried = [r for r in rows if r["attempts"] > 1]
    assert died and set(died) <= on_second  # only workers of the lost node died ...
    assert len(retried) == len(died) and all(r["attempts"] == 2 for r in retried)  # ... and each lost episode ran again
    assert restarted_on == [head_id] * len(died)  # on the surviving node
    print(json.dumps({"wall_s": round(wall, 1), "on_second": sorted(on_second), "killed_after_rows": killed_after[0],
                      "died": died, "retried": len(retried)}))  # fmt: skip

    undisturbed = tmp_path / "local"
    assert run(RunConfig(suite="toy_reach", policy="tests.toy_policies:ToyExpert", out=undisturbed, workers=2,
                         gpus="none", **EPISODES)) == 0  # fmt: skip
    assert (undisturbed / "report.csv").read_text() == (out / "report.csv").read_text()
    outcome = lambda rs: {r["episode_id"]: (r["success"], r["steps"]) for r in rs}  # noqa: E731
    assert outcome(rows) == outcome(read_rows(undisturbed / EPISODES_FILE))
    assert 0 < sum(r["success"] for r in rows) < 12  # a table with both outcomes in it
