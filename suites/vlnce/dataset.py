"""VLN-CE episode files: where they are, how they are read, filtered and ordered. Pure Python.

Layout (VLN-CE's ``data/datasets`` folder, the value of ``VLA_EVAL_VLNCE_DATA``)::

    R2R_VLNCE_v1-3_preprocessed/{split}/{split}.json.gz        episodes
    R2R_VLNCE_v1-3_preprocessed/{split}/{split}_gt.json.gz     ground-truth paths (nDTW)
    RxR_VLNCE_v0/{split}/{split}_{role}.json.gz
    RxR_VLNCE_v0/{split}/{split}_{role}_gt.json.gz

An episodes file is ``{"episodes": [...], ...}`` (R2R also has ``instruction_vocab``); each episode
has ``episode_id``, ``trajectory_id``, ``scene_id`` ("mp3d/<scan>/<scan>.glb"),
``start_position`` [x, y, z], ``start_rotation`` [x, y, z, w], ``goals`` [{position, radius}],
``reference_path`` [[x, y, z], ...], ``instruction`` {instruction_text, ...; RxR: language, ...}
and ``info`` {geodesic_distance}. A ground-truth file maps ``str(episode_id)`` to
``{"locations": [[x, y, z], ...], ...}``: VLN-CE's NDTW measure uses these locations as the
reference path (not the episode's ``reference_path``). As jacobkrantz/VLN-CE
habitat_extensions/task.py does, episode ids are compared as strings, RxR keeps only the listed
languages, and a scene path's ``data/scene_datasets/`` prefix is dropped before joining it to the
scenes folder.

Everything here raises :class:`UsageError` with one line naming the file and what is wrong.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from vla_eval.errors import UsageError

DATA_ENV = "VLA_EVAL_VLNCE_DATA"
SCENES_ENV = "VLA_EVAL_VLNCE_SCENES"
SCENE_PREFIX = "data/scene_datasets/"


@dataclass(frozen=True)
class NavEpisode:
    episode_id: str
    scene_id: str
    start_position: Tuple[float, ...]
    start_rotation: Tuple[float, ...]
    goals: Tuple[Tuple[float, ...], ...]
    goal_radius: Optional[float]
    instruction: str
    language: str
    geodesic_distance: Optional[float]
    reference_path: Tuple[Tuple[float, ...], ...]


@dataclass(frozen=True)
class DatasetFiles:
    episodes: Path
    gt: Path


def data_dir(explicit: Optional[os.PathLike] = None) -> Optional[Path]:
    """explicit, else ``VLA_EVAL_VLNCE_DATA``, else ``data/datasets`` of the suite environment that
    ``vla-eval env create`` built (seen from the runner, or from inside it)."""
    if explicit is not None:
        return Path(explicit)
    value = os.environ.get(DATA_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    from vla_eval.envs import envs_root

    for env in (Path(sys.prefix), envs_root() / "vlnce"):
        if (env / "data" / "datasets").is_dir():
            return env / "data" / "datasets"
    return None


def scenes_dir(data: Optional[Path], explicit: Optional[os.PathLike] = None) -> Optional[Path]:
    """The scenes folder: explicit, else ``VLA_EVAL_VLNCE_SCENES``, else VLN-CE's sibling layout."""
    if explicit is not None:
        return Path(explicit)
    value = os.environ.get(SCENES_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    if data is not None:
        return data.parent / "scene_datasets"
    return None


def dataset_files(suite: str, extra: Mapping[str, Any], split: str, data: Optional[Path]) -> DatasetFiles:
    """The episodes and ground-truth files of a split; UsageError when not configured or missing."""
    folder = str(extra["dataset_dir"])
    if data is None:
        raise UsageError(
            f"suite {suite} needs the VLN-CE episodes: set {DATA_ENV} to the folder that holds {folder}/ "
            f"(VLN-CE's data/datasets; see suites/vlnce/env.toml)"
        )
    role = str(extra.get("role", ""))
    fmt = {"split": split, "role": role}
    episodes = data / folder / str(extra["data_path"]).format(**fmt)
    gt = data / folder / str(extra["gt_path"]).format(**fmt)
    for path, what in ((episodes, "episodes file"), (gt, "ground-truth file")):
        if not path.is_file():
            raise UsageError(
                f"suite {suite}: the {what} {path} does not exist:"
                f" download {extra['download']} and unpack it into {data}"
            )
    return DatasetFiles(episodes=episodes, gt=gt)


def _read_json_gz(path: Path) -> Any:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, EOFError, ValueError) as e:
        raise UsageError(f"{path} is not a gzipped JSON file: {type(e).__name__}: {e}") from None


