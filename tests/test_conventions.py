"""Action conventions as typed, checked contracts (vla_eval.conventions): the protocol files'
declarations, the policy's, the check between them, and the action space reaching the policy."""

from __future__ import annotations

import json
import pickle

import pytest

from tests.test_cli import assert_usage_error, cli
from vla_eval.conventions import (
    ActionSpace,
    ControlMode,
    Gripper,
    Rotation,
    Units,
    json_default,
    json_object_hook,
)
from vla_eval.errors import UsageError
from vla_eval.executors.replicas import ProcessPolicy
from vla_eval.policy import load_policy
from vla_eval.runner import policy_kwargs
from vla_eval.suite import get_suite, load_protocols, suite_names
from vla_eval.types import PolicySpec
from vla_eval.wire import packb, policy_spec_from_dict, policy_spec_to_dict, unpackb

# suite -> (control mode, rotation, gripper, units), as each protocol file's comments describe its action.
EXPECTED = {
    "libero_spatial": ("delta_eef", "axis_angle", "close_positive", "normalized"),
    "libero_object": ("delta_eef", "axis_angle", "close_positive", "normalized"),
    "libero_goal": ("delta_eef", "axis_angle", "close_positive", "normalized"),
    "libero_10": ("delta_eef", "axis_angle", "close_positive", "normalized"),
    "libero_90": ("delta_eef", "axis_angle", "close_positive", "normalized"),
    **{
        f"{s}_openvla": ("delta_eef", "axis_angle", "close_positive", "normalized")
        for s in ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")
    },
    "simpler_widowx": ("delta_eef", "axis_angle", "open_positive", "m_rad"),
    "simpler_google_vm": ("delta_eef", "axis_angle", "relative_close_positive", "m_rad"),
    "simpler_google_va": ("delta_eef", "axis_angle", "relative_close_positive", "m_rad"),
    "simpler_widowx_ms3": ("delta_eef", "euler_xyz", "open_positive", "m_rad"),
    "maniskill3": ("delta_eef", "euler_xyz", "open_positive", "normalized"),
    "robocasa_gr1": ("joint_abs", "none", "none", "rad"),
    "robotwin_easy": ("joint_abs", "none", "open_unit", "rad"),
    "robotwin_hard": ("joint_abs", "none", "open_unit", "rad"),
    "domino": ("joint_abs", "none", "open_unit", "rad"),
    "domino_per_action": ("joint_abs", "none", "open_unit", "rad"),
    "r2r_val_unseen": ("nav_discrete", "none", "none", "action_id"),
    "r2r_val_seen": ("nav_discrete", "none", "none", "action_id"),
    "rxr_val_unseen": ("nav_discrete", "none", "none", "action_id"),
    "toy_reach": ("point_delta", "none", "none", "normalized"),
}


def test_every_shipped_suite_declares_its_conventions():
    assert set(suite_names()) <= set(EXPECTED), sorted(set(suite_names()) - set(EXPECTED))
    for name in suite_names():
        suite = get_suite(name)
        p = suite.protocol
        a = p.action
        assert isinstance(a, ActionSpace)
        got = (a.control_mode.value, a.rotation.value, a.gripper.value, a.units.value)
        assert got == EXPECTED[name], name
        # the same numbers as the protocol's own fields
        assert (a.dim, a.low, a.high, a.idle, a.embodiment) == (
            p.action_dim,
            p.action_low,
            p.action_high,
            p.idle_action,
            p.embodiment,
        )
        assert a.discrete == bool(p.extra.get("discrete_actions", False))
        assert "action" not in p.extra  # parsed, not left as free text
        assert suite.action_space is a


def test_libero_and_simpler_v0_widowx_conventions():
    a = get_suite("libero_spatial").action_space
    assert (a.control_mode, a.rotation, a.gripper) == (
        ControlMode.DELTA_EEF,
        Rotation.AXIS_ANGLE,
        Gripper.CLOSE_POSITIVE,
    )
    assert a.idle[6] == -1.0  # gripper open = -1 under +1 close / -1 open
    w = get_suite("simpler_widowx").action_space
    assert (w.control_mode, w.rotation, w.gripper, w.units) == (
        ControlMode.DELTA_EEF,
        Rotation.AXIS_ANGLE,  # -v0: a rotation vector
        Gripper.OPEN_POSITIVE,  # +1 open, -1 closed (absolute)
        Units.M_RAD,
    )
    assert w.idle[6] == 1.0  # open
    assert get_suite("simpler_widowx_ms3").action_space.rotation is Rotation.EULER_XYZ  # the -v1 port differs
    # the free-text explanations stay beside the structured keys
    x = get_suite("simpler_widowx").protocol.extra
    assert x["gripper"] == "+1 open, -1 closed (absolute)" and x["control_mode"].startswith("arm_pd_ee_target")


