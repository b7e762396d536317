"""An env worker: one simulator, driven by messages, in-process or as a subprocess.

Messages (dicts, msgpack on the wire) and replies:

    {"op": "start", "spec": EpisodeSpec, "policy": PolicySpec}  -> {"ok", "obs", "sim_s"}
    {"op": "step", "actions": float32 [K, D], "frames": bool, "trace": bool}
        -> {"ok", "obs", "done", "info", "steps", "sim_s"[, "frames"][, "trace"]}
    {"op": "finish"}                                          -> {"ok", "metrics", "sim_s"}
    {"op": "close"}                                           -> (worker exits)

``trace`` asks for each executed step's state, done, success and simulator seconds
(``{"state": [n, S], "done": [n], "success": [n], "sim_s": [n]}``; recorded trajectories).

A failure answers {"ok": False, "error": "...", "traceback": "..."} and drops the env, so
the next episode starts from a fresh simulator. The worker keeps its env between episodes
with equal ``Suite.env_key`` (LIBERO: same task), as the reference clients do.

Run as ``python -m vla_eval.worker --suite NAME --read-fd R --write-fd W``: it reads
length-prefixed frames on R and answers on W, so a simulator printing to stdout cannot
corrupt the channel. The runner may start it with another interpreter (a suite's own env).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from vla_eval import wire
from vla_eval.suite import Suite, SuiteEnv, get_suite
from vla_eval.types import EpisodeSpec


class WorkerCore:
    def __init__(self, suite: str | Suite) -> None:
        self.suite = get_suite(suite) if isinstance(suite, str) else suite
        self.env: SuiteEnv | None = None
        self.key: Any = None

    def _drop_env(self) -> None:
        env, self.env, self.key = self.env, None, None
        if env is not None:
            try:
                env.close()
            except Exception:
                pass

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            op = msg["op"]
            if op == "start":
                spec = EpisodeSpec.from_dict(msg["spec"])
                pspec = wire.policy_spec_from_dict(msg["policy"])
                key = self.suite.env_key(spec, pspec)
                if self.env is None or key is None or key != self.key:
                    self._drop_env()
                    self.env = self.suite.make_env(spec, pspec)
                    self.key = key
                obs = self.env.reset(spec)
                return {"ok": True, "obs": wire.observation_to_dict(obs), "sim_s": time.perf_counter() - t0}
            if self.env is None:
                raise RuntimeError(f"{op!r} before any episode was started")
            if op == "step":
                # The actions of one chunk in one message, applied in order until the episode is
                # done: one round trip per chunk instead of one per step.
                frames = [] if msg.get("frames") else None
                trace: dict[str, list] | None = (
                    {"state": [], "done": [], "success": [], "sim_s": []} if msg.get("trace") else None
                )
                n, done, info = 0, False, {}
                for action in msg["actions"]:
                    t = time.perf_counter()
                    obs, done, info = self.env.step(action)
                    n += 1
                    if frames is not None:
                        frames.append(dict(obs.images))
                    if trace is not None:
                        trace["sim_s"].append(time.perf_counter() - t)
                        trace["state"].append(np.asarray(obs.state, dtype=np.float32).reshape(-1))
                        trace["done"].append(bool(done))
                        trace["success"].append(bool(np.asarray(info.get("success", done)).all()))
                    if done:
                        break
                reply = {
                    "ok": True,
                    "obs": wire.observation_to_dict(obs),
                    "done": bool(done),
                    "info": info,
                    "steps": n,
                    "sim_s": time.perf_counter() - t0,
                }
                if frames is not None:
                    reply["frames"] = frames
                if trace is not None:
                    reply["trace"] = {
                        "state": np.stack(trace["state"]),
                        "done": np.asarray(trace["done"], dtype=bool),
                        "success": np.asarray(trace["success"], dtype=bool),
                        "sim_s": np.asarray(trace["sim_s"], dtype=np.float64),
                    }
                return reply
            if op == "finish":
                return {"ok": True, "metrics": self.env.result(), "sim_s": time.perf_counter() - t0}
            raise ValueError(f"unknown op {op!r}")
        except Exception as e:  # reported to the runner as a simulator error, never raised
            self._drop_env()
            return {
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(),
                "sim_s": time.perf_counter() - t0,
            }

    def close(self) -> None:
        self._drop_env()


def serve(core: WorkerCore, rx: Connection, tx: Connection) -> None:
    while True:
        try:
            data = rx.recv_bytes()
        except (EOFError, OSError):
            break
        msg = wire.unpackb(data)
        if msg.get("op") == "close":
            break
        tx.send_bytes(wire.packb(core.handle(msg)))
    core.close()


PROBE_PREFIX = "VLA_EVAL_PROBE "


def die_with_parent() -> None:
    """Linux: be killed when the runner dies, even by SIGKILL (a hung simulator never sees EOF)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except OSError:
            pass


def probe(suite_name: str) -> dict[str, Any]:
    """Run the suite's ``prepare()`` here: env vars for workers, package versions, or the error."""
    import platform

    try:
        suite = get_suite(suite_name)
        env = suite.prepare()
        os.environ.update(env)
        versions = {**suite.versions(), "python": platform.python_version()}
        return {"ok": True, "env": env, "versions": versions, "executable": sys.executable}
    except Exception as e:  # reported as one line by the runner
        return {"ok": False, "error": str(e), "error_type": type(e).__name__}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--suite", required=True)
    ap.add_argument("--probe", action="store_true", help="print the suite's readiness as JSON and exit")
    ap.add_argument("--read-fd", type=int)
    ap.add_argument("--write-fd", type=int)
    args = ap.parse_args(argv)
    if args.probe:
        import json

        print(PROBE_PREFIX + json.dumps(probe(args.suite)), flush=True)
        return
    if args.read_fd is None or args.write_fd is None:
        ap.error("--read-fd and --write-fd are required")
    die_with_parent()
    rx = Connection(args.read_fd, writable=False)
    tx = Connection(args.write_fd, readable=False)
    serve(WorkerCore(args.suite), rx, tx)


if __name__ == "__main__":
    main(sys.argv[1:])
