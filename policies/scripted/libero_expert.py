"""A privileged scripted expert for LIBERO pick-and-place goals (``On`` / ``In``).

It reads the BDDL goal and the simulator's ground truth from ``Observation.extras`` (the
LIBERO driver's ``privileged_state``) and acts closed loop, one action per step, in the
suite's own action space: 7-D delta end-effector pose for robosuite's OSC_POSE controller
(dx dy dz in units of 0.05 m, world-frame axis-angle in units of 0.5 rad, gripper -1 open /
+1 close), at 20 Hz. So a success is end-to-end evidence that the harness's init states,
frames, action scale, gripper polarity and success rule are right.

The controller is a phase machine per env:

    approach -> descend -> close -> lift -> carry -> place -> release -> retreat -> (check)

Every phase tracks the live object pose (positions are re-read each step), and a failed
grasp, a drop, or an object left outside the goal sends it back to ``approach`` (a few times).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from vla_eval.conventions import ActionSpace, ControlMode, Gripper, Rotation, Units
from vla_eval.policies.scripted.base import PerEnvExpert
from vla_eval.policies.scripted.geometry import (
    box_footprint,
    gripper_collision,
    mat_to_rotvec,
    nearest_top_down,
    position_action,
    quat_xyzw_to_mat,
    rotation_action,
)
from vla_eval.types import Observation, PolicySpec

OPEN, CLOSE = -1.0, 1.0
MAX_OPENING = 0.076  # widest object the Panda gripper pads can straddle (m), with margin
PAD_ABOVE_EEF = 0.012  # the eef site must stay this far above a support surface (pads touch it)
RIM_WIDTH = 0.085  # objects wider than this in both horizontal directions are grasped by the rim


@dataclass
class Box:
    """An object's pose and geometry as read from the privileged state."""

    pos: np.ndarray  # body position (what LIBERO's predicates test)
    rot: np.ndarray  # body-to-world rotation
    center: np.ndarray  # world centre of the collision-geom box
    box_c: np.ndarray  # the same centre in the body frame
    half: np.ndarray  # half extents along the body axes
    lo: np.ndarray  # world AABB
    hi: np.ndarray

    @classmethod
    def from_state(cls, o: Mapping[str, Any]) -> "Box":
        pos = np.asarray(o["pos"], dtype=np.float64)
        rot = np.asarray(o.get("rot", np.eye(3)), dtype=np.float64).reshape(3, 3)
        half = np.asarray(o.get("box_half", np.full(3, 0.02)), dtype=np.float64)
        box_c = np.asarray(o.get("box_center", np.zeros(3)), dtype=np.float64)
        center = pos + rot @ box_c
        lo = np.asarray(o.get("bbox_min", center - half), dtype=np.float64)
        hi = np.asarray(o.get("bbox_max", center + half), dtype=np.float64)
        return cls(pos, rot, center, box_c, half, lo, hi)

    def footprint(self) -> tuple:
        """(center_xy, [axis_a, axis_b], [half_a, half_b], z_lo, z_hi) for collision checks:
        the oriented box when the object stands on a body axis, else its world AABB."""
        vert = int(np.argmax(np.abs(self.rot[2])))
        if abs(self.rot[2, vert]) > 0.97:
            ks = [k for k in range(3) if k != vert]
            axes = []
            for k in ks:
                a = self.rot[:2, k]
                axes.append(a / max(np.linalg.norm(a), 1e-9))
            return self.center[:2], axes, [float(self.half[k]) for k in ks], float(self.lo[2]), float(self.hi[2])
        c = (self.lo + self.hi) / 2
        h = (self.hi - self.lo) / 2
        return (
            c[:2],
            [np.array([1.0, 0.0]), np.array([0.0, 1.0])],
            [float(h[0]), float(h[1])],
            float(self.lo[2]),
            float(self.hi[2]),
        )

    def horizontal_axes(self) -> list[tuple[np.ndarray, float]]:
        """The two body axes closest to horizontal: (unit xy direction, full extent)."""
        vert = int(np.argmax(np.abs(self.rot[2])))
        out = []
        for k in range(3):
            if k == vert:
                continue
            d = self.rot[:2, k]
            n = np.linalg.norm(d)
            out.append((d / n if n > 1e-6 else np.array([1.0, 0.0]), 2.0 * float(self.half[k])))
        return out


