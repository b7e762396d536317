"""Tests for the metric formulas: vla_eval.metrics (intervals, paired tests) and the suites' own
(suites/vlnce/metrics.py, suites/domino/metrics.py, suites/simpler/metrics.py).

Check values come from shared/research/protocols.md §7 (rounded to 3 decimals, so
they are compared with abs=5e-4); other expected values are worked out by hand
in the comments, or computed by an independent method inside the test (binomial
tail sums with exact integers, a naive DTW recursion).
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_eval import metrics as M
from vla_eval.suites.domino import metrics as DM
from vla_eval.suites.simpler import metrics as GR
from vla_eval.suites.vlnce import metrics as NAV

Z = 1.96


# --------------------------------------------------------------------------- #
# independent reference computations used by the tests
# --------------------------------------------------------------------------- #


def binom_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed term by term in exact rationals."""
    pf = Fraction(p)
    total = sum(math.comb(n, j) * pf**j * (1 - pf) ** (n - j) for j in range(k, n + 1))
    return float(total)


def naive_dtw(a, b) -> float:
    """Textbook DTW recursion with explicit Python loops (independent of the numpy version)."""
    n, m = len(a), len(b)
    inf = float("inf")
    D = [[inf] * (m + 1) for _ in range(n + 1)]
    D[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            c = math.dist(a[i - 1], b[j - 1])
            D[i][j] = c + min(D[i - 1][j], D[i][j - 1], D[i - 1][j - 1])
    return D[n][m]


# --------------------------------------------------------------------------- #
# Wilson
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "k,n,low,high",
    [
        (45, 50, 0.786, 0.957),
        (485, 500, 0.951, 0.982),
        (12, 24, 0.314, 0.686),
        (1057, 1839, 0.552, 0.597),
    ],
)
def test_wilson_check_values(k, n, low, high):
    lo, hi = M.wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=5e-4)
    assert hi == pytest.approx(high, abs=5e-4)


