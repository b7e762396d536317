"""The one policy interface, and how a policy is found by name or import path.

A policy is any object with these three methods::

    metadata() -> PolicySpec
    reset(env_ids: list[int] | None = None) -> None
    infer_batch(observations: list[Observation]) -> np.ndarray   # [B, H, D]

Subclassing :class:`Policy` is optional; ``--policy package.module:ClassName`` loads any
class that has them. Registered names (``noop``, ``random`` ...) map to such classes.
"""

from __future__ import annotations

import abc
import inspect
from typing import Any, Mapping, Sequence

import numpy as np

from vla_eval.errors import UsageError
from vla_eval.registry import Discovery, Registry, import_object
from vla_eval.types import Observation, PolicySpec

POLICY_METHODS = ("metadata", "reset", "infer_batch")


class Policy(abc.ABC):
    """Optional base class for policies. Construct with keyword arguments only."""

    @abc.abstractmethod
    def metadata(self) -> PolicySpec: ...

    def reset(self, env_ids: Sequence[int] | None = None) -> None:  # noqa: B027 - optional hook
        """Forget per-env history for ``env_ids`` (all envs when None)."""

    @abc.abstractmethod
    def infer_batch(self, observations: list[Observation]) -> np.ndarray:
        """Return float32 actions of shape [len(observations), H, D]."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (servers, GPU memory)."""


# Each policy package (policies/<name>/__init__.py) declares its names: POLICIES = {name: "module:Class"}
# and POLICY_SCHEMES = {scheme: "module:Class"} (``--policy SCHEME://ADDRESS`` constructs the class with
# ``url=`` the whole string). Other distributions use the entry-point groups of the same names.
POLICIES: Registry[type] = Registry("policy", Discovery("POLICIES", ("vla_eval.policies",), "vla_eval.policies"))
POLICY_SCHEMES: Registry[type] = Registry(
    "policy scheme", Discovery("POLICY_SCHEMES", ("vla_eval.policies",), "vla_eval.policy_schemes")
)


def policy_scheme(name_or_path: str) -> str | None:
    """``"openpi://host:port"`` -> ``"openpi"``; None for names and import paths."""
    scheme, sep, _ = name_or_path.partition("://")
    return scheme if sep else None


def parse_policy_args(items: Sequence[str]) -> dict[str, Any]:
    """``["seed=3", "scale=0.5", "name=x"]`` -> ``{"seed": 3, "scale": 0.5, "name": "x"}``."""
    import json

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--policy-arg {item!r} is not KEY=VALUE")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def resolve_policy_class(name_or_path: str) -> type:
    scheme = policy_scheme(name_or_path)
    cls = POLICY_SCHEMES.get(scheme) if scheme is not None else None
    if cls is None and name_or_path in POLICIES:
        cls = POLICIES.get(name_or_path)
    if cls is None:
        if ":" not in name_or_path and "." not in name_or_path:
            POLICIES.get(name_or_path)  # raises the "unknown policy" error with the known names
        cls = import_object(name_or_path)
    if not inspect.isclass(cls):
        raise UsageError(f"policy {name_or_path!r} is not a class")
    missing = [m for m in POLICY_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise UsageError(
            f"policy {name_or_path!r} does not implement the policy interface: missing {', '.join(missing)}"
        )
    return cls


def load_policy(name_or_path: str, args: Mapping[str, Any] | None = None) -> Any:
    """Instantiate a policy and check that its metadata is a PolicySpec."""
    cls = resolve_policy_class(name_or_path)
    if policy_scheme(name_or_path) is not None:
        args = {**dict(args or {}), "url": name_or_path}
    try:
        policy = cls(**dict(args or {}))
    except TypeError as e:
        raise UsageError(f"cannot construct policy {name_or_path!r} with {dict(args or {})}: {e}") from None
    spec = policy.metadata()
    if not isinstance(spec, PolicySpec):
        raise UsageError(f"policy {name_or_path!r}: metadata() returned {type(spec).__name__}, not PolicySpec")
    return policy
