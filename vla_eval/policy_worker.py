"""A policy replica in its own process (one per GPU when several GPUs are used).

It carries the messages of :mod:`vla_eval.executors.replica_core` over a private pipe pair
and stops at ``{"op": "close"}`` or when the pipe closes. Run as
``python -m vla_eval.policy_worker --policy P --policy-args JSON --read-fd R --write-fd W``;
the runner sets CUDA_VISIBLE_DEVICES to the replica's GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
from multiprocessing.connection import Connection

from vla_eval import conventions, wire
from vla_eval.executors.replica_core import ReplicaCore, encode_reply
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
    core = ReplicaCore.load(args.policy, json.loads(args.policy_args, object_hook=conventions.json_object_hook))
    while True:
        try:
            msg = wire.unpackb(rx.recv_bytes())
        except (EOFError, OSError):
            break
        if msg.get("op") == "close":
            break
        reply = core.handle(msg)
        if reply is not None:
            tx.send_bytes(encode_reply(reply))
    core.close()


if __name__ == "__main__":
    main(sys.argv[1:])
