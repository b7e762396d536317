"""The suite interface: a protocol file plans episodes; a suite makes one env per episode.

A suite folder (``suites/<name>/``, installed as ``vla_eval.suites.<name>``) holds a protocol
file and a driver. Its ``__init__`` imports no simulator and exposes ``SUITES``: a mapping of
suite names to ``"module:Class"`` strings of :class:`Suite` subclasses; the simulator is
imported only by ``make_env``. Third-party suites register through the ``vla_eval.suites``
entry-point group with the same kind of value.
"""

from __future__ import annotations

import abc
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vla_eval.conventions import CONVENTIONS, ActionSpace, parse_conventions
from vla_eval.errors import UsageError
from vla_eval.registry import Discovery, Registry
from vla_eval.tomlfile import read_toml
from vla_eval.types import EpisodeSpec, Observation, PolicySpec


@dataclass(frozen=True)
class TaskSpec:
    name: str
    instruction: str
    episodes: int
    max_steps: int
    init_states_sha256: str = ""


@dataclass(frozen=True)
class Protocol:
    """A suite's official evaluation protocol, as read from its protocol file."""

    suite: str
    version: str
    source: str
    seed: int
    action_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    idle_action: tuple[float, ...]
    replan_steps: int
    cameras: tuple[str, ...]
    image_size: tuple[int, int]
    embodiment: str
    tasks: tuple[TaskSpec, ...]
    action: ActionSpace  # the fields above as one typed record, with the declared conventions
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_episodes(self) -> int:
        return sum(t.episodes for t in self.tasks)

    @property
    def base_suite(self) -> str:
        """The suite this one is a variant of (see ``[variants]`` in protocol files), else itself."""
        return str(self.extra.get("variant_of", self.suite))


def load_protocols(path: Path) -> dict[str, Protocol]:
    """Read a protocol TOML file: one table per suite, shared keys under ``[defaults]``.

    The file is parsed once per process (``vla_eval.tomlfile``); each call builds new Protocols.
    The ``action.*`` keys (conventions, see ``vla_eval.conventions``) merge key by key: a suite's
    ``action.rotation`` overrides the default one and keeps the other defaults.
    """
    doc = read_toml(path)
    defaults = doc.pop("defaults", {})
    out = {}
    for suite, table in _with_variants(doc, path).items():
        d = {**defaults, **table}
        action = d.pop("action", None)
        if isinstance(defaults.get("action"), Mapping) and isinstance(table.get("action"), Mapping):
            action = {**defaults["action"], **table["action"]}
        max_steps = int(d.pop("max_steps"))
        episodes = int(d.pop("episodes_per_task"))
        tasks = tuple(
            TaskSpec(
                name=t["name"],
                instruction=t["instruction"],
                episodes=int(t.get("episodes", episodes)),
                max_steps=int(t.get("max_steps", max_steps)),
                init_states_sha256=t.get("init_states_sha256", ""),
            )
            for t in d.pop("tasks")
        )
        core = {
            "suite": suite,
            "version": str(d.pop("version")),
            "source": d.pop("source"),
            "seed": int(d.pop("seed")),
            "action_dim": int(d.pop("action_dim")),
            "action_low": tuple(float(x) for x in d.pop("action_low")),
            "action_high": tuple(float(x) for x in d.pop("action_high")),
            "idle_action": tuple(float(x) for x in d.pop("idle_action")),
            "replan_steps": int(d.pop("replan_steps")),
            "cameras": tuple(d.pop("cameras")),
            "image_size": tuple(d.pop("image_size")),
            "embodiment": d.pop("embodiment"),
        }
        try:
            conventions = parse_conventions(action)
            space = ActionSpace(
                dim=core["action_dim"],
                low=core["action_low"],
                high=core["action_high"],
                idle=core["idle_action"],
                discrete=bool(d.get("discrete_actions", False)),
                embodiment=core["embodiment"],
                **conventions,
            )
        except ValueError as e:
            raise UsageError(f"protocol {path} [{suite}]: {e}") from None
        out[suite] = Protocol(**core, tasks=tasks, action=space, extra=d)
    return out