def test_wilson_zero_successes_closed_form():
    # k = 0: centre = (z²/2n)/(1+z²/n), half = (z²/2n)/(1+z²/n) -> [0, z²/(n+z²)].
    # n = 10: 3.8416 / 13.8416 = 0.2775402...
    lo, hi = M.wilson_interval(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(3.8416 / 13.8416, rel=1e-12)
    # symmetric case k = n
    lo, hi = M.wilson_interval(10, 10)
    assert hi == 1.0
    assert lo == pytest.approx(1 - 3.8416 / 13.8416, rel=1e-12)


def test_wilson_symmetry_and_z():
    lo1, hi1 = M.wilson_interval(7, 30)
    lo2, hi2 = M.wilson_interval(23, 30)
    assert lo1 == pytest.approx(1 - hi2, abs=1e-12)
    assert hi1 == pytest.approx(1 - lo2, abs=1e-12)
    # a larger z gives a strictly wider interval
    lo3, hi3 = M.wilson_interval(7, 30, z=2.576)
    assert lo3 < lo1 and hi3 > hi1


def test_wilson_accepts_numpy_and_integral_float_counts():
    assert M.wilson_interval(np.int64(45), np.int32(50)) == M.wilson_interval(45, 50)
    assert M.wilson_interval(45.0, 50.0) == M.wilson_interval(45, 50)


@pytest.mark.parametrize(
    "k,n",
    [
        (0, 0),  # n = 0
        (5, 0),
        (6, 5),  # k > n
        (-1, 5),  # k < 0
        (3, -5),  # negative n
        (2.5, 5),  # non-integer
        (2, 5.5),
        (float("nan"), 5),  # NaN
        (2, float("nan")),
        (float("inf"), 5),
        ("3", 5),  # not a number
        (True, 5),  # bool is not a count
        (None, 5),
    ],
)
def test_wilson_bad_counts(k, n):
    with pytest.raises(ValueError):
        M.wilson_interval(k, n)


@pytest.mark.parametrize("z", [0.0, -1.0, float("nan"), float("inf")])
def test_wilson_bad_z(z):
    with pytest.raises(ValueError):
        M.wilson_interval(3, 10, z=z)


@given(n=st.integers(1, 5000), data=st.data())
def test_wilson_contains_estimate(n, data):
    k = data.draw(st.integers(0, n))
    lo, hi = M.wilson_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert lo < hi


@given(c=st.integers(0, 50), d=st.integers(1, 50), m1=st.integers(1, 40), m2=st.integers(1, 40))
def test_wilson_width_shrinks_with_n(c, d, m1, m2):
    c = min(c, d)
    if m1 == m2:
        return
    small, big = sorted((m1, m2))
    lo_s, hi_s = M.wilson_interval(small * c, small * d)
    lo_b, hi_b = M.wilson_interval(big * c, big * d)
    # same rate c/d, more trials -> strictly narrower interval
    assert hi_b - lo_b < hi_s - lo_s


# --------------------------------------------------------------------------- #
# Clopper-Pearson and the incomplete beta
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("k,n,low,high", [(45, 50, 0.782, 0.967), (12, 24, 0.291, 0.709)])
def test_clopper_pearson_check_values(k, n, low, high):
    lo, hi = M.clopper_pearson(k, n)
    assert lo == pytest.approx(low, abs=5e-4)
    assert hi == pytest.approx(high, abs=5e-4)


def test_clopper_pearson_edges_closed_form():
    # k = 0: P(X = 0 | p) = (1-p)^n = alpha/2 -> high = 1 - (alpha/2)^(1/n); low = 0.
    lo, hi = M.clopper_pearson(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-9)
    # k = n: p^n = alpha/2 -> low = (alpha/2)^(1/n); high = 1.
    lo, hi = M.clopper_pearson(10, 10)
    assert hi == 1.0
    assert lo == pytest.approx(0.025 ** (1 / 10), abs=1e-9)
    # n = 1, k = 0 with alpha = 0.1: high = 1 - 0.05 = 0.95
    assert M.clopper_pearson(0, 1, alpha=0.1) == pytest.approx((0.0, 0.95), abs=1e-9)


@pytest.mark.parametrize("k,n", [(1, 7), (12, 24), (45, 50), (3, 200), (197, 200)])
def test_clopper_pearson_defining_equations(k, n):
    # The exact interval solves P(X >= k | low) = alpha/2 and P(X <= k | high) = alpha/2.
    lo, hi = M.clopper_pearson(k, n)
    assert binom_upper_tail(k, n, lo) == pytest.approx(0.025, abs=1e-9)
    assert 1 - binom_upper_tail(k + 1, n, hi) == pytest.approx(0.025, abs=1e-9)


@pytest.mark.parametrize("a,b", [(1, 1), (3, 5), (12, 13), (45, 6), (200, 3), (1057, 783)])
@pytest.mark.parametrize("x", [0.01, 0.3, 0.5, 0.57, 0.9, 0.999])
def test_betainc_matches_binomial_tail(a, b, x):
    # For integers: I_x(a, b) = P(Bin(a+b-1, x) >= a).
    n = a + b - 1
    if n > 300:  # exact rational sum gets slow; use floats via logs instead
        terms = [
            math.exp(
                math.lgamma(n + 1)
                - math.lgamma(j + 1)
                - math.lgamma(n - j + 1)
                + j * math.log(x)
                + (n - j) * math.log1p(-x)
            )
            for j in range(a, n + 1)
        ]
        expected = math.fsum(terms)
    else:
        expected = binom_upper_tail(a, n, x)
    assert M._betainc(a, b, x) == pytest.approx(expected, abs=1e-12)


def test_betainc_uniform_and_bounds():
    # Beta(1, 1) is uniform: I_x(1, 1) = x.
    for x in (0.0, 0.125, 0.5, 0.875, 1.0):
        assert M._betainc(1.0, 1.0, x) == pytest.approx(x, abs=1e-14)
    assert M._betaincinv(0.3, 1.0, 1.0) == pytest.approx(0.3, abs=1e-12)
    # I_x(2, 1) = x² -> inverse of 0.25 is 0.5
    assert M._betaincinv(0.25, 2.0, 1.0) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("k,n", [(0, 0), (6, 5), (-1, 5), (2.5, 5), (float("nan"), 5)])
def test_clopper_pearson_bad_counts(k, n):
    with pytest.raises(ValueError):
        M.clopper_pearson(k, n)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_clopper_pearson_bad_alpha(alpha):
    with pytest.raises(ValueError):
        M.clopper_pearson(3, 10, alpha=alpha)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 400), data=st.data())
