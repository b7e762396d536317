"""Pure helpers shared by the RoboTwin 2.0 and DOMINO drivers (no simulator import).

They follow RoboTwin-Platform/RoboTwin (stable_2.0) script/eval_policy.py, which DOMINO's
script/eval_policy.py extends:
- seeds: from ``st_seed = 100000 * (1 + seed)`` upwards, a seed is kept only if the scripted
  expert solves it (setup_demo; play_once; close_env; plan_success and check_success); an
  UnStableError or any exception skips it. Episode i runs on the i-th kept seed.
- instruction: ``np.random.choice(generate_episode_descriptions(task, [info], 100)[0][instruction_type])``
  drawn right after the episode's setup_demo (which seeds numpy with the episode seed).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

CAMERAS = ("head_camera", "left_camera", "right_camera")
MAX_SCAN = 20000  # candidate seeds scanned for one task before giving up


def start_seed(seed: int) -> int:
    """The first candidate seed of an evaluation with ``--seed seed`` (eval_policy.py)."""
    return 100000 * (1 + int(seed))


def cache_root() -> Path:
    base = os.environ.get("VLA_EVAL_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vla-eval"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class ExpertSeeds:
    """The expert-checked seed list of one (task, config, embodiment), built lazily and cached.

    ``seed_for(i, check)`` returns the i-th seed s >= st_seed (in increasing order) for which
    ``check(s)`` is true, calling ``check`` only on seeds not yet in the cache. The cache is a
    JSON file of every candidate's outcome, shared by workers under a file lock, so the
    scripted expert runs once per seed per machine and every worker agrees on the list.
    """

    def __init__(self, path: Path, st_seed: int, meta: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.st_seed = int(st_seed)
        self.meta = dict(meta or {})

    def _load(self) -> dict[str, Any]:
        if self.path.exists():
            d = json.loads(self.path.read_text())
            if d.get("st_seed") == self.st_seed and d.get("meta", {}) == self.meta:
                return d
        return {"st_seed": self.st_seed, "meta": self.meta, "checked": {}}

    def _save(self, d: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(d, indent=0, sort_keys=True))
        os.replace(tmp, self.path)

    def known(self) -> list[int]:
        d = self._load()
        return sorted(int(s) for s, ok in d["checked"].items() if ok)

    def seed_for(self, index: int, check: Callable[[int], bool]) -> int:
        if index < 0:
            raise ValueError(f"episode index {index} < 0")
        with _locked(self.path):
            d = self._load()
            checked: dict[str, bool] = d["checked"]
            cand = self.st_seed
            valid: list[int] = []
            while True:
                if str(cand) in checked:
                    ok = bool(checked[str(cand)])
                else:
                    ok = bool(check(cand))
                    checked[str(cand)] = ok
                    self._save(d)
                if ok:
                    valid.append(cand)
                    if len(valid) > index:
                        return cand
                cand += 1
                if cand - self.st_seed > MAX_SCAN:
                    raise RuntimeError(
                        f"no {index + 1} expert-solvable seeds in {MAX_SCAN} candidates from {self.st_seed}"
                    )


def sample_instruction(
    describe: Callable[[str, list[dict[str, Any]], int], list[dict[str, list[str]]]],
    task: str,
    episode_info: Mapping[str, Any],
    instruction_type: str,
    python_seed: int | None,
    max_descriptions: int = 100,
) -> str:
    """The episode's instruction, as eval_policy.py draws it (``describe`` is upstream's
    generate_episode_descriptions).

    ``python_seed`` None: Python's ``random`` is left as setup_demo left it (DOMINO: its
    setup_demo seeds ``random`` with the episode seed, so upstream's instruction is already
    deterministic, and re-seeding here would draw another one).
    An int (RoboTwin 2.0): a deviation, on purpose: RoboTwin's setup_demo leaves ``random``
    unseeded, and generate_episode_descriptions shuffles templates and picks object
    descriptions with it, so its instructions change from run to run; here ``random`` is seeded
    with the episode seed first. numpy's draw (np.random.choice) is upstream's, from the state
    setup_demo left, in both cases.
    """
    if python_seed is not None:
        random.seed(int(python_seed))
    results = describe(task, [dict(episode_info)], max_descriptions)
    if not results or not results[0].get(instruction_type):
        raise RuntimeError(f"{task}: no {instruction_type!r} instruction could be generated for {dict(episode_info)}")
    return str(np.random.choice(results[0][instruction_type]))


def convert_observation(
    raw: Mapping[str, Any], cameras: Sequence[str]
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """RoboTwin get_obs() -> (images, state, extras).

    images: the requested cameras' ``observation[cam]["rgb"]`` (uint8 HxWx3, upright as rendered);
    state: ``joint_action["vector"]`` (left arm joints, left gripper, right arm joints, right
    gripper; float32), what the reference clients feed their policies;
    extras: end-effector poses and normalized gripper values (``endpose``).
    """
    obs = raw.get("observation", {})
    images = {}
    for cam in cameras:
        if cam not in obs or "rgb" not in obs[cam]:
            raise KeyError(f"camera {cam!r} is not in the observation (have {sorted(obs)})")
        images[cam] = np.ascontiguousarray(np.asarray(obs[cam]["rgb"])[..., :3]).astype(np.uint8)
    state = np.asarray(raw.get("joint_action", {}).get("vector", []), dtype=np.float32).reshape(-1)
    extras = {}
    for k, v in dict(raw.get("endpose", {})).items():
        extras[k] = np.asarray(v, dtype=np.float64) if np.ndim(v) else float(v)
    return images, state, extras


def build_eval_args(
    task_config: Mapping[str, Any],
    camera_config: Mapping[str, Any],
    embodiment_types: Mapping[str, Any],
    read_embodiment: Callable[[str], Mapping[str, Any]],
    task_name: str,
    config_name: str,
    want_rgb: bool,
) -> dict[str, Any]:
    """The ``args`` that eval_policy.py's main() passes to setup_demo, from the parsed YAML files.

    read_embodiment(robot_file) returns that embodiment's config.yml. Video logging is turned
    off (the harness does not record through ffmpeg); rgb rendering is off when no camera is
    needed (the protocol's physics does not depend on it).
    """
    args: dict[str, Any] = json.loads(json.dumps(dict(task_config)))  # deep copy
    args["task_name"] = task_name
    args["task_config"] = config_name
    args["ckpt_setting"] = "vla-eval"
    head = args["camera"]["head_camera_type"]
    args["head_camera_h"] = camera_config[head]["h"]
    args["head_camera_w"] = camera_config[head]["w"]
    emb = list(args.get("embodiment"))

    def robot_file(name: str) -> str:
        f = embodiment_types[name]["file_path"]
        if f is None:
            raise ValueError(f"no embodiment files for {name}")
        return f

    if len(emb) == 1:
        args["left_robot_file"] = args["right_robot_file"] = robot_file(emb[0])
        args["dual_arm_embodied"] = True
    elif len(emb) == 3:
        args["left_robot_file"] = robot_file(emb[0])
        args["right_robot_file"] = robot_file(emb[1])
        args["embodiment_dis"] = emb[2]
        args["dual_arm_embodied"] = False
    else:
        raise ValueError("embodiment items should be 1 or 3")
    args["left_embodiment_config"] = dict(read_embodiment(args["left_robot_file"]))
    args["right_embodiment_config"] = dict(read_embodiment(args["right_robot_file"]))
    args["eval_video_log"] = False
    args["render_freq"] = 0
    args["eval_mode"] = True
    args["policy_name"] = "vla-eval"
    args.setdefault("data_type", {})
    args["data_type"] = {**args["data_type"], "rgb": bool(want_rgb)}
    return args


def arm_dims(args: Mapping[str, Any]) -> tuple[int, int]:
    """(left, right) arm joint counts as eval_policy.py computes them; action dim = left + right + 2."""
    return (
        len(args["left_embodiment_config"]["arm_joints_name"][0]),
        len(args["right_embodiment_config"]["arm_joints_name"][1]),
    )
