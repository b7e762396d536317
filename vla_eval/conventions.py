"""Action conventions as typed, checked contracts: the suite's :class:`ActionSpace`.

What an action *means* (delta or absolute, which rotation format, which way the gripper
closes, in what units) is where most wrong numbers come from. Each suite's protocol file
declares it under ``action.*`` keys (``[defaults]`` or the suite's table; a suite's key
overrides the default one by one)::

    action.control_mode = "delta_eef"       # ControlMode
    action.rotation = "axis_angle"          # Rotation
    action.gripper = "close_positive"       # Gripper
    action.units = "normalized"             # Units

They are parsed into the enums below when the protocol loads (a typo or a missing key is one
clear error naming the file and the allowed values). A policy may declare the conventions
it emits in its ``PolicySpec`` (None: not declared, not checked); ``Suite.check_policy``
refuses a run whose declared conventions differ from the suite's. A policy constructor with
an ``action_space`` parameter receives the suite's ActionSpace (``vla_eval.runner.policy_kwargs``).

Kept importable on Python 3.9 (suite workers may run on an older interpreter).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping, Optional, Type, TypeVar

E = TypeVar("E", bound="Convention")


class Convention(str, Enum):
    """A closed set of named conventions; ``describe()`` says what a value means."""

    @classmethod
    def allowed(cls) -> list[str]:
        return [m.value for m in cls]

    @classmethod
    def parse(cls: Type[E], value: Any, where: str = "") -> E:
        """``value`` (a member or its string) as a member; ValueError naming ``where`` and the allowed values."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = _ALIASES.get(cls.__name__, {}).get(value, value)
            try:
                return cls(key)
            except ValueError:
                pass
        raise ValueError(f"{where or cls.key()} {value!r} is not one of {cls.allowed()}")

    @classmethod
    def parse_optional(cls: Type[E], value: Any, where: str = "") -> Optional[E]:
        """None and "" are "not declared"."""
        if value is None or value == "":
            return None
        return cls.parse(value, where)

    @classmethod
    def key(cls) -> str:
        return _KEYS[cls.__name__]

    def describe(self) -> str:
        return f"{self.value} ({_DESCRIPTIONS[type(self).__name__][self.value]})"


class ControlMode(Convention):
    """What the action vector commands (the names of the Qwen-VLA checkpoint format's control modes)."""

    DELTA_EEF = "delta_eef"
    ABS_EEF = "abs_eef"
    JOINT_ABS = "joint_abs"
    JOINT_DELTA = "joint_delta"
    NAV_DISCRETE = "nav_discrete"
    NAV_WAYPOINT = "nav_waypoint"
    POINT_DELTA = "point_delta"


class Rotation(Convention):
    """How the rotation part of an end-effector action is written."""

    AXIS_ANGLE = "axis_angle"
    EULER_XYZ = "euler_xyz"
    EULER_RPY = "euler_rpy"
    QUAT_WXYZ = "quat_wxyz"
    QUAT_XYZW = "quat_xyzw"
    NONE = "none"


class Gripper(Convention):
    """What the gripper channel(s) of an action mean."""

    CLOSE_POSITIVE = "close_positive"
    OPEN_POSITIVE = "open_positive"
    OPEN_UNIT = "open_unit"
    RELATIVE_CLOSE_POSITIVE = "relative_close_positive"
    NONE = "none"

    @classmethod
    def from_open_close(cls, open_value: float, close_value: float) -> "Gripper | None":
        """The absolute convention whose open / close commands are these values; None if none is."""
        return {(-1.0, 1.0): cls.CLOSE_POSITIVE, (1.0, -1.0): cls.OPEN_POSITIVE, (1.0, 0.0): cls.OPEN_UNIT}.get(
            (float(open_value), float(close_value))
        )


class Units(Convention):
    """The units of the continuous channels."""

    NORMALIZED = "normalized"
    M_RAD = "m_rad"
    RAD = "rad"
    ACTION_ID = "action_id"


# Per class: str-valued members of different classes compare (and hash) equal by value.
_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "ControlMode": {
        "delta_eef": "delta end-effector pose",
        "abs_eef": "absolute end-effector pose",
        "joint_abs": "absolute joint positions",
        "joint_delta": "delta joint positions",
        "nav_discrete": "discrete navigation action ids",
        "nav_waypoint": "navigation waypoints",
        "point_delta": "2-D point velocity",
    },
    "Rotation": {
        "axis_angle": "axis-angle / rotation vector",
        "euler_xyz": "euler angles, intrinsic XYZ",
        "euler_rpy": "euler roll, pitch, yaw",
        "quat_wxyz": "quaternion w, x, y, z",
        "quat_xyzw": "quaternion x, y, z, w",
        "none": "no rotation channels",
    },
    "Gripper": {
        "close_positive": "absolute, +1 close / -1 open",
        "open_positive": "absolute, +1 open / -1 closed",
        "open_unit": "absolute, 0 closed .. 1 open",
        "relative_close_positive": "relative, +1 close / -1 open / 0 keep",
        "none": "no gripper channel",
    },
    "Units": {
        "normalized": "[-1, 1], scaled by the controller",
        "m_rad": "metres and radians",
        "rad": "radians, joint positions",
        "action_id": "integral action ids",
    },
}