def test_clopper_pearson_contains_estimate_and_wider_than_wilson(n, data):
    k = data.draw(st.integers(0, n))
    lo, hi = M.clopper_pearson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert lo < hi


# --------------------------------------------------------------------------- #
# stratified suite interval
# --------------------------------------------------------------------------- #


def test_stratified_hand_example():
    # p = [0.5, 1.0], mean 0.75; SE = sqrt(0.25/10 + 0/10) / 2 = 0.0790569...
    # z*SE = 1.96 * 0.0790569 = 0.1549516 -> [0.5950484, 0.9049516]
    mean, lo, hi = M.stratified_interval([5, 10], [10, 10])
    se = math.sqrt(0.025) / 2
    assert mean == pytest.approx(0.75, abs=1e-15)
    assert lo == pytest.approx(0.75 - 1.96 * se, abs=1e-12)
    assert hi == pytest.approx(0.75 + 1.96 * se, abs=1e-12)
    assert lo == pytest.approx(0.5950484, abs=1e-6)


def test_stratified_is_mean_of_rates_not_pooled():
    # rates 1/10 and 90/100: task mean 0.5, pooled would be 91/110 = 0.827
    mean, _, _ = M.stratified_interval([1, 90], [10, 100])
    assert mean == pytest.approx(0.5)


def test_stratified_single_task_is_wald_and_clipped():
    # T = 1: mean ± z*sqrt(p(1-p)/n); p = 0.9, n = 10: SE = 0.0948683, z*SE = 0.185942 -> high clipped to 1
    mean, lo, hi = M.stratified_interval([9], [10])
    assert mean == pytest.approx(0.9)
    assert lo == pytest.approx(0.9 - 1.96 * math.sqrt(0.09 / 10), abs=1e-12)
    assert hi == 1.0
    assert M.stratified_interval([0, 0], [5, 5]) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    "ks,ns",
    [
        ([], []),  # no tasks
        ([1, 2], [3]),  # mismatched lengths
        ([4], [3]),  # k > n
        ([1], [0]),  # n = 0
        ([-1], [3]),
        ([1.5], [3]),
        ([float("nan")], [3]),
        ("12", "34"),
    ],
)
def test_stratified_bad_input(ks, ns):
    with pytest.raises(ValueError):
        M.stratified_interval(ks, ns)


@given(
    pairs=st.lists(
        st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), min_size=1, max_size=30
    )
)
def test_stratified_contains_mean(pairs):
    ks, ns = zip(*pairs)
    mean, lo, hi = M.stratified_interval(ks, ns)
    assert mean == pytest.approx(sum(k / n for k, n in pairs) / len(pairs))
    assert 0.0 <= lo <= mean <= hi <= 1.0


# --------------------------------------------------------------------------- #
# SPL / navigation
# --------------------------------------------------------------------------- #


def test_spl_hand_values():
    assert NAV.spl(True, 10.0, 12.5) == pytest.approx(0.8)  # 10 / max(10, 12.5)
    assert NAV.spl(True, 10.0, 8.0) == 1.0  # path shorter than geodesic -> capped at 1
    assert NAV.spl(True, 4.0, 4.0) == 1.0
    assert NAV.spl(False, 10.0, 10.0) == 0.0  # failure
    assert NAV.spl(1, 3.0, 6.0) == pytest.approx(0.5)  # 0/1 accepted as flag
    assert NAV.spl(True, 0.0, 0.0) == 1.0  # started on the goal, never moved
    assert NAV.spl(True, 0.0, 2.0) == 0.0  # l = 0 but moved: 0 / 2


