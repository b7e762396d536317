"""DOMINO driver: RoboTwin's driver plus DOMINO's dynamic-object rules and metrics.

Not yet run against the simulator. Written against H-EmbodVis/DOMINO script/eval_policy.py and
script/eval_metrics.py: the expert's ``_saved_dynamic_motion_info`` carried into the episode,
``init_dynamic_motion_for_eval()`` (a seed whose dynamic motion cannot be initialised is
skipped, like one the expert fails), ``get_dynamic_motion_config()`` (check_z_threshold /
check_z_actor / target_actor / stop_on_contact), ``check_gripper_contact_dynamic_object``,
``stop_dynamic_object_motion``, ``check_dynamic_object_boundary``, ``eval_fail``,
``release_episode_resources`` and the EvalMetricsTracker attached as ``_metrics_tracker``.

eval_policy.py runs its end-of-call checks (object lifted, success, contact stop, out of
bounds, eval_fail) once per ``eval_func`` call, and a policy's eval_func executes a whole chunk:
DOMINO's policy/pi0 and pi05 ``pi0_step`` = 50 actions, policy/openvla-oft
``num_open_loop_steps`` = 25, while the StarVLA / PUMA client
(policy/PUMA/examples/Robotwin/eval_files/model2robotwin_interface.py) executes one action per
call. ``check_granularity`` (the protocol's, per suite) says which: ``per_call`` runs the checks
after the last action of each chunk the harness executes (min(horizon, replan_steps) actions),
and also as soon as eval_success is set or the step limit is reached (upstream's take_action
does nothing after either, so the state it checks at the end of that call is the same);
``per_action`` runs them after every action.

Python's ``random`` is not re-seeded before the instruction is drawn: DOMINO's setup_demo seeds
it with the episode seed (envs/_base_task.py, _init_task_env_), so the instruction is upstream's.
"""

from __future__ import annotations

import importlib
from typing import Any, Sequence

import numpy as np

from vla_eval.suite import Protocol
from vla_eval.suites.domino import metrics as dm
from vla_eval.suites.robotwin.driver import RoboTwinEnv
from vla_eval.types import Observation

verified = False


GRANULARITIES = ("per_call", "per_action")