def _stat_key(path: Path) -> Tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def sort_key(episode_id: str) -> Tuple[int, int, str]:
    """Episode order: integer ids numerically, then any other ids as strings."""
    try:
        return (0, int(episode_id), "")
    except ValueError:
        return (1, 0, episode_id)


def _vec(path: Path, where: str, value: Any, n: int) -> Tuple[float, ...]:
    try:
        out = tuple(float(x) for x in value)
    except (TypeError, ValueError):
        raise UsageError(f"{path}: {where} must be a list of {n} numbers, got {value!r}") from None
    if len(out) != n:
        raise UsageError(f"{path}: {where} must have {n} numbers, got {len(out)}")
    return out


def _parse_episode(path: Path, raw: Any, i: int) -> NavEpisode:
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: episode #{i} is not an object")
    for key in ("episode_id", "scene_id", "start_position", "start_rotation", "goals", "instruction"):
        if key not in raw:
            raise UsageError(f"{path}: episode #{i} has no {key!r}")
    eid = str(raw["episode_id"])
    where = f"episode {eid}"
    instr = raw["instruction"]
    if not isinstance(instr, dict) or "instruction_text" not in instr:
        raise UsageError(f"{path}: {where} has no instruction.instruction_text")
    goals = raw["goals"]
    if not isinstance(goals, list) or not goals:
        raise UsageError(f"{path}: {where} has no goals")
    goal_pos = []
    for g in goals:
        if not isinstance(g, dict) or "position" not in g:
            raise UsageError(f"{path}: {where} has a goal without a position")
        goal_pos.append(_vec(path, f"{where} goal position", g["position"], 3))
    radius = goals[0].get("radius")
    info = raw.get("info") or {}
    geo = info.get("geodesic_distance") if isinstance(info, dict) else None
    ref = raw.get("reference_path") or []
    return NavEpisode(
        episode_id=eid,
        scene_id=str(raw["scene_id"]),
        start_position=_vec(path, f"{where} start_position", raw["start_position"], 3),
        start_rotation=_vec(path, f"{where} start_rotation", raw["start_rotation"], 4),
        goals=tuple(goal_pos),
        goal_radius=None if radius is None else float(radius),
        instruction=str(instr["instruction_text"]),
        language=str(instr.get("language", "") or ""),
        geodesic_distance=None if geo is None else float(geo),
        reference_path=tuple(_vec(path, f"{where} reference_path point", p, 3) for p in ref),
    )


@functools.lru_cache(maxsize=8)
def _load_episodes(key: Tuple[str, int, int], languages: Tuple[str, ...]) -> Tuple[int, Tuple[NavEpisode, ...]]:
    path = Path(key[0])
    doc = _read_json_gz(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("episodes"), list):
        raise UsageError(f"{path} has no 'episodes' list: not a VLN-CE episodes file")
    parsed = [_parse_episode(path, raw, i) for i, raw in enumerate(doc["episodes"])]
    total = len(parsed)
    if languages:
        parsed = [e for e in parsed if e.language in languages]
    ids = [e.episode_id for e in parsed]
    if len(set(ids)) != len(ids):
        raise UsageError(f"{path}: episode ids are not unique")
    parsed.sort(key=lambda e: sort_key(e.episode_id))
    return total, tuple(parsed)


def load_episodes(path: Path, languages: Sequence[str] = ()) -> Tuple[int, Tuple[NavEpisode, ...]]:
    """(episodes in the file, the kept episodes in sorted order). Cached per process and file state."""
    return _load_episodes(_stat_key(path), tuple(languages))


@functools.lru_cache(maxsize=4)
def _load_gt(key: Tuple[str, int, int]) -> Dict[str, List[List[float]]]:
    path = Path(key[0])
    doc = _read_json_gz(path)
    if not isinstance(doc, dict):
        raise UsageError(f"{path} is not a VLN-CE ground-truth file (an object of episode id -> locations)")
    out = {}
    for eid, entry in doc.items():
        if not isinstance(entry, dict) or "locations" not in entry:
            raise UsageError(f"{path}: episode {eid} has no 'locations'")
        out[str(eid)] = [list(_vec(path, f"episode {eid} location", p, 3)) for p in entry["locations"]]
    return out


def load_gt(path: Path) -> Dict[str, List[List[float]]]:
    """Episode id -> ground-truth locations (the nDTW reference path)."""
    return _load_gt(_stat_key(path))


def scene_path(scene_id: str, scenes: Path) -> Path:
    sid = scene_id[len(SCENE_PREFIX) :] if scene_id.startswith(SCENE_PREFIX) else scene_id
    return scenes / sid
