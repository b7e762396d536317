"""``vla-eval serve``: batching across sessions, /healthz, the token, size limits, malformed frames,
error isolation, and the whole loop (our client -> our server -> a policy). Loopback only."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from vla_eval import wire  # noqa: E402
from vla_eval.cli import main as cli_main  # noqa: E402
from vla_eval.errors import UsageError  # noqa: E402
from vla_eval.ledger import EPISODES_FILE, read_rows  # noqa: E402
from vla_eval.policy import load_policy  # noqa: E402
from vla_eval.serve import PolicyServer  # noqa: E402
from vla_eval.types import Observation, PolicySpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class StatePolicy:
    """Returns the first 2 state values as every action; records batches and resets; fails on 'boom'."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[list[tuple[int, str, int]]] = []
        self.resets: list[list[int]] = []

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="state", action_dim=2, horizon=3, max_batch=8)

    def reset(self, env_ids=None) -> None:
        self.resets.append(list(env_ids or []))

    def infer_batch(self, observations):
        self.batches.append([(o.env_id, o.episode_id, o.step) for o in observations])
        if any(o.instruction == "boom" for o in observations):
            raise RuntimeError("boom")
        time.sleep(self.delay)
        out = np.stack([np.tile(o.state[:2], (3, 1)) for o in observations]).astype(np.float32)
        for i, o in enumerate(observations):
            if o.instruction == "nan":
                out[i, 0, 0] = np.nan
        return out


@pytest.fixture
def server():
    started = []

    def start(policy=None, **kw):
        s = PolicyServer(policy or StatePolicy(), **kw)
        s.start()
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def generic_obs(x: float, instruction: str = "go", **kw) -> dict:
    return {"images": {}, "state": np.array([x, -x], np.float32), "prompt": instruction, **kw}


def ask(ws, payload) -> object:
    ws.send(payload if isinstance(payload, (bytes, str)) else wire.packb(payload))
    reply = ws.recv(timeout=10)
    return reply if isinstance(reply, str) else wire.unpackb(reply)


def harness_obs(i: int) -> Observation:
    return Observation(
        images={}, state=np.array([i, 10 + i], np.float32), instruction="go", env_id=i, episode_id=f"e{i}", step=2
    )


def test_concurrent_sessions_share_one_infer_batch_call(server):
    policy = StatePolicy(delay=0.05)
    s = server(policy, max_wait_ms=1000)
    client = load_policy(f"openpi://127.0.0.1:{s.port}", {"action_dim": 2, "mapping": "generic"})
    try:
        spec = client.metadata()
        assert (spec.action_dim, spec.horizon) == (2, 3)  # read from the server's metadata
        client.infer_batch([harness_obs(i) for i in range(4)])  # opens the four connections
        policy.batches.clear()
        actions = client.infer_batch([harness_obs(i) for i in range(4)])
        assert actions.shape == (4, 3, 2)
        np.testing.assert_array_equal(actions[:, 0], [[i, 10 + i] for i in range(4)])
        # all four sessions were in: one call of 4, without waiting out max_wait_ms
        assert sorted(len(b) for b in policy.batches) == [4]
        # the served policy saw the harness's episode ids and steps, one env slot per connection
        (batch,) = policy.batches
        assert sorted(e for _, e, _ in batch) == ["e0", "e1", "e2", "e3"] and {st for _, _, st in batch} == {2}
        assert len({sid for sid, _, _ in batch}) == 4
        client.reset([0])  # a new episode in slot 0: its connection closes, the server resets that session
        deadline = time.time() + 5
        while not policy.resets and time.time() < deadline:
            time.sleep(0.01)
        assert len(policy.resets) == 1
    finally:
        client.close()


class DeclaringPolicy(StatePolicy):
    def metadata(self) -> PolicySpec:
        return PolicySpec(name="declaring", action_dim=2, horizon=3, gripper="close_positive", rotation="none")


