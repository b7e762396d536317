"""Privileged scripted experts: end-to-end checks that a suite's harness is right."""

from vla_eval.policies.scripted.libero_expert import LiberoScriptedExpert
from vla_eval.policies.scripted.simpler_expert import SimplerWidowXExpert

__all__ = ["LiberoScriptedExpert", "SimplerWidowXExpert"]

POLICIES = {
    "scripted_libero": "vla_eval.policies.scripted:LiberoScriptedExpert",
    "scripted_simpler": "vla_eval.policies.scripted:SimplerWidowXExpert",
}
