"""Input checks of the pure metric functions (the core's and the suites'): bad input raises
``ValueError`` with a message naming the argument.

Python 3.9 compatible: suite workers (VLN-CE's habitat-sim env) may import it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["count", "real", "flag", "bool_series", "real_series"]


def count(name: str, value: Any) -> int:
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


def real(
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


def flag(name: str, value: Any) -> bool:
    """Return ``value`` as a bool; accepts bool/np.bool_ and the integers 0 and 1."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
        return bool(value)
    raise ValueError(f"{name} must be a bool (or 0/1), got {value!r}")


def bool_series(name: str, seq: Any) -> np.ndarray:
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


def real_series(name: str, seq: Any, *, nonneg: bool = False, allow_inf: bool = False) -> np.ndarray:
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
