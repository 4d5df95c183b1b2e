"""Plain-data results of a vision run: what the pages draw, and nothing that holds a model."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class BlockInfo:
    """Where one attention block sits, so that pure functions can place its maps on the image."""

    name: str  # module path in the timm model, e.g. "blocks.3" or "layers.1.blocks.0"
    stage: int  # 0 for ViT; Swin stage index
    grid: tuple[int, int]  # token grid (rows, cols) the block attends over
    patch_px: float  # side of one token of this block, in pixels of the model's input crop
    window_size: int | None = None  # Swin: M (windows are M x M tokens); None for ViT
    shift: int = 0  # Swin: cyclic shift of this block (0 for regular windows)
    num_heads: int = 0


@dataclass
class VisionTrace:
    """Everything a page needs from one image through one vision model, as numpy data."""

    model_name: str
    weights_source: str  # said on screen: "pretrained (timm: ...)", "demo", "random", "file: ..."
    kind: str  # "vit" or "swin"
    image: np.ndarray  # (H, W, 3) uint8: the exact crop the model sees, after timm's resize/crop
    attention: list[np.ndarray]  # ViT: (heads, N, N); Swin: (windows, heads, M*M, M*M); float32
    blocks: list[BlockInfo]
    token_labels: list[str]  # ViT: prefix tokens (CLS, DIST, REG0...) first, then patches
    num_prefix_tokens: int
    patch_size: int
    grid: tuple[int, int]  # the first patch grid (rows, cols)
    top_k: list[tuple[str, float]]  # (class name, probability), best first
    extras: dict = field(default_factory=dict)  # family-specific data (e.g. Swin masks, bias tables)