def fixture_obstacles(objects: Mapping[str, Any]) -> list:
    """Every collision geom of every fixture, as obstacles for grasp planning."""
    out = []
    for o in objects.values():
        if o.get("fixture", False) and "parts_center" in o:
            for c, r, h in zip(o["parts_center"], o["parts_rot"], o["parts_half"]):
                out.append(box_footprint(c, r, h))
    return out


def near_segment(b: "Box", a: np.ndarray, c: np.ndarray, radius: float) -> bool:
    """Whether box ``b``'s footprint (its AABB) comes within ``radius`` of the xy segment a-c."""
    a, c = np.asarray(a, dtype=np.float64), np.asarray(c, dtype=np.float64)
    best = np.inf
    for t in np.linspace(0.0, 1.0, 21):
        p = a + (c - a) * t
        dx = max(b.lo[0] - p[0], 0.0, p[0] - b.hi[0])
        dy = max(b.lo[1] - p[1], 0.0, p[1] - b.hi[1])
        best = min(best, float(np.hypot(dx, dy)))
    return best < radius


def parse_goal(goal: Sequence[Sequence[str]]) -> tuple[str, str, str] | None:
    """The first pick-and-place predicate of a BDDL goal: (relation, object, target)."""
    for g in goal:
        if len(g) == 3 and str(g[0]).lower() in ("on", "in"):
            return str(g[0]).lower(), str(g[1]), str(g[2])
    return None


@dataclass
class EnvState:
    episode_id: str = ""
    phase: str = "start"
    t: int = 0  # steps in this phase
    attempts: int = 0
    relation: str = ""
    obj: str = ""
    target: str = ""
    rim: bool = False
    grasp_local: np.ndarray = field(default_factory=lambda: np.zeros(3))
    grasp_cost: float = 0.0
    r_des: np.ndarray = field(default_factory=lambda: np.eye(3))
    hold_pos: np.ndarray = field(default_factory=lambda: np.zeros(3))
    bottom0: float = 0.0  # the object's bottom when the grasp started
    lift_bottom: float = 0.0
    hold_offset: float = 0.0  # eef height above the held object's bottom
    history: list = field(default_factory=list)  # recent eef positions (stall detection)
    last_grip: float = 0.0


