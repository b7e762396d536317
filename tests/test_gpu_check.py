"""The prepared GPU check (benchmarks/gpu_check) on the CPU: its dry run and its table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))

from benchmarks.gpu_check import table  # noqa: E402
from benchmarks.gpu_check.__main__ import main  # noqa: E402

pytest.importorskip("transformers")


def test_table_names_every_part_and_the_skipped_ones():
    cost = {
        "wall_s": 120.0,
        "sim_total_s": 1000.0,
        "inference_total_s": 60.0,
        "workers": 12,
        "replicas": 1,
        "bound_s": 83.3,
        "ratio": 1.44,
    }
    r = {
        "dry_run": False,
        "machine": "16 cores",
        "a": {"skipped": "RuntimeError: out of memory"},
        "b": {
            "gl": "egl",
            "runs": [
                {
                    "workers": 8,
                    "steps_per_s_per_worker": 40.0,
                    "steps_per_s_min": 35.0,
                    "steps_per_s_total": 320.0,
                    "env_build_s_mean": 4.0,
                    "images": {"agentview": [256, 256, 3]},
                }
            ],
        },
        "c": {
            "workers": 12,
            "episodes": 24,
            "errors": 0,
            "steps": 5280,
            "wall_s": 120.0,
            "episodes_per_min": 12.0,
            "calls": 900,
            "mean_batch": 5.9,
            "inference_s": 60.0,
            "gpu_util_mean": 41.0,
            "gpu_util_p50": 38,
            "cost": cost,
        },
        "total_s": 400,
    }
    out = table.render(r)
    assert "| a | Qwen-VLA latency | skipped: RuntimeError: out of memory |" in out
    assert "LIBERO 8 worker(s), MUJOCO_GL=egl, 2 cameras 256x256x3 | 40.0 steps/s per worker" in out
    assert "12.0 episodes/min" in out and "mean batch 5.90" in out and "41% mean" in out
    assert "= 83.3 s: ratio 1.44" in out
    assert "DRY RUN" not in out


def test_bad_parts_and_no_gpu_are_one_line_errors(capsys):
    assert main(["--parts", "a,x", "--dry-run"]) == 2
    assert "unknown part(s) ['x']" in capsys.readouterr().err
    import torch

    if not torch.cuda.is_available():
        assert main(["--parts", "a"]) == 2
        assert "no CUDA device" in capsys.readouterr().err


def test_dry_run_of_the_model_part(tmp_path):
    out = tmp_path / "r.json"
    assert main(["--dry-run", "--parts", "a", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["dry_run"] is True
    assert [row["batch"] for row in r["a"]["results"]] == [1, 2]
    assert any(k.startswith("fla:") for k in r["a"]["meta"]["kernels"])


@pytest.mark.sim
def test_dry_run_of_the_libero_parts(tmp_path):
    pytest.importorskip("libero")
    out = tmp_path / "r.json"
    assert main(["--dry-run", "--parts", "b,c", "--json", str(out), "--budget-s", "900"]) == 0
    r = json.loads(out.read_text())
    assert [run["workers"] for run in r["b"]["runs"]] == [1, 2]
    assert all(run["steps_per_s_per_worker"] > 0 for run in r["b"]["runs"])
    assert r["b"]["runs"][0]["images"] == {"agentview": [256, 256, 3], "wrist": [256, 256, 3]}
    c = r["c"]
    assert c["episodes"] == 2 and c["errors"] == 0 and c["steps"] == 20
    # 2 episodes x 10 steps, replanning every 5: 4 observations reach the replica, which may batch
    # the two workers' requests together (2 calls) or not (4 calls), depending on timing.
    assert 2 <= c["calls"] <= 4 and round(c["calls"] * c["mean_batch"]) == 4
    assert c["cost"]["bound_s"] > 0 and c["cost"]["ratio"] > 0
