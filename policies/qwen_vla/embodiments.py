"""Per-suite embodiments: which Qwen-VLA embodiment runs on which suite, and its interface.

The harness hands the policy raw environment units (state as the suite reports it, images
upright) and takes environment units back; everything model-side (prompt, padding to the
decoder's shared width, normalisation, gripper convention, navigation mapping) happens in the
policy from the checkpoint's ``embodiments.json``. The templates below are the suites' side of
that contract: dimensions and their groups, control mode, gripper convention, cameras and the
model's image size. ``make-tiny-qwen-vla`` writes them, with synthetic statistics, into the
tiny checkpoint; a trained checkpoint carries its own entries under the same names.
"""

from __future__ import annotations

from typing import Any

# suite name -> embodiment name (also the tag suites put in Observation.embodiment).
SUITE_EMBODIMENTS: dict[str, str] = {
    "libero_spatial": "franka_libero",
    "libero_object": "franka_libero",
    "libero_goal": "franka_libero",
    "libero_10": "franka_libero",
    "libero_90": "franka_libero",
    "simpler_widowx": "widowx_bridge",
    "simpler_widowx_ms3": "widowx_bridge",
    "robocasa_gr1": "gr1_arms_waist_fourier_hands",
    "robotwin_easy": "aloha_agilex",
    "robotwin_hard": "aloha_agilex",
    "domino": "aloha_agilex",  # DOMINO suites (a RoboTwin fork): any suite name starting with "domino"
    "r2r_val_unseen": "vln_r2r",
    "r2r_val_seen": "vln_r2r",
    "rxr_val_unseen": "vln_rxr",
    "toy_reach": "point2d",
}

_R2R_ACTIONS = {"STOP": 0, "MOVE_FORWARD": 1, "TURN_LEFT": 2, "TURN_RIGHT": 3}
_RXR_ACTIONS = {**_R2R_ACTIONS, "LOOK_UP": 4, "LOOK_DOWN": 5}

