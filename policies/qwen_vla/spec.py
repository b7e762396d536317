"""The Qwen-VLA checkpoint format, without torch: decoder config, embodiments, normalisation.

A checkpoint directory holds::

    backbone/            a transformers save_pretrained directory of a Qwen VLM
                         (config.json, *.safetensors, tokenizer and image-processor files)
    action_decoder/      config.json (DecoderConfig) + model.safetensors (the flow-matching DiT)
    embodiments.json     per embodiment: prompt, dims and masks, control mode, gripper
                         convention, normalisation statistics, cameras and image size

Everything here validates into a list of problems (one clear line each); the loader raises
them together as one UsageError. The arrays an embodiment converts are numpy float32.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

# Backbone config model_type -> family name. AutoModel maps each to its base model class.
ACCEPTED_BACKBONES = {"qwen3_5": "Qwen3.5", "qwen3_vl": "Qwen3-VL", "qwen2_5_vl": "Qwen2.5-VL"}
DECODER_FORMAT = "qwen-vla-dit"
EMBODIMENTS_FORMAT = "qwen-vla-embodiments"
FORMAT_VERSION = 1
NORM_MODES = ("q01_q99", "mean_std", "none")
CONTROL_MODES = (
    "delta_eef",  # delta end-effector pose (LIBERO OSC_POSE, SimplerEnv WidowX)
    "abs_eef",
    "joint_abs",  # absolute joint positions (RoboCasa GR1, RoboTwin/DOMINO aloha-agilex)
    "joint_delta",
    "nav_discrete",  # VLN-CE discrete actions (STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT, ...)
    "nav_waypoint",  # VLN-CE continuous waypoints
    "point_delta",  # toy_reach: 2-D velocity
)
# safetensors dtypes accepted for decoder weights.
WEIGHT_DTYPES = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
TORCH_DTYPES = ("float32", "bfloat16", "float16")
EPS = 1e-6


class Problems(list):
    """Collects one clear line per problem found while validating a checkpoint."""

    def add(self, where: str, what: str) -> None:
        self.append(f"{where}: {what}")


# --- the action decoder's config --------------------------------------------------------
@dataclass(frozen=True)
class DecoderConfig:
    """The flow-matching DiT (``action_decoder/config.json``).

    context_dim must equal the backbone's text hidden size (the DiT cross-attends to the VLM's
    last hidden states). action_width / state_width are the shared padded widths; each
    embodiment's mask says which channels it uses. A chunk has ``action_horizon`` steps and is
    integrated from noise in ``num_inference_steps`` Euler steps.
    """

    hidden_size: int
    num_layers: int
    num_heads: int
    context_dim: int
    action_width: int
    state_width: int
    action_horizon: int
    num_inference_steps: int
    mlp_ratio: float = 4.0
    timestep_embed_dim: int = 256
    norm_eps: float = 1e-6
    dtype: str = "float32"

    _INTS = (
        "hidden_size",
        "num_layers",
        "num_heads",
        "context_dim",
        "action_width",
        "state_width",
        "action_horizon",
        "num_inference_steps",
        "timestep_embed_dim",
    )

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {"format": DECODER_FORMAT, "version": FORMAT_VERSION, **d}

    @classmethod
    def from_dict(cls, d: Any, problems: Problems, where: str = "action_decoder/config.json") -> "DecoderConfig | None":
        if not isinstance(d, dict):
            problems.add(where, "is not a JSON object")
            return None
        if d.get("format") != DECODER_FORMAT:
            problems.add(where, f"format is {d.get('format')!r}, expected {DECODER_FORMAT!r}")
        if d.get("version") != FORMAT_VERSION:
            problems.add(where, f"version is {d.get('version')!r}, this loader reads version {FORMAT_VERSION}")
        n0 = len(problems)
        kwargs: dict[str, Any] = {}
        for name in cls._INTS:
            if name not in d:
                if name == "timestep_embed_dim":
                    continue
                problems.add(where, f"missing key {name!r}")
                continue
            v = d[name]
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                problems.add(where, f"{name} must be an integer >= 1, got {v!r}")
                continue
            kwargs[name] = v
        for name in ("mlp_ratio", "norm_eps"):
            if name in d:
                v = d[name]
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
                    problems.add(where, f"{name} must be a number > 0, got {v!r}")
                else:
                    kwargs[name] = float(v)
        if "dtype" in d:
            if d["dtype"] not in TORCH_DTYPES:
                problems.add(where, f"dtype must be one of {list(TORCH_DTYPES)}, got {d['dtype']!r}")
            else:
                kwargs["dtype"] = d["dtype"]
        if len(problems) > n0:
            return None
        if kwargs["hidden_size"] % kwargs["num_heads"]:
            problems.add(
                where, f"hidden_size {kwargs['hidden_size']} is not divisible by num_heads {kwargs['num_heads']}"
            )
            return None
        return cls(**kwargs)


# --- normalisation ----------------------------------------------------------------------
@dataclass(frozen=True)
class Normalizer:
    """Per-channel normalisation of a raw vector (state or action) in environment units.

    q01_q99: x -> 2 (x - q01) / (q99 - q01) - 1 (model outputs are clipped to [-1, 1] before
        mapping back, as OpenVLA and StarVLA do); mean_std: x -> (x - mean) / (std + 1e-6);
        none: identity. Channels whose ``mask`` entry is false pass through unchanged
        (e.g. a gripper already in [-1, 1]); constant channels (q99 == q01) map to 0 and back
        to q01.
    """

    mode: str
    dim: int
    a: np.ndarray  # q01 or mean
    b: np.ndarray  # q99 or std
    mask: np.ndarray  # bool [dim]

    @classmethod
    def identity(cls, dim: int) -> "Normalizer":
        return cls("none", dim, np.zeros(dim, np.float32), np.ones(dim, np.float32), np.zeros(dim, bool))

    def normalize(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.mode == "q01_q99":
            span = self.b - self.a
            ok = span > EPS
            y = np.where(ok, 2.0 * (x - self.a) / np.where(ok, span, 1.0) - 1.0, 0.0)
        elif self.mode == "mean_std":
            y = (x - self.a) / (self.b + EPS)
        else:
            return x.copy()
        return np.where(self.mask, y, x).astype(np.float32)

    def unnormalize(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)
        if self.mode == "q01_q99":
            x = (np.clip(y, -1.0, 1.0) + 1.0) / 2.0 * (self.b - self.a) + self.a
        elif self.mode == "mean_std":
            x = y * (self.b + EPS) + self.a
        else:
            return y.copy()
        return np.where(self.mask, x, y).astype(np.float32)

    @classmethod
    def from_dict(cls, d: Any, dim: int, problems: Problems, where: str) -> "Normalizer | None":
        if not isinstance(d, dict):
            problems.add(where, "must be an object with 'mode' and its statistics")
            return None
        mode = d.get("mode")
        if mode not in NORM_MODES:
            problems.add(where, f"mode must be one of {list(NORM_MODES)}, got {mode!r}")
            return None
        if mode == "none":
            return cls.identity(dim)
        keys = ("q01", "q99") if mode == "q01_q99" else ("mean", "std")
        arrays = []
        for k in keys:
            arr = _float_list(d.get(k), dim, problems, f"{where}.{k}")
            arrays.append(arr)
        mask = np.ones(dim, bool)
        if "mask" in d:
            m = _bool_list(d["mask"], dim, problems, f"{where}.mask")
            if m is not None:
                mask = m
        if any(a is None for a in arrays):
            return None
        a, b = arrays
        if mode == "q01_q99" and np.any(b < a):
            i = int(np.argmax(b < a))
            problems.add(where, f"q99[{i}] = {b[i]} is below q01[{i}] = {a[i]}")
            return None
        if mode == "mean_std" and np.any(b < 0):
            i = int(np.argmax(b < 0))
            problems.add(where, f"std[{i}] = {b[i]} is negative")
            return None
        return cls(mode, dim, a, b, mask)

    def to_dict(self) -> dict[str, Any]:
        if self.mode == "none":
            return {"mode": "none"}
        keys = ("q01", "q99") if self.mode == "q01_q99" else ("mean", "std")
        return {"mode": self.mode, keys[0]: self.a.tolist(), keys[1]: self.b.tolist(), "mask": self.mask.tolist()}


# --- gripper and navigation conventions -------------------------------------------------
@dataclass(frozen=True)
class Gripper:
    """Gripper channels of the (un-normalised) model output and how they map to the env's.

    The model's convention (model_open / model_close, e.g. Bridge data: 1 open, 0 closed) maps
    linearly onto the env's (env_open / env_close, e.g. LIBERO: -1 open, +1 close);
    ``binarize`` snaps the result to the nearer of env_open / env_close.
    """

    channels: tuple[int, ...]
    model_open: float
    model_close: float
    env_open: float
    env_close: float
    binarize: bool = False

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        out = actions.copy()
        scale = (self.env_close - self.env_open) / (self.model_close - self.model_open)
        for c in self.channels:
            v = self.env_open + (actions[..., c] - self.model_open) * scale
            if self.binarize:
                mid = 0.5 * (self.env_open + self.env_close)
                closer_close = (v - mid) * (self.env_close - self.env_open) > 0
                v = np.where(closer_close, self.env_close, self.env_open)
            out[..., c] = v
        return out

    @classmethod
    def from_dict(cls, d: Any, action_dim: int, problems: Problems, where: str) -> "Gripper | None":
        if not isinstance(d, dict):
            problems.add(where, "must be null or an object (channels, model_open, model_close, env_open, env_close)")
            return None
        n0 = len(problems)
        ch = d.get("channels")
        if not isinstance(ch, list) or not ch or not all(isinstance(c, int) and 0 <= c < action_dim for c in ch):
            problems.add(
                where, f"channels must be a non-empty list of action channels in 0..{action_dim - 1}, got {ch!r}"
            )
        vals = {}
        for k in ("model_open", "model_close", "env_open", "env_close"):
            v = d.get(k)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                problems.add(where, f"{k} must be a finite number, got {v!r}")
            else:
                vals[k] = float(v)
        if len(problems) > n0:
            return None
        if vals["model_open"] == vals["model_close"] or vals["env_open"] == vals["env_close"]:
            problems.add(where, "open and close values must differ")
            return None
        return cls(tuple(ch), binarize=bool(d.get("binarize", False)), **vals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channels": list(self.channels),
            "model_open": self.model_open,
            "model_close": self.model_close,
            "env_open": self.env_open,
            "env_close": self.env_close,
            "binarize": self.binarize,
        }


NAV_CHANNELS = ("dx", "dy", "dyaw", "stop")


@dataclass(frozen=True)
class Navigation:
    """How a navigation embodiment's decoder output becomes the suite's actions (VLN-CE).

    The decoder predicts H incremental waypoints in the agent's frame, 4 channels each after
    un-normalisation: dx (m, forward), dy (m, left), dyaw (rad, counter-clockwise) and a stop
    score. ``output = "waypoint"``: the env gets [dx, dy, dyaw, stop in {0, 1}] per step.
    ``output = "discrete"``: each waypoint becomes one discrete action id, as a float:
    STOP when stop >= stop_threshold; else turn toward the waypoint's heading
    (atan2(dy, dx), or dyaw when the waypoint is shorter than half a forward step) when it is
    more than half a turn step away (TURN_LEFT for positive angles, TURN_RIGHT for negative);
    else MOVE_FORWARD.
    """

    output: str
    actions: Mapping[str, int] = field(default_factory=dict)
    forward_step_m: float = 0.25
    turn_step_deg: float = 15.0
    stop_threshold: float = 0.5

    @property
    def env_dim(self) -> int:
        return 1 if self.output == "discrete" else len(NAV_CHANNELS)

    def to_env(self, wp: np.ndarray) -> np.ndarray:
        """[..., H, 4] un-normalised waypoints -> [..., H, env_dim] env actions."""
        dx, dy, dyaw, stop = (wp[..., i] for i in range(4))
        stop_flag = stop >= self.stop_threshold
        if self.output == "waypoint":
            return np.stack([dx, dy, dyaw, stop_flag.astype(np.float32)], axis=-1).astype(np.float32)
        a = self.actions
        dist = np.hypot(dx, dy)
        heading = np.where(dist >= self.forward_step_m / 2, np.arctan2(dy, dx), dyaw)
        half_turn = math.radians(self.turn_step_deg) / 2
        ids = np.where(
            stop_flag,
            a["STOP"],
            np.where(
                heading > half_turn, a["TURN_LEFT"], np.where(heading < -half_turn, a["TURN_RIGHT"], a["MOVE_FORWARD"])
            ),
        )
        return ids[..., None].astype(np.float32)

    @classmethod
    def from_dict(cls, d: Any, action_dim: int, problems: Problems, where: str) -> "Navigation | None":
        if not isinstance(d, dict):
            problems.add(where, "must be an object with 'output' ('discrete' or 'waypoint')")
            return None
        if action_dim != len(NAV_CHANNELS):
            problems.add(
                where,
                f"navigation embodiments predict {len(NAV_CHANNELS)} channels {NAV_CHANNELS};"
                f" action_dim is {action_dim}",
            )
            return None
        out = d.get("output")
        if out not in ("discrete", "waypoint"):
            problems.add(where, f"output must be 'discrete' or 'waypoint', got {out!r}")
            return None
        actions = d.get("actions", {})
        if out == "discrete":
            need = ("STOP", "MOVE_FORWARD", "TURN_LEFT", "TURN_RIGHT")
            if not isinstance(actions, dict) or not all(isinstance(actions.get(k), int) for k in need):
                problems.add(where, f"actions must map {list(need)} to integer action ids, got {actions!r}")
                return None
        kw = {}
        for k in ("forward_step_m", "turn_step_deg", "stop_threshold"):
            if k in d:
                v = d[k]
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                    problems.add(where, f"{k} must be a finite number, got {v!r}")
                    return None
                kw[k] = float(v)
        return cls(out, dict(actions), **kw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "actions": dict(self.actions),
            "forward_step_m": self.forward_step_m,
            "turn_step_deg": self.turn_step_deg,
            "stop_threshold": self.stop_threshold,
        }


# --- embodiments ------------------------------------------------------------------------
@dataclass(frozen=True)
class Embodiment:
    """One robot (or agent) and its control convention, as the checkpoint was trained on it."""

    name: str
    prompt: str
    control_mode: str
    action_dim: int
    state_dim: int
    action_mask: np.ndarray  # bool [action_width]
    state_mask: np.ndarray  # bool [state_width]
    state_norm: Normalizer
    action_norm: Normalizer
    cameras: tuple[str, ...]
    image_size: tuple[int, int]
    action_groups: Mapping[str, int] = field(default_factory=dict)
    state_groups: Mapping[str, int] = field(default_factory=dict)
    gripper: Gripper | None = None
    navigation: Navigation | None = None
    suite_tags: tuple[str, ...] = ()

    @property
    def env_action_dim(self) -> int:
        """The action dimension the suite receives (navigation may map 4 channels to 1 id)."""
        return self.navigation.env_dim if self.navigation is not None else self.action_dim

    def state_to_model(self, state: np.ndarray) -> np.ndarray:
        """Raw env state [state_dim] -> normalised, padded [state_width] (zeros off the mask)."""
        state = np.asarray(state, dtype=np.float32).reshape(-1)
        if state.shape[0] != self.state_dim:
            raise ValueError(f"embodiment {self.name!r} expects a {self.state_dim}-D state, got {state.shape[0]}-D")
        out = np.zeros(self.state_mask.shape[0], np.float32)
        out[self.state_mask] = self.state_norm.normalize(state)
        return out

    def actions_to_env(self, model_actions: np.ndarray) -> np.ndarray:
        """Decoder output [..., H, action_width] (normalised) -> env actions [..., H, env_action_dim]."""
        a = self.action_norm.unnormalize(np.asarray(model_actions, np.float32)[..., self.action_mask])
        if self.gripper is not None:
            a = self.gripper.to_env(a)
        if self.navigation is not None:
            a = self.navigation.to_env(a)
        return np.ascontiguousarray(a, dtype=np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "control_mode": self.control_mode,
            "action_dim": self.action_dim,
            "state_dim": self.state_dim,
            "action_mask": self.action_mask.astype(int).tolist(),
            "state_mask": self.state_mask.astype(int).tolist(),
            "action_groups": dict(self.action_groups),
            "state_groups": dict(self.state_groups),
            "gripper": self.gripper.to_dict() if self.gripper else None,
            "navigation": self.navigation.to_dict() if self.navigation else None,
            "normalization": {"state": self.state_norm.to_dict(), "action": self.action_norm.to_dict()},
            "cameras": list(self.cameras),
            "image_size": list(self.image_size),
            "suite_tags": list(self.suite_tags),
        }

    @classmethod
    def from_dict(cls, name: str, d: Any, cfg: DecoderConfig, problems: Problems) -> "Embodiment | None":
        where = f"embodiments.json: embodiment {name!r}"
        if not isinstance(d, dict):
            problems.add(where, "is not a JSON object")
            return None
        n0 = len(problems)
        prompt = d.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            problems.add(where, "prompt must be a non-empty string")
        mode = d.get("control_mode")
        if mode not in CONTROL_MODES:
            problems.add(where, f"control_mode must be one of {list(CONTROL_MODES)}, got {mode!r}")
        dims = {}
        for k, lo in (("action_dim", 1), ("state_dim", 0)):
            v = d.get(k)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                problems.add(where, f"{k} must be an integer >= {lo}, got {v!r}")
            else:
                dims[k] = v
        masks = {}
        for k, width, dim_key in (
            ("action_mask", cfg.action_width, "action_dim"),
            ("state_mask", cfg.state_width, "state_dim"),
        ):
            m = _bool_list(d.get(k), width, problems, f"{where}: {k}", what=f"the decoder's {k.split('_')[0]} width")
            if m is None:
                continue
            if dim_key in dims and int(m.sum()) != dims[dim_key]:
                problems.add(where, f"{k} selects {int(m.sum())} channels but {dim_key} is {dims[dim_key]}")
                continue
            masks[k] = m
        groups = {}
        for k, dim_key in (("action_groups", "action_dim"), ("state_groups", "state_dim")):
            g = d.get(k) or {}
            if not isinstance(g, dict) or not all(isinstance(v, int) and v >= 1 for v in g.values()):
                problems.add(where, f"{k} must map group names to sizes >= 1, got {g!r}")
            elif g and dim_key in dims and sum(g.values()) != dims[dim_key]:
                problems.add(where, f"{k} sizes add up to {sum(g.values())}, {dim_key} is {dims[dim_key]}")
            else:
                groups[k] = dict(g)
        cams = d.get("cameras")
        if not isinstance(cams, list) or not cams or not all(isinstance(c, str) and c for c in cams):
            problems.add(where, f"cameras must be a non-empty list of camera names, got {cams!r}")
        size = d.get("image_size")
        if not (
            isinstance(size, list)
            and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            problems.add(where, f"image_size must be [height, width] in pixels, got {size!r}")
        tags = d.get("suite_tags", [name])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            problems.add(where, f"suite_tags must be a list of strings, got {tags!r}")
        if len(problems) > n0:
            return None
        norm = d.get("normalization")
        if not isinstance(norm, dict):
            problems.add(where, "normalization must be an object with 'state' and 'action'")
            return None
        state_norm = Normalizer.from_dict(
            norm.get("state"), dims["state_dim"], problems, f"{where}: normalization.state"
        )
        action_norm = Normalizer.from_dict(
            norm.get("action"), dims["action_dim"], problems, f"{where}: normalization.action"
        )
        gripper = None
        if d.get("gripper") is not None:
            gripper = Gripper.from_dict(d["gripper"], dims["action_dim"], problems, f"{where}: gripper")
        nav = None
        if d.get("navigation") is not None:
            nav = Navigation.from_dict(d["navigation"], dims["action_dim"], problems, f"{where}: navigation")
        elif mode in ("nav_discrete", "nav_waypoint"):
            problems.add(where, f"control_mode {mode!r} needs a 'navigation' mapping")
        if len(problems) > n0:
            return None
        return cls(
            name=name,
            prompt=prompt,
            control_mode=mode,
            action_dim=dims["action_dim"],
            state_dim=dims["state_dim"],
            action_mask=masks["action_mask"],
            state_mask=masks["state_mask"],
            state_norm=state_norm,
            action_norm=action_norm,
            cameras=tuple(cams),
            image_size=(size[0], size[1]),
            action_groups=groups.get("action_groups", {}),
            state_groups=groups.get("state_groups", {}),
            gripper=gripper,
            navigation=nav,
            suite_tags=tuple(tags),
        )


def parse_embodiments(doc: Any, cfg: DecoderConfig, problems: Problems) -> dict[str, Embodiment]:
    where = "embodiments.json"
    if not isinstance(doc, dict):
        problems.add(where, "is not a JSON object")
        return {}
    if doc.get("format") != EMBODIMENTS_FORMAT:
        problems.add(where, f"format is {doc.get('format')!r}, expected {EMBODIMENTS_FORMAT!r}")
    if doc.get("version") != FORMAT_VERSION:
        problems.add(where, f"version is {doc.get('version')!r}, this loader reads version {FORMAT_VERSION}")
    embs = doc.get("embodiments")
    if not isinstance(embs, dict) or not embs:
        problems.add(where, "'embodiments' must be a non-empty object of name -> embodiment")
        return {}
    out = {}
    for name, d in embs.items():
        e = Embodiment.from_dict(name, d, cfg, problems)
        if e is not None:
            out[name] = e
    return out


def embodiments_doc(embodiments: Sequence[Embodiment]) -> dict[str, Any]:
    return {
        "format": EMBODIMENTS_FORMAT,
        "version": FORMAT_VERSION,
        "embodiments": {e.name: e.to_dict() for e in embodiments},
    }


def read_json(path: Path, problems: Problems, where: str) -> Any:
    if not path.is_file():
        problems.add(where, "missing file")
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        problems.add(where, f"is not valid JSON ({e})")
        return None


# --- helpers ----------------------------------------------------------------------------
def _float_list(v: Any, dim: int, problems: Problems, where: str) -> np.ndarray | None:
    if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        problems.add(where, f"must be a list of {dim} numbers")
        return None
    if len(v) != dim:
        problems.add(where, f"has {len(v)} values, expected {dim}")
        return None
    arr = np.asarray(v, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        problems.add(where, "has non-finite values")
        return None
    return arr


def _bool_list(v: Any, dim: int, problems: Problems, where: str, what: str = "") -> np.ndarray | None:
    if not isinstance(v, list) or not all(isinstance(x, bool) or x in (0, 1) for x in v):
        problems.add(where, "must be a list of booleans (or 0/1)")
        return None
    if len(v) != dim:
        problems.add(where, f"has {len(v)} entries, expected {dim}" + (f" ({what})" if what else ""))
        return None
    return np.asarray([bool(x) for x in v], dtype=bool)