class LiberoScriptedExpert(PerEnvExpert):
    """Privileged pick-and-place expert for LIBERO (libero_object, libero_spatial, ...)."""

    def __init__(
        self,
        action_space: ActionSpace | None = None,
        action_dim: int | None = None,
        gain: float = 20.0,
        max_attempts: int = 3,
        **_: Any,
    ) -> None:
        if action_dim is None:
            action_dim = action_space.dim if action_space is not None else 7
        if action_dim != 7:
            raise ValueError(f"the LIBERO expert acts in 7-D OSC_POSE, not {action_dim}-D")
        super().__init__()
        self.gain = gain
        self.max_attempts = max_attempts

    def metadata(self) -> PolicySpec:
        return PolicySpec(
            name="scripted_libero",
            action_dim=7,
            horizon=1,
            control_mode=ControlMode.DELTA_EEF,  # OSC_POSE
            rotation=Rotation.AXIS_ANGLE,
            gripper=Gripper.CLOSE_POSITIVE,
            units=Units.NORMALIZED,
            cameras=(),
            needs_state=True,
            replan_steps=1,
            privileged=True,
        )

    def new_state(self, episode_id: str) -> EnvState:
        return EnvState(episode_id=episode_id)

    def decide(self, obs: Observation, st: EnvState) -> np.ndarray:
        return self.act(obs, st)

    # --- the controller ------------------------------------------------------------------------
    def _go(
        self, st: EnvState, target: np.ndarray, eef: np.ndarray, rot: np.ndarray, grip: float, limit: float = 1.0
    ) -> np.ndarray:
        a = np.zeros(7)
        a[:3] = position_action(target, eef, self.gain, limit)
        a[3:6] = rotation_action(st.r_des, rot, gain=3.0, limit=1.0)
        a[6] = grip
        return a

    def _set(self, st: EnvState, phase: str) -> None:
        st.phase, st.t = phase, 0
        st.history.clear()

    def _stalled(self, st: EnvState, n: int = 4, eps: float = 0.0008) -> bool:
        if len(st.history) < n + 1:
            return False
        return float(np.linalg.norm(st.history[-1] - st.history[-1 - n])) < eps * n

    def _grasp_point(self, st: EnvState, box: Box) -> np.ndarray:
        """The planned grasp point, carried along with the object's live pose."""
        return box.pos + box.rot @ st.grasp_local

    def _plan(
        self,
        st: EnvState,
        objs: dict[str, Box],
        rot: np.ndarray,
        fixture_parts: list,
        base: np.ndarray | None = None,
        place_xy: np.ndarray | None = None,
    ) -> None:
        """Choose the grasp (point in the object's frame, closing direction) least in collision,
        then least far from the robot (at the grasp and where the object will be put down)."""
        box = objs[st.obj]

        def reach_cost(p: np.ndarray) -> float:
            if base is None:
                return 0.0
            pts = [p[:2]] + ([p[:2] - box.pos[:2] + place_xy] if place_xy is not None else [])
            far = max(float(np.linalg.norm(q - base[:2])) for q in pts)
            return 2.0 * max(0.0, far - 0.55)

        obstacles = [b.footprint() for n, b in objs.items() if n != st.obj] + fixture_parts
        axes = box.horizontal_axes()
        widths = [w for _, w in axes]
        candidates = []  # (cost, world point, closing dir)
        if min(widths) > MAX_OPENING or "bowl" in st.obj:
            st.rim = True
            radius = float(max(widths)) / 2.0
            top_local = float(box.box_c[2] + box.half[2])  # the rim, in the body frame
            for k in range(8):
                ang = k * np.pi / 4
                u = np.array([np.cos(ang), np.sin(ang)])
                u_local = (box.rot.T @ np.array([u[0], u[1], 0.0]))[:2]
                u_local = u_local / max(np.linalg.norm(u_local), 1e-9)
                p_local = np.array([*(box.box_c[:2] + u_local * (radius - 0.011)), top_local - 0.022])
                p = box.pos + box.rot @ p_local
                coll = gripper_collision(p, u, obstacles)
                turn = float(np.linalg.norm(mat_to_rotvec(nearest_top_down(u, rot) @ rot.T)))
                candidates.append((coll * 100 + 0.02 * turn + reach_cost(p), p, u))
        else:
            st.rim = False
            (d0, w0), (d1, w1) = axes
            dirs = []
            if abs(w0 - w1) < 0.15 * max(w0, w1):
                for k in range(6):  # round or square: any yaw
                    ang = k * np.pi / 6
                    c, s_ = np.cos(ang), np.sin(ang)
                    dirs.append((np.array([c * d0[0] - s_ * d0[1], s_ * d0[0] + c * d0[1]]), 0.0, max(w0, w1)))
            else:
                (ds, ws), (dl, wl) = ((d0, w0), (d1, w1)) if w0 < w1 else ((d1, w1), (d0, w0))
                dirs.append((ds, 0.0, wl))
                if wl <= MAX_OPENING:
                    dirs.append((dl, 0.01, ws))
            z_nom = max(box.lo[2] + PAD_ABOVE_EEF, box.hi[2] - 0.035)
            z_max = max(z_nom, box.hi[2] - 0.015)
            for d, penalty, length in dirs:
                perp = np.array([-d[1], d[0]])
                s_max = max(0.0, length / 2 - 0.014)
                for off in (0.0, 0.01, -0.01, 0.02, -0.02, 0.03, -0.03):
                    if abs(off) > s_max + 1e-9:
                        continue
                    for dz in (0.0, 0.01, 0.02):
                        z = z_nom + dz
                        if z > z_max + 1e-9:
                            continue
                        p = np.array([box.center[0] + perp[0] * off, box.center[1] + perp[1] * off, z])
                        coll = gripper_collision(p, d, obstacles)
                        turn = float(np.linalg.norm(mat_to_rotvec(nearest_top_down(d, rot) @ rot.T)))
                        cost = coll * 100 + 0.02 * turn + abs(off) * 1.0 + dz * 2.0 + penalty + reach_cost(p)
                        candidates.append((cost, p, d))
        cost, p, d = min(candidates, key=lambda c: c[0])
        st.grasp_local = box.rot.T @ (p - box.pos)
        st.r_des = nearest_top_down(d, rot)
        st.grasp_cost = float(cost)

    def _target(
        self, st: EnvState, objs: dict[str, Box], regions: Mapping[str, Any]
    ) -> tuple[np.ndarray, float, float]:
        """(xy where the object's body position must go, z its bottom is placed at, the top to clear)."""
        if st.target in regions:
            r = regions[st.target]
            pos = np.asarray(r["pos"], dtype=np.float64)
            size = np.abs(np.asarray(r["rot"]).reshape(3, 3) @ np.asarray(r["size"], dtype=np.float64))
            parent = str(r.get("parent", ""))
            top = objs[parent].hi[2] if parent in objs else pos[2] + size[2]
            if st.relation == "in":
                place = pos[2] - size[2] + 0.01
            else:
                place = pos[2] + size[2]
            return pos[:2], place, top
        t = objs[st.target]
        return t.pos[:2], t.hi[2] - 0.008, t.hi[2]

    def _goal_holds(self, st: EnvState, objs: dict[str, Box], regions: Mapping[str, Any]) -> bool:
        box = objs[st.obj]
        if st.target in regions:
            r = regions[st.target]
            pos = np.asarray(r["pos"], dtype=np.float64)
            size = np.abs(np.asarray(r["rot"]).reshape(3, 3) @ np.asarray(r["size"], dtype=np.float64))
            return bool(np.all(np.abs(box.pos[:2] - pos[:2]) < size[:2]))
        return bool(np.linalg.norm(box.pos[:2] - objs[st.target].pos[:2]) < 0.03)

    def act(self, obs: Observation, st: EnvState) -> np.ndarray:
        ex = obs.extras
        eef = np.asarray(ex["eef_pos"], dtype=np.float64)
        rot = quat_xyzw_to_mat(ex["eef_quat"])
        grip_q = np.asarray(ex.get("gripper_qpos", np.zeros(2)), dtype=np.float64)
        opening = float(abs(grip_q[0] - grip_q[1])) if grip_q.size >= 2 else 0.0
        st.history.append(eef.copy())
        del st.history[:-12]
        st.t += 1
        idle = np.array([0, 0, 0, 0, 0, 0, OPEN], dtype=np.float64)
        if st.phase == "start":
            goal = parse_goal(ex.get("goal", []))
            if goal is None or goal[1] not in ex.get("objects", {}):
                self._set(st, "idle")
                return idle
            st.relation, st.obj, st.target = goal
            if st.target not in ex.get("objects", {}) and st.target not in ex.get("regions", {}):
                self._set(st, "idle")
                return idle
            st.r_des = rot.copy()
            self._set(st, "approach")
            st.t = 1
            st.history.append(eef.copy())
        if st.phase == "idle":
            return idle
        every = {n: Box.from_state(o) for n, o in ex["objects"].items()}
        objs = {n: b for n, b in every.items() if not ex["objects"][n].get("fixture", False)}
        if st.obj not in objs:
            self._set(st, "idle")
            return idle
        if st.target in every:
            objs.setdefault(st.target, every[st.target])  # a fixture as the target (a shelf, a stove)
        regions = ex.get("regions", {})
        box = objs[st.obj]

        if st.phase == "approach":
            if st.t == 1:
                base = ex.get("robot_base_pos")
                place_xy = self._target(st, objs, regions)[0]
                self._plan(
                    st,
                    objs,
                    rot,
                    fixture_obstacles(ex["objects"]),
                    None if base is None else np.asarray(base, dtype=np.float64),
                    place_xy,
                )
            g = self._grasp_point(st, box)
            hover = max(g[2] + 0.08, box.hi[2] + 0.05)
            if eef[2] < hover - 0.04 and np.linalg.norm(eef[:2] - g[:2]) > 0.03:
                target = np.array([eef[0], eef[1], hover])  # rise first, then travel
            else:
                target = np.array([g[0], g[1], hover])
            if np.linalg.norm(target - eef) < 0.015 and np.linalg.norm(g[:2] - eef[:2]) < 0.015:
                self._set(st, "descend")
            return self._go(st, target, eef, rot, OPEN)

        if st.phase == "descend":
            g = self._grasp_point(st, box)
            xy_err = np.linalg.norm(g[:2] - eef[:2])
            target = g.copy()
            if xy_err > 0.02:
                target[2] = eef[2]  # re-centre before going lower
            close_enough = np.linalg.norm(g - eef) < 0.007
            if close_enough or (st.t > 10 and self._stalled(st) and xy_err < 0.015):
                st.hold_pos = eef.copy() if not close_enough else g.copy()
                st.bottom0 = float(box.lo[2])
                self._set(st, "close")
            return self._go(st, target, eef, rot, OPEN, limit=1.0 if eef[2] - g[2] > 0.04 else 0.5)

        if st.phase == "close":
            done = st.t >= 14 or (st.t >= 6 and abs(opening - st.last_grip) < 2e-4)
            st.last_grip = opening
            if done:
                tgt, place, top = self._target(st, objs, regions)
                clear = max(
                    [top]
                    + [
                        b.hi[2]
                        for n, b in objs.items()
                        if n != st.obj and near_segment(b, box.pos[:2], tgt, float(np.max(box.half)) + 0.06)
                    ]
                )
                st.lift_bottom = max(clear + 0.04, st.bottom0 + 0.08)
                st.hold_pos = eef.copy()
                self._set(st, "lift")
            return self._go(st, st.hold_pos, eef, rot, CLOSE)

        if st.phase == "lift":
            bottom = float(box.lo[2])
            target = np.array([st.hold_pos[0], st.hold_pos[1], eef[2] + (st.lift_bottom - bottom)])
            if bottom > st.lift_bottom - 0.015:
                st.hold_offset = float(eef[2] - bottom)
                self._set(st, "carry")
            elif st.t > 15 and bottom < st.bottom0 + 0.01 and eef[2] > st.hold_pos[2] + 0.05:
                return self._retry(st, eef, rot)  # the object stayed behind
            elif st.t > 40:
                if bottom > st.bottom0 + 0.03:
                    st.lift_bottom = bottom  # as high as it goes: carry at this height
                    st.hold_offset = float(eef[2] - bottom)
                    self._set(st, "carry")
                else:
                    return self._retry(st, eef, rot)
            return self._go(st, target, eef, rot, CLOSE)

        if st.phase in ("carry", "place"):
            bottom = float(box.lo[2])
            tgt, place, _ = self._target(st, objs, regions)
            if st.phase == "carry" and eef[2] - bottom > st.hold_offset + 0.04:
                return self._retry(st, eef, rot)  # dropped: the object no longer follows the hand
            err_xy = tgt - box.pos[:2]
            if st.phase == "carry":
                target = np.array([eef[0] + err_xy[0], eef[1] + err_xy[1], eef[2] + (st.lift_bottom - bottom)])
                if np.linalg.norm(err_xy) < 0.006 and (self._stalled(st, 2, 0.002) or np.linalg.norm(err_xy) < 0.003):
                    self._set(st, "place")
                return self._go(st, target, eef, rot, CLOSE)
            target = np.array([eef[0] + err_xy[0], eef[1] + err_xy[1], eef[2] + (place - bottom)])
            if bottom - place < 0.004 or (st.t > 6 and self._stalled(st, 3, 0.001)) or st.t > 80:
                st.hold_pos = eef.copy()
                self._set(st, "release")
            return self._go(st, target, eef, rot, CLOSE, limit=0.6)

        if st.phase == "release":
            if st.t >= 10:
                st.hold_pos = eef + np.array([0.0, 0.0, 0.08])
                self._set(st, "retreat")
            return self._go(st, st.hold_pos, eef, rot, OPEN)

        if st.phase == "retreat":
            if st.t >= 20 or np.linalg.norm(st.hold_pos - eef) < 0.01:
                if not self._goal_holds(st, objs, regions):
                    return self._retry(st, eef, rot)
                self._set(st, "done")
            return self._go(st, st.hold_pos, eef, rot, OPEN)

        # done: hold still, gripper open (the env ends the episode when the goal holds).
        return idle

    def _retry(self, st: EnvState, eef: np.ndarray, rot: np.ndarray) -> np.ndarray:
        st.attempts += 1
        if st.attempts >= self.max_attempts:
            self._set(st, "idle")
        else:
            self._set(st, "approach")
        a = np.zeros(7)
        a[2] = 0.5  # back off upwards while opening
        a[6] = OPEN
        return a
