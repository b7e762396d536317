"""msgpack with numpy arrays: the harness's wire format, compatible with openpi's.

An array travels as ``{"__ndarray__": True, "data": raw bytes, "dtype": dtype.str,
"shape": [...]}`` and a numpy scalar as ``{"__npgeneric__": True, "data": value,
"dtype": dtype.str}`` (byte-string keys, as openpi's ``msgpack_numpy`` writes them).
Object, void and complex dtypes are refused: nothing on the wire can run code (no pickle).
Images travel as raw bytes; nothing is compressed or encoded on the hot path.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import msgpack
import numpy as np

from vla_eval.conventions import CONVENTIONS
from vla_eval.types import Observation, PolicySpec

_ND = b"__ndarray__"
_NG = b"__npgeneric__"
_REFUSED_KINDS = ("V", "O", "c")


def _default(obj: Any) -> Any:
    if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.kind in _REFUSED_KINDS:
        raise ValueError(f"dtype {obj.dtype} cannot be sent on the wire")
    if isinstance(obj, np.ndarray):
        return {_ND: True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return {_NG: True, b"data": obj.item(), b"dtype": obj.dtype.str}
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} on the wire")


def _get(obj: Mapping, key: bytes) -> Any:
    return obj[key] if key in obj else obj[key.decode()]


def _object_hook(obj: dict) -> Any:
    if _ND in obj or "__ndarray__" in obj:
        dtype = np.dtype(_get(obj, b"dtype"))
        if dtype.kind in _REFUSED_KINDS:
            raise ValueError(f"dtype {dtype} refused on the wire")
        return np.frombuffer(_get(obj, b"data"), dtype=dtype).reshape(_get(obj, b"shape"))
    if _NG in obj or "__npgeneric__" in obj:
        dtype = np.dtype(_get(obj, b"dtype"))
        if dtype.kind in _REFUSED_KINDS:
            raise ValueError(f"dtype {dtype} refused on the wire")
        return dtype.type(_get(obj, b"data"))
    return obj


def packb(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def unpackb(data: bytes, max_bytes: int | None = None) -> Any:
    if max_bytes is not None and len(data) > max_bytes:
        raise ValueError(f"message of {len(data)} bytes exceeds the limit of {max_bytes}")
    return msgpack.unpackb(data, object_hook=_object_hook, raw=False, strict_map_key=False)


# --- records ------------------------------------------------------------------------------
def observation_to_dict(obs: Observation) -> dict[str, Any]:
    return {
        "images": dict(obs.images),
        "state": obs.state,
        "instruction": obs.instruction,
        "embodiment": obs.embodiment,
        "env_id": obs.env_id,
        "episode_id": obs.episode_id,
        "step": obs.step,
        "extras": dict(obs.extras),
    }


def observation_from_dict(d: Mapping[str, Any], **override: Any) -> Observation:
    fields = {f.name for f in dataclasses.fields(Observation)}
    kwargs = {k: v for k, v in d.items() if k in fields}
    kwargs.update(override)
    return Observation(**kwargs)


def policy_spec_to_dict(spec: PolicySpec) -> dict[str, Any]:
    d = dataclasses.asdict(spec)
    for key in CONVENTIONS:  # enum members travel as their strings (None: not declared)
        if d.get(key) is not None:
            d[key] = d[key].value
    return d


def policy_spec_from_dict(d: Mapping[str, Any]) -> PolicySpec:
    d = dict(d)
    d["cameras"] = tuple(d.get("cameras", ()))
    if d.get("image_size") is not None:
        d["image_size"] = tuple(d["image_size"])
    return PolicySpec(**d)