_KEYS = {"ControlMode": "control_mode", "Rotation": "rotation", "Gripper": "gripper", "Units": "units"}
# Earlier free-text spellings that still arrive in old policy metadata.
_ALIASES = {"ControlMode": {"OSC_POSE": "delta_eef"}}

CONVENTIONS: dict[str, type[Convention]] = {
    "control_mode": ControlMode,
    "rotation": Rotation,
    "gripper": Gripper,
    "units": Units,
}


@dataclass(frozen=True)
class ActionSpace:
    """A suite's action space: shape, range, idle action, embodiment and conventions.

    dim: D of one action. low / high: the declared range per channel (a sanity range: see each
    protocol file for what, if anything, clips). idle: the protocol's idle action (not always
    "hold still": absolute joint control has none). discrete: actions are integral ids.
    embodiment: the suite's embodiment tag (``Observation.embodiment``).
    """

    dim: int
    low: tuple[float, ...]
    high: tuple[float, ...]
    idle: tuple[float, ...]
    control_mode: ControlMode
    rotation: Rotation
    gripper: Gripper
    units: Units
    discrete: bool = False
    embodiment: str = ""

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"action space: dim must be >= 1, got {self.dim}")
        for name in ("low", "high", "idle"):
            v = tuple(float(x) for x in getattr(self, name))
            if len(v) != self.dim:
                raise ValueError(f"action space: {name} has {len(v)} values, dim is {self.dim}")
            object.__setattr__(self, name, v)
        for key, cls in CONVENTIONS.items():
            object.__setattr__(self, key, cls.parse(getattr(self, key), f"action space {key}"))
        if self.discrete != (self.control_mode is ControlMode.NAV_DISCRETE):
            raise ValueError(
                f"action space: discrete = {self.discrete} does not fit control_mode {self.control_mode.value} "
                f"(discrete actions are {ControlMode.NAV_DISCRETE.value} and only that)"
            )

    def conventions(self) -> dict[str, Convention]:
        return {key: getattr(self, key) for key in CONVENTIONS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "low": list(self.low),
            "high": list(self.high),
            "idle": list(self.idle),
            **{key: c.value for key, c in self.conventions().items()},
            "discrete": self.discrete,
            "embodiment": self.embodiment,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ActionSpace":
        return cls(
            dim=int(d["dim"]),
            low=tuple(d["low"]),
            high=tuple(d["high"]),
            idle=tuple(d["idle"]),
            discrete=bool(d.get("discrete", False)),
            embodiment=str(d.get("embodiment", "")),
            **{key: d[key] for key in CONVENTIONS},
        )


def parse_conventions(table: Any) -> dict[str, Convention]:
    """The ``action`` table of a protocol file -> {key: enum}; ValueError naming the key and the allowed values."""
    if not isinstance(table, Mapping):
        keys = " / ".join(f"action.{k}" for k in CONVENTIONS)
        raise ValueError(f"declare the action conventions {keys} (got action = {table!r})")
    unknown = sorted(set(table) - set(CONVENTIONS))
    if unknown:
        raise ValueError(f"unknown key(s) {['action.' + k for k in unknown]}; the keys are {list(CONVENTIONS)}")
    missing = [k for k in CONVENTIONS if k not in table]
    if missing:
        raise ValueError("missing " + "; ".join(f"action.{k} (one of {CONVENTIONS[k].allowed()})" for k in missing))
    return {key: cls.parse(table[key], f"action.{key}") for key, cls in CONVENTIONS.items()}


# --- policy kwargs across a JSON boundary (policy replica processes) ---------------------
_TAG = "__vla_eval_action_space__"


def json_default(obj: Any) -> Any:
    """``json.dumps(..., default=json_default)``: an ActionSpace as a tagged dict."""
    if isinstance(obj, ActionSpace):
        return {_TAG: obj.to_dict()}
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def json_object_hook(d: dict) -> Any:
    """``json.loads(..., object_hook=json_object_hook)``: the tagged dict back to an ActionSpace."""
    if len(d) == 1 and _TAG in d:
        return ActionSpace.from_dict(d[_TAG])
    return d
