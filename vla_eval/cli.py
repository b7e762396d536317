"""The ``vla-eval`` command line (tyro).

    vla-eval run --suite libero_spatial --policy noop --tasks 0 --episodes 0:2 --out runs/x
    vla-eval suites
    vla-eval report runs/x [runs/y ...] [--format html --output board.html] [--reproduces METHOD]
    vla-eval compare runs/base runs/candidate [--alpha 0.05]
    vla-eval doctor SUITE

Bad input is one line on stderr (``error: ...``) and exit code 2, with nothing written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal, Optional

import tyro

from vla_eval.errors import UsageError
from vla_eval.registry import Discovery, Registry
from vla_eval.run_config import RunConfig
from vla_eval.serve import serve


def suites() -> int:
    """List the suites: tasks, episodes, step limits and whether the simulator is importable here."""
    from rich.console import Console
    from rich.table import Table

    from vla_eval.suite import get_suite, suite_names

    table = Table(title="suites", title_justify="left")
    for col in ("suite", "tasks", "episodes", "max steps", "protocol", "simulator"):
        table.add_column(col, no_wrap=True)
    missing = {}
    for name in suite_names():
        s = get_suite(name)
        p = s.protocol
        ok, why = s.availability()
        steps = sorted({t.max_steps for t in p.tasks})
        if not ok:
            missing[name] = why
        table.add_row(
            name,
            str(len(p.tasks)),
            str(p.n_episodes),
            str(steps[0]) if len(steps) == 1 else f"{steps[0]}-{steps[-1]}",
            f"v{p.version}",
            "[green]importable" if ok else "[yellow]not importable",
        )
    console = Console(width=None if sys.stdout.isatty() else 100)
    console.print(table)
    for name, why in missing.items():
        console.print(f"[yellow]{name}[/]: {why}", soft_wrap=True)
    return 0


def report(
    dirs: Annotated[tuple[Path, ...], tyro.conf.Positional],
    format: Literal["table", "md", "csv", "html"] = "table",
    output: Optional[Path] = None,
    reproduces: Optional[str] = None,
    reference_dir: Optional[Path] = None,
) -> int:
    """Per suite and task: n, SR and its 95% interval, benchmark rows, published reference rows.

    Args:
        dirs: Run directories; dirs of the same policy form one leaderboard entry (four LIBERO suites: the average).
        format: table: write DIR/report.md + report.csv and print tables.
            md / csv: write that file and print it. html: a leaderboard page.
        output: Where --format html writes (default DIR/report.html for one DIR; needed for several).
        reproduces: Mark the runs as reproductions of this published method (overrides run.json's "reproduces").
        reference_dir: Published reference rows (default: results/reference, or $VLA_EVAL_REFERENCE_DIR).
    """
    from vla_eval.reference import load_reference
    from vla_eval.render import leaderboard, print_leaderboard, print_table, to_csv, to_markdown, write_report
    from vla_eval.report import aggregate
    from vla_eval.runs import load_run_info

    if not dirs:
        raise UsageError("report needs at least one run directory")
    if output is not None and format != "html":
        raise UsageError("--output is for --format html; md and csv reports go into each run directory")
    if format == "html" and output is None and len(dirs) > 1:
        raise UsageError("--format html with several run directories needs --output FILE.html")
    if reference_dir is not None and not Path(reference_dir).is_dir():
        raise UsageError(f"--reference-dir {reference_dir} is not a directory")
    reference = load_reference(reference_dir)
    runs = [load_run_info(d, reproduces) for d in dirs]  # validate all before writing any
    frames = [(r.dir, aggregate(r.rows, reproduces=r.reproduces, reference=reference)) for r in runs]
    if format == "html":
        from vla_eval.html_report import write_html

        path = write_html(leaderboard(runs, reference), output or Path(dirs[0]) / "report.html")
        print(path)
        return 0
    for d, rep in frames:
        if format == "md":
            (Path(d) / "report.md").write_text(to_markdown(rep))
            print(to_markdown(rep))
        elif format == "csv":
            (Path(d) / "report.csv").write_text(to_csv(rep))
            print(to_csv(rep), end="")
        else:
            write_report(d, rep)
            print_table(rep, title=str(d))
    entries = leaderboard(runs, reference) if len(runs) > 1 else []
    if format == "table" and entries and (len(entries) > 1 or any(len(e.runs) > 1 for e in entries)):
        print_leaderboard(entries)
    return 0


def compare(
    base: Annotated[Path, tyro.conf.Positional],
    cand: Annotated[Path, tyro.conf.Positional],
    alpha: float = 0.05,
) -> int:
    """Paired comparison of two runs on the same episodes (a CI gate).

    Per task and suite: SR difference with a paired bootstrap interval, exact McNemar p-value,
    the episodes that flipped; continuous metrics by paired bootstrap. Exit 1 when the candidate
    is significantly worse on any suite (p < alpha and a negative difference), 2 when the runs
    cannot be paired.

    Args:
        base: The base run directory.
        cand: The candidate run directory.
        alpha: Significance level of the gate (and 1 - alpha intervals).
    """
    from vla_eval.compare import run_compare

    return run_compare(base, cand, alpha)


def env(
    action: Annotated[str, tyro.conf.Positional],
    suite: Annotated[Optional[str], tyro.conf.Positional] = None,
    recreate: bool = False,
) -> int:
    """Per-suite Python environments: `env create SUITE` builds one from the suite's env.toml; `env list` shows them.

    Args:
        action: create or list.
        suite: The suite whose environment to create.
        recreate: Rebuild the environment from scratch.
    """
    from vla_eval import envs

    if action == "list":
        from vla_eval.suite import get_suite, suite_names

        seen = set()
        for name in suite_names():
            spec = envs.env_spec(get_suite(name))
            if spec is None or spec.key in seen:
                continue
            seen.add(spec.key)
            py = envs.env_python(spec)
            print(f"{spec.key:12s} {'ready: ' + str(py) if py else 'not built (vla-eval env create ' + name + ')'}")
        return 0
    if action != "create":
        raise UsageError(f"unknown env action {action!r}: use create or list")
    if not suite:
        raise UsageError("env create needs a suite name")
    envs.create(suite, recreate=recreate)
    return 0


def doctor(
    suite: Annotated[str, tyro.conf.Positional],
    python: Optional[str] = None,
    smoke_steps: Optional[int] = None,
    no_smoke: bool = False,
) -> int:
    """Check that SUITE can run here: dependencies, assets, versions, render device, then one noop smoke episode.

    Args:
        suite: The suite to check.
        python: Interpreter for the env workers (default: the suite's own env if built, else this one).
        smoke_steps: Steps of the smoke episode (default: the protocol's smoke_steps, else 5).
        no_smoke: Skip the smoke episode.
    """
    from vla_eval.doctor import doctor as doctor_

    return doctor_(suite, python=python, smoke_steps=smoke_steps, smoke=not no_smoke)


COMMANDS = {
    "run": RunConfig,  # tyro parses the dataclass; main hands it to the runner
    "suites": suites,
    "report": report,
    "compare": compare,
    "env": env,
    "doctor": doctor,
    "serve": serve,
}
# Subcommands adapter packages contribute: COMMANDS = {name: "module:function"} in a suite or policy
# package (policies/qwen_vla: make-tiny-qwen-vla), or the "vla_eval.commands" entry-point group.
ADAPTER_COMMANDS: Registry = Registry(
    "command", Discovery("COMMANDS", ("vla_eval.suites", "vla_eval.policies"), "vla_eval.commands")
)


def commands() -> dict:
    """The core commands, then the adapters' (a core name is never replaced; one that fails to import is left out)."""
    out = dict(COMMANDS)
    for name in ADAPTER_COMMANDS.names():
        if name in out:
            print(
                f"warning: command {name!r} of an adapter package is ignored (a core command has it)", file=sys.stderr
            )
            continue
        try:
            out[name] = ADAPTER_COMMANDS.get(name)
        except UsageError as e:
            print(f"warning: command {name!r} left out: {e}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> None:
    try:
        code = tyro.extras.subcommand_cli_from_dict(commands(), args=argv, prog="vla-eval")
        if isinstance(code, RunConfig):
            from vla_eval.runner import run

            code = run(code)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
