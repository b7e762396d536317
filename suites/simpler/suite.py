"""simpler_widowx_ms3 and maniskill3 suites: protocol, availability, rendering setup. Imports no simulator.

Why an env is reused only for episodes of one task, and never across tasks in a worker:
ManiSkill 3.0.1's ``BaseDigitalTwinEnv`` keeps the list of objects to keep out of the
greenscreen overlay in a *class-level* list (``_objects_to_remove_from_greenscreen``): building a
second Bridge env in the same process appends to the first env's list, so stale segmentation
ids can keep the wrong pixels un-overlaid. ``env_key`` returning None would not help (it only
rebuilds the env inside the same long-lived worker process). Instead the driver resets that
class attribute to an empty list before it builds any Bridge env, which is exactly the state a
fresh process starts from, and a test checks that the keep-list and the first image of an env
built second in a process equal those of the same env built in a fresh process. Episodes of one
task then reuse their env (reset by episode_id only, as the reference loop does), which saves
the ~5 s env build per episode; a test checks that an episode replays identically in a fresh
and a reused env.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from vla_eval.errors import SimulatorUnavailable
from vla_eval.suite import Suite, SuiteEnv, package_versions
from vla_eval.suites.sapien_render import PROBE_SAPIEN3, lavapipe_env, render_env  # noqa: F401 - lavapipe_env re-exported
from vla_eval.types import EpisodeSpec, PolicySpec

HERE = Path(__file__).parent
INSTALL_HINT = "create its environment with: vla-eval env create maniskill3 (mani-skill==3.0.1, sapien==3.0.3)"


def bridge_asset_dir() -> Path | None:
    """Where the Bridge assets are: $MS_ASSET_DIR, else ManiSkill's default ~/.maniskill."""
    candidates = []
    if os.environ.get("MS_ASSET_DIR"):
        candidates.append(Path(os.environ["MS_ASSET_DIR"]))
    candidates.append(Path.home() / ".maniskill")
    for c in candidates:
        data = c / "data"
        if (data / "tasks" / "bridge_v2_real2sim_dataset").is_dir() and (data / "robots" / "widowx").is_dir():
            return c.resolve()
    return None


def assets_are_placeholders(asset_dir: Path | None) -> bool:
    """True for the offline copy whose README declares stand-in files (driver checks only)."""
    if asset_dir is None:
        return False
    readme = asset_dir / "README.md"
    try:
        return "PLACEHOLDER" in readme.read_text(errors="replace")
    except OSError:
        return False


class _ManiSkill3Suite(Suite):
    """Shared by simpler_widowx_ms3 and maniskill3: one driver, one environment (suites/simpler/env.toml)."""

    protocol_file = HERE / "protocol.toml"
    needs_bridge_assets = False

    def availability(self) -> tuple[bool, str]:
        missing = [m for m in ("mani_skill", "sapien", "torch") if importlib.util.find_spec(m) is None]
        if missing:
            return False, f"ManiSkill3 is not installed here (missing {', '.join(missing)}): {INSTALL_HINT}"
        if self.needs_bridge_assets and bridge_asset_dir() is None:
            return False, (
                "the ManiSkill3 Bridge assets (bridge_v2_real2sim, widowx250s) are not under $MS_ASSET_DIR/data: "
                "download them with python -m mani_skill.utils.download_asset bridge_v2_real2sim (and widowx250s)"
            )
        return True, ""

    def prepare(self) -> dict[str, str]:
        ok, why = self.availability()
        if not ok:
            raise SimulatorUnavailable(why)
        env: dict[str, str] = {"MS_SKIP_ASSET_DOWNLOAD_PROMPT": "1"}
        if self.needs_bridge_assets:
            env["MS_ASSET_DIR"] = str(bridge_asset_dir())
        elif os.environ.get("MS_ASSET_DIR"):
            env["MS_ASSET_DIR"] = os.environ["MS_ASSET_DIR"]
        # A Vulkan driver the user chose wins; else the system's (a GPU); else the private lavapipe.
        try:
            env.update(render_env(PROBE_SAPIEN3, needs_shim=False))
        except RuntimeError as e:
            raise SimulatorUnavailable(str(e)) from None
        return env

    def env_key(self, spec: EpisodeSpec, policy: PolicySpec) -> Any:
        # Same task (same env id) and same cameras: reuse the env, reset by episode id.
        return (self.name, spec.task_index, tuple(policy.cameras), policy.privileged)

    def make_env(self, spec: EpisodeSpec, policy: PolicySpec) -> SuiteEnv:
        from vla_eval.suites.simpler.driver import ManiSkill3Env

        return ManiSkill3Env(self.protocol, spec.task_index, cameras=policy.cameras, privileged=policy.privileged)

    def versions(self) -> dict[str, str]:
        out = package_versions("mani-skill", "sapien", "torch")
        if self.needs_bridge_assets:
            assets = bridge_asset_dir()
            out["bridge_assets"] = (str(assets) if assets else "") + (
                " (placeholders: driver check only)" if assets_are_placeholders(assets) else ""
            )
        out["render"] = "vulkan:" + os.environ.get("VLA_EVAL_VULKAN", "system")
        return out


class SimplerWidowXManiSkill3Suite(_ManiSkill3Suite):
    """ManiSkill3's -v1 port of the Bridge tasks: another simulator and protocol than SimplerEnv's
    published -v0 numbers (see protocol.toml); no reference rows attach to it."""

    needs_bridge_assets = True


class ManiSkill3Suite(_ManiSkill3Suite):
    needs_bridge_assets = False
