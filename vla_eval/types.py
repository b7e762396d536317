"""The typed records that cross every boundary of the harness.

All are frozen dataclasses. Arrays inside them are numpy arrays; records that go to disk
or over the wire are converted with ``to_dict`` / ``from_dict`` (plain JSON/msgpack types).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from vla_eval.conventions import CONVENTIONS, ControlMode, Gripper, Rotation, Units

# An action chunk: float32 array of shape [H, D] (H steps of a D-dimensional action).
ActionChunk = np.ndarray


@dataclass(frozen=True)
class Observation:
    """What a policy sees at one decision point.

    images: camera name -> uint8 array [H, W, 3], upright (the suite applies any flips its
        protocol prescribes, e.g. LIBERO's 180 degree rotation).
    state: proprioceptive state, float32 [S] in the suite's raw units.
    instruction: the task's language instruction, for this env only.
    embodiment: the suite's embodiment tag (e.g. "franka_libero").
    env_id: the runner slot that produced this observation; stable for one episode.
    episode_id: the content-addressed id of the episode.
    extras: anything else the suite exposes; privileged simulator state appears here only
        when the policy's metadata asks for it (``PolicySpec.privileged``).
    """

    images: Mapping[str, np.ndarray]
    state: np.ndarray
    instruction: str
    embodiment: str = ""
    env_id: int = 0
    episode_id: str = ""
    step: int = 0
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicySpec:
    """A policy's contract with the harness (its ``metadata()``).

    action_dim: D of the chunks it returns; must equal the suite's action dimension.
    horizon: H of the chunks it returns.
    control_mode, rotation, gripper, units: the action conventions it emits
        (``vla_eval.conventions``; a member or its string). None: not declared, not checked;
        declared: ``Suite.check_policy`` refuses a suite whose convention differs.
    cameras: the suite camera names it needs; only these are rendered.
    image_size: (H, W) the images must have, or None (any: the policy resizes). The harness
        hands images over as the suite renders them and never resizes, so a declared size that
        differs from the suite's is refused by ``Suite.check_policy``.
    needs_state: whether it reads ``Observation.state``. Informational: the state is always
        sent (a few dozen floats per observation; recorded trajectories and the worker's step
        trace read it), so False never strips it.
    replan_steps: how many actions of each chunk to execute before asking again
        (None: the suite's protocol default).
    max_batch: the largest batch ``infer_batch`` accepts.
    privileged: asks for privileged simulator state in ``Observation.extras``
        (scripted experts only; a learned policy must leave it False).
    checkpoint: a content hash of the weights, or None for weightless policies.
    """

    name: str
    action_dim: int
    horizon: int = 1
    control_mode: ControlMode | None = None
    cameras: tuple[str, ...] = ()
    image_size: tuple[int, int] | None = None
    needs_state: bool = True
    replan_steps: int | None = None
    max_batch: int = 64
    privileged: bool = False
    checkpoint: str | None = None
    rotation: Rotation | None = None
    gripper: Gripper | None = None
    units: Units | None = None

    def __post_init__(self) -> None:
        if self.action_dim < 1 or self.horizon < 1 or self.max_batch < 1:
            raise ValueError(f"PolicySpec {self.name!r}: action_dim, horizon and max_batch must be >= 1")
        if self.replan_steps is not None and not 1 <= self.replan_steps:
            raise ValueError(f"PolicySpec {self.name!r}: replan_steps must be >= 1")
        for key, cls in CONVENTIONS.items():  # strings (the wire, old metadata: "") -> members or None
            object.__setattr__(self, key, cls.parse_optional(getattr(self, key), f"PolicySpec {self.name!r} {key}"))
        if self.image_size is not None:
            object.__setattr__(self, "image_size", tuple(int(x) for x in self.image_size))


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode of a suite's protocol, fully determined by its fields.

    ``episode_id`` is a content hash of the protocol-defining fields (not of the policy), so
    the same episode has the same id in every run and two checkpoints' runs pair up by id.
    """

    episode_id: str
    suite: str
    protocol_version: str
    task_index: int
    task: str
    episode_index: int
    seed: int
    max_steps: int
    instruction: str = ""
    init_state_id: str = ""
    # A scene the protocol fixes beyond the init state (LIBERO: the reference loop's scene table
    # hash), "" when the suite has none. Part of the episode id when set.
    scene_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EpisodeSpec":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


@dataclass(frozen=True)
class Timing:
    sim_s: float = 0.0
    policy_s: float = 0.0
    harness_s: float = 0.0
    total_s: float = 0.0


class EpisodeStatus(enum.StrEnum):
    """How an episode ended; the strings are what the ledger and the wire carry."""

    OK = "ok"  # it ran to its end (a success or a failure)
    ERROR = "error"  # it could not be completed, or the policy broke its contract


class ErrorClass(enum.StrEnum):
    """Whose fault an error is; the strings are what the ledger and the wire carry."""

    POLICY = "policy"  # the policy broke its contract: a failure of the policy
    SIMULATOR = "simulator"  # the simulator raised (retried, then not counted)
    INFRASTRUCTURE = "infrastructure"  # a worker or replica died (retried, then not counted)
    TIMEOUT = "timeout"  # a worker did not reply in time (retried, then not counted)


@dataclass(frozen=True)
class EpisodeResult:
    """The outcome of one episode; one line of the ledger.

    status: "ok" (the episode ran to its end: success or failure) or "error" (it could not
        be completed: a bad action, a simulator exception, a dead worker).
    error_class: "policy" (the policy broke the contract), "simulator", "infrastructure",
        "timeout" or None. Errors are never counted as policy failures in success rates.
    Both are str enums (:class:`EpisodeStatus`, :class:`ErrorClass`); plain strings given here
    are converted, so they compare, print and serialize as those strings.
    """

    episode: EpisodeSpec
    status: EpisodeStatus
    success: bool
    steps: int
    metrics: Mapping[str, Any]
    timing: Timing
    error: str | None = None
    error_class: ErrorClass | None = None
    attempts: int = 1  # 1 + the retries after worker deaths, hangs or simulator exceptions
    worker: int | None = None  # the env worker slot that ran the (last) attempt

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", EpisodeStatus(self.status))
        if self.error_class is not None:
            object.__setattr__(self, "error_class", ErrorClass(self.error_class))
