"""Weightless baselines: ``noop`` holds still with the gripper open, ``random`` samples actions.

They need no camera and no state, so the harness renders nothing for them. Both take the
suite's action space (``action_space``: dimension, range, idle action) from the runner;
``--policy-args`` ``action_dim``, ``idle_action``, ``action_low`` / ``action_high`` override it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from vla_eval.conventions import ActionSpace
from vla_eval.policy import Policy
from vla_eval.types import Observation, PolicySpec

POLICIES = {
    "noop": "vla_eval.policies.baselines:NoopPolicy",
    "random": "vla_eval.policies.baselines:RandomPolicy",
}


class NoopPolicy(Policy):
    """Returns the suite's idle action (LIBERO: zero motion, gripper open = -1)."""

    def __init__(
        self,
        action_space: ActionSpace | None = None,
        action_dim: int | None = None,
        idle_action: Sequence[float] | None = None,
        horizon: int = 1,
    ) -> None:
        if action_dim is None:
            action_dim = action_space.dim if action_space is not None else 7
        if idle_action is None and action_space is not None and action_space.dim == action_dim:
            idle_action = action_space.idle
        self.idle = np.asarray(
            idle_action if idle_action is not None else [0.0] * (action_dim - 1) + [-1.0], dtype=np.float32
        )
        if self.idle.shape != (action_dim,):
            raise ValueError(f"idle_action has {self.idle.shape[0]} values, action_dim is {action_dim}")
        self.horizon = horizon

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="noop", action_dim=int(self.idle.shape[0]), horizon=self.horizon, needs_state=False)

    def infer_batch(self, observations: list[Observation]) -> np.ndarray:
        return np.broadcast_to(self.idle, (len(observations), self.horizon, self.idle.shape[0])).copy()


class RandomPolicy(Policy):
    """Uniform actions in the suite's declared range, from a seeded generator per env.

    Each env slot gets its own generator, re-seeded from (seed, episode_id) at every episode,
    so an episode's actions do not depend on which worker ran it or in what order.
    """

    def __init__(
        self,
        action_space: ActionSpace | None = None,
        action_dim: int | None = None,
        action_low: Sequence[float] | float | None = None,
        action_high: Sequence[float] | float | None = None,
        seed: int = 0,
        horizon: int = 1,
        idle_action: Sequence[float] | None = None,
    ) -> None:
        del idle_action  # accepted for symmetry with noop; random never idles
        if action_dim is None:
            action_dim = action_space.dim if action_space is not None else 7
        space = action_space if action_space is not None and action_space.dim == action_dim else None
        if action_low is None:
            action_low = space.low if space is not None else -1.0
        if action_high is None:
            action_high = space.high if space is not None else 1.0
        self.action_dim = action_dim
        self.low = np.broadcast_to(np.asarray(action_low, dtype=np.float32), (action_dim,))
        self.high = np.broadcast_to(np.asarray(action_high, dtype=np.float32), (action_dim,))
        self.seed = seed
        self.horizon = horizon
        self._rngs: dict[tuple[int, str], np.random.Generator] = {}

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="random", action_dim=self.action_dim, horizon=self.horizon, needs_state=False)

    def reset(self, env_ids: Sequence[int] | None = None) -> None:
        if env_ids is None:
            self._rngs.clear()
        else:
            for key in [k for k in self._rngs if k[0] in set(env_ids)]:
                del self._rngs[key]

    def _rng(self, obs: Observation) -> np.random.Generator:
        key = (obs.env_id, obs.episode_id)
        if key not in self._rngs:
            digest = int.from_bytes(obs.episode_id.encode()[:16].ljust(16, b"\0"), "little")
            self._rngs[key] = np.random.default_rng([self.seed, digest])
        return self._rngs[key]

    def infer_batch(self, observations: list[Observation]) -> np.ndarray:
        out = np.empty((len(observations), self.horizon, self.action_dim), dtype=np.float32)
        for i, obs in enumerate(observations):
            out[i] = self._rng(obs).uniform(self.low, self.high, size=(self.horizon, self.action_dim))
        return out
