"""robotwin_easy / robotwin_hard suites. Imports no simulator.

Not yet run against the simulator (see __init__).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vla_eval.diagnose import Finding, check_cuda, dependency_findings, version_findings
from vla_eval.errors import SimulatorUnavailable
from vla_eval.suite import Suite, SuiteEnv, package_versions
from vla_eval.suites.robotwin import requirements
from vla_eval.types import EpisodeSpec, PolicySpec

HERE = Path(__file__).parent


class RoboTwinSuite(Suite):
    protocol_file = HERE / "protocol.toml"
    verified = False  # not yet run against the simulator
    render_backend = "vulkan"  # SAPIEN 3 (vla-eval doctor)
    root_var = "ROBOTWIN_ROOT"
    checkout = "RoboTwin"  # where `vla-eval env create` clones it: <env>/src/RoboTwin
    env_suite = "robotwin_easy"
    setup_script = HERE / "setup_env.sh"
    extra_modules: tuple[str, ...] = ()  # imported by the driver besides envs and the instruction generator
    download = "cd {root} && bash script/_download_assets.sh"
    install_hint = (
        "RoboTwin 2.0 is not installed here: `vla-eval env create robotwin_easy` (clones RoboTwin stable_2.0, "
        "installs its pinned requirements, pytorch3d and cuRobo, downloads its assets; NVIDIA GPU with nvcc), "
        "or set ROBOTWIN_ROOT to a checkout installed by its script/_install.sh"
    )

    def root(self) -> Path | None:
        """ROBOTWIN_ROOT (DOMINO_ROOT) if set, else the checkout inside this suite environment."""
        env = os.environ.get(self.root_var)
        return Path(env) if env else requirements.default_root(self.checkout)

    def availability(self) -> tuple[bool, str]:
        ok, why = self._availability()
        return ok, ("" if ok else f"not yet run against the simulator; {why}")

    def _availability(self) -> tuple[bool, str]:
        """Cheap (nothing imported): checkout layout, every import-time dependency, assets."""
        r = self.root()
        if r is None:
            return (
                False,
                f"{self.root_var} is not set and this environment has no src/{self.checkout}. {self.install_hint}",
            )
        problem = requirements.layout_problem(r)
        if problem:
            return False, f"{self.root_var}={r}: {problem}. {self.install_hint}"
        missing = [d for d in dependency_findings(requirements.DEPENDENCIES) if not d.ok]
        if missing:
            names = ", ".join(f.check.removeprefix("import ") for f in missing)
            return (
                False,
                f"modules RoboTwin imports at import time are missing: {names}"
                f" (vla-eval doctor {self.name} says how to fix)",
            )
        assets = [a for a in requirements.asset_findings(r, "") if not a.ok]
        if assets:
            return False, f"{assets[0].detail} (vla-eval doctor {self.name} says how to fix)"
        return True, ""

    def diagnose(self) -> list[Finding]:
        """vla-eval doctor: every check with its fix (runs in the suite's interpreter)."""
        setup = self.setup_script
        r = self.root()
        if r is None:
            return [
                Finding(
                    "checkout",
                    False,
                    f"{self.root_var} is not set and there is no src/{self.checkout} here",
                    f"vla-eval env create {self.env_suite}",
                )
            ]
        problem = requirements.layout_problem(r)
        if problem:
            return [
                Finding(
                    "checkout",
                    False,
                    problem,
                    f"set {self.root_var} to a {self.checkout} checkout, or vla-eval env create {self.env_suite}",
                )
            ]
        out = [Finding("checkout", True, str(r))]
        deps = dependency_findings(requirements.DEPENDENCIES)
        out += [
            f
            if f.ok or f.check != "import curobo"
            else Finding(f.check, False, f.detail, requirements.CUROBO_FIX.format(setup=setup))
            for f in deps
        ]
        out += version_findings(requirements.PINS, requirements.PIN_WHY)
        out += requirements.patch_findings()
        out += requirements.asset_findings(r, self.download.format(root=r))
        if all(f.ok for f in out):
            from vla_eval.suites.robotwin.driver import import_check  # imports the upstream package

            out.append(import_check(r, self.protocol.tasks[0].name, requirements.DEPENDENCIES, self.extra_modules))
            out += check_cuda()
        return out

    def prepare(self) -> dict[str, str]:
        ok, why = self.availability()
        if not ok:
            raise SimulatorUnavailable(why)
        r = self.root()
        assert r is not None
        return {self.root_var: str(r.resolve())}

    def env_key(self, spec: EpisodeSpec, policy: PolicySpec) -> Any:
        # eval_policy.py keeps one task object for all episodes of a task.
        return (self.name, spec.task_index, tuple(policy.cameras), policy.privileged)

    def make_env(self, spec: EpisodeSpec, policy: PolicySpec) -> SuiteEnv:
        from vla_eval.suites.robotwin.driver import RoboTwinEnv

        return RoboTwinEnv(self.protocol, spec.task_index, cameras=policy.cameras, privileged=policy.privileged)

    def versions(self) -> dict[str, str]:
        return {"verified": "no: not yet run against the simulator", **package_versions("sapien", "mplib", "torch")}