PROTOCOL = """
[defaults]
version = "1"
source = "test"
seed = 0
episodes_per_task = 1
max_steps = 5
embodiment = "e"
action_dim = 2
action_low = [-1.0, -1.0]
action_high = [1.0, 1.0]
idle_action = [0.0, 0.0]
replan_steps = 1
cameras = ["top"]
image_size = [8, 8]
{defaults}

[s]
{suite}
[[s.tasks]]
name = "t"
instruction = "do"
"""


def write(tmp_path, defaults: str, suite: str = ""):
    path = tmp_path / "protocol.toml"
    path.write_text(PROTOCOL.format(defaults=defaults, suite=suite))
    return path


GOOD = """action.control_mode = "point_delta"
action.rotation = "none"
action.gripper = "none"
action.units = "normalized"
"""


def test_a_suite_overrides_one_default_convention_at_a_time(tmp_path):
    path = write(tmp_path, GOOD, 'action.units = "m_rad"')
    a = load_protocols(path)["s"].action
    assert (a.control_mode, a.rotation, a.gripper, a.units) == (
        ControlMode.POINT_DELTA,
        Rotation.NONE,
        Gripper.NONE,
        Units.M_RAD,
    )


@pytest.mark.parametrize(
    "defaults, needle",
    [
        (
            GOOD.replace('"none"\naction.gripper', '"axis-angle"\naction.gripper'),
            "action.rotation 'axis-angle' is not one of",
        ),
        (GOOD.replace("close", "x").replace('gripper = "none"', 'gripper = "+1 close"'), "action.gripper '+1 close'"),
        (GOOD.replace('action.units = "normalized"\n', ""), "missing action.units (one of ['normalized', 'm_rad'"),
        (GOOD + 'action.frame = "base"\n', "unknown key(s) ['action.frame']"),
        ("", "declare the action conventions action.control_mode / action.rotation"),
        (GOOD.replace("point_delta", "nav_discrete"), "discrete = False does not fit control_mode nav_discrete"),
    ],
)
def test_a_bad_convention_is_one_clear_error_naming_the_file(tmp_path, defaults, needle):
    path = write(tmp_path, defaults)
    with pytest.raises(UsageError) as e:
        load_protocols(path)
    msg = str(e.value)
    assert msg.startswith(f"protocol {path} [s]: ") and needle in msg and "\n" not in msg, msg


def test_the_allowed_values_are_named():
    with pytest.raises(ValueError, match=r"action.gripper 'open' is not one of \['close_positive', 'open_positive'"):
        Gripper.parse("open", "action.gripper")


# --- the policy's declaration -----------------------------------------------------------
def test_policy_spec_conventions_parse_and_travel():
    spec = PolicySpec(name="p", action_dim=7, control_mode="delta_eef", gripper="close_positive", image_size=[4, 4])
    assert spec.control_mode is ControlMode.DELTA_EEF and spec.gripper is Gripper.CLOSE_POSITIVE
    assert spec.rotation is None and spec.units is None and spec.image_size == (4, 4)
    d = policy_spec_to_dict(spec)
    assert d["control_mode"] == "delta_eef" and type(d["gripper"]) is str and d["rotation"] is None
    assert policy_spec_from_dict(unpackb(packb(d))) == spec
    assert policy_spec_from_dict(json.loads(json.dumps(d))) == spec
    # metadata of an older harness: free-text control_mode "" and no convention keys
    old = {"name": "p", "action_dim": 7, "horizon": 1, "control_mode": "", "cameras": [], "image_size": None}
    assert policy_spec_from_dict(old).control_mode is None
    assert PolicySpec(name="p", action_dim=7, control_mode="OSC_POSE").control_mode is ControlMode.DELTA_EEF
    with pytest.raises(ValueError, match="PolicySpec 'p' gripper 'closed' is not one of"):
        PolicySpec(name="p", action_dim=7, gripper="closed")


def test_check_policy_compares_declared_conventions():
    libero = get_suite("libero_spatial")
    ok = PolicySpec(name="p", action_dim=7, control_mode="delta_eef", rotation="axis_angle", gripper="close_positive")
    libero.check_policy(ok)
    libero.check_policy(PolicySpec(name="p", action_dim=7))  # nothing declared: nothing checked
    for key, value, suite_value in [
        ("gripper", "open_positive", "close_positive"),
        ("rotation", "euler_xyz", "axis_angle"),
        ("control_mode", "joint_abs", "delta_eef"),
        ("units", "m_rad", "normalized"),
    ]:
        with pytest.raises(UsageError) as e:
            libero.check_policy(PolicySpec(name="p", action_dim=7, **{key: value}))
        msg = str(e.value)
        assert f"policy 'p' emits {key} {value} (" in msg and f"suite libero_spatial takes {key} {suite_value} (" in msg
        assert "\n" not in msg


def test_check_policy_image_size():
    toy = get_suite("toy_reach")
    toy.check_policy(PolicySpec(name="p", action_dim=2, image_size=(16, 16)))
    with pytest.raises(UsageError, match="policy 'p' expects 32x32 images; suite toy_reach renders 16x16"):
        toy.check_policy(PolicySpec(name="p", action_dim=2, image_size=(32, 32)))