@pytest.mark.parametrize(
    "args",
    [
        (True, -1.0, 3.0),
        (True, 3.0, -0.5),
        (True, float("nan"), 3.0),
        (True, 3.0, float("nan")),
        (True, float("inf"), 3.0),
        (2, 3.0, 3.0),  # not a flag
        ("yes", 3.0, 3.0),
    ],
)
def test_spl_bad_input(args):
    with pytest.raises(ValueError):
        NAV.spl(*args)


def test_nav_success_is_strict_and_needs_stop():
    assert NAV.nav_success(True, 2.999) is True
    assert NAV.nav_success(True, 3.0) is False  # strict <
    assert NAV.nav_success(False, 0.5) is False  # no STOP -> failure
    assert NAV.nav_success(True, 1.5, success_distance=1.0) is False
    with pytest.raises(ValueError):
        NAV.nav_success(True, float("nan"))
    with pytest.raises(ValueError):
        NAV.nav_success(True, -1.0)
    with pytest.raises(ValueError):
        NAV.nav_success(True, 1.0, success_distance=0.0)


def test_navigation_error_and_oracle_success():
    d = [8.0, 5.0, 2.5, 4.0]
    assert NAV.navigation_error(d) == 4.0  # last, not min
    assert NAV.oracle_success(d) is True  # 2.5 < 3 at step 2
    assert NAV.oracle_success([8.0, 3.0, 4.0]) is False  # 3.0 is not < 3.0
    assert NAV.oracle_success(np.array([8.0, 3.0]), success_distance=3.5) is True
    assert NAV.navigation_error([float("inf"), 2.0]) == 2.0  # unreachable step allowed
    for bad in ([], [1.0, float("nan")], [-1.0, 2.0], [[1.0, 2.0]]):
        with pytest.raises(ValueError):
            NAV.navigation_error(bad)
        with pytest.raises(ValueError):
            NAV.oracle_success(bad)
    with pytest.raises(ValueError):
        NAV.oracle_success([1.0], success_distance=-3.0)


# --------------------------------------------------------------------------- #
# DTW / nDTW / SDTW
# --------------------------------------------------------------------------- #


def test_dtw_hand_example():
    # P = (0,0),(1,0),(2,0); R = (0,0),(2,0). Costs c(i,j):
    #   P0: 0, 2    P1: 1, 1    P2: 2, 0
    # D00=0, D01=2, D10=1, D11=1+min(0,2,1)=1, D20=2+1=3, D21=0+min(D10,D11,D20)=1
    P = [[0, 0], [1, 0], [2, 0]]
    R = [[0, 0], [2, 0]]
    assert NAV.dtw_distance(P, R) == pytest.approx(1.0)
    assert NAV.dtw_distance(R, P) == pytest.approx(1.0)
    # nDTW = exp(-1 / (|R| * 3)) = exp(-1/6) = 0.8464817
    assert NAV.ndtw(P, R) == pytest.approx(math.exp(-1 / 6))
    assert NAV.ndtw(P, R) == pytest.approx(0.8464817, abs=1e-7)
    # with P as the reference |R| = 3: exp(-1/9)
    assert NAV.ndtw(R, P) == pytest.approx(math.exp(-1 / 9))


def test_dtw_parallel_offset():
    # every point is 1 m to the side of its reference point; the diagonal alignment
    # costs 1+1+1 = 3 and every other alignment uses more cells, each >= 1.
    P = [[0, 1], [1, 1], [2, 1]]
    R = [[0, 0], [1, 0], [2, 0]]
    assert NAV.dtw_distance(P, R) == pytest.approx(3.0)
    assert NAV.ndtw(P, R) == pytest.approx(math.exp(-3 / 9))
    assert NAV.ndtw(P, R, success_distance=1.0) == pytest.approx(math.exp(-1.0))
    # 3-D points: offset (0, 0, 2) at both points -> DTW = 4
    P3 = [[0, 0, 2], [3, 4, 2]]
    R3 = [[0, 0, 0], [3, 4, 0]]
    assert NAV.dtw_distance(P3, R3) == pytest.approx(4.0)