def test_client_passes_the_served_policys_conventions_on(server):
    from vla_eval.errors import UsageError
    from vla_eval.suite import get_suite

    s = server(DeclaringPolicy())
    toy = get_suite("toy_reach")
    client = load_policy(f"openpi://127.0.0.1:{s.port}", {"action_space": toy.action_space, "mapping": "generic"})
    try:
        spec = client.metadata()
        assert (spec.action_dim, spec.gripper.value, spec.rotation.value, spec.control_mode) == (
            2,
            "close_positive",
            "none",
            None,
        )
        with pytest.raises(UsageError, match="policy 'openpi.*' emits gripper close_positive"):
            toy.check_policy(spec)
    finally:
        client.close()


def test_max_batch_splits_and_max_wait_bounds(server):
    policy = StatePolicy(delay=0.02)
    s = server(policy, max_batch=2, max_wait_ms=50)
    socks = [connect(f"ws://127.0.0.1:{s.port}") for _ in range(5)]
    try:
        for w in socks:
            w.recv(timeout=5)  # metadata
        for i, w in enumerate(socks):
            w.send(wire.packb(generic_obs(float(i))))
        replies = [wire.unpackb(w.recv(timeout=10)) for w in socks]
        assert [r["actions"][0, 0] for r in replies] == [0, 1, 2, 3, 4]
        assert max(len(b) for b in policy.batches) <= 2 and sum(len(b) for b in policy.batches) == 5
        assert replies[0]["server_timing"]["batch_size"] in (1, 2)
        # one session alone while others idle: answered after at most max_wait_ms, not stuck
        t0 = time.perf_counter()
        assert ask(socks[0], generic_obs(7.0))["actions"][0, 0] == 7
        assert time.perf_counter() - t0 < 2.0
    finally:
        for w in socks:
            w.close()


def test_healthz_and_token(server):
    s = server(token="s3cret")
    with urllib.request.urlopen(f"http://127.0.0.1:{s.port}/healthz", timeout=5) as r:
        assert r.status == 200 and r.read() == b"OK\n"
    for headers in (None, {"Authorization": "Api-Key wrong"}, {"Authorization": "s3cret"}):
        with pytest.raises(InvalidStatus) as e:
            connect(f"ws://127.0.0.1:{s.port}", additional_headers=headers)
        assert e.value.response.status_code == 401
    for header in ("Api-Key s3cret", "Bearer s3cret"):
        with connect(f"ws://127.0.0.1:{s.port}", additional_headers={"Authorization": header}) as w:
            assert "vla_eval" in wire.unpackb(w.recv(timeout=5))
            assert ask(w, generic_obs(1.0))["actions"].shape == (3, 2)
    with pytest.raises(UsageError, match=r"refused the connection: HTTP 401 \(wrong or missing token\?\)"):
        load_policy(f"openpi://127.0.0.1:{s.port}", {"action_dim": 2})
    client = load_policy(f"openpi://127.0.0.1:{s.port}", {"action_dim": 2, "token": "s3cret"})
    client.close()


def test_malformed_frames_are_answered_and_harm_no_other_session(server):
    policy = StatePolicy()
    s = server(policy)
    with connect(f"ws://127.0.0.1:{s.port}") as bad, connect(f"ws://127.0.0.1:{s.port}") as good:
        bad.recv(timeout=5)
        good.recv(timeout=5)
        for payload, needle in [
            (b"\xc1\x00garbage", "malformed observation"),
            ("a text frame", "expected a binary msgpack frame"),
            (wire.packb([1, 2, 3]), "must be a msgpack map"),
            (wire.packb({"images": {"top": np.zeros((4, 4), np.float32)}, "state": [0.0]}), "uint8 image"),
            (wire.packb({b"__ndarray__": True, b"data": b"", b"dtype": "|O", b"shape": [0]}), "refused"),
            (wire.packb(generic_obs(1.0, "boom")), "failed: RuntimeError: boom"),
            (wire.packb(generic_obs(1.0, "nan")), "is not finite"),
        ]:
            reply = ask(bad, payload)
            assert isinstance(reply, str) and reply.startswith("error: ") and needle in reply, reply
            assert ask(good, generic_obs(2.0))["actions"][0, 0] == 2.0
        assert ask(bad, generic_obs(3.0))["actions"][0, 0] == 3.0  # the bad session still works
    assert s.stats["errors"] == 7


