"""What ``vla-eval doctor`` checks inside a suite's own interpreter, one finding per check.

``python -m vla_eval.diagnose --suite NAME`` prints the findings as one JSON line (prefixed) so
the doctor can run it with the suite environment's Python. A suite may define ``diagnose()``
returning its own findings (import-time dependencies, assets, versions); every suite gets the
availability check when it has none, the render-device check named by its ``render_backend``
attribute ("egl", "vulkan" or "none"), and ``prepare()`` (what ``vla-eval run`` checks first).
"""

from __future__ import annotations

import argparse
import ctypes.util
import glob
import importlib.util
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

PREFIX = "VLA_EVAL_DIAGNOSE "


@dataclass(frozen=True)
class Finding:
    """One check: ``ok``, what was found, and (when not ok) the one fix to apply."""

    check: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"ok       {self.check}: {self.detail}"
        return f"PROBLEM  {self.check}: {self.detail} -- fix: {self.fix or 'see the README section of this suite'}"

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "Finding":
        return Finding(str(d["check"]), bool(d["ok"]), str(d["detail"]), str(d.get("fix", "")))


@dataclass(frozen=True)
class Dependency:
    """A module the upstream code imports at import time, and the pip requirement providing it."""

    module: str
    requirement: str
    imported_by: str
    fix: str = ""  # when it is not `pip install '<requirement>'`


def dependency_findings(deps: Iterable[Dependency], install: str = "pip install") -> list[Finding]:
    """A finding per missing module (found by find_spec: nothing is imported)."""
    out = []
    for d in deps:
        try:
            found = importlib.util.find_spec(d.module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(
                Finding(
                    f"import {d.module}",
                    False,
                    f"not installed (imported by {d.imported_by})",
                    d.fix or f"{install} '{d.requirement}'",
                )
            )
    if not out:
        names = ", ".join(d.module for d in deps)
        out.append(Finding("import-time dependencies", True, f"all present ({names})"))
    return out


def version_findings(pins: Mapping[str, str], why: Mapping[str, str] | None = None) -> list[Finding]:
    """Installed distribution versions against exact pins."""
    from importlib import metadata

    out = []
    for dist, want in pins.items():
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            have = None
        note = f" ({why[dist]})" if why and dist in why else ""
        if have == want:
            out.append(Finding(f"version {dist}", True, f"{have}{note}"))
        else:
            out.append(
                Finding(
                    f"version {dist}",
                    False,
                    f"{have or 'not installed'}, the recipe pins {want}{note}",
                    f"pip install '{dist}=={want}'",
                )
            )
    return out


# --- render devices -----------------------------------------------------------------------------
def _icd_manifests() -> list[str]:
    listed = os.environ.get("VK_ICD_FILENAMES") or os.environ.get("VK_DRIVER_FILES")
    if listed:
        return [p for p in listed.split(os.pathsep) if p]
    dirs = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"]
    return sorted(p for d in dirs for p in glob.glob(os.path.join(d, "*.json")))


def check_vulkan() -> list[Finding]:
    out = []
    if ctypes.util.find_library("vulkan") is None:
        out.append(
            Finding(
                "render device (Vulkan)",
                False,
                "libvulkan.so.1 (the Vulkan loader) is not installed",
                "apt-get install libvulkan1",
            )
        )
        return out
    manifests = [m for m in _icd_manifests() if os.path.exists(m)]
    if not manifests:
        out.append(
            Finding(
                "render device (Vulkan)",
                False,
                "no Vulkan driver (ICD manifest) found",
                "install the NVIDIA driver's Vulkan ICD (nvidia_icd.json, part of the driver package); "
                "on a CPU-only machine see the SimplerEnv/rendering section of the README",
            )
        )
        return out
    names = ", ".join(os.path.basename(m) for m in manifests)
    out.append(Finding("render device (Vulkan)", True, f"loader present, drivers: {names}"))
    return out


def check_egl() -> list[Finding]:
    if ctypes.util.find_library("EGL") is None:
        return [
            Finding(
                "render device (EGL)",
                False,
                "libEGL is not installed",
                "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri (or the NVIDIA driver's EGL)",
            )
        ]
    return [Finding("render device (EGL)", True, "libEGL present")]


RENDER_CHECKS: dict[str, Callable[[], list[Finding]]] = {
    "vulkan": check_vulkan,
    "egl": check_egl,
    "none": lambda: [],
}


def check_cuda() -> list[Finding]:
    """torch sees a CUDA device (cuRobo plans on it)."""
    try:
        import torch
    except Exception as e:  # reported, never raised
        return [
            Finding(
                "CUDA device",
                False,
                f"torch does not import: {type(e).__name__}: {e}",
                "pip install the recipe's torch",
            )
        ]
    if not torch.cuda.is_available():
        return [
            Finding(
                "CUDA device",
                False,
                f"torch {torch.__version__} sees no CUDA device",
                "run on a machine with an NVIDIA GPU and driver (cuRobo plans on CUDA)",
            )
        ]
    return [
        Finding(
            "CUDA device",
            True,
            f"{torch.cuda.get_device_name(0)} (torch {torch.__version__}, CUDA {torch.version.cuda})",
        )
    ]


# --- the whole set for one suite -----------------------------------------------------------------
def suite_findings(suite: Any) -> list[Finding]:
    out = [Finding("python", True, f"{sys.executable} ({platform.python_version()})")]
    diagnose = getattr(suite, "diagnose", None)
    if diagnose is not None:
        out += list(diagnose())
    else:
        ok, why = suite.availability()
        out.append(Finding("simulator", ok, why or "importable", why if not ok else ""))
    backend = str(getattr(suite, "render_backend", "none"))
    out += RENDER_CHECKS.get(backend, RENDER_CHECKS["none"])()
    if all(f.ok for f in out):
        try:
            env = suite.prepare()
            shown = ", ".join(f"{k}={v}" for k, v in env.items()) or "nothing to pass to workers"
            out.append(Finding("prepare", True, shown))
        except Exception as e:  # SimulatorUnavailable carries its own fix in the message
            out.append(Finding("prepare", False, f"{type(e).__name__}: {e}", "see the message"))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="print a suite's diagnose findings as one JSON line")
    ap.add_argument("--suite", required=True)
    args = ap.parse_args(argv)
    from vla_eval.suite import get_suite

    try:
        findings = suite_findings(get_suite(args.suite))
    except Exception as e:  # a broken suite is a finding too
        findings = [Finding("suite", False, f"{type(e).__name__}: {e}", "see the message")]
    print(PREFIX + json.dumps([asdict(f) for f in findings]), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
