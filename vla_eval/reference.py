"""Published reference numbers (``results/reference/*.csv``) and the reproduction check.

One CSV row per method x suite x split x metric (x task, for the few per-task numbers):
``method, suite, split, metric, value, source, training_protocol, notes, task``.
``suite`` uses this harness's suite names (``libero_spatial``, ...) or a benchmark row's id
(``libero_avg``); ``split`` is the protocol's evaluation split (``default`` where the
benchmark has one). Values are as published: percent for rates and scores, metres for NE.

A run labelled as a reproduction of method M is "reproduced" on a suite when M's published
value lies inside our 95% interval for that metric, "not reproduced" otherwise.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from vla_eval.errors import UsageError

REQUIRED_COLUMNS = ("method", "suite", "split", "metric", "value", "source", "training_protocol", "notes")
# task: the env id of a per-task number; comparable_to: empty when the row measures this suite and split
# as the harness runs it (a reproduction verdict is given), else what it is comparable to (no verdict).
OPTIONAL_COLUMNS = ("task", "comparable_to")
DEFAULT_SPLIT = "default"


@dataclass(frozen=True)
class MetricMap:
    """How a published metric name maps onto our aggregate: the key and the scale factor."""

    key: str  # "success" or a key of the rows' ``metrics``
    scale: float  # published value = ours x scale


# Published metric name -> our metric. Rates/SPL/nDTW are fractions here and percent in papers;
# DOMINO MS/RC are 0..100 in both (suites/domino/metrics.py); NE is in metres in both.
REFERENCE_METRICS: Mapping[str, MetricMap] = {
    "SR": MetricMap("success", 100.0),
    "OSR": MetricMap("oracle_success", 100.0),
    "SPL": MetricMap("spl", 100.0),
    "nDTW": MetricMap("ndtw", 100.0),
    "SDTW": MetricMap("sdtw", 100.0),
    "NE": MetricMap("navigation_error", 1.0),
    "MS": MetricMap("manipulation_score", 1.0),
    "RC": MetricMap("route_completion", 1.0),
}


@dataclass(frozen=True)
class ReferenceRow:
    method: str
    suite: str
    split: str
    metric: str
    value: float
    source: str
    training_protocol: str
    notes: str = ""
    task: str = ""
    file: str = ""
    comparable_to: str = ""  # "": this suite and split as the harness runs it; else what it compares with

    @property
    def ours(self) -> MetricMap | None:
        return REFERENCE_METRICS.get(self.metric)


def default_reference_dir() -> Path:
    """``$VLA_EVAL_REFERENCE_DIR``, else ``results/reference`` of the source checkout."""
    env = os.environ.get("VLA_EVAL_REFERENCE_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "results" / "reference"


def load_reference(directory: Path | None = None) -> list[ReferenceRow]:
    """All rows of ``directory/*.csv``; a malformed file is a UsageError naming file and line.

    A directory that does not exist gives no rows (an installed wheel has no results/).
    """
    directory = default_reference_dir() if directory is None else Path(directory)
    if not directory.is_dir():
        return []
    rows: list[ReferenceRow] = []
    seen: dict[tuple, str] = {}
    for path in sorted(directory.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise UsageError(f"{path}: missing column(s) {', '.join(missing)}")
            for line, rec in enumerate(reader, start=2):
                where = f"{path.name}:{line}"
                for c in ("method", "suite", "split", "metric", "source"):
                    if not (rec.get(c) or "").strip():
                        raise UsageError(f"{path}: line {line}: empty {c}")
                try:
                    value = float(rec["value"])
                except (TypeError, ValueError):
                    raise UsageError(f"{path}: line {line}: value {rec['value']!r} is not a number") from None
                if not math.isfinite(value):
                    raise UsageError(f"{path}: line {line}: value {rec['value']!r} is not finite")
                row = ReferenceRow(
                    method=rec["method"].strip(),
                    suite=rec["suite"].strip(),
                    split=rec["split"].strip(),
                    metric=rec["metric"].strip(),
                    value=value,
                    source=rec["source"].strip(),
                    training_protocol=(rec.get("training_protocol") or "").strip(),
                    notes=(rec.get("notes") or "").strip(),
                    task=(rec.get("task") or "").strip(),
                    comparable_to=(rec.get("comparable_to") or "").strip(),
                    file=where,
                )
                key = (row.method, row.suite, row.task, row.split, row.metric, row.training_protocol)
                if key in seen:
                    raise UsageError(f"{path}: line {line} repeats the row of {seen[key]} ({', '.join(key)})")
                seen[key] = where
                rows.append(row)
    return rows


def rows_for(rows: Iterable[ReferenceRow], suite: str, split: str, task: str = "") -> list[ReferenceRow]:
    return [r for r in rows if r.suite == suite and r.split == split and r.task == task]


def methods(rows: Iterable[ReferenceRow]) -> list[str]:
    return sorted({r.method for r in rows}, key=str.lower)


def check_method(rows: Sequence[ReferenceRow], name: str) -> str:
    """The reference method called ``name`` (case-insensitive); UsageError when none is."""
    by_lower = {m.lower(): m for m in methods(rows)}
    hit = by_lower.get(name.strip().lower())
    if hit is None:
        known = ", ".join(methods(rows)) or "none: no reference rows found"
        raise UsageError(f"no reference rows for method {name!r} (known: {known})")
    return hit


def verdict(published: float, scale: float, low: float, high: float) -> str:
    """ "reproduced" when the published value lies inside our interval [low, high] (our scale)."""
    if math.isnan(low) or math.isnan(high):
        return "no interval"
    v = published / scale
    eps = 1e-12
    return "reproduced" if low - eps <= v <= high + eps else "not reproduced"
