"""Episode videos: ``EpisodeRecorder`` writes ``<videos_dir>/<episode_id>.mp4``.

One ``add`` per step with the policy's camera images (uint8 HxWx3; several cameras are tiled
side by side, in the mapping's order, shorter ones padded with black at the bottom). Frames
stream to a temporary file next to the final one as they come (memory does not grow with
episode length); ``finish`` keeps the video (an atomic rename over any earlier recording of
the same episode) or deletes it:

- mode "all": keep every episode's video;
- mode "failures": keep it when the episode did not succeed (failures and errors);
- mode "none": record nothing.

When a recording is not kept, an earlier video of the same episode id is removed too, so the
videos folder always matches the ledger's latest row of each episode.

Needs the optional extra ``video`` (``pip install 'vla-evalkit[video]'``: imageio and
imageio-ffmpeg, which ships its own ffmpeg binary).
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from vla_eval.errors import UsageError

MODES = ("failures", "all", "none")
INSTALL_HINT = "episode videos need imageio and imageio-ffmpeg: pip install 'vla-evalkit[video]'"


def video_available() -> tuple[bool, str]:
    missing = [m for m in ("imageio", "imageio_ffmpeg") if importlib.util.find_spec(m) is None]
    return (not missing, "" if not missing else f"{', '.join(missing)} not installed; {INSTALL_HINT}")


def tile(images: Mapping[str, np.ndarray]) -> np.ndarray:
    """Camera images side by side in one uint8 frame; padded to even height and width (H.264)."""
    arrays = []
    for name, img in images.items():
        a = np.asarray(img)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError(f"camera {name!r}: expected a uint8 image [H, W, 3], got {a.dtype} {a.shape}")
        arrays.append(a)
    h = max(a.shape[0] for a in arrays)
    w = sum(a.shape[1] for a in arrays)
    frame = np.zeros((h + h % 2, w + w % 2, 3), dtype=np.uint8)
    x = 0
    for a in arrays:
        frame[: a.shape[0], x : x + a.shape[1]] = a
        x += a.shape[1]
    return frame


class EpisodeRecorder:
    """Record one episode's camera images to ``<videos_dir>/<episode_id>.mp4``."""

    def __init__(self, videos_dir: Path, episode_id: str, mode: str, fps: float = 10.0) -> None:
        if mode not in MODES:
            raise ValueError(f"video mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not episode_id or "/" in episode_id or os.sep in episode_id or episode_id.startswith("."):
            raise ValueError(f"episode_id {episode_id!r} is not usable as a file name")
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps!r}")
        if mode != "none":
            ok, why = video_available()
            if not ok:
                raise UsageError(why)
        self.videos_dir = Path(videos_dir)
        self.episode_id = episode_id
        self.mode = mode
        self.fps = float(fps)
        self.path = self.videos_dir / f"{episode_id}.mp4"
        self.frames = 0
        self.shape: tuple[int, ...] | None = None
        self._tmp: Path | None = None
        self._writer: Any = None
        self._finished = False

    def add(self, images: Mapping[str, np.ndarray]) -> None:
        """Append one step's frame; no-op in mode "none" or when there are no camera images."""
        if self._finished:
            raise RuntimeError(f"recorder of episode {self.episode_id} is finished")
        if self.mode == "none" or not images:
            return
        frame = tile(images)
        if self._writer is None:
            import imageio.v2 as iio

            self.videos_dir.mkdir(parents=True, exist_ok=True)
            self._tmp = self.videos_dir / f".{self.episode_id}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part.mp4"
            self.shape = frame.shape
            self._writer = iio.get_writer(
                self._tmp,
                format="FFMPEG",
                mode="I",
                fps=self.fps,
                codec="libx264",
                pixelformat="yuv420p",
                macro_block_size=1,
                ffmpeg_log_level="error",
            )
        elif frame.shape != self.shape:
            raise ValueError(
                f"episode {self.episode_id}: frame {self.frames} has shape {frame.shape}, the first had {self.shape}"
            )
        self._writer.append_data(frame)
        self.frames += 1

    def finish(self, success: bool, status: str) -> Path | None:
        """Close the video; keep it as ``<episode_id>.mp4`` (returned) or delete it (None)."""
        if self._finished:
            raise RuntimeError(f"recorder of episode {self.episode_id} is already finished")
        self._finished = True
        if self.mode == "none":
            return None
        self._close_writer()
        keep = self.mode == "all" or (self.mode == "failures" and not (success and status == "ok"))
        if keep and self._tmp is not None and self.frames > 0:
            os.replace(self._tmp, self.path)
            self._tmp = None
            return self.path
        self.discard()
        if self.path.exists():
            self.path.unlink()  # an earlier recording of this episode no longer matches its outcome
        return None

    def discard(self) -> None:
        """Stop and delete the temporary file (e.g. when the episode is interrupted)."""
        self._close_writer()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
        self._finished = True

    def _close_writer(self) -> None:
        if self._writer is not None:
            w, self._writer = self._writer, None
            w.close()

    def __enter__(self) -> "EpisodeRecorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self._finished:
            self.discard()
