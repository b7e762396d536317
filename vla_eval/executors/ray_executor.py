"""``--executor ray``: the same scheduling on a Ray cluster (optional extra ``ray``).

Policy replicas are actors with ``num_gpus=1`` (one per GPU of the cluster; one CPU replica
when it has none, kept on the driver's node); env workers are actors with one CPU each. A
worker tied to a GPU replica is placed on that replica's node (soft affinity) and renders on
its GPU; with a CPU replica the workers are spread over the cluster's nodes. When the suite
has its own environment, env actors run its interpreter (``runtime_env={"py_executable"}``);
that environment then needs the same ray version installed.

The rollout loop is unchanged: it sees slots and replicas with the same methods as the local
executor's; their replies are Ray object refs instead of pipes. Messages travel in the wire
format (msgpack), as locally.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Sequence

from vla_eval import wire
from vla_eval.errors import UsageError
from vla_eval.executors.local import WorkerDied
from vla_eval.executors.replicas import PolicyCrashed
from vla_eval.gpus import visible_gpus
from vla_eval.types import Observation, PolicySpec


def _ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'vla-evalkit[ray]'") from None
    return ray


class _EnvActor:
    def __init__(self, suite: str, env: Mapping[str, str]) -> None:
        os.environ.update(env)
        from vla_eval.worker import WorkerCore

        self.core = WorkerCore(suite)

    def handle(self, data: bytes) -> bytes:
        return wire.packb(self.core.handle(wire.unpackb(data)))

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()


class _PolicyActor:
    def __init__(self, policy: str, kwargs: Mapping[str, Any]) -> None:
        from vla_eval.policy import load_policy

        self.policy = load_policy(policy, kwargs)

    def placement(self) -> tuple[str, list[str]]:
        import ray

        return ray.get_runtime_context().get_node_id(), [str(g) for g in ray.get_gpu_ids()]

    def metadata(self) -> dict[str, Any]:
        return wire.policy_spec_to_dict(self.policy.metadata())

    def reset(self, env_ids: Any) -> None:
        self.policy.reset(env_ids)

    def infer(self, data: bytes) -> bytes:
        import time
        import traceback

        t0 = time.perf_counter()
        try:
            obs = [wire.observation_from_dict(o) for o in wire.unpackb(data)]
            actions = self.policy.infer_batch(obs)
            return wire.packb({"ok": True, "actions": actions, "elapsed": time.perf_counter() - t0})
        except Exception as e:
            return wire.packb({"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})


class RaySlot:
    def __init__(self, index: int, make_actor) -> None:
        self.index = index
        self._make = make_actor
        self.actor = make_actor()
        self.ref = None

    def ready_now(self) -> bool:
        return False

    def wait_handle(self) -> Any:
        return self.ref

    def send(self, msg: dict[str, Any]) -> None:
        self.ref = self.actor.handle.remote(wire.packb(msg))

    def recv(self) -> dict[str, Any]:
        ray = _ray()
        ref, self.ref = self.ref, None
        try:
            return wire.unpackb(ray.get(ref))
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as e:
            raise WorkerDied(f"env actor {self.index} died: {type(e).__name__}") from None

    def kill(self) -> None:
        _ray().kill(self.actor, no_restart=True)
        self.ref = None

    def restart(self) -> None:
        self.kill()
        self.actor = self._make()

    def close(self) -> None:
        self.kill()


class RayPolicy:
    def __init__(self, index: int, actor: Any, label: str) -> None:
        self.index = index
        self.actor = actor
        self.label = label
        self.busy = False
        self.ref = None

    def ready_now(self) -> bool:
        return False

    def wait_handle(self) -> Any:
        return self.ref if self.busy else None

    def metadata(self) -> PolicySpec:
        return wire.policy_spec_from_dict(_ray().get(self.actor.metadata.remote()))

    def reset(self, env_ids: Sequence[int] | None) -> None:
        self.actor.reset.remote(list(env_ids) if env_ids is not None else None)

    def submit(self, observations: list[Observation]) -> None:
        self.busy = True
        self.ref = self.actor.infer.remote(wire.packb([wire.observation_to_dict(o) for o in observations]))

    def collect(self) -> tuple[Any, float]:
        ray = _ray()
        self.busy = False
        ref, self.ref = self.ref, None
        try:
            reply = wire.unpackb(ray.get(ref))
        except ray.exceptions.RayActorError as e:
            raise PolicyCrashed(f"policy replica {self.index} ({self.label!r}) died: {e}") from None
        if not reply.get("ok"):
            raise PolicyCrashed(f"policy {self.label!r} raised {reply.get('error')}\n{reply.get('traceback', '')}")
        return reply["actions"], float(reply.get("elapsed", 0.0))

    def close(self) -> None:
        _ray().kill(self.actor, no_restart=True)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a host:port nobody listens on (Ray itself retries for minutes)."""
    import socket

    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    with socket.create_connection((host, int(port)), timeout=timeout):
        pass