def test_dtw_single_points_and_repeats():
    assert NAV.dtw_distance([[0, 0]], [[3, 4]]) == pytest.approx(5.0)
    # one query point vs 3 reference points: all reference points matched to it
    assert NAV.dtw_distance([[0, 0]], [[1, 0], [2, 0], [3, 0]]) == pytest.approx(6.0)
    # repeating a point of the reference costs nothing extra
    R = [[0, 0], [1, 1], [2, 0]]
    assert NAV.dtw_distance([[0, 0], [0, 0], [1, 1], [2, 0], [2, 0]], R) == 0.0
    assert NAV.ndtw(R, R) == 1.0


def test_sdtw():
    P = [[0, 0], [1, 0], [2, 0]]
    R = [[0, 0], [2, 0]]
    assert NAV.sdtw(P, R, True) == pytest.approx(math.exp(-1 / 6))
    assert NAV.sdtw(P, R, False) == 0.0
    with pytest.raises(ValueError):
        NAV.sdtw([], R, False)  # validated even on failure


@pytest.mark.parametrize(
    "path,ref",
    [
        ([], [[0, 0]]),  # empty path
        ([[0, 0]], []),  # empty reference
        (np.zeros((0, 2)), [[0, 0]]),
        ([0, 1, 2], [[0, 0]]),  # 1-D
        ([[0, 0, 0, 0]], [[0, 0, 0, 0]]),  # 4-D points
        ([[0]], [[0]]),  # 1-D points
        ([[0, 0]], [[0, 0, 0]]),  # mismatched dimensions
        ([[0, float("nan")]], [[0, 0]]),  # NaN
        ([[0, 0]], [[float("inf"), 0]]),
        ([[0, 0], [1]], [[0, 0]]),  # ragged
    ],
)
def test_dtw_bad_paths(path, ref):
    with pytest.raises(ValueError):
        NAV.dtw_distance(path, ref)
    with pytest.raises(ValueError):
        NAV.ndtw(path, ref)


@pytest.mark.parametrize("d", [0.0, -1.0, float("nan")])
def test_ndtw_bad_threshold(d):
    with pytest.raises(ValueError):
        NAV.ndtw([[0, 0]], [[0, 0]], success_distance=d)


