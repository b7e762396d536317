"""A fake RoboTwin 2.0 / DOMINO checkout and fake third-party packages, for the driver and doctor tests.

The checkout mirrors the upstream package structure at import time (RoboTwin-Platform/RoboTwin
stable_2.0; DOMINO has the same): ``envs/__init__.py`` imports ``envs.utils`` (whose
``pkl2hdf5.py`` imports h5py and cv2) and ``envs._GLOBAL_CONFIGS``; ``envs/_base_task.py`` imports
sapien, gymnasium, toppra, torch, transforms3d, trimesh, imageio, ``envs.robot`` and
``envs.camera``; ``envs/robot/robot.py`` does ``from .planner import CuroboPlanner``, which
``planner.py`` defines only inside ``try: import curobo ...`` (printing and swallowing the error
otherwise); ``envs/camera/camera.py`` imports open3d, cv2, PIL, torch, yaml. So a missing
import-time dependency fails here as it fails upstream. Only the behaviour the driver calls is
scripted (the task classes in the tests).

The fake packages are empty shells with the names and (for the pinned ones) the distribution
versions of the recipe; ``write_packages(dir, omit=...)`` leaves some out.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterable

# module file -> source. Distribution metadata is written for the pinned ones.
PACKAGES: dict[str, dict[str, str]] = {
    "sapien": {
        "sapien/__init__.py": "from . import core, render, physx\n",
        "sapien/core.py": "class Pose:\n    pass\n",
        "sapien/render.py": "def clear_cache():\n    pass\n",
        "sapien/physx.py": "",
        "sapien/utils/__init__.py": "",
        "sapien/utils/viewer.py": "class Viewer:\n    pass\n",
        # as RoboTwin's _install.sh leaves it (encoding added)
        "sapien/wrapper/urdf_loader.py": "def load(urdf_file):\n"
        '    with open(urdf_file, "r", encoding="utf-8") as f:\n'
        "        return f.read()\n",
    },
    "mplib": {
        "mplib/__init__.py": "from . import planner\n",
        # as RoboTwin's _install.sh leaves it (`or collide` removed)
        "mplib/planner.py": "def check(delta_twist, within_joint_limit):\n"
        "    if abs(delta_twist) < 1e-4 or not within_joint_limit:\n        return 1\n",
        "mplib/sapien_utils.py": "class SapienPlanner:\n    pass\nclass SapienPlanningWorld:\n    pass\n",
    },
    "toppra": {"toppra/__init__.py": "def setup_logging(level=None):\n    pass\n"},
    "transforms3d": {"transforms3d/__init__.py": "from . import quaternions\n", "transforms3d/quaternions.py": ""},
    "trimesh": {"trimesh/__init__.py": ""},
    "open3d": {"open3d/__init__.py": ""},
    "h5py": {"h5py/__init__.py": "class File:\n    pass\n"},
    "curobo": {
        "curobo/__init__.py": "",
        "curobo/types/__init__.py": "",
        "curobo/types/math.py": "class Pose:\n    pass\n",
        "curobo/types/robot.py": "class JointState:\n    pass\n",
        "curobo/wrap/__init__.py": "",
        "curobo/wrap/reacher/__init__.py": "",
        "curobo/wrap/reacher/motion_gen.py": "class MotionGen: pass\nclass MotionGenConfig: pass\n"
        "class MotionGenPlanConfig: pass\nclass PoseCostMetric: pass\n",
        "curobo/util/__init__.py": "",
        "curobo/util/logger.py": "def setup_logger(level=None, logger_name=None):\n    pass\n",
    },
    # Only for a subprocess (a fake torch must never shadow the real one in the test process):
    # the recipe's version, and a CUDA device.
    "torch": {
        "torch/__init__.py": "__version__ = '2.4.1'\nfrom . import cuda, multiprocessing, version\n"
        "def manual_seed(seed):\n    pass\n",
        "torch/cuda.py": "def is_available():\n    return True\ndef get_device_name(i=0):\n    return 'fake GPU'\n",
        "torch/version.py": "cuda = '12.1'\n",
        "torch/multiprocessing.py": "",
    },
}
VERSIONS = {"sapien": "3.0.0b1", "mplib": "0.2.1", "torch": "2.4.1"}
# Missing from the test environment (the others, numpy, cv2, PIL, imageio, gymnasium, yaml and
# torch, are real packages there).
MISSING_HERE = ("sapien", "mplib", "toppra", "transforms3d", "trimesh", "open3d", "h5py", "curobo")


def write_packages(folder: Path, names: Iterable[str] = MISSING_HERE, omit: Iterable[str] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in set(names) - set(omit):
        for rel, src in PACKAGES[name].items():
            f = folder / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(src)
        if name in VERSIONS:
            d = folder / f"{name}-{VERSIONS[name]}.dist-info"
            d.mkdir(exist_ok=True)
            (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {VERSIONS[name]}\n")
    return folder


# --- the checkout --------------------------------------------------------------------------------
ENVS = {
    "envs/__init__.py": "from .utils import *\nfrom ._GLOBAL_CONFIGS import *\n",
    "envs/_GLOBAL_CONFIGS.py": textwrap.dedent("""
        import os
        ROOT_PATH = os.path.abspath(__file__)
        ROOT_PATH = ROOT_PATH[:ROOT_PATH.rfind("/")]
        ROOT_PATH = ROOT_PATH[:ROOT_PATH.rfind("/") + 1]
        ASSETS_PATH = os.path.join(ROOT_PATH, "assets/")
        CONFIGS_PATH = os.path.join(ROOT_PATH, "task_config/")
    """),
    "envs/utils/__init__.py": "from .create_actor import *\nfrom .pkl2hdf5 import *\n",
    "envs/utils/create_actor.py": "import sapien.core as sapien\nimport transforms3d as t3d\n"
    "import sapien.physx as sapienp\n\n"
    "class UnStableError(Exception):\n    pass\n",
    "envs/utils/pkl2hdf5.py": "import h5py, pickle\nimport numpy as np\nimport cv2\n",
    "envs/_base_task.py": textwrap.dedent("""
        import sapien.core as sapien
        from sapien.render import clear_cache as sapien_clear_cache
        from sapien.utils.viewer import Viewer
        import numpy as np
        import gymnasium as gym
        import toppra as ta
        import transforms3d as t3d
        import torch, random
        from .utils import *
        from .robot import Robot
        from .camera import Camera
        import trimesh
        import imageio
        from ._GLOBAL_CONFIGS import *

        class Base_Task(gym.Env):
            pass
    """),
    "envs/robot/__init__.py": "from .robot import *\nfrom .planner import *\n",
    "envs/robot/robot.py": textwrap.dedent("""
        import sapien.core as sapien
        import numpy as np
        from .planner import MplibPlanner
        import toppra as ta
        import yaml
        import transforms3d as t3d
        import envs._GLOBAL_CONFIGS as CONFIGS
        from envs.utils import transforms
        from .planner import CuroboPlanner
        import torch.multiprocessing as mp

        class Robot:
            pass
    """),
    "envs/utils/transforms.py": "import numpy as np\n",
    "envs/robot/planner.py": textwrap.dedent("""
        import mplib.planner
        import mplib
        import numpy as np
        import traceback
        import toppra as ta
        from mplib.sapien_utils import SapienPlanner, SapienPlanningWorld
        import transforms3d as t3d
        import envs._GLOBAL_CONFIGS as CONFIGS

        try:
            from curobo.types.math import Pose as CuroboPose
            from curobo.types.robot import JointState
            from curobo.wrap.reacher.motion_gen import MotionGen, MotionGenConfig, MotionGenPlanConfig, PoseCostMetric
            from curobo.util import logger
            import torch
            import yaml

            class CuroboPlanner:
                pass
        except Exception as e:
            print("[planner.py]: Something wrong happened when importing CuroboPlanner!")
            traceback.print_exc()

        class MplibPlanner:
            pass
    """),
    "envs/camera/__init__.py": "from .camera import *\n",
    "envs/camera/camera.py": textwrap.dedent("""
        import sapien.core as sapien
        import numpy as np
        from PIL import Image, ImageColor
        import open3d as o3d
        import transforms3d as t3d
        import cv2
        import torch
        import yaml
        try:
            import pytorch3d.ops as torch3d_ops
        except Exception:
            pass

        class Camera:
            pass
    """),
}

FAKE_TASK = """
import numpy as np
from ._base_task import Base_Task
from .utils import *
from envs.utils.create_actor import UnStableError
UNSTABLE = {100000}
EXPERT_FAILS = {100001}
class fake_task(Base_Task):
    log = []
    def setup_demo(self, now_ep_num=0, seed=0, is_test=False, **kw):
        np.random.seed(seed)
        self.seed = seed
        self.kw = kw
        self.log.append(("setup", seed, now_ep_num))
        if seed in UNSTABLE:
            raise UnStableError("unstable")
        self.take_action_cnt = 0
        self.step_lim = 7
        self.eval_success = False
        self.plan_success = True
        self.qpos = np.zeros(14)
        self.extra_setup()
    def extra_setup(self):
        pass
    def play_once(self):
        self.log.append(("expert", self.seed))
        self.plan_success = self.seed not in EXPERT_FAILS
        return {"info": {"{A}": "red block", "{a}": "left"}}
    def check_success(self):
        return self.plan_success
    def close_env(self, clear_cache=False):
        self.log.append(("close", clear_cache))
    def set_instruction(self, instruction=None):
        self.instruction = instruction
    def get_obs(self):
        cams = ("head_camera", "left_camera", "right_camera")
        return {"observation": {c: {"rgb": np.zeros((240, 320, 3), np.uint8)} for c in cams},
                "joint_action": {"vector": self.qpos.copy()}, "endpose": {"left_gripper": 1.0}}
    def take_action(self, action, action_type="qpos"):
        if self.take_action_cnt == self.step_lim or self.eval_success:
            return
        self.take_action_cnt += 1
        self.qpos = np.asarray(action, dtype=np.float64)
        if self.qpos[0] > 0.5:
            self.eval_success = True
