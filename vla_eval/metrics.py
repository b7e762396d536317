"""Episode- and suite-level metrics for robot-policy evaluation.

Every function here is pure (no I/O, no global state) and validates its inputs:
bad input raises ``ValueError`` with a message naming the argument.  Definitions
follow the public sources collected in ``shared/research/protocols.md``
(sections 5, 6 and 7); each docstring names the source it implements.

Scales: proportions and intervals are on ``[0, 1]``; the DOMINO route
completion and manipulation score are on ``[0, 100]`` (as in DOMINO's
``script/eval_metrics.py``).

Only ``math``, ``numpy``, ``dataclasses`` and ``typing`` are used; the exact
(Clopper-Pearson) interval uses a regularized incomplete beta function
implemented below (continued fraction + bisection), not scipy.
"""

import math
from typing import Any, Sequence

import numpy as np

__all__ = [
    "wilson_interval",
    "clopper_pearson",
    "stratified_interval",
    "stratified_score_interval",
    "stratified_score_bounds",
    "spl",
    "dtw_distance",
    "ndtw",
    "sdtw",
    "navigation_error",
    "oracle_success",
    "nav_success",
    "route_completion",
    "manipulation_score",
    "ever_grasped",
    "consecutive_grasp",
    "mcnemar_exact",
    "paired_bootstrap",
]


# --------------------------------------------------------------------------- #
# input validation helpers
# --------------------------------------------------------------------------- #


def _count(name: str, value: Any) -> int:
    """Return ``value`` as a non-negative int or raise ValueError.

    Accepts Python/numpy integers and integral floats (``45.0``); rejects bools,
    NaN/inf, fractional values, negatives and non-numbers.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer count, got a bool ({value!r})")
    if isinstance(value, (int, np.integer)):
        out = int(value)
    elif isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite integer count, got {value!r}")
        if not float(value).is_integer():
            raise ValueError(f"{name} must be an integer count, got {value!r}")
        out = int(value)
    else:
        raise ValueError(f"{name} must be an integer count, got {type(value).__name__} {value!r}")
    if out < 0:
        raise ValueError(f"{name} must be >= 0, got {out}")
    return out


def _real(
    name: str, value: Any, *, min_value: float | None = None, strict_min: bool = False, allow_inf: bool = False
) -> float:
    """Return ``value`` as a float; reject NaN, bools, non-numbers, and (optionally) inf/out-of-range."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a real number, got a bool ({value!r})")
    if not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    out = float(value)
    if math.isnan(out):
        raise ValueError(f"{name} must not be NaN")
    if math.isinf(out) and not allow_inf:
        raise ValueError(f"{name} must be finite, got {out}")
    if min_value is not None:
        if strict_min and not out > min_value:
            raise ValueError(f"{name} must be > {min_value}, got {out}")
        if not strict_min and not out >= min_value:
            raise ValueError(f"{name} must be >= {min_value}, got {out}")
    return out