coord = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
points2 = st.lists(st.tuples(coord, coord), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(P=points2, R=points2)
def test_dtw_matches_naive_and_ndtw_range(P, R):
    d = NAV.dtw_distance(P, R)
    assert d == pytest.approx(naive_dtw(P, R), rel=1e-12, abs=1e-12)
    assert d == pytest.approx(NAV.dtw_distance(R, P), rel=1e-12, abs=1e-12)  # symmetric
    v = NAV.ndtw(P, R)
    assert 0.0 < v <= 1.0
    assert NAV.ndtw(R, R) == 1.0


# --------------------------------------------------------------------------- #
# DOMINO
# --------------------------------------------------------------------------- #


def test_route_completion_cases():
    # success -> 100 whatever the distances
    assert DM.route_completion(True, True, [0.5, 0.4], [0.5, 0.4]) == 100.0
    assert DM.route_completion(True, False, [], []) == 100.0
    # failed static -> 0 even with progress
    assert DM.route_completion(False, False, [0.5], [0.0]) == 0.0
    # failed dynamic: left (0.5-0.25)/0.5 = 0.5; right (0.4-0.5)/0.4 = -0.25 -> 0; max = 50
    assert DM.route_completion(False, True, [0.5, 0.4], [0.25, 0.5]) == pytest.approx(50.0)
    # right arm better: (0.4-0.1)/0.4 = 0.75 -> 75
    assert DM.route_completion(False, True, [0.5, 0.4], [0.25, 0.1]) == pytest.approx(75.0)
    # overshoot cannot exceed 100: dT = 0 -> 1.0
    assert DM.route_completion(False, True, [0.3], [0.0]) == pytest.approx(100.0)
    # d0 < 0.01 rule (on the 0..1 scale, then x100): dT < 0.05 -> 100, else 50
    assert DM.route_completion(False, True, [0.005], [0.03]) == 100.0
    assert DM.route_completion(False, True, [0.005], [0.06]) == 50.0
    assert DM.route_completion(False, True, [0.005], [0.05]) == 50.0  # strict <
    # d0 = 0.01 is not < 0.01: normal rule, (0.01 - 0.03)/0.01 < 0 -> 0
    assert DM.route_completion(False, True, [0.01], [0.03]) == 0.0
    # max over arms mixes the two rules: 50 (tiny-d0 rule) vs 20 -> 50
    assert DM.route_completion(False, True, [0.005, 1.0], [0.2, 0.8]) == pytest.approx(50.0)


@pytest.mark.parametrize(
    "args",
    [
        (False, True, [0.5, 0.4], [0.2]),  # mismatched lengths
        (False, True, [], []),  # failed dynamic with no arms
        (False, True, [-0.1], [0.2]),  # negative distance
        (False, True, [float("nan")], [0.2]),
        (False, True, [0.5], [float("nan")]),
        (True, True, [0.5], [float("nan")]),  # validated even on success
        (False, True, 0.5, 0.2),  # scalars, not per-arm sequences
        (0.5, True, [0.5], [0.2]),  # bad flag
    ],
)
def test_route_completion_bad_input(args):
    with pytest.raises(ValueError):
        DM.route_completion(*args)


def test_manipulation_score():
    # 50 * 0.5 * 0.8^2 = 50 * 0.5 * 0.64 = 16
    assert DM.manipulation_score(50.0, True, 2) == pytest.approx(16.0)
    assert DM.manipulation_score(100.0, False, 0) == 100.0
    assert DM.manipulation_score(100.0, True, 0) == 50.0
    # 75 * 0.8^3 = 75 * 0.512 = 38.4
    assert DM.manipulation_score(75.0, False, 3) == pytest.approx(38.4)
    assert DM.manipulation_score(0.0, True, 5) == 0.0
    # end to end: failed dynamic episode, RC 75, out of bounds, 1 clutter hit -> 75*0.5*0.8 = 30
    rc = DM.route_completion(False, True, [0.5, 0.4], [0.25, 0.1])
    assert DM.manipulation_score(rc, True, 1) == pytest.approx(30.0)


@pytest.mark.parametrize(
    "args",
    [
        (-1.0, False, 0),
        (100.5, False, 0),
        (float("nan"), False, 0),
        (50.0, False, -1),
        (50.0, False, 1.5),
        (50.0, "no", 0),
    ],
)
def test_manipulation_score_bad_input(args):
    with pytest.raises(ValueError):
        DM.manipulation_score(*args)


# --------------------------------------------------------------------------- #
# SimplerEnv grasp metrics
# --------------------------------------------------------------------------- #


def test_grasp_metrics():
    s = [False, True, True, True, True, False, True]  # longest run 4
    assert GR.ever_grasped(s) is True
    assert GR.consecutive_grasp(s) is False
    assert GR.consecutive_grasp(s, min_steps=4) is True
    s5 = [0, 1, 1, 1, 1, 1]  # run of 5 at the end
    assert GR.consecutive_grasp(s5) is True
    assert GR.consecutive_grasp(np.array(s5, dtype=bool), min_steps=6) is False
    # two runs of 3 do not add up to 5
    assert GR.consecutive_grasp([1, 1, 1, 0, 1, 1, 1]) is False
    assert GR.ever_grasped([False] * 10) is False
    assert GR.consecutive_grasp([True], min_steps=1) is True


@pytest.mark.parametrize("series", [[], [0, 2, 1], [0.5], [1.0, float("nan")], "TTFF", [[True]]])
def test_grasp_bad_series(series):
    with pytest.raises(ValueError):
        GR.ever_grasped(series)
    with pytest.raises(ValueError):
        GR.consecutive_grasp(series)


@pytest.mark.parametrize("min_steps", [0, -1, 2.5])
def test_consecutive_grasp_bad_min_steps(min_steps):
    with pytest.raises(ValueError):
        GR.consecutive_grasp([True] * 6, min_steps=min_steps)


@given(st.lists(st.booleans(), min_size=1, max_size=40), st.integers(1, 8))
def test_consecutive_grasp_matches_string_search(series, min_steps):
    text = "".join("1" if v else "0" for v in series)
    assert GR.consecutive_grasp(series, min_steps) is ("1" * min_steps in text)
    assert GR.ever_grasped(series) is ("1" in text)


# --------------------------------------------------------------------------- #
# McNemar
# --------------------------------------------------------------------------- #


def test_mcnemar_hand_values():
    # b = 0, c = 6: p = 2 * C(6,0) / 2^6 = 2/64 = 0.03125
    base = [0] * 6 + [1] * 4
    cand = [1] * 6 + [1] * 4
    assert M.mcnemar_exact(base, cand) == pytest.approx(0.03125, abs=1e-15)
    # b = 1, c = 9: p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024 = 0.021484375
    base = [1] + [0] * 9 + [1] * 5 + [0] * 5
    cand = [0] + [1] * 9 + [1] * 5 + [0] * 5
    assert M.mcnemar_exact(base, cand) == pytest.approx(22 / 1024, abs=1e-15)
    # b = c = 3: 2 * (1+6+15+20) / 64 = 84/64 > 1 -> 1
    assert M.mcnemar_exact([1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]) == 1.0
    # b = 2, c = 5: 2 * (1 + 7 + 21) / 128 = 58/128 = 0.453125
    base = [1, 1, 0, 0, 0, 0, 0]
    cand = [0, 0, 1, 1, 1, 1, 1]
    assert M.mcnemar_exact(base, cand) == pytest.approx(0.453125, abs=1e-15)
    # concordant pairs do not matter
    assert M.mcnemar_exact(base + [True] * 50 + [False] * 50, cand + [True] * 50 + [False] * 50) == pytest.approx(
        0.453125
    )


def test_mcnemar_large_discordant_count():
    # b = 0, c = 1500: p = 2 / 2^1500 underflows to 0.0 but must not crash
    p = M.mcnemar_exact([False] * 1500, [True] * 1500)
    assert 0.0 <= p < 1e-300


@pytest.mark.parametrize(
    "base,cand",
    [([], []), ([True, False], [True]), ([True, 2], [True, False]), ([0.5], [1.0]), ("TF", "FT")],
)
def test_mcnemar_bad_input(base, cand):
    with pytest.raises(ValueError):
        M.mcnemar_exact(base, cand)


paired_bools = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.booleans(), min_size=n, max_size=n), st.lists(st.booleans(), min_size=n, max_size=n)
    )
)


