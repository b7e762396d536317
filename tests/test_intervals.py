"""Coverage of the task_mean suite interval (stratified score interval), by simulation.

4 tasks x 24 episodes, every mix of task rates from {2%, 50%, 98%} (15 of them): the interval
must cover the true mean of the task rates in >= 93% of simulated runs at nominal 95%, and no
interval may have zero width. The normal (Wald) interval it replaced fails both at the edges.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vla_eval.metrics import stratified_interval, stratified_score_bounds, stratified_score_interval, wilson_interval

RATES = (0.02, 0.5, 0.98)
TASKS, N, REPS = 4, 24, 20_000


def _coverage(rates, rng, bounds=stratified_score_bounds):
    truth = float(np.mean(rates))
    ks = np.sort(rng.binomial(N, rates, size=(REPS, TASKS)), axis=1)  # tasks of equal n: order does not matter
    uniq, inv = np.unique(ks, axis=0, return_inverse=True)
    _, lo, hi = bounds(uniq, [N] * TASKS)
    lo, hi = lo[inv.ravel()], hi[inv.ravel()]
    return float(np.mean((lo <= truth) & (truth <= hi))), float(np.min(hi - lo))


def test_task_mean_interval_covers_at_the_edges_and_never_collapses():
    rng = np.random.default_rng(20261202)
    results = {}
    for rates in itertools.combinations_with_replacement(RATES, TASKS):
        results[rates] = _coverage(np.array(rates), rng)
    worst = min(results.items(), key=lambda kv: kv[1][0])
    assert worst[1][0] >= 0.93, f"coverage {worst[1][0]:.4f} at task rates {worst[0]}"
    assert all(width > 0 for _, width in results.values()), results


def test_the_normal_interval_it_replaced_collapses():
    """The old interval: zero width when every task is at 0% or 100%, and under-covers near the edges."""
    assert stratified_interval([0] * 4, [24] * 4) == (0.0, 0.0, 0.0)
    rng = np.random.default_rng(1)

    def wald(ks, ns):
        out = np.array([stratified_interval(list(k), list(ns)) for k in ks])
        return out[:, 0], out[:, 1], out[:, 2]

    cov, width = _coverage(np.array([0.02] * 4), rng, wald)
    assert cov < 0.93 and width == 0.0
    _, lo, hi = stratified_score_interval([0] * 4, [24] * 4)
    assert lo == 0.0 and hi == pytest.approx(1.96**2 / (96 + 1.96**2))


@pytest.mark.parametrize("k, n", [(0, 24), (1, 24), (12, 24), (24, 24), (45, 50), (485, 500)])
def test_one_task_is_the_wilson_interval(k, n):
    _, lo, hi = stratified_score_interval([k], [n])
    assert (lo, hi) == pytest.approx(wilson_interval(k, n), abs=1e-12)


def test_bad_input_is_refused():
    for ks, ns, w in (
        ([], [], None),
        ([1], [0], None),
        ([3], [2], None),
        ([1, 1], [2], None),
        ([1, 1], [2, 2], [1.0]),
        ([1, 1], [2, 2], [1.0, -1.0]),
    ):
        with pytest.raises(ValueError):
            stratified_score_interval(ks, ns, w)
