"""Ledger rows as typed records (LedgerRow), old rows on disk, and report settings declared in protocol files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_report_helpers import counts, episode_rows
from vla_eval import outcomes, wire
from vla_eval.errors import UsageError
from vla_eval.ledger import EPISODES_FILE, SCHEMA_VERSION, Ledger, LedgerRow, read_ledger, read_rows, result_row
from vla_eval.render import to_markdown
from vla_eval.report import aggregate
from vla_eval.runs import SuiteInfo, info_from_protocol
from vla_eval.suite import load_protocols
from vla_eval.types import EpisodeResult, EpisodeSpec, EpisodeStatus, ErrorClass, Timing

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_report" / EPISODES_FILE


def _result(status="ok", success=True, error_class=None, metrics=None) -> EpisodeResult:
    spec = EpisodeSpec("e1", "toy_reach", "1", 0, "reach_center", 3, seed=7, max_steps=40, init_state_id="3")
    return EpisodeResult(
        spec,
        status,
        success,
        12,
        metrics if metrics is not None else {"success": success, "actions_out_of_range": 0},
        Timing(1.0, 2.0, 0.1234567891, 3.1234567891),
        error=None if status == "ok" else "boom",
        error_class=error_class,
        attempts=2,
        worker=1,
    )


RUN = {"policy": "p", "checkpoint": "abc", "simulator": {"mujoco": "3.2.3"}}


def test_status_and_error_class_are_enums_with_the_same_strings():
    r = _result("error", False, "policy")
    assert r.status is EpisodeStatus.ERROR and r.error_class is ErrorClass.POLICY
    assert r.status == "error" and r.error_class == "policy" and f"{r.error_class} error" == "policy error"
    assert json.dumps([r.status, r.error_class]) == '["error", "policy"]'
    assert wire.unpackb(wire.packb({"s": r.status, "c": r.error_class})) == {"s": "error", "c": "policy"}
    assert {c.value for c in ErrorClass} == {"policy", "simulator", "infrastructure", "timeout"}
    with pytest.raises(ValueError):
        _result("fine")
    with pytest.raises(ValueError):
        _result("error", False, "cosmic_rays")


def test_a_row_round_trips_and_stores_success_once(tmp_path):
    row = result_row(_result(), RUN)
    doc = row.to_json()
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert doc["success"] is True and "success" not in doc["metrics"]
    assert doc["status"] == "ok" and type(doc["status"]) is str and doc["error_class"] is None
    assert doc["timing"] == {"sim_s": 1.0, "policy_s": 2.0, "harness_s": 0.123457, "total_s": 3.123457}
    assert (doc["attempts"], doc["worker"], doc["policy"], doc["checkpoint"]) == (2, 1, "p", "abc")
    assert LedgerRow.from_json(json.loads(json.dumps(doc))) == row
    # through the ledger file
    led = Ledger(tmp_path / "out", {"suite": "toy_reach"})
    led.open()
    led.append(row)
    led.append(result_row(_result("error", False, "timeout"), RUN))
    led.close()
    raw = list(read_rows(tmp_path / "out" / EPISODES_FILE))
    assert [x["status"] for x in raw] == ["ok", "error"] and raw[1]["error_class"] == "timeout"
    typed = list(read_ledger(tmp_path / "out" / EPISODES_FILE))
    assert typed[0] == row and typed[1].error_class is ErrorClass.TIMEOUT and not typed[1].ok
    assert Ledger(tmp_path / "out", {"suite": "toy_reach"}).check() == {"e1": typed[1]}  # the last row wins


def test_old_rows_on_disk_read_as_schema_1():
    raw = [json.loads(x) for x in GOLDEN.read_text().splitlines()]
    assert all("schema_version" not in x and "success" in x["metrics"] for x in raw)
    rows = list(read_ledger(GOLDEN))
    assert len(rows) == len(raw) and all(r.schema_version == 1 for r in rows)
    for x, r in zip(raw, rows):
        assert r.success is x["success"] and "success" not in r.metrics
        assert r.status == x["status"] and r.error_class == x["error_class"]
        assert r.to_json()["schema_version"] == 2  # written again, it is a row of this schema
    # a row of an older harness: no scene_id, attempts, worker, harness_version
    old = {k: v for k, v in raw[0].items() if k not in ("scene_id", "attempts", "worker", "harness_version")}
    r = LedgerRow.from_json(old)
    assert (r.scene_id, r.attempts, r.worker, r.harness_version) == ("", 1, None, "")
    # an error class this harness does not know: no class (the episode is incomplete, as before)
    r = LedgerRow.from_json(dict(raw[0], status="error", error_class="cosmic_rays"))
    assert r.error_class is None and outcomes.outcome(r) == outcomes.INCOMPLETE


def test_rows_that_are_not_rows_are_usage_errors():
    raw = json.loads(GOLDEN.read_text().splitlines()[0])
    with pytest.raises(UsageError, match="unknown status 'fine'"):
        LedgerRow.from_json(dict(raw, status="fine"))
    with pytest.raises(UsageError, match="schema_version 3 is newer"):
        LedgerRow.from_json(dict(raw, schema_version=3))
    with pytest.raises(UsageError, match="lacks suite"):
        LedgerRow.from_json({k: v for k, v in raw.items() if k != "suite"})


def test_outcomes_read_typed_rows_and_mappings_alike():
    rows = episode_rows("toy_reach", {0: [True, False, "policy_error", "error"]})
    typed = [LedgerRow.from_json(r) for r in rows]
    want = [outcomes.SUCCESS, outcomes.FAILURE, outcomes.POLICY_ERROR, outcomes.INCOMPLETE]
    assert [outcomes.outcome(r) for r in rows] == [outcomes.outcome(r) for r in typed] == want


# --------------------------------------------------------------------------- declared in protocol files

FAKE_PROTOCOL = """
[defaults]
version = "1"
source = "test"
seed = 0
episodes_per_task = 4
max_steps = 10
embodiment = "point2d"
action_dim = 2
action_low = [-1.0, -1.0]
action_high = [1.0, 1.0]
idle_action = [0.0, 0.0]
action.control_mode = "point_delta"
action.rotation = "none"
action.gripper = "none"
action.units = "normalized"
replan_steps = 1
cameras = ["top"]
image_size = [16, 16]
aggregation = "pooled"
mean_metrics = ["score"]