@given(paired_bools)
def test_mcnemar_properties(pair):
    base, cand = pair
    p = M.mcnemar_exact(base, cand)
    assert 0.0 < p <= 1.0
    assert M.mcnemar_exact(cand, base) == p  # symmetric
    assert M.mcnemar_exact(base, base) == 1.0  # identical runs
    b = sum(x and not y for x, y in zip(base, cand))
    c = sum(y and not x for x, y in zip(base, cand))
    if b == c:
        assert p == 1.0


# --------------------------------------------------------------------------- #
# paired bootstrap
# --------------------------------------------------------------------------- #


def test_paired_bootstrap_identical_and_constant_shift():
    x = [0.2, 0.9, 0.4, 0.0, 1.0]
    assert M.paired_bootstrap(x, x) == (0.0, 0.0, 0.0)
    assert M.paired_bootstrap([0] * 7, [1] * 7, n_resamples=200) == (1.0, 1.0, 1.0)


def test_paired_bootstrap_deterministic_and_seed_dependent():
    rng = np.random.default_rng(123)
    base = rng.random(40)  # continuous scores (e.g. SPL) so quantiles are not tied
    cand = rng.random(40)
    r1 = M.paired_bootstrap(base, cand, n_resamples=2000, seed=7)
    r2 = M.paired_bootstrap(base, cand, n_resamples=2000, seed=7)
    r3 = M.paired_bootstrap(base, cand, n_resamples=2000, seed=8)
    assert r1 == r2
    assert r1[0] == r3[0]  # point estimate does not depend on the seed
    assert (r1[1], r1[2]) != (r3[1], r3[2])


