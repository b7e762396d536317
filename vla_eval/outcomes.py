"""How one ledger row counts, as the reference evaluation loops count it. The one place that
reads a row's ``status`` and ``error_class``.

- ``success`` / ``failure``: the episode ran to its end (status "ok").
- ``policy_error``: the policy broke its contract (non-finite values, wrong shape or dtype, a bad
  action id): the episode ends there and is a **failure of the policy** in SR, in ``compare`` and
  in reproduction verdicts, and is also counted on its own. The reference loops never leave such
  an episode out: openpi's LIBERO client (``examples/libero/main.py``) catches an exception inside
  an episode, logs it and goes on with that episode not counted as a success; SimplerEnv
  (``simpler_env/evaluation/maniskill2_evaluator.py``) and RoboTwin 2.0 / DOMINO
  (``script/eval_policy.py``, whose only handler is around the expert check) have none, so there
  a broken policy output ends the whole evaluation.
- ``incomplete``: the harness or the simulator could not complete the episode (error classes
  "simulator", "infrastructure", "timeout"; also a row of an older ledger with no class). It was
  retried (``--max-retries``) and is kept apart: it counts neither way, and a table, a verdict or
  a comparison that lacks it says so (the run is incomplete; ``--retry-errors`` runs them again).

Rows written by any version of the harness are readable (:meth:`LedgerRow.from_json`); only
``status``, ``success`` and ``error_class`` are read. A mapping (a row as JSON) is accepted
wherever a row is and read through :meth:`LedgerRow.from_json`.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from vla_eval.ledger import LedgerRow
from vla_eval.types import EpisodeStatus, ErrorClass

Row = LedgerRow | Mapping[str, Any]

SUCCESS = "success"
FAILURE = "failure"
POLICY_ERROR = "policy_error"
INCOMPLETE = "incomplete"

# Error classes that are the policy's fault: counted as failures of the policy.
POLICY_ERROR_CLASSES = frozenset({ErrorClass.POLICY})
# Error classes that are not (retried, then reported apart); any other or missing class is treated so too.
INCOMPLETE_ERROR_CLASSES = frozenset({ErrorClass.SIMULATOR, ErrorClass.INFRASTRUCTURE, ErrorClass.TIMEOUT})


def outcome(row: Row) -> str:
    row = LedgerRow.coerce(row)
    if row.status is EpisodeStatus.OK:
        return SUCCESS if row.success else FAILURE
    if row.error_class in POLICY_ERROR_CLASSES:
        return POLICY_ERROR
    return INCOMPLETE


def counted(row: Row) -> bool:
    """Whether the row counts in n (success, failure, or a policy error as a failure)."""
    return outcome(row) != INCOMPLETE


def succeeded(row: Row) -> bool:
    return outcome(row) == SUCCESS


def count(rows: Iterable[Row], what: str) -> int:
    return sum(1 for r in rows if outcome(r) == what)
