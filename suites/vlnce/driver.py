"""VLN-CE env driver: the only module that imports habitat-sim.

NOT YET RUN AGAINST THE SIMULATOR (``VlnceEnv.verified = False``): written from
jacobkrantz/VLN-CE (habitat_extensions/config/vlnce_task.yaml, rxr_vlnce_english_task.yaml,
habitat_extensions/measures.py, habitat_extensions/task.py) and habitat-lab's VLN task
(habitat/tasks/nav/nav.py: StopAction, DistanceToGoal, Success, SPL; habitat/sims/habitat_simulator:
geodesic_distance, sensor and action-space setup), and tested with a fake simulator only.

The task is rebuilt on habitat-sim's own API (no habitat-lab needed):

* reset: load the episode's scene (reconfigure when it changes), place the agent at
  ``start_position`` / ``start_rotation`` ([x, y, z, w]).
* actions: the policy's chunk is [H, 1] of action ids (the table below, habitat-lab's
  HabitatSimActions order). STOP moves nothing, marks the stop and ends the episode (habitat-lab
  StopAction); the others are habitat-sim agent actions. A value that is not one of the ids (not an
  integer, out of the table) ends the episode with an error naming it.
* per step (and at reset) the agent position and the geodesic distance to the goals
  (``MultiGoalShortestPath`` to every goal position, as habitat-lab's ``geodesic_distance``) are
  recorded; the metrics come from those series through ``metrics`` (see ``NavRecorder``).
* the episode also ends after ``max_steps`` actions (STOP included), as ENVIRONMENT.MAX_EPISODE_STEPS.

Observation: images["rgb"] (uint8, the RGB sensor); extras["depth"] (float32 [H, W, 1], habitat-lab's
depth processing: clipped to [min, max] and normalised to [0, 1]) when the policy asks for camera
"depth" (depth is not an image the harness's Observation.images can carry); state is empty
(VLN-CE gives the agent no pose). With ``PolicySpec.privileged``: extras "position", "rotation"
([x, y, z, w]), "distance_to_goal", "goals" and "oracle_action" (habitat-sim's greedy geodesic
follower towards the first goal, goal radius 0.5 m as VLN-CE's ShortestPathSensor; None when it
cannot tell).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from vla_eval.suite import Protocol, SuiteEnv
from vla_eval.suites.vlnce import metrics
from vla_eval.suites.vlnce import ndtw as vlnce_ndtw
from vla_eval.suites.vlnce.dataset import NavEpisode, load_episodes, load_gt, scene_path
from vla_eval.types import EpisodeSpec, Observation

# Harness action id -> habitat action name (habitat-lab HabitatSimActions order).
ACTION_NAMES = ("STOP", "MOVE_FORWARD", "TURN_LEFT", "TURN_RIGHT", "LOOK_UP", "LOOK_DOWN")
# habitat-sim agent action keys of the non-STOP actions.
SIM_KEYS = {
    "MOVE_FORWARD": "move_forward",
    "TURN_LEFT": "turn_left",
    "TURN_RIGHT": "turn_right",
    "LOOK_UP": "look_up",
    "LOOK_DOWN": "look_down",
}
ROUND = 4  # decimals kept for positions and distances in the stored per-step series (0.1 mm)


def action_id(action: Any, n_actions: int) -> int:
    """One harness action ([1] float) -> an action id in ``range(n_actions)``; ValueError otherwise."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.size != 1:
        raise ValueError(f"a VLN-CE action is one action id; got {a.size} values")
    v = float(a[0])
    if not math.isfinite(v) or v != round(v) or not 0 <= v < n_actions:
        table = ", ".join(f"{i} {ACTION_NAMES[i]}" for i in range(n_actions))
        raise ValueError(f"VLN-CE action {v!r} is not an action id ({table})")
    return int(v)


def _json_float(x: float) -> Optional[float]:
    """A finite float rounded for storage, or None (the ledger writes strict JSON: no inf/NaN)."""
    return round(float(x), ROUND) if math.isfinite(x) else None


