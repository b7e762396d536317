"""Pure rotation and control helpers for the scripted experts (numpy only, no simulator)."""

from __future__ import annotations

import math

import numpy as np


def quat_xyzw_to_mat(q) -> np.ndarray:
    """xyzw quaternion (robosuite's convention) -> 3x3 rotation matrix."""
    x, y, z, w = (float(v) for v in q)
    n = x * x + y * y + z * z + w * w
    if n < 1e-12:
        return np.eye(3)
    s = 2.0 / n
    return np.array(
        [
            [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
            [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
            [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)],
        ]
    )


def mat_to_rotvec(r: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix -> rotation vector (axis * angle, angle in [0, pi])."""
    r = np.asarray(r, dtype=np.float64)
    cos = max(-1.0, min(1.0, (np.trace(r) - 1.0) / 2.0))
    angle = math.acos(cos)
    if angle < 1e-9:
        return np.zeros(3)
    if math.pi - angle < 1e-4:
        # Near pi: the axis from the diagonal (the antisymmetric part vanishes).
        d = np.clip((np.diag(r) + 1.0) / 2.0, 0.0, None)
        axis = np.sqrt(d)
        k = int(np.argmax(axis))
        for j in range(3):
            if j != k and (r[k, j] + r[j, k]) < 0:
                axis[j] = -axis[j]
        return axis / np.linalg.norm(axis) * angle
    v = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return v / (2.0 * math.sin(angle)) * angle


def top_down_frame(closing_dir_xy) -> np.ndarray:
    """Gripper orientation pointing straight down whose fingers close along ``closing_dir_xy``.

    Columns are the gripper's x, y, z axes in the world: z = -world z (pointing down),
    y = the horizontal closing direction (robosuite's Panda fingers slide along the hand's y).
    """
    d = np.asarray(closing_dir_xy, dtype=np.float64)[:2]
    n = np.linalg.norm(d)
    d = np.array([0.0, -1.0]) if n < 1e-9 else d / n
    y = np.array([d[0], d[1], 0.0])
    z = np.array([0.0, 0.0, -1.0])
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=1)


def nearest_top_down(closing_dir_xy, current: np.ndarray) -> np.ndarray:
    """The top-down frame closing along +-closing_dir_xy that is the smaller turn from ``current``.

    The parallel gripper is symmetric under a half turn about its approach axis, so both
    signs of the closing direction grasp the same way.
    """
    a = top_down_frame(closing_dir_xy)
    b = top_down_frame(-np.asarray(closing_dir_xy, dtype=np.float64)[:2])
    ea = np.linalg.norm(mat_to_rotvec(a @ np.asarray(current).T))
    eb = np.linalg.norm(mat_to_rotvec(b @ np.asarray(current).T))
    return a if ea <= eb else b


def rotation_action(desired: np.ndarray, current: np.ndarray, gain: float = 2.0, limit: float = 1.0) -> np.ndarray:
    """World-frame rotation command (OSC_POSE delta axis-angle, unit = 0.5 rad) towards ``desired``."""
    err = mat_to_rotvec(np.asarray(desired) @ np.asarray(current).T)
    return np.clip(err * gain, -limit, limit)


def position_action(target, current, gain: float = 20.0, limit: float = 1.0) -> np.ndarray:
    """Proportional position command (OSC_POSE delta, unit = 0.05 m), clipped to [-limit, limit].

    Clipping keeps the direction: the whole vector is scaled so its largest component fits.
    """
    a = (np.asarray(target, dtype=np.float64) - np.asarray(current, dtype=np.float64)) * gain
    m = float(np.max(np.abs(a))) if a.size else 0.0
    if m > limit:
        a = a * (limit / m)
    return a


# --- a coarse collision model of the open Panda gripper, for choosing grasps -----------------
# Boxes in the gripper's frame: (v half-range across the fingers, u range along the closing
# axis, z range relative to the eef site). Measured from robosuite's PandaGripper collision
# geoms: the hand box is ~0.21 m long along the closing axis and starts ~0.03 m above the
# eef site; the open fingers sit 0.033-0.062 m either side of it.
GRIPPER_PARTS = (
    (0.036, (-0.108, 0.108), (0.028, 0.16)),  # hand
    (0.013, (0.031, 0.064), (-0.012, 0.06)),  # finger +u
    (0.013, (-0.064, -0.031), (-0.012, 0.06)),  # finger -u
)


def _rect_overlap(c1, axes1, half1, c2, axes2, half2) -> float:
    """Penetration depth of two 2-D rectangles (separating axis test); <= 0: apart."""
    c1, c2 = np.asarray(c1, dtype=np.float64), np.asarray(c2, dtype=np.float64)
    depth = np.inf
    for axis in list(axes1) + list(axes2):
        axis = np.asarray(axis, dtype=np.float64)
        r1 = sum(h * abs(float(np.dot(a, axis))) for a, h in zip(axes1, half1))
        r2 = sum(h * abs(float(np.dot(a, axis))) for a, h in zip(axes2, half2))
        d = r1 + r2 - abs(float(np.dot(c2 - c1, axis)))
        if d <= 0:
            return d
        depth = min(depth, d)
    return float(depth)


def gripper_collision(eef, closing_dir_xy, obstacles, margin: float = 0.004) -> float:
    """Summed penetration of the open gripper at ``eef`` (closing along ``closing_dir_xy``)
    with ``obstacles``: each (center_xy, [axis_a, axis_b] unit xy, [half_a, half_b], z_lo, z_hi).
    """
    eef = np.asarray(eef, dtype=np.float64)
    u = np.asarray(closing_dir_xy, dtype=np.float64)[:2]
    u = u / max(np.linalg.norm(u), 1e-9)
    v = np.array([-u[1], u[0]])
    total = 0.0
    for hv, (u0, u1), (z0, z1) in GRIPPER_PARTS:
        center = eef[:2] + u * (u0 + u1) / 2
        half = [hv + margin, (u1 - u0) / 2 + margin]
        for oc, oaxes, ohalf, olo, ohi in obstacles:
            dz = min(eef[2] + z1, ohi + margin) - max(eef[2] + z0, olo - margin)
            if dz <= 0:
                continue
            dxy = _rect_overlap(center, [v, u], half, oc, oaxes, ohalf)
            if dxy > 0:
                total += min(dxy, dz)
    return total


def box_footprint(center, rot, half) -> tuple:
    """A box (world centre, 3x3 box-to-world rotation, half extents) as an obstacle for
    :func:`gripper_collision`: its horizontal rectangle and z range. Boxes standing on one of
    their axes give their exact rectangle; tilted ones fall back to the world AABB."""
    center = np.asarray(center, dtype=np.float64)
    rot = np.asarray(rot, dtype=np.float64).reshape(3, 3)
    half = np.asarray(half, dtype=np.float64)
    ext = np.abs(rot) @ half  # world AABB half extents
    vert = int(np.argmax(np.abs(rot[2])))
    if abs(rot[2, vert]) > 0.97:
        ks = [k for k in range(3) if k != vert]
        axes = [rot[:2, k] / max(np.linalg.norm(rot[:2, k]), 1e-9) for k in ks]
        return center[:2], axes, [float(half[k]) for k in ks], float(center[2] - ext[2]), float(center[2] + ext[2])
    return (
        center[:2],
        [np.array([1.0, 0.0]), np.array([0.0, 1.0])],
        [float(ext[0]), float(ext[1])],
        float(center[2] - ext[2]),
        float(center[2] + ext[2]),
    )
