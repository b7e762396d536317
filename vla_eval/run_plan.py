"""``RunPlan``: a ``vla-eval run`` resolved and validated, before anything runs or is written.

``vla_eval.runner.plan`` builds it from a :class:`RunConfig`; what depends on the policy's
metadata (known once its replicas are up) derives from the plan and that ``PolicySpec`` here,
one function each: the effective replan steps, the video mode, run.json's configuration and
the rollout loop's :class:`LoopConfig`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from vla_eval.gpus import Placement
from vla_eval.rollout import LoopConfig
from vla_eval.run_config import RunConfig
from vla_eval.suite import Suite
from vla_eval.types import EpisodeSpec, PolicySpec


@dataclass(frozen=True)
class RunPlan:
    config: RunConfig  # as given
    suite: Suite
    episodes: tuple[EpisodeSpec, ...]  # the selection, in protocol order
    policy: str  # registered name or package.module:Class (also the policy's label)
    policy_class: type
    policy_args: Mapping[str, Any]  # the user's --policy-args, parsed (run.json records these)
    policy_kwargs: Mapping[str, Any]  # what the constructor gets: user arguments + suite hints
    executor: str  # "local" or "ray"
    placement: Placement | None  # local executor: the GPUs; Ray: None (known once the cluster is up)
    video_mode: str  # failures / all / none for a policy with cameras (none: not recorded or no extra)
    python: str  # the env workers' interpreter

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    def replan_steps(self, pspec: PolicySpec) -> int:
        """--replan-steps, else the policy's, else the protocol's."""
        return self.config.replan_steps or pspec.replan_steps or self.suite.protocol.replan_steps

    def video(self, pspec: PolicySpec) -> str:
        """Videos show the policy's own camera views; a policy without cameras has none."""
        return self.video_mode if pspec.cameras else "none"

    def run_json(self, pspec: PolicySpec) -> dict[str, Any]:
        """The configuration run.json records; a resumed run must match it."""
        p = self.suite.protocol
        config: dict[str, Any] = {
            "suite": self.suite.name,
            "protocol_version": p.version,
            "policy": self.policy,
            "policy_args": dict(self.policy_args),
            "policy_name": pspec.name,
            "checkpoint": pspec.checkpoint,
            "max_steps": self.config.max_steps,
            "replan_steps": self.replan_steps(pspec),
        }
        if p.extra.get("scene_table_sha256"):  # the reference scenes the protocol fixes (LIBERO)
            config["scene_table"] = {"file": p.extra.get("scene_table", ""), "sha256": p.extra["scene_table_sha256"]}
        return config

    def loop_config(self, pspec: PolicySpec) -> LoopConfig:
        space = self.suite.protocol.action
        cfg = self.config
        replan = self.replan_steps(pspec)
        return LoopConfig(
            # Envs see the effective replan_steps (e.g. DOMINO checks its failure rules per chunk).
            policy_spec=dataclasses.replace(pspec, replan_steps=replan),
            policy_label=self.policy,
            replan_steps=replan,
            action_low=np.asarray(space.low, dtype=np.float32),
            action_high=np.asarray(space.high, dtype=np.float32),
            reply_timeout_s=cfg.reply_timeout,
            max_retries=cfg.max_retries,
            batch_wait_s=None if cfg.batch_wait_ms is None else cfg.batch_wait_ms / 1000.0,
            discrete=space.discrete,
        )
