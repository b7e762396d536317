"""Part (a): the full-size Qwen-VLA (random init, bf16): latency p50/p90, VLM and DiT parts,
throughput at batch 1/8/32/64, and which linear-attention path ran (benchmarks/qwen_vla_latency.py)."""

from __future__ import annotations

from types import SimpleNamespace


def run(dry: bool) -> dict:
    from benchmarks.qwen_vla_latency import measure

    args = SimpleNamespace(
        device="cpu" if dry else "cuda",
        dtype="bfloat16",
        tiny=dry,
        batches="1,2" if dry else "1,8,32,64",
        iters=2 if dry else 10,
        warmup=1 if dry else 3,
        cameras=2,
        image_size=224,
        text_tokens=64,
        horizon=16,
        steps=10,
    )
    out = measure(args)
    if not dry:  # the model is gone with measure(): give its memory back before part (c)
        import torch

        torch.cuda.empty_cache()
    return out
