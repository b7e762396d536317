"""Helpers for the report / compare / HTML tests: ledgers written row by row (no simulator)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from vla_eval.ledger import EPISODES_FILE, RUN_FILE


def _fake_id(suite: str, ti: int, ei: int) -> str:
    return hashlib.sha256(f"{suite}/{ti}/{ei}".encode()).hexdigest()[:16]


def episode_rows(
    suite: str,
    outcomes: Mapping[int, Sequence[Any]],
    *,
    max_steps: int | None = None,
    metrics: Callable[[int, int, bool], dict] | None = None,
    protocol_version: str = "1",
) -> list[dict[str, Any]]:
    """Rows for ``outcomes[task_index][episode_index]``: True/False, "error" (status error, class
    simulator: not counted) or "policy_error" (status error, class policy: a failure of the policy).

    Episode ids are the real ones when ``suite`` is installed (so runs pair and protocol step
    limits apply), made up otherwise.
    """
    from vla_eval.errors import UsageError
    from vla_eval.suite import get_suite

    try:
        s = get_suite(suite)
    except UsageError:
        s = None
    rows = []
    for ti, outs in outcomes.items():
        try:
            if s is None:
                raise UsageError("not installed")
            specs = s.plan(str(ti), f"0:{len(outs)}", max_steps)
            meta = [(sp.episode_id, sp.task, sp.max_steps, sp.protocol_version) for sp in specs]
        except UsageError:  # not installed, or its episodes come from data that is not here
            task = s.protocol.tasks[ti] if s is not None else None
            steps = max_steps or (task.max_steps if task else 60)
            meta = [
                (_fake_id(suite, ti, ei), task.name if task else f"task_{ti}", steps, protocol_version)
                for ei in range(len(outs))
            ]
        for ei, (o, (eid, task, steps, pv)) in enumerate(zip(outs, meta)):
            err = o in ("error", "policy_error")
            success = bool(o) and not err
            rows.append(
                {
                    "episode_id": eid,
                    "suite": suite,
                    "protocol_version": pv,
                    "task": task,
                    "task_index": ti,
                    "episode_index": ei,
                    "seed": 7,
                    "init_state_id": str(ei),
                    "max_steps": steps,
                    "policy": "p",
                    "checkpoint": None,
                    "harness_version": "0",
                    "simulator": {},
                    "status": "error" if err else "ok",
                    "error": "boom" if err else None,
                    "error_class": ("policy" if o == "policy_error" else "simulator") if err else None,
                    "success": success,
                    "steps": 10,
                    "metrics": metrics(ti, ei, success) if metrics else {"success": success},
                    "timing": {"sim_s": 0, "policy_s": 0, "harness_s": 0, "total_s": 0},
                    "finished_at": "",
                }
            )
    return rows


def write_run(
    out: Path,
    rows: Sequence[dict[str, Any]],
    *,
    policy: str = "p",
    reproduces: str | None = None,
    config: Mapping[str, Any] | None = None,
) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    suite = rows[0]["suite"] if rows else "toy_reach"
    cfg = {
        "suite": suite,
        "protocol_version": rows[0]["protocol_version"] if rows else "1",
        "policy": policy,
        "policy_args": {},
        "policy_name": policy,
        "checkpoint": None,
        "max_steps": None,
        "replan_steps": 5,
        "simulator": {},
    }
    cfg.update(config or {})
    doc: dict[str, Any] = {"config": cfg, "created": ""}
    if reproduces is not None:
        doc["reproduces"] = reproduces
    (out / RUN_FILE).write_text(json.dumps(doc))
    (out / EPISODES_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def make_run(out: Path, suite: str, outcomes: Mapping[int, Sequence[Any]], **kw) -> Path:
    row_kw = {k: kw.pop(k) for k in ("max_steps", "metrics", "protocol_version") if k in kw}
    return write_run(out, episode_rows(suite, outcomes, **row_kw), **kw)


def counts(k: int, n: int) -> list[bool]:
    """k successes then n - k failures."""
    return [True] * k + [False] * (n - k)
