"""The reference loop's scenes as protocol data: what LIBERO's reset randomises that the init state does not restore.

LIBERO's ``reset()`` samples two things that ``set_init_state`` (the flattened MuJoCo state:
time, qpos, qvel) leaves alone:

- the poses of *fixtures* (cabinets, stoves, racks, microwave, caddy), written into the MuJoCo
  **model** (``body_pos`` / ``body_quat`` of the fixture's root body) by the placement code of
  ``bddl_base_domain._reset_internal``;
- the constraint solver's warm start ``data.qacc_warmstart``, left by the reset's own
  computations on the objects it placed at random; the first physics step starts from it.

Nothing else differs (found by comparing every array of the model and the data after
``set_init_state`` across resets; see ``make_scene_table.py``). The reference loop (openpi
``examples/libero/main.py``) seeds once per task and runs episodes 0..49 in order in one env, so
episode i gets what the (i+1)-th reset after the seed sampled, and LIBERO's samplers also carry
state from one reset to the next. A scene table records, for every task and episode, what that
sequence produced; the driver applies episode i's entry after its own reset, so episode i is the
reference's episode i in any worker, fresh or reused, in any order.

File format (``.npz``, no pickle): for each ``{suite}/{task_index}``:
``.../bodies`` (unicode [nb]), ``.../body_pos`` (float64 [n_episodes, nb, 3]),
``.../body_quat`` (float64 [n_episodes, nb, 4], MuJoCo wxyz), and per MuJoCo version ``V``
``.../qacc_warmstart@V`` (float64 [n_episodes, nv]); plus ``meta`` (a JSON string: the reference
loop, its seed, the package versions it was generated with). The table's identity is
:func:`content_hash` (the bytes of the arrays in key order, not the zip container's).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from vla_eval.errors import UsageError


@dataclass(frozen=True)
class SceneEntry:
    """What the reference loop's reset left for one episode, beyond the init state."""

    bodies: tuple[str, ...]
    body_pos: np.ndarray  # [nb, 3]
    body_quat: np.ndarray  # [nb, 4] wxyz
    qacc_warmstart: np.ndarray | None  # [nv]; None when the table has none for this MuJoCo version


def content_hash(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over (key, dtype, shape, bytes) of every array, in sorted key order."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(json.dumps([key, a.dtype.str, list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_table(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    """Write a scene table; returns its content hash."""
    arrays = {**arrays, "meta": np.array(json.dumps(meta, sort_keys=True))}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return content_hash(arrays)


class SceneTable:
    """A loaded, hash-checked scene table."""

    def __init__(self, path: Path, expected_sha256: str = "") -> None:
        if not path.is_file():
            raise UsageError(f"LIBERO scene table {path.name} is missing (expected at {path})")
        with np.load(path, allow_pickle=False) as z:
            self.arrays = {k: z[k] for k in z.files}
        self.sha256 = content_hash(self.arrays)
        if expected_sha256 and self.sha256 != expected_sha256:
            raise UsageError(
                f"LIBERO scene table {path.name} has content hash {self.sha256[:16]}..., "
                f"the protocol file expects {expected_sha256[:16]}...: reinstall the package"
            )
        self.meta = json.loads(str(self.arrays["meta"]))

    def warmstart_versions(self) -> list[str]:
        return sorted({k.split("@", 1)[1] for k in self.arrays if "@" in k})

    def entry(self, suite: str, task_index: int, episode_index: int, mujoco_version: str) -> SceneEntry:
        key = f"{suite}/{task_index}"
        if f"{key}/bodies" not in self.arrays:
            raise UsageError(f"the LIBERO scene table has no entry for {suite} task {task_index}")
        pos = self.arrays[f"{key}/body_pos"]
        if not 0 <= episode_index < pos.shape[0]:
            raise UsageError(f"the LIBERO scene table has {pos.shape[0]} episodes for {key}, not {episode_index}")
        warm = self.arrays.get(f"{key}/qacc_warmstart@{mujoco_version}")
        return SceneEntry(
            bodies=tuple(str(b) for b in self.arrays[f"{key}/bodies"]),
            body_pos=pos[episode_index],
            body_quat=self.arrays[f"{key}/body_quat"][episode_index],
            qacc_warmstart=None if warm is None else warm[episode_index],
        )


@lru_cache(maxsize=4)
def load_table(path: str, expected_sha256: str) -> SceneTable:
    return SceneTable(Path(path), expected_sha256)


def apply_fixtures(model: Any, entry: SceneEntry) -> None:
    """Write the reference's fixture poses into the MuJoCo model (as LIBERO's reset writes its own)."""
    import mujoco

    for name, pos, quat in zip(entry.bodies, entry.body_pos, entry.body_quat):
        bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
        if bid < 0:
            raise RuntimeError(f"scene table body {name!r} is not in this LIBERO model")
        model.body_pos[bid] = pos
        model.body_quat[bid] = quat


def apply_warmstart(model: Any, data: Any, entry: SceneEntry) -> None:
    """Set the solver warm start the reference's first step starts from (zero when the table has none)."""
    if entry.qacc_warmstart is None:
        data.qacc_warmstart[:] = 0.0
        return
    if entry.qacc_warmstart.shape != (model.nv,):
        raise RuntimeError(f"scene table warm start has {entry.qacc_warmstart.shape[0]} dofs, the model {model.nv}")
    data.qacc_warmstart[:] = entry.qacc_warmstart
