"""toy_reach suite and env (pure numpy; see ``__init__``)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from vla_eval.suite import Suite, SuiteEnv
from vla_eval.tomlfile import read_toml
from vla_eval.types import EpisodeSpec, Observation, PolicySpec

PROTOCOL = Path(__file__).with_name("protocol.toml")


def _inject_fault(spec: EpisodeSpec, step: int) -> None:
    """Test hook for fault injection: VLA_EVAL_TOY_FAULTS is a JSON list of
    {"kind": "crash"|"hang"|"raise", "task": i, "episode": j, "step": k, "times": n};
    a fault fires on its first n matching attempts (counted in files under VLA_EVAL_TOY_FAULT_DIR)."""
    faults = os.environ.get("VLA_EVAL_TOY_FAULTS")
    if not faults:
        return
    for i, f in enumerate(json.loads(faults)):
        if (f["task"], f["episode"], f.get("step", 0)) != (spec.task_index, spec.episode_index, step):
            continue
        counter = Path(os.environ["VLA_EVAL_TOY_FAULT_DIR"]) / f"fault-{i}"
        fired = len(counter.read_text()) if counter.exists() else 0
        if fired >= f.get("times", 1):
            continue
        with open(counter, "a") as fh:
            fh.write("x")
        if f["kind"] == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif f["kind"] == "hang":
            time.sleep(3600)
        else:
            raise RuntimeError(f"injected simulator fault at step {step}")


def _goals() -> list[np.ndarray]:
    doc = read_toml(PROTOCOL)  # parsed once per process, not once per env
    return [np.asarray(t["goal"], dtype=np.float64) for t in doc["toy_reach"]["tasks"]]


class ToyEnv(SuiteEnv):
    def __init__(self, suite: "ToySuite", task_index: int, cameras: tuple[str, ...], privileged: bool) -> None:
        self.p = suite.protocol
        self.goal = _goals()[task_index]
        self.cameras = cameras
        self.privileged = privileged
        self.step_size = float(self.p.extra["step_size"])
        self.radius = float(self.p.extra["success_radius"])
        # Test hook: seconds of sleep per step, to make runs long enough to interrupt.
        self.delay = float(os.environ.get("VLA_EVAL_TOY_STEP_DELAY", "0") or 0)
        self.pos = np.zeros(2)
        self.spec: EpisodeSpec | None = None
        self.n = 0
        self.success = False

    def _obs(self) -> Observation:
        h, w = self.p.image_size
        images = {}
        if "top" in self.cameras:
            img = np.zeros((h, w, 3), dtype=np.uint8)
            r, c = int(self.pos[1] * (h - 1)), int(self.pos[0] * (w - 1))
            img[h - 1 - r, c] = 255  # row 0 is the top of the image
            images["top"] = img
        assert self.spec is not None
        return Observation(
            images=images,
            state=self.pos.astype(np.float32),
            instruction=self.spec.instruction,
            embodiment=self.p.embodiment,
            episode_id=self.spec.episode_id,
            step=self.n,
            extras={"goal": self.goal.copy()} if self.privileged else {},
        )

    def reset(self, spec: EpisodeSpec) -> Observation:
        self.spec = spec
        rng = np.random.default_rng([spec.seed, spec.task_index, spec.episode_index])
        self.pos = rng.uniform(0.0, 1.0, size=2)
        self.n = 0
        self.success = False
        _inject_fault(spec, 0)
        return self._obs()

    def step(self, action: np.ndarray) -> tuple[Observation, bool, dict[str, Any]]:
        if self.delay:
            time.sleep(self.delay)
        self.pos = np.clip(self.pos + self.step_size * np.clip(action, -1.0, 1.0), 0.0, 1.0)
        self.n += 1
        assert self.spec is not None
        _inject_fault(self.spec, self.n)
        self.success = bool(np.linalg.norm(self.pos - self.goal) < self.radius)
        return self._obs(), self.success, {}

    def result(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "final_distance": float(np.linalg.norm(self.pos - self.goal)),
            "worker_prefix": sys.prefix,  # which environment ran the simulator (tests of per-suite envs)
        }


class ToySuite(Suite):
    protocol_file = PROTOCOL

    def availability(self) -> tuple[bool, str]:
        return True, ""

    def prepare(self) -> dict[str, str]:
        return {}

    def env_key(self, spec: EpisodeSpec, policy: PolicySpec) -> Any:
        return (spec.task_index, policy.cameras, policy.privileged)

    def make_env(self, spec: EpisodeSpec, policy: PolicySpec) -> SuiteEnv:
        return ToyEnv(self, spec.task_index, policy.cameras, policy.privileged)
