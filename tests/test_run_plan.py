"""plan(cfg) -> RunPlan is pure; replicas answer metadata() one way; protocol files are parsed once."""

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vla_eval import tomlfile
from vla_eval.errors import UsageError
from vla_eval.executors.replicas import InProcessPolicy, ProcessPolicy
from vla_eval.gpus import Placement
from vla_eval.policy import load_policy
from vla_eval.run_config import RunConfig
from vla_eval.runner import check_policy, plan
from vla_eval.suite import get_suite
from vla_eval.types import PolicySpec

ROOT = Path(__file__).resolve().parents[1]
EXPERT = "tests.toy_policies:ToyExpert"


def cfg(out, **kw) -> RunConfig:
    return RunConfig(**{"suite": "toy_reach", "policy": EXPERT, "out": out, **kw})


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"suite": "nope"}, "unknown suite"),
        ({"tasks": "7"}, "task index 7 is out of range"),
        ({"episodes": "1-3"}, "malformed episode selection"),
        ({"max_steps": 0}, "--max-steps must be >= 1"),
        ({"workers": 0}, "--workers must be >= 1"),
        ({"in_process": True, "workers": 2}, "--in-process runs exactly one worker"),
        ({"executor": "slurm"}, "--executor must be local or ray"),
        ({"record_video": "sometimes"}, "--record-video must be one of"),
        ({"policy": "nosuchpolicy"}, "unknown policy"),
        ({"policy": "tests.toy_policies:NotAPolicy"}, "missing reset, infer_batch"),
        ({"policy_args": ("x",)}, "is not KEY=VALUE"),
        ({"gpus": "7"}, "not visible here"),
        ({"python": "/nonexistent/python"}, "does not exist"),
    ],
)
def test_plan_refuses_bad_input_and_writes_nothing(tmp_path, monkeypatch, kw, needle):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    out = tmp_path / "out"
    with pytest.raises(UsageError, match=needle):
        plan(cfg(out, **kw))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_plan_resolves_everything_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    out = tmp_path / "out"
    p = plan(cfg(out, tasks="0:2", episodes="0:3", policy_args=("horizon=2",), gpus="1", batch_wait_ms=50.0))
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert p.suite.name == "toy_reach" and len(p.episodes) == 6
    assert [(e.task_index, e.episode_index) for e in p.episodes][:4] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert p.policy_class.__name__ == "ToyExpert" and dict(p.policy_args) == {"horizon": 2}
    assert p.policy_kwargs["horizon"] == 2
    assert p.placement == Placement(("1",)) and p.executor == "local"
    assert p.python == sys.executable and p.out == out
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.policy = "noop"  # type: ignore[misc]

    # What needs the policy's metadata derives from the plan.
    spec = PolicySpec(name="toy", action_dim=2, horizon=2, replan_steps=None)
    protocol = p.suite.protocol
    assert p.replan_steps(spec) == protocol.replan_steps
    assert p.replan_steps(dataclasses.replace(spec, replan_steps=1)) == 1
    assert plan(cfg(out, replan_steps=3)).replan_steps(dataclasses.replace(spec, replan_steps=1)) == 3
    loop = p.loop_config(spec)
    assert loop.replan_steps == protocol.replan_steps and loop.policy_spec.replan_steps == protocol.replan_steps
    assert loop.batch_wait_s == pytest.approx(0.05) and loop.policy_label == EXPERT
    np.testing.assert_array_equal(loop.action_low, np.asarray(protocol.action_low, dtype=np.float32))
    run_json = p.run_json(spec)
    assert run_json["policy"] == EXPERT and run_json["policy_args"] == {"horizon": 2}
    assert run_json["policy_name"] == "toy" and run_json["replan_steps"] == protocol.replan_steps
    assert p.video(spec) == "none"  # no cameras: nothing to record
    assert not out.exists()


