"""One runner, two suites in two different Python environments (LIBERO: numpy 1.26; ManiSkill3: numpy 2).

Runs where both suite environments were built (`vla-eval env create libero_spatial` and
`vla-eval env create maniskill3`, in ./.venvs or $VLA_EVAL_ENVS); skipped elsewhere (CI does not
build the 0.5 GB ManiSkill3 environment).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vla_eval.envs import env_python, env_spec
from vla_eval.suite import get_suite

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.sim


def _built(suite: str) -> Path | None:
    return env_python(env_spec(get_suite(suite)))


@pytest.mark.skipif(
    not (_built("libero_spatial") and _built("maniskill3")),
    reason="needs the libero and simpler suite environments (vla-eval env create ...)",
)
def test_libero_and_maniskill3_from_one_runner(tmp_path):
    numpy = {}
    for suite, py in (("libero_spatial", _built("libero_spatial")), ("maniskill3", _built("maniskill3"))):
        numpy[suite] = subprocess.run(
            [str(py), "-c", "import numpy; print(numpy.__version__)"], capture_output=True, text=True, check=True
        ).stdout.strip()
        out = tmp_path / suite
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "vla_eval.cli",
                "run",
                "--suite",
                suite,
                "--policy",
                "random",
                "--tasks",
                "0",
                "--episodes",
                "0",
                "--max-steps",
                "10",
                "--out",
                str(out),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        row = json.loads((out / "episodes.jsonl").read_text().splitlines()[0])
        assert row["status"] == "ok" and row["steps"] == 10
    assert numpy["libero_spatial"].startswith("1.") and numpy["maniskill3"].startswith("2.")
