"""What a ViT's prediction rests on: its attention with the gradient of a class score (for relevance maps,
models/analysis/relevance.py), and the perturbation test that scores any map (Chefer et al. 2021, §4).

Both are separate calls from `vision.run`: the normal path keeps no autograd graph and is not slowed. The gradient
capture runs the model's explicit attention (fused attention off, as AttentionExtract runs it) with hooks on each
block's `attn_drop` (the identity in eval, fed the softmax output), for this thread only, under the model's lock;
hooks and flags are restored in `finally` (models/capture/hooks.py). `torch.autograd.grad` is asked for the maps'
gradients only: no parameter's `.grad` is written (the shared model is left as it was).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.capture.hooks import hooks, unfused
from models.messages import CodedError


class ExplainError(CodedError):
    """A model or input the relevance capture cannot handle (codes explain.*)."""


@dataclass(frozen=True)
class GradCapture:
    attention: list[np.ndarray]  # per block (heads, N, N) float32, the softmax output
    grads: list[np.ndarray]  # per block (heads, N, N): ∂ score / ∂ attention
    target: int  # the class whose logit was differentiated
    probs: np.ndarray  # (classes,) softmax of the logits
    num_prefix: int
    grid: tuple[int, int]


def vit_gradients(model, x: torch.Tensor, target: int | None = None) -> GradCapture:
    """One image (x: (1, 3, H, W), from vision.preprocess) through a timm ViT with every block's attention kept with
    its gradient of the logit of `target` (None: the predicted class)."""
    from models.capture import vision

    module = model.module
    blocks = list(getattr(module, "blocks", []))
    drops = [getattr(getattr(b, "attn", None), "attn_drop", None) for b in blocks]
    if not blocks or any(d is None for d in drops):
        raise ExplainError("explain.not_plain_vit", name=model.name)
    maps: list[torch.Tensor] = []
    with unfused(module), hooks() as h, torch.enable_grad():
        for d in drops:
            h.forward(d, lambda mod, inp, out: maps.append(out))
        xg = x.detach().clone().requires_grad_(True)
        logits = module(xg)
        if isinstance(logits, (tuple, list)):
            logits = (logits[0] + logits[1]) / 2
        if logits.ndim != 2 or logits.shape[-1] < 2:
            raise ExplainError("explain.no_classifier", name=model.name)
        cls = int(logits[0].argmax()) if target is None else int(target)
        if not 0 <= cls < logits.shape[-1]:
            raise ExplainError("explain.bad_class", index=cls, classes=int(logits.shape[-1]))
        if len(maps) != len(blocks):
            raise ExplainError("explain.capture_count", maps=len(maps), blocks=len(blocks))
        grads = torch.autograd.grad(logits[0, cls], maps)
    ph, pw = vision._patch_size(module)
    grid = (x.shape[-2] // ph, x.shape[-1] // pw)
    return GradCapture(
        attention=[m[0].detach().float().cpu().numpy() for m in maps],
        grads=[g[0].detach().float().cpu().numpy() for g in grads],
        target=cls,
        probs=torch.softmax(logits[0].detach().float(), -1).cpu().numpy(),
        num_prefix=int(getattr(module, "num_prefix_tokens", 1)),
        grid=grid,
    )


def perturbation_curve(model, x: torch.Tensor, patch_scores: np.ndarray, target: int, most_relevant_first: bool,
                       fractions=tuple(np.arange(0, 1.0, 0.1)), rng: np.random.Generator | None = None,
                       ) -> np.ndarray:
    """The probability of `target` as patches are removed (set to 0 in the normalised input: the dataset mean)
    in the order of `patch_scores` ((rows·cols,), row-major), most relevant first or least relevant first; with
    `rng` a random order (the baseline). One batched forward for every fraction. Returns (len(fractions),)."""
    from models.analysis.relevance import removal_masks
    from models.capture import vision
    from models.capture.hooks import running

    module = model.module
    ph, pw = vision._patch_size(module)
    rows, cols = x.shape[-2] // ph, x.shape[-1] // pw
    scores = np.asarray(patch_scores).reshape(-1)
    if scores.size != rows * cols:
        raise ValueError(f"{scores.size} scores for a grid of {rows} × {cols} patches")
    removed = removal_masks(scores, most_relevant_first, fractions, rng)
    batch = x.detach().repeat(len(fractions), 1, 1, 1)
    for k, p in zip(*np.nonzero(removed)):
        r, c = divmod(int(p), cols)
        batch[k, :, r * ph: (r + 1) * ph, c * pw: (c + 1) * pw] = 0
    with running(), torch.inference_mode():
        logits = module(batch)
    if isinstance(logits, (tuple, list)):
        logits = (logits[0] + logits[1]) / 2
    return torch.softmax(logits.float(), -1)[:, target].cpu().numpy()
