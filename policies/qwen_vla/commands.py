"""``vla-eval make-tiny-qwen-vla OUT_DIR``: a tiny random Qwen-VLA checkpoint, built offline.

A subcommand this package contributes (``COMMANDS`` in its ``__init__``). The command imports
torch and transformers only when it runs (the ``qwen`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import tyro

from vla_eval.errors import UsageError


def make_tiny_qwen_vla(
    out_dir: Annotated[Path, tyro.conf.Positional],
    seed: int = 0,
    backbone: Literal["qwen3_5", "qwen2_5_vl", "qwen3_vl"] = "qwen3_5",
    embodiments: tuple[str, ...] = (),
    image_size: Optional[int] = None,
    template_image_sizes: bool = False,
    overwrite: bool = False,
) -> int:
    """Write a tiny random Qwen-VLA checkpoint (backbone/, action_decoder/, embodiments.json) to OUT_DIR.

    Random weights and synthetic normalisation statistics, for tests and smoke runs:
    `vla-eval run --policy qwen_vla --policy-args checkpoint=OUT_DIR embodiment=franka_libero`.

    Args:
        out_dir: Directory to create (must be absent or empty).
        seed: Seed of the random weights.
        backbone: Backbone family: qwen3_5 (Qwen3.5), qwen2_5_vl (Qwen2.5-VL) or qwen3_vl (Qwen3-VL).
        embodiments: Embodiments to include (default: all: franka_libero, widowx_bridge,
            gr1_fourier_hands, aloha_agilex, vln_r2r, vln_rxr, point2d).
        image_size: Square image size of every embodiment (default: 4 vision patches, 64 px for Qwen3.5).
        template_image_sizes: Keep the real model's image sizes (224) instead.
        overwrite: Write into a non-empty OUT_DIR.
    """
    try:
        from vla_eval.policies.qwen_vla.tiny import make_tiny_checkpoint
    except ImportError as e:
        raise UsageError(f"make-tiny-qwen-vla needs the qwen extra (pip install 'vla-evalkit[qwen]'): {e}") from None
    out = make_tiny_checkpoint(
        out_dir,
        seed=seed,
        backbone=backbone,
        embodiments=embodiments or None,
        image_size=image_size,
        template_image_sizes=template_image_sizes,
        overwrite=overwrite,
    )
    from vla_eval.policies.qwen_vla.checkpoint import checkpoint_sha256

    print(f"wrote tiny Qwen-VLA checkpoint ({backbone}) to {out}  {checkpoint_sha256(out)}")
    return 0
