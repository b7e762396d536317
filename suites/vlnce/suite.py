"""The VLN-CE suites (r2r_val_unseen, r2r_val_seen, rxr_val_unseen): planning from the dataset files.

NOT YET RUN AGAINST THE SIMULATOR (``VlnceSuite.verified = False``). habitat-sim comes from conda
and the Matterport3D scenes are licensed, so the suite runs in its own environment (``env.toml``
beside this file) with data the user downloads; nothing here imports habitat.

The dataset location is a user setting: ``VLA_EVAL_VLNCE_DATA`` (VLN-CE's ``data/datasets`` folder)
and ``VLA_EVAL_VLNCE_SCENES`` (the folder holding ``mp3d/``; default: ``scene_datasets`` beside the
data folder), or the ``data_dir`` / ``scenes_dir`` arguments of :class:`VlnceSuite`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from vla_eval.diagnose import Dependency, Finding, dependency_findings
from vla_eval.errors import SimulatorUnavailable, UsageError
from vla_eval.suite import Suite, SuiteEnv, package_versions, parse_index_set
from vla_eval.suites.vlnce.dataset import (
    DATA_ENV,
    SCENES_ENV,
    NavEpisode,
    data_dir,
    dataset_files,
    load_episodes,
    scene_path,
    scenes_dir,
)
from vla_eval.types import EpisodeSpec, PolicySpec

HERE = Path(__file__).parent
INSTALL_HINT = (
    "vla-eval env create r2r_val_unseen (a conda environment with habitat-sim 0.3.4 headless;"
    " see suites/vlnce/env.toml), or run with --python <a habitat-sim env's python>"
)


class VlnceSuite(Suite):
    protocol_file = HERE / "protocol.toml"
    verified = False  # not yet run against the simulator
    render_backend = "egl"  # habitat-sim headless builds render through EGL (vla-eval doctor)

    def __init__(self, name: str, data_dir: Optional[os.PathLike] = None, scenes_dir: Optional[os.PathLike] = None):
        super().__init__(name)
        self._data_arg = data_dir
        self._scenes_arg = scenes_dir
        # RxR: show the English episode count when the data is here (the protocol holds the
        # all-language count). Never fails: a missing or broken file is reported by plan().
        if self.protocol.extra.get("count_from_data") and self.data_dir() is not None:
            try:
                _, eps = self.episodes()
            except UsageError:
                return
            task = dataclasses.replace(self.protocol.tasks[0], episodes=len(eps))
            self.protocol = dataclasses.replace(self.protocol, tasks=(task,))

    # --- the dataset ----------------------------------------------------------------------
    @property
    def split(self) -> str:
        return self.protocol.tasks[0].name

    def data_dir(self) -> Optional[Path]:
        return data_dir(self._data_arg)

    def scenes_dir(self) -> Optional[Path]:
        return scenes_dir(self.data_dir(), self._scenes_arg)

    def files(self):
        return dataset_files(self.name, self.protocol.extra, self.split, self.data_dir())

    def episodes(self) -> Tuple[int, Tuple[NavEpisode, ...]]:
        """(episodes in the file, the suite's episodes in plan order); UsageError if unavailable."""
        files = self.files()
        langs = tuple(self.protocol.extra.get("languages", ()))
        total, eps = load_episodes(files.episodes, langs)
        expected = self.protocol.extra.get("expected_total_episodes")
        if expected is not None and total != int(expected):
            raise UsageError(
                f"suite {self.name}: {files.episodes} holds {total} episodes; the protocol's "
                f"{self.protocol.extra['dataset_dir']} {self.split} has {expected} (another dataset version?)"
            )
        if not eps:
            raise UsageError(f"suite {self.name}: {files.episodes} has no episodes in languages {list(langs)}")
        return total, eps

    # --- planning (reads the dataset, imports no simulator) ------------------------------
    def plan(
        self, tasks: Optional[str] = None, episodes: Optional[str] = None, max_steps: Optional[int] = None
    ) -> List[EpisodeSpec]:
        p = self.protocol
        task_ids = parse_index_set(tasks, len(p.tasks), "task")
        if max_steps is not None and max_steps < 1:
            raise UsageError(f"--max-steps must be >= 1, got {max_steps}")
        _, eps = self.episodes()
        specs = []
        for ti in task_ids:
            t = p.tasks[ti]
            steps = max_steps if max_steps is not None else t.max_steps
            for ei in parse_index_set(episodes, len(eps), "episode", f"in task {ti} "):
                ep = eps[ei]
                specs.append(self.episode_spec(ti, ei, steps, ep.instruction, ep.episode_id))
        return specs

    # --- the simulator ---------------------------------------------------------------------
    def availability(self) -> Tuple[bool, str]:
        problems = []
        if importlib.util.find_spec("habitat_sim") is None:
            problems.append(f"habitat-sim is not installed here: {INSTALL_HINT}")
        if importlib.util.find_spec("fastdtw") is None:
            problems.append("fastdtw (VLN-CE's nDTW) is not installed here: pip install fastdtw==0.3.4")
        d = self.data_dir()
        if d is None:
            problems.append(f"dataset not configured: set {DATA_ENV} (see suites/vlnce/env.toml)")
        else:
            try:
                self.files()
            except UsageError as e:
                problems.append(str(e))
        note = "not yet run against the simulator"
        if self.protocol.extra.get("count_from_data") and d is None:
            note += " (episode count: all languages until the data gives the English one)"
        if problems:
            return False, f"{note}; " + "; ".join(problems)
        return True, note

    def diagnose(self) -> List[Finding]:
        """vla-eval doctor, in the suite's interpreter: habitat-sim, fastdtw, episodes, scenes."""
        fix_env = f"vla-eval env create {self.name}"
        out = dependency_findings(
            [
                Dependency(
                    "habitat_sim",
                    "habitat-sim=0.3.4",
                    "the driver (suites/vlnce/driver.py)",
                    fix=f"{fix_env} (conda: habitat-sim=0.3.4 headless from channel aihabitat)",
                ),
                Dependency("fastdtw", "fastdtw==0.3.4", "VLN-CE's NDTW measure (suites/vlnce/ndtw.py)"),
            ]
        )
        if all(f.ok for f in out):
            import habitat_sim

            version = str(getattr(habitat_sim, "__version__", "unknown"))
            major_minor = tuple(int(x) for x in version.split(".")[:2] if x.isdigit())
            ok = len(major_minor) == 2 and major_minor >= (0, 2)
            out.append(
                Finding(
                    "version habitat-sim",
                    ok,
                    f"{version} (the recipe installs 0.3.4; the driver needs >= 0.2)",
                    "" if ok else f"{fix_env} --recreate",
                )
            )
        try:
            total, eps = self.episodes()
            out.append(Finding("episodes", True, f"{len(eps)} of {total} in {self.files().episodes}"))
        except UsageError as e:
            out.append(Finding("episodes", False, str(e), f"{fix_env} (downloads them), or set {DATA_ENV}"))
            return out
        scenes = self.scenes_dir()
        missing = sorted({e.scene_id for e in eps if scenes is None or not scene_path(e.scene_id, scenes).is_file()})
        if missing:
            out.append(
                Finding(
                    "scenes",
                    False,
                    f"{len(missing)} scene(s) of the split missing under {scenes}, e.g. {missing[0]}",
                    "python2.7 download_mp.py --task habitat (Matterport3D terms) and unpack into "
                    f"{scenes}/mp3d, or set {SCENES_ENV}",
                )
            )
        else:
            out.append(Finding("scenes", True, f"all scenes of the split under {scenes}"))
        return out

    def prepare(self) -> Dict[str, str]:
        if importlib.util.find_spec("habitat_sim") is None:
            raise SimulatorUnavailable(f"suite {self.name}: habitat-sim is not installed here: {INSTALL_HINT}")
        if importlib.util.find_spec("fastdtw") is None:
            raise SimulatorUnavailable(
                f"suite {self.name}: fastdtw (VLN-CE's nDTW) is not installed here: pip install fastdtw==0.3.4"
            )
        self.files()
        data = self.data_dir()
        scenes = self.scenes_dir()
        _, eps = self.episodes()
        if scenes is None or not scenes.is_dir():
            raise SimulatorUnavailable(
                f"suite {self.name}: the scenes folder {scenes} does not exist: set {SCENES_ENV} to the folder "
                f"holding mp3d/ (Matterport3D for Habitat, via download_mp.py --task habitat)"
            )
        missing = sorted({e.scene_id for e in eps if not scene_path(e.scene_id, scenes).is_file()})
        if missing:
            raise SimulatorUnavailable(
                f"suite {self.name}: {len(missing)} scene(s) missing under {scenes}, e.g. {missing[0]}"
            )
        # Workers (possibly in another interpreter) find the same files.
        assert data is not None
        return {DATA_ENV: str(data.resolve()), SCENES_ENV: str(scenes.resolve())}

    def env_key(self, spec: EpisodeSpec, policy: PolicySpec) -> Any:
        # One simulator per worker for the whole run; it reloads the scene when an episode needs another.
        return (self.name, policy.cameras, policy.privileged)

    def make_env(self, spec: EpisodeSpec, policy: PolicySpec) -> SuiteEnv:
        from vla_eval.suites.vlnce.driver import VlnceEnv

        files = self.files()
        scenes = self.scenes_dir()
        if scenes is None:
            raise SimulatorUnavailable(f"suite {self.name}: set {SCENES_ENV} to the folder holding mp3d/")
        return VlnceEnv(
            self.protocol, files.episodes, files.gt, scenes, cameras=policy.cameras, privileged=policy.privileged
        )

    def versions(self) -> Dict[str, str]:
        found = package_versions("habitat-sim", "habitat_sim")
        first = list(found.values())[:1]  # the habitat-sim distribution found, under one name
        return {**({"habitat-sim": first[0]} if first else {}), **package_versions("fastdtw")}
