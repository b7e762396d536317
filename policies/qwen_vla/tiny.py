"""A tiny random Qwen-VLA checkpoint, built offline (tests, smoke runs, the CLI's make-tiny-qwen-vla).

Random weights from a seeded generator; a byte-level tokenizer (the 256 byte characters, no
merges, plus Qwen's special tokens); a PIL image processor; every embodiment of
:data:`embodiments.TEMPLATES` with synthetic normalisation statistics. Nothing is downloaded.
The same layout as a trained checkpoint, so the real loading and forward code runs on it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vla_eval.errors import UsageError
from vla_eval.policies.qwen_vla.embodiments import TEMPLATES
from vla_eval.policies.qwen_vla.spec import DecoderConfig, Embodiment, Problems, embodiments_doc

BACKBONES = ("qwen3_5", "qwen2_5_vl", "qwen3_vl")
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
TEXT_HIDDEN = 128


def _tokenizer(backbone: str) -> Any:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    if backbone == "qwen3_5":
        from transformers.models.qwen3_5.tokenization_qwen3_5 import Qwen3_5Tokenizer as Tok
    else:
        from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer as Tok

    chars = sorted(bytes_to_unicode().values(), key=ord)
    vocab = {c: i for i, c in enumerate(chars)}
    for s in SPECIAL_TOKENS:
        vocab[s] = len(vocab)
    tok = Tok(vocab=vocab, merges=[])
    tok.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    return tok


def _backbone_config(backbone: str, token_ids: dict[str, int]) -> Any:
    ids = {
        "image_token_id": token_ids["<|image_pad|>"],
        "video_token_id": token_ids["<|video_pad|>"],
        "vision_start_token_id": token_ids["<|vision_start|>"],
        "vision_end_token_id": token_ids["<|vision_end|>"],
    }
    text = {
        "vocab_size": 512,
        "hidden_size": TEXT_HIDDEN,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "pad_token_id": token_ids["<|endoftext|>"],
    }
    vision = {
        "depth": 2,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_heads": 4,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": TEXT_HIDDEN,
    }
    if backbone == "qwen3_5":
        from transformers import Qwen3_5Config

        text.update(
            head_dim=32,
            linear_key_head_dim=32,
            linear_value_head_dim=32,
            linear_num_key_heads=2,
            linear_num_value_heads=4,
            layer_types=["linear_attention", "full_attention"],
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 1e7,
                "mrope_section": [4, 6, 6],
                "mrope_interleaved": True,
                "partial_rotary_factor": 1.0,
            },
        )
        vision.update(patch_size=16, num_position_embeddings=256)
        return Qwen3_5Config(text_config=text, vision_config=vision, **ids)
    if backbone == "qwen3_vl":
        from transformers import Qwen3VLConfig

        text.update(
            head_dim=32,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 1e6,
                "mrope_section": [4, 6, 6],
                "mrope_interleaved": True,
            },
        )
        vision.update(patch_size=16, num_position_embeddings=256, deepstack_visual_indexes=[1])
        return Qwen3VLConfig(text_config=text, vision_config=vision, **ids)
    if backbone == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        text.update(rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [4, 6, 6]})
        vision.update(patch_size=14, window_size=56, fullatt_block_indexes=[1])
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids)
    raise UsageError(f"unknown tiny backbone {backbone!r} (known: {', '.join(BACKBONES)})")


def tiny_decoder_config(context_dim: int = TEXT_HIDDEN) -> DecoderConfig:
    return DecoderConfig(
        hidden_size=64,
        num_layers=2,
        num_heads=4,
        context_dim=context_dim,
        action_width=32,
        state_width=32,
        action_horizon=8,
        num_inference_steps=4,
        mlp_ratio=2.0,
        timestep_embed_dim=64,
    )


# Synthetic statistics: plausible ranges of each embodiment's raw units.
_RANGES = {
    "franka_libero": {
        "action": ([-0.9] * 3 + [-0.3] * 3 + [-1.0], [0.9] * 3 + [0.3] * 3 + [1.0]),
        "state": ([-0.3, -0.3, 0.8, -3.2, -3.2, -3.2, 0.0, -0.04], [0.3, 0.3, 1.3, 3.2, 3.2, 3.2, 0.04, 0.0]),
    },
    "widowx_bridge": {
        "action": ([-0.03] * 3 + [-0.1] * 3 + [0.0], [0.03] * 3 + [0.1] * 3 + [1.0]),
        "state": (
            [0.1, -0.2, 0.0, -1, -1, -1, -1] + [-2.0] * 6 + [0.0] * 2,
            [0.4, 0.2, 0.3, 1, 1, 1, 1] + [2.0] * 6 + [0.04] * 2,
        ),
    },
    "gr1_arms_waist_fourier_hands": {"action": ([-1.5] * 29, [1.5] * 29), "state": ([-1.5] * 29, [1.5] * 29)},
    "aloha_agilex": {
        "action": ([-1.0] * 6 + [0.0] + [-1.0] * 6 + [0.0], [1.0] * 6 + [1.0] + [1.0] * 6 + [1.0]),
        "state": ([-1.0] * 6 + [0.0] + [-1.0] * 6 + [0.0], [1.0] * 6 + [1.0] + [1.0] * 6 + [1.0]),
    },
    "vln_r2r": {"action": ([0.0, -0.1, -0.5, 0.0], [0.5, 0.1, 0.5, 1.0]), "state": ([], [])},
    "vln_rxr": {"action": ([0.0, -0.1, -0.5, 0.0], [0.5, 0.1, 0.5, 1.0]), "state": ([], [])},
    "point2d": {"action": ([-1.0, -1.0], [1.0, 1.0]), "state": ([0.0, 0.0], [1.0, 1.0])},
}


def _stats(mode: str, lo: Sequence[float], hi: Sequence[float]) -> dict[str, Any]:
    lo_a, hi_a = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    if mode == "q01_q99":
        return {"mode": mode, "q01": lo_a.tolist(), "q99": hi_a.tolist()}
    if mode == "mean_std":
        return {"mode": mode, "mean": ((lo_a + hi_a) / 2).tolist(), "std": ((hi_a - lo_a) / 4).tolist()}
    return {"mode": "none"}


def tiny_embodiments(
    cfg: DecoderConfig, names: Sequence[str] | None = None, image_size: int | None = None
) -> list[Embodiment]:
    out = []
    for name in names or TEMPLATES:
        t = dict(TEMPLATES[name])
        modes = t.pop("norm_modes")
        if image_size is not None:
            t["image_size"] = [image_size, image_size]
        r = _RANGES[name]
        d = {
            **t,
            "action_mask": [1] * t["action_dim"] + [0] * (cfg.action_width - t["action_dim"]),
            "state_mask": [1] * t["state_dim"] + [0] * (cfg.state_width - t["state_dim"]),
            "normalization": {
                "state": _stats(modes["state"], *r["state"]),
                "action": _stats(modes["action"], *r["action"]),
            },
        }
        problems = Problems()
        e = Embodiment.from_dict(name, d, cfg, problems)
        if e is None:  # pragma: no cover - the templates are checked by the tests
            raise ValueError("; ".join(problems))
        out.append(e)
    return out


def make_tiny_checkpoint(
    out_dir: str | os.PathLike,
    seed: int = 0,
    backbone: str = "qwen3_5",
    embodiments: Sequence[str] | None = None,
    image_size: int | None = None,
    template_image_sizes: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write a tiny random checkpoint to ``out_dir`` (must be absent or empty unless overwrite).

    image_size: the square size every embodiment's images are resized to; default 4 patches
    (64 px for Qwen3.5 / Qwen3-VL, 56 for Qwen2.5-VL), which keeps the tiny model fast on CPU.
    template_image_sizes: keep the templates' sizes instead (224, as the real model's).
    """
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import AutoModel
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from vla_eval.policies.qwen_vla.model import ActionDiT

    out = Path(out_dir).expanduser()
    if backbone not in BACKBONES:
        raise UsageError(f"unknown tiny backbone {backbone!r} (known: {', '.join(BACKBONES)})")
    unknown = [e for e in embodiments or () if e not in TEMPLATES]
    if unknown:
        raise UsageError(f"unknown embodiment(s) {unknown} (known: {', '.join(TEMPLATES)})")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise UsageError(f"{str(out)!r} exists and is not an empty directory (pass --overwrite to replace its files)")
    out.mkdir(parents=True, exist_ok=True)

    tok = _tokenizer(backbone)
    token_ids = {s: tok.convert_tokens_to_ids(s) for s in SPECIAL_TOKENS}
    bb_cfg = _backbone_config(backbone, token_ids)
    torch.manual_seed(seed)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        model = AutoModel.from_config(bb_cfg)
        model.save_pretrained(out / "backbone", safe_serialization=True)
    finally:
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()
    tok.save_pretrained(out / "backbone")
    patch = bb_cfg.vision_config.patch_size
    proc = Qwen2VLImageProcessorPil(
        patch_size=patch, merge_size=2, temporal_patch_size=2, min_pixels=(2 * patch) ** 2, max_pixels=448 * 448
    )
    proc.save_pretrained(out / "backbone")

    cfg = tiny_decoder_config(int(bb_cfg.text_config.hidden_size))
    dec = ActionDiT(cfg)
    dec.init_random(torch.Generator().manual_seed(seed + 1))
    (out / "action_decoder").mkdir(exist_ok=True)
    (out / "action_decoder" / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    save_file(
        {k: v.contiguous() for k, v in dec.state_dict().items()},
        str(out / "action_decoder" / "model.safetensors"),
        metadata={"format": "pt"},
    )
    if template_image_sizes:
        image_size = None
    elif image_size is None:
        image_size = 4 * patch
    elif image_size < 2 * patch or image_size % (2 * patch):
        raise UsageError(f"image size must be a multiple of {2 * patch} (patch {patch} x merge 2), got {image_size}")
    doc = embodiments_doc(tiny_embodiments(cfg, embodiments, image_size))
    (out / "embodiments.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / "README.txt").write_text(
        f"Tiny random Qwen-VLA checkpoint (backbone {backbone}, seed {seed}) made by `vla-eval make-tiny-qwen-vla`.\n"
        "Random weights and synthetic normalisation statistics: for tests and smoke runs only.\n"
    )
    return out