def test_plan_on_ray_leaves_the_gpus_to_the_cluster(tmp_path):
    p = plan(cfg(tmp_path / "out", executor="ray", gpus="3"))
    assert p.placement is None and p.executor == "ray"
    assert not (tmp_path / "out").exists()


def test_every_replica_kind_answers_metadata_with_a_policy_spec():
    in_process = InProcessPolicy(load_policy(EXPERT, {"horizon": 3}), EXPERT)
    process = ProcessPolicy(0, EXPERT, {"horizon": 3}, EXPERT)
    try:
        a, b = in_process.metadata(), process.metadata()
    finally:
        process.close()
    assert isinstance(a, PolicySpec) and isinstance(b, PolicySpec)
    assert a == b and a.horizon == 3


class _Replica:
    def __init__(self, spec: PolicySpec) -> None:
        self.spec = spec

    def metadata(self) -> PolicySpec:
        return self.spec


def test_check_policy_needs_replicas_that_agree_and_fit_the_suite(tmp_path):
    p = plan(cfg(tmp_path / "out"))
    good = PolicySpec(name="toy", action_dim=2, horizon=4)
    assert check_policy(p, [_Replica(good), _Replica(good)]) == good
    with pytest.raises(UsageError, match="disagree on their metadata"):
        check_policy(p, [_Replica(good), _Replica(dataclasses.replace(good, horizon=2))])
    with pytest.raises(UsageError, match="returns 3-D actions"):
        check_policy(p, [_Replica(dataclasses.replace(good, action_dim=3))])


def test_protocol_file_is_parsed_once_per_process(monkeypatch):
    calls = []
    real_load = tomlfile.tomllib.load

    def counting_load(f):
        calls.append(f.name)
        return real_load(f)

    monkeypatch.setattr(tomlfile.tomllib, "load", counting_load)
    tomlfile._parse.cache_clear()
    suites = [get_suite("toy_reach") for _ in range(5)]
    spec = PolicySpec(name="toy", action_dim=2)
    envs = [s.make_env(e, spec) for s in suites for e in s.plan(tasks="0:3", episodes="0")]
    assert len(envs) == 15
    assert len(calls) == 1 and calls[0].endswith("protocol.toml")
    # Each suite still has its own Protocol (a caller cannot change another's by mutating the parse).
    assert suites[0].protocol == suites[1].protocol and suites[0].protocol.extra is not suites[1].protocol.extra


def test_a_changed_toml_file_is_read_again(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text("a = 1\n")
    assert tomlfile.read_toml(f) == {"a": 1}
    doc = tomlfile.read_toml(f)
    doc["a"] = 5  # callers get their own copy
    assert tomlfile.read_toml(f) == {"a": 1}
    before = tomlfile.cache_info().misses
    f.write_text("a = 22\n")
    later = time.time() + 5
    os.utime(f, (later, later))  # a new mtime even on coarse-grained file systems
    assert tomlfile.read_toml(f) == {"a": 22}
    assert tomlfile.cache_info().misses == before + 1


def test_run_help_lists_every_flag_with_its_help():
    r = subprocess.run(
        [sys.executable, "-m", "vla_eval.cli", "run", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())  # no box drawing
    assert "Run a suite's episodes with a policy; results go to OUT/episodes.jsonl." in text
    for f in dataclasses.fields(RunConfig):
        assert f"--{f.name.replace('_', '-')}" in text, f.name
    for needle in (
        "--suite STR Suite name (see `vla-eval suites`). (required)",
        "--out PATH Run directory. Running again with the same configuration resumes it. (required)",
        "--policy-args [STR [STR ...]] Policy constructor arguments as KEY=VALUE",
        "--record-trajectory, --no-record-trajectory Write each episode's executed actions",
        "--gpus STR GPUs to use: auto (all visible), none, or ids such as 0,1. One policy replica per GPU.",
        "--batch-wait-ms {None}|FLOAT How long a partial batch waits for envs still stepping",
    ):
        assert needle in text, needle
