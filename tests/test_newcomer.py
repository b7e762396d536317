"""The README's newcomer guide, executed: a new suite folder and a new policy folder run through
`vla-eval run` and `vla-eval report` with no edit outside those folders.

The two folders are written to a temporary directory and put on the search path of the
``vla_eval.suites`` / ``vla_eval.policies`` packages, exactly where a folder under ``suites/`` or
``policies/`` is found; the registries discover them like the shipped ones.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import vla_eval.policies
import vla_eval.suites
from vla_eval import policy, suite
from vla_eval.errors import UsageError
from vla_eval.registry import Registry
from vla_eval.runner import RunConfig, run

SUITE_INIT = '''
"""line_reach: move a point along a line to a goal (the newcomer guide's example)."""

SUITES = {"line_reach": "vla_eval.suites.linereach.suite:LineSuite"}
'''

SUITE_PROTOCOL = """
[defaults]
version = "1"
source = "the README's newcomer guide"
seed = 0
episodes_per_task = 3
max_steps = 30
embodiment = "point1d"
action_dim = 1
action_low = [-1.0]
action_high = [1.0]
idle_action = [0.0]
action.control_mode = "point_delta"
action.rotation = "none"
action.gripper = "none"
action.units = "normalized"
replan_steps = 1
cameras = []
image_size = [8, 8]
aggregation = "pooled"

[line_reach]
[[line_reach.tasks]]
name = "reach_right"
instruction = "move right"
goal = 0.8
[[line_reach.tasks]]
name = "reach_left"
instruction = "move left"
goal = 0.2
"""

SUITE_CODE = """
from __future__ import annotations

from pathlib import Path

import numpy as np

from vla_eval.suite import Suite, SuiteEnv
from vla_eval.types import Observation


class LineEnv(SuiteEnv):
    def __init__(self, suite, task_index):
        self.p = suite.protocol
        self.goal = [0.8, 0.2][task_index]

    def _obs(self):
        return Observation(images={}, state=np.array([self.x], np.float32), instruction=self.spec.instruction,
                           embodiment=self.p.embodiment, episode_id=self.spec.episode_id)

    def reset(self, spec):
        self.spec, self.x, self.done = spec, 0.5, False
        return self._obs()

    def step(self, action):
        self.x = float(np.clip(self.x + 0.05 * float(action[0]), 0.0, 1.0))
        self.done = abs(self.x - self.goal) < 0.03
        return self._obs(), self.done, {}

    def result(self):
        return {"success": self.done}


class LineSuite(Suite):
    protocol_file = Path(__file__).with_name("protocol.toml")

    def availability(self):
        return True, ""

    def prepare(self):
        return {}

    def make_env(self, spec, policy):
        return LineEnv(self, spec.task_index)
"""

POLICY_INIT = '''
"""A policy package: the names it registers."""

POLICIES = {"line_stepper": "vla_eval.policies.linestepper.policy:LineStepper"}
'''

POLICY_CODE = '''
from __future__ import annotations

import numpy as np

from vla_eval.conventions import ActionSpace
from vla_eval.policy import Policy
from vla_eval.types import PolicySpec


class LineStepper(Policy):
    """Steps towards the goal its instruction names (a scripted baseline)."""

    def __init__(self, action_space: ActionSpace, gripper: str | None = None) -> None:
        self.space = action_space
        self.gripper = gripper

    def metadata(self):
        return PolicySpec(name="line_stepper", action_dim=self.space.dim, control_mode="point_delta",
                          gripper=self.gripper)

    def infer_batch(self, observations):
        sign = [1.0 if "right" in o.instruction else -1.0 for o in observations]
        return np.asarray(sign, np.float32).reshape(len(observations), 1, 1)
'''


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


@pytest.fixture
def new_folders(tmp_path, monkeypatch):
    suites_dir, policies_dir = tmp_path / "suites", tmp_path / "policies"
    _write(
        suites_dir,
        {
            "linereach/__init__.py": SUITE_INIT,
            "linereach/protocol.toml": SUITE_PROTOCOL,
            "linereach/suite.py": SUITE_CODE,
        },
    )
    _write(policies_dir, {"linestepper/__init__.py": POLICY_INIT, "linestepper/policy.py": POLICY_CODE})
    monkeypatch.setattr(vla_eval.suites, "__path__", [*vla_eval.suites.__path__, str(suites_dir)])
    monkeypatch.setattr(vla_eval.policies, "__path__", [*vla_eval.policies.__path__, str(policies_dir)])
    for module, attr in ((suite, "SUITES"), (policy, "POLICIES")):
        old = getattr(module, attr)
        monkeypatch.setattr(module, attr, Registry(old.kind, old.discovery))  # discover afresh
    return tmp_path


def test_a_new_suite_and_policy_folder_run_without_core_edits(new_folders, capsys):
    out = new_folders / "run"
    assert run(RunConfig(suite="line_reach", policy="line_stepper", out=out, in_process=True)) == 0
    rows = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(r["status"] == "ok" and r["success"] for r in rows)
    assert "line_reach" in (out / "report.csv").read_text()
    assert "line_reach" in suite.suite_names() and "line_stepper" in policy.POLICIES.names()


def test_the_new_policy_is_held_to_the_suite_conventions(new_folders):
    out = new_folders / "bad"
    cfg = RunConfig(
        suite="line_reach", policy="line_stepper", out=out, in_process=True, policy_args=("gripper=close_positive",)
    )
    with pytest.raises(UsageError, match="gripper"):
        run(cfg)
    assert not out.exists()
