"""Load and validate a Qwen-VLA checkpoint directory (layout: see ``spec`` and the README).

Every problem found is one clear line; they are raised together as one
:class:`vla_eval.errors.UsageError`. Weights are read from safetensors only (pickle-based
files are refused), transformers runs with ``local_files_only=True`` and never with remote
code.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vla_eval.errors import UsageError
from vla_eval.policies.qwen_vla.spec import (
    ACCEPTED_BACKBONES,
    WEIGHT_DTYPES,
    DecoderConfig,
    Embodiment,
    Problems,
    parse_embodiments,
    read_json,
)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
TOKENIZER_FILES = (("tokenizer.json",), ("vocab.json", "merges.txt"))
MAX_HEADER_BYTES = 100 * 1024 * 1024


def problems_error(root: Path, problems: Problems) -> UsageError:
    """One line: every problem, separated by "; " (the CLI prints usage errors as one line)."""
    n = f"{len(problems)} problems: " if len(problems) > 1 else ""
    return UsageError(f"invalid Qwen-VLA checkpoint {str(root)!r}: {n}{'; '.join(problems)}")


def checkpoint_sha256(root: Path) -> str:
    """``sha256:<hex>`` over every file of the checkpoint: sorted relative paths and contents."""
    root = Path(root)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        rel = p.relative_to(root).as_posix()
        if any(part.startswith(".") for part in Path(rel).parts):
            continue  # editor/OS droppings (.DS_Store, .cache) are not part of the checkpoint
        f = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                f.update(block)
        h.update(rel.encode() + b"\0" + f.digest())
    return "sha256:" + h.hexdigest()


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor name -> dtype, shape, offsets); no data read."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError("file is too short to be safetensors")
        (n,) = struct.unpack("<Q", raw)
        if n > min(size - 8, MAX_HEADER_BYTES):
            raise ValueError("header length is out of range (not a safetensors file?)")
        header = json.loads(f.read(n))
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    header.pop("__metadata__", None)
    return header


@dataclass(frozen=True)
class CheckpointInfo:
    """What validation learned without loading any weights."""

    root: Path
    decoder: DecoderConfig
    embodiments: dict[str, Embodiment]
    backbone_type: str
    backbone_config: dict[str, Any]


def _text_hidden_size(cfg: dict[str, Any]) -> int | None:
    text = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else cfg
    v = text.get("hidden_size")
    return v if isinstance(v, int) else None


def _check_backbone(root: Path, problems: Problems) -> dict[str, Any] | None:
    bb = root / "backbone"
    if not bb.is_dir():
        problems.add("backbone/", "missing directory (a transformers save_pretrained directory of a Qwen VLM)")
        return None
    cfg = read_json(bb / "config.json", problems, "backbone/config.json")
    if isinstance(cfg, dict):
        mt = cfg.get("model_type")
        if mt not in ACCEPTED_BACKBONES:
            known = ", ".join(f"{k} ({v})" for k, v in ACCEPTED_BACKBONES.items())
            problems.add("backbone/config.json", f"model_type {mt!r} is not an accepted backbone (accepted: {known})")
        if "auto_map" in cfg:
            problems.add("backbone/config.json", "asks for remote code (auto_map); trust_remote_code is never enabled")
        if not isinstance(cfg.get("vision_config"), dict):
            problems.add("backbone/config.json", "has no vision_config (a text-only model cannot see the cameras)")
    elif cfg is not None:
        problems.add("backbone/config.json", "is not a JSON object")
        cfg = None
    shards = sorted(bb.glob("*.safetensors"))
    index = bb / "model.safetensors.index.json"
    if index.is_file():
        idx = read_json(index, problems, "backbone/model.safetensors.index.json")
        wanted = sorted(set((idx or {}).get("weight_map", {}).values())) if isinstance(idx, dict) else []
        for name in wanted:
            if not (bb / name).is_file():
                problems.add(f"backbone/{name}", "missing file (listed in model.safetensors.index.json)")
    if not shards:
        problems.add("backbone/", "has no *.safetensors weights")
    for s in shards:
        try:
            header = safetensors_header(s)
        except (OSError, ValueError) as e:
            problems.add(f"backbone/{s.name}", f"cannot be read as safetensors ({e})")
            continue
        bad = sorted({v.get("dtype") for v in header.values() if isinstance(v, dict)} - set(WEIGHT_DTYPES))
        if bad:
            problems.add(
                f"backbone/{s.name}", f"holds tensors of dtype {', '.join(map(str, bad))}; expected F32, BF16 or F16"
            )
    if not any(all((bb / f).is_file() for f in group) for group in TOKENIZER_FILES):
        problems.add("backbone/", "has no tokenizer files (tokenizer.json, or vocab.json + merges.txt)")
    if not (bb / "tokenizer_config.json").is_file():
        problems.add("backbone/tokenizer_config.json", "missing file")
    proc = read_json(bb / "preprocessor_config.json", problems, "backbone/preprocessor_config.json")
    if isinstance(cfg, dict) and isinstance(proc, dict) and isinstance(cfg.get("vision_config"), dict):
        vc = cfg["vision_config"]
        for pkey, vkey in (
            ("patch_size", "patch_size"),
            ("merge_size", "spatial_merge_size"),
            ("temporal_patch_size", "temporal_patch_size"),
        ):
            if pkey in proc and vkey in vc and proc[pkey] != vc[vkey]:
                problems.add(
                    "backbone/preprocessor_config.json",
                    f"{pkey} is {proc[pkey]} but the vision encoder's {vkey} is {vc[vkey]}",
                )
    return cfg if isinstance(cfg, dict) else None


def _expected_decoder_shapes(cfg: DecoderConfig) -> dict[str, tuple[int, ...]]:
    import torch

    from vla_eval.policies.qwen_vla.model import ActionDiT

    with torch.device("meta"):
        model = ActionDiT(cfg)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _check_decoder_weights(path: Path, cfg: DecoderConfig, problems: Problems) -> None:
    where = "action_decoder/model.safetensors"
    if not path.is_file():
        problems.add(where, "missing file")
        return
    try:
        header = safetensors_header(path)
    except (OSError, ValueError) as e:
        problems.add(where, f"cannot be read as safetensors ({e})")
        return
    expected = _expected_decoder_shapes(cfg)
    missing = [k for k in expected if k not in header]
    unexpected = [k for k in header if k not in expected]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        problems.add(
            where, f"missing tensors {missing[:3]}{more} (for the DiT described by action_decoder/config.json)"
        )
    if unexpected:
        more = f" and {len(unexpected) - 3} more" if len(unexpected) > 3 else ""
        problems.add(where, f"unexpected tensors {unexpected[:3]}{more}")
    for name, shape in expected.items():
        meta = header.get(name)
        if not isinstance(meta, dict):
            continue
        if meta.get("dtype") not in WEIGHT_DTYPES:
            problems.add(where, f"tensor {name!r} has dtype {meta.get('dtype')}; expected F32, BF16 or F16")
        if tuple(meta.get("shape", ())) != shape:
            problems.add(
                where,
                f"tensor {name!r} has shape {list(meta.get('shape', ()))}, expected {list(shape)} "
                "(from action_decoder/config.json)",
            )


def inspect_checkpoint(root: str | os.PathLike) -> CheckpointInfo:
    """Validate the whole layout without loading weights; raise UsageError listing every problem."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UsageError(f"Qwen-VLA checkpoint {str(root)!r} is not a directory")
    problems = Problems()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES:
            problems.add(p.relative_to(root).as_posix(), "pickle-based weights are refused (safetensors only)")
    bb_cfg = _check_backbone(root, problems)
    dec_raw = read_json(root / "action_decoder" / "config.json", problems, "action_decoder/config.json")
    dec = DecoderConfig.from_dict(dec_raw, problems) if dec_raw is not None else None
    embodiments: dict[str, Embodiment] = {}
    if dec is not None:
        _check_decoder_weights(root / "action_decoder" / "model.safetensors", dec, problems)
        if bb_cfg is not None:
            hs = _text_hidden_size(bb_cfg)
            if hs is not None and hs != dec.context_dim:
                problems.add(
                    "action_decoder/config.json",
                    f"context_dim {dec.context_dim} does not match the backbone's hidden size {hs}"
                    " (backbone/config.json)",
                )
        doc = read_json(root / "embodiments.json", problems, "embodiments.json")
        if doc is not None:
            embodiments = parse_embodiments(doc, dec, problems)
    elif not (root / "action_decoder" / "model.safetensors").is_file():
        problems.add("action_decoder/model.safetensors", "missing file")
    if problems:
        raise problems_error(root, problems)
    assert dec is not None and bb_cfg is not None
    return CheckpointInfo(root, dec, embodiments, str(bb_cfg["model_type"]), bb_cfg)


