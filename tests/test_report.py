"""Report: aggregation rules from protocol data, benchmark rows, reference rows, reproduction verdicts."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import tomllib
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_report_helpers import counts, episode_rows, make_run, write_run
from vla_eval import aggregation as agg
from vla_eval.cli import main
from vla_eval.errors import UsageError
from vla_eval.metrics import stratified_score_interval, wilson_interval
from vla_eval.reference import REQUIRED_COLUMNS, ReferenceRow, load_reference, verdict
from vla_eval.render import to_markdown, write_report
from vla_eval.report import COLUMNS, aggregate
from vla_eval.runs import SuiteInfo, suite_info

ROOT = Path(__file__).resolve().parents[1]
LIBERO4 = ("libero_spatial", "libero_object", "libero_goal", "libero_10")


def cli(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def assert_usage_error(code, err, needle):
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err


def libero_rows(suite: str, k: int, n_per_task: int = 50, tasks: int = 10, **kw):
    """k successes spread over the tasks (first tasks get the extra ones)."""
    outcomes, left = {}, k
    for t in range(tasks):
        kt = min(n_per_task, left // (tasks - t) + (1 if left % (tasks - t) else 0))
        outcomes[t] = counts(kt, n_per_task)
        left -= kt
    assert left == 0
    return episode_rows(suite, outcomes, **kw)


def all_row(report, suite):
    sel = [r for r in report.rows if r.suite == suite and r.task_index == "all"]
    assert len(sel) == 1 and report.row(suite) == sel[0], report
    return sel[0]


# --------------------------------------------------------------------------- protocol data


def test_every_protocol_names_a_known_aggregation():
    files = sorted((ROOT / "suites").glob("*/protocol.toml"))
    assert files
    for f in files:
        doc = tomllib.loads(f.read_text())
        assert doc["defaults"]["aggregation"] in agg.AGGREGATIONS, f
    assert suite_info("libero_spatial").aggregation == "pooled"
    assert suite_info("libero_90").aggregation == "pooled"
    assert suite_info("toy_reach").aggregation == "pooled" and suite_info("toy_reach").split is None


def test_unknown_aggregation_and_empty_input_raise():
    with pytest.raises(ValueError, match="unknown aggregation 'nope'"):
        agg.rule("nope")
    with pytest.raises(ValueError, match="no tasks"):
        agg.rate_pooled([])
    with pytest.raises(ValueError, match=r"n = 0"):
        agg.rate_task_mean([[True], []])
    with pytest.raises(ValueError, match=r"n = 0"):
        agg.mean_interval([])
    with pytest.raises(ValueError, match="finite"):
        agg.mean_pooled([[1.0, float("nan")]])
    with pytest.raises(ValueError, match="success flag"):
        agg.rate_pooled([[True, 0.5]])
    with pytest.raises(ValueError, match="no member"):
        agg.combine([])


# --------------------------------------------------------------------------- hand check values (protocols.md §7)


@pytest.mark.parametrize(
    "k, n, lo, hi", [(45, 50, 78.6, 95.7), (485, 500, 95.1, 98.2), (12, 24, 31.4, 68.6), (1057, 1839, 55.2, 59.7)]
)
def test_pooled_suite_is_k_over_n_with_wilson(k, n, lo, hi):
    e = agg.rate_pooled([counts(k, n)])
    assert (e.k, e.n) == (k, n) and e.value == k / n
    assert (round(100 * e.low, 1), round(100 * e.high, 1)) == (lo, hi)


def test_libero_suite_row_485_of_500(tmp_path):
    rep = aggregate(libero_rows("libero_spatial", 485), reference=[])
    r = all_row(rep, "libero_spatial")
    assert (r.n, r.successes, r.task) == (500, 485, "10 task(s)")
    assert "| libero_spatial | **all** | 500 | 97.0 | [95.1, 98.2] | 0 |" in to_markdown(rep)


def test_stratified_hand_value():
    # (45/50 + 12/24) / 2 = 0.7; the score interval's ends are where the score statistic, with the
    # variance at the constrained rates, equals 1.96^2
    e = agg.rate_task_mean([counts(45, 50), counts(12, 24)])
    assert e.value == pytest.approx(0.7)
    assert (e.low, e.high) == pytest.approx(stratified_score_interval([45, 12], [50, 24])[1:])
    assert (e.n, e.k, e.tasks) == (74, 57, 2)
    # all tasks at 0% or 100%: an interval of positive width (the normal one was a point)
    zero, full = agg.rate_task_mean([counts(0, 24)] * 4), agg.rate_task_mean([counts(24, 24)] * 4)
    assert (zero.value, zero.low) == (0.0, 0.0) and zero.high == pytest.approx(1.96**2 / (96 + 1.96**2))
    assert (full.value, full.high) == (1.0, 1.0) and full.low == pytest.approx(96 / (96 + 1.96**2))


def test_libero_average_of_four_suites_is_stratified_over_suites():
    ks = {"libero_spatial": 485, "libero_object": 490, "libero_goal": 470, "libero_10": 450}
    rows = [r for s, k in ks.items() for r in libero_rows(s, k)]
    rep = aggregate(rows, reference=[])
    avg = all_row(rep, "libero_avg")
    # mean (.97+.98+.94+.90)/4 = .9475; the normal interval would be +- .009679 (SE .0049385): the
    # score interval is close to it here, and leans towards 0.5 as a score interval does
    assert avg.sr == pytest.approx(0.9475)
    assert (avg.ci_low, avg.ci_high) == pytest.approx(stratified_score_interval(list(ks.values()), [500] * 4)[1:])
    assert avg.ci_low == pytest.approx(0.9475 - 0.009679, abs=1e-3) and avg.ci_high == pytest.approx(
        0.9475 + 0.009679, abs=1e-3
    )
    assert avg.n == 2000 and avg.successes == sum(ks.values())
    assert "| libero_avg | **LIBERO average** (mean of 4 suites) | 2000 | 94.8 | [93.7, 95.6] | 0 | 0 |" in to_markdown(
        rep
    )
    # libero_90 is reported apart and does not move the average
    df90 = aggregate(rows + libero_rows("libero_90", 1800, tasks=90), reference=[])
    assert all_row(df90, "libero_avg").sr == avg.sr and all_row(df90, "libero_90").n == 4500


def test_no_average_unless_all_four_suites_are_there():
    rows = [r for s in LIBERO4[:3] for r in libero_rows(s, 400)]
    rep = aggregate(rows, reference=[])
    assert "libero_avg" not in {r.suite for r in rep.rows} and rep.row("libero_avg") is None


# --------------------------------------------------------------------------- task_mean, grasp apart, episode_mean


def simpler_info(name):
    return SuiteInfo(
        name, aggregation="task_mean", split="visual_matching", rate_metrics=("ever_grasped", "grasp_5")
    )  # declared here (no protocol file declares them)


def test_task_mean_suite_and_grasp_metrics_kept_apart():
    # task 0: 12/24 succeed, all grasp; task 1: 12/12 succeed, none "grasped" (a made-up case)
    def metrics(ti, ei, success):
        return {"success": success, "ever_grasped": ti == 0, "grasp_5": ti == 0 and ei < 6}

    rows = episode_rows("simpler_widowx", {0: counts(12, 24), 1: counts(12, 12)}, metrics=metrics)
    rep = aggregate(rows, reference=[], info=simpler_info)
    r = all_row(rep, "simpler_widowx")
    assert r.sr == pytest.approx(0.75)  # mean of 0.5 and 1.0, not 24/36
    assert (r.ci_low, r.ci_high) == pytest.approx(stratified_score_interval([12, 12], [24, 12])[1:])
    assert r.task == "mean of 2 task(s)" and (r.n, r.successes) == (36, 24)
    assert "| simpler_widowx | **all** (mean of 2 task(s)) | 36 | 75.0 |" in to_markdown(rep)
    m = {(x.task_index, x.metric): x for x in rep.metrics}
    assert m[("all", "ever_grasped")].value == pytest.approx(0.5)  # (1 + 0) / 2
    assert m[("all", "grasp_5")].value == pytest.approx(0.125)  # (6/24 + 0) / 2
    assert m[(0, "ever_grasped")].value == 1.0 and m[(0, "ever_grasped")].n == 24
    # success columns never mix with grasp: SR is the same without the grasp metrics
    plain = aggregate(rows, reference=[], info=lambda s: SuiteInfo(s, aggregation="task_mean"))
    assert [r.sr for r in plain.rows] == [r.sr for r in rep.rows] and not plain.metrics


def test_task_mean_skips_tasks_with_only_errors():
    rows = episode_rows("simpler_widowx", {0: counts(3, 4), 1: ["error"] * 2})
    r = all_row(aggregate(rows, reference=[], info=simpler_info), "simpler_widowx")
    assert r.task == "mean of 1 of 2 task(s)" and r.sr == 0.75 and r.errors == 2 and r.n == 4


def needs_suite(name):
    from vla_eval.suite import suite_names

    if name not in suite_names():
        pytest.skip(f"suite {name} is not in this checkout")


def test_episode_mean_continuous_metrics_and_reproduction():
    needs_suite("r2r_val_unseen")
    # r2r_val_unseen's protocol says episode_mean; its rows carry VLN-CE metrics, reported apart
    assert suite_info("r2r_val_unseen").aggregation == "episode_mean"
    spl = [0.2, 0.6, 0.5, 0.8, 0.4, 0.5]
    ne = [2.0, 8.0, 5.0, 4.0, 6.0, 5.0]

    def metrics(ti, ei, success):
        return {
            "success": success,
            "spl": spl[ei],
            "navigation_error": ne[ei],
            "oracle_success": ei < 4,
            "positions": [[0, 0, 0]],
        }

    rows = episode_rows("r2r_val_unseen", {0: counts(3, 6)}, metrics=metrics)
    rep = aggregate(rows, reproduces="StreamVLN")
    m = {x.metric: x for x in rep.metrics if x.level == "suite"}
    assert set(m) == {"spl", "navigation_error", "oracle_success"}  # lists and unknown keys are left out
    s = math.sqrt(sum((x - 0.5) ** 2 for x in spl) / 5)
    assert m["spl"].value == pytest.approx(0.5) and m["spl"].n == 6 and m["spl"].kind == "mean"
    assert (m["spl"].ci_low, m["spl"].ci_high) == pytest.approx((0.5 - 1.96 * s / 6**0.5, 0.5 + 1.96 * s / 6**0.5))
    assert m["oracle_success"].value == pytest.approx(4 / 6) and m["oracle_success"].kind == "rate"
    v = {x.metric: x.verdict for x in rep.reference if x.reproduces}
    # published StreamVLN R2R: NE 4.98 m, OSR 64.2, SR 56.9, SPL 51.9 (all inside our wide intervals here)
    partial = " (partial run: 6 of 1839 episodes)"
    assert v == {k: "reproduced" + partial for k in ("NE", "OSR", "SR", "SPL")}
    shown = {x.method for x in rep.reference}
    assert shown == {"Uni-NaVid", "NaVILA", "StreamVLN", "Qwen-VLA-Instruct", "Qwen-VLA-Base"}  # R2R rows only, no RxR
    assert "| r2r_val_unseen | **all** | spl | 6 | 50.0 |" in to_markdown(rep)  # SPL shown in percent


def test_simpler_grasp_metrics_from_the_real_protocol():
    needs_suite("simpler_widowx")
    assert suite_info("simpler_widowx").aggregation == "task_mean"

    def metrics(ti, ei, success):
        return {"success": success, "is_src_obj_grasped": True, "consecutive_grasp": ei % 2 == 0}

    rows = episode_rows("simpler_widowx", {0: counts(6, 24), 1: counts(18, 24)}, metrics=metrics)
    rep = aggregate(rows)
    r = all_row(rep, "simpler_widowx")
    assert r.sr == pytest.approx(0.5) and r.task == "mean of 2 task(s)"  # success alone; grasp never mixed in
    m = {x.metric: x.value for x in rep.metrics if x.level == "suite"}
    assert m == {"is_src_obj_grasped": 1.0, "consecutive_grasp": 0.5}
    shown = {(x.method, x.task) for x in rep.reference}
    assert ("Qwen-VLA-Instruct", "") in shown and ("GR00T N1.5", "PutSpoonOnTableClothInScene-v0") in shown


def test_declared_metric_with_a_bad_value_is_a_clear_error():
    rows = episode_rows("simpler_widowx", {0: [True]}, metrics=lambda *a: {"ever_grasped": "yes"})
    with pytest.raises(UsageError, match="metric 'ever_grasped' = 'yes' is not a success flag"):
        aggregate(rows, reference=[], info=simpler_info)


def test_n_zero_suite_row():
    rep = aggregate(episode_rows("toy_reach", {0: ["error", "error"]}), reference=[])
    r = all_row(rep, "toy_reach")
    assert r.n == 0 and r.errors == 2 and math.isnan(r.sr)
    assert "| toy_reach | **all** | 0 | - | - | 0 | 2 |" in to_markdown(rep)
    assert (
        "**INCOMPLETE**: episodes with simulator/infrastructure/timeout errors are not counted (toy_reach 2)"
        in to_markdown(rep)
    )


def test_policy_errors_count_as_failures_and_simulator_errors_make_the_run_incomplete():
    rows = episode_rows("toy_reach", {0: [True] * 5 + ["policy_error"] * 3, 1: [True] * 6 + ["error"] * 2})
    rep = aggregate(rows, reference=[])
    t0, t1, r = rep.rows[0], rep.rows[1], all_row(rep, "toy_reach")
    assert (t0.n, t0.successes, t0.policy_errors, t0.errors) == (8, 5, 3, 0)
    assert (t1.n, t1.successes, t1.policy_errors, t1.errors) == (6, 6, 0, 2)
    assert (r.n, r.successes, r.policy_errors, r.errors) == (14, 11, 3, 2)
    assert (r.ci_low, r.ci_high) == pytest.approx(wilson_interval(11, 14))
    md = to_markdown(rep)
    assert "| toy_reach | **all** | 14 | 78.6 | [52.4, 92.4] | 3 | 2 |" in md and "INCOMPLETE" in md
    # a reproduction verdict says both
    info = lambda n: SuiteInfo(n, "pooled", n_episodes=16)  # noqa: E731
    ref = [
        ReferenceRow(
            method="M", suite="toy_reach", split="default", metric="SR", value=78.0, source="s", training_protocol="t"
        )
    ]
    v = aggregate(rows, reference=ref, reproduces="M", info=info).reference[0].verdict
    assert v == (
        "reproduced (incomplete: 2 episode(s) with simulator/infrastructure/timeout errors not counted; "
        "3 policy error(s) counted as failures)"
    )
    # rows of an older ledger: an error without a class is not counted (incomplete), never a success
    old = [dict(x, error_class=None) for x in episode_rows("toy_reach", {0: [True, "error"]})]
    r = all_row(aggregate(old, reference=[]), "toy_reach")
    assert (r.n, r.errors, r.policy_errors) == (1, 1, 0)


# --------------------------------------------------------------------------- properties


tasks_st = st.lists(
    st.integers(1, 60).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), min_size=1, max_size=8
)


@settings(max_examples=60, deadline=None)
@given(tasks_st)
def test_property_rules(tasks):
    groups = [counts(k, n) for k, n in tasks]
    ks, ns = [k for k, _ in tasks], [n for _, n in tasks]
    pooled = agg.rate_pooled(groups)
    assert pooled.value == pytest.approx(sum(ks) / sum(ns))
    assert (pooled.low, pooled.high) == wilson_interval(sum(ks), sum(ns))
    assert pooled.low <= pooled.value <= pooled.high
    tm = agg.rate_task_mean(groups)
    assert tm.value == pytest.approx(sum(k / n for k, n in tasks) / len(tasks))
    assert 0 <= tm.low <= tm.value + 1e-12 and tm.value - 1e-12 <= tm.high <= 1
    assert tm.high > tm.low  # never a point at finite n
    # a benchmark row over pooled members == the score interval with one stratum per member
    comb = agg.combine([agg.rate_pooled([g]) for g in groups])
    assert (comb.value, comb.low, comb.high) == pytest.approx(stratified_score_interval(ks, ns), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=40), st.floats(-100, 100))
def test_property_mean_interval_shifts(xs, c):
    m, lo, hi, _ = agg.mean_interval(xs)
    m2, lo2, hi2, _ = agg.mean_interval([x + c for x in xs])
    assert lo <= m + 1e-9 and m - 1e-9 <= hi
    assert (m2, lo2, hi2) == pytest.approx((m + c, lo + c, hi + c), abs=1e-6)


# --------------------------------------------------------------------------- reference rows


def test_reference_rows_hold_protocols_section_8():
    rows = load_reference()
    assert len(rows) == 142
    files = sorted(p.name for p in (ROOT / "results" / "reference").glob("*.csv"))
    assert files == ["domino.csv", "libero.csv", "robocasa.csv", "robotwin.csv", "simplerenv.csv", "vln_ce.csv"]
    for p in (ROOT / "results" / "reference").glob("*.csv"):
        header = next(csv.reader(p.open()))
        assert list(header[:8]) == list(REQUIRED_COLUMNS), p
    get = {(r.method, r.suite, r.split, r.metric, r.task): r for r in rows}
    assert get[("pi0.5", "libero_avg", "default", "SR", "")].value == 96.85
    assert get[("OpenVLA", "libero_10", "default", "SR", "")].value == 53.7
    assert get[("Qwen-VLA-Instruct", "libero_avg", "default", "SR", "")].value == 97.9
    assert get[("GR00T N1.5", "simpler_widowx", "visual_matching", "SR", "PutEggplantInBasketScene-v0")].value == 48.3
    assert get[("ABot-M0", "robocasa_gr1", "default", "SR", "")].value == 58.3
    pi0_hard = get[("pi0", "robotwin_hard", "demo_randomized", "SR", "")]
    assert pi0_hard.value == 16.34 and pi0_hard.training_protocol.startswith("single-task")
    assert get[("StarVLA-OFT", "domino_per_action", "demo_clean_dynamic", "MS", "")].value == 30.49
    assert get[("StreamVLN", "rxr_val_unseen", "val_unseen", "nDTW", "")].value == 61.9
    assert {r.suite for r in rows} == {  # this harness's suite names (and the LIBERO benchmark rows)
        *LIBERO4,
        "libero_avg",
        *(f"{s}_openvla" for s in (*LIBERO4, "libero_avg")),
        "simpler_widowx",
        "robocasa_gr1",
        "robotwin_easy",
        "robotwin_hard",
        "domino",
        "domino_per_action",
        "r2r_val_unseen",
        "rxr_val_unseen",
    }
    assert all(r.source and r.training_protocol for r in rows)
    assert all(r.ours is not None for r in rows)  # every published metric maps onto one of ours
    # OpenVLA's and OpenVLA-OFT's numbers come from their own loop (env seed 0): the openvla variant's
    # suites; beside openpi's suites they are marked not comparable, and nothing else is on the variant
    for r in rows:
        if r.suite.startswith("libero_"):
            openvla_loop = r.method in ("OpenVLA", "OpenVLA-OFT")
            assert r.suite.endswith("_openvla") == (openvla_loop and not r.comparable_to), r
            assert bool(r.comparable_to) == (openvla_loop and not r.suite.endswith("_openvla")), r


def test_qwen_vla_readme_rows_with_split_and_comparability():
    rows = load_reference()
    get = {(r.method, r.suite, r.split, r.metric): r for r in rows if not r.task}
    base = {k[1:]: r.value for k, r in get.items() if k[0] == "Qwen-VLA-Base"}
    assert base == {
        ("libero_avg", "default", "SR"): 90.8,
        ("robocasa_gr1", "default", "SR"): 40.4,
        ("simpler_widowx", "visual_matching", "SR"): 64.3,
        ("robotwin_easy", "demo_clean", "SR"): 64.3,
        ("robotwin_hard", "demo_randomized", "SR"): 66.4,
        ("r2r_val_unseen", "val_unseen", "OSR"): 61.7,
        ("r2r_val_unseen", "val_unseen", "SR"): 53.8,
        ("rxr_val_unseen", "val_unseen", "SR"): 55.1,
        ("simpler_widowx", "ood", "SR"): 25.3,
        ("domino", "unspecified", "SR"): 21.1,
        ("domino", "unspecified", "MS"): 37.4,
    }
    assert get[("Qwen-VLA-Instruct", "simpler_widowx", "ood", "SR")].value == 32.0
    for r in rows:
        if r.method.startswith("Qwen-VLA") and (r.split in ("ood", "unspecified")):
            assert r.comparable_to, r  # no verdict against this harness's protocol
        if "QwenLM/Qwen-VLA:README.md" in r.source:
            assert r.comparable_to or "comparable to" in r.notes, r

    # a reproduction of Qwen-VLA-Base on SimplerEnv: a verdict on the visual-matching row, none on the OOD row
    def metrics(ti, ei, success):
        return {"success": success}

    sim = episode_rows("simpler_widowx", {t: counts(16, 24) for t in range(4)}, metrics=metrics)
    rep = aggregate(sim, reference=rows, reproduces="Qwen-VLA-Base", info=lambda n: SuiteInfo(n, "task_mean"))
    mine = {x.split: x for x in rep.reference if x.reproduces == "Qwen-VLA-Base"}
    assert mine["visual_matching"].verdict.startswith("reproduced")  # 64.3 inside the interval around 66.7
    assert mine["ood"].verdict.startswith("not comparable: SimplerEnv-OOD numbers of other methods only")


def test_bad_reference_files_are_clear_errors(tmp_path):
    head = ",".join(REQUIRED_COLUMNS) + "\n"
    (tmp_path / "a.csv").write_text(head + "m,s,default,SR,abc,src,tp,\n")
    with pytest.raises(UsageError, match=r"a.csv: line 2: value 'abc' is not a number"):
        load_reference(tmp_path)
    (tmp_path / "a.csv").write_text(head + "m,s,default,SR,50,src,tp,\nm,s,default,SR,51,src,tp,\n")
    with pytest.raises(UsageError, match="line 3 repeats the row of a.csv:2"):
        load_reference(tmp_path)
    (tmp_path / "a.csv").write_text("method,suite\nm,s\n")
    with pytest.raises(UsageError, match="missing column"):
        load_reference(tmp_path)
    assert load_reference(tmp_path / "nowhere") == []


def test_verdict_boundaries():
    assert verdict(97.6, 100, 0.951, 0.982) == "reproduced"
    assert verdict(95.1, 100, 0.951, 0.982) == "reproduced"  # the ends count as inside
    assert verdict(98.3, 100, 0.951, 0.982) == "not reproduced"
    assert verdict(5.0, 1, 4.0, 6.0) == "reproduced"
    assert verdict(50, 100, float("nan"), float("nan")) == "no interval"


def test_reproduction_verdicts_on_libero(tmp_path):
    # OpenVLA-OFT's numbers come from its own loop: the openvla variant of the LIBERO suites
    ks = {"libero_spatial": 485, "libero_object": 490, "libero_goal": 470, "libero_10": 450}
    rows = [r for s, k in ks.items() for r in libero_rows(f"{s}_openvla", k)]
    rep = aggregate(rows, reproduces="openvla-oft")  # case-insensitive method name
    v = {x.suite: x.verdict for x in rep.reference if x.reproduces}
    # published OpenVLA-OFT: 97.6 / 98.4 / 97.9 / 94.5 / avg 97.1
    assert v == {
        "libero_spatial_openvla": "reproduced",
        "libero_object_openvla": "reproduced",
        "libero_goal_openvla": "not reproduced",
        "libero_10_openvla": "not reproduced",
        "libero_avg_openvla": "not reproduced",
    }
    refs = [x for x in rep.reference if x.suite == "libero_spatial_openvla"]
    assert {x.method for x in refs} == {"OpenVLA", "OpenVLA-OFT"}
    write_report(tmp_path, rep)
    md = (tmp_path / "report.md").read_text()
    assert "| libero_spatial_openvla | default | all | OpenVLA-OFT | SR | 97.6 | 97.0 [95.1, 98.2] | reproduced |" in md
    # the same outcomes on openpi's suites (seed 7, other scenes): its rows are there, without a verdict
    openpi = aggregate([r for s, k in ks.items() for r in libero_rows(s, k)], reproduces="OpenVLA-OFT")
    refs = [x for x in openpi.reference if x.suite == "libero_spatial"]
    assert len(refs) == 10 and {x.method for x in refs} >= {"OpenVLA", "pi0", "ABot-M0"}
    assert {x.verdict for x in openpi.reference if x.reproduces} == {
        f"not comparable: the OpenVLA loop's episodes (env seed 0: other fixture poses): suite {s}_openvla"
        for s in (*ks, "libero_avg")
    }
    ref_csv = list(csv.DictReader((tmp_path / "report_reference.csv").open()))
    assert {r["verdict"] for r in ref_csv if r["reproduces"]} == {"reproduced", "not reproduced"}
    assert next(csv.reader((tmp_path / "report.csv").open())) == COLUMNS  # report.csv: same columns as ever


def test_partial_and_shortened_runs_are_qualified():
    part = aggregate(episode_rows("libero_spatial_openvla", {0: counts(49, 50)}), reproduces="OpenVLA-OFT")
    v = [x.verdict for x in part.reference if x.reproduces]
    assert v == ["reproduced (partial run: 50 of 500 episodes)"]
    short = aggregate(
        episode_rows("libero_spatial_openvla", {0: counts(49, 50)}, max_steps=60), reproduces="OpenVLA-OFT"
    )
    assert [x.verdict for x in short.reference if x.reproduces] == ["not comparable (step limit overridden)"]
    toy = aggregate(episode_rows("toy_reach", {0: [True]}), reproduces="pi0")
    assert [x.verdict for x in toy.reference] == ["no reference row for pi0 on toy_reach"]
    with pytest.raises(UsageError, match=r"no reference rows for method 'nobody' \(known: .*OpenVLA-OFT"):
        aggregate(episode_rows("toy_reach", {0: [True]}), reproduces="nobody")


# --------------------------------------------------------------------------- the CLI


def test_cli_reproduces_from_run_json_and_flag(tmp_path, capsys):
    d = write_run(tmp_path / "spatial", libero_rows("libero_spatial_openvla", 485), reproduces="OpenVLA-OFT")
    code, out, _ = cli(capsys, "report", str(d))
    assert code == 0 and "reproduced" in out and "OpenVLA-OFT" in out
    md = (d / "report.md").read_text()
    assert "| OpenVLA-OFT | SR | 97.6 | 97.0 [95.1, 98.2] | reproduced |" in md
    code, out, _ = cli(capsys, "report", str(d), "--reproduces", "OpenVLA")  # 84.7 is outside [95.1, 98.2]
    assert code == 0
    assert "| OpenVLA | SR | 84.7 | 97.0 [95.1, 98.2] | not reproduced |" in (d / "report.md").read_text()
    openpi = write_run(tmp_path / "openpi", libero_rows("libero_spatial", 485))
    code, out, _ = cli(capsys, "report", str(openpi), "--reproduces", "pi0.5")  # 98.8 is outside [95.1, 98.2]
    assert code == 0
    assert "| pi0.5 | SR | 98.8 | 97.0 [95.1, 98.2] | not reproduced |" in (openpi / "report.md").read_text()
    code, _, err = cli(capsys, "report", str(d), "--reproduces", "nobody")
    assert_usage_error(code, err, "no reference rows for method 'nobody'")


def test_rows_of_another_setting_are_marked_without_a_reproduction(tmp_path, capsys):
    """OpenVLA-OFT's LIBERO numbers beside a run of openpi's loop: marked in the tables and the boards."""
    d = write_run(tmp_path / "openpi", libero_rows("libero_spatial", 485), policy="mine")
    other = write_run(tmp_path / "other", libero_rows("libero_spatial", 400), policy="theirs")
    code, out, _ = cli(capsys, "report", str(d), str(other))
    assert code == 0
    md = (d / "report.md").read_text()
    why = "not comparable: the OpenVLA loop's episodes (env seed 0: other fixture poses): suite libero_spatial_openvla"
    assert f"| all | OpenVLA-OFT | SR | 97.6 |  | {why} |" in md
    assert "| all | pi0 | SR | 96.8 |  |  |" in md  # openpi's own numbers: no mark
    board = out[out.index("leaderboard: SR") :]
    assert "97.6†" in board and "96.8†" not in board and "† published for another setting" in board
    code, out, _ = cli(capsys, "report", str(d), str(other), "--format", "html", "--output", str(tmp_path / "b.html"))
    html = (tmp_path / "b.html").read_text()
    assert code == 0 and "97.6†" in html and "published for another setting" in html


def test_cli_leaderboard_over_four_suite_dirs(tmp_path, capsys):
    ks = {"libero_spatial": 485, "libero_object": 490, "libero_goal": 470, "libero_10": 450}
    dirs = [str(write_run(tmp_path / s, libero_rows(f"{s}_openvla", k), policy="mine")) for s, k in ks.items()]
    other = str(write_run(tmp_path / "other", libero_rows("libero_spatial_openvla", 400), policy="theirs"))
    code, out, _ = cli(capsys, "report", *dirs, other, "--reproduces", "OpenVLA-OFT")
    assert code == 0
    board = out[out.index("leaderboard: SR") :]
    assert "libero_avg_openvla" in board and "94.8 [93.7, 95.6] n=2000 ✗" in board  # published avg 97.1 is outside
    assert "97.0 [95.1, 98.2] n=500 ✓" in board and "80.0 [76.3, 83.3] n=500 ✗" in board
    assert (
        board.index("libero_spatial")
        < board.index("libero_object")
        < board.index("libero_10")
        < board.index("libero_avg")
    )
    pub = next(line for line in board.splitlines() if "OpenVLA-OFT (published)" in line)
    assert [c.strip() for c in pub.split("│")[2:7]] == ["97.6", "98.4", "97.9", "94.5", "97.1"]


def test_cli_formats_and_bad_options(tmp_path, capsys):
    d = make_run(tmp_path / "toy", "toy_reach", {0: counts(2, 4), 1: counts(0, 4)})
    code, out, _ = cli(capsys, "report", str(d), "--format", "md")
    assert code == 0 and "| toy_reach | **all** | 8 | 25.0 | [7.1, 59.1] | 0 |" in out
    assert (d / "report.md").read_text() == to_markdown(aggregate(list(_rows(d)), reference=[]))
    code, out, _ = cli(capsys, "report", str(d), "--format", "csv")
    assert code == 0 and out.splitlines()[0] == ",".join(COLUMNS) and "toy_reach,all,2 task(s),8,2,0.25," in out
    code, out, _ = cli(capsys, "report", str(d), "--format", "html")
    assert code == 0 and (d / "report.html").exists() and out.strip() == str(d / "report.html")
    code, _, err = cli(capsys, "report", str(d), str(d), "--format", "html")
    assert_usage_error(code, err, "needs --output")
    code, _, err = cli(capsys, "report", str(d), "--output", str(tmp_path / "x.html"))
    assert_usage_error(code, err, "--output is for --format html")
    code, _, err = cli(capsys, "report", str(d), "--reference-dir", str(tmp_path / "none"))
    assert_usage_error(code, err, "is not a directory")
    code, _, err = cli(capsys, "report", str(tmp_path / "missing"))
    assert_usage_error(code, err, "is not a run directory")
    (d / "run.json").write_text('{"config": {}, "reproduces": 3}')
    code, _, err = cli(capsys, "report", str(d))
    assert_usage_error(code, err, "'reproduces' must be a method name")


def _rows(d):
    from vla_eval.runs import load_run

    return load_run(d)
