"""Switching heads off in a timm ViT: each chosen head's output is set to zero before the output projection W_O (a
forward pre-hook on the block's `attn.proj`, which receives the heads' outputs side by side), the model reruns, and
the prediction is compared. The importance grid reruns the image once per head, many heads per batch (each batch
element switches off its own head), so 144 reruns of ViT-B take ⌈144 / batch⌉ forwards.

Hooks exist for this thread and call only, removed in `finally`; the model's weights are never changed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from models.capture.explain import ExplainError
from models.capture.hooks import hooks


def _blocks(model) -> list:
    blocks = list(getattr(model.module, "blocks", []))
    if not blocks or any(getattr(getattr(b, "attn", None), "proj", None) is None for b in blocks):
        raise ExplainError("explain.not_plain_vit", name=model.name)
    return blocks


def _heads(block) -> int:
    return int(getattr(block.attn, "num_heads", 1))


def _logits(out) -> torch.Tensor:
    if isinstance(out, (tuple, list)):
        out = (out[0] + out[1]) / 2
    return out


def forward_without(model, x: torch.Tensor, masks: list[torch.Tensor | None]) -> torch.Tensor:
    """model(x) with block i's head outputs multiplied by masks[i] ((B or 1, 1, C): 0 switches a channel off)."""
    blocks = _blocks(model)
    with hooks(hold=model.module) as h, torch.inference_mode():
        for b, m in zip(blocks, masks):
            if m is not None:
                h.alter_input(b.attn.proj, lambda mod, args, m=m: (args[0] * m.to(args[0].dtype),) + tuple(args[1:]))
        return _logits(model.module(x)).float()


def ablate(model, x: torch.Tensor, heads: Iterable[tuple[int, int]]) -> np.ndarray:
    """Class probabilities (classes,) of one image with the given heads switched off: (block, head), from 0."""
    blocks = _blocks(model)
    masks: list[torch.Tensor | None] = [None] * len(blocks)
    for layer, head in heads:
        if not (0 <= layer < len(blocks) and 0 <= head < _heads(blocks[layer])):
            raise ExplainError("explain.bad_head", layer=layer + 1, head=head + 1)
        c = blocks[layer].attn.proj.in_features
        d = c // _heads(blocks[layer])
        if masks[layer] is None:
            masks[layer] = torch.ones(1, 1, c, device=x.device)
        masks[layer][..., head * d: (head + 1) * d] = 0
    return torch.softmax(forward_without(model, x, masks)[0], -1).cpu().numpy()


def importance(model, x: torch.Tensor, target: int, batch: int = 16,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(blocks, heads) the probability of `target` with each head alone switched off, one rerun per head, `batch`
    reruns per forward. The drop is base − this, with base from an unablated forward."""
    blocks = _blocks(model)
    pairs = [(layer, head) for layer, b in enumerate(blocks) for head in range(_heads(b))]
    out = np.full((len(blocks), max(_heads(b) for b in blocks)), np.nan)
    for start in range(0, len(pairs), batch):
        chunk = pairs[start: start + batch]
        masks: list[torch.Tensor | None] = []
        for layer, b in enumerate(blocks):
            c = b.attn.proj.in_features
            d = c // _heads(b)
            m = torch.ones(len(chunk), 1, c, device=x.device)
            touched = False
            for k, (pl, ph) in enumerate(chunk):
                if pl == layer:
                    m[k, :, ph * d: (ph + 1) * d] = 0
                    touched = True
            masks.append(m if touched else None)
        probs = torch.softmax(forward_without(model, x.expand(len(chunk), -1, -1, -1), masks), -1)[:, target]
        for (pl, ph), p in zip(chunk, probs.cpu().numpy()):
            out[pl, ph] = p
        if progress is not None:
            progress(min(start + batch, len(pairs)), len(pairs))
    return out