def select_embodiment(info: CheckpointInfo, name: str | None) -> Embodiment:
    from vla_eval.policies.qwen_vla.embodiments import embodiment_for

    known = ", ".join(sorted(info.embodiments))
    if name is None:
        if len(info.embodiments) == 1:
            return next(iter(info.embodiments.values()))
        raise UsageError(
            f"Qwen-VLA checkpoint {str(info.root)!r} has several embodiments; pass embodiment=NAME (known: {known})"
        )
    resolved = embodiment_for(name)
    if resolved not in info.embodiments:
        via = f" (suite {name!r} maps to {resolved!r})" if resolved != name else ""
        raise UsageError(f"unknown embodiment {name!r}{via} in Qwen-VLA checkpoint {str(info.root)!r} (known: {known})")
    return info.embodiments[resolved]


def select_embodiment_for_tag(info: CheckpointInfo, tag: str) -> Embodiment:
    """The checkpoint's embodiment for a suite's embodiment tag (``ActionSpace.embodiment``).

    The embodiment of that name (or that a suite name maps to), else the one whose suite_tags
    hold the tag; several: UsageError asking for embodiment=NAME; none: the unknown-embodiment error.
    """
    from vla_eval.policies.qwen_vla.embodiments import embodiment_for

    if embodiment_for(tag) in info.embodiments:
        return info.embodiments[embodiment_for(tag)]
    serving = sorted(name for name, e in info.embodiments.items() if tag in e.suite_tags)
    if len(serving) == 1:
        return info.embodiments[serving[0]]
    if len(serving) > 1:
        raise UsageError(
            f"Qwen-VLA checkpoint {str(info.root)!r} has several embodiments for the suite's embodiment {tag!r} "
            f"({', '.join(serving)}); pass embodiment=NAME"
        )
    return select_embodiment(info, tag)  # raises the unknown-embodiment error


