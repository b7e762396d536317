"""Which packages and data files the distribution holds; pyproject.toml holds everything else.

The import paths are not the file paths: ``vla_eval/`` installs as ``vla_eval``, ``suites/<name>/``
as ``vla_eval.suites.<name>`` and ``policies/<name>/`` as ``vla_eval.policies.<name>``. A hand-written
package list in pyproject.toml silently left a new suite or policy folder out of the wheel, and
setuptools' own ``find`` cannot map two folders under one import prefix, so the list is computed here
by walking the three folders: every folder with Python modules or data files is a package, and its
files matching ``DATA_PATTERNS`` are its package data. A folder of data only, such as
suites/libero/scenes, is listed as a package too (setuptools warns about importable folders it is
not told about); at run time such a folder is only read as files (``scenes.py`` beside it stays
what ``vla_eval.suites.libero.scenes`` imports).
A new folder under suites/ or policies/ therefore ships without editing anything;
tests/test_packaging.py checks the result against the source tree and a built wheel.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent

# import prefix -> folder (relative to the project root)
PACKAGE_ROOTS = {"vla_eval": "vla_eval", "vla_eval.suites": "suites", "vla_eval.policies": "policies"}

# Files shipped beside the modules: protocol and env files, setup scripts, the C wrapper of
# sapien_render, scene tables, and the usual data formats a new suite or policy may bring.
DATA_PATTERNS = ("*.toml", "*.sh", "*.c", "*.npz", "*.json", "*.yaml", "*.yml", "*.txt")


def _skipped(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__" or name.endswith(".egg-info")


def is_data(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in DATA_PATTERNS)


def layout(root: Path = ROOT) -> Tuple[List[str], Dict[str, str], Dict[str, List[str]]]:
    """(packages, package_dir, package_data) of the source tree at ``root``.

    A folder whose name is not an identifier cannot be a package: its data files belong to the
    nearest enclosing package, under their relative path.
    """
    packages: set = set()
    data: Dict[str, List[str]] = {}
    for prefix, folder in PACKAGE_ROOTS.items():
        base = root / folder
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
            parts = Path(dirpath).relative_to(base).parts
            depth = len(parts)
            while depth and not all(p.isidentifier() for p in parts[:depth]):
                depth -= 1
            owner = ".".join((prefix, *parts[:depth]))
            inner = parts[depth:]  # the non-package folders between the owner and this one
            modules = [f for f in filenames if f.endswith(".py")]
            files = sorted("/".join((*inner, f)) for f in filenames if is_data(f))
            if (modules and not inner) or files:
                # the package and every package above it, up to the import prefix
                for k in range(depth + 1):
                    packages.add(".".join((prefix, *parts[:k])))
            if files:
                data.setdefault(owner, []).extend(files)
    package_dir = {p: f for p, f in PACKAGE_ROOTS.items() if p != f}
    return sorted(packages), package_dir, {p: sorted(v) for p, v in sorted(data.items())}


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import layout()
    from setuptools import setup

    packages, package_dir, package_data = layout()
    setup(packages=packages, package_dir=package_dir, package_data=package_data)
