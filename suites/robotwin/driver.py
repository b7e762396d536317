"""RoboTwin 2.0 driver: the only module here importing RoboTwin (its ``envs`` package).

Not yet run against the simulator. Written against RoboTwin-Platform/RoboTwin (stable_2.0)
script/eval_policy.py: the task class from ``envs.<task>``, ``setup_demo(now_ep_num, seed,
is_test=True, **args)``, ``play_once()``, ``plan_success``, ``check_success()``,
``close_env(clear_cache)``, ``set_instruction``, ``get_obs()``, ``take_action(action)`` (joint
positions, 'qpos'), ``eval_success``, ``take_action_cnt`` / ``step_lim``. RoboTwin must run from
its repository root (relative config and asset paths): set ROBOTWIN_ROOT (DOMINO: DOMINO_ROOT).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vla_eval.diagnose import Finding
from vla_eval.suite import Protocol, SuiteEnv
from vla_eval.suites.robotwin import common
from vla_eval.types import EpisodeSpec, Observation

verified = False


def enter_checkout(root: Path) -> None:
    """Upstream reads ./task_config, ./assets, ./description relative to its root and imports
    ``envs``, ``policy`` and ``generate_episode_instructions`` from there (eval_policy.py's sys.path)."""
    os.chdir(root)
    for p in (str(root / "script"), str(root / "description" / "utils"), str(root / "policy"), str(root)):
        if p not in sys.path:
            sys.path.insert(0, p)


def import_check(root: Path, task: str, deps: Sequence[Any], extra: Sequence[str] = ()) -> Finding:
    """Import what the driver imports (envs, envs._base_task, envs.<task>, the instruction
    generator, ``extra``) in this process; a failure names the missing module and its fix."""
    by_module = {d.module: d for d in deps}
    enter_checkout(root)
    modules = ["envs", "envs._base_task", f"envs.{task}", "generate_episode_instructions", *extra]
    check = f"import the upstream code ({', '.join(modules)})"
    try:
        for m in modules:
            importlib.import_module(m)
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        d = by_module.get(top)
        fix = f"pip install '{d.requirement}'" if d else f"install the module {top!r} in this environment"
        return Finding(check, False, f"{m}: {type(e).__name__}: {e}", fix)
    except ImportError as e:
        if "CuroboPlanner" in str(e):
            return Finding(
                check,
                False,
                f"{m}: {e} (planner.py defines it only when cuRobo imports)",
                "install cuRobo v0.7.8 built against the recipe's torch (the setup script does)",
            )
        return Finding(check, False, f"{m}: {type(e).__name__}: {e}", "fix the import error the message names")
    except Exception as e:  # anything raised at import time
        return Finding(check, False, f"{m}: {type(e).__name__}: {e}", "fix the error the message names")
    return Finding(check, True, "imported")


def _yaml(path: Path) -> Any:
    import yaml

    with open(path, encoding="utf-8") as f:
        return yaml.load(f.read(), Loader=yaml.FullLoader)


class RoboTwinEnv(SuiteEnv):
    """One RoboTwin task; episodes of that task reuse the task object, as eval_policy.py does."""

    verified = False
    root_var = "ROBOTWIN_ROOT"
    # RoboTwin's setup_demo leaves Python's random unseeded: seed it per episode (a deviation,
    # see common.sample_instruction). DOMINO's setup_demo seeds it itself.
    reseed_python_random = True

    def __init__(self, protocol: Protocol, task_index: int, cameras: Sequence[str] = (), privileged: bool = False):
        self.protocol = protocol
        self.task_index = task_index
        self.task = protocol.tasks[task_index].name
        self.cameras = tuple(cameras)
        self.privileged = privileged
        extra = protocol.extra
        self.config_name = str(extra["task_config"])
        self.instruction_type = str(extra.get("instruction_type", "unseen"))
        self.root = Path(os.environ[self.root_var]).resolve()
        enter_checkout(self.root)
        from envs import CONFIGS_PATH  # noqa: E402 - RoboTwin
        from envs.utils.create_actor import UnStableError

        self.UnStableError = UnStableError
        self.describe = importlib.import_module("generate_episode_instructions").generate_episode_descriptions
        cfg_dir = Path(CONFIGS_PATH)
        self.args = common.build_eval_args(
            task_config=_yaml(self.root / "task_config" / f"{self.config_name}.yml"),
            camera_config=_yaml(cfg_dir / "_camera_config.yml"),
            embodiment_types=_yaml(cfg_dir / "_embodiment_config.yml"),
            read_embodiment=lambda robot_file: _yaml(Path(robot_file) / "config.yml"),
            task_name=self.task,
            config_name=self.config_name,
            want_rgb=True,
        )
        self.clear_cache_freq = int(self.args.get("clear_cache_freq", 5))
        self.task_env = getattr(importlib.import_module(f"envs.{self.task}"), self.task)()
        embodiment = "+".join(str(e) for e in self.args["embodiment"])
        self.seeds = common.ExpertSeeds(
            common.cache_root()
            / "expert_seeds"
            / protocol.suite
            / f"{self.task}__{self.config_name}__{embodiment}.json",
            common.start_seed(protocol.seed),
            meta=self.seed_meta(),
        )
        self._expert_info: dict[int, dict[str, Any]] = {}
        self._episodes_done = 0
        self._running = False
        self.spec: EpisodeSpec | None = None
        self.env_seed: int | None = None
        self.instruction = ""

    def seed_meta(self) -> dict[str, Any]:
        return {"task_config": self.config_name}

    # --- the expert check ----------------------------------------------------------------
    def expert_check(self, seed: int, ep_num: int) -> bool:
        """setup_demo + play_once + close_env, then plan_success and check_success (eval_policy.py)."""
        args = dict(self.args, render_freq=0)
        try:
            self.task_env.setup_demo(now_ep_num=ep_num, seed=seed, is_test=True, **args)
            info = self.task_env.play_once()
            self.task_env.close_env()
        except self.UnStableError:
            self.task_env.close_env()
            return False
        except Exception:
            self.task_env.close_env()
            return False
        ok = bool(self.task_env.plan_success and self.task_env.check_success())
        if ok:
            self._expert_info[seed] = info
        return ok

    def seed_valid(self, seed: int, ep_num: int) -> bool:
        return self.expert_check(seed, ep_num)

    # --- episode start -------------------------------------------------------------------
    def start_episode(self, seed: int, ep_num: int, info: dict[str, Any]) -> None:
        self.task_env.setup_demo(now_ep_num=ep_num, seed=seed, is_test=True, **self.args)
        python_seed = seed if self.reseed_python_random else None
        self.instruction = common.sample_instruction(
            self.describe, self.task, info["info"], self.instruction_type, python_seed
        )
        self.task_env.set_instruction(instruction=self.instruction)

    def _finish_previous(self) -> None:
        if self._running:
            self._running = False
            self._episodes_done += 1
            self.task_env.close_env(clear_cache=(self._episodes_done % self.clear_cache_freq == 0))

    def reset(self, spec: EpisodeSpec) -> Observation:
        if spec.task_index != self.task_index:
            raise ValueError(f"env of task {self.task_index} cannot run episode of task {spec.task_index}")
        self._finish_previous()
        self.spec = spec
        i = spec.episode_index
        seed = self.seeds.seed_for(i, lambda s: self.seed_valid(s, i))
        # Upstream runs the expert on the kept seed right before the episode; its episode info
        # (the objects chosen) feeds the instruction templates.
        info = self._expert_info.pop(seed, None)
        if info is None:
            if not self.expert_check(seed, i):
                raise RuntimeError(
                    f"{self.task}: the expert no longer solves cached seed {seed}; clear {self.seeds.path}"
                )
            info = self._expert_info.pop(seed)
        self.env_seed = seed
        self.start_episode(seed, i, info)
        self._running = True
        return self._observation(self.task_env.get_obs())

    def _observation(self, raw: dict[str, Any]) -> Observation:
        images, state, extras = common.convert_observation(raw, self.cameras)
        assert self.spec is not None
        return Observation(
            images=images,
            state=state,
            instruction=self.instruction,
            embodiment=self.protocol.embodiment,
            episode_id=self.spec.episode_id,
            step=int(self.task_env.take_action_cnt),
            extras=extras,
        )

    def step(self, action: np.ndarray) -> tuple[Observation, bool, dict[str, Any]]:
        self.task_env.take_action(np.asarray(action, dtype=np.float64))
        done = bool(self.task_env.eval_success)
        return self._observation(self.task_env.get_obs()), done, {"success": done}

    def result(self) -> dict[str, Any]:
        return {
            "success": bool(self.task_env.eval_success),
            "env_seed": self.env_seed,
            "instruction": self.instruction,
            "actions_taken": int(self.task_env.take_action_cnt),
        }

    def close(self) -> None:
        try:
            self._finish_previous()
        finally:
            self.task_env.close_env(clear_cache=True)