class RayCluster:
    def __init__(self, address: str | None) -> None:
        ray = _ray()
        self.ray = ray
        self.owned = not ray.is_initialized()
        if self.owned:
            try:
                if address:
                    _check_reachable(address)
                    ray.init(address=address, include_dashboard=False, log_to_driver=False)
                else:  # a local instance: its logical GPUs are the ones visible here
                    ray.init(num_gpus=len(visible_gpus()), include_dashboard=False, log_to_driver=False)
            except Exception as e:  # ConnectionError, TimeoutError, ValueError... from Ray
                raise UsageError(f"cannot reach the Ray cluster at {address or 'local'}: {e}") from None
        self.replica_sites: list[tuple[str, list[str]]] = []

    def shutdown(self) -> None:
        if self.owned:
            self.ray.shutdown()

    def gpus(self) -> int:
        return int(self.ray.cluster_resources().get("GPU", 0))

    def start_replicas(self, policy: str, kwargs: Mapping[str, Any], label: str, gpus: int) -> list[RayPolicy]:
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        n = max(1, gpus)
        options: dict[str, Any] = {"num_gpus": 1 if gpus else 0, "num_cpus": 0}
        if not gpus:  # a CPU replica stays beside the driver, as it does with the local executor
            here = ray.get_runtime_context().get_node_id()
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=here, soft=False)
        cls = ray.remote(_PolicyActor).options(**options)
        actors = [cls.remote(policy, dict(kwargs)) for _ in range(n)]
        try:
            self.replica_sites = ray.get([a.placement.remote() for a in actors])
        except ray.exceptions.RayActorError as e:
            raise UsageError(f"policy {policy!r} does not start on the Ray cluster: {e}") from None
        return [RayPolicy(i, a, label) for i, a in enumerate(actors)]

    def start_slots(self, suite: str, n: int, env: Mapping[str, str], python: str) -> list[RaySlot]:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self.ray
        slots = []
        for i in range(n):
            node, gpu_ids = self.replica_sites[i % len(self.replica_sites)]
            worker_env = dict(env)
            if gpu_ids:
                worker_env.update({"MUJOCO_EGL_DEVICE_ID": gpu_ids[0], "VLA_EVAL_RENDER_DEVICE": gpu_ids[0]})
            options: dict[str, Any] = {  # beside its GPU replica (it renders there), else anywhere
                "num_cpus": 1,
                "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=True) if gpu_ids else "SPREAD",
            }
            if os.path.abspath(python) != os.path.abspath(sys.executable):  # venv pythons are symlinks
                options["runtime_env"] = {"py_executable": python}
            cls = ray.remote(_EnvActor).options(**options)
            slots.append(RaySlot(i, lambda cls=cls, e=worker_env: cls.remote(suite, e)))
        return slots