def _with_variants(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """The suite tables of a protocol file, plus one suite per (variant, member suite).

    ``[variants.NAME]`` declares a named variant of some of the file's suites: ``suites`` (the
    members), ``suffix`` (the variant suite is ``member + suffix``; default ``_NAME``) and keys that
    override the member's (and the defaults') values, e.g. another reference loop's seed and scene
    table. A variant suite is its member's protocol with those overrides; its ``variant`` and
    ``variant_of`` (the member) are in ``Protocol.extra``.
    """
    doc = dict(doc)
    variants = doc.pop("variants", {})
    tables = dict(doc)
    for vname, v in variants.items():
        v = dict(v)
        suffix = v.pop("suffix", f"_{vname}")
        members = v.pop("suites", None)
        if not isinstance(members, list) or not members:
            raise UsageError(f"protocol {path} [variants.{vname}]: 'suites' must list the member suites")
        for base in members:
            if base not in doc:
                raise UsageError(f"protocol {path} [variants.{vname}]: no suite {base!r} in this file")
            name = f"{base}{suffix}"
            if name in tables:
                raise UsageError(f"protocol {path} [variants.{vname}]: suite {name!r} is declared twice")
            tables[name] = {**doc[base], **v, "variant": vname, "variant_of": base}
    return tables


def episode_id(
    suite: str,
    protocol_version: str,
    task: str,
    episode_index: int,
    seed: int,
    init_state_id: str,
    max_steps: int,
    scene_id: str = "",
) -> str:
    """Content-addressed episode id: the same episode has the same id in every run.

    It covers what defines the episode (not the policy), so runs of two checkpoints pair up.
    """
    fields: list = [suite, protocol_version, task, episode_index, seed, init_state_id, max_steps]
    if scene_id:
        fields.append(scene_id)
    key = json.dumps(fields, separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def package_versions(*dists: str) -> dict[str, str]:
    """Installed versions of the named distributions (missing ones left out); no import."""
    from importlib import metadata

    out = {}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def parse_index_set(text: str | None, n: int, what: str, where: str = "") -> list[int]:
    """Parse ``"0,3"``, ``"2"``, ``"0:5"``, ``"5:"``, ``":"`` or ``"0:10,20:25"`` into sorted indices < n."""
    if text is None or text.strip() in ("", ":", "all"):
        return list(range(n))
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        try:
            if ":" in part:
                a, _, b = part.partition(":")
                lo = int(a) if a.strip() else 0
                hi = int(b) if b.strip() else n
                if lo < 0 or hi < lo:
                    raise ValueError
                if hi > n:
                    raise UsageError(f"{what} range {part!r} is out of range: {where}there are {n} (0..{n - 1})")
                out.update(range(lo, hi))
            else:
                i = int(part)
                if not 0 <= i < n:
                    raise UsageError(f"{what} index {i} is out of range: {where}there are {n} (0..{n - 1})")
                out.add(i)
        except ValueError:
            raise UsageError(
                f"malformed {what} selection {text!r}: use indices and ranges such as 0,3 or 0:5"
            ) from None
    if not out:
        raise UsageError(f"{what} selection {text!r} selects nothing")
    return sorted(out)


class SuiteEnv(abc.ABC):
    """One simulator instance running one episode at a time."""

    @abc.abstractmethod
    def reset(self, spec: EpisodeSpec) -> Observation:
        """Start ``spec`` (protocol init state, seed, warm-up steps); return the first observation.

        An env may be reset many times with different episodes of the same ``Suite.env_key``.
        """

    @abc.abstractmethod
    def step(self, action: np.ndarray) -> tuple[Observation, bool, dict[str, Any]]:
        """Apply one validated action; return (observation, done, info). done ends the episode."""

    @abc.abstractmethod
    def result(self) -> dict[str, Any]:
        """Episode metrics; must include ``success`` (bool) under the suite's success rule."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


class Suite(abc.ABC):
    """A benchmark suite: its protocol, its episode plan and its env factory."""

    protocol_file: Path  # set by subclasses

    def __init__(self, name: str) -> None:
        self.name = name
        protocols = load_protocols(self.protocol_file)
        if name not in protocols:
            raise UsageError(f"protocol file {self.protocol_file.name} has no suite {name!r}")
        self.protocol = protocols[name]

    # --- planning (no simulator) -------------------------------------------------------
    def plan(
        self, tasks: str | None = None, episodes: str | None = None, max_steps: int | None = None
    ) -> list[EpisodeSpec]:
        p = self.protocol
        task_ids = parse_index_set(tasks, len(p.tasks), "task")
        if max_steps is not None and max_steps < 1:
            raise UsageError(f"--max-steps must be >= 1, got {max_steps}")
        specs = []
        for ti in task_ids:
            t = p.tasks[ti]
            for ei in parse_index_set(episodes, t.episodes, "episode", f"in task {ti} "):
                init_id = f"{t.init_states_sha256[:16]}#{ei}" if t.init_states_sha256 else str(ei)
                steps = max_steps if max_steps is not None else t.max_steps
                specs.append(self.episode_spec(ti, ei, steps, t.instruction, init_id))
        return specs

    def episode_spec(
        self, task_index: int, episode_index: int, max_steps: int, instruction: str, init_state_id: str
    ) -> EpisodeSpec:
        """The EpisodeSpec of one episode, with its content-addressed id."""
        p = self.protocol
        task = p.tasks[task_index].name
        scene = self.scene_id(task_index, episode_index)
        return EpisodeSpec(
            episode_id=episode_id(p.suite, p.version, task, episode_index, p.seed, init_state_id, max_steps, scene),
            suite=p.suite,
            protocol_version=p.version,
            task_index=task_index,
            task=task,
            episode_index=episode_index,
            seed=p.seed,
            max_steps=max_steps,
            instruction=instruction,
            init_state_id=init_state_id,
            scene_id=scene,
        )

    def scene_id(self, task_index: int, episode_index: int) -> str:
        """The id of the scene the protocol fixes for this episode beyond its init state ("" if none).

        Protocols with a scene table name it with ``scene_table`` and ``scene_table_sha256``.
        """
        digest = self.protocol.extra.get("scene_table_sha256", "")
        return f"{digest[:16]}#{task_index}/{episode_index}" if digest else ""

    @property
    def action_space(self) -> ActionSpace:
        """What a policy constructor with an ``action_space`` parameter receives."""
        return self.protocol.action

    def check_policy(self, spec: PolicySpec) -> None:
        """Refuse (UsageError, one line) a policy whose declared contract does not fit this suite."""
        p = self.protocol
        if spec.action_dim != p.action_dim:
            raise UsageError(
                f"policy {spec.name!r} returns {spec.action_dim}-D actions; suite {self.name} takes {p.action_dim}-D"
            )
        for key in CONVENTIONS:  # None: not declared, not checked
            ours, theirs = getattr(p.action, key), getattr(spec, key)
            if theirs is not None and theirs is not ours:
                raise UsageError(
                    f"policy {spec.name!r} emits {key} {theirs.describe()}; "
                    f"suite {self.name} takes {key} {ours.describe()}"
                )
        unknown = [c for c in spec.cameras if c not in p.cameras]
        if unknown:
            raise UsageError(
                f"policy {spec.name!r} asks for cameras {unknown}; suite {self.name} has {list(p.cameras)}"
            )
        # The harness hands images over as the suite renders them (it never resizes): a policy
        # that declares a fixed input size must match, or leave image_size unset and resize itself.
        if spec.image_size is not None and tuple(spec.image_size) != tuple(p.image_size):
            (h, w), (ph, pw) = spec.image_size, p.image_size
            raise UsageError(
                f"policy {spec.name!r} expects {h}x{w} images; suite {self.name} renders {ph}x{pw} "
                "(the harness does not resize: resize in the policy and leave image_size unset)"
            )

    # --- the simulator -------------------------------------------------------------------
    @abc.abstractmethod
    def availability(self) -> tuple[bool, str]:
        """(importable, one-line reason when not). Must be cheap and import no simulator."""

    @abc.abstractmethod
    def prepare(self) -> dict[str, str]:
        """Called once in the runner before workers start: check the simulator really loads here.

        Raises SimulatorUnavailable with one line saying what to install. Returns environment
        variables that workers must inherit (e.g. the GL backend that was found to work).
        """

    @abc.abstractmethod
    def make_env(self, spec: EpisodeSpec, policy: PolicySpec) -> SuiteEnv:
        """Build (or reuse) a simulator for this episode. Imports the simulator."""

    def env_key(self, spec: EpisodeSpec, policy: PolicySpec) -> Any:
        """Episodes with equal keys may reuse one env (reset between them)."""
        return None

    def versions(self) -> dict[str, str]:
        """Versions of the simulator packages, for the ledger."""
        return {}


# Each suite package exposes SUITES; other distributions use the "vla_eval.suites" entry-point group.
SUITES: Registry[type] = Registry("suite", Discovery("SUITES", ("vla_eval.suites",), "vla_eval.suites"))


def suite_names() -> list[str]:
    return SUITES.names()


def get_suite(name: str) -> Suite:
    cls = SUITES.get(name)
    return cls(name)


def selection_summary(specs: Sequence[EpisodeSpec]) -> str:
    tasks = sorted({s.task_index for s in specs})
    return f"{len(specs)} episodes over {len(tasks)} task(s)"
