"""The episode lists of SimplerEnv's -v0 evaluations (pure Python, no simulator).

Each evaluation script of simpler-env/SimplerEnv (main branch: scripts/octo_bridge.sh for the
WidowX, scripts/rt1_*_visual_matching.sh and scripts/rt1_*_variant_agg.sh for the Google robot)
runs simpler_env/main_inference.py once per configuration ("run");
simpler_env/evaluation/maniskill2_evaluator.py then loops, for each run, over robot init x,
robot init y, robot init rotation, and object init x, y (a grid, "xy" mode) or object episode
ids ("episode" mode), building a fresh env for every episode. Ranges are
``np.linspace(lo, hi, n)`` (simpler_env/evaluation/argparse.py: parse_range_tuple) and the
robot rotation is ``euler2quat(r, p, y) * q_center`` with q_center = [0, 0, 0, 1] (wxyz).

This module turns the runs of those scripts into one flat, ordered list of episodes per task.
Episode order: runs in script order, then robot x, robot y, rotation, then object x, y or
episode id: the evaluator's loop order. The checkpoint loops of the scripts are left out.

Every episode also carries what the official metric script (tools/calc_metrics_evaluation_videos.py)
needs to aggregate it: ``group`` (one result directory of the script: env id + variant), ``subtask``
(coke-can orientation, drawer open / close; "" otherwise) and ``counted`` (False for the camera
variants, which the script leaves out). See aggregate.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

ROBOT = "google_robot_static"
WIDOWX_CONTROL_MODE = "arm_pd_ee_target_delta_pose_align2_gripper_pd_joint_pos"
CONTROL_MODE = (
    "arm_pd_ee_delta_pose_align_interpolate_by_planner_gripper_pd_joint_target_delta_pos_interpolate_by_planner"
)
CONTROL_FREQ = 3
SIM_FREQ = 513
URDF_VERSIONS = (
    None,
    "recolor_tabletop_visual_matching_1",
    "recolor_tabletop_visual_matching_2",
    "recolor_cabinet_visual_matching_1",
)
DRAWER_URDF_VERSIONS = (
    "recolor_cabinet_visual_matching_1",
    "recolor_tabletop_visual_matching_1",
    "recolor_tabletop_visual_matching_2",
    None,
)
COKE_OPTIONS = (
    ("horizontal", {"lr_switch": True}),
    ("standing", {"upright": True}),
    ("vertical", {"laid_vertically": True}),
)
DRAWER_ENVS = {
    "open": ("OpenTopDrawerCustomInScene-v0", "OpenMiddleDrawerCustomInScene-v0", "OpenBottomDrawerCustomInScene-v0"),
    "close": (
        "CloseTopDrawerCustomInScene-v0",
        "CloseMiddleDrawerCustomInScene-v0",
        "CloseBottomDrawerCustomInScene-v0",
    ),
}
# Visual matching drawer robot poses: (overlay image, x, y, yaw), scripts/rt1_drawer_visual_matching.sh.
DRAWER_VM_POSES = (
    ("open_drawer_a0.png", 0.644, -0.179, -0.03),
    ("open_drawer_a1.png", 0.765, -0.182, -0.02),
    ("open_drawer_a2.png", 0.889, -0.203, -0.06),
    ("open_drawer_b0.png", 0.652, 0.009, 0.0),
    ("open_drawer_b1.png", 0.752, 0.009, 0.0),
    ("open_drawer_b2.png", 0.851, 0.035, 0.0),
    ("open_drawer_c0.png", 0.665, 0.224, 0.0),
    ("open_drawer_c1.png", 0.765, 0.222, -0.025),
    ("open_drawer_c2.png", 0.865, 0.222, -0.025),
)
APPLE_VM_POSES = (DRAWER_VM_POSES[0], DRAWER_VM_POSES[3], DRAWER_VM_POSES[6])  # a0, b0, c0


def linspace(lo: float, hi: float, n: int) -> list[float]:
    if n == 1:
        return [float(lo)]
    return [float(lo + (hi - lo) * i / (n - 1)) for i in range(n)]


@dataclass(frozen=True)
class Run:
    """One main_inference.py call of a script."""

    env_name: str
    scene_name: str
    max_steps: int
    robot_x: tuple[float, float, int]
    robot_y: tuple[float, float, int]
    yaw: float = 0.0
    rgb_overlay: str | None = None
    obj_x: tuple[float, float, int] | None = None
    obj_y: tuple[float, float, int] | None = None
    obj_episodes: tuple[int, int] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    variant: str = ""
    robot: str = ROBOT
    subtask: str = ""
    counted: bool = True

    def episodes(self) -> list[dict[str, Any]]:
        out = []
        for rx in linspace(*self.robot_x):
            for ry in linspace(*self.robot_y):
                base = {
                    "env_name": self.env_name,
                    "scene_name": self.scene_name,
                    "max_steps": self.max_steps,
                    "robot_init_xy": [rx, ry],
                    "robot_init_rpy": [0.0, 0.0, self.yaw],
                    "rgb_overlay": self.rgb_overlay,
                    "kwargs": dict(self.kwargs),
                    "variant": self.variant,
                    "robot": self.robot,
                    "subtask": self.subtask,
                    "group": f"{self.env_name}/{self.variant}",
                    "counted": self.counted,
                }
                if self.obj_episodes is not None:
                    for eid in range(*self.obj_episodes):
                        out.append({**base, "obj_init": {"episode_id": eid}})
                else:
                    assert self.obj_x is not None and self.obj_y is not None
                    for ox in linspace(*self.obj_x):
                        for oy in linspace(*self.obj_y):
                            out.append({**base, "obj_init": {"init_xy": [ox, oy]}})
        return out


def _urdf(kw: dict[str, Any], urdf_version: str | None) -> dict[str, Any]:
    # The scripts pass urdf_version=None literally; SimplerEnv parses "None" to None.
    return {**kw, "urdf_version": urdf_version}


# --- visual matching ----------------------------------------------------------------------
def _coke_can_vm() -> list[Run]:
    runs = []
    for urdf in URDF_VERSIONS:
        for name, opt in COKE_OPTIONS:
            runs.append(
                Run(
                    "GraspSingleOpenedCokeCanInScene-v0",
                    "google_pick_coke_can_1_v4",
                    80,
                    (0.35, 0.35, 1),
                    (0.20, 0.20, 1),
                    rgb_overlay="google_coke_can_real_eval_1.png",
                    obj_x=(-0.35, -0.12, 5),
                    obj_y=(-0.02, 0.42, 5),
                    kwargs=_urdf(dict(opt), urdf),
                    variant=f"{name}/urdf={urdf}",
                    subtask=name,
                )
            )
    return runs


def _move_near_vm() -> list[Run]:
    return [
        Run(
            "MoveNearGoogleBakedTexInScene-v0",
            "google_pick_coke_can_1_v4",
            80,
            (0.35, 0.35, 1),
            (0.21, 0.21, 1),
            yaw=-0.09,
            rgb_overlay="google_move_near_real_eval_1.png",
            obj_episodes=(0, 60),
            kwargs=_urdf({}, urdf),
            variant=f"urdf={urdf}",
        )
        for urdf in URDF_VERSIONS
    ]


_DRAWER_VM_KW = {
    "shader_dir": "rt",
    "station_name": "mk_station_recolor",
    "light_mode": "simple",
    "disable_bad_material": True,
}


def _drawer_vm() -> list[Run]:
    runs = []
    for urdf in DRAWER_URDF_VERSIONS:
        for kind in ("open", "close"):
            for env_name in DRAWER_ENVS[kind]:
                for overlay, x, y, yaw in DRAWER_VM_POSES:
                    runs.append(
                        Run(
                            env_name,
                            "dummy_drawer",
                            113,
                            (x, x, 1),
                            (y, y, 1),
                            yaw=yaw,
                            rgb_overlay=overlay,
                            obj_x=(0, 0, 1),
                            obj_y=(0, 0, 1),
                            kwargs=_urdf(dict(_DRAWER_VM_KW), urdf),
                            variant=f"{kind}/urdf={urdf}",
                            subtask=kind,
                        )
                    )
    return runs


def _apple_vm() -> list[Run]:
    runs = []
    for urdf in DRAWER_URDF_VERSIONS:
        for overlay, x, y, yaw in APPLE_VM_POSES:
            runs.append(
                Run(
                    "PlaceIntoClosedTopDrawerCustomInScene-v0",
                    "dummy_drawer",
                    200,
                    (x, x, 1),
                    (y, y, 1),
                    yaw=yaw,
                    rgb_overlay=overlay,
                    obj_x=(-0.08, -0.02, 3),
                    obj_y=(-0.02, 0.08, 3),
                    kwargs=_urdf({**_DRAWER_VM_KW, "model_ids": "baked_apple_v2"}, urdf),
                    variant=f"urdf={urdf}",
                )
            )
    return runs


# --- variant aggregation ------------------------------------------------------------------
def _coke_can_va() -> list[Run]:
    grid = dict(obj_x=(-0.35, -0.12, 5), obj_y=(-0.02, 0.42, 5))
    robot = ((0.35, 0.35, 1), (0.20, 0.20, 1))
    base_env, base_scene = "GraspSingleOpenedCokeCanInScene-v0", "google_pick_coke_can_1_v4"
    runs = []

    def add(env: str, scene: str, extra: dict[str, Any], variant: str, counted: bool = True) -> None:
        for name, opt in COKE_OPTIONS:
            runs.append(
                Run(
                    env,
                    scene,
                    80,
                    *robot,
                    **grid,
                    kwargs={**opt, **extra},
                    variant=f"{name}/{variant}",
                    subtask=name,
                    counted=counted,
                )
            )

    # scripts/rt1_pick_coke_can_variant_agg.sh, in order (its loops put the option outermost
    # within each block; the episode set is the same).
    add(base_env, base_scene, {}, "base")
    for scene in ("Baked_sc1_staging_objaverse_cabinet1_h870", "Baked_sc1_staging_objaverse_cabinet2_h870"):
        add(base_env, scene, {}, f"scene={scene}")
    add("GraspSingleOpenedCokeCanDistractorInScene-v0", base_scene, {}, "distractors")
    add("GraspSingleOpenedCokeCanDistractorInScene-v0", base_scene, {"distractor_config": "more"}, "distractors=more")
    for scene in ("google_pick_coke_can_1_v4_alt_background", "google_pick_coke_can_1_v4_alt_background_2"):
        add(base_env, scene, {}, f"background={scene}")
    add(base_env, base_scene, {"slightly_darker_lighting": True}, "lighting=darker")
    add(base_env, base_scene, {"slightly_brighter_lighting": True}, "lighting=brighter")
    for env in (
        "GraspSingleOpenedCokeCanAltGoogleCameraInScene-v0",
        "GraspSingleOpenedCokeCanAltGoogleCamera2InScene-v0",
    ):
        # The metric script leaves the camera variants out (they only probe one factor).
        add(env, base_scene, {}, f"camera={env}", counted=False)
    return runs


def _move_near_va() -> list[Run]:
    env, scene = "MoveNearGoogleInScene-v0", "google_pick_coke_can_1_v4"
    common = dict(yaw=-0.09, obj_episodes=(0, 60))
    robot = ((0.35, 0.35, 1), (0.21, 0.21, 1))
    runs = [
        Run(env, scene, 80, *robot, **common, variant="base"),
        Run(env, scene, 80, *robot, **common, kwargs={"no_distractor": True}, variant="no_distractor"),
    ]
    for bg in ("google_pick_coke_can_1_v4_alt_background", "google_pick_coke_can_1_v4_alt_background_2"):
        runs.append(Run(env, bg, 80, *robot, **common, variant=f"background={bg}"))
    runs.append(
        Run(env, scene, 80, *robot, **common, kwargs={"slightly_darker_lighting": True}, variant="lighting=darker")
    )
    runs.append(
        Run(env, scene, 80, *robot, **common, kwargs={"slightly_brighter_lighting": True}, variant="lighting=brighter")
    )
    for sc in ("Baked_sc1_staging_objaverse_cabinet1_h870", "Baked_sc1_staging_objaverse_cabinet2_h870"):
        runs.append(Run(env, sc, 80, *robot, **common, variant=f"scene={sc}"))
    for cam in ("MoveNearAltGoogleCameraInScene-v0", "MoveNearAltGoogleCamera2InScene-v0"):
        runs.append(Run(cam, scene, 80, *robot, **common, variant=f"camera={cam}", counted=False))
    return runs


_DRAWER_VA_VARIANTS = (
    ("frl_apartment_stage_simple", {"shader_dir": "rt"}, "base"),
    ("modern_bedroom_no_roof", {"shader_dir": "rt"}, "scene=modern_bedroom_no_roof"),
    ("modern_office_no_roof", {"shader_dir": "rt"}, "scene=modern_office_no_roof"),
    ("frl_apartment_stage_simple", {"shader_dir": "rt", "light_mode": "brighter"}, "lighting=brighter"),
    ("frl_apartment_stage_simple", {"shader_dir": "rt", "light_mode": "darker"}, "lighting=darker"),
    ("frl_apartment_stage_simple", {"shader_dir": "rt", "station_name": "mk_station2"}, "cabinet=mk_station2"),
    ("frl_apartment_stage_simple", {"shader_dir": "rt", "station_name": "mk_station3"}, "cabinet=mk_station3"),
)


def _drawer_va() -> list[Run]:
    runs = []
    for scene, kw, variant in _DRAWER_VA_VARIANTS:
        for kind in ("open", "close"):
            for env_name in DRAWER_ENVS[kind]:
                runs.append(
                    Run(
                        env_name,
                        scene,
                        113,
                        (0.65, 0.85, 3),
                        (-0.2, 0.2, 3),
                        obj_x=(0, 0, 1),
                        obj_y=(0, 0, 1),
                        kwargs=dict(kw),
                        variant=f"{kind}/{variant}",
                        subtask=kind,
                    )
                )
    return runs


def _apple_va() -> list[Run]:
    return [
        Run(
            "PlaceIntoClosedTopDrawerCustomInScene-v0",
            scene,
            200,
            (0.65, 0.65, 1),
            (-0.2, 0.2, 3),
            obj_x=(-0.08, -0.02, 3),
            obj_y=(-0.02, 0.08, 3),
            kwargs={**kw, "model_ids": "apple"},
            variant=variant,
        )
        for scene, kw, variant in _DRAWER_VA_VARIANTS
    ]


# --- WidowX (Bridge) visual matching: scripts/octo_bridge.sh ---------------------------------
def _bridge(env_name: str) -> Any:
    def runs() -> list[Run]:
        if env_name == "PutEggplantInBasketScene-v0":
            return [
                Run(
                    env_name,
                    "bridge_table_1_v2",
                    120,
                    (0.127, 0.127, 1),
                    (0.06, 0.06, 1),
                    rgb_overlay="bridge_sink.png",
                    obj_episodes=(0, 24),
                    robot="widowx_sink_camera_setup",
                    variant="sink",
                )
            ]
        return [
            Run(
                env_name,
                "bridge_table_1_v1",
                60,
                (0.147, 0.147, 1),
                (0.028, 0.028, 1),
                rgb_overlay="bridge_real_eval_1.png",
                obj_episodes=(0, 24),
                robot="widowx",
                variant="table",
            )
        ]

    return runs


WIDOWX_TASKS = (
    "PutSpoonOnTableClothInScene-v0",
    "PutCarrotOnPlateInScene-v0",
    "StackGreenCubeOnYellowCubeBakedTexInScene-v0",
    "PutEggplantInBasketScene-v0",
)

TASK_RUNS = {
    "simpler_widowx": {name: _bridge(name) for name in WIDOWX_TASKS},
    "simpler_google_vm": {
        "pick_coke_can": _coke_can_vm,
        "move_near": _move_near_vm,
        "open_close_drawer": _drawer_vm,
        "put_apple_in_top_drawer": _apple_vm,
    },
    "simpler_google_va": {
        "pick_coke_can": _coke_can_va,
        "move_near": _move_near_va,
        "open_close_drawer": _drawer_va,
        "put_apple_in_top_drawer": _apple_va,
    },
}


def task_episodes(suite: str, task: str) -> list[dict[str, Any]]:
    """The ordered episode configurations of one task of simpler_google_vm / simpler_google_va."""
    out: list[dict[str, Any]] = []
    for run in TASK_RUNS[suite][task]():
        out.extend(run.episodes())
    return out


# --- rotation helpers (transforms3d conventions, without the dependency) -------------------
def qmult(a: list[float], b: list[float]) -> list[float]:
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return [
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ]


def euler2quat_sxyz(r: float, p: float, y: float) -> list[float]:
    """transforms3d.euler.euler2quat(r, p, y) with its default static 'sxyz' axes, wxyz."""
    qx = [math.cos(r / 2), math.sin(r / 2), 0.0, 0.0]
    qy = [math.cos(p / 2), 0.0, math.sin(p / 2), 0.0]
    qz = [math.cos(y / 2), 0.0, 0.0, math.sin(y / 2)]
    return qmult(qz, qmult(qy, qx))


def robot_init_quat(rpy: list[float], center: tuple[float, ...] = (0.0, 0.0, 0.0, 1.0)) -> list[float]:
    """(Pose(q=euler2quat(r, p, y)) * Pose(q=center)).q, as SimplerEnv's argparse computes it."""
    return qmult(euler2quat_sxyz(*rpy), list(center))
