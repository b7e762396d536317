"""Vulkan for SAPIEN suites without a GPU: Mesa lavapipe and the wrapper ICD. Defines no suite.

Every SAPIEN-based suite (SimplerEnv on SAPIEN 2.2.2, ManiSkill3 on 3.0.3, RoboTwin / DOMINO on
3.0.0b1) renders through Vulkan. Without a GPU driver:

- ``setup_lavapipe.sh`` fetches Mesa >= 25 lavapipe (CPU Vulkan) into a private cache and
  builds the wrapper ICD (``build_vk_shim.sh``, ``vk_shim.c``) over it.
- SAPIEN 2.2.2 and 3.0.0b1 ask the device for VK_KHR_external_semaphore_fd, which lavapipe lacks;
  the wrapper ICD lists it and drops it again in vkCreateDevice (see ``vk_shim.c``).
- :func:`render_env` picks, in a child process, the first setup that renders: the user's own
  ``VK_ICD_FILENAMES`` if set (nothing else is tried); else the system's Vulkan driver (a GPU);
  else lavapipe, through the wrapper when ``needs_shim``.

Nothing here imports a simulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SUITES: dict[str, str] = {}  # a helper package, not a suite

HERE = Path(__file__).parent
SETUP_SCRIPT = HERE / "setup_lavapipe.sh"
SETUP_HINT = (
    f"Without a GPU, SAPIEN renders only with Mesa >= 25 lavapipe: run bash {SETUP_SCRIPT} (fetches Debian "
    "bookworm-backports mesa-vulkan-drivers into ~/.cache/vla-eval/lavapipe and builds the wrapper ICD; needs "
    "cc and libvulkan-dev), or set VK_ICD_FILENAMES to a working Vulkan driver"
)
# Child-process probes: creating the Vulkan device is what fails (or aborts) without a driver.
PROBE_SAPIEN2 = "import sapien.core as sc; sc.SapienRenderer(offscreen_only=True)"
PROBE_SAPIEN3 = "import sapien; sapien.render.RenderSystem()"
# What SAPIEN prints when it found no Vulkan device it can use, yet carries on without rendering.
NO_DEVICE = "Vulkan is incompatible with your driver"


def lavapipe_dir() -> Path:
    base = os.environ.get("VLA_EVAL_LAVAPIPE_DIR")
    if base:
        return Path(base)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "vla-eval" / "lavapipe"


def lavapipe_env(cache: Path | None = None, shim: bool = False) -> dict[str, str]:
    """VK_ICD_FILENAMES / LD_LIBRARY_PATH for the private lavapipe (through the wrapper ICD when
    ``shim``), or {} when setup_lavapipe.sh has not made it (or the wrapper is not built)."""
    cache = cache or lavapipe_dir()
    icd = cache / "vk_shim" / "vk_shim_icd.json" if shim else cache / "lvp_icd.json"
    if not ((cache / ".complete").exists() and icd.exists()):
        return {}
    libdirs = sorted(str(p) for p in (cache / "root" / "usr" / "lib").glob("*-linux-gnu") if p.is_dir())
    old = os.environ.get("LD_LIBRARY_PATH", "")
    parts = libdirs + [p for p in old.split(":") if p and p not in libdirs]
    out = {"VK_ICD_FILENAMES": str(icd), "VK_DRIVER_FILES": str(icd), "LD_LIBRARY_PATH": ":".join(parts)}
    out["VLA_EVAL_VULKAN"] = "lavapipe+vk_shim" if shim else "lavapipe"
    return out


def probe_render(
    env: dict[str, str], code: str = PROBE_SAPIEN3, python: str | None = None, timeout: float = 180.0
) -> tuple[bool, str]:
    """Can SAPIEN create its renderer with these variables? (in a child: a failed Vulkan init can abort)"""
    try:
        r = subprocess.run(
            [python or sys.executable, "-W", "ignore", "-c", code],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False, "the SAPIEN render probe timed out"
    # SAPIEN 2.2 without a usable Vulkan device still builds its renderer ("CPU resources will be
    # still available") and exits 0; it says so on stderr, and the first render then fails.
    refused = [ln for ln in r.stderr.splitlines() if NO_DEVICE in ln]
    if r.returncode == 0 and not refused:
        return True, ""
    tail = (refused or r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1]
    return False, tail


def render_env(code: str = PROBE_SAPIEN3, needs_shim: bool = False, python: str | None = None) -> dict[str, str]:
    """Environment variables under which SAPIEN renders here; raises RuntimeError (one line) if none.

    Tried in order: the user's VK_ICD_FILENAMES (alone); the system's driver; the private lavapipe
    (through the wrapper ICD if ``needs_shim``). ``VLA_EVAL_VULKAN`` in the result names the choice.
    """
    if os.environ.get("VK_ICD_FILENAMES"):
        ok, why = probe_render({}, code, python)
        if ok:
            return {"VLA_EVAL_VULKAN": "user:" + os.environ["VK_ICD_FILENAMES"]}
        raise RuntimeError(f"SAPIEN does not render with VK_ICD_FILENAMES={os.environ['VK_ICD_FILENAMES']} ({why})")
    ok, why_system = probe_render({}, code, python)
    if ok:
        return {"VLA_EVAL_VULKAN": "system"}
    lvp = lavapipe_env(shim=needs_shim)
    if not lvp:
        what = "lavapipe with the wrapper ICD" if needs_shim else "lavapipe"
        raise RuntimeError(f"SAPIEN found no Vulkan device ({why_system}) and {what} is not set up. {SETUP_HINT}")
    ok, why = probe_render(lvp, code, python)
    if ok:
        return lvp
    raise RuntimeError(f"SAPIEN does not render on {lvp['VLA_EVAL_VULKAN']} ({why}). {SETUP_HINT}")