class DominoEnv(RoboTwinEnv):
    verified = False
    root_var = "DOMINO_ROOT"
    reseed_python_random = False  # DOMINO's setup_demo seeds Python's random itself

    def __init__(
        self,
        protocol: Protocol,
        task_index: int,
        cameras: Sequence[str] = (),
        privileged: bool = False,
        call_actions: int = 1,
    ):
        self.granularity = str(protocol.extra.get("check_granularity", "per_call"))
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"check_granularity {self.granularity!r} is not one of {GRANULARITIES}")
        if call_actions < 1:
            raise ValueError(f"call_actions must be >= 1, got {call_actions}")
        self.call_actions = 1 if self.granularity == "per_action" else int(call_actions)
        self._since_check = 0
        super().__init__(protocol, task_index, cameras=cameras, privileged=privileged)  # script/ is on sys.path
        self.EvalMetricsTracker = importlib.import_module("eval_metrics").EvalMetricsTracker
        self.use_dynamic = bool(self.args.get("use_dynamic", False))
        for key in ("use_dynamic", "dynamic_level", "dynamic_coefficient"):
            want = protocol.extra.get(key)
            if want is not None and self.args.get(key) != want:
                raise RuntimeError(
                    f"{self.config_name}.yml has {key}={self.args.get(key)!r}; the protocol says {want!r}"
                )
        self._saved_dynamic: dict[int, Any] = {}

    def seed_meta(self) -> dict[str, Any]:
        a = self.protocol.extra
        return {
            "task_config": self.config_name,
            "dynamic_level": a.get("dynamic_level"),
            "dynamic_coefficient": a.get("dynamic_coefficient"),
        }

    def expert_check(self, seed: int, ep_num: int) -> bool:
        ok = super().expert_check(seed, ep_num)
        if ok:
            self._saved_dynamic[seed] = getattr(self.task_env, "_saved_dynamic_motion_info", None)
        return ok

    def seed_valid(self, seed: int, ep_num: int) -> bool:
        """Expert solves it AND its dynamic motion initialises (eval_policy.py skips the seed otherwise)."""
        if not self.expert_check(seed, ep_num):
            return False
        info = self._expert_info[seed]
        saved = self._saved_dynamic.get(seed)
        try:
            ok = self._setup_and_init(seed, ep_num, info, saved)
        finally:
            self.task_env.close_env()
            self.task_env.release_episode_resources()
            # The episode itself re-runs the expert right before it, as eval_policy.py does, so
            # the dynamic motion info it carries over is fresh.
            self._expert_info.pop(seed, None)
            self._saved_dynamic.pop(seed, None)
        return ok

    def _setup_and_init(self, seed: int, ep_num: int, info: dict[str, Any], saved: Any) -> bool:
        super().start_episode(seed, ep_num, info)  # setup_demo, instruction
        if saved is not None:
            self.task_env._saved_dynamic_motion_info = saved
        # eval_policy.py restores the saved info right after setup_demo, before the instruction
        # draw; neither touches the other's state, so the order here is equivalent.
        if self.use_dynamic:
            return bool(self.task_env.init_dynamic_motion_for_eval())
        return True

    def start_episode(self, seed: int, ep_num: int, info: dict[str, Any]) -> None:
        saved = self._saved_dynamic.pop(seed, None)
        if not self._setup_and_init(seed, ep_num, info, saved):
            raise RuntimeError(f"{self.task}: dynamic motion failed to initialise for kept seed {seed}")
        env = self.task_env
        self.check_z_threshold = None
        self.target_actor_check = None
        self.start_z = None
        self.has_lifted = False
        self.stop_on_contact = True
        cfg = getattr(env, "get_dynamic_motion_config", lambda: None)()
        if cfg and "check_z_threshold" in cfg:
            self.check_z_threshold = cfg["check_z_threshold"]
            self.target_actor_check = cfg.get("check_z_actor", cfg.get("target_actor"))
            self.start_z = self.target_actor_check.get_pose().p[2]
        if cfg and "stop_on_contact" in cfg:
            self.stop_on_contact = cfg["stop_on_contact"]
        self.tracker = self.EvalMetricsTracker(env, self.args)
        self.tracker.on_episode_start()
        env._metrics_tracker = self.tracker
        self.succ = False
        self.fail_reason: str | None = None
        self.out_of_bounds = False
        self._since_check = 0
        self.checks_run = 0

    def _call_ends(self) -> bool:
        """Whether eval_policy.py's end-of-call checks run after this action."""
        env = self.task_env
        if self._since_check >= self.call_actions or env.eval_success:
            return True
        count = int(env.take_action_cnt)
        limits = [getattr(env, "step_lim", None), self.spec.max_steps if self.spec is not None else None]
        return any(lim is not None and count >= int(lim) for lim in limits)

    def step(self, action: np.ndarray) -> tuple[Observation, bool, dict[str, Any]]:
        env = self.task_env
        env.take_action(np.asarray(action, dtype=np.float64))
        self._since_check += 1
        done = False
        if self._call_ends():
            self._since_check = 0
            self.checks_run += 1
            done = self._end_of_call_checks()
        return self._observation(env.get_obs()), done, {"success": self.succ}

    def _end_of_call_checks(self) -> bool:
        """eval_policy.py's checks after one eval_func call; True ends the episode."""
        env = self.task_env
        done = False
        if self.check_z_threshold is not None and not self.has_lifted:
            if env_z(self.target_actor_check) - self.start_z > self.check_z_threshold:
                self.has_lifted = True
        if env.eval_success:
            if self.check_z_threshold is not None and not self.has_lifted:
                self.succ, self.fail_reason = False, "object_not_lifted"
            else:
                self.succ = True
            done = True
        else:
            if self.use_dynamic:
                if env.check_gripper_contact_dynamic_object() and self.stop_on_contact:
                    env.stop_dynamic_object_motion()
                if not getattr(env, "_dynamic_object_stopped", False) and not env.check_dynamic_object_boundary():
                    env.eval_fail = True
                    self.fail_reason, self.out_of_bounds = "out_of_bounds", True
            if self.out_of_bounds:
                self.tracker.record_out_of_bounds()
                done = True
            elif getattr(env, "eval_fail", False):
                self.fail_reason = "eval_fail"
                done = True
        return done

    def result(self) -> dict[str, Any]:
        t = self.tracker
        fail = self.fail_reason if not self.succ else None
        if fail is None and not self.succ:
            fail = "step_limit"
        out = dm.episode_metrics(
            success=self.succ,
            dynamic=self.use_dynamic,
            initial_ee=[
                t.initial_ee_left
                if t.initial_ee_left is not None
                else (t.ee_positions_left[0] if t.ee_positions_left else None),
                t.initial_ee_right
                if t.initial_ee_right is not None
                else (t.ee_positions_right[0] if t.ee_positions_right else None),
            ],
            final_ee=[
                t.ee_positions_left[-1] if t.ee_positions_left else t.initial_ee_left,
                t.ee_positions_right[-1] if t.ee_positions_right else t.initial_ee_right,
            ],
            target_positions=list(t.dynamic_target_positions),
            out_of_bounds_target=t.out_of_bounds_target_position,
            out_of_bounds=self.out_of_bounds,
            clutter_hits=len(t.penalized_clutter_objects),
            fail_reason=fail,
        )
        try:  # upstream's own numbers, for cross-checking
            em = t.get_episode_metrics(self.succ, self.fail_reason, seed=self.env_seed)
            out["upstream_route_completion"] = float(em.route_completion)
            out["upstream_manipulation_score"] = float(em.manipulation_score)
        except Exception:
            pass
        out.update(
            env_seed=self.env_seed,
            instruction=self.instruction,
            actions_taken=int(self.task_env.take_action_cnt),
            check_granularity=self.granularity,
            actions_per_check=self.call_actions,
            checks_run=self.checks_run,
        )
        return out

    def _finish_previous(self) -> None:
        was_running = self._running
        super()._finish_previous()
        if was_running:
            self.task_env._metrics_tracker = None
            self.task_env.release_episode_resources()


def env_z(actor: Any) -> float:
    return float(actor.get_pose().p[2])
