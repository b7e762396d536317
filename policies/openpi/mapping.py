"""Observation key mappings between the harness's ``Observation`` and openpi-style dicts.

openpi servers take one flat dict per step whose keys depend on the robot (its
``examples/*/main.py`` clients); the reply is ``{"actions": [H, D], ...}``. Each mapping is
used in both directions: ``to_wire`` by the remote-policy client, ``from_wire`` by
``vla-eval serve`` (so an openpi client can drive any of our policies).

- ``libero``: "observation/image", "observation/wrist_image" (uint8 [224, 224, 3], resize-with-pad
  as openpi's client does; the harness's images are already rotated 180 degrees),
  "observation/state" (8 float32: eef pos, axis-angle, gripper qpos), "prompt".
- ``aloha``: "images" {"cam_high", "cam_left_wrist", "cam_right_wrist"} (uint8 [3, 224, 224],
  channels first, as openpi's ALOHA clients send), "state" (14 float32), "prompt".
- ``generic``: "images" {camera: uint8 [H, W, 3] as rendered}, "state", "prompt" and
  "embodiment": for suites without an openpi convention (toy_reach, SimplerEnv, RoboCasa,
  VLN-CE).

Clients that know they talk to ``vla-eval serve`` (its metadata says so) also send
"vla_eval/episode_id" and "vla_eval/step", so a served policy sees the same episode ids and
steps as a local one (e.g. for seeded sampling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from vla_eval.errors import UsageError
from vla_eval.imaging import resize_with_pad
from vla_eval.types import Observation

EPISODE_KEY = "vla_eval/episode_id"
STEP_KEY = "vla_eval/step"
OPENPI_IMAGE_SIZE = 224


def _uint8_image(v: Any, what: str) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype != np.uint8 or a.ndim != 3:
        raise ValueError(f"{what} must be a uint8 image [H, W, 3] or [3, H, W], got {a.dtype} {list(a.shape)}")
    if a.shape[0] == 3 and a.shape[-1] != 3:
        a = np.transpose(a, (1, 2, 0))
    if a.shape[-1] != 3:
        raise ValueError(f"{what} must have 3 channels, got shape {list(a.shape)}")
    return np.ascontiguousarray(a)


def _state(v: Any, dim: int | None = None) -> np.ndarray:
    s = np.asarray(v, dtype=np.float32).reshape(-1)
    if dim is not None and s.shape[0] != dim:
        raise ValueError(f"state must have {dim} values, got {s.shape[0]}")
    return s


def _prompt(d: Mapping[str, Any]) -> str:
    p = d.get("prompt", "")
    if isinstance(p, bytes):
        p = p.decode()
    if not isinstance(p, str):
        raise ValueError(f"prompt must be a string, got {type(p).__name__}")
    return p


@dataclass(frozen=True)
class ObsMapping:
    name: str
    cameras: tuple[str, ...]  # harness cameras the mapping sends (empty: whatever the policy asks for)
    to_wire: Callable[[Observation, int], dict[str, Any]]
    from_wire: Callable[[Mapping[str, Any]], tuple[dict[str, np.ndarray], np.ndarray, str]]


# --- libero -----------------------------------------------------------------------------
def _libero_to(obs: Observation, size: int) -> dict[str, Any]:
    return {
        "observation/image": resize_with_pad(obs.images["agentview"], size, size),
        "observation/wrist_image": resize_with_pad(obs.images["wrist"], size, size),
        "observation/state": np.asarray(obs.state, dtype=np.float32),
        "prompt": obs.instruction,
    }


def _libero_from(d: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray, str]:
    missing = [k for k in ("observation/image", "observation/wrist_image", "observation/state") if k not in d]
    if missing:
        raise ValueError(f"LIBERO observation lacks {missing}")
    images = {
        "agentview": _uint8_image(d["observation/image"], "observation/image"),
        "wrist": _uint8_image(d["observation/wrist_image"], "observation/wrist_image"),
    }
    return images, _state(d["observation/state"], 8), _prompt(d)


# --- aloha (RoboTwin / DOMINO aloha-agilex) ---------------------------------------------
_ALOHA_CAMERAS = {"head_camera": "cam_high", "left_camera": "cam_left_wrist", "right_camera": "cam_right_wrist"}


def _aloha_to(obs: Observation, size: int) -> dict[str, Any]:
    images = {
        wire: np.ascontiguousarray(np.transpose(resize_with_pad(obs.images[cam], size, size), (2, 0, 1)))
        for cam, wire in _ALOHA_CAMERAS.items()
        if cam in obs.images
    }
    return {"images": images, "state": np.asarray(obs.state, dtype=np.float32), "prompt": obs.instruction}


def _aloha_from(d: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray, str]:
    imgs = d.get("images")
    if not isinstance(imgs, Mapping):
        raise ValueError("aloha observation lacks an 'images' dict")
    back = {v: k for k, v in _ALOHA_CAMERAS.items()}
    images = {back.get(k, k): _uint8_image(v, f"images/{k}") for k, v in imgs.items()}
    return images, _state(d.get("state", ()), 14), _prompt(d)


# --- generic ----------------------------------------------------------------------------
def _generic_to(obs: Observation, size: int) -> dict[str, Any]:
    del size
    return {
        "images": {k: np.asarray(v) for k, v in obs.images.items()},
        "state": np.asarray(obs.state, dtype=np.float32),
        "prompt": obs.instruction,
        "embodiment": obs.embodiment,
    }


def _generic_from(d: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray, str]:
    imgs = d.get("images", {})
    if not isinstance(imgs, Mapping):
        raise ValueError("'images' must be a dict of camera name -> uint8 image")
    images = {str(k): _uint8_image(v, f"images/{k}") for k, v in imgs.items()}
    return images, _state(d.get("state", ())), _prompt(d)


MAPPINGS: dict[str, ObsMapping] = {
    "libero": ObsMapping("libero", ("agentview", "wrist"), _libero_to, _libero_from),
    "aloha": ObsMapping("aloha", tuple(_ALOHA_CAMERAS), _aloha_to, _aloha_from),
    "generic": ObsMapping("generic", (), _generic_to, _generic_from),
}

# suite embodiment tag (Observation.embodiment / protocol "embodiment") -> mapping
EMBODIMENT_MAPPINGS = {"franka_libero": "libero", "aloha-agilex": "aloha", "aloha_agilex": "aloha"}


def get_mapping(name: str) -> ObsMapping:
    if name not in MAPPINGS:
        raise UsageError(f"unknown observation mapping {name!r} (known: {', '.join(MAPPINGS)})")
    return MAPPINGS[name]


def mapping_for_embodiment(embodiment: str) -> ObsMapping:
    return MAPPINGS[EMBODIMENT_MAPPINGS.get(embodiment, "generic")]


@dataclass(frozen=True)
class OpenpiCodec:
    """What ``vla-eval serve`` needs of this wire format (``vla_eval.codecs.ServeCodec``)."""

    episode_key: str
    step_key: str
    mapping: Callable[[str], ObsMapping]
    mapping_for_embodiment: Callable[[str], ObsMapping]


# Registered as the serve codec "openpi" (SERVE_CODECS in this package's __init__).
CODEC = OpenpiCodec(EPISODE_KEY, STEP_KEY, get_mapping, mapping_for_embodiment)
