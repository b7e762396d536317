"""ManiSkill3 env driver for simpler_widowx_ms3 and maniskill3: the only module here importing ManiSkill3.

simpler_widowx_ms3 follows SimplerEnv's ManiSkill3 evaluation loop (see protocol.toml): reset with
``seed = seed + i`` and ``options={"episode_id": i}``, run exactly ``max_steps`` steps, read
``info["success"]`` at the last step, report the grasp metrics apart. maniskill3 runs bundled
tasks through the same code with success at any step.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from vla_eval.suite import Protocol, SuiteEnv
from vla_eval.types import EpisodeSpec, Observation


def _scalar(x: Any) -> Any:
    """First element of a batched (num_envs=1) torch/numpy value, as a Python scalar."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    return arr.reshape(-1)[0].item() if arr.size else None


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def state_vector(ee_p: Any, ee_q: Any, qpos: Any) -> np.ndarray:
    """[ee xyz (3), ee quaternion wxyz (4), joint positions] as float32 (batch dim dropped)."""
    parts = [_np(ee_p).reshape(-1)[:3], _np(ee_q).reshape(-1)[:4], _np(qpos).reshape(-1)]
    return np.concatenate(parts).astype(np.float32)


def scene_config(episode_id: int, n_pos: int, n_quat: int) -> tuple[int, int]:
    """(position config, orientation config) of a Bridge episode id, as ManiSkill3's BaseBridgeEnv maps it."""
    return (episode_id % (n_pos * n_quat)) // n_quat, episode_id % n_quat


def reset_greenscreen_class_state() -> None:
    """Give the next Bridge env the greenscreen class state of a fresh process (see suite.py)."""
    from mani_skill.envs.tasks.digital_twins.base_env import BaseDigitalTwinEnv

    BaseDigitalTwinEnv._objects_to_remove_from_greenscreen = []
    BaseDigitalTwinEnv._rgb_overlay_images = {}