def test_a_failing_request_does_not_fail_its_batch_mates(server):
    policy = StatePolicy(delay=0.05)
    s = server(policy, max_wait_ms=2000)
    socks = [connect(f"ws://127.0.0.1:{s.port}") for _ in range(3)]
    try:
        for w in socks:
            w.recv(timeout=5)
        for i, w in enumerate(socks):
            w.send(wire.packb(generic_obs(float(i), "boom" if i == 1 else "go")))
        replies = [w.recv(timeout=10) for w in socks]
        assert isinstance(replies[1], str) and "boom" in replies[1]
        assert wire.unpackb(replies[0])["actions"][0, 0] == 0 and wire.unpackb(replies[2])["actions"][0, 0] == 2
        assert len(policy.batches[0]) == 3  # batched first, then re-run one by one
    finally:
        for w in socks:
            w.close()


def test_message_size_limit_closes_only_that_session(server):
    s = server(max_message_bytes=64 * 1024)
    with connect(f"ws://127.0.0.1:{s.port}") as big, connect(f"ws://127.0.0.1:{s.port}") as ok:
        big.recv(timeout=5)
        ok.recv(timeout=5)
        huge = generic_obs(1.0)
        huge["images"] = {"top": np.zeros((256, 256, 3), np.uint8)}  # 196 KiB
        big.send(wire.packb(huge))
        with pytest.raises(ConnectionClosed) as e:
            big.recv(timeout=5)
        assert e.value.rcvd is not None and e.value.rcvd.code == 1009
        assert ask(ok, generic_obs(4.0))["actions"][0, 0] == 4.0


def test_serve_cli_runs_the_toy_loop_end_to_end(tmp_path):
    """`vla-eval serve` in a subprocess; `vla-eval run --policy openpi://...` drives it; SIGTERM stops it."""
    env = {**os.environ, "VLA_EVAL_SERVE_TOKEN": "tok"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vla_eval.cli",
            "serve",
            "--policy",
            "random",
            "--policy-args",
            "seed=3",
            "horizon=4",
            "--suite",
            "toy_reach",
            "--port",
            "0",
            "--max-wait-ms",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        deadline = time.time() + 60
        port = None
        while port is None and time.time() < deadline and proc.poll() is None:
            m = re.search(r"on ws://127\.0\.0\.1:(\d+)", "".join(lines))
            port = int(m.group(1)) if m else None
            time.sleep(0.05)
        assert port, "".join(lines)
        out = tmp_path / "run"
        with pytest.raises(SystemExit) as e:
            cli_main(
                [
                    "run",
                    "--suite",
                    "toy_reach",
                    "--policy",
                    f"openpi://127.0.0.1:{port}",
                    "--policy-args",
                    "token=tok",
                    "--tasks",
                    "0",
                    "--episodes",
                    "0:2",
                    "--max-steps",
                    "5",
                    "--out",
                    str(out),
                ]
            )
        assert e.value.code == 0
        rows = list(read_rows(out / EPISODES_FILE))
        assert len(rows) == 2 and all(r["status"] == "ok" and r["steps"] == 5 for r in rows)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--policy", "noop", "--port", "70000"], "--port must be in 0..65535"),
        (["--policy", "nope", "--port", "0"], "unknown policy 'nope'"),
        (["--policy", "noop", "--port", "0", "--suite", "nope"], "unknown suite 'nope'"),
        (["--policy", "noop", "--port", "0", "--max-message-bytes", "10"], "--max-message-bytes must be >= 1024"),
    ],
)
def test_serve_bad_input_is_one_line(args, needle, capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["serve", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
