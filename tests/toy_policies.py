"""Policies used by the tests (loaded by import path, like a third party's would be)."""

from __future__ import annotations

import numpy as np

from vla_eval.types import Observation, PolicySpec


class ToyExpert:
    """Privileged: moves straight to the goal. Deterministic. Counts its calls."""

    calls = 0

    def __init__(self, horizon: int = 4, gain: float = 1.0) -> None:
        self.horizon = horizon
        self.gain = gain

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="toy_expert", action_dim=2, horizon=self.horizon, privileged=True)

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations: list[Observation]) -> np.ndarray:
        type(self).calls += 1
        out = np.zeros((len(observations), self.horizon, 2), dtype=np.float32)
        for i, obs in enumerate(observations):
            delta = (np.asarray(obs.extras["goal"]) - obs.state) / 0.05 * self.gain
            out[i, 0] = np.clip(delta, -1, 1)  # only the first action is useful; replan often
            out[i, 1:] = out[i, 0]
        return out


class BadValuePolicy:
    """Returns NaN in one component of its actions."""

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="bad_value", action_dim=2, horizon=2)

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations):
        out = np.zeros((len(observations), 2, 2), dtype=np.float32)
        out[:, 1, 1] = np.nan
        return out


class WrongShapePolicy:
    def metadata(self) -> PolicySpec:
        return PolicySpec(name="wrong_shape", action_dim=2)

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations):
        return np.zeros((len(observations), 1, 3), dtype=np.float32)


class IntActionPolicy:
    def metadata(self) -> PolicySpec:
        return PolicySpec(name="int_action", action_dim=2)

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations):
        return np.zeros((len(observations), 1, 2), dtype=np.int64)


class CameraPolicy:
    """Needs the 'top' camera; records the image shapes it saw."""

    seen: list = []

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="camera", action_dim=2, cameras=("top",))

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations):
        for o in observations:
            type(self).seen.append({k: (v.shape, v.dtype.str) for k, v in o.images.items()})
        return np.zeros((len(observations), 1, 2), dtype=np.float32)


class NotAPolicy:
    def metadata(self):
        return None


class RaisingPolicy:
    """Raises on its third call."""

    def __init__(self) -> None:
        self.n = 0

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="raising", action_dim=2)

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations):
        self.n += 1
        if self.n == 3:
            raise RuntimeError("boom")
        return np.zeros((len(observations), 1, 2), dtype=np.float32)


class HalfBrokenExpert(ToyExpert):
    """The toy expert, except that it returns NaN actions in the episodes listed in ``broken``
    (comma-separated episode ids): a candidate checkpoint that breaks on part of the suite."""

    def __init__(self, broken: str = "", horizon: int = 4) -> None:
        super().__init__(horizon=horizon)
        self.broken = {b for b in broken.split(",") if b}

    def metadata(self) -> PolicySpec:
        return PolicySpec(name="half_broken", action_dim=2, horizon=self.horizon, privileged=True)

    def infer_batch(self, observations: list[Observation]) -> np.ndarray:
        out = super().infer_batch(observations)
        for i, obs in enumerate(observations):
            if obs.episode_id in self.broken:
                out[i, :, 0] = np.nan
        return out


class DeclaredPolicy:
    """Declares the conventions (and image size) it is given; returns zeros. For the contract checks."""

    def __init__(self, gripper=None, rotation=None, control_mode=None, units=None, image_size=None) -> None:
        self.spec = PolicySpec(
            name="declared",
            action_dim=2,
            gripper=gripper,
            rotation=rotation,
            control_mode=control_mode,
            units=units,
            image_size=image_size,
        )

    def metadata(self) -> PolicySpec:
        return self.spec

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations):
        return np.zeros((len(observations), 1, 2), dtype=np.float32)


class SpaceEcho:
    """Takes the suite's action space; its metadata name says what it received (any process)."""

    def __init__(self, action_space=None) -> None:
        self.space = action_space

    def metadata(self) -> PolicySpec:
        s = self.space
        what = "none" if s is None else f"{type(s).__name__}:{s.embodiment}:{s.dim}:{s.control_mode.value}"
        return PolicySpec(name=what, action_dim=s.dim if s is not None else 2)

    def reset(self, env_ids=None) -> None:
        pass

    def infer_batch(self, observations):
        return np.zeros((len(observations), 1, self.space.dim), dtype=np.float32)
