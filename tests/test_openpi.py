"""Interop with the PyPI ``openpi-client`` package, both ways, on loopback only:

- its WebsocketClientPolicy against ``vla-eval serve``'s server (LIBERO keys, its api_key header,
  and a tiny Qwen-VLA behind it);
- our ``--policy openpi://`` client against a server written the way openpi's
  ``serving/websocket_policy_server.py`` is (its msgpack_numpy codec, metadata first, a traceback
  text frame on error).
"""

from __future__ import annotations

import asyncio
import http
import threading
import time
import traceback

import numpy as np
import pytest

openpi_client = pytest.importorskip("openpi_client")
pytest.importorskip("websockets")
from openpi_client import msgpack_numpy  # noqa: E402
from openpi_client.websocket_client_policy import WebsocketClientPolicy  # noqa: E402

from vla_eval.errors import UsageError  # noqa: E402
from vla_eval.imaging import resize_with_pad  # noqa: E402
from vla_eval.policies.openpi import RemotePolicyError  # noqa: E402
from vla_eval.policy import POLICY_SCHEMES, load_policy, resolve_policy_class  # noqa: E402
from vla_eval.serve import PolicyServer  # noqa: E402
from vla_eval.types import Observation, PolicySpec  # noqa: E402


def libero_wire_obs(rng, state=None) -> dict:
    """What openpi's examples/libero/main.py sends."""
    return {
        "observation/image": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
        "observation/wrist_image": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
        "observation/state": np.arange(8, dtype=np.float64) if state is None else state,
        "prompt": "pick up the black bowl",
    }


class LiberoEcho:
    """7-D chunks made of the observation's state; records what it saw."""

    def __init__(self) -> None:
        self.seen: list[Observation] = []

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="echo", action_dim=7, horizon=5, cameras=("agentview", "wrist"))

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations):
        self.seen.extend(observations)
        return np.stack([np.tile(o.state[:7], (5, 1)) for o in observations]).astype(np.float32)


# --- openpi-client -> our server --------------------------------------------------------
def test_openpi_client_against_our_server():
    policy = LiberoEcho()
    server = PolicyServer(policy, mapping="libero", token="k3y", embodiment="franka_libero")
    port = server.start()
    try:
        client = WebsocketClientPolicy("127.0.0.1", port, api_key="k3y")
        meta = client.get_server_metadata()
        assert meta["action_dim"] == 7 and meta["action_horizon"] == 5 and meta["vla_eval"]["mapping"] == "libero"
        rng = np.random.default_rng(0)
        for step in range(3):
            obs = libero_wire_obs(rng, state=np.arange(8, dtype=np.float64) + step)
            reply = client.infer(obs)
            assert reply["actions"].shape == (5, 7) and reply["actions"].dtype == np.float32
            np.testing.assert_array_equal(reply["actions"][0], np.arange(7) + step)
            assert reply["server_timing"]["infer_ms"] >= 0
        seen = policy.seen[-1]
        np.testing.assert_array_equal(seen.images["agentview"], obs["observation/image"])
        np.testing.assert_array_equal(seen.images["wrist"], obs["observation/wrist_image"])
        assert seen.instruction == "pick up the black bowl" and seen.embodiment == "franka_libero"
        assert seen.state.dtype == np.float32 and [o.step for o in policy.seen] == [0, 1, 2]
        # an error comes back as a text frame, which openpi's client raises
        bad = dict(obs)
        del bad["observation/wrist_image"]
        with pytest.raises(RuntimeError, match="LIBERO observation lacks"):
            client.infer(bad)
        np.testing.assert_array_equal(client.infer(obs)["actions"][0], np.arange(7) + 2)  # session still usable
    finally:
        server.stop()


