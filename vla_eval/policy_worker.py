"""A policy replica in its own process (one per GPU when several GPUs are used).

Messages: {"op": "metadata"} -> {"ok", "spec"}; {"op": "reset", "env_ids"} (no reply);
{"op": "infer", "obs": [Observation dicts]} -> {"ok", "actions", "elapsed"} or
{"ok": False, "error", "traceback"}. Run as
``python -m vla_eval.policy_worker --policy P --policy-args JSON --read-fd R --write-fd W``;
the runner sets CUDA_VISIBLE_DEVICES to the replica's GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from multiprocessing.connection import Connection

from vla_eval import conventions, wire
from vla_eval.policy import load_policy
from vla_eval.worker import die_with_parent


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", required=True)
    ap.add_argument("--policy-args", default="{}")
    ap.add_argument("--read-fd", type=int, required=True)
    ap.add_argument("--write-fd", type=int, required=True)
    args = ap.parse_args(argv)
    die_with_parent()
    rx = Connection(args.read_fd, writable=False)
    tx = Connection(args.write_fd, readable=False)
    policy = load_policy(args.policy, json.loads(args.policy_args, object_hook=conventions.json_object_hook))
    while True:
        try:
            msg = wire.unpackb(rx.recv_bytes())
        except (EOFError, OSError):
            break
        op = msg.get("op")
        if op == "close":
            break
        if op == "reset":
            policy.reset(msg.get("env_ids"))
            continue
        if op == "metadata":
            tx.send_bytes(wire.packb({"ok": True, "spec": wire.policy_spec_to_dict(policy.metadata())}))
            continue
        t0 = time.perf_counter()
        try:
            obs = [wire.observation_from_dict(o) for o in msg["obs"]]
            actions = policy.infer_batch(obs)
            reply = {"ok": True, "actions": actions, "elapsed": time.perf_counter() - t0}
        except Exception as e:
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        try:
            tx.send_bytes(wire.packb(reply))
        except (TypeError, ValueError) as e:  # actions the wire cannot carry: still the policy's fault
            tx.send_bytes(wire.packb({"ok": False, "error": f"unsendable actions: {e}", "traceback": ""}))
    if hasattr(policy, "close"):
        policy.close()


if __name__ == "__main__":
    main(sys.argv[1:])