class ManiSkill3Env(SuiteEnv):
    def __init__(self, protocol: Protocol, task_index: int, cameras: Sequence[str] = (), privileged: bool = False):
        import gymnasium as gym
        import mani_skill.envs  # noqa: F401 - registers the envs

        self.protocol = protocol
        self.task_index = task_index
        self.task = protocol.tasks[task_index]
        self.cameras = tuple(cameras)
        self.privileged = privileged
        extra = protocol.extra
        self.bridge = extra.get("obs_mode") == "rgb+segmentation"
        obs_mode = str(extra.get("obs_mode", "rgb"))
        if not self.bridge and not self.cameras:
            obs_mode = "state_dict"  # nothing to render: the physics is the same
        if self.bridge:
            reset_greenscreen_class_state()
        kwargs: dict[str, Any] = {}
        if extra.get("shader_pack"):
            kwargs["sensor_configs"] = {"shader_pack": str(extra["shader_pack"])}
        self.env = gym.make(
            self.task.name,
            obs_mode=obs_mode,
            control_mode=str(extra["control_mode"]),
            num_envs=1,
            sim_backend=str(extra.get("sim_backend", "physx_cpu")),
            **kwargs,
        )
        self.u = self.env.unwrapped
        self.grid: tuple[int, int] | None = None
        if self.bridge:
            self.grid = (len(self.u.xyz_configs), len(self.u.quat_configs))
        self.spec: EpisodeSpec | None = None
        self._reset_stats()

    def _reset_stats(self) -> None:
        self._steps = 0
        self._info: dict[str, Any] = {}
        self._success_any = False

    # --- conversion ---------------------------------------------------------------------
    def _ee_pose(self, raw: dict[str, Any]) -> tuple[Any, Any]:
        if self.bridge:
            pose = self.u.agent.controller.controllers["arm"].ee_pose_at_base
            return pose.p, pose.q
        tcp = _np(raw["extra"]["tcp_pose"]).reshape(-1)
        return tcp[:3], tcp[3:7]

    def _observation(self, raw: dict[str, Any]) -> Observation:
        images = {}
        for cam in self.cameras:
            rgb = _np(raw["sensor_data"][cam]["rgb"])[0]
            images[cam] = np.ascontiguousarray(rgb.astype(np.uint8))
        p, q = self._ee_pose(raw)
        state = state_vector(p, q, raw["agent"]["qpos"])
        assert self.spec is not None
        return Observation(
            images=images,
            state=state,
            instruction=self.instruction,
            embodiment=self.protocol.embodiment,
            episode_id=self.spec.episode_id,
            step=self._steps,
            extras=self.privileged_state() if self.privileged else {},
        )

    def privileged_state(self) -> dict[str, Any]:
        """Object poses (world frame, quaternion wxyz) for scripted experts."""
        out: dict[str, Any] = {}
        objs = getattr(self.u, "objs", None) or {}
        for name, actor in objs.items():
            out[name] = {"pos": _np(actor.pose.p).reshape(-1), "quat": _np(actor.pose.q).reshape(-1)}
        for attr in ("cube", "cubeA", "cubeB", "obj", "goal_site"):
            actor = getattr(self.u, attr, None)
            if actor is not None and hasattr(actor, "pose"):
                out[attr] = {"pos": _np(actor.pose.p).reshape(-1), "quat": _np(actor.pose.q).reshape(-1)}
        return {"objects": out}

    # --- SuiteEnv ---------------------------------------------------------------------------
    def reset(self, spec: EpisodeSpec) -> Observation:
        if spec.task_index != self.task_index:
            raise ValueError(f"env of task {self.task_index} cannot run episode of task {spec.task_index}")
        self.spec = spec
        self._reset_stats()
        seed = int(spec.seed) + int(spec.episode_index)
        if self.bridge:
            import torch

            assert self.grid is not None
            n = self.grid[0] * self.grid[1]
            if not 0 <= spec.episode_index < n:
                raise ValueError(
                    f"{self.task.name} has {n} scene configurations; episode {spec.episode_index} is outside"
                )
            raw, _ = self.env.reset(seed=seed, options={"episode_id": torch.tensor([spec.episode_index])})
            instr = self.u.get_language_instruction()
            self.instruction = str(instr[0] if isinstance(instr, (list, tuple)) else instr)
        else:
            raw, _ = self.env.reset(seed=seed)
            self.instruction = self.task.instruction
        return self._observation(raw)

    def step(self, action: np.ndarray) -> tuple[Observation, bool, dict[str, Any]]:
        a = np.asarray(action, dtype=np.float32).reshape(1, -1)
        raw, _reward, terminated, _truncated, info = self.env.step(a)
        self._steps += 1
        self._info = {k: _scalar(v) for k, v in info.items() if k != "reconfigure"}
        success = bool(self._info.get("success", False))
        self._success_any = self._success_any or success
        if self.bridge:
            done = False  # the reference loop always runs to max_steps; success is read at the end
        else:
            done = bool(_scalar(terminated))
        return self._observation(raw), done, {"success": success}

    def result(self) -> dict[str, Any]:
        if not self.bridge:
            return {"success": self._success_any, "steps": self._steps}
        info = self._info
        out: dict[str, Any] = {
            # The protocol's success: the env's success at the last step.
            "success": bool(info.get("success", False)),
            "success_at_any_step": self._success_any,
            # Partial metrics, never mixed into success. The env accumulates both over the episode:
            # is_src_obj_grasped = grasped at any step, consecutive_grasp = grasped >= 5 steps in a row.
            "is_src_obj_grasped": bool(info.get("is_src_obj_grasped", False)),
            "consecutive_grasp": bool(info.get("consecutive_grasp", False)),
            "src_on_target": bool(info.get("src_on_target", False)),
        }
        if self.grid is not None and self.spec is not None:
            pos, quat = scene_config(self.spec.episode_index, *self.grid)
            out["scene_position_config"] = pos
            out["scene_orientation_config"] = quat
        return out

    def close(self) -> None:
        self.env.close()
