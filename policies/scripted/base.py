"""What every scripted expert shares: one 7-D action per call, from per-env episode state."""

from __future__ import annotations

import abc
from typing import Any, Sequence

import numpy as np

from vla_eval.policy import Policy
from vla_eval.types import Observation


class PerEnvExpert(Policy):
    """Keeps one state object per env, started afresh when the env's episode changes.

    Subclasses set ``new_state`` (a factory taking ``episode_id=``) and implement ``decide``.
    """

    action_dim = 7

    def __init__(self) -> None:
        self.states: dict[int, Any] = {}

    @abc.abstractmethod
    def new_state(self, episode_id: str) -> Any:
        """A fresh state for a new episode."""

    @abc.abstractmethod
    def decide(self, obs: Observation, st: Any) -> np.ndarray:
        """The next action of this env's episode."""

    def reset(self, env_ids: Sequence[int] | None = None) -> None:
        if env_ids is None:
            self.states.clear()
        else:
            for i in env_ids:
                self.states.pop(int(i), None)

    def infer_batch(self, observations: list[Observation]) -> np.ndarray:
        out = np.zeros((len(observations), 1, self.action_dim), dtype=np.float32)
        for i, obs in enumerate(observations):
            st = self.states.get(obs.env_id)
            if st is None or st.episode_id != obs.episode_id:
                st = self.states[obs.env_id] = self.new_state(obs.episode_id)
            out[i, 0] = self.decide(obs, st)
        return out
