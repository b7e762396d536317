"""DOMINO per-episode metrics from the quantities the upstream tracker records (pure; no simulator).

H-EmbodVis/DOMINO script/eval_metrics.py (EvalMetricsTracker) records, per episode: each arm's
end-effector position at the start and after every policy step, the dynamic target's position
(and where it was when it left the workspace), an out-of-bounds event, and the clutter objects
the robot touched (each once). Route completion and manipulation score are then computed here
(``route_completion`` / ``manipulation_score``, the formulas of protocols.md section 5).

Scale: route completion and manipulation score are on ``[0, 100]``, as in DOMINO's
``script/eval_metrics.py``. Bad input to the formulas raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from vla_eval.checks import count, flag, real


def route_completion(success: bool, dynamic: bool, d0_per_arm: Sequence[float], dT_per_arm: Sequence[float]) -> float:
    """DOMINO Route Completion (RC) of one episode, on the 0..100 scale.

    Source: protocols.md §5 (H-EmbodVis/DOMINO script/eval_metrics.py,
    ``compute_route_completion``):
      * success -> 100;
      * failed static (non-dynamic) episode -> 0;
      * failed dynamic episode -> max over arms of a per-arm progress, x 100:
          - ``d0 >= 0.01``: ``clip((d0 - dT) / d0, 0, 1)``;
          - ``d0 < 0.01`` (arm started on the target): 1.0 if ``dT < 0.05`` else 0.5.
        ``d`` is the end-effector to target distance (target position where it
        went out of bounds), ``d0`` at the start and ``dT`` at the end.

    Scale choice: the d0 < 0.01 rule is applied, as upstream, on the 0..1
    progress scale *before* the x100, so it contributes **100** (dT < 0.05) or
    **50** (otherwise) to the 0..100 RC.

    ``d0_per_arm`` and ``dT_per_arm`` are per-arm distances (>= 0, finite) of
    equal length; they must be non-empty for a failed dynamic episode (upstream
    falls back to RC = 0 when no arm position is known; here missing data is an
    error).  They are validated whenever given, even when they do not matter.
    """
    s = flag("success", success)
    dyn = flag("dynamic", dynamic)
    for name, seq in (("d0_per_arm", d0_per_arm), ("dT_per_arm", dT_per_arm)):
        if isinstance(seq, (str, bytes)) or np.ndim(seq) != 1:
            raise ValueError(f"{name} must be a 1-D sequence of per-arm distances, got {seq!r}")
    d0_list = list(d0_per_arm)
    dT_list = list(dT_per_arm)
    if len(d0_list) != len(dT_list):
        raise ValueError(f"d0_per_arm and dT_per_arm must have the same length, got {len(d0_list)} and {len(dT_list)}")
    d0 = [real(f"d0_per_arm[{i}]", v, min_value=0.0) for i, v in enumerate(d0_list)]
    dT = [real(f"dT_per_arm[{i}]", v, min_value=0.0) for i, v in enumerate(dT_list)]
    if s:
        return 100.0
    if not dyn:
        return 0.0
    if not d0:
        raise ValueError("a failed dynamic episode needs at least one arm's d0/dT distances")
    best = 0.0
    for a0, aT in zip(d0, dT):
        if a0 < 0.01:
            progress = 1.0 if aT < 0.05 else 0.5
        else:
            progress = min(1.0, max(0.0, (a0 - aT) / a0))
        best = max(best, progress)
    return best * 100.0


def manipulation_score(rc: float, out_of_bounds: bool, clutter_collisions: int) -> float:
    """DOMINO Manipulation Score (MS) of one episode: ``RC x prod(penalty factors)``.

    Source: protocols.md §5 (H-EmbodVis/DOMINO script/eval_metrics.py):
    out-of-bounds factor 0.5 (applied once here), 0.8 per clutter object the
    robot collided with (upstream penalizes each clutter object once per episode,
    so pass the number of *distinct* clutter objects hit):
    ``MS = rc * (0.5 if out_of_bounds else 1) * 0.8 ** clutter_collisions``.

    ``rc`` is on the 0..100 scale (see ``route_completion``).  Raises ValueError
    for rc outside [0, 100] or NaN, and for negative / non-integer collision counts.
    """
    rc = real("rc", rc, min_value=0.0)
    if rc > 100.0:
        raise ValueError(f"rc must be in [0, 100], got {rc}")
    oob = flag("out_of_bounds", out_of_bounds)
    n_coll = count("clutter_collisions", clutter_collisions)
    return rc * (0.5 if oob else 1.0) * (0.8**n_coll)


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
