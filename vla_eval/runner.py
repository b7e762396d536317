"""``vla-eval run``: plan, check, then run the episodes that are not in the ledger yet.

Every check on user input happens before anything is written: unknown suite, bad
selections, a policy that does not load, GPUs that do not exist, a mismatched OUT, a suite
environment or simulator that cannot run here.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vla_eval import outcomes
from vla_eval.errors import SimulatorUnavailable, UsageError
from vla_eval.gpus import Placement, choose_gpus
from vla_eval.ledger import Ledger, result_row
from vla_eval.policy import load_policy, parse_policy_args, resolve_policy_class
from vla_eval.render import print_table, write_report
from vla_eval.report import aggregate
from vla_eval.rollout import LoopConfig, PolicyCrashed, run_episodes
from vla_eval.runlock import check_free
from vla_eval.suite import Suite, get_suite
from vla_eval.types import EpisodeResult, EpisodeSpec, PolicySpec
from vla_eval.wire import policy_spec_from_dict

VIDEO_MODES = ("failures", "all", "none")


@dataclass(frozen=True)
class RunConfig:
    suite: str
    policy: str
    out: Path
    tasks: str | None = None
    episodes: str | None = None
    max_steps: int | None = None
    workers: int = 1
    replan_steps: int | None = None
    policy_args: tuple[str, ...] = ()
    in_process: bool = False
    reply_timeout: float = 600.0
    retry_errors: bool = False
    max_retries: int = 2
    batch_wait_ms: float | None = None  # None: adaptive (see LoopConfig)
    gpus: str = "auto"
    python: str | None = None
    executor: str = "local"
    ray_address: str | None = None
    record_video: str | None = None  # None: "failures" when the video extra is installed
    reproduces: str | None = None
    record_trajectory: bool = False  # OUT/trajectories/<episode_id>.npz per episode (vla_eval.trajectory)


def policy_kwargs(name_or_path: str, suite: Suite, user: dict[str, Any]) -> dict[str, Any]:
    """User arguments, plus ``action_space`` (the suite's ActionSpace) when the constructor declares it.

    Only a parameter named ``action_space`` receives it (not ``**kwargs``); the user's arguments win.
    """
    cls = resolve_policy_class(name_or_path)
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return dict(user)
    if "action_space" in params and "action_space" not in user:
        return {"action_space": suite.action_space, **user}
    return dict(user)


def probe_suite(suite: Suite, python: str) -> dict[str, Any]:
    """The suite's ``prepare()`` in the interpreter its workers will use."""
    from vla_eval.worker import PROBE_PREFIX, probe

    # Compare without resolving symlinks: every venv's python links to the same base interpreter.
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        result = probe(suite.name)
    else:
        r = subprocess.run(
            [python, "-m", "vla_eval.worker", "--suite", suite.name, "--probe"], capture_output=True, text=True
        )
        lines = [line for line in r.stdout.splitlines() if line.startswith(PROBE_PREFIX)]
        if not lines:
            tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
            raise SimulatorUnavailable(f"the {suite.name} environment ({python}) cannot start a worker: {tail}")
        result = json.loads(lines[-1][len(PROBE_PREFIX) :])
    if not result["ok"]:
        raise SimulatorUnavailable(result["error"])
    return result


def _progress():
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("SR {task.fields[sr]}"),
        TextColumn("{task.fields[errors]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
        redirect_stdout=False,
        redirect_stderr=False,
    )


def _video_mode(cfg: RunConfig, pspec: PolicySpec) -> str:
    if cfg.record_video is not None and cfg.record_video not in VIDEO_MODES:
        raise UsageError(f"--record-video must be one of {', '.join(VIDEO_MODES)}, got {cfg.record_video!r}")
    mode = cfg.record_video or "failures"
    if mode == "none" or not pspec.cameras:
        return "none"  # videos show the policy's own camera views; a policy without cameras has none
    try:
        import imageio_ffmpeg  # noqa: F401

        import vla_eval.video  # noqa: F401
    except ImportError:
        if cfg.record_video is not None:
            raise UsageError("--record-video needs the video extra: pip install 'vla-evalkit[video]'") from None
        return "none"
    return mode


def _check(cfg: RunConfig) -> None:
    if cfg.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {cfg.workers}")
    if cfg.in_process and cfg.workers != 1:
        raise UsageError("--in-process runs exactly one worker; drop --workers or --in-process")
    if cfg.replan_steps is not None and cfg.replan_steps < 1:
        raise UsageError(f"--replan-steps must be >= 1, got {cfg.replan_steps}")
    if cfg.max_retries < 0 or (cfg.batch_wait_ms or 0) < 0 or cfg.reply_timeout <= 0:
        raise UsageError("--max-retries and --batch-wait-ms must be >= 0 and --reply-timeout > 0")
    if cfg.executor not in ("local", "ray"):
        raise UsageError(f"--executor must be local or ray, got {cfg.executor!r}")
    if cfg.executor == "ray" and cfg.in_process:
        raise UsageError("--in-process is for the local executor")


def _todo(specs: list[EpisodeSpec], finished: dict[str, dict[str, Any]], retry_errors: bool) -> list[EpisodeSpec]:
    redo = {"error"} if retry_errors else set()
    return [s for s in specs if s.episode_id not in finished or finished[s.episode_id]["status"] in redo]


def run(cfg: RunConfig) -> int:
    _check(cfg)
    check_free(cfg.out)  # another run holds OUT: refuse before loading anything
    suite = get_suite(cfg.suite)
    specs = suite.plan(cfg.tasks, cfg.episodes, cfg.max_steps)
    user_args = parse_policy_args(cfg.policy_args)
    kwargs = policy_kwargs(cfg.policy, suite, user_args)
    err = sys.stderr

    from vla_eval.executors.replicas import InProcessPolicy, ProcessPolicy

    replicas: list[Any] = []
    cluster = None
    try:
        if cfg.executor == "ray":
            from vla_eval.executors.ray_executor import RayCluster

            cluster = RayCluster(cfg.ray_address)
            n_gpus = _ray_gpus(cfg.gpus, cluster.gpus())
            placement = Placement(tuple(str(i) for i in range(n_gpus)))
            replicas = cluster.start_replicas(cfg.policy, kwargs, cfg.policy, n_gpus)
            pspec = policy_spec_from_dict(cluster.ray.get(replicas[0].actor.metadata.remote()))
        elif (placement := Placement(tuple(choose_gpus(cfg.gpus)))).in_process_policy:
            policy = load_policy(cfg.policy, kwargs)
            pspec = policy.metadata()
            replicas = [InProcessPolicy(policy, cfg.policy)]
        else:
            logs = Path(tempfile.mkdtemp(prefix="vla-eval-replicas-"))
            replicas = [
                ProcessPolicy(i, cfg.policy, kwargs, cfg.policy, placement.replica_env(i), logs / f"replica-{i}.log")
                for i in range(placement.replicas)
            ]
            metas = {json.dumps(r.metadata(), sort_keys=True) for r in replicas}
            if len(metas) != 1:
                raise UsageError(f"policy replicas disagree on their metadata: {sorted(metas)}")
            pspec = policy_spec_from_dict(json.loads(metas.pop()))
        suite.check_policy(pspec)
        p = suite.protocol
        replan = cfg.replan_steps or pspec.replan_steps or p.replan_steps
        video_mode = _video_mode(cfg, pspec)

        from vla_eval.envs import worker_python

        python = worker_python(suite, cfg.python)
        config = {
            "suite": suite.name,
            "protocol_version": p.version,
            "policy": cfg.policy,
            "policy_args": user_args,
            "policy_name": pspec.name,
            "checkpoint": pspec.checkpoint,
            "max_steps": cfg.max_steps,
            "replan_steps": replan,
        }
        if p.extra.get("scene_table_sha256"):  # the reference scenes the protocol fixes (LIBERO)
            config["scene_table"] = {"file": p.extra.get("scene_table", ""), "sha256": p.extra["scene_table_sha256"]}
        ledger = Ledger(cfg.out, config)
        finished = ledger.check()
        todo = _todo(specs, finished, cfg.retry_errors)
        skipped = len(specs) - len(todo)
        if skipped:
            print(f"resuming {cfg.out}: skipped {skipped} finished episode(s), {len(todo)} to run", file=err)
        if not todo:
            print(f"all {len(specs)} selected episode(s) already finished in {cfg.out}", file=err)
        else:
            probe = probe_suite(suite, python)  # SimulatorUnavailable before anything is written
            finished = ledger.open(probe["versions"], labels={"reproduces": cfg.reproduces} if cfg.reproduces else None)
            todo = _todo(specs, finished, cfg.retry_errors)  # under OUT's lock
            try:
                interrupted = bool(todo) and _execute(
                    cfg, suite, pspec, replan, todo, probe, python, placement, replicas, ledger, video_mode, cluster
                )
            except PolicyCrashed as e:
                if e.__cause__ is not None:
                    traceback.print_exception(e.__cause__, file=err)
                print(
                    f"error: {e}; finished episodes are in {ledger.path}; fix the policy and rerun to resume", file=err
                )
                return 1
            finally:
                ledger.close()
            if interrupted:
                print(f"interrupted: finished episodes are in {ledger.path}; run the same command to resume", file=err)
                return 130
    finally:
        for r in replicas:
            r.close()
        if cluster is not None:
            cluster.shutdown()
    rows = list(ledger.check().values())
    df = aggregate(rows)
    md, csv = write_report(cfg.out, df)
    print_table(df, title=f"{cfg.policy} on {suite.name} ({cfg.out})")
    print(f"report: {md}, {csv}", file=err)
    return 0


def _ray_gpus(asked: str, available: int) -> int:
    a = asked.strip().lower()
    if a == "auto":
        return available
    if a in ("none", "cpu", ""):
        return 0
    n = int(a) if a.isdigit() else len([x for x in a.split(",") if x.strip()])
    if n > available:
        raise UsageError(f"--gpus {asked}: the Ray cluster has {available} GPU(s)")
    return n


def _execute(cfg, suite, pspec, replan, todo, probe, python, placement, replicas, ledger, video_mode, cluster) -> bool:
    p = suite.protocol
    loop_cfg = LoopConfig(
        # Envs see the effective replan_steps (e.g. DOMINO checks its failure rules per chunk).
        policy_spec=dataclasses.replace(pspec, replan_steps=replan),
        policy_label=cfg.policy,
        replan_steps=replan,
        action_low=np.asarray(p.action_low, dtype=np.float32),
        action_high=np.asarray(p.action_high, dtype=np.float32),
        reply_timeout_s=cfg.reply_timeout,
        max_retries=cfg.max_retries,
        batch_wait_s=None if cfg.batch_wait_ms is None else cfg.batch_wait_ms / 1000.0,
        discrete=bool(p.extra.get("discrete_actions", False)),
    )
    run_meta = {"policy": cfg.policy, "checkpoint": pspec.checkpoint, "simulator": probe["versions"]}
    n_workers = min(cfg.workers, len(todo))
    logs = Path(cfg.out) / "logs"
    stats = {"ok": 0, "success": 0, "errors": 0}
    recorder_factory = None
    if video_mode != "none":
        from vla_eval.video import EpisodeRecorder

        videos = Path(cfg.out) / "videos"
        fps = float(p.extra.get("control_freq", 10))
        recorder_factory = lambda spec: EpisodeRecorder(videos, spec.episode_id, video_mode, fps=fps)  # noqa: E731
    slots: list[Any] = []
    with _progress() as progress:
        bar = progress.add_task(suite.name, total=len(todo), sr="-", errors="")

        def on_result(result: EpisodeResult) -> None:
            row = result_row(result, run_meta)
            ledger.append(row)
            if outcomes.counted(row):  # a policy error is a failure of the policy
                stats["ok"] += 1
                stats["success"] += int(outcomes.succeeded(row))
            if result.status != "ok":
                stats["errors"] += 1
                ep = result.episode
                progress.console.print(
                    f"[red]episode {ep.episode_id} (task {ep.task_index}, episode {ep.episode_index}): "
                    f"{result.error_class} error: {result.error}"
                )
            sr = (
                f"{100 * stats['success'] / stats['ok']:.1f}% ({stats['success']}/{stats['ok']})"
                if stats["ok"]
                else "-"
            )
            errors = f"[red]{stats['errors']} error(s)" if stats["errors"] else ""
            progress.update(bar, advance=1, sr=sr, errors=errors)

        def on_retry(spec: EpisodeSpec, error: str, attempt: int) -> None:
            progress.console.print(
                f"[yellow]episode {spec.episode_id} (task {spec.task_index}, episode {spec.episode_index}) "
                f"attempt {attempt} failed: {error}; retrying"
            )

        try:
            if cluster is not None:
                slots = cluster.start_slots(suite.name, n_workers, probe["env"], python)
            elif cfg.in_process:
                from vla_eval.executors.local import InProcessSlot

                slots = [InProcessSlot(0, suite.name, {**probe["env"], **placement.worker_env(0)})]
            else:
                from vla_eval.executors.local import ProcessSlot

                slots = [
                    ProcessSlot(
                        i, suite.name, {**probe["env"], **placement.worker_env(i)}, logs / f"worker-{i}.log", python
                    )
                    for i in range(n_workers)
                ]
            trajectory_factory = None
            if cfg.record_trajectory:
                from vla_eval.trajectory import TrajectoryRecorder

                trajectory_factory = lambda spec: TrajectoryRecorder(Path(cfg.out), spec.episode_id)  # noqa: E731
            run_episodes(todo, slots, replicas, loop_cfg, on_result, on_retry, recorder_factory, trajectory_factory)
        except KeyboardInterrupt:
            return True
        finally:
            for s in slots:
                s.kill()
    return False
