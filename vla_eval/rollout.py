"""The one rollout loop, for every suite and every executor.

``Rollout`` is one episode as a state machine: the last observation, the queue of actions
left from the current chunk (execute ``replan_steps`` of each chunk, then ask the policy
again), the step count and the timings. ``run_episodes`` drives many rollouts over env
slots and policy replicas:

- episodes come from one queue: a free slot takes the next one (work stealing, never a
  fixed split), so long and short episodes balance and no shard is biased;
- each slot is tied to one policy replica; the observations of all its slots that wait for
  actions go to that replica in one ``infer_batch`` call (at most ``max_batch``; with
  ``batch_wait_s`` > 0 a small batch waits that long for more envs to catch up);
- a slot that dies or stops answering (watchdog) is restarted and its episode retried up to
  ``max_retries`` times, then recorded as an error of class "infrastructure", "timeout" or
  "simulator" — never as a policy failure;
- every finished episode goes to ``on_result`` at once (the runner alone writes the ledger).
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from vla_eval import wire
from vla_eval.executors.interfaces import EnvSlot, PolicyCrashed, PolicyReplica
from vla_eval.executors.local import WorkerDied
from vla_eval.executors.waiting import wait_any
from vla_eval.types import EpisodeResult, EpisodeSpec, Observation, PolicySpec, Timing
from vla_eval.validate import ActionError, check_batch, check_chunk, check_discrete, count_out_of_range

__all__ = ["LoopConfig", "PolicyCrashed", "Rollout", "run_episodes"]

RETRYABLE = ("infrastructure", "timeout", "simulator")


@dataclass(frozen=True)
class LoopConfig:
    policy_spec: PolicySpec
    policy_label: str
    replan_steps: int
    action_low: np.ndarray
    action_high: np.ndarray
    reply_timeout_s: float = 600.0  # watchdog: no reply from an env worker for this long -> "timeout"
    max_retries: int = 2  # extra attempts for an episode whose worker died, hung or raised
    # How long a partial batch may wait for envs still stepping. None: adaptive, 1.5x the
    # running mean step time of the env workers, at most 0.2 s.
    batch_wait_s: float | None = None
    discrete: bool = False  # actions are ids: whole numbers within [action_low, action_high]


class Rollout:
    def __init__(
        self,
        spec: EpisodeSpec,
        slot: int,
        cfg: LoopConfig,
        attempt: int = 1,
        recorder: Any = None,
        trajectory: Any = None,
    ):
        self.spec = spec
        self.slot = slot
        self.cfg = cfg
        self.attempt = attempt
        self.recorder = recorder
        self.trajectory = trajectory  # a vla_eval.trajectory.TrajectoryRecorder, or None
        self.sent: np.ndarray | None = None  # the actions of the step request out at the env
        self.actions: collections.deque[np.ndarray] = collections.deque()
        self.obs: Observation | None = None
        self.steps = 0
        self.done = False
        self.finishing = False
        self.inferring = False  # its observation is in a batch at the policy
        self.awaiting = False  # a request is out at its env worker
        self.out_of_range = 0
        self.sim_s = 0.0
        self.policy_s = 0.0
        self.t0 = time.perf_counter()
        self.sent_at = self.t0
        self.ready_at = self.t0

    @property
    def ended(self) -> bool:
        return self.done or self.steps >= self.spec.max_steps

    @property
    def needs_chunk(self) -> bool:
        """Waiting for the policy: a fresh observation, no actions left, not in a batch yet."""
        return not self.awaiting and not self.inferring and self.obs is not None and not self.ended and not self.actions

    def observe(self, reply: dict[str, Any]) -> None:
        self.sim_s += float(reply.get("sim_s", 0.0))
        self.obs = wire.observation_from_dict(reply["obs"], env_id=self.slot)
        self.done = self.done or bool(reply.get("done", False))
        self.ready_at = time.perf_counter()
        if "steps" in reply:  # a chunk was applied: count what the env executed
            self.steps += int(reply["steps"])
        if self.trajectory is not None:
            if "steps" in reply:
                self.trajectory.steps(self.sent, reply["trace"])
            else:
                self.trajectory.reset(self.obs.state, float(reply.get("sim_s", 0.0)))
        if self.recorder is not None:
            for images in reply.get("frames") or [self.obs.images]:
                self.recorder.add(images)

    def take_chunk(self, chunk: np.ndarray) -> None:
        """Validate one chunk [H, D] and queue its first ``replan_steps`` actions."""
        chunk = check_chunk(chunk, self.cfg.policy_spec.action_dim, self.cfg.policy_label, self.spec.episode_id)
        chunk = chunk[: self.cfg.replan_steps]
        if self.cfg.discrete:
            check_discrete(
                chunk, self.cfg.action_low, self.cfg.action_high, self.cfg.policy_label, self.spec.episode_id
            )
        self.out_of_range += count_out_of_range(chunk, self.cfg.action_low, self.cfg.action_high)
        self.actions.extend(chunk)

    def next_actions(self) -> np.ndarray:
        """All queued actions, at most the steps left in the episode: [K, D]."""
        k = min(len(self.actions), self.spec.max_steps - self.steps)
        out = np.stack([self.actions.popleft() for _ in range(k)])
        self.actions.clear()
        return out

    def result(
        self,
        status: str,
        metrics: dict[str, Any] | None = None,
        error: str | None = None,
        error_class: str | None = None,
    ) -> EpisodeResult:
        total = time.perf_counter() - self.t0
        m = dict(metrics or {})
        m["actions_out_of_range"] = self.out_of_range
        success = bool(m.get("success", False)) if status == "ok" else False
        m["success"] = success
        if self.recorder is not None:
            video = self.recorder.finish(success, status)
            if video is not None:
                m["video"] = str(video)
        if self.trajectory is not None:
            m["trajectory"] = self.trajectory.write(
                {
                    "episode": self.spec.to_dict(),
                    "status": status,
                    "success": success,
                    "steps": self.steps,
                    "error_class": error_class,
                    "error": error,
                    "policy": self.cfg.policy_label,
                    "replan_steps": self.cfg.replan_steps,
                }
            )
        return EpisodeResult(
            episode=self.spec,
            status=status,
            success=success,
            steps=self.steps,
            metrics=m,
            timing=Timing(
                sim_s=self.sim_s,
                policy_s=self.policy_s,
                harness_s=max(0.0, total - self.sim_s - self.policy_s),
                total_s=total,
            ),
            error=error,
            error_class=error_class,
            attempts=self.attempt,
            worker=self.slot,
        )


def run_episodes(
    specs: Sequence[EpisodeSpec],
    slots: Sequence[EnvSlot],
    replicas: Sequence[PolicyReplica],
    cfg: LoopConfig,
    on_result: Callable[[EpisodeResult], None],
    on_retry: Callable[[EpisodeSpec, str, int], None] | None = None,
    recorder_factory: Callable[[EpisodeSpec], Any] | None = None,
    trajectory_factory: Callable[[EpisodeSpec], Any] | None = None,
) -> None:
    """Run ``specs`` on ``slots`` with the policy ``replicas``; call ``on_result`` once per episode.

    ``recorder_factory`` makes an episode's video recorder, ``trajectory_factory`` its trajectory
    recorder (:class:`vla_eval.trajectory.TrajectoryRecorder`); None records nothing."""
    _Loop(specs, slots, replicas, cfg, on_result, on_retry, recorder_factory, trajectory_factory).run()


class _Loop:
    def __init__(
        self,
        specs: Sequence[EpisodeSpec],
        slots: Sequence[EnvSlot],
        replicas: Sequence[PolicyReplica],
        cfg: LoopConfig,
        on_result: Callable[[EpisodeResult], None],
        on_retry: Callable[[EpisodeSpec, str, int], None] | None,
        recorder_factory: Callable[[EpisodeSpec], Any] | None,
        trajectory_factory: Callable[[EpisodeSpec], Any] | None = None,
    ) -> None:
        self.queue: collections.deque[tuple[EpisodeSpec, int]] = collections.deque((s, 1) for s in specs)
        self.running: dict[int, Rollout] = {}
        self.slots: list[EnvSlot] = list(slots)
        self.by_index: dict[int, EnvSlot] = {s.index: s for s in slots}
        self.replicas: list[PolicyReplica] = list(replicas)
        self.replica_of: dict[int, PolicyReplica] = {s.index: replicas[i % len(replicas)] for i, s in enumerate(slots)}
        self.in_flight: dict[int, list[Rollout]] = {}  # replica index -> the batch it is computing
        self.cfg = cfg
        self.pspec = wire.policy_spec_to_dict(cfg.policy_spec)
        self.on_result = on_result
        self.on_retry = on_retry
        self.recorder_factory = recorder_factory
        self.trajectory_factory = trajectory_factory
        self.step_time = 0.0  # running mean of env chunk round trips (for the adaptive batch wait)
        self.slot_task: dict[int, int] = {}  # the task whose env each slot holds

    # --- episodes -------------------------------------------------------------------------
    def send(self, r: Rollout, msg: dict[str, Any]) -> None:
        r.sent_at = time.perf_counter()
        r.awaiting = True
        self.by_index[r.slot].send(msg)

    def take(self, slot: EnvSlot) -> tuple[EpisodeSpec, int]:
        """The next episode for a free slot: one of the task its env holds, else one of a task no
        other slot is on, else the first in the queue. Envs are reused instead of rebuilt (seconds
        each), and outcomes cannot depend on the choice: every episode is seeded on its own."""
        last = self.slot_task.get(slot.index)
        busy = {r.spec.task_index for r in self.running.values()}
        pick = None
        for i, (spec, _) in enumerate(self.queue):
            if spec.task_index == last:
                pick = i
                break
            if pick is None and spec.task_index not in busy:
                pick = i
        pick = pick or 0
        item = self.queue[pick]
        del self.queue[pick]
        self.slot_task[slot.index] = item[0].task_index
        return item

    def start_next(self, slot: EnvSlot) -> None:
        while self.queue:
            spec, attempt = self.take(slot)
            recorder = self.recorder_factory(spec) if self.recorder_factory is not None else None
            trajectory = self.trajectory_factory(spec) if self.trajectory_factory is not None else None
            r = Rollout(spec, slot.index, self.cfg, attempt, recorder, trajectory)
            self.running[slot.index] = r
            self.replica_of[slot.index].reset([slot.index])
            try:
                self.send(r, {"op": "start", "spec": spec.to_dict(), "policy": self.pspec})
                return
            except WorkerDied as e:
                self.fail(r, str(e), "infrastructure", restart=True, next_episode=False)

    def end(self, r: Rollout, result: EpisodeResult, next_episode: bool = True) -> None:
        del self.running[r.slot]
        self.on_result(result)
        if next_episode:
            self.start_next(self.by_index[r.slot])

    def fail(self, r: Rollout, error: str, error_class: str, restart: bool = False, next_episode: bool = True) -> None:
        """End ``r`` with an error, or queue it again when its class is retryable and retries are left."""
        if restart:
            self.by_index[r.slot].restart()
        if error_class not in RETRYABLE or r.attempt > self.cfg.max_retries:
            self.end(r, r.result("error", error=error, error_class=error_class), next_episode)
            return
        del self.running[r.slot]
        if r.recorder is not None:
            r.recorder.discard()  # the partial video of a failed attempt
        self.queue.appendleft((r.spec, r.attempt + 1))
        if self.on_retry is not None:
            self.on_retry(r.spec, error, r.attempt)
        if next_episode:
            self.start_next(self.by_index[r.slot])

    def advance(self, r: Rollout) -> None:
        """After an observation or a chunk: step, finish, or wait for the policy."""
        try:
            if r.ended:
                r.finishing = True
                self.send(r, {"op": "finish"})
            elif r.actions:
                r.sent = r.next_actions()
                self.send(
                    r,
                    {
                        "op": "step",
                        "actions": r.sent,
                        "frames": r.recorder is not None,
                        "trace": r.trajectory is not None,
                    },
                )
        except WorkerDied as e:
            self.fail(r, str(e), "infrastructure", restart=True)

    # --- the policy -----------------------------------------------------------------------
    def batch_wait(self) -> float:
        if self.cfg.batch_wait_s is not None:
            return self.cfg.batch_wait_s
        return min(0.2, 1.5 * self.step_time)

    def dispatch(self, now: float) -> float | None:
        """Send waiting observations to idle replicas. Returns the earliest batch-wait deadline."""
        deadline = None
        max_batch = self.cfg.policy_spec.max_batch
        for rep in self.replicas:
            if rep.busy:
                continue
            mine = [r for r in self.running.values() if self.replica_of[r.slot] is rep]
            ready = [r for r in mine if r.needs_chunk]
            if not ready:
                continue
            wait = self.batch_wait()
            if wait > 0 and len(ready) < max_batch and any(r.awaiting for r in mine):
                due = min(r.ready_at for r in ready) + wait
                if now < due:
                    deadline = due if deadline is None else min(deadline, due)
                    continue
            batch = ready[:max_batch]
            for r in batch:
                r.inferring = True
            self.in_flight[rep.index] = batch
            rep.submit([r.obs for r in batch])
        return deadline

    def collect(self, rep: PolicyReplica) -> None:
        batch = self.in_flight.pop(rep.index)
        actions, elapsed = rep.collect()  # raises PolicyCrashed
        share = elapsed / len(batch)
        for r in batch:
            r.inferring = False
            r.policy_s += share
            if r.trajectory is not None:
                r.trajectory.chunk(share)
        try:
            check_batch(actions, len(batch), self.cfg.policy_label)
        except ActionError as e:
            for r in batch:
                self.end(r, r.result("error", error=str(e), error_class="policy"))
            return
        for r, chunk in zip(batch, actions):
            try:
                r.take_chunk(chunk)
            except ActionError as e:
                self.end(r, r.result("error", error=str(e), error_class="policy"))
                continue
            self.advance(r)

    # --- env workers ------------------------------------------------------------------------
    def on_reply(self, slot: EnvSlot) -> None:
        r = self.running.get(slot.index)
        if r is None or not r.awaiting:
            return
        try:
            reply = slot.recv()
        except WorkerDied as e:
            self.fail(r, str(e), "infrastructure", restart=True)
            return
        r.awaiting = False
        if not reply.get("ok", False):
            r.sim_s += float(reply.get("sim_s", 0.0))
            self.fail(r, reply.get("error", "simulator error"), "simulator")
        elif r.finishing:
            r.sim_s += float(reply.get("sim_s", 0.0))
            self.end(r, r.result("ok", metrics=reply.get("metrics", {})))
        else:
            if "steps" in reply:  # a chunk (not the reset): update the mean round trip
                rtt = time.perf_counter() - r.sent_at
                self.step_time = rtt if self.step_time == 0.0 else 0.9 * self.step_time + 0.1 * rtt
            r.observe(reply)
            self.advance(r)

    def watchdog(self, now: float) -> None:
        timeout = self.cfg.reply_timeout_s
        for r in [r for r in self.running.values() if r.awaiting and now - r.sent_at > timeout]:
            self.fail(
                r, f"no reply from env worker {r.slot} in {timeout:g} s (killed and restarted)", "timeout", restart=True
            )

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        try:
            for slot in self.slots:
                self.start_next(slot)
            while self.running:
                self.turn()
        finally:  # also when interrupted: drop the partial videos of the episodes in flight
            for r in self.running.values():
                if r.recorder is not None:
                    r.recorder.discard()

    def turn(self) -> None:
        now = time.perf_counter()
        batch_deadline = self.dispatch(now)
        busy = [rep for rep in self.replicas if rep.busy]
        out = [r for r in self.running.values() if r.awaiting]
        if not out and not busy:
            raise RuntimeError("rollout loop stalled: no request out and no env waiting for the policy")
        timeout = None
        if out:
            timeout = max(0.0, self.cfg.reply_timeout_s - (now - min(r.sent_at for r in out)))
        if batch_deadline is not None:
            left = max(0.0, batch_deadline - now)
            timeout = left if timeout is None else min(timeout, left)
        for h in wait_any([self.by_index[r.slot] for r in out] + busy, timeout):
            if any(h is rep for rep in busy):
                self.collect(h)
            else:
                self.on_reply(h)
        self.watchdog(time.perf_counter())
