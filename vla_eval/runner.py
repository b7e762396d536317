"""``vla-eval run``: plan, then execute the episodes that are not in the ledger yet.

The stages, in order (``run`` = ``execute(plan(cfg))``):

1. ``plan(cfg) -> RunPlan``: every check that needs no policy instance (config values, OUT's lock,
   suite, episode selection, policy class and arguments, GPUs, video, worker interpreter). Pure:
   it writes nothing.
2. ``start_policy``: the policy replicas (in-process, one process per GPU, or Ray actors).
3. ``check_policy``: the replicas' metadata (they must agree) against the suite.
4. the ledger: OUT must hold this configuration or nothing; finished episodes are skipped.
5. ``probe_suite``: the simulator starts in the workers' interpreter.
6. the ledger is opened (the first write), the episodes run, 7. the report.

Every check on user input happens before anything is written: unknown suite, bad
selections, a policy that does not load, GPUs that do not exist, a mismatched OUT, a suite
environment or simulator that cannot run here.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from vla_eval import outcomes
from vla_eval.errors import SimulatorUnavailable, UsageError
from vla_eval.executors.interfaces import EnvSlot, PolicyReplica
from vla_eval.gpus import Placement, choose_gpus
from vla_eval.ledger import Ledger, LedgerRow, result_row
from vla_eval.policy import load_policy, parse_policy_args, resolve_policy_class
from vla_eval.render import print_table, write_report
from vla_eval.report import aggregate
from vla_eval.rollout import PolicyCrashed, run_episodes
from vla_eval.run_config import RunConfig, check_config
from vla_eval.run_plan import RunPlan
from vla_eval.runlock import check_free
from vla_eval.suite import Suite, get_suite
from vla_eval.types import EpisodeResult, EpisodeSpec, EpisodeStatus, PolicySpec

__all__ = ["RunConfig", "RunPlan", "execute", "plan", "policy_kwargs", "probe_suite", "run"]


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


def _video_mode(cfg: RunConfig) -> str:
    """The mode for a policy with cameras; asking for videos without the video extra is an error."""
    mode = cfg.record_video or "failures"
    if mode == "none":
        return "none"
    try:
        import imageio_ffmpeg  # noqa: F401

        import vla_eval.video  # noqa: F401
    except ImportError:
        if cfg.record_video is not None:
            raise UsageError("--record-video needs the video extra: pip install 'vla-evalkit[video]'") from None
        return "none"
    return mode


def plan(cfg: RunConfig) -> RunPlan:
    """Resolve and validate ``cfg``; raises UsageError on bad input. Loads no policy and writes nothing."""
    from vla_eval.envs import worker_python

    check_config(cfg)
    check_free(cfg.out)  # another run holds OUT: refuse before loading anything
    suite = get_suite(cfg.suite)
    episodes = tuple(suite.plan(cfg.tasks, cfg.episodes, cfg.max_steps))
    user_args = parse_policy_args(cfg.policy_args)
    policy_class = resolve_policy_class(cfg.policy)
    kwargs = policy_kwargs(cfg.policy, suite, user_args)
    # Ray's GPUs are the cluster's, known once it is up (start_policy).
    placement = None if cfg.executor == "ray" else Placement(tuple(choose_gpus(cfg.gpus)))
    return RunPlan(
        config=cfg,
        suite=suite,
        episodes=episodes,
        policy=cfg.policy,
        policy_class=policy_class,
        policy_args=user_args,
        policy_kwargs=kwargs,
        executor=cfg.executor,
        placement=placement,
        video_mode=_video_mode(cfg),
        python=worker_python(suite, cfg.python),
    )


@dataclass(frozen=True)
class PolicyReplicas:
    """The started replicas of the policy and where they run."""

    replicas: tuple[PolicyReplica, ...]
    placement: Placement
    cluster: Any = None  # the RayCluster with --executor ray


def start_policy(p: RunPlan, stack: contextlib.ExitStack) -> PolicyReplicas:
    """Start the policy's replicas; ``stack`` closes them (and a Ray cluster this run started)."""
    from vla_eval.executors.replicas import InProcessPolicy, ProcessPolicy

    if p.executor == "ray":
        from vla_eval.executors.ray_executor import RayCluster

        cluster = RayCluster(p.config.ray_address)
        stack.callback(cluster.shutdown)
        n_gpus = _ray_gpus(p.config.gpus, cluster.gpus())
        replicas = cluster.start_replicas(p.policy, p.policy_kwargs, p.policy, n_gpus)
        for r in replicas:
            stack.callback(r.close)
        return PolicyReplicas(tuple(replicas), Placement(tuple(str(i) for i in range(n_gpus))), cluster)
    placement = p.placement
    assert placement is not None
    if placement.in_process_policy:
        replica = InProcessPolicy(load_policy(p.policy, p.policy_kwargs), p.policy)
        stack.callback(replica.close)
        return PolicyReplicas((replica,), placement)
    logs = Path(tempfile.mkdtemp(prefix="vla-eval-replicas-"))
    started = []
    for i in range(placement.replicas):
        r = ProcessPolicy(i, p.policy, p.policy_kwargs, p.policy, placement.replica_env(i), logs / f"replica-{i}.log")
        stack.callback(r.close)
        started.append(r)
    return PolicyReplicas(tuple(started), placement)


