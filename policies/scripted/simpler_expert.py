"""A privileged scripted expert for SimplerEnv's -v0 WidowX "put X on Y" tasks (suite simpler_widowx).

It reads the privileged state the ManiSkill2_real2sim driver gives to ``privileged=True`` policies
(world poses of the robot base, the tcp, the source and target objects, their sizes) and acts
only through the suite's action space, one action per step, closed loop:

- ``[0:3]`` Δxyz in metres in the ROBOT BASE frame (the WidowX base is yawed 180° in the world,
  so a world-frame command would go the wrong way);
- ``[3:6]`` a ROTATION VECTOR in the base frame (SimplerEnv's "rot_axangle"), used to turn the
  gripper about the vertical so its fingers close across the object's long axis;
- ``[6]`` gripper, absolute: +1 open, -1 closed.

Phases: above the object (turning to the grasp yaw), down, close, lift, carry over the target
(correcting for where the object sits in the hand), lower, open, back up; then hold still until
the episode's last step, where the suite reads success. A flipped axis, another rotation
convention or a reversed gripper each make it fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from vla_eval.conventions import ActionSpace, ControlMode, Gripper, Rotation, Units
from vla_eval.policies.scripted.base import PerEnvExpert
from vla_eval.policies.scripted.geometry import mat_to_rotvec
from vla_eval.types import Observation, PolicySpec

OPEN, CLOSED = 1.0, -1.0


def quat_wxyz_to_mat(q: Sequence[float]) -> np.ndarray:
    w, x, y, z = (float(v) for v in q)
    n = w * w + x * x + y * y + z * z
    s = 2.0 / n if n > 1e-12 else 0.0
    return np.array(
        [
            [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
            [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
            [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)],
        ]
    )


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def wrap(a: float, period: float) -> float:
    """a mapped into [-period/2, period/2)."""
    return (a + period / 2) % period - period / 2


def grasp_yaw(closing_axis_world: np.ndarray, obj_rot: np.ndarray, size: Sequence[float]) -> float:
    """Yaw (about world z) that turns the fingers' closing axis across the object's long side.

    Symmetric footprints (cubes) need at most 45°; elongated ones (carrot, spoon) at most 90°.
    """
    sx, sy = float(size[0]), float(size[1])
    long_local = 0 if sx >= sy else 1
    long_dir = obj_rot[:, long_local]
    want = math.atan2(long_dir[1], long_dir[0]) + math.pi / 2  # closing axis perpendicular to the long side
    have = math.atan2(closing_axis_world[1], closing_axis_world[0])
    symmetric = abs(sx - sy) < 0.2 * max(sx, sy)
    return wrap(want - have, math.pi / 2 if symmetric else math.pi)


@dataclass
class _State:
    episode_id: str = ""
    phase: str = "approach"
    t: int = 0
    r_grasp: np.ndarray | None = None  # desired tcp orientation (world) while grasping
    grasp_z: float = 0.0
    hold: np.ndarray = field(default_factory=lambda: np.zeros(3))


class SimplerWidowXExpert(PerEnvExpert):
    """Privileged pick-and-place expert for simpler_widowx (SimplerEnv -v0 Bridge tasks)."""

    # Negative controls (``--policy-args flip=...``): the same expert with one convention wrong.
    FLIPS = ("", "x", "y", "rotation", "gripper")

    def __init__(
        self,
        action_space: ActionSpace | None = None,
        action_dim: int | None = None,
        gain: float = 0.6,
        max_step: float = 0.03,
        flip: str = "",
        **_: Any,
    ) -> None:
        if action_dim is None:
            action_dim = action_space.dim if action_space is not None else 7
        if action_dim != 7:
            raise ValueError(f"the SimplerEnv WidowX expert acts in 7-D, not {action_dim}-D")
        if flip not in self.FLIPS:
            raise ValueError(f"flip must be one of {self.FLIPS}, got {flip!r}")
        super().__init__()
        self.gain = gain
        self.max_step = max_step
        self.flip = flip

    def metadata(self) -> PolicySpec:
        name = "scripted_simpler" + (f"-flip-{self.flip}" if self.flip else "")
        # The conventions it emits (SimplerEnv -v0 WidowX); a negative control leaves the one it
        # breaks undeclared, so that it still runs and shows the failure.
        return PolicySpec(
            name=name,
            action_dim=7,
            horizon=1,
            control_mode=ControlMode.DELTA_EEF,
            rotation=None if self.flip == "rotation" else Rotation.AXIS_ANGLE,
            gripper=None if self.flip == "gripper" else Gripper.OPEN_POSITIVE,
            units=Units.M_RAD,
            cameras=(),
            needs_state=True,
            replan_steps=1,
            privileged=True,
        )

    def new_state(self, episode_id: str) -> _State:
        return _State(episode_id=episode_id)

    def decide(self, obs: Observation, st: _State) -> np.ndarray:
        return self._flipped(self.act(obs.extras, st))

    def _flipped(self, a: np.ndarray) -> np.ndarray:
        a = a.copy()
        if self.flip == "x":
            a[0] = -a[0]  # e.g. a world-frame Δx sent as base-frame (the base is yawed 180°)
        elif self.flip == "y":
            a[1] = -a[1]
        elif self.flip == "rotation":
            a[3:6] = -a[3:6]  # the opposite-handed rotation convention
        elif self.flip == "gripper":
            a[6] = -a[6]  # +1 closed / -1 open
        return a

    # --- control ---------------------------------------------------------------------------
    def _action(self, x: dict[str, Any], goal_world: np.ndarray, r_des: np.ndarray | None, grip: float) -> np.ndarray:
        r_base = quat_wxyz_to_mat(x["base"]["quat"])
        tcp = np.asarray(x["tcp"]["pos"])
        r_tcp = quat_wxyz_to_mat(x["tcp"]["quat"])
        a = np.zeros(7)
        d = r_base.T @ (self.gain * (np.asarray(goal_world) - tcp))  # world -> base frame
        n = float(np.linalg.norm(d))
        a[:3] = d if n <= self.max_step else d * (self.max_step / n)
        if r_des is not None:
            err_world = mat_to_rotvec(r_des @ r_tcp.T)
            a[3:6] = np.clip(r_base.T @ (0.8 * err_world), -0.3, 0.3)
        a[6] = grip
        return a

    def act(self, x: dict[str, Any], st: _State) -> np.ndarray:
        tcp = np.asarray(x["tcp"]["pos"])
        r_tcp = quat_wxyz_to_mat(x["tcp"]["quat"])
        src, tgt = x["source"], x["target"]
        src_p, tgt_p = np.asarray(src["pos"]), np.asarray(tgt["pos"])
        src_h, tgt_h = float(src["size"][2]), float(tgt["size"][2])
        if st.r_grasp is None:
            yaw = grasp_yaw(r_tcp[:, 1], quat_wxyz_to_mat(src["quat"]), src["size"])  # fingers close along tcp y
            st.r_grasp = rot_z(yaw) @ r_tcp
            st.grasp_z = src_p[2] + min(0.0, 0.25 * src_h - 0.005)
        st.t += 1
        r = st.r_grasp
        above = np.array([src_p[0], src_p[1], st.grasp_z + 0.07])

        def goto(phase: str) -> None:
            st.phase, st.t = phase, 0

        if st.phase == "approach":
            err = np.linalg.norm((above - tcp)[:2])
            rot_err = np.linalg.norm(mat_to_rotvec(r @ r_tcp.T))
            if (err < 0.01 and rot_err < 0.08) or st.t > 14:
                goto("descend")
            return self._action(x, above, r, OPEN)
        if st.phase == "descend":
            goal = np.array([src_p[0], src_p[1], st.grasp_z])
            if np.linalg.norm(goal - tcp) < 0.008 or st.t > 8:
                goto("close")
            return self._action(x, goal, r, OPEN)
        if st.phase == "close":
            if st.t >= 3:
                goto("lift")
            return self._action(x, tcp, r, CLOSED)
        # the object's offset in the hand, measured while it is held
        offset = tcp - src_p
        place_z = tgt_p[2] + tgt_h / 2 + src_h / 2 + 0.012 + offset[2]
        if st.phase == "lift":
            goal = np.array([tcp[0], tcp[1], st.grasp_z + 0.08])
            if abs(goal[2] - tcp[2]) < 0.01 or st.t > 5:
                goto("carry")
            return self._action(x, goal, r, CLOSED)
        if st.phase == "carry":
            goal = np.array([tgt_p[0] + offset[0], tgt_p[1] + offset[1], max(place_z + 0.04, tcp[2])])
            if np.linalg.norm((goal - tcp)[:2]) < 0.006 or st.t > 14:
                goto("lower")
            return self._action(x, goal, r, CLOSED)
        if st.phase == "lower":
            goal = np.array([tgt_p[0] + offset[0], tgt_p[1] + offset[1], place_z])
            if np.linalg.norm(goal - tcp) < 0.006 or st.t > 6:
                goto("release")
            return self._action(x, goal, r, CLOSED)
        if st.phase == "release":
            if st.t == 1:
                st.hold = tcp.copy()
            if st.t >= 3:
                goto("retreat")
            return self._action(x, st.hold, r, OPEN)
        # retreat, then hold still until the last step
        goal = st.hold + np.array([0.0, 0.0, 0.06])
        return self._action(x, goal, r, OPEN)