def test_paired_bootstrap_point_estimate_and_width():
    # 100 pairs: diff = +1 on 30, -1 on 10, 0 on 60 -> mean 0.2;
    # sd of diff = sqrt(0.4 - 0.04) = 0.6, SE = 0.06, normal 95% half-width ≈ 0.1176
    base = [0] * 30 + [1] * 10 + [1] * 30 + [0] * 30
    cand = [1] * 30 + [0] * 10 + [1] * 30 + [0] * 30
    mean, lo, hi = M.paired_bootstrap(base, cand, n_resamples=4000, seed=0)
    assert mean == pytest.approx(0.2)
    assert lo < mean < hi
    assert (hi - lo) / 2 == pytest.approx(1.96 * 0.06, rel=0.15)
    assert mean - lo == pytest.approx(hi - mean, abs=0.03)
    # a narrower alpha gives a wider interval from the same resamples
    _, lo99, hi99 = M.paired_bootstrap(base, cand, n_resamples=4000, seed=0, alpha=0.01)
    assert lo99 < lo and hi99 > hi


def test_paired_bootstrap_handles_many_episodes():
    # n large enough that resamples are drawn in several chunks
    rng = np.random.default_rng(1)
    base = rng.random(3000)
    cand = base + 0.1
    mean, lo, hi = M.paired_bootstrap(base, cand, n_resamples=500, seed=3)
    assert mean == pytest.approx(0.1)
    assert lo == pytest.approx(0.1) and hi == pytest.approx(0.1)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(base=[], cand=[]),
        dict(base=[1.0, 0.0], cand=[1.0]),
        dict(base=[1.0, float("nan")], cand=[1.0, 0.0]),
        dict(base=[1.0, float("inf")], cand=[1.0, 0.0]),
        dict(base=[1.0], cand=[0.0], n_resamples=0),
        dict(base=[1.0], cand=[0.0], alpha=0.0),
        dict(base=[1.0], cand=[0.0], alpha=1.0),
        dict(base=[1.0], cand=[0.0], seed=1.5),
        dict(base=[1.0], cand=[0.0], seed=-1),
        dict(base="ab", cand="cd"),
    ],
)
def test_paired_bootstrap_bad_input(kwargs):
    with pytest.raises(ValueError):
        M.paired_bootstrap(**kwargs)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=30), st.integers(0, 2**32))
def test_paired_bootstrap_identical_runs_property(values, seed):
    assert M.paired_bootstrap(values, values, n_resamples=50, seed=seed) == (0.0, 0.0, 0.0)


# --------------------------------------------------------------------------- #
# where the formulas live
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("rel", ["vla_eval/checks.py", "suites/vlnce/metrics.py", "suites/vlnce/ndtw.py"])
def test_vlnce_metric_modules_parse_as_python39(rel):
    """The VLN-CE env worker may run on Python 3.9: no newer syntax, annotations left unevaluated."""
    import ast
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / rel).read_text()
    tree = ast.parse(text, feature_version=(3, 9))
    futures = {a.name for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__" for a in n.names}
    assert "annotations" in futures


def test_core_metrics_hold_no_suite_formula():
    suite_formulas = set(NAV.__all__) | set(GR.__all__) | {"route_completion", "manipulation_score"}
    assert not suite_formulas & set(dir(M))
