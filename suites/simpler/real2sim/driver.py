"""ManiSkill2_real2sim driver (SAPIEN 2.2.2) for simpler_widowx and the Google-robot suites.

The only module here that imports the simulator. It follows SimplerEnv's
``simpler_env/evaluation/maniskill2_evaluator.py`` (run_maniskill2_eval_single_episode):

- a fresh env per episode: ``gym.make(env_id, obs_mode="rgbd", robot, sim_freq, control_mode,
  control_freq, max_episode_steps, scene_name, camera_cfgs={"add_segmentation": True},
  rgb_overlay_path, rgb_overlay_cameras, **script kwargs)``;
- ``env.reset(options={"robot_init_options": {init_xy, init_rot_quat}, "obj_init_options": ...})``;
- per step: ``terminate`` (8-D Google actions only) ends the episode on the final subtask, else
  advances the env to its next subtask; then ``env.step(action[:7])``; the instruction is read
  again after every step;
- success = the env's ``done`` (its success) at the last step; ``episode_stats`` reported apart.

Ran here against the simulator on CPU (lavapipe + the wrapper ICD), with the offline copy of
ManiSkill2_real2sim whose placeholders its README lists.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Any, Iterator, Sequence

import numpy as np

from vla_eval.suite import Protocol, SuiteEnv
from vla_eval.suites.simpler.real2sim import episodes as ep
from vla_eval.types import EpisodeSpec, Observation


def build_kwargs(
    cfg: dict[str, Any], protocol: Protocol, data: str | None, rt_spp: int | None = None
) -> dict[str, Any]:
    """gym.make keyword arguments for one episode configuration (no simulator needed)."""
    extra = protocol.extra
    kwargs: dict[str, Any] = dict(cfg["kwargs"])
    kwargs.update(
        obs_mode="rgbd",
        robot=str(cfg.get("robot", ep.ROBOT)),
        sim_freq=int(extra.get("sim_freq", ep.SIM_FREQ)),
        control_mode=str(extra.get("control_mode", ep.CONTROL_MODE)),
        control_freq=int(extra.get("control_freq", ep.CONTROL_FREQ)),
        max_episode_steps=int(cfg["max_steps"]),
        scene_name=cfg["scene_name"],
        camera_cfgs={"add_segmentation": True},
        rgb_overlay_path=None,
    )
    if cfg.get("rgb_overlay"):
        kwargs["rgb_overlay_path"] = os.path.join(data or "", "real_inpainting", cfg["rgb_overlay"])
        kwargs["rgb_overlay_cameras"] = [protocol.cameras[0]]
    if rt_spp is not None and kwargs.get("shader_dir") == "rt":  # CPU driver checks, not SimplerEnv's setting
        if rt_spp == 0:
            del kwargs["shader_dir"]
        else:
            kwargs["render_config"] = {"rt_samples_per_pixel": int(rt_spp)}
    return kwargs


def reset_options(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "robot_init_options": {
            "init_xy": np.array(cfg["robot_init_xy"], dtype=np.float64),
            "init_rot_quat": np.array(ep.robot_init_quat(cfg["robot_init_rpy"]), dtype=np.float64),
        },
        "obj_init_options": (
            {"episode_id": int(cfg["obj_init"]["episode_id"])}
            if "episode_id" in cfg["obj_init"]
            else {"init_xy": np.array(cfg["obj_init"]["init_xy"], dtype=np.float64)}
        ),
    }


# SAPIEN 2.2.2 does not raise when a scene or object file is missing: it logs "File not found" /
# "Failed to load ..." and goes on without that mesh (a table-less scene, an invisible object).
# The driver reads SAPIEN's log while it builds and resets the env and makes that an error.
_MISSING = re.compile(
    r"\[SAPIEN\] \[error\] (?:File not found|Failed to load visual mesh|Failed to open URDF file): (\S+)"
)


@contextlib.contextmanager
def missing_files_are_errors() -> Iterator[None]:
    """Capture fd 2 (SAPIEN logs there from C++); re-emit it; raise if a file was missing
    (also when the env then failed for want of it, e.g. an AttributeError on a missing URDF)."""
    sys.stderr.flush()
    saved = os.dup(2)
    failure: BaseException | None = None
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        except BaseException as e:  # noqa: BLE001 - re-raised below, or replaced by the missing files
            failure = e
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
            sys.stderr.write(text)
            sys.stderr.flush()
    missing = sorted(set(_MISSING.findall(text)))
    if missing:
        raise FileNotFoundError(
            f"simulator asset files missing (SAPIEN would go on without them): {', '.join(missing)}"
        ) from failure
    if failure is not None:
        raise failure


def _pose(p: Any) -> dict[str, list[float]]:
    return {"pos": [float(x) for x in p.p], "quat": [float(x) for x in p.q]}


def _plain(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, str):
        return v
    return None


class Real2SimEnv(SuiteEnv):
    def __init__(self, protocol: Protocol, spec: EpisodeSpec, cameras: Sequence[str] = (), privileged: bool = False):
        import gymnasium as gym
        import mani_skill2_real2sim.envs  # noqa: F401 - registers the envs

        from vla_eval.suites.simpler.real2sim.suite import rt_samples_override

        self.protocol = protocol
        self.cameras = tuple(cameras)
        self.privileged = privileged
        self.cfg = ep.task_episodes(protocol.suite, spec.task)[spec.episode_index]
        data = os.environ.get("VLA_EVAL_SIMPLER_DATA") or os.environ.get("MS2_REAL2SIM_ASSET_DIR")
        with missing_files_are_errors():
            self.env = gym.make(self.cfg["env_name"], **build_kwargs(self.cfg, protocol, data, rt_samples_override()))
        self.u = self.env.unwrapped
        self.spec: EpisodeSpec | None = None
        self._steps = 0
        self._done = False
        self._info: dict[str, Any] = {}

    # --- conversion ---------------------------------------------------------------------
    def _state(self) -> np.ndarray:
        """tcp pose in the robot base frame (xyz, quat wxyz) + qpos."""
        tcp = self.u.agent.robot.pose.inv() * self.u.tcp.pose
        qpos = np.asarray(self.u.agent.robot.get_qpos(), dtype=np.float64)
        return np.concatenate([tcp.p, tcp.q, qpos]).astype(np.float32)

    def privileged_state(self) -> dict[str, Any]:
        """World-frame poses for scripted experts (never given to learned policies)."""
        u = self.u
        out: dict[str, Any] = {"base": _pose(u.agent.robot.pose), "tcp": _pose(u.tcp.pose)}
        objs = list(getattr(u, "episode_objs", []) or [])
        sizes = list(getattr(u, "episode_model_bbox_sizes", []) or [])
        for key, actor, com in (
            ("source", getattr(u, "episode_source_obj", None), "source_obj_pose"),
            ("target", getattr(u, "episode_target_obj", None), "target_obj_pose"),
        ):
            if actor is None:
                continue
            i = objs.index(actor) if actor in objs else -1
            out[key] = {
                "pos": [float(x) for x in getattr(u, com).p],  # centre of mass, as the success check uses
                "quat": [float(x) for x in actor.pose.q],  # the object's frame (its bbox axes)
                "size": [float(x) for x in sizes[i]] if 0 <= i < len(sizes) else [0.0, 0.0, 0.0],  # local bbox
                "name": actor.name,
            }
        return out

    def _observation(self, raw: dict[str, Any]) -> Observation:
        images = {cam: np.ascontiguousarray(raw["image"][cam]["rgb"][..., :3]).astype(np.uint8) for cam in self.cameras}
        assert self.spec is not None
        return Observation(
            images=images,
            state=self._state(),
            instruction=self.instruction,
            embodiment=self.protocol.embodiment,
            episode_id=self.spec.episode_id,
            step=self._steps,
            extras=self.privileged_state() if self.privileged else {},
        )

    # --- SuiteEnv ---------------------------------------------------------------------------
    def reset(self, spec: EpisodeSpec) -> Observation:
        self.spec = spec
        self._steps, self._done, self._info = 0, False, {}
        with missing_files_are_errors():
            raw, _ = self.env.reset(options=reset_options(self.cfg))
        self.instruction = str(self.u.get_language_instruction())
        return self._observation(raw)

    def step(self, action: np.ndarray) -> tuple[Observation, bool, dict[str, Any]]:
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        end = False
        if a.shape[0] > 7 and a[7] > 0:  # terminate_episode (Google robot actions)
            if self.u.is_final_subtask():
                end = True  # the evaluator stops after this step
            else:
                self.u.advance_to_next_subtask()
        raw, _reward, done, _truncated, info = self.env.step(a[:7])
        self._steps += 1
        self._done = bool(done)
        self._info = {k: _plain(v) for k, v in info.items() if _plain(v) is not None}
        stats = info.get("episode_stats", {}) or {}
        self._info["episode_stats"] = {k: _plain(v) for k, v in dict(stats).items() if _plain(v) is not None}
        self.instruction = str(self.u.get_language_instruction())
        return self._observation(raw), end, {"success": self._done}

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "success": self._done,  # the env's done (success) at the last step
            "env_name": self.cfg["env_name"],
            "variant": self.cfg["variant"],
            "group": self.cfg["group"],
            "subtask": self.cfg["subtask"],
            "counted": self.cfg["counted"],
        }
        for k, v in self._info.get("episode_stats", {}).items():
            out[k] = v  # e.g. is_src_obj_grasped / consecutive_grasp: accumulated by the env over the episode
        return out

    def close(self) -> None:
        self.env.close()