# The interface of each embodiment (JSON form of spec.Embodiment without masks and statistics).
TEMPLATES: dict[str, dict[str, Any]] = {
    "franka_libero": {
        "prompt": (
            "Robot: Franka Emika Panda, one 7-DoF arm with a parallel gripper, LIBERO tabletop. "
            "Control: delta end-effector pose at 20 Hz (dx dy dz, axis-angle drx dry drz, gripper -1 open +1 close)."
        ),
        "control_mode": "delta_eef",
        "action_dim": 7,
        "state_dim": 8,
        "action_groups": {"eef_pos": 3, "eef_rot": 3, "gripper": 1},
        "state_groups": {"eef_pos": 3, "eef_axis_angle": 3, "gripper_qpos": 2},
        "gripper": {"channels": [6], "model_open": -1.0, "model_close": 1.0, "env_open": -1.0, "env_close": 1.0},
        "cameras": ["agentview", "wrist"],
        "image_size": [224, 224],
        "suite_tags": ["franka_libero"],
        "norm_modes": {"state": "mean_std", "action": "q01_q99"},
    },
    "widowx_bridge": {
        "prompt": (
            "Robot: WidowX 250 arm with a parallel gripper, Bridge kitchen scenes (SimplerEnv). "
            "Control: delta end-effector pose at 5 Hz (xyz, axis-angle, gripper 1 open 0 closed)."
        ),
        "control_mode": "delta_eef",
        "action_dim": 7,
        "state_dim": 15,
        "action_groups": {"eef_pos": 3, "eef_rot": 3, "gripper": 1},
        "state_groups": {"ee_pos": 3, "ee_quat_wxyz": 4, "qpos": 8},
        # Bridge data: 1 open, 0 closed; the SimplerEnv WidowX env: +1 open, -1 close.
        "gripper": {
            "channels": [6],
            "model_open": 1.0,
            "model_close": 0.0,
            "env_open": 1.0,
            "env_close": -1.0,
            "binarize": True,
        },
        "cameras": ["3rd_view_camera"],
        "image_size": [224, 224],
        "suite_tags": ["widowx_bridge"],
        "norm_modes": {"state": "q01_q99", "action": "q01_q99"},
    },
    "gr1_arms_waist_fourier_hands": {
        "prompt": (
            "Robot: Fourier GR1 humanoid upper body with two arms, two dexterous hands and a waist, RoboCasa tabletop. "
            "Control: absolute joint positions at 20 Hz, groups left_arm right_arm left_hand right_hand waist."
        ),
        "control_mode": "joint_abs",
        "action_dim": 29,
        "state_dim": 29,
        "action_groups": {"left_arm": 7, "right_arm": 7, "left_hand": 6, "right_hand": 6, "waist": 3},
        "state_groups": {"left_arm": 7, "right_arm": 7, "left_hand": 6, "right_hand": 6, "waist": 3},
        "gripper": None,
        "cameras": ["ego_view"],
        "image_size": [224, 224],
        "suite_tags": ["gr1_arms_waist_fourier_hands"],
        "norm_modes": {"state": "q01_q99", "action": "q01_q99"},
    },
    "aloha_agilex": {
        "prompt": (
            "Robot: aloha-agilex, two 6-DoF arms with parallel grippers (RoboTwin 2.0). "
            "Control: absolute joint positions, left arm 6 + gripper, right arm 6 + gripper; gripper 1 open 0 closed."
        ),
        "control_mode": "joint_abs",
        "action_dim": 14,
        "state_dim": 14,
        "action_groups": {"left_arm": 6, "left_gripper": 1, "right_arm": 6, "right_gripper": 1},
        "state_groups": {"left_arm": 6, "left_gripper": 1, "right_arm": 6, "right_gripper": 1},
        "gripper": {"channels": [6, 13], "model_open": 1.0, "model_close": 0.0, "env_open": 1.0, "env_close": 0.0},
        "cameras": ["head_camera", "left_camera", "right_camera"],
        "image_size": [224, 224],
        "suite_tags": ["aloha-agilex", "aloha_agilex"],
        "norm_modes": {"state": "mean_std", "action": "mean_std"},
    },
    "vln_r2r": {
        "prompt": (
            "Agent: ground robot following a language route in an indoor scene (VLN-CE R2R). "
            "Output: waypoints dx dy dyaw stop; actions STOP, MOVE_FORWARD 0.25 m, TURN_LEFT 15 deg, TURN_RIGHT 15 deg."
        ),
        "control_mode": "nav_discrete",
        "action_dim": 4,
        "state_dim": 0,
        "action_groups": {"dx": 1, "dy": 1, "dyaw": 1, "stop": 1},
        "state_groups": {},
        "gripper": None,
        "navigation": {
            "output": "discrete",
            "actions": _R2R_ACTIONS,
            "forward_step_m": 0.25,
            "turn_step_deg": 15.0,
            "stop_threshold": 0.5,
        },
        "cameras": ["rgb"],
        "image_size": [224, 224],
        "suite_tags": ["habitat_vlnce"],
        "norm_modes": {"state": "none", "action": "mean_std"},
    },
    "vln_rxr": {
        "prompt": (
            "Agent: ground robot following a language route in an indoor scene (VLN-CE RxR). "
            "Output: waypoints dx dy dyaw stop; actions STOP, MOVE_FORWARD 0.25 m, TURN_LEFT 30 deg, TURN_RIGHT 30 deg."
        ),
        "control_mode": "nav_discrete",
        "action_dim": 4,
        "state_dim": 0,
        "action_groups": {"dx": 1, "dy": 1, "dyaw": 1, "stop": 1},
        "state_groups": {},
        "gripper": None,
        "navigation": {
            "output": "discrete",
            "actions": _RXR_ACTIONS,
            "forward_step_m": 0.25,
            "turn_step_deg": 30.0,
            "stop_threshold": 0.5,
        },
        "cameras": ["rgb"],
        "image_size": [224, 224],
        "suite_tags": ["habitat_vlnce"],
        "norm_modes": {"state": "none", "action": "mean_std"},
    },
    "point2d": {
        "prompt": "Agent: a point in the unit square (toy_reach harness self-test). Control: 2-D velocity in [-1, 1].",
        "control_mode": "point_delta",
        "action_dim": 2,
        "state_dim": 2,
        "action_groups": {"velocity": 2},
        "state_groups": {"position": 2},
        "gripper": None,
        "cameras": ["top"],
        "image_size": [32, 32],
        "suite_tags": ["point2d"],
        "norm_modes": {"state": "q01_q99", "action": "q01_q99"},
    },
}


def embodiment_for(name_or_suite: str) -> str:
    """An embodiment name, or a suite name (a protocol variant's too) mapped to its embodiment."""
    if name_or_suite.startswith("domino"):
        return SUITE_EMBODIMENTS["domino"]
    if name_or_suite not in SUITE_EMBODIMENTS:
        from vla_eval.suite import SUITES, get_suite

        if name_or_suite in SUITES.names():  # e.g. libero_spatial_openvla: the suite it is a variant of
            name_or_suite = get_suite(name_or_suite).protocol.base_suite
    return SUITE_EMBODIMENTS.get(name_or_suite, name_or_suite)