[defaults.benchmarks.fake_avg]
label = "Fake average"
members = ["fake_a", "fake_b"]

[fake_a]
[[fake_a.tasks]]
name = "t0"
instruction = "do it"

[fake_b]
[[fake_b.tasks]]
name = "t0"
instruction = "do it"
"""


def _fake_infos(tmp_path, text=FAKE_PROTOCOL):
    path = tmp_path / "protocol.toml"
    path.write_text(text)
    protocols = load_protocols(path)
    infos = {name: info_from_protocol(name, p) for name, p in protocols.items()}
    return lambda name: infos.get(name, SuiteInfo(name, known=False))


def test_a_protocol_declares_a_benchmark_row_and_metric_kinds(tmp_path):
    info = _fake_infos(tmp_path)
    assert [b.id for b in info("fake_a").benchmarks] == ["fake_avg"]

    def score(ti, ei, success):
        return {"score": 10.0 * ei, "undeclared": 1.0}

    rows = episode_rows("fake_a", {0: counts(3, 4)}, metrics=score) + episode_rows(
        "fake_b", {0: counts(1, 4)}, metrics=score
    )
    rep = aggregate(rows, reference=[], info=info)
    avg = rep.row("fake_avg")
    assert avg is not None and avg.level == "benchmark" and avg.task == "Fake average (mean of 2 suites)"
    assert avg.sr == pytest.approx(0.5) and avg.n == 8 and rep.benchmarks == info("fake_a").benchmarks
    assert "| fake_avg | **Fake average** (mean of 2 suites) | 8 | 50.0 |" in to_markdown(rep)
    # metric kinds come from the protocol: score is a mean, the undeclared metric is not reported
    m = {(x.suite, x.level): x for x in rep.metrics if x.metric == "score"}
    assert m[("fake_avg", "benchmark")].value == pytest.approx(15.0) and m[("fake_a", "suite")].kind == "mean"
    assert not [x for x in rep.metrics if x.metric == "undeclared"]
    # one member missing: no benchmark row (the declaration stays known for the leaderboard's order)
    part = aggregate([r for r in rows if r["suite"] == "fake_a"], reference=[], info=info)
    assert part.row("fake_avg") is None and [b.id for b in part.benchmarks] == ["fake_avg"]


def test_bad_or_conflicting_benchmark_declarations_are_usage_errors(tmp_path):
    bad = FAKE_PROTOCOL.replace('members = ["fake_a", "fake_b"]', 'members = "fake_a"')
    with pytest.raises(UsageError, match="benchmark 'fake_avg' needs members"):
        _fake_infos(tmp_path, bad)
    info = _fake_infos(tmp_path)
    other = SuiteInfo("fake_c", benchmarks=(type(info("fake_a").benchmarks[0])("fake_avg", "Other", ("fake_c",)),))
    rows = episode_rows("fake_a", {0: [True]}) + episode_rows("fake_c", {0: [True]})
    with pytest.raises(UsageError, match="benchmark row 'fake_avg' is declared differently"):
        aggregate(rows, reference=[], info=lambda n: other if n == "fake_c" else info(n))


def test_libero_average_is_declared_in_the_libero_protocol():
    from vla_eval.runs import suite_info

    (b,) = suite_info("libero_spatial").benchmarks
    assert (b.id, b.label) == ("libero_avg", "LIBERO average")
    assert b.members == ("libero_spatial", "libero_object", "libero_goal", "libero_10")
    assert "is_src_obj_grasped" in suite_info("simpler_widowx").rate_metrics
    assert suite_info("domino").mean_metrics == ("route_completion", "manipulation_score")
