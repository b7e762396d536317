"""``replay``: plays recorded episodes back open loop (``vla-eval run --record-trajectory``).

    vla-eval run --suite S --policy X --record-trajectory --out runs/rec ...
    vla-eval run --suite S --policy replay --policy-args source=runs/rec --out runs/replay ...

For an observation of episode E at step t it returns the actions recorded for E from step t on
(``Observation.step``, which every suite sets), so the chunking and ``--replan-steps`` of the
replay do not matter. Past the end of the recording it sends the suite's idle action (the
recorded episode ended there; a replay that goes on has diverged). Asking for an episode that
was not recorded is an error. Uses no camera and no state: nothing is rendered for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from vla_eval.conventions import ActionSpace
from vla_eval.errors import UsageError
from vla_eval.policy import Policy
from vla_eval.trajectory import DIR, Trajectory, load
from vla_eval.types import Observation, PolicySpec

POLICIES = {"replay": "vla_eval.policies.replay:ReplayPolicy"}


class ReplayPolicy(Policy):
    def __init__(
        self,
        source: str,
        action_space: ActionSpace | None = None,
        action_dim: int | None = None,
        idle_action: Sequence[float] | None = None,
        horizon: int = 8,
    ) -> None:
        if action_dim is None:
            action_dim = action_space.dim if action_space is not None else 7
        if idle_action is None and action_space is not None and action_space.dim == action_dim:
            idle_action = action_space.idle
        root = Path(source)
        folder = root / DIR if (root / DIR).is_dir() else root
        if not folder.is_dir():
            raise UsageError(f"replay: source={source} is neither a run directory with {DIR}/ nor a folder of them")
        self.files = {p.stem: p for p in folder.glob("*.npz")}
        if not self.files:
            raise UsageError(f"replay: no recorded trajectory (*.npz) in {folder}")
        self.action_dim = int(action_dim)
        self.idle = np.asarray(idle_action if idle_action is not None else [0.0] * self.action_dim, dtype=np.float32)
        self.horizon = int(horizon)
        self._cache: dict[str, Trajectory] = {}

    def metadata(self) -> PolicySpec:
        return PolicySpec(
            name="replay",
            action_dim=self.action_dim,
            horizon=self.horizon,
            replan_steps=self.horizon,
            needs_state=False,
        )

    def trajectory(self, episode_id: str) -> Trajectory:
        if episode_id not in self._cache:
            path = self.files.get(episode_id)
            if path is None:
                raise KeyError(f"replay: episode {episode_id} was not recorded ({len(self.files)} recorded)")
            traj = load(path)
            if traj.actions.shape[1:] != (self.action_dim,) and traj.steps:
                raise ValueError(
                    f"replay: {path} holds {traj.actions.shape[1]}-D actions, the suite takes {self.action_dim}-D"
                )
            if len(self._cache) >= 256:  # episodes in flight are few; keep memory flat on long runs
                self._cache.clear()
            self._cache[episode_id] = traj
        return self._cache[episode_id]

    def infer_batch(self, observations: list[Observation]) -> np.ndarray:
        out = np.broadcast_to(self.idle, (len(observations), self.horizon, self.action_dim)).copy()
        for i, obs in enumerate(observations):
            actions = self.trajectory(obs.episode_id).actions[obs.step : obs.step + self.horizon]
            out[i, : len(actions)] = actions
        return out