"""
DESCRIBE = """
import random
def generate_episode_descriptions(task_name, episodes, max_descriptions=1000000):
    t = ["pick {A} with {a}", "grab {A} using {a}", "take {A}"]
    random.shuffle(t)
    out = [s.replace("{A}", "the " + episodes[0]["{A}"]).replace("{a}", "the left arm") for s in t]
    return [{"episode_index": 0, "seen": out, "unseen": [s + "!" for s in out]}]
"""


def make_fake_root(
    tmp_path: Path,
    task_py: str = FAKE_TASK,
    config: str = "demo_clean",
    extra_cfg: str = "",
    task_names: Iterable[str] = ("fake_task",),
    name: str = "RoboTwin",
) -> Path:
    """A checkout whose tasks are ``task_py``'s ``fake_task`` (also written as each of ``task_names``)."""
    root = tmp_path / name
    for rel, src in ENVS.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(src)
    task_src = textwrap.dedent(task_py)
    (root / "envs" / "fake_task.py").write_text(task_src)
    for t in task_names:
        if t != "fake_task":
            (root / "envs" / f"{t}.py").write_text(task_src + f"\n{t} = fake_task\n")
    (root / "description" / "utils").mkdir(parents=True)
    (root / "description" / "utils" / "generate_episode_instructions.py").write_text(DESCRIBE)
    (root / "task_config").mkdir()
    (root / "task_config" / f"{config}.yml").write_text(
        "embodiment: [aloha-agilex]\ncamera:\n  head_camera_type: D435\nclear_cache_freq: 2\n"
        "data_type:\n  rgb: true\n  qpos: true\ndomain_randomization:\n  cluttered_table: false\n" + extra_cfg
    )
    (root / "task_config" / "_camera_config.yml").write_text("D435:\n  fovy: 37\n  w: 320\n  h: 240\n")
    (root / "task_config" / "_embodiment_config.yml").write_text(
        "aloha-agilex:\n  file_path: ./assets/embodiments/aloha-agilex/\n"
    )
    emb = root / "assets" / "embodiments" / "aloha-agilex"
    emb.mkdir(parents=True)
    (emb / "config.yml").write_text("arm_joints_name: [[a, b, c, d, e, f], [a, b, c, d, e, f]]\n")
    # update_embodiment_config_path.py has turned the template into the config
    (emb / "curobo_left_tmp.yml").write_text("urdf: ${ASSETS_PATH}/assets/embodiments/aloha-agilex/x.urdf\n")
    (emb / "curobo_left.yml").write_text(f"urdf: {root}/assets/embodiments/aloha-agilex/x.urdf\n")
    for d in ("objects", "background_texture"):
        (root / "assets" / d).mkdir(parents=True)
        (root / "assets" / d / "placeholder").write_text("")
    (root / "script").mkdir()
    return root
