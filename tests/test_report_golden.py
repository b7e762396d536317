"""report.md and report*.csv of a fixed small ledger stay byte-identical.

``tests/data/golden_report/episodes.jsonl`` is a ledger as the harness wrote it before rows
carried a ``schema_version`` (four LIBERO suites, so the LIBERO average; policy errors,
simulator errors, an old row with no error class, grasp and DOMINO metrics, a video and a
trajectory). The expected files were produced by the report code before the report became a
typed record; regenerate them only for an intended change of the output
(``VLA_EVAL_REGEN_GOLDEN=1 pytest tests/test_report_golden.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vla_eval.reference import ReferenceRow
from vla_eval.render import write_report
from vla_eval.report import aggregate
from vla_eval.runs import load_run

DATA = Path(__file__).resolve().parent / "data" / "golden_report"
FILES = ("report.md", "report.csv", "report_metrics.csv", "report_reference.csv")


def _ref(method, suite, metric, value, split="default", **kw):
    return ReferenceRow(
        method=method, suite=suite, split=split, metric=metric, value=value, source="paper", training_protocol="t", **kw
    )


REFERENCE = [
    _ref("M", "libero_spatial", "SR", 70.0),
    _ref("M", "libero_avg", "SR", 75.0),
    _ref("Other", "libero_avg", "SR", 99.0),
    _ref("M", "toy_reach", "SR", 50.0),
    _ref("M", "domino", "MS", 30.0, split="demo_clean_dynamic"),
    _ref("N", "simpler_widowx", "SR", 60.0, split="visual_matching", task="SomeTask-v0"),
]


@pytest.mark.parametrize("reproduces", [None, "M"])
def test_report_files_are_byte_identical(tmp_path, reproduces):
    rows = load_run(DATA)
    report = aggregate(rows, reference=REFERENCE, reproduces=reproduces)
    write_report(tmp_path, report)
    expected = DATA / ("expected_" + (reproduces or "plain"))
    if os.environ.get("VLA_EVAL_REGEN_GOLDEN"):
        expected.mkdir(exist_ok=True)
        for name in FILES:
            if (tmp_path / name).exists():
                (expected / name).write_bytes((tmp_path / name).read_bytes())
    for name in FILES:
        want, got = expected / name, tmp_path / name
        assert want.exists() == got.exists(), name
        if want.exists():
            assert got.read_bytes() == want.read_bytes(), name


@pytest.mark.parametrize("reproduces", [None, "M"])
def test_printed_tables_are_identical(reproduces):
    from rich.console import Console

    from vla_eval.render import print_table

    console = Console(width=200, record=True, file=open(os.devnull, "w"), color_system=None)
    print_table(aggregate(load_run(DATA), reference=REFERENCE, reproduces=reproduces), "golden", console=console)
    got = console.export_text()
    want = DATA / ("expected_" + (reproduces or "plain")) / "table.txt"
    if os.environ.get("VLA_EVAL_REGEN_GOLDEN"):
        want.write_text(got)
    assert got == want.read_text()


def test_html_is_identical(tmp_path):
    from vla_eval.html_report import render
    from vla_eval.render import leaderboard
    from vla_eval.runs import load_run_info

    runs = [load_run_info(DATA, "M")]
    got = render(leaderboard(runs, REFERENCE), tmp_path / "report.html").replace(str(DATA), "DATA")
    want = DATA / "expected_M" / "report.html"
    if os.environ.get("VLA_EVAL_REGEN_GOLDEN"):
        want.write_text(got)
    assert got == want.read_text()


def test_rows_of_the_current_schema_give_the_same_files(tmp_path):
    """The golden ledger rewritten as schema-2 rows (success once) reports byte-identically."""
    import json
    import shutil

    from vla_eval.ledger import EPISODES_FILE, read_ledger

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(DATA / "run.json", run / "run.json")
    docs = [r.to_json() for r in read_ledger(DATA / EPISODES_FILE)]
    assert all(d["schema_version"] == 2 and "success" not in d["metrics"] for d in docs)
    (run / EPISODES_FILE).write_text("".join(json.dumps(d) + "\n" for d in docs))
    write_report(tmp_path, aggregate(load_run(run), reference=REFERENCE, reproduces="M"))
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (DATA / "expected_M" / name).read_bytes(), name
