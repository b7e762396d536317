"""The distribution's packages and data files are computed from the source tree (setup.py).

Checked three ways: against the folders and tracked files of this checkout, on a made-up tree with
a new suite folder, and in a wheel built from a copy of the tree.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"vla_eval": "vla_eval", "vla_eval.suites": "suites", "vla_eval.policies": "policies"}

# What the hand-written list of pyproject.toml shipped before it was computed: still shipped.
PACKAGES = {
    "vla_eval",
    "vla_eval.executors",
    "vla_eval.suites",
    "vla_eval.suites.libero",
    "vla_eval.suites.toy",
    "vla_eval.suites.robocasa",
    "vla_eval.suites.vlnce",
    "vla_eval.suites.simpler",
    "vla_eval.suites.simpler.real2sim",
    "vla_eval.suites.sapien_render",
    "vla_eval.suites.robotwin",
    "vla_eval.suites.domino",
    "vla_eval.policies",
    "vla_eval.policies.baselines",
    "vla_eval.policies.scripted",
    "vla_eval.policies.qwen_vla",
    "vla_eval.policies.openpi",
    "vla_eval.policies.replay",
}
DATA_FILES = {
    "vla_eval/suites/libero/protocol.toml",
    "vla_eval/suites/libero/env.toml",
    "vla_eval/suites/libero/scenes/openpi_seed7.npz",
    "vla_eval/suites/libero/scenes/openvla_seed0.npz",
    "vla_eval/suites/toy/protocol.toml",
    "vla_eval/suites/robocasa/setup_env.sh",
    "vla_eval/suites/vlnce/protocol.toml",
    "vla_eval/suites/vlnce/setup_env.sh",
    "vla_eval/suites/simpler/protocol.toml",
    "vla_eval/suites/simpler/setup_lavapipe.sh",
    "vla_eval/suites/simpler/real2sim/widowx.toml",
    "vla_eval/suites/simpler/real2sim/google.toml",
    "vla_eval/suites/simpler/real2sim/setup.sh",
    "vla_eval/suites/sapien_render/vk_shim.c",
    "vla_eval/suites/sapien_render/build_vk_shim.sh",
    "vla_eval/suites/robotwin/setup_upstream.sh",
    "vla_eval/suites/domino/protocol.toml",
}


def load_setup():
    spec = importlib.util.spec_from_file_location("vla_eval_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not as __main__: setup() is not called
    return module


def installed_paths(package_data) -> set[str]:
    """Install-relative paths of the package data (vla_eval/suites/libero/scenes/openpi_seed7.npz ...)."""
    return {f"{pkg.replace('.', '/')}/{rel}" for pkg, files in package_data.items() for rel in files}


def tracked_files() -> list[str] | None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return None
    r = subprocess.run(["git", "ls-files", *FOLDERS.values()], cwd=ROOT, capture_output=True, text=True)
    return r.stdout.split() if r.returncode == 0 else None


def install_path(rel: str) -> str:
    """suites/libero/protocol.toml -> vla_eval/suites/libero/protocol.toml."""
    top, _, rest = rel.partition("/")
    prefix = next(p for p, f in FOLDERS.items() if f == top)
    return f"{prefix.replace('.', '/')}/{rest}"


def test_layout_of_this_tree():
    packages, package_dir, package_data = load_setup().layout()
    assert package_dir == {"vla_eval.suites": "suites", "vla_eval.policies": "policies"}
    assert PACKAGES <= set(packages)
    assert DATA_FILES <= installed_paths(package_data)
    # every folder with an __init__.py is a package, under its import path
    for prefix, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            assert ".".join((prefix, *parts)) in packages, init
    # suites/libero/scenes holds data only: a package of its own, so setuptools does not warn about it
    assert sorted(package_data["vla_eval.suites.libero.scenes"]) == ["openpi_seed7.npz", "openvla_seed0.npz"]


def test_every_tracked_file_ships():
    """A tracked file under vla_eval/, suites/ or policies/ is a module or package data: none is left out."""
    files = tracked_files()
    if files is None:
        pytest.skip("not a git checkout")
    packages, package_dir, package_data = load_setup().layout()
    shipped = installed_paths(package_data)
    for rel in files:
        if not (ROOT / rel).exists():
            continue  # deleted in the work tree
        path = install_path(rel)
        if rel.endswith(".py"):
            assert path.rpartition("/")[0].replace("/", ".") in packages, rel
        else:
            assert path in shipped, f"{rel} is not shipped: add its pattern to DATA_PATTERNS in setup.py"


def test_a_new_suite_folder_ships(tmp_path):
    for folder in FOLDERS.values():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    new = tmp_path / "suites" / "newsuite"
    (new / "assets" / "meshes").mkdir(parents=True)
    (new / "odd-name").mkdir()
    (new / "__pycache__").mkdir()
    (new / "__init__.py").write_text('SUITES = {"new": "vla_eval.suites.newsuite.suite:NewSuite"}\n')
    (new / "suite.py").write_text("")
    (new / "protocol.toml").write_text("")
    (new / "setup_env.sh").write_text("")
    (new / "notes.md").write_text("")  # not a data pattern
    (new / "assets" / "meshes" / "table.npz").write_bytes(b"")
    (new / "odd-name" / "cfg.json").write_text("{}")
    (new / "__pycache__" / "suite.cpython-311.pyc").write_bytes(b"")
    (tmp_path / "policies" / "mypolicy").mkdir()
    (tmp_path / "policies" / "mypolicy" / "__init__.py").write_text("")

    packages, _, package_data = load_setup().layout(tmp_path)
    assert {
        "vla_eval.suites.newsuite",
        "vla_eval.suites.newsuite.assets",
        "vla_eval.suites.newsuite.assets.meshes",
        "vla_eval.policies.mypolicy",
    } <= set(packages)
    assert not any("pycache" in p or "odd" in p for p in packages)
    assert package_data["vla_eval.suites.newsuite"] == ["odd-name/cfg.json", "protocol.toml", "setup_env.sh"]
    assert package_data["vla_eval.suites.newsuite.assets.meshes"] == ["table.npz"]


def test_wheel_holds_every_package_and_data_file(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in FOLDERS.values():
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), "."],
        cwd=src,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert seconds < 120, f"building the wheel took {seconds:.0f} s"  # ~4 s on an idle 2-core machine
    (wheel,) = (tmp_path / "dist").glob("vla_evalkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    packages, package_dir, package_data = load_setup().layout(src)
    assert DATA_FILES <= names
    assert installed_paths(package_data) <= names
    for pkg in PACKAGES:
        assert f"{pkg.replace('.', '/')}/__init__.py" in names, pkg
    assert "vla_eval/suites/vlnce/metrics.py" in names and "vla_eval/policies/qwen_vla/commands.py" in names
    assert not any("__pycache__" in n or n.startswith(("suites/", "policies/", "tests/")) for n in names)
