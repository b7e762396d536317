"""Wait for the first of many handles to have a reply: pipes (local) or object refs (Ray).

A handle is a :class:`~vla_eval.executors.interfaces.Waitable` (an env slot or a policy
replica): ``ready_now()`` (a reply already in hand: in-process work) and ``wait_handle()``
(a multiprocessing Connection, a Ray ObjectRef, or None when nothing is out).
"""

from __future__ import annotations

import time
from multiprocessing.connection import Connection, wait
from typing import Any, Sequence, TypeVar

from vla_eval.executors.interfaces import Waitable

W = TypeVar("W", bound=Waitable)


def wait_any(handles: Sequence[W], timeout: float | None) -> list[W]:
    ready = [h for h in handles if h.ready_now()]
    if ready:
        return ready
    conns: dict[Any, W] = {}
    refs: dict[Any, W] = {}
    for h in handles:
        w = h.wait_handle()
        if w is None:
            continue
        (conns if isinstance(w, Connection) else refs)[w] = h
    if not conns and not refs:
        return []
    if not refs:
        return [conns[c] for c in wait(list(conns), timeout=timeout)]
    import ray

    if not conns:
        done, _ = ray.wait(list(refs), num_returns=1, timeout=timeout)
        return [refs[r] for r in done]
    # Both kinds (not a configuration the runner builds, but correct): poll in short slices.
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        out = [conns[c] for c in wait(list(conns), timeout=0.005)]
        done, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0.005)
        out += [refs[r] for r in done]
        if out or (deadline is not None and time.monotonic() >= deadline):
            return out
