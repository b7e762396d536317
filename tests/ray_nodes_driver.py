"""The driver side of tests/test_ray_nodes.py, run in a fresh process (a Ray client's state, token
authentication included, outlives ``ray.shutdown()`` in a process that already used Ray).

    python -m tests.ray_nodes_driver --address HOST:PORT --second-pid PID --out DIR --result FILE

Waits for the two nodes, runs the evaluation with ``--executor ray`` while recording where each
actor was placed, which env actors died and where their replacements went, SIGKILLs every
process of the second node (the process tree of PID) once 3 episodes are in the ledger, and
writes what it saw as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path

import ray

from vla_eval.executors import ray_executor
from vla_eval.executors.local import WorkerDied
from vla_eval.ledger import EPISODES_FILE
from vla_eval.runner import RunConfig, run

EPISODES = {"tasks": "0:3", "episodes": "0:4", "max_steps": 15}  # 12 episodes; some fail in 15 steps


def descendants(pid: int) -> set[int]:
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


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process under it (Ray's workers are in other process groups)."""
    for _ in range(20):  # until nothing is left (a worker may be starting while we kill)
        pids = descendants(pid) | ({pid} if Path(f"/proc/{pid}").exists() else set())
        alive = [p for p in pids if not _zombie(p)]
        if not alive:
            return
        for p in alive:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def alive_nodes(address: str, want: int, timeout: float = 60.0) -> list[dict]:
    ray.init(address=address, log_to_driver=False)
    try:
        deadline = time.monotonic() + timeout
        while True:
            alive = [n for n in ray.nodes() if n["Alive"]]
            if len(alive) >= want or time.monotonic() > deadline:
                return alive
            time.sleep(0.5)
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True)
    ap.add_argument("--second-pid", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--result", type=Path, required=True)
    a = ap.parse_args()

    nodes = alive_nodes(a.address, 2)
    ids = {("second" if "second_node" in n["Resources"] else "head"): n["NodeID"] for n in nodes}
    seen = {
        "nodes": {k: v for k, v in ids.items()},
        "addresses": sorted(n["NodeManagerAddress"] for n in nodes),
        "placed": {},
        "replica_nodes": [],
        "died": [],
        "restarted_on": [],
        "killed_after": None,
    }
    started = threading.Event()
    real_start_slots, real_recv, real_restart = (
        ray_executor.RayCluster.start_slots,
        ray_executor.RaySlot.recv,
        ray_executor.RaySlot.restart,
    )

    def start_slots(self, *args, **kw):  # where each actor was placed
        slots = real_start_slots(self, *args, **kw)
        nodes = ray.get([s.actor.node.remote() for s in slots], timeout=60)
        seen["placed"].update({str(s.index): node for s, node in zip(slots, nodes)})
        seen["replica_nodes"].extend(node for node, _ in self.replica_sites)
        started.set()
        return slots

    def recv(self):
        try:
            return real_recv(self)
        except WorkerDied:
            seen["died"].append(self.index)
            raise

    def restart(self):
        real_restart(self)
        seen["restarted_on"].append(ray.get(self.actor.node.remote(), timeout=60))

    ray_executor.RayCluster.start_slots = start_slots
    ray_executor.RaySlot.recv = recv
    ray_executor.RaySlot.restart = restart

    episodes_file = a.out / EPISODES_FILE

    def kill_second_node() -> None:  # once episodes are finishing, SIGKILL the second node's processes
        started.wait(60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = len(episodes_file.read_text().splitlines()) if episodes_file.exists() else 0
            if done >= 3:
                seen["killed_after"] = done
                kill_tree(a.second_pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_second_node, daemon=True)
    killer.start()
    t0 = time.monotonic()
    seen["code"] = run(
        RunConfig(
            suite="toy_reach",
            policy="tests.toy_policies:ToyExpert",
            out=a.out,
            workers=4,
            executor="ray",
            ray_address=a.address,
            reply_timeout=30,
            **EPISODES,
        )
    )
    seen["wall_s"] = time.monotonic() - t0
    killer.join(5)
    a.result.write_text(json.dumps(seen))


if __name__ == "__main__":
    main()