def _flag(name: str, value: Any) -> bool:
    """Return ``value`` as a bool; accepts bool/np.bool_ and the integers 0 and 1."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
        return bool(value)
    raise ValueError(f"{name} must be a bool (or 0/1), got {value!r}")


def _z(z: Any) -> float:
    return _real("z", z, min_value=0.0, strict_min=True)


def _alpha(alpha: Any) -> float:
    a = _real("alpha", alpha)
    if not 0.0 < a < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {a}")
    return a


def _k_n(k: Any, n: Any) -> tuple[int, int]:
    k = _count("k", k)
    n = _count("n", n)
    if n == 0:
        raise ValueError("n must be >= 1 (no trials, no interval)")
    if k > n:
        raise ValueError(f"k must be <= n, got k={k}, n={n}")
    return k, n


def _bool_series(name: str, seq: Any) -> np.ndarray:
    """1-D, non-empty boolean array from bools or 0/1 values."""
    if isinstance(seq, (str, bytes)):
        raise ValueError(f"{name} must be a sequence of bools, got a string")
    try:
        arr = np.asarray(seq)
    except Exception as exc:  # ragged input and the like
        raise ValueError(f"{name} could not be read as an array: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if arr.dtype == np.bool_:
        return arr
    if np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating):
        if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
            raise ValueError(f"{name} contains NaN")
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must contain only bools or 0/1 values")
        return arr.astype(bool)
    raise ValueError(f"{name} must contain bools, got dtype {arr.dtype}")


def _real_series(name: str, seq: Any, *, nonneg: bool = False, allow_inf: bool = False) -> np.ndarray:
    """1-D, non-empty float array without NaN (and optionally without inf / negatives)."""
    if isinstance(seq, (str, bytes)):
        raise ValueError(f"{name} must be a sequence of numbers, got a string")
    try:
        arr = np.asarray(seq, dtype=float)
    except Exception as exc:
        raise ValueError(f"{name} must be a sequence of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    if not allow_inf and np.isinf(arr).any():
        raise ValueError(f"{name} contains inf")
    if nonneg and (arr < 0).any():
        raise ValueError(f"{name} must be >= 0, got min {arr.min()}")
    return arr


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


# --------------------------------------------------------------------------- #
# proportions: confidence intervals
# --------------------------------------------------------------------------- #


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``k/n``.

    Source: protocols.md §7 (Wilson 1927):
    ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`` with ``p = k/n``.
    Check values (z = 1.96): 45/50 -> [0.786, 0.957]; 485/500 -> [0.951, 0.982];
    12/24 -> [0.314, 0.686]; 1057/1839 -> [0.552, 0.597].

    Returns ``(low, high)`` on the [0, 1] scale.  For ``k = 0`` the lower end is
    exactly 0 and for ``k = n`` the upper end is exactly 1 (the formula gives
    these values analytically; they are set exactly to avoid rounding noise).

    Raises ValueError for n = 0, k < 0, k > n, non-integer or NaN counts, z <= 0.
    """
    k, n = _k_n(k, n)
    z = _z(z)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return (low, high)