def check_policy(p: RunPlan, replicas: Sequence[PolicyReplica]) -> PolicySpec:
    """The policy's metadata, the same from every replica, checked against the suite."""
    specs = [r.metadata() for r in replicas]
    if any(s != specs[0] for s in specs[1:]):
        raise UsageError(f"policy replicas disagree on their metadata: {sorted({repr(s) for s in specs})}")
    p.suite.check_policy(specs[0])
    return specs[0]


@dataclass(frozen=True)
class Execution:
    """A planned run with its policy started and checked, and the simulator probed."""

    plan: RunPlan
    policy: PolicySpec  # as the replicas report it (the effective replan steps are the plan's)
    replicas: PolicyReplicas
    probe: Mapping[str, Any]  # probe_suite's answer: simulator versions, env for the workers


def _todo(specs: Sequence[EpisodeSpec], finished: dict[str, LedgerRow], retry_errors: bool) -> list[EpisodeSpec]:
    redo = {EpisodeStatus.ERROR} if retry_errors else set()
    return [s for s in specs if s.episode_id not in finished or finished[s.episode_id].status in redo]


def run(cfg: RunConfig) -> int:
    return execute(plan(cfg))


def execute(p: RunPlan) -> int:
    """Run a plan: 0 done, 1 the policy crashed, 130 interrupted (finished episodes are kept)."""
    err = sys.stderr
    out = p.out
    with contextlib.ExitStack() as stack:
        replicas = start_policy(p, stack)
        pspec = check_policy(p, replicas.replicas)
        ledger = Ledger(out, p.run_json(pspec))
        todo = _todo(p.episodes, ledger.check(), p.config.retry_errors)  # OUT of another configuration: refused
        skipped = len(p.episodes) - len(todo)
        if skipped:
            print(f"resuming {out}: skipped {skipped} finished episode(s), {len(todo)} to run", file=err)
        if not todo:
            print(f"all {len(p.episodes)} selected episode(s) already finished in {out}", file=err)
        else:
            probe = probe_suite(p.suite, p.python)  # SimulatorUnavailable before anything is written
            labels = {"reproduces": p.config.reproduces} if p.config.reproduces else None
            todo = _todo(p.episodes, ledger.open(probe["versions"], labels=labels), p.config.retry_errors)
            try:  # ^ under OUT's lock
                interrupted = bool(todo) and _run_episodes(Execution(p, pspec, replicas, probe), todo, ledger)
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
    _report(p, ledger)
    return 0


def _report(p: RunPlan, ledger: Ledger) -> None:
    """OUT/report.md + report.csv from every finished row in OUT, and the table on stdout."""
    df = aggregate(list(ledger.check().values()))
    md, csv = write_report(p.out, df)
    print_table(df, title=f"{p.policy} on {p.suite.name} ({p.out})")
    print(f"report: {md}, {csv}", file=sys.stderr)


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


def _start_slots(ex: Execution, n_workers: int) -> list[EnvSlot]:
    """The env workers: Ray actors, one in-process slot, or worker processes (logs in OUT/logs)."""
    p, env = ex.plan, ex.probe["env"]
    if ex.replicas.cluster is not None:
        return ex.replicas.cluster.start_slots(p.suite.name, n_workers, env, p.python)
    placement = ex.replicas.placement
    if p.config.in_process:
        from vla_eval.executors.local import InProcessSlot

        return [InProcessSlot(0, p.suite.name, {**env, **placement.worker_env(0)})]
    from vla_eval.executors.local import ProcessSlot

    logs = p.out / "logs"
    return [
        ProcessSlot(i, p.suite.name, {**env, **placement.worker_env(i)}, logs / f"worker-{i}.log", p.python)
        for i in range(n_workers)
    ]


def _run_episodes(ex: Execution, todo: list[EpisodeSpec], ledger: Ledger) -> bool:
    """Run ``todo``, appending each result to the ledger; True when interrupted (Ctrl-C)."""
    p = ex.plan
    loop_cfg = p.loop_config(ex.policy)
    run_meta = {"policy": p.policy, "checkpoint": ex.policy.checkpoint, "simulator": ex.probe["versions"]}
    stats = {"ok": 0, "success": 0, "errors": 0}
    recorder_factory = None
    video_mode = p.video(ex.policy)
    if video_mode != "none":
        from vla_eval.video import EpisodeRecorder

        videos = p.out / "videos"
        fps = float(p.suite.protocol.extra.get("control_freq", 10))
        recorder_factory = lambda spec: EpisodeRecorder(videos, spec.episode_id, video_mode, fps=fps)  # noqa: E731
    trajectory_factory = None
    if p.config.record_trajectory:
        from vla_eval.trajectory import TrajectoryRecorder

        trajectory_factory = lambda spec: TrajectoryRecorder(p.out, spec.episode_id)  # noqa: E731
    slots: list[EnvSlot] = []
    with _progress() as progress:
        bar = progress.add_task(p.suite.name, total=len(todo), sr="-", errors="")

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

        replicas = list(ex.replicas.replicas)
        try:
            slots = _start_slots(ex, min(p.config.workers, len(todo)))
            run_episodes(todo, slots, replicas, loop_cfg, on_result, on_retry, recorder_factory, trajectory_factory)
        except KeyboardInterrupt:
            return True
        finally:
            for s in slots:
                s.kill()
    return False
