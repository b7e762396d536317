"""``vla-eval compare``: paired by episode id; exit 0 / 1 (significant regression) / 2 (cannot pair)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_report_helpers import counts, episode_rows, make_run, write_run
from vla_eval.cli import main
from vla_eval.compare import compare_rows
from vla_eval.errors import UsageError
from vla_eval.metrics import mcnemar_exact, paired_bootstrap

ROOT = Path(__file__).resolve().parents[1]
ALL_OK = {0: counts(8, 8), 1: counts(8, 8), 2: counts(6, 8)}


def cli(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    return e.value.code, out, err


def assert_cannot_pair(code, err, needle):
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err


def test_identical_runs_exit_0(tmp_path, capsys):
    d = make_run(tmp_path / "a", "toy_reach", ALL_OK)
    code, out, _ = cli(capsys, d, d)
    assert code == 0 and "no significant regression (alpha 0.05)" in out
    assert "success → failure: 0 episode(s)" in out and "failure → success: 0 episode(s)" in out
    c = compare_rows(episode_rows("toy_reach", ALL_OK), episode_rows("toy_reach", ALL_OK))
    assert all(r.diff == 0 and r.ci_low == 0 and r.ci_high == 0 and r.p_value == 1 for r in c.rates)


def test_planted_regression_exits_1_and_lists_the_flips(tmp_path, capsys):
    base = make_run(tmp_path / "base", "toy_reach", ALL_OK, policy="old")
    cand_out = {0: counts(8, 8), 1: counts(0, 8), 2: [True] * 7 + [False]}  # task 1: 8 flips; task 2: +1 flip back
    cand = make_run(tmp_path / "cand", "toy_reach", cand_out, policy="new")
    code, out, _ = cli(capsys, base, cand)
    assert code == 1, out
    assert "REGRESSION" in out and "toy_reach (-29.2 pts" in out  # SR 22/24 -> 15/24
    c = compare_rows(episode_rows("toy_reach", ALL_OK), episode_rows("toy_reach", cand_out))
    suite = next(r for r in c.rates if r.level == "suite")
    assert (suite.n, suite.worse, suite.better) == (24, 8, 1)
    assert suite.diff == pytest.approx((15 - 22) / 24)
    assert suite.p_value == pytest.approx(mcnemar_exact([1] * 22 + [0] * 2, [1] * 8 + [0] * 8 + [1] * 7 + [0]))
    assert suite.p_value == pytest.approx(2 * (1 + 9) / 2**9)  # b = 8, c = 1: 2 * P(X <= 1 | 9, 1/2)
    task1 = next(r for r in c.rates if r.task_index == 1)
    assert task1.diff == -1 and task1.p_value == pytest.approx(2 / 2**8) and (task1.ci_low, task1.ci_high) == (-1, -1)
    assert [(r.task_index, r.episode_index) for r in c.flipped_worse] == [(1, i) for i in range(8)]
    assert [(r.task_index, r.episode_index) for r in c.flipped_better] == [(2, 6)]
    assert "success → failure: 8 episode(s)" in out and "failure → success: 1 episode(s)" in out
    for r in c.flipped_worse:
        assert f"episode {r.episode_index} [{r.episode_id}]" in out
    # the other direction is an improvement: exit 0
    assert cli(capsys, cand, base)[0] == 0
    # a stricter alpha can make the same regression not significant (p = 0.039)
    assert cli(capsys, base, cand, "--alpha", "0.01")[0] == 0


def test_small_regression_is_not_significant(tmp_path, capsys):
    base = make_run(tmp_path / "base", "toy_reach", ALL_OK)
    cand = make_run(tmp_path / "cand", "toy_reach", {0: counts(6, 8), 1: counts(8, 8), 2: counts(6, 8)})
    code, out, _ = cli(capsys, base, cand)
    assert code == 0 and "-8.3" in out and "no significant regression" in out  # 2 flips: p = 0.5


def test_incomplete_episodes_are_not_paired_and_the_gate_cannot_decide(tmp_path, capsys):
    base = make_run(tmp_path / "base", "toy_reach", {0: [True, True, "error", True]})
    cand = make_run(tmp_path / "cand", "toy_reach", {0: [True, "error", False, False]})
    code, out, err = cli(capsys, base, cand)
    assert code == 2  # one pair flipped (p = 1), but two episodes are incomplete: cannot decide
    assert "CANNOT DECIDE" in out and "cannot decide: 2 episode(s) incomplete" in err
    c = compare_rows(
        episode_rows("toy_reach", {0: [True, True, "error", True]}),
        episode_rows("toy_reach", {0: [True, "error", False, False]}),
    )
    assert c.rates[-1].n == 2 and (c.unpaired_base, c.unpaired_cand) == (0, 0)
    assert [(x.episode_index, y.episode_index) for x, y in c.incomplete] == [(1, 1), (2, 2)]
    assert "incomplete: 2 episode(s) of both runs not paired" in out
    assert "episode 1 [" in out and "candidate: simulator error: boom" in out
    # a significant regression is still a regression (exit 1), incomplete episodes or not
    bad = {0: [True] * 7 + ["error"], 1: [False] * 8}
    base2 = make_run(tmp_path / "base2", "toy_reach", {0: [True] * 8, 1: [True] * 8})
    cand2 = make_run(tmp_path / "cand2", "toy_reach", bad)
    assert cli(capsys, base2, cand2)[0] == 1
    # episodes missing from one run (a partial candidate) are unpaired but do not block the gate
    part = make_run(tmp_path / "part", "toy_reach", {0: [True, True]})
    code, out, _ = cli(capsys, base2, part)
    assert code == 0 and "not paired (missing in the other run): 14 base, 0 candidate" in out


def test_policy_errors_are_failures_of_the_candidate(tmp_path, capsys):
    base = make_run(tmp_path / "base", "toy_reach", {0: [True] * 8, 1: [True] * 8, 2: [True] * 8})
    broken = {0: [True] * 8, 1: ["policy_error"] * 6 + [True] * 2, 2: ["policy_error"] * 5 + [True] * 3}
    cand = make_run(tmp_path / "cand", "toy_reach", broken)
    code, out, _ = cli(capsys, base, cand)
    assert code == 1 and "REGRESSION" in out  # 11 flips of 24, none back: p = 2 / 2**11
    c = compare_rows(
        episode_rows("toy_reach", {0: [True] * 8, 1: [True] * 8, 2: [True] * 8}), episode_rows("toy_reach", broken)
    )
    suite = c.rates[-1]
    assert (suite.n, suite.worse, suite.cand_policy_errors, suite.base_policy_errors) == (24, 11, 11, 0)
    assert suite.p_value == pytest.approx(2 / 2**11)
    assert len(c.flipped_worse) == 11 and not c.incomplete
    assert out.count(": policy error: boom") == 11
    assert "policy errors (counted as failures) in toy_reach: base 0, candidate 11" in out


def test_continuous_metrics_use_the_paired_bootstrap(tmp_path):
    def m(shift):
        return lambda ti, ei, s: {"success": s, "spl": 0.1 * ei + shift, "ms": 10.0 * ei, "label": "x"}

    base = episode_rows("toy_reach", {0: counts(4, 8)}, metrics=m(0.0))
    cand = episode_rows("toy_reach", {0: counts(4, 8)}, metrics=m(0.05))
    c = compare_rows(base, cand)
    got = {x.metric: x for x in c.means}
    assert set(got) == {"spl", "ms"}  # numbers only; "success" is the main table, strings are skipped
    assert got["spl"].diff == pytest.approx(0.05) and got["spl"].n == 8
    assert (got["spl"].ci_low, got["spl"].ci_high) == pytest.approx((0.05, 0.05))
    assert (got["ms"].diff, got["ms"].ci_low, got["ms"].ci_high) == (0, 0, 0)
    xs = [0.1 * i for i in range(8)]
    assert (got["spl"].diff, got["spl"].ci_low, got["spl"].ci_high) == pytest.approx(
        paired_bootstrap(xs, [x + 0.05 for x in xs])
    )


def test_unpairable_runs_exit_2(tmp_path, capsys):
    toy = make_run(tmp_path / "toy", "toy_reach", ALL_OK)
    lib = make_run(tmp_path / "lib", "libero_spatial", {0: counts(1, 2)})
    code, _, err = cli(capsys, toy, lib)
    assert_cannot_pair(code, err, "cannot pair the runs: suite 'toy_reach' in")
    v2 = write_run(tmp_path / "v2", episode_rows("toy_reach", ALL_OK), config={"protocol_version": "2"})
    code, _, err = cli(capsys, toy, v2)
    assert_cannot_pair(code, err, "protocol_version '1' in")
    short = make_run(tmp_path / "short", "toy_reach", ALL_OK, max_steps=10)  # other step limit: other episode ids
    code, _, err = cli(capsys, toy, short)
    assert_cannot_pair(
        code, err, "no common episode ids that ran to their end or failed by a policy error (base has 24, candidate 24)"
    )
    errs = make_run(tmp_path / "errs", "toy_reach", {0: ["error"] * 8})
    code, _, err = cli(capsys, toy, errs)
    assert_cannot_pair(code, err, "no common episode ids")
    code, _, err = cli(capsys, toy, tmp_path / "nowhere")
    assert_cannot_pair(code, err, "is not a run directory")
    code, _, err = cli(capsys, toy, toy, "--alpha", "1.5")
    assert_cannot_pair(code, err, "--alpha must be in (0, 1)")
    with pytest.raises(UsageError, match="no common episode ids"):
        compare_rows([], [])


def test_run_json_absent_falls_back_to_the_rows(tmp_path, capsys):
    a = make_run(tmp_path / "a", "toy_reach", ALL_OK)
    b = make_run(tmp_path / "b", "toy_reach", ALL_OK)
    (b / "run.json").unlink()
    assert cli(capsys, a, b)[0] == 0
    lib = make_run(tmp_path / "lib", "libero_spatial", {0: counts(1, 2)})
    (lib / "run.json").unlink()
    code, _, err = cli(capsys, a, lib)
    assert_cannot_pair(code, err, "suite 'toy_reach' in")


outcomes = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None)
@given(outcomes, st.sampled_from([0.01, 0.05, 0.2]))
def test_property_gate(pairs, alpha):
    b = [x for x, _ in pairs]
    c = [y for _, y in pairs]
    fwd = compare_rows(episode_rows("any_suite", {0: b}), episode_rows("any_suite", {0: c}), alpha)
    back = compare_rows(episode_rows("any_suite", {0: c}), episode_rows("any_suite", {0: b}), alpha)
    s, r = fwd.rates[-1], back.rates[-1]
    assert s.diff == pytest.approx((sum(c) - sum(b)) / len(b)) and r.diff == pytest.approx(-s.diff)
    assert s.p_value == r.p_value == mcnemar_exact(b, c)
    assert s.ci_low <= s.diff + 1e-12 and s.diff - 1e-12 <= s.ci_high
    assert fwd.exit_code == (1 if s.p_value < alpha and s.diff < 0 else 0)
    assert len(fwd.flipped_worse) == s.worse == len(back.flipped_better)


def test_cli_entry_point_exit_codes(tmp_path):
    base = make_run(tmp_path / "base", "toy_reach", ALL_OK)
    cand = make_run(tmp_path / "cand", "toy_reach", {0: counts(8, 8), 1: counts(0, 8), 2: counts(6, 8)})

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "vla_eval.cli", "compare", *map(str, a)], cwd=ROOT, capture_output=True, text=True
        )

    assert run(base, base).returncode == 0
    r = run(base, cand)
    assert r.returncode == 1 and "REGRESSION" in r.stdout, r.stdout + r.stderr
    r = run(base, tmp_path / "nope")
    assert r.returncode == 2 and r.stderr.strip().startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    assert json.loads((base / "run.json").read_text())["config"]["suite"] == "toy_reach"
