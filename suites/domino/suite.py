"""The domino suite. Imports no simulator. Not yet run against the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vla_eval.suite import SuiteEnv
from vla_eval.suites.robotwin.suite import RoboTwinSuite
from vla_eval.types import EpisodeSpec, PolicySpec


class DominoSuite(RoboTwinSuite):
    protocol_file = Path(__file__).with_name("protocol.toml")
    verified = False
    root_var = "DOMINO_ROOT"
    checkout = "DOMINO"  # where `vla-eval env create domino` clones it: <env>/src/DOMINO
    env_suite = "domino"
    setup_script = Path(__file__).with_name("setup_env.sh")
    extra_modules = ("eval_metrics",)  # script/eval_metrics.py (EvalMetricsTracker)
    install_hint = (
        "DOMINO is not installed here: `vla-eval env create domino` (clones H-EmbodVis/DOMINO, installs its "
        "pinned requirements, pytorch3d and cuRobo, downloads its assets; NVIDIA GPU with nvcc), or set "
        "DOMINO_ROOT to a checkout installed by its script/_install.sh"
    )

    def make_env(self, spec: EpisodeSpec, policy: PolicySpec) -> SuiteEnv:
        from vla_eval.suites.domino.driver import DominoEnv

        return DominoEnv(
            self.protocol,
            spec.task_index,
            cameras=policy.cameras,
            privileged=policy.privileged,
            call_actions=actions_per_call(policy, self.protocol.replan_steps),
        )

    def env_key(self, spec: EpisodeSpec, policy: PolicySpec) -> Any:
        return (*super().env_key(spec, policy), actions_per_call(policy, self.protocol.replan_steps))


def actions_per_call(policy: PolicySpec, default_replan: int) -> int:
    """Actions the harness executes from each chunk: what one upstream eval_func call executes."""
    replan = policy.replan_steps or default_replan
    return max(1, min(int(policy.horizon), int(replan)))
