#!/usr/bin/env python
"""Qwen-VLA inference latency and throughput at batch 1, 8 and 32 (random weights).

Builds the architecture of ``policies/qwen_vla`` at full size -- a Qwen3.5-4B-sized backbone
config and a ~1.15B-parameter flow-matching DiT -- with random weights, in bf16 on the given
device, and times the policy's real path: image resize-with-pad and processing, tokenisation,
the VLM forward pass, and the DiT's Euler steps. Nothing is downloaded.

    python benchmarks/qwen_vla_latency.py                          # cuda, bf16, batch 1/8/32
    python benchmarks/qwen_vla_latency.py --device cpu --tiny      # tiny config: checks that it runs
    python benchmarks/qwen_vla_latency.py --through-loader --device cpu   # full size through the checkpoint loader

The backbone sizes are Qwen3.5-4B-like (hidden 2560, 32 layers, 3 linear-attention layers per
full-attention layer, 248k vocabulary, a 24-block vision tower); the chunk length and the number
of Euler steps of Qwen-VLA are not public (defaults: H=16, N=10). On CUDA, Qwen3.5's linear
attention is fast only with the flash-linear-attention and causal-conv1d kernels installed;
the script says which path transformers will take.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.append(str(Path(__file__).resolve().parents[1]))  # after an installed vla_eval


def backbone_config(tiny: bool, token_ids: dict[str, int] | None = None):
    """Qwen3.5-4B-sized config (or the tiny one). token_ids: special token -> id (default:
    Qwen3.5's ids for the full size, the tiny byte-level tokenizer's for the tiny one)."""
    from transformers import Qwen3_5Config

    from vla_eval.policies.qwen_vla.tiny import SPECIAL_TOKENS, _backbone_config

    if tiny:
        return _backbone_config("qwen3_5", token_ids or {s: 256 + i for i, s in enumerate(SPECIAL_TOKENS)})
    vocab = 248320
    tid = token_ids or {  # Qwen3.5's special token ids
        "<|image_pad|>": 248056,
        "<|video_pad|>": 248057,
        "<|vision_start|>": 248053,
        "<|vision_end|>": 248054,
        "<|endoftext|>": 248044,
    }
    ids = {
        "image_token_id": tid["<|image_pad|>"],
        "video_token_id": tid["<|video_pad|>"],
        "vision_start_token_id": tid["<|vision_start|>"],
        "vision_end_token_id": tid["<|vision_end|>"],
    }
    text = {
        "vocab_size": vocab,
        "hidden_size": 2560,
        "intermediate_size": 9216,
        "num_hidden_layers": 32,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "linear_key_head_dim": 128,
        "linear_value_head_dim": 128,
        "linear_num_key_heads": 16,
        "linear_num_value_heads": 32,
        "layer_types": ["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(32)],
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1e7,
            "mrope_section": [11, 11, 10],
            "mrope_interleaved": True,
            "partial_rotary_factor": 0.25,
        },
        "pad_token_id": tid["<|endoftext|>"],
    }
    vision = {
        "depth": 24,
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_heads": 16,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": 2560,
        "num_position_embeddings": 2304,
    }
    return Qwen3_5Config(text_config=text, vision_config=vision, **ids)


def decoder_config(tiny: bool, context_dim: int, horizon: int, steps: int):
    from vla_eval.policies.qwen_vla.spec import DecoderConfig
    from vla_eval.policies.qwen_vla.tiny import tiny_decoder_config

    if tiny:
        d = tiny_decoder_config(context_dim)
        return DecoderConfig(**{**d.__dict__, "action_horizon": horizon, "num_inference_steps": steps})
    # 14 blocks of width 1792 (self-attention, cross-attention, MLP x4, adaLN): ~1.15B parameters
    return DecoderConfig(
        hidden_size=1792,
        num_layers=14,
        num_heads=14,
        context_dim=context_dim,
        action_width=32,
        state_width=32,
        action_horizon=horizon,
        num_inference_steps=steps,
        mlp_ratio=4.0,
        timestep_embed_dim=256,
        dtype="bfloat16",
    )


class BenchTokenizer:
    """Stands in for Qwen's BPE tokenizer: a fixed number of text tokens per prompt."""

    pad_token_id = 0

    def __init__(self, vocab: int, n_tokens: int) -> None:
        self.vocab, self.n = vocab, n_tokens

    def __call__(self, text: str, add_special_tokens: bool = False):
        n = max(1, round(self.n * len(text) / 200))  # ~200 characters of prompt per n tokens
        return {"input_ids": [(hash(text) + i) % 200 + 300 for i in range(n)]}


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--cameras", type=int, default=2, help="images per observation (LIBERO: agentview + wrist)")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument(
        "--text-tokens", type=int, default=64, help="text tokens per prompt (embodiment prompt + instruction)"
    )
    ap.add_argument("--horizon", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10, help="Euler steps of the flow")
    ap.add_argument("--tiny", action="store_true", help="tiny random config (a CPU check that the script runs)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument(
        "--through-loader",
        action="store_true",
        help="instead: save the random model as a checkpoint, load it with QwenVLAPolicy, one infer_batch "
        "(benchmarks/qwen_vla_loader.py)",
    )
    ap.add_argument(
        "--workdir", default=None, help="--through-loader: where the temporary checkpoint goes (default: $TMPDIR)"
    )
    ap.add_argument("--keep", action="store_true", help="--through-loader: keep the checkpoint folder")
    args = ap.parse_args()
    if args.through_loader:
        from benchmarks.qwen_vla_loader import run

        return run(args)
    try:
        out = measure(args)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_table(out["results"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


def measure(args) -> dict:
    """Build the model (full size or tiny) on args.device and time batches; {"meta", "results"}."""
    import numpy as np
    import torch
    import transformers
    from transformers import AutoModel
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from vla_eval.imaging import resize_with_pad
    from vla_eval.policies.qwen_vla.model import ActionDiT, Backbone

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda but torch sees no CUDA device (use --device cpu --tiny to check the script)")
    dtype = getattr(torch, args.dtype)
    batches = [int(b) for b in args.batches.split(",")]
    transformers.logging.set_verbosity_error()

    bcfg = backbone_config(args.tiny)
    t0 = time.perf_counter()
    with torch.device(device):
        model = AutoModel.from_config(bcfg, dtype=dtype)
    model.eval()
    dcfg = decoder_config(args.tiny, bcfg.text_config.hidden_size, args.horizon, args.steps)
    with torch.device(device):
        dit = ActionDiT(dcfg)
        dit.init_random(
            torch.Generator(device=device).manual_seed(0) if device.type == "cuda" else torch.Generator().manual_seed(0)
        )
    dit = dit.to(dtype).eval()
    build_s = time.perf_counter() - t0
    n_vlm = sum(p.numel() for p in model.parameters())
    n_dit = sum(p.numel() for p in dit.parameters())
    patch = bcfg.vision_config.patch_size
    proc = Qwen2VLImageProcessorPil(
        patch_size=patch,
        merge_size=2,
        temporal_patch_size=2,
        min_pixels=args.image_size**2,
        max_pixels=args.image_size**2,
    )
    backbone = Backbone(model, BenchTokenizer(bcfg.text_config.vocab_size, args.text_tokens), proc)
    kernels = []
    for mod in ("fla", "causal_conv1d"):
        try:
            __import__(mod)
            kernels.append(f"{mod}: yes")
        except ImportError:
            kernels.append(f"{mod}: no (torch fallback)")
    print(
        f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), {args.dtype}; "
        f"backbone {n_vlm / 1e6:,.1f}M params, DiT {n_dit / 1e6:,.1f}M params (built in {build_s:.1f} s); "
        f"H={dcfg.action_horizon}, N={dcfg.num_inference_steps}, {args.cameras} x {args.image_size}px images, "
        f"~{args.text_tokens} text tokens; linear-attention kernels: {', '.join(kernels)}",
        flush=True,
    )
    rng = np.random.default_rng(0)
    prompt = "p" * 200

    def one(b: int) -> tuple[float, float, float]:
        raw = [[rng.integers(0, 256, (256, 256, 3), dtype=np.uint8) for _ in range(args.cameras)] for _ in range(b)]
        sync(device)
        t0 = time.perf_counter()
        images = [[resize_with_pad(im, args.image_size, args.image_size) for im in obs] for obs in raw]
        with torch.inference_mode():
            hidden, mask = backbone.encode(
                [prompt] * b, [f"cam{i}" for i in range(args.cameras)], images, ["instr"] * b
            )
            sync(device)
            t1 = time.perf_counter()
            state = torch.zeros(b, dcfg.state_width, device=device)
            smask = torch.zeros(b, dcfg.state_width, dtype=torch.bool, device=device)
            smask[:, :8] = True
            amask = torch.zeros(b, dcfg.action_width, dtype=torch.bool, device=device)
            amask[:, :7] = True
            noise = torch.randn(b, dcfg.action_horizon, dcfg.action_width, device=device)
            dit.sample(hidden, mask, state, smask, amask, noise)
        sync(device)
        t2 = time.perf_counter()
        return t2 - t0, t1 - t0, t2 - t1

    results = []
    for b in batches:
        try:
            for _ in range(args.warmup):
                one(b)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            runs = [one(b) for _ in range(args.iters)]
        except torch.OutOfMemoryError:
            print(f"batch {b}: out of memory", flush=True)
            torch.cuda.empty_cache()
            continue
        tot = sorted(r[0] for r in runs)
        row = {
            "batch": b,
            "latency_ms_p50": 1000 * statistics.median(tot),
            "latency_ms_p90": 1000 * tot[min(len(tot) - 1, int(0.9 * len(tot)))],
            "vlm_ms_p50": 1000 * statistics.median(r[1] for r in runs),
            "dit_ms_p50": 1000 * statistics.median(r[2] for r in runs),
            "throughput_obs_per_s": b / statistics.median(tot),
            "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    meta = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": args.dtype,
        "tiny": args.tiny,
        "backbone_params": n_vlm,
        "dit_params": n_dit,
        "build_s": build_s,
        "kernels": kernels,
        "horizon": dcfg.action_horizon,
        "steps": dcfg.num_inference_steps,
        "cameras": args.cameras,
        "image_size": args.image_size,
        "text_tokens": args.text_tokens,
    }
    return {"meta": meta, "results": results}


def print_table(results: list[dict]) -> None:
    print()
    print("| batch | latency p50 (ms) | p90 (ms) | VLM (ms) | DiT (ms) | throughput (obs/s) | peak GiB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        mem = f"{r['peak_mem_gib']:.1f}" if r["peak_mem_gib"] is not None else "-"
        print(
            f"| {r['batch']} | {r['latency_ms_p50']:.1f} | {r['latency_ms_p90']:.1f} | {r['vlm_ms_p50']:.1f} | "
            f"{r['dit_ms_p50']:.1f} | {r['throughput_obs_per_s']:.1f} | {mem} |"
        )


if __name__ == "__main__":
    sys.exit(main())
