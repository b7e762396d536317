"""The executors' interfaces (EnvSlot, PolicyReplica) and the one replica core behind every policy replica."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from vla_eval import wire
from vla_eval.executors.interfaces import EnvSlot, PolicyCrashed, PolicyReplica, Waitable
from vla_eval.executors.local import InProcessSlot, ProcessSlot
from vla_eval.executors.ray_executor import RayPolicy, RaySlot
from vla_eval.executors.replica_core import (
    METADATA,
    Inference,
    ReplicaCore,
    encode_reply,
    infer_message,
    reset_message,
    spec_from_reply,
)
from vla_eval.executors.replicas import InProcessPolicy, ProcessPolicy
from vla_eval.types import Observation, PolicySpec
from vla_eval.validate import ActionError

ROOT = Path(__file__).resolve().parents[1]


def obs(env_id: int, episode: str = "e", poison: bool = False) -> Observation:
    return Observation(
        images={},
        state=np.full(2, env_id, dtype=np.float32),
        instruction="x",
        env_id=env_id,
        episode_id=episode,
        extras={"poison": poison},
    )


class Echo:
    """Returns its inputs' env ids as actions; raises on a poisoned observation; records its calls."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.resets: list[list[int] | None] = []
        self.closed = False

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="echo", action_dim=2, horizon=1, max_batch=8)

    def reset(self, env_ids=None) -> None:
        self.resets.append(env_ids)

    def infer_batch(self, observations):
        self.batches.append([o.env_id for o in observations])
        if any(o.extras.get("poison") for o in observations):
            raise RuntimeError("poisoned")
        return np.stack([np.full((1, 2), o.env_id, dtype=np.float32) for o in observations])

    def close(self) -> None:
        self.closed = True


class NanFor3(Echo):
    def infer_batch(self, observations):
        out = super().infer_batch(observations)
        out[[o.env_id == 3 for o in observations]] = np.nan
        return out


class ShortBatch(Echo):
    """Drops the last chunk of any batch larger than one: a malformed batch."""

    def infer_batch(self, observations):
        out = super().infer_batch(observations)
        return out[:-1] if len(observations) > 1 else out


class Unsendable(Echo):
    def infer_batch(self, observations):
        return [object() for _ in observations]


# --- the protocols ------------------------------------------------------------------------------
SLOTS = [InProcessSlot, ProcessSlot, RaySlot]
REPLICAS = [InProcessPolicy, ProcessPolicy, RayPolicy]


def _methods(proto: type) -> list[str]:
    return [n for n in dir(proto) if not n.startswith("_") and callable(getattr(proto, n))]


def _attributes(proto: type) -> set[str]:
    return {n for c in proto.__mro__ if c.__module__ == proto.__module__ for n in vars(c).get("__annotations__", {})}


@pytest.mark.parametrize(
    "cls,proto", [(c, EnvSlot) for c in SLOTS] + [(c, PolicyReplica) for c in REPLICAS], ids=lambda x: x.__name__
)
def test_each_concrete_class_has_its_protocols_methods_with_the_same_parameters(cls, proto):
    names = _methods(proto)
    assert {"ready_now", "wait_handle", "close"} <= set(names)
    for name in names:
        assert callable(getattr(cls, name, None)), f"{cls.__name__} lacks {name}()"
        want = list(inspect.signature(getattr(proto, name)).parameters)
        got = list(inspect.signature(getattr(cls, name)).parameters)
        assert got == want, f"{cls.__name__}.{name}{got} != {proto.__name__}.{name}{want}"


def test_the_protocols_name_what_the_rollout_loop_uses():
    assert set(_methods(EnvSlot)) == {"send", "recv", "ready_now", "wait_handle", "kill", "restart", "close"}
    assert set(_methods(PolicyReplica)) == {
        "metadata",
        "reset",
        "submit",
        "collect",
        "ready_now",
        "wait_handle",
        "close",
    }
    assert _attributes(EnvSlot) == {"index"} and _attributes(PolicyReplica) == {"index", "busy"}


class _FakeActor:
    class _Method:
        def remote(self, *args):
            return None

    def __getattr__(self, name):
        return self._Method()


