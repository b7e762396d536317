"""LIBERO env driver: the only module that imports LIBERO, robosuite and MuJoCo.

Follows the reference LIBERO evaluation client step for step (see protocol.toml): reset, apply
the reference loop's scene for this episode (fixture poses and solver warm start, from the
protocol's scene table), set the benchmark's init state, settle with the wait action, then the
policy acts; images rotated 180 degrees; state = eef pos + axis-angle + gripper qpos;
success = the env's done (its BDDL goal predicates).
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np

from vla_eval.suite import Protocol, SuiteEnv
from vla_eval.suites.libero.scenes import SceneEntry, apply_fixtures, apply_warmstart, load_table
from vla_eval.types import EpisodeSpec, Observation

# Suite camera name -> robosuite camera name.
CAMERAS = {"agentview": "agentview", "wrist": "robot0_eye_in_hand"}


def quat2axisangle(quat: np.ndarray) -> np.ndarray:
    """xyzw quaternion -> axis-angle, exactly as robosuite's ``transform_utils.quat2axisangle``.

    The LIBERO training data and the reference clients use this form. It does NOT
    canonicalise q and -q to the same rotation (for w < 0 the angle exceeds pi): policies
    were trained on this convention, so the harness keeps it (tests compare with robosuite).
    """
    q = np.array(quat, dtype=np.float64)
    q[3] = min(1.0, max(-1.0, q[3]))
    den = math.sqrt(1.0 - q[3] * q[3])
    if math.isclose(den, 0.0):
        return np.zeros(3)
    return q[:3] * 2.0 * math.acos(q[3]) / den


def _task_and_bddl(suite: str, task_index: int):
    from libero.libero import benchmark, get_libero_path

    bench = benchmark.get_benchmark_dict()[suite]()
    task = bench.get_task(task_index)
    bddl = os.path.join(get_libero_path("bddl_files"), task.problem_folder, task.bddl_file)
    return bench, task, bddl


def benchmark_tasks(suite: str) -> list[dict[str, Any]]:
    """The task list as the installed benchmark files define it (for protocol checks)."""
    import hashlib

    from libero.libero import benchmark

    bench = benchmark.get_benchmark_dict()[suite]()
    out = []
    for i in range(bench.n_tasks):
        task = bench.get_task(i)
        states = bench.get_task_init_states(i)
        out.append(
            {
                "name": task.name,
                "instruction": task.language,
                "n_init_states": int(states.shape[0]),
                "init_states_sha256": hashlib.sha256(np.ascontiguousarray(states).tobytes()).hexdigest(),
            }
        )
    return out


class LiberoEnv(SuiteEnv):
    def __init__(self, protocol: Protocol, task_index: int, cameras: Sequence[str] = (), privileged: bool = False):
        from libero.libero.envs.env_wrapper import ControlEnv

        self.protocol = protocol
        self.task_index = task_index
        self.cameras = tuple(cameras)
        self.privileged = privileged
        bench, task, bddl = _task_and_bddl(protocol.base_suite, task_index)
        self.instruction = task.language
        self.init_states = bench.get_task_init_states(task_index)
        h, w = protocol.image_size
        extra = protocol.extra
        # ControlEnv with an offscreen renderer is exactly the reference OffScreenRenderEnv;
        # without cameras nothing is rendered (a policy that needs no images costs no GL time).
        self.env = ControlEnv(
            bddl_file_name=bddl,
            controller=extra.get("control", "OSC_POSE"),
            control_freq=int(extra.get("control_freq", 20)),
            use_camera_obs=bool(self.cameras),
            has_offscreen_renderer=bool(self.cameras),
            camera_names=[CAMERAS[c] for c in self.cameras],
            camera_heights=h,
            camera_widths=w,
        )
        self.wait_steps = int(extra.get("wait_steps", 10))
        self.wait_action = [float(x) for x in extra.get("wait_action", protocol.idle_action)]
        self.rotate = bool(extra.get("rotate_180", True))
        self.scene_table = None
        if extra.get("scene_table"):
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), extra["scene_table"])
            self.scene_table = load_table(path, extra.get("scene_table_sha256", ""))
        self.scene: SceneEntry | None = None
        self.spec: EpisodeSpec | None = None
        self.raw_obs: dict[str, Any] = {}
        self.initial_sim_state: np.ndarray | None = None
        self._success = False
        self._steps = 0

    # --- observation conversion ---------------------------------------------------------
    def _observation(self, raw: dict[str, Any]) -> Observation:
        self.raw_obs = raw
        images = {}
        for cam in self.cameras:
            img = raw[f"{CAMERAS[cam]}_image"]
            images[cam] = np.ascontiguousarray(img[::-1, ::-1] if self.rotate else img)
        state = np.concatenate(
            [raw["robot0_eef_pos"], quat2axisangle(raw["robot0_eef_quat"]), raw["robot0_gripper_qpos"]]
        ).astype(np.float32)
        extras: dict[str, Any] = {}
        if self.privileged:
            extras = self.privileged_state(raw)
        assert self.spec is not None
        return Observation(
            images=images,
            state=state,
            instruction=self.instruction,
            embodiment=self.protocol.embodiment,
            episode_id=self.spec.episode_id,
            step=self._steps,
            extras=extras,
        )

    def privileged_state(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Simulator ground truth for scripted experts: object poses, geometry, regions, the BDDL goal.

        objects[name] (movable objects and fixtures): "pos"/"quat" (the body pose, quat xyzw as
        robosuite observes it; fixtures have no quat observation, so theirs comes from the sim),
        "rot" (3x3 body-to-world rotation), "bbox_min"/"bbox_max" (world axis-aligned box of its
        collision geoms), "box_center"/"box_half" (the same geoms' box in the body frame: centre
        and half extents), "fixture" (bool); fixtures also have "parts_center"/"parts_rot"/
        "parts_half": each collision geom as an oriented box (world centre, geom-to-world
        rotation, half extents), so a drawer's or shelf's walls can be avoided.
        regions[site]: "pos", "rot" (3x3 site-to-world), "size" (the BDDL region's half sizes as
        LIBERO's In/On checks use them), "parent" (the object it belongs to, "" for the arena).
        robot_base_pos: the robot base's world position (to judge what is within reach).
        """
        inner = self.env.env
        model, data = inner.sim.model._model, inner.sim.data._data
        # Body-frame boxes of each object's collision geoms: static per model (a hard reset
        # builds a new model, so the cache is keyed by the model object itself).
        cache = getattr(self, "_priv_geom_cache", None)
        if cache is None or cache[0] is not model:
            signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
            boxes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            names = [(n, False) for n in inner.objects_dict] + [(n, True) for n in getattr(inner, "fixtures_dict", {})]
            for name, _ in names:
                bid = inner.obj_body_id.get(name) if hasattr(inner, "obj_body_id") else None
                if bid is None:
                    continue
                # Bodies in the subtree of this object's body.
                sub = {bid}
                for b in range(bid + 1, model.nbody):
                    if model.body_parentid[b] in sub:
                        sub.add(b)
                body_from_world = None
                pts = []
                for g in range(model.ngeom):
                    if model.geom_bodyid[g] not in sub:
                        continue
                    if model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0:
                        continue
                    if body_from_world is None:
                        body_from_world = data.xmat[bid].reshape(3, 3).T
                    c, h = model.geom_aabb[g][:3], model.geom_aabb[g][3:]
                    corners = c + signs * h  # geom frame
                    world = data.geom_xpos[g] + corners @ data.geom_xmat[g].reshape(3, 3).T
                    pts.append((world - data.xpos[bid]) @ body_from_world.T)
                if pts:
                    p = np.concatenate(pts)
                    lo, hi = p.min(0), p.max(0)
                    boxes[name] = ((lo + hi) / 2, (hi - lo) / 2)
            # Fixtures (cabinets, stoves ...) are large and hollow: their collision geoms are
            # also reported one by one (a drawer's walls, a shelf), as oriented boxes.
            parts: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}
            for name, is_fixture in names:
                if not is_fixture or name not in boxes:
                    continue
                bid = inner.obj_body_id[name]
                sub = {bid}
                for b in range(bid + 1, model.nbody):
                    if model.body_parentid[b] in sub:
                        sub.add(b)
                parts[name] = [
                    (g, model.geom_aabb[g][:3].copy(), model.geom_aabb[g][3:].copy())
                    for g in range(model.ngeom)
                    if model.geom_bodyid[g] in sub and (model.geom_contype[g] or model.geom_conaffinity[g])
                ]
            cache = (model, boxes, parts)
            self._priv_geom_cache = cache
        boxes, parts = cache[1], cache[2]
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)

        objects: dict[str, Any] = {}
        for key, value in raw.items():
            if key.endswith("_pos") and not key.startswith("robot0") and "_to_" not in key:
                name = key[: -len("_pos")]
                objects[name] = {
                    "pos": np.asarray(value, dtype=np.float64),
                    "quat": np.asarray(raw.get(f"{name}_quat", np.zeros(4)), dtype=np.float64),
                }
        fixtures = set(getattr(inner, "fixtures_dict", {}))
        for name, (center, half) in boxes.items():
            bid = inner.obj_body_id[name]
            rot = data.xmat[bid].reshape(3, 3).copy()
            pos = data.xpos[bid].copy()
            entry = objects.setdefault(name, {"pos": pos, "quat": np.roll(data.xquat[bid].copy(), -1)})
            corners = pos + (center + signs * half) @ rot.T
            entry.update(
                {
                    "rot": rot,
                    "bbox_min": corners.min(0),
                    "bbox_max": corners.max(0),
                    "box_center": center.copy(),
                    "box_half": half.copy(),
                    "fixture": name in fixtures,
                }
            )
            if name in parts and parts[name]:
                ids = np.array([g for g, _, _ in parts[name]])
                rots = data.geom_xmat[ids].reshape(-1, 3, 3)
                local = np.stack([c for _, c, _ in parts[name]])
                entry["parts_center"] = data.geom_xpos[ids] + np.einsum("nij,nj->ni", rots, local)
                entry["parts_rot"] = rots.copy()
                entry["parts_half"] = np.stack([h for _, _, h in parts[name]])
        regions: dict[str, Any] = {}
        for name, site in getattr(inner, "object_sites_dict", {}).items():
            try:
                sid = model.site(name).id
            except Exception:
                continue
            regions[name] = {
                "pos": data.site_xpos[sid].copy(),
                "rot": data.site_xmat[sid].reshape(3, 3).copy(),
                "size": np.asarray(getattr(site, "size", model.site_size[sid]), dtype=np.float64),
                "parent": str(getattr(site, "parent_name", "") or ""),
            }
        return {
            "objects": objects,
            "regions": regions,
            "eef_pos": np.asarray(raw["robot0_eef_pos"], dtype=np.float64),
            "eef_quat": np.asarray(raw["robot0_eef_quat"], dtype=np.float64),
            "gripper_qpos": np.asarray(raw["robot0_gripper_qpos"], dtype=np.float64),
            "robot_base_pos": np.asarray(data.xpos[model.body("robot0_base").id], dtype=np.float64).copy(),
            "goal": [list(map(str, g)) for g in inner.parsed_problem.get("goal_state", [])],
        }

    # --- the SuiteEnv interface -----------------------------------------------------------
    def reset(self, spec: EpisodeSpec) -> Observation:
        if spec.task_index != self.task_index:
            raise ValueError(f"env of task {self.task_index} cannot run episode of task {spec.task_index}")
        if not 0 <= spec.episode_index < len(self.init_states):
            raise ValueError(f"episode {spec.episode_index}: the benchmark has {len(self.init_states)} init states")
        self.spec = spec
        self._success = False
        self._steps = 0
        self.env.seed(spec.seed)
        self.env.reset()
        sim = self.env.env.sim
        if self.scene_table is not None:
            import mujoco

            # The reference loop's reset for this episode: its fixture poses into the model
            # (what LIBERO's own reset writes there), before the init state is applied ...
            self.scene = self.scene_table.entry(
                self.protocol.base_suite, self.task_index, spec.episode_index, mujoco.__version__
            )
            apply_fixtures(sim.model._model, self.scene)
        raw = self.env.set_init_state(self.init_states[spec.episode_index])
        if self.scene is not None:
            # ... and the solver warm start its first step starts from.
            apply_warmstart(sim.model._model, sim.data._data, self.scene)
        self.initial_sim_state = self.sim_state()  # for tests: the benchmark's state, applied
        for _ in range(self.wait_steps):
            raw, _, _, _ = self.env.step(self.wait_action)
        return self._observation(raw)

    def step(self, action: np.ndarray) -> tuple[Observation, bool, dict[str, Any]]:
        raw, reward, done, info = self.env.step(np.asarray(action, dtype=np.float64).tolist())
        self._steps += 1
        # done is the BDDL goal check, or robosuite's horizon (1000 steps, beyond every
        # LIBERO step limit); count a success only when the goal holds.
        if done and self.env.check_success():
            self._success = True
        return self._observation(raw), bool(done), {"reward": float(reward)}

    def result(self) -> dict[str, Any]:
        return {"success": self._success}

    def sim_state(self) -> np.ndarray:
        """The flattened MuJoCo state (for tests and debugging)."""
        return np.asarray(self.env.get_sim_state())

    def close(self) -> None:
        self.env.close()
