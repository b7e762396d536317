"""``RunConfig``: what ``vla-eval run`` is asked to do, exactly as given on the command line.

tyro builds the ``run`` subcommand from this dataclass: each field is a ``--flag`` (underscores
become dashes) and the docstring under a field is its help text. Imports nothing heavy, so
``vla-eval --help`` stays fast. Checks that need nothing but these values are in
:func:`check_config`; the rest of the validation is ``vla_eval.runner.plan``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vla_eval.errors import UsageError

EXECUTORS = ("local", "ray")
VIDEO_MODES = ("failures", "all", "none")


@dataclass(frozen=True)
class RunConfig:
    """Run a suite's episodes with a policy; results go to OUT/episodes.jsonl."""

    suite: str
    """Suite name (see `vla-eval suites`)."""
    policy: str
    """A registered policy name (noop, random) or package.module:ClassName."""
    out: Path
    """Run directory. Running again with the same configuration resumes it."""
    tasks: str | None = None
    """Task indices, e.g. "0,3" or "0:5" (default: all)."""
    episodes: str | None = None
    """Episode indices per task, e.g. "0:5" or "0,7" (default: all of the protocol's)."""
    max_steps: int | None = None
    """Override the protocol's step limit (shortened runs; not comparable to published numbers)."""
    workers: int = 1
    """Simulator worker processes, fed from one queue of episodes."""
    replan_steps: int | None = None
    """Actions executed from each chunk before re-planning (default: the policy's, else the suite's)."""
    policy_args: tuple[str, ...] = ()
    """Policy constructor arguments as KEY=VALUE (values parsed as JSON when they can be)."""
    in_process: bool = False
    """Run the simulator in this process (debugging; no crash isolation, no watchdog)."""
    reply_timeout: float = 600.0
    """Seconds without a reply from a simulator worker before it is killed (error class "timeout")."""
    retry_errors: bool = False
    """Also re-run episodes that ended with status "error" in OUT."""
    max_retries: int = 2
    """Extra attempts for an episode whose worker died, hung or raised, before it is an error."""
    batch_wait_ms: float | None = None
    """How long a partial batch waits for envs still stepping (default: adaptive, 1.5x the mean step time, at most 200 ms)."""  # noqa: E501
    gpus: str = "auto"
    """GPUs to use: auto (all visible), none, or ids such as 0,1. One policy replica per GPU."""
    python: str | None = None
    """Interpreter for the env workers (default: the suite's own env if built, else this one)."""
    executor: str = "local"
    """local (worker processes on this machine) or ray (needs the ray extra)."""
    ray_address: str | None = None
    """Ray cluster address for --executor ray (default: start a local instance)."""
    record_video: str | None = None
    """failures, all or none: MP4s of the policy's camera views (default: failures, when the video extra is installed)."""  # noqa: E501
    reproduces: str | None = None
    """Label this run as a reproduction of a published reference row (a method name)."""
    record_trajectory: bool = False
    """Write each episode's executed actions, states, done/success per step and timings to OUT/trajectories/<episode_id>.npz (replay them with --policy replay)."""  # noqa: E501


def check_config(cfg: RunConfig) -> None:
    """The checks on the values alone (no suite, no policy, no file system)."""
    if cfg.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {cfg.workers}")
    if cfg.in_process and cfg.workers != 1:
        raise UsageError("--in-process runs exactly one worker; drop --workers or --in-process")
    if cfg.replan_steps is not None and cfg.replan_steps < 1:
        raise UsageError(f"--replan-steps must be >= 1, got {cfg.replan_steps}")
    if cfg.max_retries < 0 or (cfg.batch_wait_ms or 0) < 0 or cfg.reply_timeout <= 0:
        raise UsageError("--max-retries and --batch-wait-ms must be >= 0 and --reply-timeout > 0")
    if cfg.executor not in EXECUTORS:
        raise UsageError(f"--executor must be local or ray, got {cfg.executor!r}")
    if cfg.executor == "ray" and cfg.in_process:
        raise UsageError("--in-process is for the local executor")
    if cfg.record_video is not None and cfg.record_video not in VIDEO_MODES:
        raise UsageError(f"--record-video must be one of {', '.join(VIDEO_MODES)}, got {cfg.record_video!r}")
