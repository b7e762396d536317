"""VLN-CE per-episode navigation metrics (pure; no simulator): SR, OSR, NE, SPL, DTW, nDTW, SDTW.

Definitions follow ``shared/research/protocols.md`` section 6; each docstring names its source.
Bad input raises ``ValueError`` naming the argument. The driver computes a row's metrics with these
(``driver.NavRecorder``); ``ndtw.py`` holds VLN-CE's own fastdtw variant. Python 3.9 compatible
(the VLN-CE env worker may run on it).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from vla_eval.checks import flag, real, real_series

__all__ = ["spl", "dtw_distance", "ndtw", "sdtw", "navigation_error", "oracle_success", "nav_success"]


def _path(name: str, points: Any) -> np.ndarray:
    """A path as a float array [N, D] with N >= 1, D in {2, 3}, all finite."""
    try:
        arr = np.asarray(points, dtype=float)
    except Exception as exc:
        raise ValueError(f"{name} must be an array of points [N, 2] or [N, 3]: {exc}") from exc
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise ValueError(f"{name} must have shape [N, 2] or [N, 3], got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one point")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def spl(success: bool, shortest_path: float, path_length: float) -> float:
    """Success weighted by Path Length for one episode.

    Source: protocols.md §6 (Anderson et al. 2018; jacobkrantz/VLN-CE
    habitat_extensions/measures.py, habitat-lab nav.py SPL):
    ``SPL = S * l / max(l, p)`` with ``l`` = geodesic start->goal distance at
    reset and ``p`` = the agent's path length (sum of Euclidean step displacements).

    Edge cases (documented choices):
      * failure -> 0.0 regardless of l and p;
      * success with l == p == 0 (started on the goal and never moved) -> 1.0
        (the 0/0 form is taken as a perfect path);
      * success with l == 0 and p > 0 -> 0.0 (the formula: 0 / p);
      * success with p < l (can happen numerically) -> 1.0 (l / max(l, p)).

    Raises ValueError for negative, NaN or infinite distances, or a success flag
    that is not a bool / 0 / 1.
    """
    s = flag("success", success)
    l_dist = real("shortest_path", shortest_path, min_value=0.0)
    p_dist = real("path_length", path_length, min_value=0.0)
    if not s:
        return 0.0
    denom = max(l_dist, p_dist)
    if denom == 0.0:
        return 1.0
    return l_dist / denom


def dtw_distance(path: Any, reference: Any) -> float:
    """Classic dynamic-time-warping distance between two point sequences.

    Source: protocols.md §6 (Magalhaes et al. 2019, "Effective and General
    Evaluation for Instruction Conditioned Navigation using Dynamic Time
    Warping"; VLN-CE NDTW measure).  Point cost is the Euclidean distance;
    ``D[i, j] = c(i, j) + min(D[i-1, j], D[i, j-1], D[i-1, j-1])`` with
    ``D[0, 0] = c(0, 0)``, result ``D[N-1, M-1]``.  This is the exact DTW
    (VLN-CE's ``dtw`` option); VLN-CE configs with FDTW=True use fastdtw, an
    approximation that can give slightly larger distances.

    ``path`` and ``reference`` are arrays [N, 2] or [N, 3] of the same point
    dimension, each with at least one point.  The recursion is evaluated one
    anti-diagonal at a time with numpy (O(N*M) work, O(N+M) numpy calls).

    Raises ValueError for empty paths, wrong shapes, mismatched point
    dimensions, or NaN/inf coordinates.
    """
    q = _path("path", path)
    r = _path("reference", reference)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"path and reference must have the same point dimension, got {q.shape[1]} and {r.shape[1]}")
    n, m = q.shape[0], r.shape[0]
    cost = np.sqrt(((q[:, None, :] - r[None, :, :]) ** 2).sum(axis=-1))
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    # acc[i + 1, j + 1] holds D[i, j]; cells on anti-diagonal s = i + j only depend
    # on diagonals s - 1 and s - 2, so each diagonal is one vectorized update.
    for s in range(n + m - 1):
        i = np.arange(max(0, s - m + 1), min(n - 1, s) + 1)
        j = s - i
        best_prev = np.minimum(np.minimum(acc[i, j + 1], acc[i + 1, j]), acc[i, j])
        acc[i + 1, j + 1] = cost[i, j] + best_prev
    return float(acc[n, m])


def ndtw(path: Any, reference: Any, success_distance: float = 3.0) -> float:
    """Normalized DTW: ``exp(-DTW(Q, R) / (|R| * d_th))``.

    Source: protocols.md §6 (Magalhaes et al. 2019; jacobkrantz/VLN-CE
    habitat_extensions/measures.py NDTW).  ``Q`` is the agent's path (VLN-CE
    keeps only consecutive *distinct* positions; deduplicate before calling to
    match it), ``R`` the reference path, ``d_th`` the success distance (3.0 m
    for R2R/RxR).  The value is in (0, 1] and equals 1 iff DTW = 0 (e.g.
    ``path == reference``); for paths astronomically far from the reference the
    float result can underflow to 0.0.

    Raises ValueError as ``dtw_distance`` does, or for success_distance <= 0 / NaN.
    """
    d_th = real("success_distance", success_distance, min_value=0.0, strict_min=True)
    dist = dtw_distance(path, reference)
    n_ref = np.asarray(reference, dtype=float).shape[0]
    return math.exp(-dist / (n_ref * d_th))


def sdtw(path: Any, reference: Any, success: bool, success_distance: float = 3.0) -> float:
    """Success-weighted nDTW: ``nDTW * S``.

    Source: protocols.md §6 (Magalhaes et al. 2019; VLN-CE SDTW measure), where
    ``S`` is the episode success (stop called and final distance < 3.0 m; see
    ``nav_success``).  Inputs are validated even when ``success`` is False.
    """
    s = flag("success", success)
    value = ndtw(path, reference, success_distance)
    return value if s else 0.0


def navigation_error(distances: Sequence[float]) -> float:
    """Navigation Error (NE): the distance to the goal at the last step.

    Source: protocols.md §6 (VLN-CE / habitat-lab DistanceToGoal at episode end).
    ``distances`` is the per-step geodesic distance to the goal (non-empty, no
    NaN, >= 0; +inf is allowed because habitat reports inf for unreachable points).
    """
    d = real_series("distances", distances, nonneg=True, allow_inf=True)
    return float(d[-1])


def oracle_success(distances: Sequence[float], success_distance: float = 3.0) -> bool:
    """Oracle Success (OSR): True if the distance to goal was < d_th at any step.

    Source: protocols.md §6 (VLN-CE habitat_extensions/measures.py
    OracleSuccess: ``distance_to_target < SUCCESS_DISTANCE``, strict).
    Same input rules as ``navigation_error``; success_distance must be > 0.
    """
    d = real_series("distances", distances, nonneg=True, allow_inf=True)
    d_th = real("success_distance", success_distance, min_value=0.0, strict_min=True)
    return bool((d < d_th).any())


def nav_success(stopped: bool, final_distance: float, success_distance: float = 3.0) -> bool:
    """VLN-CE Success: STOP was called AND final geodesic distance < d_th (strict).

    Source: protocols.md §6 (habitat-lab nav.py Success; VLN-CE R2R/RxR, d_th = 3.0 m).
    An episode that ends by timeout without STOP is a failure even if close.
    """
    stop = flag("stopped", stopped)
    d = real("final_distance", final_distance, min_value=0.0, allow_inf=True)
    d_th = real("success_distance", success_distance, min_value=0.0, strict_min=True)
    return bool(stop and d < d_th)