def load_backbone(root: Path, device: str, dtype: Any) -> Any:
    """The backbone as (model, tokenizer, image processor); raises UsageError on load problems."""
    import transformers
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    from vla_eval.policies.qwen_vla.model import Backbone

    bb = root / "backbone"
    common = {"local_files_only": True, "trust_remote_code": False}
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        model, info = AutoModel.from_pretrained(
            bb, dtype=dtype, use_safetensors=True, output_loading_info=True, ignore_mismatched_sizes=True, **common
        )
        tokenizer = AutoTokenizer.from_pretrained(bb, **common)
        processor = AutoImageProcessor.from_pretrained(bb, **common)
    except UsageError:
        raise
    except Exception as e:
        raise UsageError(f"Qwen-VLA checkpoint {str(root)!r}: cannot load backbone/: {type(e).__name__}: {e}") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()
    problems = Problems()
    for key, got, want in sorted(info.get("mismatched_keys", ()), key=lambda x: x[0]):
        problems.add(
            "backbone/", f"weight {key!r} has shape {list(got)}, expected {list(want)} (from backbone/config.json)"
        )
    missing = sorted(info.get("missing_keys", ()))
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        problems.add("backbone/", f"weights missing from the safetensors files: {missing[:3]}{more}")
    if problems:
        raise problems_error(root, problems)
    model.to(device).eval()
    return Backbone(model, tokenizer, processor)


def load_decoder(root: Path, cfg: DecoderConfig, device: str, dtype: Any) -> Any:
    import torch
    from safetensors.torch import load_file

    from vla_eval.policies.qwen_vla.model import ActionDiT

    state = load_file(str(root / "action_decoder" / "model.safetensors"), device="cpu")
    with torch.device("meta"):  # no float32 random init to overwrite (4.6 GB at full size)
        model = ActionDiT(cfg)
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(device=device, dtype=dtype).eval()
