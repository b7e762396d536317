"""``vla-eval doctor SUITE``: is this suite ready to run here? One line per check, one fix per problem.

1. In the interpreter the suite's workers use (its ``vla-eval env create`` environment, or
   ``--python``), ``vla_eval.diagnose`` checks the import-time dependencies, assets, versions and
   render device the suite declares, then the suite's ``prepare()``.
2. When nothing is wrong, one short smoke episode runs through ``vla-eval run`` with the ``noop``
   policy (task 0, episode 0, ``--smoke-steps`` steps), in a temporary directory; its ledger row
   must have status ``ok``.

Exit code 0 when every check passed, 1 when any problem was found, 2 for bad input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from vla_eval.diagnose import PREFIX, Finding
from vla_eval.errors import UsageError

SMOKE_TIMEOUT_S = 3600.0  # RoboTwin / DOMINO search expert-solvable seeds before episode 0


def diagnose_in(python: str, suite: str, timeout: float = 600.0) -> list[Finding]:
    """Run vla_eval.diagnose in ``python``; a failure to start is a finding."""
    try:
        r = subprocess.run(
            [python, "-m", "vla_eval.diagnose", "--suite", suite], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return [
            Finding("diagnose", False, f"no answer from {python} in {timeout:.0f} s", "see the suite's README section")
        ]
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(PREFIX)]
    if not lines:
        tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return [
            Finding(
                "vla-eval in the suite environment",
                False,
                f"{python} cannot run vla_eval.diagnose: {tail}",
                f"vla-eval env create {suite}",
            )
        ]
    return [Finding.from_dict(d) for d in json.loads(lines[-1][len(PREFIX) :])]


def smoke_episode(suite: str, python: str, steps: int, timeout: float = SMOKE_TIMEOUT_S) -> Finding:
    """One noop episode through `vla-eval run` (the real worker path); its row must be status ok."""
    check = f"smoke episode (noop, task 0, episode 0, {steps} steps)"
    with tempfile.TemporaryDirectory(prefix="vla-eval-doctor-") as tmp:
        out = Path(tmp) / "run"
        cmd = [
            sys.executable,
            "-m",
            "vla_eval.cli",
            "run",
            "--suite",
            suite,
            "--policy",
            "noop",
            "--tasks",
            "0",
            "--episodes",
            "0",
            "--max-steps",
            str(steps),
            "--out",
            str(out),
            "--python",
            python,
            "--record-video",
            "none",
            "--max-retries",
            "0",
        ]
        t0 = time.perf_counter()
        try:
            r = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, "COLUMNS": "100"}
            )
        except subprocess.TimeoutExpired:
            return Finding(check, False, f"did not finish in {timeout:.0f} s", "run it by hand to see where it hangs")
        wall = time.perf_counter() - t0
        rows = []
        ledger = out / "episodes.jsonl"
        if ledger.exists():
            rows = [json.loads(ln) for ln in ledger.read_text().splitlines() if ln.strip()]
        if not rows:
            tail = [ln for ln in r.stderr.strip().splitlines() if ln.strip()] or [f"exit code {r.returncode}"]
            return Finding(check, False, f"no episode recorded: {tail[-1]}", "fix the problem the message names")
        row = rows[-1]
        if row["status"] != "ok":
            first = (row.get("error") or "").strip().splitlines()
            return Finding(
                check,
                False,
                f"status {row['status']} ({row.get('error_class')}): {first[0] if first else ''}",
                "fix the problem the message names; the traceback is in the row's error",
            )
        return Finding(check, True, f"ran {row['steps']} step(s) in {wall:.1f} s (success={row['success']})")


def doctor(suite: str, python: Optional[str] = None, smoke_steps: Optional[int] = None, smoke: bool = True) -> int:
    from vla_eval.envs import worker_python
    from vla_eval.suite import get_suite

    s = get_suite(suite)  # UsageError for an unknown suite
    if smoke_steps is not None and smoke_steps < 1:
        raise UsageError(f"--smoke-steps must be >= 1, got {smoke_steps}")
    py = worker_python(s, python)
    findings = diagnose_in(py, suite)
    if smoke and all(f.ok for f in findings):
        steps = smoke_steps or int(s.protocol.extra.get("smoke_steps", 5))
        findings.append(smoke_episode(suite, py, steps))
    for f in findings:
        print(f.line(), flush=True)
    problems = [f for f in findings if not f.ok]
    if problems:
        print(f"{suite}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{suite}: ready", file=sys.stderr)
    return 0
