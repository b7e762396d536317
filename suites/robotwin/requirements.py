"""What RoboTwin 2.0 (and DOMINO, its fork) need at import time and on disk. No simulator import.

Read from RoboTwin-Platform/RoboTwin stable_2.0 (script/_install.sh, script/requirements.txt,
script/_download_assets.sh, script/update_embodiment_config_path.py) and the modules the evaluation
imports: ``envs`` (envs/__init__.py -> envs/utils/*, whose pkl2hdf5.py imports h5py and cv2),
``envs/_base_task.py`` (sapien, gymnasium, imageio, toppra, torch, transforms3d, trimesh) ->
envs/robot/robot.py, which imports ``CuroboPlanner`` from envs/robot/planner.py unconditionally:
planner.py defines it only inside ``try: import curobo ...``, so without cuRobo every task fails
to import; envs/camera/camera.py (open3d, cv2, PIL; pytorch3d optional). H-EmbodVis/DOMINO has
the same structure. Not yet run against the simulator.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from vla_eval.diagnose import Dependency, Finding

# The torch cuRobo v0.7.8 and pytorch3d are built against by the recipe (RoboTwin's requirements.txt).
TORCH = "2.4.1"
PINS = {"sapien": "3.0.0b1", "mplib": "0.2.1", "torch": TORCH}
PIN_WHY = {
    "torch": "cuRobo and pytorch3d are compiled against it",
    "sapien": "RoboTwin's pin",
    "mplib": "RoboTwin's pin",
}

CUROBO_FIX = "bash {setup} (builds cuRobo v0.7.8 against torch " + TORCH + "; needs nvcc)"

DEPENDENCIES = (
    Dependency("sapien", "sapien==3.0.0b1", "envs/_base_task.py"),
    Dependency("mplib", "mplib==0.2.1", "envs/robot/planner.py"),
    Dependency("toppra", "toppra==0.6.3", "envs/robot/planner.py, envs/robot/robot.py"),
    Dependency("transforms3d", "transforms3d==0.4.2", "envs/_base_task.py"),
    Dependency("trimesh", "trimesh==4.4.3", "envs/_base_task.py"),
    Dependency("open3d", "open3d==0.18.0", "envs/camera/camera.py"),
    Dependency("cv2", "opencv-python==4.10.0.84", "envs/camera/camera.py, envs/utils/pkl2hdf5.py"),
    Dependency("PIL", "pillow", "envs/camera/camera.py"),
    Dependency("imageio", "imageio==2.34.2", "envs/_base_task.py"),
    Dependency("gymnasium", "gymnasium==0.29.1", "envs/_base_task.py"),
    Dependency("yaml", "pyyaml", "envs/robot/robot.py"),
    Dependency("torch", f"torch=={TORCH}", "envs/_base_task.py, envs/robot/robot.py"),
    Dependency("h5py", "h5py==3.11.0", "envs/utils/pkl2hdf5.py (via envs/utils/__init__.py)"),
    Dependency("curobo", "nvidia-curobo (v0.7.8, from source)", "envs/robot/robot.py (CuroboPlanner)"),
)

# Relative to the checkout, after script/_download_assets.sh (unzipped from the hub dataset).
ASSET_DIRS = ("assets/embodiments", "assets/objects", "assets/background_texture")
LAYOUT = (
    "envs/_base_task.py",
    "envs/robot/planner.py",
    "task_config",
    "description/utils/generate_episode_instructions.py",
)


def default_root(checkout: str) -> Optional[Path]:
    """Where `vla-eval env create` clones the upstream repository: <env>/src/<checkout>."""
    p = Path(sys.prefix) / "src" / checkout
    return p if p.is_dir() else None


def layout_problem(root: Path) -> Optional[str]:
    missing = [x for x in LAYOUT if not (root / x).exists()]
    return f"{root} lacks {', '.join(missing)}" if missing else None


def asset_findings(root: Path, download: str) -> list[Finding]:
    """Assets downloaded and unzipped, and the embodiment configs written from their templates."""
    out = []
    missing = [d for d in ASSET_DIRS if not (root / d).is_dir() or not any((root / d).iterdir())]
    if missing:
        return [Finding("assets", False, f"{', '.join(missing)} missing or empty under {root}", download)]
    templates = sorted((root / "assets" / "embodiments").rglob("*_tmp.yml"))
    stale = [
        t
        for t in templates
        if not t.with_name(t.name.replace("_tmp.yml", ".yml")).exists()
        or "${ASSETS_PATH}" in t.with_name(t.name.replace("_tmp.yml", ".yml")).read_text(errors="replace")
    ]
    if stale:
        out.append(
            Finding(
                "embodiment configs",
                False,
                f"{len(stale)} of {len(templates)} *_tmp.yml not turned into configs"
                f" (e.g. {stale[0].relative_to(root)})",
                f"cd {root} && python script/update_embodiment_config_path.py",
            )
        )
    else:
        out.append(
            Finding("assets", True, f"{', '.join(ASSET_DIRS)} present; {len(templates)} embodiment config(s) written")
        )
    return out


def patch_findings() -> list[Finding]:
    """The two edits RoboTwin's _install.sh makes to installed packages (they change planning)."""
    import importlib.util

    out = []
    checks = (
        (
            "mplib",
            "planner.py",
            "or collide or not within_joint_limit",
            "mplib's screw planner still gives up on collisions (RoboTwin's _install.sh removes `or collide`)",
        ),
        (
            "sapien",
            "wrapper/urdf_loader.py",
            'open(urdf_file, "r") as',
            "sapien's URDF loader still opens files without encoding='utf-8'",
        ),
    )
    for pkg, rel, unpatched, what in checks:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            continue  # reported as a missing dependency
        f = Path(list(spec.submodule_search_locations)[0]) / rel
        if not f.is_file():
            out.append(Finding(f"patch {pkg}/{rel}", False, f"{f} not found", "reinstall the recipe's pinned version"))
        elif unpatched in f.read_text(errors="replace"):
            out.append(
                Finding(f"patch {pkg}/{rel}", False, what, "apply the recipe's edits (the setup script's sed lines)")
            )
        else:
            out.append(Finding(f"patch {pkg}/{rel}", True, "applied"))
    return out