def path_length(points: Sequence[Sequence[float]]) -> float:
    """Sum of Euclidean displacements between consecutive positions (habitat-lab SPL / VLN-CE PathLength)."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.shape[0] < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(arr, axis=0), axis=1).sum())


class NavRecorder:
    """The per-step record of one VLN-CE episode, and its metrics.

    ``positions[k]`` / ``distances[k]``: agent position and geodesic distance to the goal after k
    actions (k = 0 is the start); STOP adds an entry too (unchanged position), so both lists have
    ``steps + 1`` entries. Metrics (protocols.md section 6; suites/vlnce/metrics.py):

    * success = STOP called and final distance < d (strict), d = 3.0;
    * SPL with l = the distance at reset (habitat-lab SPL's start_end_episode_distance, not the
      dataset's info.geodesic_distance) and p = path_length(positions);
    * NE = final distance; OSR = distance < d at any recorded step (the start included);
      oracle_navigation_error = the smallest distance;
    * nDTW / SDTW as VLN-CE computes them (suites/vlnce/ndtw.py): fastdtw over the distinct
      consecutive positions after each action (VLN-CE's measure never holds the start) against
      the ground-truth locations, normalised by |R| x d; ``ndtw_exact`` / ``sdtw_exact``: the same
      with the exact DTW. The stored path and ground-truth locations allow recomputing both.
    """

    def __init__(self, reference: Sequence[Sequence[float]], success_distance: float) -> None:
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2 or ref.shape[0] < 1 or ref.shape[1] != 3:
            raise ValueError(f"ground-truth path must be [N >= 1, 3], got shape {ref.shape}")
        self.reference = ref
        self.success_distance = float(success_distance)
        self.positions: List[List[float]] = []
        self.distances: List[float] = []
        self.stop_called = False
        self.steps = 0

    def start(self, position: Sequence[float], distance: float) -> None:
        self.positions = [[float(c) for c in position]]
        self.distances = [float(distance)]
        self.stop_called = False
        self.steps = 0

    def record(self, position: Sequence[float], distance: float, stop: bool = False) -> None:
        if not self.positions:
            raise RuntimeError("record() before start()")
        self.positions.append([float(c) for c in position])
        self.distances.append(float(distance))
        self.steps += 1
        self.stop_called = self.stop_called or stop

    def metrics(self) -> Dict[str, Any]:
        if not self.positions:
            raise RuntimeError("metrics() before start()")
        d_th = self.success_distance
        final = self.distances[-1]
        success = metrics.nav_success(self.stop_called, final, d_th)
        start = self.distances[0]
        p_len = path_length(self.positions)
        # SPL's l must be finite; an unreachable start (inf) cannot be a success anyway.
        spl = metrics.spl(success, start, p_len) if math.isfinite(start) else 0.0
        dtw = vlnce_ndtw.dtw_metrics(self.positions, self.reference.tolist(), success, d_th)
        return {
            "success": success,
            "stop_called": self.stop_called,
            "steps_taken": self.steps,
            "spl": spl,
            **dtw,
            "navigation_error": _json_float(metrics.navigation_error(self.distances)),
            "oracle_success": metrics.oracle_success(self.distances, d_th),
            "oracle_navigation_error": _json_float(min(self.distances)),
            "path_length": p_len,
            "start_distance_to_goal": _json_float(start),
            "path": [[round(c, ROUND) for c in p] for p in self.positions],
            "gt_locations": [[round(float(c), ROUND) for c in p] for p in self.reference],
            "distances": [_json_float(d) for d in self.distances],
        }


class HabitatSimBackend:
    """habitat-sim, configured as the VLN-CE task configs (imports habitat_sim)."""

    def __init__(self, cfg: Mapping[str, Any], cameras: Sequence[str], n_actions: int, seed: int) -> None:
        import habitat_sim

        self.hs = habitat_sim
        self.cfg = cfg
        self.cameras = tuple(cameras)
        self.n_actions = n_actions
        self.seed = seed
        self.sim: Any = None
        self.scene: Optional[str] = None
        self._follower: Any = None
        self._obs: Dict[str, np.ndarray] = {}  # the sensors' last rendering (one render per step)

    def _configuration(self, scene: str) -> Any:
        hs, c = self.hs, self.cfg
        sim_cfg = hs.SimulatorConfiguration()
        sim_cfg.scene_id = scene
        sim_cfg.allow_sliding = bool(c["allow_sliding"])
        sim_cfg.random_seed = self.seed
        sim_cfg.gpu_device_id = int(os.environ.get("VLA_EVAL_HABITAT_GPU", "0"))
        sim_cfg.enable_physics = False
        sensors = []
        if "rgb" in self.cameras:
            sensors.append(self._sensor("rgb", hs.SensorType.COLOR, c["rgb_size"], c["rgb_hfov"]))
        if "depth" in self.cameras:
            sensors.append(self._sensor("depth", hs.SensorType.DEPTH, c["depth_size"], c["depth_hfov"]))
        turn = float(c["turn_angle"])
        space = {
            "move_forward": hs.agent.ActionSpec(
                "move_forward", hs.agent.ActuationSpec(amount=float(c["forward_step"]))
            ),
            "turn_left": hs.agent.ActionSpec("turn_left", hs.agent.ActuationSpec(amount=turn)),
            "turn_right": hs.agent.ActionSpec("turn_right", hs.agent.ActuationSpec(amount=turn)),
        }
        if self.n_actions > 4:
            tilt = float(c["tilt_angle"])
            space["look_up"] = hs.agent.ActionSpec("look_up", hs.agent.ActuationSpec(amount=tilt))
            space["look_down"] = hs.agent.ActionSpec("look_down", hs.agent.ActuationSpec(amount=tilt))
        agent = hs.agent.AgentConfiguration(
            height=float(c["agent_height"]),
            radius=float(c["agent_radius"]),
            sensor_specifications=sensors,
            action_space=space,
        )
        return hs.Configuration(sim_cfg, [agent])

    def _sensor(self, uuid: str, kind: Any, size: Sequence[int], hfov: float) -> Any:
        spec = self.hs.CameraSensorSpec()
        spec.uuid = uuid
        spec.sensor_type = kind
        spec.resolution = [int(size[0]), int(size[1])]  # [H, W]
        spec.hfov = float(hfov)
        spec.position = [0.0, float(self.cfg["sensor_height"]), 0.0]
        return spec

    def load(self, scene: str) -> None:
        if self.sim is not None and scene == self.scene:
            return
        config = self._configuration(scene)
        if self.sim is None:
            self.sim = self.hs.Simulator(config)
        else:
            self.sim.reconfigure(config)
        self.scene = scene
        self._follower = None

    def place(self, position: Sequence[float], rotation_xyzw: Sequence[float]) -> None:
        from habitat_sim.utils.common import quat_from_coeffs

        self.sim.reset()
        state = self.hs.AgentState()
        state.position = np.asarray(position, dtype=np.float32)
        state.rotation = quat_from_coeffs(np.asarray(rotation_xyzw, dtype=np.float64))
        self.sim.get_agent(0).set_state(state, reset_sensors=True)
        self._obs = dict(self.sim.get_sensor_observations()) if self.cameras else {}

    def act(self, key: str) -> None:
        self._obs = dict(self.sim.step(key))

    def position(self) -> List[float]:
        return [float(c) for c in self.sim.get_agent(0).get_state().position]

    def rotation(self) -> List[float]:
        q = self.sim.get_agent(0).get_state().rotation
        return [float(q.x), float(q.y), float(q.z), float(q.w)]

    def geodesic(self, position: Sequence[float], goals: Sequence[Sequence[float]]) -> float:
        path = self.hs.MultiGoalShortestPath()
        path.requested_start = np.asarray(position, dtype=np.float32)
        path.requested_ends = np.asarray(goals, dtype=np.float32)
        self.sim.pathfinder.find_path(path)
        return float(path.geodesic_distance)

    def observe(self) -> Dict[str, np.ndarray]:
        return self._obs

    def oracle_action(self, goal: Sequence[float]) -> Optional[int]:
        try:
            if self._follower is None:
                self._follower = self.hs.nav.GreedyGeodesicFollower(
                    self.sim.pathfinder,
                    self.sim.get_agent(0),
                    goal_radius=0.5,
                    stop_key="stop",
                    forward_key="move_forward",
                    left_key="turn_left",
                    right_key="turn_right",
                )
            key = self._follower.next_action_along(np.asarray(goal, dtype=np.float32))
        except Exception:
            return None
        if key is None or key == "stop":
            return 0
        names = {v: k for k, v in SIM_KEYS.items()}
        return ACTION_NAMES.index(names[key]) if key in names else None

    def close(self) -> None:
        if self.sim is not None:
            self.sim.close()
            self.sim = None


class VlnceEnv(SuiteEnv):
    """A VLN-CE episode runner over one simulator (scenes are switched as episodes need)."""

    verified = False  # not yet run against the simulator

    def __init__(
        self,
        protocol: Protocol,
        episodes_file: os.PathLike,
        gt_file: os.PathLike,
        scenes: os.PathLike,
        cameras: Sequence[str] = (),
        privileged: bool = False,
        backend: Optional[Callable[..., Any]] = None,
    ) -> None:
        self.protocol = protocol
        self.cfg = dict(protocol.extra)
        self.n_actions = len(self.cfg["actions"])
        if list(self.cfg["actions"]) != list(ACTION_NAMES[: self.n_actions]):
            raise ValueError(f"protocol actions {self.cfg['actions']} are not a prefix of {list(ACTION_NAMES)}")
        self.success_distance = float(self.cfg["success_distance"])
        self.cameras = tuple(cameras)
        self.privileged = privileged
        _, eps = load_episodes(Path(episodes_file), tuple(self.cfg.get("languages", ())))
        self.episodes: Dict[str, NavEpisode] = {e.episode_id: e for e in eps}
        self.gt = load_gt(Path(gt_file))
        self.scenes = Path(scenes)
        make = backend if backend is not None else HabitatSimBackend
        self.sim = make(self.cfg, self.cameras, self.n_actions, int(protocol.seed))
        self.spec: Optional[EpisodeSpec] = None
        self.episode: Optional[NavEpisode] = None
        self.recorder: Optional[NavRecorder] = None
        self.done = False

    # --- observations -------------------------------------------------------------------
    def _observation(self) -> Observation:
        assert self.spec is not None and self.episode is not None and self.recorder is not None
        raw = self.sim.observe()
        images: Dict[str, np.ndarray] = {}
        extras: Dict[str, Any] = {}
        if "rgb" in self.cameras:
            images["rgb"] = np.ascontiguousarray(np.asarray(raw["rgb"])[..., :3], dtype=np.uint8)
        if "depth" in self.cameras:
            lo, hi = float(self.cfg["depth_min"]), float(self.cfg["depth_max"])
            d = np.clip(np.asarray(raw["depth"], dtype=np.float32), lo, hi)
            if self.cfg.get("depth_normalize", True):
                d = (d - lo) / (hi - lo)
            extras["depth"] = d.reshape(d.shape[0], d.shape[1], 1).astype(np.float32)
        if self.privileged:
            extras.update(
                position=np.asarray(self.recorder.positions[-1], dtype=np.float64),
                rotation=np.asarray(self.sim.rotation(), dtype=np.float64),
                distance_to_goal=float(self.recorder.distances[-1]),
                goals=np.asarray(self.episode.goals, dtype=np.float64),
                oracle_action=self.sim.oracle_action(self.episode.goals[0]),
            )
        return Observation(
            images=images,
            state=np.zeros(0, dtype=np.float32),
            instruction=self.episode.instruction,
            embodiment=self.protocol.embodiment,
            episode_id=self.spec.episode_id,
            step=self.recorder.steps,
            extras=extras,
        )

    # --- the SuiteEnv interface ---------------------------------------------------------
    def reset(self, spec: EpisodeSpec) -> Observation:
        ep = self.episodes.get(spec.init_state_id)
        if ep is None:
            raise ValueError(f"episode {spec.init_state_id!r} is not in the dataset file")
        if ep.episode_id not in self.gt:
            raise ValueError(f"episode {ep.episode_id!r} has no ground-truth path")
        self.spec, self.episode, self.done = spec, ep, False
        self.sim.load(str(scene_path(ep.scene_id, self.scenes)))
        self.sim.place(ep.start_position, ep.start_rotation)
        self.recorder = NavRecorder(self.gt[ep.episode_id], self.success_distance)
        pos = self.sim.position()
        self.recorder.start(pos, self.sim.geodesic(pos, ep.goals))
        return self._observation()

    def step(self, action: np.ndarray) -> Tuple[Observation, bool, Dict[str, Any]]:
        assert self.recorder is not None and self.episode is not None
        if self.done:
            raise RuntimeError("step after the episode ended (STOP)")
        aid = action_id(action, self.n_actions)
        name = ACTION_NAMES[aid]
        if name == "STOP":
            self.done = True
        else:
            self.sim.act(SIM_KEYS[name])
        pos = self.sim.position()
        self.recorder.record(pos, self.sim.geodesic(pos, self.episode.goals), stop=self.done)
        dist = self.recorder.distances[-1]
        return self._observation(), self.done, {"action": name, "distance_to_goal": _json_float(dist)}

    def result(self) -> Dict[str, Any]:
        assert self.recorder is not None and self.episode is not None
        out = self.recorder.metrics()
        out.update(
            dataset_episode_id=self.episode.episode_id,
            scene_id=self.episode.scene_id,
            dataset_geodesic_distance=self.episode.geodesic_distance,
        )
        return out

    def close(self) -> None:
        self.sim.close()
