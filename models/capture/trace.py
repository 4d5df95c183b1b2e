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


@dataclass(frozen=True)
class SwinStage:
    """One stage of a Swin model as the page describes it."""

    stage: int  # index from 0 (shown as "stage stage + 1")
    grid: tuple[int, int]  # token grid (rows, cols) of the stage
    patch_px: float  # side of one token in pixels of the input crop
    dim: int | None  # channels C
    depth: int  # blocks in the stage
    num_heads: int
    window_size: int  # M
    merging: bool  # whether the stage starts with patch merging


@dataclass
class SwinDetails:
    """What a Swin / Swin V2 run adds to the attention: one entry per block, in forward order."""

    version: int  # 1: Swin (Liu et al. 2021), 2: Swin V2 (Liu et al. 2022)
    attn_mask: list[np.ndarray | None]  # (windows, M*M, M*M) 0 / -100 the block really added; None: no shift
    bias_table: list[np.ndarray]  # (heads, 2M-1, 2M-1): V1 the learned table; V2 16*sigmoid(cpb_mlp(...))
    bias: list[np.ndarray]  # (heads, M*M, M*M): the table expanded over a window's query-key pairs
    relative_position_index: list[np.ndarray]  # (M*M, M*M) int: row of the flattened table for each pair
    logit_scale: list[np.ndarray | None]  # V2: (heads,) exp(min(logit_scale, ln 100)) = 1/tau; V1: None
    stages: list[SwinStage]
    implementation: str = "SwinTransformer"  # timm's class: SwinTransformer, SwinTransformerV2, SwinTransformerV2Cr


@dataclass
class VisionTrace:
    """Everything a page needs from one image through one vision model, as numpy data."""

    model_name: str
    weights_source: str  # in English (downloads, logs): "pretrained (timm ...)", "demo (...)", "file: ..."
    kind: str  # "vit" or "swin"
    image: np.ndarray  # (H, W, 3) uint8: the exact crop the model sees, after timm's resize/crop
    # ViT: a BlockAttention (models/capture/attention.py): block i's (heads, N, N) as att[i], computed from the
    # kept queries and keys when asked (rows, chunks) for plain ViTs; Swin: a list of (windows, heads, M*M, M*M)
    attention: list[np.ndarray]
    blocks: list[BlockInfo]
    token_labels: list[str]  # ViT: prefix tokens (CLS, DIST, REG0...) first, then patches
    num_prefix_tokens: int
    patch_size: int
    grid: tuple[int, int]  # the first patch grid (rows, cols)
    top_k: list[tuple[str, float]]  # (class name, probability), best first
    # run notes: data_config, image_notes (models.messages.Notice each), source_notice (the weights source as a
    # Notice, for the page to word in the reader's language), has_cls
    extras: dict = field(default_factory=dict)
    swin: SwinDetails | None = None  # Swin runs: masks, position bias, stages
    top_k_indices: list[int] = field(default_factory=list)  # the class index (from 0) of each top_k entry: names
    # repeat in some classifiers (ImageNet's two "crane" and two "maillot"), so a name alone does not say which