def test_mismatched_gripper_stops_the_run_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    pol = "tests.toy_policies:DeclaredPolicy"
    r = cli(
        "run", "--suite", "toy_reach", "--policy", pol, "--policy-args", "gripper=close_positive", "--out", str(out)
    )
    assert_usage_error(
        r,
        "policy 'declared' emits gripper close_positive (absolute, +1 close / -1 open); "
        "suite toy_reach takes gripper none (no gripper channel)",
    )
    assert not out.exists()
    r = cli("run", "--suite", "toy_reach", "--policy", pol, "--policy-args", "image_size=[8,8]", "--out", str(out))
    assert_usage_error(r, "expects 8x8 images; suite toy_reach renders 16x16")
    assert not out.exists()


def test_matching_declaration_runs(tmp_path):
    out = tmp_path / "out"
    args = ["gripper=none", "rotation=none", "control_mode=point_delta", "units=normalized"]
    pol = "tests.toy_policies:DeclaredPolicy"
    r = cli("run", "--suite", "toy_reach", "--policy", pol, "--tasks", "0", "--episodes", "0", "--max-steps", "2",
            "--policy-args", *args, "--out", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (out / "report.md").exists()


def test_scripted_experts_declare_what_they_emit():
    libero = get_suite("libero_spatial")
    libero.check_policy(load_policy("scripted_libero", {"action_space": libero.action_space}).metadata())
    widowx = get_suite("simpler_widowx")
    spec = load_policy("scripted_simpler", policy_kwargs("scripted_simpler", widowx, {})).metadata()
    widowx.check_policy(spec)
    assert spec.gripper is Gripper.OPEN_POSITIVE and spec.rotation is Rotation.AXIS_ANGLE
    with pytest.raises(UsageError, match="emits gripper open_positive"):
        libero.check_policy(spec)
    with pytest.raises(UsageError, match="emits rotation axis_angle"):
        get_suite("simpler_widowx_ms3").check_policy(spec)
    # a negative control leaves the convention it breaks undeclared, so that it still runs
    flipped = load_policy("scripted_simpler", {"flip": "gripper"}).metadata()
    assert flipped.gripper is None and flipped.rotation is Rotation.AXIS_ANGLE
    widowx.check_policy(flipped)
    assert load_policy("scripted_simpler", {"flip": "rotation"}).metadata().rotation is None


# --- the action space reaching the policy ---------------------------------------------
def test_action_space_goes_to_a_constructor_that_declares_it():
    toy = get_suite("toy_reach")
    kw = policy_kwargs("noop", toy, {})
    assert kw == {"action_space": toy.action_space}
    assert policy_kwargs("noop", toy, {"horizon": 2}) == {"action_space": toy.action_space, "horizon": 2}
    assert policy_kwargs("tests.toy_policies:ToyExpert", toy, {"gain": 2}) == {"gain": 2}  # not declared: not given
    noop = load_policy("noop", kw)
    assert noop.idle.tolist() == [0.0, 0.0] and noop.metadata().action_dim == 2
    libero = load_policy("noop", policy_kwargs("noop", get_suite("libero_spatial"), {}))
    assert libero.idle.tolist() == [0, 0, 0, 0, 0, 0, -1]
    rnd = load_policy("random", policy_kwargs("random", get_suite("simpler_widowx_ms3"), {}))
    assert rnd.low[3] == pytest.approx(-1.5707964) and rnd.high[6] == 1.0 and rnd.action_dim == 7
    # the user's arguments win over the suite's
    user = load_policy("noop", policy_kwargs("noop", toy, {"action_dim": 3, "idle_action": [1, 2, 3]}))
    assert user.idle.tolist() == [1, 2, 3]
    assert load_policy("random", policy_kwargs("random", toy, {"action_low": 0.0})).low.tolist() == [0.0, 0.0]
    # no suite (e.g. vla-eval serve without --suite): the old defaults
    assert load_policy("noop").idle.tolist() == [0, 0, 0, 0, 0, 0, -1]


def test_action_space_crosses_process_boundaries():
    a = get_suite("r2r_val_unseen").action_space
    assert pickle.loads(pickle.dumps(a)) == a  # Ray actors
    assert ActionSpace.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    text = json.dumps({"action_space": a, "x": 1}, default=json_default)
    assert json.loads(text, object_hook=json_object_hook) == {"action_space": a, "x": 1}
    # a policy replica process receives it as an ActionSpace
    toy = get_suite("toy_reach")
    replica = ProcessPolicy(
        0, "tests.toy_policies:SpaceEcho", policy_kwargs("tests.toy_policies:SpaceEcho", toy, {}), "echo"
    )
    try:
        assert replica.metadata().name == "ActionSpace:point2d:2:point_delta"
    finally:
        replica.close()
