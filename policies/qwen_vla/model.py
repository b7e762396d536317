"""The Qwen-VLA model: a Qwen VLM backbone and a flow-matching DiT action decoder.

Backbone: a transformers Qwen3.5 (or Qwen2.5-VL / Qwen3-VL) base model. The prompt is
``embodiment prompt + camera images + instruction`` in the chat layout; its last hidden states
(after the final norm) and their padding mask are the decoder's context.

Decoder (:class:`ActionDiT`): a diffusion transformer over ``1 + H`` tokens: one state token
(the normalised, padded state and its channel mask) and H action tokens (the noisy chunk and the
action channel mask). Every block has adaLN-modulated self-attention over those tokens,
cross-attention to the VLM context and an MLP; the flow-matching time conditions the adaLN.
Flow convention: x_t = t * actions + (1 - t) * noise, t from 0 (noise) to 1 (data), velocity
target actions - noise; sampling integrates N Euler steps of size 1/N from t = 0. Channels off
the embodiment's action mask are held at zero.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vla_eval.policies.qwen_vla.spec import DecoderConfig


# --- the action decoder -----------------------------------------------------------------
def timestep_features(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal features of the flow time t in [0, 1] (scaled to [0, 1000] as in DiT)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * scale)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    def __init__(self, d: int, heads: int, mlp_ratio: float, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=eps)
        self.qkv = nn.Linear(d, 3 * d)
        self.attn_out = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=eps)
        self.cross_q = nn.Linear(d, d)
        self.cross_kv = nn.Linear(d, 2 * d)
        self.cross_out = nn.Linear(d, d)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=eps)
        hidden = int(d * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d))
        # shift, scale, gate for each of the three sub-layers
        self.ada = nn.Linear(d, 9 * d)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def context_kv(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.cross_kv(ctx).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def forward(
        self, x: torch.Tensor, temb: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], ctx_mask: torch.Tensor
    ) -> torch.Tensor:
        b, n, d = x.shape
        s1, c1, g1, s2, c2, g2, s3, c3, g3 = self.ada(F.silu(temb)).chunk(9, dim=-1)
        h = _modulate(self.norm1(x), s1, c1)
        q, k, v = (self._split(t) for t in self.qkv(h).chunk(3, dim=-1))
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + g1[:, None] * self.attn_out(a)
        h = _modulate(self.norm2(x), s2, c2)
        q = self._split(self.cross_q(h))
        a = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=ctx_mask[:, None, None, :])
        x = x + g2[:, None] * self.cross_out(a.transpose(1, 2).reshape(b, n, d))
        h = _modulate(self.norm3(x), s3, c3)
        return x + g3[:, None] * self.mlp(h)


class ActionDiT(nn.Module):
    """Flow-matching DiT: velocity of the action chunk given time, state and VLM context."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_size
        self.context_norm = nn.LayerNorm(cfg.context_dim, eps=cfg.norm_eps)
        self.context_proj = nn.Linear(cfg.context_dim, d)
        self.state_in = nn.Sequential(nn.Linear(2 * cfg.state_width, d), nn.SiLU(), nn.Linear(d, d))
        self.action_in = nn.Linear(2 * cfg.action_width, d)
        self.pos_emb = nn.Parameter(torch.zeros(1, 1 + cfg.action_horizon, d))
        self.time_mlp = nn.Sequential(nn.Linear(cfg.timestep_embed_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(
            DiTBlock(d, cfg.num_heads, cfg.mlp_ratio, cfg.norm_eps) for _ in range(cfg.num_layers)
        )
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=cfg.norm_eps)
        self.final_ada = nn.Linear(d, 2 * d)
        self.action_out = nn.Linear(d, cfg.action_width)

    def init_random(self, generator: torch.Generator | None = None) -> None:
        """Random weights (tiny test checkpoints, benchmarks): matrices normal with std
        1/sqrt(fan_in), zero biases, unit norm scales, so that at random init every input
        (context, state, time) visibly moves the chunk."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.ndim >= 2:
                    p.copy_(torch.randn(p.shape, generator=generator) / math.sqrt(p.shape[-1]))
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    p.fill_(1.0)

    def encode_context(self, hidden: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-block cross-attention keys/values of the VLM context, computed once per chunk."""
        ctx = self.context_proj(self.context_norm(hidden))
        return [blk.context_kv(ctx) for blk in self.blocks]

    def velocity(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        state_tok: torch.Tensor,
        action_mask: torch.Tensor,
        kvs: Sequence[tuple[torch.Tensor, torch.Tensor]],
        ctx_mask: torch.Tensor,
    ) -> torch.Tensor:
        temb = self.time_mlp(timestep_features(t, self.cfg.timestep_embed_dim).to(x.dtype))
        mask = action_mask[:, None, :].expand_as(x).to(x.dtype)
        a = self.action_in(torch.cat([x * mask, mask], dim=-1))
        h = torch.cat([state_tok[:, None], a], dim=1) + self.pos_emb
        for blk, kv in zip(self.blocks, kvs):
            h = blk(h, temb, kv, ctx_mask)
        shift, scale = self.final_ada(F.silu(temb)).chunk(2, dim=-1)
        h = _modulate(self.final_norm(h), shift, scale)
        return self.action_out(h[:, 1:])

    @torch.no_grad()
    def sample(
        self,
        hidden: torch.Tensor,
        ctx_mask: torch.Tensor,
        state: torch.Tensor,
        state_mask: torch.Tensor,
        action_mask: torch.Tensor,
        noise: torch.Tensor,
        steps: int | None = None,
    ) -> torch.Tensor:
        """Integrate the chunk from ``noise`` [B, H, A] in ``steps`` Euler steps; normalised, padded."""
        steps = steps or self.cfg.num_inference_steps
        dtype = self.action_out.weight.dtype
        kvs = self.encode_context(hidden.to(dtype))
        sm = state_mask.to(dtype)
        state_tok = self.state_in(torch.cat([state.to(dtype) * sm, sm], dim=-1))
        am = action_mask.to(dtype)[:, None, :]
        x = noise.to(dtype) * am
        dt = 1.0 / steps
        for k in range(steps):
            t = torch.full((x.shape[0],), k * dt, device=x.device)
            x = (x + dt * self.velocity(x, t, state_tok, action_mask, kvs, ctx_mask)) * am
        return x.float()


# --- the backbone -----------------------------------------------------------------------
class Backbone:
    """A Qwen VLM base model with its tokenizer and image processor: prompt -> last hidden states."""

    def __init__(self, model: Any, tokenizer: Any, image_processor: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        cfg = model.config
        self.image_token_id = int(cfg.image_token_id)
        self.vision_start_id = int(cfg.vision_start_token_id)
        self.vision_end_id = int(getattr(cfg, "vision_end_token_id", cfg.vision_start_token_id + 1))
        self.merge = int(cfg.vision_config.spatial_merge_size)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._takes_mm_types = "mm_token_type_ids" in inspect.signature(model.forward).parameters

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.text_config.hidden_size)

    def _text(self, s: str) -> list[int]:
        return list(self.tokenizer(s, add_special_tokens=False)["input_ids"])

    def build_ids(self, prompt: str, cameras: Sequence[str], instruction: str, n_tokens: Sequence[int]) -> list[int]:
        """Chat layout: user turn = embodiment prompt, one image per camera, instruction."""
        ids = self._text(f"<|im_start|>user\n{prompt}\n")
        for cam, n in zip(cameras, n_tokens):
            ids += self._text(f"{cam}: ")
            ids += [self.vision_start_id] + [self.image_token_id] * n + [self.vision_end_id]
            ids += self._text("\n")
        ids += self._text(f"{instruction}<|im_end|>\n<|im_start|>assistant\n")
        return ids

    @torch.no_grad()
    def encode(
        self,
        prompts: Sequence[str],
        cameras: Sequence[str],
        images: Sequence[Sequence[np.ndarray]],
        instructions: Sequence[str],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns last hidden states [B, L, C] and the padding mask [B, L] (right-padded)."""
        device = self.model.device
        flat = [img for per_obs in images for img in per_obs]
        vis = self.image_processor(images=flat, return_tensors="pt")
        grid = vis["image_grid_thw"]
        n_tok = (grid.prod(-1) // (self.merge**2)).tolist()
        seqs, k = [], 0
        for prompt, per_obs, instr in zip(prompts, images, instructions):
            seqs.append(self.build_ids(prompt, cameras, instr, n_tok[k : k + len(per_obs)]))
            k += len(per_obs)
        length = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), length), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, : len(s)] = 1
        kwargs: dict[str, Any] = {
            "input_ids": ids.to(device),
            "attention_mask": mask.to(device),
            "pixel_values": vis["pixel_values"].to(device, self.model.dtype),
            "image_grid_thw": grid.to(device),
            "use_cache": False,
        }
        if self._takes_mm_types:
            kwargs["mm_token_type_ids"] = (ids == self.image_token_id).to(torch.int32).to(device)
        if hasattr(self.model, "rope_deltas"):
            self.model.rope_deltas = None  # positions are recomputed for every new prompt
        out = self.model(**kwargs)
        return out.last_hidden_state, mask.to(device).bool()
