#!/usr/bin/env python
"""The full-size Qwen-VLA through the real checkpoint loader: build, save, load, one forward.

    python benchmarks/qwen_vla_latency.py --through-loader --device cpu          # full size (~12 GB RAM)
    python benchmarks/qwen_vla_latency.py --through-loader --device cpu --tiny   # the same path, tiny config

1. build: the full-size architecture of ``qwen_vla_latency.py`` (Qwen3.5-4B-sized backbone,
   1.14B-parameter DiT) with random weights in the given dtype;
2. save: it is written in the project's checkpoint layout (``backbone/`` save_pretrained with a
   byte-level tokenizer and the PIL image processor, ``action_decoder/`` config + safetensors,
   ``embodiments.json`` with ``franka_libero`` and synthetic statistics) to a temporary folder;
3. load: ``QwenVLAPolicy(checkpoint=..., embodiment="franka_libero")`` -- the loader's checks,
   transformers' ``from_pretrained``, the DiT's safetensors, the checkpoint hash;
4. forward: one ``infer_batch`` of one observation with LIBERO's two cameras (256x256, resized
   with pad to 224) and its 8-D state.

Build + save and load + forward run in two child processes, so each phase's peak resident
memory is its own (a process does not give freed memory back reliably). The folder is removed
at the end unless ``--keep``. Random weights: this shows that the full-size configuration and
the loader are coherent and what they cost, nothing about any trained model.

The tokenizer is byte-level (Qwen's BPE vocabulary is not available offline), so the prompt's
text is about 3-4x as many tokens as Qwen's tokenizer would make; the token count is printed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.append(str(Path(__file__).resolve().parents[1]))  # after an installed vla_eval

EMBODIMENT = "franka_libero"
INSTRUCTION = (
    "pick up the black bowl between the plate and the ramekin and place it on the plate"  # libero_spatial task 0
)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def dir_gib(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**30


def save_phase(ckpt: Path, tiny: bool, dtype_name: str, horizon: int, steps: int, device: str = "cpu") -> dict:
    """Build the random model on ``device`` and write it to ``ckpt`` in the project's layout."""
    t0 = time.perf_counter()
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import AutoModel
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from benchmarks.qwen_vla_latency import backbone_config, decoder_config
    from vla_eval.policies.qwen_vla.model import ActionDiT
    from vla_eval.policies.qwen_vla.spec import embodiments_doc
    from vla_eval.policies.qwen_vla.tiny import SPECIAL_TOKENS, _tokenizer, tiny_embodiments

    import_s = time.perf_counter() - t0
    transformers.logging.set_verbosity_error()
    dtype = getattr(torch, dtype_name)
    tok = _tokenizer("qwen3_5")
    bcfg = backbone_config(tiny, {s: tok.convert_tokens_to_ids(s) for s in SPECIAL_TOKENS})
    dcfg = decoder_config(tiny, bcfg.text_config.hidden_size, horizon, steps)

    t0 = time.perf_counter()
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    with torch.device(device):
        model = AutoModel.from_config(bcfg, dtype=dtype)
        torch.set_default_dtype(dtype)  # the DiT's parameters are made in the target dtype (no float32 copy)
        try:
            dit = ActionDiT(dcfg)
        finally:
            torch.set_default_dtype(default)
    dit.init_random(torch.Generator().manual_seed(1))
    build_s = time.perf_counter() - t0
    n_vlm = sum(p.numel() for p in model.parameters())
    n_dit = sum(p.numel() for p in dit.parameters())

    t0 = time.perf_counter()
    model.save_pretrained(ckpt / "backbone")
    tok.save_pretrained(ckpt / "backbone")
    patch = bcfg.vision_config.patch_size
    Qwen2VLImageProcessorPil(
        patch_size=patch, merge_size=2, temporal_patch_size=2, min_pixels=(2 * patch) ** 2, max_pixels=448 * 448
    ).save_pretrained(ckpt / "backbone")
    (ckpt / "action_decoder").mkdir()
    (ckpt / "action_decoder" / "config.json").write_text(json.dumps(dcfg.to_dict(), indent=2) + "\n")
    save_file(
        {k: v.contiguous() for k, v in dit.state_dict().items()},
        str(ckpt / "action_decoder" / "model.safetensors"),
        metadata={"format": "pt"},
    )
    doc = embodiments_doc(tiny_embodiments(dcfg, [EMBODIMENT]))  # the template's 224 px, synthetic statistics
    (ckpt / "embodiments.json").write_text(json.dumps(doc, indent=1) + "\n")
    (ckpt / "README.txt").write_text("Random full-size Qwen-VLA checkpoint written by benchmarks/qwen_vla_loader.py.\n")
    save_s = time.perf_counter() - t0
    return {
        "phase": "save",
        "import_s": import_s,
        "build_s": build_s,
        "save_s": save_s,
        "peak_rss_gib": peak_rss_gib(),
        "backbone_params": n_vlm,
        "dit_params": n_dit,
        "checkpoint_gib": dir_gib(ckpt),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def load_phase(ckpt: Path, device: str, dtype_name: str) -> dict:
    t0 = time.perf_counter()
    import numpy as np
    import torch

    from vla_eval.policies.qwen_vla import policy as qp
    from vla_eval.types import Observation

    import_s = time.perf_counter() - t0
    parts: dict[str, float] = {}

    def timed(name, fn):  # time the loader's own steps as the policy calls them
        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - t

        return wrapper

    for name in ("inspect_checkpoint", "load_backbone", "load_decoder", "checkpoint_sha256"):
        setattr(qp, name, timed(name, getattr(qp, name)))
    t0 = time.perf_counter()
    policy = qp.QwenVLAPolicy(checkpoint=str(ckpt), embodiment=EMBODIMENT, device=device, dtype=dtype_name)
    load_s = time.perf_counter() - t0
    load_rss = peak_rss_gib()
    spec = policy.metadata()

    rng = np.random.default_rng(0)
    obs = Observation(
        images={cam: rng.integers(0, 256, (256, 256, 3), dtype=np.uint8) for cam in spec.cameras},
        state=np.array([-0.05, 0.0, 1.1, 3.1, 0.0, 0.0, 0.03, -0.03], dtype=np.float32),
        instruction=INSTRUCTION,
        embodiment=EMBODIMENT,
        episode_id="qwen-vla-loader-bench",
    )
    bb = policy.backbone
    grid = bb.image_processor(images=policy._images(obs), return_tensors="pt")["image_grid_thw"]
    n_img = (grid.prod(-1) // bb.merge**2).tolist()
    n_tokens = len(bb.build_ids(policy.emb.prompt, policy.emb.cameras, INSTRUCTION, n_img))
    t0 = time.perf_counter()
    actions = policy.infer_batch([obs])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    forward_s = time.perf_counter() - t0
    ok = actions.shape == (1, spec.horizon, spec.action_dim) and bool(np.isfinite(actions).all())
    return {
        "phase": "load",
        "import_s": import_s,
        "load_s": load_s,
        "load_parts_s": parts,
        "load_peak_rss_gib": load_rss,
        "forward_s": forward_s,
        "peak_rss_gib": peak_rss_gib(),
        "tokens": n_tokens,
        "image_tokens": n_img,
        "actions_shape": list(actions.shape),
        "actions_ok": ok,
        "checkpoint": spec.checkpoint,
        "threads": torch.get_num_threads(),
    }


def _child(phase: str, ckpt: Path, args) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--phase",
        phase,
        "--ckpt",
        str(ckpt),
        "--device",
        args.device,
        "--dtype",
        args.dtype,
        "--horizon",
        str(args.horizon),
        "--steps",
        str(args.steps),
    ] + (["--tiny"] if args.tiny else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"error: the {phase} phase failed (exit {proc.returncode}); its stderr is above")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = time.perf_counter() - t0
    return out


def run(args) -> int:
    """The --through-loader mode of qwen_vla_latency.py (args: its parsed arguments)."""
    base = Path(args.workdir) if args.workdir else None
    work = Path(tempfile.mkdtemp(prefix="qwen-vla-full-", dir=base))
    ckpt = work / "checkpoint"
    ckpt.mkdir()
    try:
        print(f"writing the random checkpoint to {ckpt}", flush=True)
        save = _child("save", ckpt, args)
        print(json.dumps(save), flush=True)
        load = _child("load", ckpt, args)
        print(json.dumps(load), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    size = "tiny" if args.tiny else "full-size"
    print()
    print(
        f"{size} Qwen-VLA, {args.dtype}, {args.device}: backbone {save['backbone_params'] / 1e6:,.1f}M + DiT "
        f"{save['dit_params'] / 1e6:,.1f}M parameters; checkpoint {save['checkpoint_gib']:.2f} GiB; "
        f"prompt {load['tokens']} tokens ({'+'.join(map(str, load['image_tokens']))} image); "
        f"torch {save['torch']}, transformers {save['transformers']}, {load['threads']} threads"
    )
    parts = ", ".join(f"{k} {v:.1f}" for k, v in load["load_parts_s"].items())
    print("| phase | seconds | peak RSS of its process (GiB) |")
    print("|---|---|---|")
    print(f"| build (random init) | {save['build_s']:.1f} | {save['peak_rss_gib']:.1f} (build + save) |")
    print(f"| save (project layout) | {save['save_s']:.1f} | |")
    print(f"| load (QwenVLAPolicy: {parts}) | {load['load_s']:.1f} | {load['load_peak_rss_gib']:.1f} (after load) |")
    print(
        f"| one infer_batch (batch 1, 2 cameras) | {load['forward_s']:.1f} "
        f"| {load['peak_rss_gib']:.1f} (load + forward) |"
    )
    print(f"actions {load['actions_shape']}, finite: {load['actions_ok']}")
    if args.json:
        args.json.write_text(
            json.dumps({"size": size, "device": args.device, "dtype": args.dtype, "save": save, "load": load}, indent=2)
        )
    return 0 if load["actions_ok"] else 1


def _phase_main() -> int:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--phase", choices=["save", "load"], required=True)
    ap.add_argument("--ckpt", type=Path, required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--horizon", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    if a.phase == "save":
        out = save_phase(a.ckpt, a.tiny, a.dtype, a.horizon, a.steps)
    else:
        out = load_phase(a.ckpt, a.device, a.dtype)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_phase_main())