def test_instances_satisfy_their_protocol_at_runtime(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    slots = [InProcessSlot(0, "toy_reach"), ProcessSlot(1, "toy_reach"), RaySlot(2, _FakeActor)]
    replicas = [
        InProcessPolicy(Echo(), "echo"),
        ProcessPolicy(1, "tests.test_replica_core:Echo", {}, "echo"),
        RayPolicy(2, _FakeActor(), "echo"),
    ]
    try:
        for s in slots:
            assert isinstance(s, EnvSlot) and isinstance(s, Waitable), type(s).__name__
            assert not isinstance(s, PolicyReplica), type(s).__name__
        for r in replicas:
            assert isinstance(r, PolicyReplica) and isinstance(r, Waitable), type(r).__name__
            assert not isinstance(r, EnvSlot), type(r).__name__
    finally:
        for s in slots[:2]:
            s.close()
        replicas[1].close()

    class NoMetadata:  # what the runner could not use: no metadata()
        index, busy = 0, False
        ready_now = wait_handle = reset = submit = collect = close = lambda self, *a: None

    assert not isinstance(NoMetadata(), PolicyReplica)


# --- every replica kind gives a PolicySpec ------------------------------------------------------
def test_metadata_is_a_policy_spec_for_the_local_replica_kinds(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    assert InProcessPolicy(Echo(), "echo").metadata() == Echo().metadata()
    p = ProcessPolicy(0, "tests.test_replica_core:Echo", {}, "echo")
    try:
        spec = p.metadata()
        assert isinstance(spec, PolicySpec) and spec == Echo().metadata()
        p.reset([0])  # no reply: the next request still gets its own answer
        p.submit([obs(4)])
        actions, elapsed = p.collect()
        assert actions.shape == (1, 1, 2) and actions[0, 0, 0] == 4 and elapsed >= 0
        p.submit([obs(1, poison=True)])
        with pytest.raises(PolicyCrashed, match=r"policy 'echo' \(replica 0\) raised RuntimeError: poisoned"):
            p.collect()
        assert p.metadata() == spec  # the replica lives on after its policy raised
    finally:
        p.close()


def test_unsendable_actions_from_a_replica_process_are_the_policys_error(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    p = ProcessPolicy(0, "tests.test_replica_core:Unsendable", {}, "bad")
    try:
        p.submit([obs(0)])
        with pytest.raises(PolicyCrashed, match="unsendable actions"):
            p.collect()
    finally:
        p.close()


# --- the core -----------------------------------------------------------------------------------
def test_core_answers_the_replica_messages():
    pol = Echo()
    core = ReplicaCore(pol)
    assert core.handle(reset_message((1, 2))) is None and pol.resets == [[1, 2]]
    assert core.handle(reset_message(None)) is None and pol.resets[-1] is None
    meta = core.handle(METADATA)
    assert meta["ok"] and spec_from_reply(meta, "echo", 0) == pol.metadata()
    reply = wire.unpackb(core.handle_bytes(wire.packb(infer_message([obs(5), obs(6)]))))
    assert reply["ok"] and reply["elapsed"] >= 0
    assert reply["actions"].shape == (2, 1, 2) and list(reply["actions"][:, 0, 0]) == [5, 6]
    assert core.handle_bytes(wire.packb(reset_message([0]))) is None
    core.close()
    assert pol.closed


def test_core_captures_errors_per_request_and_keeps_going():
    core = ReplicaCore(Echo())
    bad = core.handle(infer_message([obs(1, poison=True)]))
    assert bad["ok"] is False and bad["error"] == "RuntimeError: poisoned" and "poisoned" in bad["traceback"]
    assert set(bad) == {"ok", "error", "traceback"}
    assert core.handle({"op": "infer", "obs": [{"nonsense": 1}]})["ok"] is False  # undecodable observation
    assert "unknown replica message 'dance'" in core.handle({"op": "dance"})["error"]
    assert core.handle(infer_message([obs(2)]))["ok"] is True


def test_unsendable_actions_become_an_error_reply():
    reply = wire.unpackb(ReplicaCore(Unsendable()).handle_bytes(wire.packb(infer_message([obs(0)]))))
    assert reply == {"ok": False, "error": "unsendable actions: cannot encode object on the wire", "traceback": ""}
    assert wire.unpackb(encode_reply({"ok": True, "actions": np.zeros(2)}))["ok"] is True


def test_inference_travels_and_unwraps():
    core = ReplicaCore(Echo())
    good = core.infer([obs(3)])
    assert good.ok and Inference.from_wire(good.to_wire()).unwrap("echo", 1)[0].tolist() == [[[3.0, 3.0]]]

    bad = core.infer([obs(3, poison=True)])
    assert not bad.ok and isinstance(bad.exception, RuntimeError)
    with pytest.raises(PolicyCrashed) as local:  # in-process: the exception is chained, not pasted
        bad.unwrap("echo")
    assert str(local.value) == "policy 'echo' raised RuntimeError: poisoned"
    assert local.value.__cause__ is bad.exception

    remote = Inference.from_wire(bad.to_wire())  # the exception stays in its process
    assert remote.exception is None and remote.error == bad.error
    with pytest.raises(PolicyCrashed) as far:
        remote.unwrap("echo", 2)
    assert str(far.value).startswith("policy 'echo' (replica 2) raised RuntimeError: poisoned\nTraceback")
    assert far.value.__cause__ is None


def test_in_process_replica_chains_the_policys_exception():
    rep = InProcessPolicy(Echo(), "echo")
    rep.reset([0])
    rep.submit([obs(0, poison=True)])
    assert rep.busy and rep.ready_now()
    with pytest.raises(PolicyCrashed, match="policy 'echo' raised RuntimeError: poisoned") as e:
        rep.collect()
    assert isinstance(e.value.__cause__, RuntimeError) and not rep.busy
    rep.submit([obs(7)])
    actions, _ = rep.collect()
    assert actions[0, 0, 0] == 7


def test_infer_each_isolates_the_requests_that_fail():
    pol = Echo()
    core = ReplicaCore(pol)
    out = core.infer_each([obs(0), obs(1, poison=True), obs(2)], "echo")
    assert pol.batches == [[0, 1, 2], [0], [1], [2]]  # the batch failed: each request alone
    assert out[0].tolist() == [[0.0, 0.0]] and out[2].tolist() == [[2.0, 2.0]]
    assert isinstance(out[1], RuntimeError) and str(out[1]) == "poisoned"

    nan = ReplicaCore(NanFor3()).infer_each([obs(2), obs(3)], "nan")  # one bad chunk: only its request
    assert nan[0].dtype == np.float32 and isinstance(nan[1], ActionError) and "not finite" in str(nan[1])

    short = ShortBatch()
    res = ReplicaCore(short).infer_each([obs(4), obs(5)], "short")  # a malformed batch: rerun one by one
    assert short.batches == [[4, 5], [4], [5]] and [r[0, 0] for r in res] == [4, 5]

    assert isinstance(ReplicaCore(Echo()).infer_each([obs(9, poison=True)], "echo")[0], RuntimeError)
