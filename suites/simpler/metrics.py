"""SimplerEnv partial (grasp) metrics of one episode (pure; no simulator).

Definitions follow ``shared/research/protocols.md`` section 2. Bad input raises ``ValueError``
naming the argument.
"""

from __future__ import annotations

from typing import Sequence

from vla_eval.checks import bool_series, count

__all__ = ["ever_grasped", "consecutive_grasp"]


def ever_grasped(series: Sequence[bool]) -> bool:
    """SimplerEnv "is_src_obj_grasped" episode metric: grasped at any step.

    Source: protocols.md §2 (simpler-env/SimplerEnv; ManiSkill2_real2sim
    put_on_in_scene.py ``is_src_obj_grasped``).  ``series`` is the per-step
    boolean (or 0/1) value of ``is_src_obj_grasped``; it must be non-empty.
    """
    arr = bool_series("series", series)
    return bool(arr.any())


def consecutive_grasp(series: Sequence[bool], min_steps: int = 5) -> bool:
    """SimplerEnv "consecutive_grasp" episode metric.

    Source: protocols.md §2 (ManiSkill2_real2sim put_on_in_scene.py: a counter
    of consecutive grasped steps, reset on a non-grasped step; the flag is
    ``counter >= 5``).  True iff some run of consecutive True values in
    ``series`` has length >= ``min_steps`` (default 5).

    Raises ValueError for an empty series, non-bool values, or min_steps < 1.
    """
    arr = bool_series("series", series)
    steps = count("min_steps", min_steps)
    if steps < 1:
        raise ValueError(f"min_steps must be >= 1, got {steps}")
    run = 0
    for v in arr:
        run = run + 1 if v else 0
        if run >= steps:
            return True
    return False
