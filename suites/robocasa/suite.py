"""The RoboCasa GR1 tabletop suite: protocol, availability, GL backend. Imports no simulator.

NOT YET RUN AGAINST THE SIMULATOR (``RobocasaSuite.verified = False``). robocasa (the GR1 tabletop
fork) is not on PyPI and needs downloaded object assets; it runs in its own environment, described
by ``env.toml`` beside this file.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from vla_eval.diagnose import Dependency, Finding, dependency_findings, version_findings
from vla_eval.errors import SimulatorUnavailable
from vla_eval.suite import Suite, SuiteEnv, package_versions
from vla_eval.types import EpisodeSpec, PolicySpec

HERE = Path(__file__).parent
INSTALL_HINT = (
    "create the environment of suites/robocasa/env.toml (robosuite 1.5.1, robocasa GR1 tabletop from git, its assets)"
)
# The gr1_unified/* gym ids are registered by this module of the GR1 tabletop fork; plain
# robocasa (the kitchen benchmark) does not have it.
GR1_MODULE = ("utils", "gym_utils", "gymnasium_groot.py")
# The object registries the tabletop envs sample from (Tabletop obj_registries): objaverse comes
# with robocasa's kitchen assets, sketchfab and lightwheel with the GR00T tabletop assets; all three
# are fetched by scripts/download_tabletop_assets.py.
ASSET_DIRS = tuple(("models", "assets", "objects", r) for r in ("objaverse", "sketchfab", "lightwheel"))


# What robocasa, robosuite and the driver import (the requirements of env.toml), and the pins that
# matter for the simulation (robocasa's own pins).
DEPENDENCIES = (
    Dependency(
        "robocasa", "robocasa (GR1 tabletop fork, from git)", "the driver", fix="vla-eval env create robocasa_gr1"
    ),
    Dependency("robosuite", "robosuite==1.5.1", "robocasa"),
    Dependency("mujoco", "mujoco==3.2.6", "robosuite"),
    Dependency("numba", "numba==0.61.2", "robosuite"),
    Dependency("gymnasium", "gymnasium==0.29.1", "robocasa/utils/gym_utils"),
    Dependency("scipy", "scipy>=1.2.3", "robosuite"),
    Dependency("cv2", "opencv-python", "robocasa"),
    Dependency("PIL", "Pillow", "robocasa"),
    Dependency("yaml", "pyyaml", "robocasa"),
    Dependency("lxml", "lxml", "robocasa"),
    Dependency("h5py", "h5py", "robocasa"),
    Dependency("imageio", "imageio", "robocasa"),
    Dependency("tqdm", "tqdm", "robocasa"),
    Dependency("termcolor", "termcolor", "robocasa"),
)
PINS = {"numpy": "1.26.4", "mujoco": "3.2.6", "robosuite": "1.5.1", "numba": "0.61.2", "gymnasium": "0.29.1"}


def _package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


class RobocasaSuite(Suite):
    protocol_file = HERE / "protocol.toml"
    verified = False  # not yet run against the simulator
    render_backend = "egl"  # MuJoCo offscreen (vla-eval doctor; prepare() picks EGL or OSMesa)

    def availability(self) -> tuple[bool, str]:
        missing = [m for m in ("robocasa", "robosuite", "mujoco", "gymnasium") if importlib.util.find_spec(m) is None]
        if missing:
            return False, f"not yet run against the simulator; missing {', '.join(missing)}: {INSTALL_HINT}"
        root = _package_dir("robocasa")
        if root is None or not root.joinpath(*GR1_MODULE).is_file():
            return False, (
                "not yet run against the simulator; the installed robocasa is not the GR1 tabletop fork "
                f"(no robocasa/{'/'.join(GR1_MODULE)}): {INSTALL_HINT}"
            )
        return True, "not yet run against the simulator"

    def diagnose(self) -> list[Finding]:
        """vla-eval doctor, in the suite's interpreter: modules, pinned versions, the GR1 fork, assets."""
        fix = "vla-eval env create robocasa_gr1"
        out = dependency_findings(DEPENDENCIES)
        out += [f if f.ok else Finding(f.check, False, f.detail, f"{fix} --recreate") for f in version_findings(PINS)]
        ok, why = self.availability()
        out.append(Finding("robocasa GR1 tabletop", ok, why, "" if ok else fix))
        if ok:
            try:
                self._check_assets()
                out.append(Finding("assets", True, "objaverse, sketchfab and lightwheel object registries present"))
            except SimulatorUnavailable as e:
                out.append(Finding("assets", False, str(e).split(": run ")[0], str(e).split(": run ")[-1]))
        return out

    def _check_assets(self) -> None:
        root = _package_dir("robocasa")
        if root is None:
            raise SimulatorUnavailable(f"robocasa is not installed here: {INSTALL_HINT}")
        for parts in ASSET_DIRS:
            d = root.joinpath(*parts)
            if not d.is_dir() or not any(d.iterdir()):
                raise SimulatorUnavailable(
                    f"robocasa tabletop assets are missing ({d}): run "
                    f"python {root / 'scripts' / 'download_tabletop_assets.py'} -y in the robocasa environment"
                )

    def prepare(self) -> dict[str, str]:
        ok, why = self.availability()
        if not ok:
            raise SimulatorUnavailable(why)
        self._check_assets()
        # MuJoCo offscreen rendering: the same probe as LIBERO's (EGL, else OSMesa, or MUJOCO_GL).
        from vla_eval.gl import choose_gl_backend

        backend = choose_gl_backend()
        return {"MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}

    def env_key(self, spec: EpisodeSpec, policy: PolicySpec) -> Any:
        return (self.name, spec.task_index, policy.cameras)

    def make_env(self, spec: EpisodeSpec, policy: PolicySpec) -> SuiteEnv:
        from vla_eval.suites.robocasa.driver import RobocasaEnv

        return RobocasaEnv(self.protocol, spec.task_index, cameras=policy.cameras, privileged=policy.privileged)

    def versions(self) -> dict[str, str]:
        versions = package_versions("robocasa", "robosuite", "mujoco", "gymnasium")
        return {**versions, "render": os.environ.get("MUJOCO_GL", "")}
