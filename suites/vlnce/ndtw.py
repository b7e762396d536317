"""nDTW and SDTW as VLN-CE computes them (jacobkrantz/VLN-CE habitat_extensions/measures.py).

VLN-CE's NDTW / SDTW measures (``TASK.NDTW.FDTW = True`` by default, habitat_extensions/config/
default.py) keep a list of locations: reset_metric empties it and habitat-lab's Env.reset does not
update measures, so the start position is not in it; every update_metric (once per action, STOP
included) appends the agent's position unless it equals the last one kept. The distance is
``fastdtw(locations, gt_locations, dist=euclidean)[0]`` from the PyPI package ``fastdtw`` (radius 1:
an approximation whose distance is >= the exact DTW), and

    nDTW = exp(-distance / (len(gt_locations) * SUCCESS_DISTANCE)),   SDTW = success * nDTW.

``exact`` columns use the same locations with the exact DTW of ``metrics.dtw_distance`` (the
definition of Magalhaes et al. 2019, which VLN-CE runs with FDTW = False). Each row keeps the
whole position series (start included) and the ground-truth locations, so both can be recomputed
with :func:`from_row`.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

from vla_eval.suites.vlnce import metrics


def measure_locations(positions: Sequence[Sequence[float]]) -> List[List[float]]:
    """The locations VLN-CE's NDTW measure holds at the end of an episode.

    ``positions[0]`` is the start, ``positions[k]`` the position after action k. With no action
    taken (VLN-CE's metric would be None) the start is used, so the value stays defined.
    """
    after = positions[1:] if len(positions) > 1 else positions[:1]
    out: List[List[float]] = []
    for p in after:
        q = [float(c) for c in p]
        if not out or q != out[-1]:
            out.append(q)
    return out


def _euclidean(a: Any, b: Any) -> float:
    return float(np.linalg.norm(np.array(b) - np.array(a), ord=2))


def fastdtw_distance(locations: Sequence[Sequence[float]], reference: Sequence[Sequence[float]]) -> float:
    """VLN-CE's DTW distance: fastdtw with its default radius and a Euclidean point distance."""
    try:
        from fastdtw import fastdtw
    except ImportError:
        raise RuntimeError(
            "the PyPI package fastdtw is not installed in the VLN-CE environment (pip install fastdtw==0.3.4): "
            "VLN-CE's nDTW uses it"
        ) from None
    return float(fastdtw([list(p) for p in locations], [list(p) for p in reference], dist=_euclidean)[0])


def _normalise(distance: float, n_reference: int, success_distance: float) -> float:
    return math.exp(-distance / (n_reference * success_distance))


def dtw_metrics(
    positions: Sequence[Sequence[float]], reference: Sequence[Sequence[float]], success: bool, success_distance: float
) -> Dict[str, float]:
    """ndtw / sdtw (VLN-CE: fastdtw) and ndtw_exact / sdtw_exact (exact DTW), same locations."""
    if len(reference) < 1:
        raise ValueError("the ground-truth path has no locations")
    locs = measure_locations(positions)
    ndtw = _normalise(fastdtw_distance(locs, reference), len(reference), success_distance)
    exact = _normalise(metrics.dtw_distance(locs, reference), len(reference), success_distance)
    return {
        "ndtw": ndtw,
        "sdtw": ndtw if success else 0.0,
        "ndtw_exact": exact,
        "sdtw_exact": exact if success else 0.0,
    }


def from_row(row_metrics: Mapping[str, Any], success_distance: float = 3.0) -> Dict[str, float]:
    """Recompute the four values from a ledger row's metrics (``path``, ``gt_locations``, ``success``)."""
    return dtw_metrics(row_metrics["path"], row_metrics["gt_locations"], bool(row_metrics["success"]), success_distance)