def test_openpi_client_drives_a_tiny_qwen_vla(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from vla_eval.policies.qwen_vla.tiny import make_tiny_checkpoint

    ckpt = make_tiny_checkpoint(tmp_path / "tiny", embodiments=["franka_libero"])
    policy = load_policy("qwen_vla", {"checkpoint": str(ckpt), "embodiment": "franka_libero"})
    server = PolicyServer(policy, mapping="libero", embodiment="franka_libero")
    port = server.start()
    try:
        client = WebsocketClientPolicy("127.0.0.1", port)
        assert client.get_server_metadata()["vla_eval"]["policy_spec"]["checkpoint"] == policy.metadata().checkpoint
        reply = client.infer(libero_wire_obs(np.random.default_rng(1)))
        assert reply["actions"].shape == (8, 7) and np.isfinite(reply["actions"]).all()
    finally:
        server.stop()


# --- our client -> an openpi-style server -----------------------------------------------
class OpenpiStyleServer:
    """A policy server written like openpi's WebsocketPolicyServer, with openpi_client's codec."""

    def __init__(self, horizon: int = 10, delay: float = 0.0, metadata: dict | None = None) -> None:
        self.horizon, self.delay = horizon, delay
        self.metadata = metadata or {}
        self.received: list[tuple[int, dict]] = []
        self.connections = 0
        self.port = 0
        self._ready = threading.Event()

    def _policy(self, obs: dict) -> dict:
        if obs.get("prompt") == "crash":
            raise ValueError("the model crashed")
        state = np.asarray(obs["observation/state"])
        return {"actions": np.tile(state[:7], (self.horizon, 1)), "policy_timing": {"infer_ms": 1.0}}

    async def _handler(self, ws) -> None:
        import websockets

        self.connections += 1
        conn = self.connections
        packer = msgpack_numpy.Packer()
        await ws.send(packer.pack(self.metadata))
        while True:
            try:
                obs = msgpack_numpy.unpackb(await ws.recv())
                self.received.append((conn, obs))
                await asyncio.sleep(self.delay)
                action = self._policy(obs)
                action["server_timing"] = {"infer_ms": 1.0}
                await ws.send(packer.pack(action))
            except websockets.ConnectionClosed:
                break
            except Exception:
                await ws.send(traceback.format_exc())
                await ws.close(code=1011, reason="Internal server error. Traceback included in previous frame.")
                raise

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        def health(connection, request):
            if request.path == "/healthz":
                return connection.respond(http.HTTPStatus.OK, "OK\n")
            return None

        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        async with serve(self._handler, "127.0.0.1", 0, compression=None, max_size=None, process_request=health) as srv:
            self.port = srv.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> "OpenpiStyleServer":
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def harness_obs(i: int, rng, prompt: str = "put the bowl on the plate") -> Observation:
    return Observation(
        images={
            "agentview": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
            "wrist": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
        },
        state=(np.arange(8) + 10 * i).astype(np.float32),
        instruction=prompt,
        embodiment="franka_libero",
        env_id=i,
        episode_id=f"ep{i}",
        step=0,
    )


def test_openpi_scheme_resolves_to_the_client():
    assert "openpi" in POLICY_SCHEMES
    assert resolve_policy_class("openpi://127.0.0.1:1").__name__ == "OpenpiPolicy"
    with pytest.raises(UsageError, match="unknown policy scheme 'grpc'"):
        resolve_policy_class("grpc://127.0.0.1:1")


def test_our_client_against_an_openpi_style_server():
    rng = np.random.default_rng(0)
    with OpenpiStyleServer(horizon=10, delay=0.3) as srv:
        client = load_policy(f"openpi://127.0.0.1:{srv.port}", {"action_dim": 7})
        try:
            spec = client.metadata()
            assert spec.cameras == ("agentview", "wrist") and spec.action_dim == 7  # LIBERO keys by default
            obs = [harness_obs(i, rng) for i in range(3)]
            t0 = time.perf_counter()
            actions = client.infer_batch(obs)
            elapsed = time.perf_counter() - t0
            assert actions.shape == (3, 10, 7)
            np.testing.assert_array_equal(actions[:, 0], [np.arange(7) + 10 * i for i in range(3)])
            assert elapsed < 0.85, elapsed  # three 0.3 s replies over three connections, concurrently
            assert len({conn for conn, _ in srv.received}) == 3  # one connection per env slot
            for _, sent in srv.received:
                assert set(sent) == {"observation/image", "observation/wrist_image", "observation/state", "prompt"}
                i = int(sent["observation/state"][0]) // 10
                for key, cam in (("observation/image", "agentview"), ("observation/wrist_image", "wrist")):
                    img = sent[key]
                    assert img.dtype == np.uint8 and img.shape == (224, 224, 3)
                    np.testing.assert_array_equal(img, resize_with_pad(obs[i].images[cam], 224, 224))
                assert sent["observation/state"].dtype == np.float32 and sent["observation/state"].shape == (8,)
                assert sent["prompt"] == "put the bowl on the plate"
            # the next step reuses the connections; reset() opens a fresh one for that slot
            client.infer_batch(obs[:1])
            assert srv.connections == 3
            client.reset([0])
            client.infer_batch(obs[:1])
            assert srv.connections == 4
            # a traceback text frame from the server becomes an error naming the server and the episode
            with pytest.raises(
                RemotePolicyError, match=r"(?s)env 1, episode ep1: error from the server: Traceback.*the model crashed"
            ):
                client.infer_batch([harness_obs(1, rng, prompt="crash")])
        finally:
            client.close()


def test_our_client_reports_connection_problems():
    with pytest.raises(UsageError, match="cannot connect to an openpi server at ws://127.0.0.1:1"):
        load_policy("openpi://127.0.0.1:1", {"action_dim": 7, "open_timeout": 2})
    with pytest.raises(UsageError, match="unknown observation mapping 'droid'"):
        with OpenpiStyleServer() as srv:
            load_policy(f"openpi://127.0.0.1:{srv.port}", {"mapping": "droid"})
