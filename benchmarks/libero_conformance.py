"""Conformance sweep: the harness's first observations against the reference LIBERO loop, episode by episode.

For each selected task, the independent reference loop (tests/libero_reference.py, written from
openpi's examples/libero/main.py) runs episodes 0..max(E) in order in one env and yields the first
observation the policy sees for the episodes E; the harness runs the same episodes through
``vla-eval run`` with W workers (work stealing: envs are reused across episodes in whatever order
the queue hands them out), with a policy that records what it is shown. Both cameras must be equal
bit for bit and the state as float32.

    python benchmarks/libero_conformance.py --suites libero_spatial,libero_10 --episodes 0,1,2,7 --workers 2
    python benchmarks/libero_conformance.py --suites libero_spatial --tasks 4 --kill-resume
    python benchmarks/libero_conformance.py --suites libero_spatial_openvla,libero_10_openvla --tasks 3,4,8,9

A ``*_openvla`` suite (the protocol's "openvla" variant) is compared with the same reference loop
run as OpenVLA / OpenVLA-OFT's run_libero_eval.py runs it: numpy seeded with 7, then env.seed(0).

``--kill-resume`` also runs each task's harness episodes with one worker, kills the runner with
SIGKILL after the first finished episode and resumes it, and checks the resumed episodes too.
Prints one line per task and a summary; exits 1 if any episode differs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.libero_reference import compare, reference_first_observations  # noqa: E402
from vla_eval.suite import get_suite, parse_index_set  # noqa: E402

POLICY = "tests.libero_reference:FirstObservationRecorder"


def _cmd(suite: str, task: int, episodes: str, workers: int, out: Path, seen: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vla_eval.cli",
        "run",
        "--suite",
        suite,
        "--policy",
        POLICY,
        "--tasks",
        str(task),
        "--episodes",
        episodes,
        "--max-steps",
        "1",
        "--workers",
        str(workers),
        "--out",
        str(out),
        "--record-video",
        "none",
        "--policy-args",
        f"out={seen}",
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def harness_run(suite: str, task: int, episodes: str, workers: int, work: Path, kill_after: int = 0) -> Path:
    """Run the harness; with kill_after=k, SIGKILL it once k episodes are in the ledger, then resume."""
    out, seen = work / "run", work / "seen"
    cmd = _cmd(suite, task, episodes, workers, out, seen)
    if kill_after:
        proc = subprocess.Popen(
            cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        ledger = out / "episodes.jsonl"
        while proc.poll() is None:
            if ledger.exists() and len(ledger.read_text().splitlines()) >= kill_after:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.2)
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"vla-eval run failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return seen


def check_task(suite: str, task: int, episodes: list[int], workers: int, kill_resume: bool) -> tuple[int, list[str]]:
    s = get_suite(suite)
    sel = ",".join(map(str, episodes))
    specs = {sp.episode_index: sp for sp in s.plan(str(task), sel, max_steps=1)}
    p = s.protocol  # a variant suite (e.g. libero_spatial_openvla) runs its member's tasks with its own seed
    reference = dict(reference_first_observations(p.base_suite, task, set(episodes), seed=p.seed, global_seed=7))
    problems = []
    modes = [("2-worker" if workers > 1 else "1-worker", workers, 0)]
    if kill_resume:
        modes.append(("killed+resumed", 1, 1))
    for label, w, kill in modes:
        with tempfile.TemporaryDirectory() as tmp:
            seen = harness_run(suite, task, sel, w, Path(tmp), kill_after=kill)
            for ep in episodes:
                with np.load(seen / f"{specs[ep].episode_id}.npz") as z:
                    got = {k: z[k] for k in z.files}
                for p in compare(reference[ep], got):
                    problems.append(f"{label} episode {ep}: {p}")
    return len(episodes) * len(modes), problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suites", default="libero_spatial,libero_object,libero_goal,libero_10,libero_90")
    ap.add_argument("--tasks", default=None, help="task selection per suite (default all)")
    ap.add_argument("--episodes", default="0,1,2,7", help="episode indices to compare per task")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kill-resume", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if "MUJOCO_GL" not in os.environ:
        from vla_eval.gl import choose_gl_backend

        os.environ["MUJOCO_GL"] = os.environ["PYOPENGL_PLATFORM"] = choose_gl_backend()
    t0 = time.perf_counter()
    rows, checked, failed = [], 0, 0
    for suite in args.suites.split(","):
        n_tasks = len(get_suite(suite).protocol.tasks)
        for task in parse_index_set(args.tasks, n_tasks, "task"):
            episodes = parse_index_set(args.episodes, 50, "episode")
            t = time.perf_counter()
            n, problems = check_task(suite, task, episodes, args.workers, args.kill_resume)
            checked += n
            failed += bool(problems)
            verdict = "equal" if not problems else "DIFFERS: " + "; ".join(problems)
            print(
                f"{suite} task {task}: {n} first observations, {verdict} ({time.perf_counter() - t:.0f} s)", flush=True
            )
            rows.append({"suite": suite, "task": task, "checked": n, "problems": problems})
    print(
        f"\n{checked} first observations over {len(rows)} tasks checked; {failed} task(s) differ; "
        f"{time.perf_counter() - t0:.0f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
