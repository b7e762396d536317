"""``--policy qwen_vla``: the Qwen-VLA architecture behind the harness's policy interface.

    vla-eval run --suite libero_spatial --policy qwen_vla \\
        --policy-args checkpoint=DIR embodiment=franka_libero device=cpu

The harness passes raw environment units in (state as the suite reports it, upright uint8
images) and receives environment units out: the policy resizes the images to the embodiment's
size (resize-with-pad), normalises the state, pads it to the decoder's width, runs the VLM and
the DiT, un-normalises the actions, applies the gripper convention (and, for navigation, the
mapping to the suite's actions).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from vla_eval.conventions import ActionSpace, Gripper
from vla_eval.errors import UsageError
from vla_eval.imaging import resize_with_pad
from vla_eval.policies.qwen_vla.checkpoint import (
    checkpoint_sha256,
    inspect_checkpoint,
    load_backbone,
    load_decoder,
    select_embodiment,
    select_embodiment_for_tag,
)
from vla_eval.policy import Policy
from vla_eval.types import Observation, PolicySpec

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def noise_seed(seed: int, episode_id: str, step: int) -> int:
    """The flow's initial noise depends on (seed, episode, step) only, never on the batch."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{episode_id}:{step}".encode()).digest()[:8], "little") >> 1


class QwenVLAPolicy(Policy):
    """Qwen-VLA: Qwen VLM backbone + flow-matching DiT action decoder.

    Args:
        checkpoint: checkpoint directory (layout in the README, "Qwen-VLA checkpoints").
        embodiment: an embodiment of the checkpoint's embodiments.json, or a suite name that
            maps to one (e.g. libero_spatial -> franka_libero). Default: the one serving the
            suite's embodiment tag (``action_space.embodiment``), else the checkpoint's only one.
        action_space: the suite's action space (the runner passes it).
        device: torch device ("cpu", "cuda", "cuda:1").
        dtype: float32, bfloat16 or float16 (default: float32 on CPU, bfloat16 on CUDA).
        num_steps: Euler steps (default: the checkpoint's num_inference_steps).
        seed: seed of the flow's initial noise (per episode and step, so outputs do not
            depend on how observations were batched).
        max_batch: the largest batch one forward pass takes.
        replan_steps: actions executed per chunk (default: the suite's).
        check_embodiment: refuse observations whose embodiment tag is not one of the
            embodiment's suite_tags.
    """

    def __init__(
        self,
        checkpoint: str,
        embodiment: str | None = None,
        device: str = "cpu",
        dtype: str | None = None,
        num_steps: int | None = None,
        seed: int = 0,
        max_batch: int = 32,
        replan_steps: int | None = None,
        check_embodiment: bool = True,
        action_space: ActionSpace | None = None,
    ) -> None:
        info = inspect_checkpoint(checkpoint)
        tag = action_space.embodiment if action_space is not None else ""
        if embodiment is None and tag:
            self.emb = select_embodiment_for_tag(info, tag)
        else:
            self.emb = select_embodiment(info, embodiment)
        if check_embodiment and tag and tag not in self.emb.suite_tags:
            raise UsageError(
                f"qwen_vla: the suite's embodiment is {tag!r}; embodiment {self.emb.name!r} serves "
                f"{list(self.emb.suite_tags)} (pick another with embodiment=NAME)"
            )
        self.cfg = info.decoder
        try:
            self.device = torch.device(device)
        except RuntimeError as e:
            raise UsageError(f"qwen_vla: bad device {device!r}: {e}") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise UsageError(f"qwen_vla: device {device!r} asked for, but torch sees no CUDA device here")
        dtype = dtype or ("bfloat16" if self.device.type == "cuda" else "float32")
        if dtype not in _DTYPES:
            raise UsageError(f"qwen_vla: dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.dtype = _DTYPES[dtype]
        if num_steps is not None and num_steps < 1:
            raise UsageError(f"qwen_vla: num_steps must be >= 1, got {num_steps}")
        self.num_steps = num_steps or self.cfg.num_inference_steps
        self.seed = int(seed)
        self.max_batch = int(max_batch)
        self.replan_steps = replan_steps
        self.check_embodiment = bool(check_embodiment)
        self.root = Path(info.root)
        self.backbone = load_backbone(self.root, str(self.device), self.dtype)
        self.decoder = load_decoder(self.root, self.cfg, str(self.device), self.dtype)
        self.sha = checkpoint_sha256(self.root)
        self._action_mask = torch.as_tensor(self.emb.action_mask, device=self.device)
        self._state_mask = torch.as_tensor(self.emb.state_mask, device=self.device)

    def metadata(self) -> PolicySpec:
        return PolicySpec(
            name=f"qwen_vla[{self.emb.name}]",
            action_dim=self.emb.env_action_dim,
            horizon=self.cfg.action_horizon,
            control_mode=self.emb.control_mode,
            # the env-side gripper commands it writes, when they are one of the named conventions
            gripper=Gripper.from_open_close(g.env_open, g.env_close) if (g := self.emb.gripper) else None,
            cameras=self.emb.cameras,
            needs_state=self.emb.state_dim > 0,
            replan_steps=self.replan_steps,
            max_batch=self.max_batch,
            checkpoint=self.sha,
        )

    def reset(self, env_ids: Sequence[int] | None = None) -> None:
        """Stateless between calls: nothing to forget."""

    def _images(self, obs: Observation) -> list[np.ndarray]:
        h, w = self.emb.image_size
        out = []
        for cam in self.emb.cameras:
            if cam not in obs.images:
                raise ValueError(
                    f"qwen_vla[{self.emb.name}]: observation of episode {obs.episode_id} has no camera {cam!r} "
                    f"(has {sorted(obs.images)})"
                )
            out.append(resize_with_pad(np.asarray(obs.images[cam], dtype=np.uint8), h, w))
        return out

    @torch.inference_mode()
    def infer_batch(self, observations: list[Observation]) -> np.ndarray:
        emb = self.emb
        if self.check_embodiment:
            for o in observations:
                if o.embodiment and o.embodiment not in emb.suite_tags:
                    raise ValueError(
                        f"qwen_vla: observation of embodiment {o.embodiment!r} given to embodiment {emb.name!r} "
                        f"(it serves {list(emb.suite_tags)}; pick another with embodiment=NAME)"
                    )
        images = [self._images(o) for o in observations]
        states = np.stack(
            [
                emb.state_to_model(o.state) if emb.state_dim else np.zeros(self.cfg.state_width, np.float32)
                for o in observations
            ]
        )
        noise = torch.stack(
            [
                torch.randn(
                    self.cfg.action_horizon,
                    self.cfg.action_width,
                    generator=torch.Generator().manual_seed(noise_seed(self.seed, o.episode_id, o.step)),
                )
                for o in observations
            ]
        )
        hidden, ctx_mask = self.backbone.encode(
            [emb.prompt] * len(observations), emb.cameras, images, [o.instruction for o in observations]
        )
        b = len(observations)
        x = self.decoder.sample(
            hidden,
            ctx_mask,
            torch.from_numpy(states).to(self.device),
            self._state_mask.expand(b, -1),
            self._action_mask.expand(b, -1),
            noise.to(self.device),
            steps=self.num_steps,
        )
        return emb.actions_to_env(x.cpu().numpy())

    def close(self) -> None:
        self.backbone = None
        self.decoder = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
