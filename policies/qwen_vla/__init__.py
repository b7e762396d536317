"""Qwen-VLA: a Qwen3.5 VLM backbone plus a flow-matching DiT action decoder.

``spec`` (checkpoint format and embodiments) and ``embodiments`` (per-suite mapping) import
no torch; ``policy``, ``model``, ``checkpoint`` and ``tiny`` do. ``QwenVLAPolicy`` is
imported lazily so that ``import vla_eval.policies.qwen_vla.spec`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["QwenVLAPolicy", "make_tiny_checkpoint"]

POLICIES = {"qwen_vla": "vla_eval.policies.qwen_vla:QwenVLAPolicy"}
COMMANDS = {"make-tiny-qwen-vla": "vla_eval.policies.qwen_vla.commands:make_tiny_qwen_vla"}


def __getattr__(name: str) -> Any:
    if name == "QwenVLAPolicy":
        from vla_eval.policies.qwen_vla.policy import QwenVLAPolicy

        return QwenVLAPolicy
    if name == "make_tiny_checkpoint":
        from vla_eval.policies.qwen_vla.tiny import make_tiny_checkpoint

        return make_tiny_checkpoint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