_BETA_EPS = 1e-15
_BETA_MAX_ITER = 100_000
_TINY = 1e-300


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of I_x(a, b), evaluated with the modified Lentz method.

    I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * 1 / (1 + d1 / (1 + d2 / (1 + ...)))
    with d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)) and
    d_{2m}   =  m (b-m) x / ((a+2m-1)(a+2m)).
    This function returns 1 / (1 + d1 / (1 + ...)).  It converges fast for
    x < (a+1)/(a+b+2); the caller uses the symmetry I_x(a,b) = 1 - I_{1-x}(b,a)
    otherwise.
    """

    def guard(v: float) -> float:
        return _TINY if abs(v) < _TINY else v

    # Lentz: f = b0 + a1/(b1 + a2/(b2 + ...)); here the fraction is 1/(1 + d1/(1 + d2/...)),
    # i.e. b0 = 0, a1 = 1, and then coefficients d_j over ones.
    f = _TINY
    c = f
    dval = 0.0
    # term j = 1 has numerator 1; terms j >= 2 have numerator d_{j-1}
    for j in range(1, 2 * _BETA_MAX_ITER + 2):
        if j == 1:
            num = 1.0
        else:
            i = j - 1  # index of d_i
            if i % 2 == 1:
                m = (i - 1) // 2
                num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            else:
                m = i // 2
                num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        dval = guard(1.0 + num * dval)
        c = guard(1.0 + num / c)
        dval = 1.0 / dval
        delta = c * dval
        f *= delta
        if j > 2 and abs(delta - 1.0) < _BETA_EPS:
            return f
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b) for a, b > 0, x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def _betaincinv(q: float, a: float, b: float, tol: float = 1e-14) -> float:
    """Inverse of x -> I_x(a, b) (the Beta(a, b) quantile of q) by bisection on [0, 1]."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _betainc(a, b, mid) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < tol:
            break
    return 0.5 * (lo + hi)


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper-Pearson 1934) interval for a binomial proportion ``k/n``.

    Source: protocols.md §7. ``low = Beta(alpha/2; k, n-k+1)`` quantile,
    ``high = Beta(1-alpha/2; k+1, n-k)`` quantile; ``low = 0`` when k = 0 and
    ``high = 1`` when k = n.  The beta quantile is computed here by bisection on
    a continued-fraction regularized incomplete beta (absolute accuracy ~1e-12).
    Check values: 45/50 -> [0.782, 0.967]; 12/24 -> [0.291, 0.709].

    Raises ValueError for n = 0, k < 0, k > n, non-integer or NaN counts, alpha not in (0, 1).
    """
    k, n = _k_n(k, n)
    alpha = _alpha(alpha)
    low = 0.0 if k == 0 else _betaincinv(alpha / 2.0, k, n - k + 1)
    high = 1.0 if k == n else _betaincinv(1.0 - alpha / 2.0, k + 1, n - k)
    return (low, high)


def stratified_interval(ks: Sequence[int], ns: Sequence[int], z: float = 1.96) -> tuple[float, float, float]:
    """Suite average over T tasks with a stratified normal-approximation interval.

    Source: protocols.md §7: the suite score is the unweighted mean of per-task
    rates ``p_t = k_t/n_t`` (e.g. LIBERO/RoboCasa "average"), with
    ``SE = sqrt(sum_t p_t (1-p_t) / n_t) / T``.

    Returns ``(mean, low, high)`` with ``low/high = mean -/+ z*SE`` clipped to
    [0, 1].  Note: like any Wald interval it has zero width when every task is
    at 0% or 100%.

    Raises ValueError when ks/ns are empty or of different lengths, or for any
    invalid (k_t, n_t) pair (see ``wilson_interval``).
    """
    if isinstance(ks, (str, bytes)) or isinstance(ns, (str, bytes)):
        raise ValueError("ks and ns must be sequences of integer counts")
    ks = list(ks)
    ns = list(ns)
    if len(ks) != len(ns):
        raise ValueError(f"ks and ns must have the same length, got {len(ks)} and {len(ns)}")
    if len(ks) == 0:
        raise ValueError("ks and ns must contain at least one task")
    z = _z(z)
    rates = []
    var_sum = 0.0
    for t, (k, n) in enumerate(zip(ks, ns)):
        try:
            k, n = _k_n(k, n)
        except ValueError as exc:
            raise ValueError(f"task {t}: {exc}") from None
        p = k / n
        rates.append(p)
        var_sum += p * (1.0 - p) / n
    t_count = len(rates)
    mean = math.fsum(rates) / t_count
    se = math.sqrt(var_sum) / t_count
    low = min(1.0, max(0.0, mean - z * se))
    high = min(1.0, max(0.0, mean + z * se))
    return (mean, low, high)


def _restricted_rates(k: np.ndarray, n: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Per-stratum rates maximising the binomial likelihood under a linear constraint.

    For the Lagrange multiplier ``a`` (already times the stratum's weight), the maximiser of
    ``k log p + (n - k) log(1 - p) - a p`` is the root in [0, 1] of ``a p^2 - (n + a) p + k = 0``:
    ``p = 2k / (n + a + sqrt(D))`` when ``n + a > 0`` (no cancellation near a = 0, where p = k/n),
    else ``(n + a - sqrt(D)) / (2a)``, with ``D = (n + a)^2 - 4ak``.
    """
    b = n + a
    root = np.sqrt(np.maximum(b * b - 4.0 * a * k, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(b > 0, 2.0 * k / (b + root), (b - root) / (2.0 * a))
    return np.clip(np.nan_to_num(p, nan=0.0), 0.0, 1.0)


def stratified_score_bounds(
    ks: Any, ns: Any, weights: Any = None, z: float = 1.96, iterations: int = 64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :func:`stratified_score_interval`: ``ks`` [..., T] counts (a batch of outcomes),
    ``ns`` [T] or [..., T], ``weights`` [T] (default 1/T). Returns (estimate, low, high) arrays [...]."""
    k = np.asarray(ks, dtype=np.float64)
    n = np.broadcast_to(np.asarray(ns, dtype=np.float64), k.shape)
    t = k.shape[-1]
    w = np.full(t, 1.0 / t) if weights is None else np.asarray(weights, dtype=np.float64)
    est = (w * k / n).sum(-1)
    z2 = float(z) ** 2

    def stat(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = _restricted_rates(k, n, a[..., None] * w)
        theta = (w * p).sum(-1)
        var = (w * w * p * (1.0 - p) / n).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(var > 0, (est - theta) ** 2 / var, np.where(np.isclose(est, theta), 0.0, np.inf))
        return s, theta

    ends = []
    for sign in (1.0, -1.0):  # a > 0 lowers the rates (low end), a < 0 raises them (high end)
        lo = np.zeros_like(est)
        hi = np.full_like(est, 30.0)  # bisection on v = log(1 + |a|), |a| up to e^30
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            over = stat(sign * np.expm1(mid))[0] > z2
            hi = np.where(over, mid, hi)
            lo = np.where(over, lo, mid)
        ends.append(stat(sign * np.expm1(hi))[1])
    low = np.where(est <= 0.0, 0.0, np.minimum(ends[0], est))
    high = np.where(est >= 1.0, 1.0, np.maximum(ends[1], est))
    return est, low, high


def stratified_score_interval(
    ks: Sequence[int], ns: Sequence[int], weights: Sequence[float] | None = None, z: float = 1.96
) -> tuple[float, float, float]:
    """Weighted mean of T per-task rates with a stratified *score* interval (default weights 1/T).

    The suite score of ``task_mean`` suites is ``theta = sum_t w_t k_t/n_t``. The interval is every
    theta0 that a score test does not reject: ``(theta - theta0)^2 <= z^2 V(theta0)``, where
    ``V(theta0) = sum_t w_t^2 p_t (1 - p_t) / n_t`` is evaluated at the maximum-likelihood rates
    ``p_t`` constrained to ``sum_t w_t p_t = theta0`` (the construction of Miettinen and Nurminen
    1985 for a linear combination of binomial rates). Why this one: the Wald interval
    (:func:`stratified_interval`) estimates the variance at the observed rates and collapses to a
    point whenever every task is at 0% or 100%; the score interval evaluates it at the value tested,
    so it never has zero width at finite n (all tasks at 0%: ``[0, z^2/(N + z^2)]`` for N episodes
    of equal-sized tasks), it reduces to the Wilson interval for one task, and a simulation (tests)
    gives >= 93% coverage at nominal 95% for 4 tasks x 24 episodes with rates 2%, 50%, 98%. A
    bootstrap over episodes within tasks would collapse at 0%/100% like Wald.

    Returns ``(theta, low, high)``. Raises ValueError as :func:`stratified_interval`, and for
    weights that are not positive or not one per task.
    """
    if isinstance(ks, (str, bytes)) or isinstance(ns, (str, bytes)):
        raise ValueError("ks and ns must be sequences of integer counts")
    ks, ns = list(ks), list(ns)
    if len(ks) != len(ns):
        raise ValueError(f"ks and ns must have the same length, got {len(ks)} and {len(ns)}")
    if not ks:
        raise ValueError("ks and ns must contain at least one task")
    pairs = []
    for t, (k, n) in enumerate(zip(ks, ns)):
        try:
            pairs.append(_k_n(k, n))
        except ValueError as exc:
            raise ValueError(f"task {t}: {exc}") from None
    if weights is not None:
        weights = [float(x) for x in weights]
        if len(weights) != len(ks) or not all(math.isfinite(x) and x > 0 for x in weights):
            raise ValueError("weights must be one positive number per task")
    est, low, high = stratified_score_bounds([k for k, _ in pairs], [n for _, n in pairs], weights, _z(z))
    return float(est), float(low), float(high)


# --------------------------------------------------------------------------- #
# VLN-CE navigation metrics
# --------------------------------------------------------------------------- #


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
    s = _flag("success", success)
    l_dist = _real("shortest_path", shortest_path, min_value=0.0)
    p_dist = _real("path_length", path_length, min_value=0.0)
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
    d_th = _real("success_distance", success_distance, min_value=0.0, strict_min=True)
    dist = dtw_distance(path, reference)
    n_ref = np.asarray(reference, dtype=float).shape[0]
    return math.exp(-dist / (n_ref * d_th))


def sdtw(path: Any, reference: Any, success: bool, success_distance: float = 3.0) -> float:
    """Success-weighted nDTW: ``nDTW * S``.

    Source: protocols.md §6 (Magalhaes et al. 2019; VLN-CE SDTW measure), where
    ``S`` is the episode success (stop called and final distance < 3.0 m; see
    ``nav_success``).  Inputs are validated even when ``success`` is False.
    """
    s = _flag("success", success)
    value = ndtw(path, reference, success_distance)
    return value if s else 0.0


def navigation_error(distances: Sequence[float]) -> float:
    """Navigation Error (NE): the distance to the goal at the last step.

    Source: protocols.md §6 (VLN-CE / habitat-lab DistanceToGoal at episode end).
    ``distances`` is the per-step geodesic distance to the goal (non-empty, no
    NaN, >= 0; +inf is allowed because habitat reports inf for unreachable points).
    """
    d = _real_series("distances", distances, nonneg=True, allow_inf=True)
    return float(d[-1])


def oracle_success(distances: Sequence[float], success_distance: float = 3.0) -> bool:
    """Oracle Success (OSR): True if the distance to goal was < d_th at any step.

    Source: protocols.md §6 (VLN-CE habitat_extensions/measures.py
    OracleSuccess: ``distance_to_target < SUCCESS_DISTANCE``, strict).
    Same input rules as ``navigation_error``; success_distance must be > 0.
    """
    d = _real_series("distances", distances, nonneg=True, allow_inf=True)
    d_th = _real("success_distance", success_distance, min_value=0.0, strict_min=True)
    return bool((d < d_th).any())


def nav_success(stopped: bool, final_distance: float, success_distance: float = 3.0) -> bool:
    """VLN-CE Success: STOP was called AND final geodesic distance < d_th (strict).

    Source: protocols.md §6 (habitat-lab nav.py Success; VLN-CE R2R/RxR, d_th = 3.0 m).
    An episode that ends by timeout without STOP is a failure even if close.
    """
    stop = _flag("stopped", stopped)
    d = _real("final_distance", final_distance, min_value=0.0, allow_inf=True)
    d_th = _real("success_distance", success_distance, min_value=0.0, strict_min=True)
    return bool(stop and d < d_th)


# --------------------------------------------------------------------------- #
# DOMINO route completion and manipulation score
# --------------------------------------------------------------------------- #


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
    s = _flag("success", success)
    dyn = _flag("dynamic", dynamic)
    for name, seq in (("d0_per_arm", d0_per_arm), ("dT_per_arm", dT_per_arm)):
        if isinstance(seq, (str, bytes)) or np.ndim(seq) != 1:
            raise ValueError(f"{name} must be a 1-D sequence of per-arm distances, got {seq!r}")
    d0_list = list(d0_per_arm)
    dT_list = list(dT_per_arm)
    if len(d0_list) != len(dT_list):
        raise ValueError(f"d0_per_arm and dT_per_arm must have the same length, got {len(d0_list)} and {len(dT_list)}")
    d0 = [_real(f"d0_per_arm[{i}]", v, min_value=0.0) for i, v in enumerate(d0_list)]
    dT = [_real(f"dT_per_arm[{i}]", v, min_value=0.0) for i, v in enumerate(dT_list)]
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
    rc = _real("rc", rc, min_value=0.0)
    if rc > 100.0:
        raise ValueError(f"rc must be in [0, 100], got {rc}")
    oob = _flag("out_of_bounds", out_of_bounds)
    n_coll = _count("clutter_collisions", clutter_collisions)
    return rc * (0.5 if oob else 1.0) * (0.8**n_coll)


# --------------------------------------------------------------------------- #
# SimplerEnv partial (grasp) metrics
# --------------------------------------------------------------------------- #


def ever_grasped(series: Sequence[bool]) -> bool:
    """SimplerEnv "is_src_obj_grasped" episode metric: grasped at any step.

    Source: protocols.md §2 (simpler-env/SimplerEnv; ManiSkill2_real2sim
    put_on_in_scene.py ``is_src_obj_grasped``).  ``series`` is the per-step
    boolean (or 0/1) value of ``is_src_obj_grasped``; it must be non-empty.
    """
    arr = _bool_series("series", series)
    return bool(arr.any())


def consecutive_grasp(series: Sequence[bool], min_steps: int = 5) -> bool:
    """SimplerEnv "consecutive_grasp" episode metric.

    Source: protocols.md §2 (ManiSkill2_real2sim put_on_in_scene.py: a counter
    of consecutive grasped steps, reset on a non-grasped step; the flag is
    ``counter >= 5``).  True iff some run of consecutive True values in
    ``series`` has length >= ``min_steps`` (default 5).

    Raises ValueError for an empty series, non-bool values, or min_steps < 1.
    """
    arr = _bool_series("series", series)
    steps = _count("min_steps", min_steps)
    if steps < 1:
        raise ValueError(f"min_steps must be >= 1, got {steps}")
    run = 0
    for v in arr:
        run = run + 1 if v else 0
        if run >= steps:
            return True
    return False


# --------------------------------------------------------------------------- #
# paired comparisons
# --------------------------------------------------------------------------- #


def mcnemar_exact(base: Sequence[bool], cand: Sequence[bool]) -> float:
    """Two-sided exact McNemar test on paired episode successes.

    Source: protocols.md §7 (paired comparison on the same fixed episodes).
    ``b`` = episodes where base succeeds and cand fails, ``c`` = the reverse.
    Under H0 the discordant pairs are Binomial(b + c, 0.5):
    ``p = min(1, 2 * sum_{i <= min(b, c)} C(b+c, i) / 2^(b+c))``; ``p = 1`` when
    ``b + c = 0``.  Computed with exact integer arithmetic.

    Raises ValueError for empty inputs, different lengths, or non-bool values.
    """
    x = _bool_series("base", base)
    y = _bool_series("cand", cand)
    if x.shape != y.shape:
        raise ValueError(f"base and cand must have the same length, got {x.size} and {y.size}")
    b = int(np.count_nonzero(x & ~y))
    c = int(np.count_nonzero(~x & y))
    n_disc = b + c
    if n_disc == 0:
        return 1.0
    tail = sum(math.comb(n_disc, i) for i in range(min(b, c) + 1))
    return min(1.0, (2 * tail) / (2**n_disc))


def paired_bootstrap(
    base: Sequence[float], cand: Sequence[float], n_resamples: int = 10000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Paired percentile bootstrap of the mean difference ``cand - base``.

    Source: protocols.md §7 (paired bootstrap for per-episode SPL / nDTW / MS
    or success on the same fixed episodes; Efron & Tibshirani percentile
    interval).  Episode pairs are resampled with replacement using
    ``numpy.random.default_rng(seed)``; the interval is the
    ``alpha/2`` and ``1 - alpha/2`` quantiles (numpy's default linear
    interpolation) of the resampled mean differences.  Deterministic for a
    given seed (resamples are drawn in fixed-size chunks that depend only on n).

    Returns ``(mean_difference, low, high)``.  Identical runs give (0, 0, 0).

    Raises ValueError for empty inputs, different lengths, NaN/inf values,
    n_resamples < 1, a non-integer seed, or alpha not in (0, 1).
    """
    x = _real_series("base", base)
    y = _real_series("cand", cand)
    if x.shape != y.shape:
        raise ValueError(f"base and cand must have the same length, got {x.size} and {y.size}")
    n_res = _count("n_resamples", n_resamples)
    if n_res < 1:
        raise ValueError("n_resamples must be >= 1")
    seed = _count("seed", seed)
    alpha = _alpha(alpha)
    diff = y - x
    n = diff.size
    mean_diff = float(diff.mean())
    rng = np.random.default_rng(seed)
    chunk = max(1, (1 << 20) // n)
    means = np.empty(n_res, dtype=float)
    for start in range(0, n_res, chunk):
        stop = min(n_res, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diff[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (mean_diff, float(low), float(high))
