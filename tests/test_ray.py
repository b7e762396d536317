"""--executor ray on a local Ray instance with logical GPUs (skipped when ray is not installed)."""

from pathlib import Path

import pytest

from vla_eval.errors import UsageError
from vla_eval.ledger import EPISODES_FILE, read_rows
from vla_eval.runner import RunConfig, run

ray = pytest.importorskip("ray")


def test_ray_executor_runs_the_same_episodes_with_a_replica_per_logical_gpu(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # the local instance gets 2 logical GPUs
    monkeypatch.setenv("DEVICE_PROBE_LOG", str(tmp_path / "probe.log"))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))  # actors import tests.*
    out = tmp_path / "ray"
    assert (
        run(
            RunConfig(
                suite="toy_reach",
                policy="tests.test_survival:DeviceProbe",
                out=out,
                workers=2,
                tasks="0:2",
                episodes="0:3",
                executor="ray",
            )
        )
        == 0
    )
    assert not ray.is_initialized()  # the local instance it started is shut down
    rows = list(read_rows(out / EPISODES_FILE))
    assert len(rows) == 6 and all(r["status"] == "ok" and r["success"] for r in rows)
    gpus = {line.split()[0] for line in (tmp_path / "probe.log").read_text().splitlines()}
    assert gpus == {"0", "1"}  # two replicas, each given one logical GPU by Ray

    local = tmp_path / "local"
    run(
        RunConfig(
            suite="toy_reach",
            policy="tests.test_survival:DeviceProbe",
            out=local,
            workers=2,
            tasks="0:2",
            episodes="0:3",
            gpus="none",
        )
    )
    assert (local / "report.csv").read_text() == (out / "report.csv").read_text()


def test_unreachable_ray_address_is_one_clear_error(tmp_path):
    with pytest.raises(UsageError, match="cannot reach the Ray cluster at 127.0.0.1:1"):
        run(RunConfig(suite="toy_reach", policy="noop", out=tmp_path / "o", executor="ray", ray_address="127.0.0.1:1"))
    assert not (tmp_path / "o").exists()
