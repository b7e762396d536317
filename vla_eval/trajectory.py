"""Recorded trajectories (``vla-eval run --record-trajectory``): one file per episode, beside the ledger.

``OUT/trajectories/<episode_id>.npz`` is a numpy ``.npz`` archive (zip, deflate) of plain arrays,
readable with ``numpy.load(path)`` (no pickle: ``allow_pickle=False`` works) or :func:`load`:

=============  ===============  ==========================================================
array          shape, dtype     what
=============  ===============  ==========================================================
``actions``    [T, D] float32   the actions the simulator executed, in order (after the
                                harness's checks; the suite's raw units)
``state``      [T+1, S] float32 ``Observation.state`` after the reset (row 0) and after each step
``done``       [T] bool         the env's done flag after each step
``success``    [T] bool         the env's success after each step (its ``info["success"]``,
                                else its done flag)
``sim_s``      [T] float64      seconds the simulator took for each step
``policy_s``   [T] float64      seconds of policy inference for the chunk that starts at this
                                step (its share of the batch), 0 for the other steps
``meta``       [] unicode       JSON: ``format`` "vla-eval-trajectory", ``version`` 1, the
                                ``episode`` (EpisodeSpec fields), ``status``, ``success``,
                                ``steps``, ``error_class``, ``error``, ``policy``,
                                ``replan_steps``, ``reset_sim_s``
=============  ===============  ==========================================================

T is the number of steps the episode ran (an episode that ended in an error has the steps up to
it). The row's ``metrics.trajectory`` holds the file's path relative to OUT. The ``replay``
policy (``--policy replay --policy-args source=OUT``) plays a recorded episode back open loop.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

FORMAT = "vla-eval-trajectory"
VERSION = 1
DIR = "trajectories"


@dataclass(frozen=True)
class Trajectory:
    """One recorded episode, as read back from its file."""

    actions: np.ndarray
    state: np.ndarray
    done: np.ndarray
    success: np.ndarray
    sim_s: np.ndarray
    policy_s: np.ndarray
    meta: Mapping[str, Any]

    @property
    def episode_id(self) -> str:
        return str(self.meta["episode"]["episode_id"])

    @property
    def steps(self) -> int:
        return int(self.actions.shape[0])


def relative_path(episode_id: str) -> str:
    return f"{DIR}/{episode_id}.npz"


class TrajectoryRecorder:
    """Collects one episode's steps in the runner and writes its file at the end."""

    def __init__(self, out: Path, episode_id: str) -> None:
        self.out = Path(out)
        self.episode_id = episode_id
        self.actions: list[np.ndarray] = []
        self.state: list[np.ndarray] = []
        self.done: list[bool] = []
        self.success: list[bool] = []
        self.sim_s: list[float] = []
        self.policy_s: list[float] = []
        self._pending_policy_s = 0.0
        self.reset_sim_s = 0.0

    def reset(self, state: np.ndarray, sim_s: float) -> None:
        self.state = [np.asarray(state, dtype=np.float32).reshape(-1)]
        self.reset_sim_s = float(sim_s)

    def chunk(self, policy_s: float) -> None:
        """The policy produced a chunk: its time goes to the next step executed."""
        self._pending_policy_s += float(policy_s)

    def steps(self, actions: np.ndarray, trace: Mapping[str, Any]) -> None:
        """The simulator executed ``len(trace["done"])`` of ``actions``."""
        n = len(trace["done"])
        for i in range(n):
            self.actions.append(np.asarray(actions[i], dtype=np.float32).reshape(-1))
            self.state.append(np.asarray(trace["state"][i], dtype=np.float32).reshape(-1))
            self.done.append(bool(trace["done"][i]))
            self.success.append(bool(trace["success"][i]))
            self.sim_s.append(float(trace["sim_s"][i]))
            self.policy_s.append(self._pending_policy_s)
            self._pending_policy_s = 0.0

    def write(self, meta: Mapping[str, Any]) -> str:
        """Write the file (atomically) and return its path relative to OUT."""
        path = self.out / relative_path(self.episode_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        width = self.actions[0].shape[0] if self.actions else 0
        s_width = self.state[0].shape[0] if self.state else 0
        doc = {"format": FORMAT, "version": VERSION, **meta, "reset_sim_s": self.reset_sim_s}
        arrays = {
            "actions": np.asarray(self.actions, dtype=np.float32).reshape(-1, width),
            "state": np.asarray(self.state, dtype=np.float32).reshape(-1, s_width),
            "done": np.asarray(self.done, dtype=bool),
            "success": np.asarray(self.success, dtype=bool),
            "sim_s": np.asarray(self.sim_s, dtype=np.float64),
            "policy_s": np.asarray(self.policy_s, dtype=np.float64),
            "meta": np.asarray(json.dumps(doc, allow_nan=False, default=_json_default)),
        }
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
        return relative_path(self.episode_id)


def _json_default(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"{type(x).__name__} is not JSON serialisable")


def load(path: str | os.PathLike) -> Trajectory:
    """Read a trajectory file; ValueError when it is not one (or of an unknown version)."""
    with np.load(path, allow_pickle=False) as z:
        missing = {"actions", "state", "done", "success", "sim_s", "policy_s", "meta"} - set(z.files)
        if missing:
            raise ValueError(f"{path}: not a vla-eval trajectory (missing {', '.join(sorted(missing))})")
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError(
                f"{path}: format {meta.get('format')!r} version {meta.get('version')!r}, "
                f"expected {FORMAT!r} version {VERSION}"
            )
        return Trajectory(
            actions=z["actions"],
            state=z["state"],
            done=z["done"],
            success=z["success"],
            sim_s=z["sim_s"],
            policy_s=z["policy_s"],
            meta=meta,
        )
