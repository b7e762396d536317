"""DOMINO per-episode metrics from the quantities the upstream tracker records (pure; no simulator).

H-EmbodVis/DOMINO script/eval_metrics.py (EvalMetricsTracker) records, per episode: each arm's
end-effector position at the start and after every policy step, the dynamic target's position
(and where it was when it left the workspace), an out-of-bounds event, and the clutter objects
the robot touched (each once). Route completion and manipulation score are then computed here
with vla_eval.metrics.route_completion / manipulation_score.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from vla_eval.metrics import manipulation_score, route_completion


def arm_distances(
    initial: Sequence[Any | None], final: Sequence[Any | None], target: Any | None
) -> tuple[list[float], list[float]]:
    """Per-arm (d0, dT) to the final target, for the arms whose start and end are both known."""
    if target is None:
        return [], []
    t = np.asarray(target, dtype=np.float64).reshape(-1)[:3]
    d0, dT = [], []
    for a, b in zip(initial, final):
        if a is None or b is None:
            continue
        d0.append(float(np.linalg.norm(np.asarray(a, dtype=np.float64)[:3] - t)))
        dT.append(float(np.linalg.norm(np.asarray(b, dtype=np.float64)[:3] - t)))
    return d0, dT


def episode_metrics(
    success: bool,
    dynamic: bool,
    initial_ee: Sequence[Any | None],
    final_ee: Sequence[Any | None],
    target_positions: Sequence[Any],
    out_of_bounds_target: Any | None,
    out_of_bounds: bool,
    clutter_hits: int,
    fail_reason: str | None,
) -> dict[str, Any]:
    """SR / RC / MS and penalty counts of one DOMINO episode.

    The final target is where the dynamic object left the workspace, else its last recorded
    position. A failed dynamic episode whose target or arm positions are unknown gets RC = 0,
    as upstream's compute_route_completion does.
    """
    target = (
        out_of_bounds_target
        if out_of_bounds_target is not None
        else (target_positions[-1] if len(target_positions) else None)
    )
    d0, dT = arm_distances(initial_ee, final_ee, target)
    if not success and dynamic and not d0:
        rc = 0.0
    else:
        rc = route_completion(bool(success), bool(dynamic), d0, dT)
    ms = manipulation_score(rc, bool(out_of_bounds), int(clutter_hits))
    return {
        "success": bool(success),
        "route_completion": rc,
        "manipulation_score": ms,
        "out_of_bounds": bool(out_of_bounds),
        "clutter_collisions": int(clutter_hits),
        "fail_reason": fail_reason if not success else None,
        "d0_per_arm": d0,
        "dT_per_arm": dT,
    }
