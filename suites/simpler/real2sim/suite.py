"""simpler_widowx, simpler_google_vm, simpler_google_va: SimplerEnv's -v0 protocol. Imports no simulator.

All three run on ManiSkill2_real2sim (SAPIEN 2.2.2) in this folder's environment (env.toml,
setup.sh). Without a GPU, SAPIEN 2.2.2 renders on Mesa lavapipe only through the wrapper ICD of
``vla_eval.suites.sapien_render``; ``prepare`` picks the renderer that works here.

Render override for CPU runs: SimplerEnv renders the drawer envs with ray tracing
(``shader_dir="rt"``, 32 samples per pixel): about 2.5 min per frame on lavapipe. With
``VLA_EVAL_SIMPLER_RT_SPP=N`` the driver passes ``render_config={"rt_samples_per_pixel": N}``
(about 10 s per step at N = 2); with ``VLA_EVAL_SIMPLER_RT_SPP=off`` it drops ``shader_dir="rt"``
(the rasterizer, ~0.3 s per step). Either is another image than SimplerEnv's, so the ledger's
simulator record says so: a driver check, never a benchmark number.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from vla_eval.errors import SimulatorUnavailable
from vla_eval.suite import Suite, SuiteEnv, package_versions
from vla_eval.suites.sapien_render import PROBE_SAPIEN2, render_env
from vla_eval.types import EpisodeSpec, PolicySpec

HERE = Path(__file__).parent
DATA_RECORD = "vla-eval-real2sim-data"  # written into the env by setup.sh: the source's data/ folder
INSTALL_HINT = (
    "the original SimplerEnv (ManiSkill2_real2sim, sapien==2.2.2) is not installed here: "
    "vla-eval env create simpler_widowx"
)
RT_SPP_VAR = "VLA_EVAL_SIMPLER_RT_SPP"


def data_dir() -> Path | None:
    """ManiSkill2_real2sim's data/ folder (scenes, objects, overlay images)."""
    for var in ("VLA_EVAL_SIMPLER_DATA", "MS2_REAL2SIM_ASSET_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    record = Path(sys.prefix) / DATA_RECORD
    if record.exists():
        cand = Path(record.read_text().strip())
        if cand.is_dir():
            return cand
    spec = importlib.util.find_spec("mani_skill2_real2sim")
    if spec is not None and spec.origin:
        cand = Path(spec.origin).parent.parent / "data"
        if cand.is_dir():
            return cand
    return None


def placeholder_note(data: Path | None) -> str:
    """'' for upstream data; a short label when the data folder is the offline copy with stand-ins."""
    if data is None:
        return ""
    readme = data.parent / "README.md"
    try:
        text = readme.read_text(errors="replace")
    except OSError:
        return ""
    return "placeholders (3 table stages, 3 object textures): driver check only" if "PLACEHOLDER" in text else ""


def rt_samples_override() -> int | None:
    """None: SimplerEnv's setting; N >= 1: ray tracing at N samples per pixel; 0 ("off"): no ray tracing."""
    v = os.environ.get(RT_SPP_VAR, "").strip().lower()
    if not v:
        return None
    if v == "off":
        return 0
    if not v.isdigit() or int(v) < 1:
        raise SimulatorUnavailable(f"{RT_SPP_VAR} must be a positive integer or 'off', got {v!r}")
    return int(v)


class _Real2SimSuite(Suite):
    """Shared by the WidowX and Google-robot suites: one driver, one environment (env.toml)."""

    def availability(self) -> tuple[bool, str]:
        missing = [m for m in ("mani_skill2_real2sim", "sapien") if importlib.util.find_spec(m) is None]
        if missing:
            return False, f"{INSTALL_HINT} (missing {', '.join(missing)})"
        if data_dir() is None:
            return False, (
                "ManiSkill2_real2sim's data/ folder was not found: set VLA_EVAL_SIMPLER_DATA to a clone's data/ "
                "(git lfs), or rebuild the env from a source folder (VLA_EVAL_REAL2SIM_SRC)"
            )
        return True, ""

    def prepare(self) -> dict[str, str]:
        ok, why = self.availability()
        if not ok:
            raise SimulatorUnavailable(why)
        rt_samples_override()  # a bad value is an error before any worker starts
        d = str(data_dir())
        try:
            env = render_env(PROBE_SAPIEN2, needs_shim=True)
        except RuntimeError as e:
            raise SimulatorUnavailable(str(e)) from None
        return {**env, "MS2_REAL2SIM_ASSET_DIR": d, "VLA_EVAL_SIMPLER_DATA": d}

    def env_key(self, spec: EpisodeSpec, policy: PolicySpec) -> Any:
        return None  # SimplerEnv's evaluator builds a fresh env for every episode; so does this driver

    def make_env(self, spec: EpisodeSpec, policy: PolicySpec) -> SuiteEnv:
        from vla_eval.suites.simpler.real2sim.driver import Real2SimEnv

        return Real2SimEnv(self.protocol, spec, cameras=policy.cameras, privileged=policy.privileged)

    def versions(self) -> dict[str, str]:
        out = package_versions("mani_skill2_real2sim", "sapien", "numpy")
        out["render"] = "vulkan:" + os.environ.get("VLA_EVAL_VULKAN", "system")
        note = placeholder_note(data_dir())
        if note:
            out["assets"] = note
        spp = rt_samples_override()
        if spp is not None:
            how = "no ray tracing (rasterizer)" if spp == 0 else f"ray tracing at {spp} samples per pixel"
            out["render_override"] = f"{how} where SimplerEnv ray-traces at 32: driver check only"
        return out


class SimplerWidowXSuite(_Real2SimSuite):
    protocol_file = HERE / "widowx.toml"


class SimplerGoogleSuite(_Real2SimSuite):
    protocol_file = HERE / "google.toml"
