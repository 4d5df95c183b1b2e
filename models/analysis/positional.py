"""Position as data: the sinusoidal encoding, a ViT's learned position embeddings, Swin's relative bias.

Three ways a Transformer is told where a token sits:
- Vaswani et al. 2017 add a fixed sinusoidal vector to each token embedding (section 3.5);
- Dosovitskiy et al. 2021 add a learned vector per patch position (and one for the CLS token);
- Liu et al. 2021 (Swin) add a learned bias B[Δy, Δx] per head to the attention logits inside a window.

Everything here returns numpy arrays; the figures are drawn by viz/positional.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from models.messages import CodedError
from models.network.transformer import sinusoidal_encoding

BASE = 10000.0  # the paper's constant: wavelengths form a geometric progression from 2π to 10000·2π


def sinusoidal_table(length: int, d_model: int) -> np.ndarray:
    """(length, d_model) float32: the encoder–decoder model's own PE function, as numpy."""
    if length < 1 or d_model < 2:
        raise ValueError("length must be ≥ 1 and d_model ≥ 2")
    return sinusoidal_encoding(length, d_model).numpy()


def wavelengths(d_model: int) -> np.ndarray:
    """(d_model,) the wavelength, in positions, of each dimension: 2π·10000^(2i/d_model) for dims 2i and 2i+1."""
    two_i = (np.arange(d_model) // 2) * 2
    return 2 * np.pi * BASE ** (two_i / d_model)


def dot_similarity(pe: np.ndarray) -> np.ndarray:
    """(L, L) PE · PEᵀ. For the sinusoidal table, entry (p, q) = Σ_i cos((p − q)·ω_i): a function of p − q only."""
    pe = np.asarray(pe, dtype=np.float64)
    return (pe @ pe.T).astype(np.float32)


def similarity_by_offset(
    pe: np.ndarray, positions: list[int], max_offset: int
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """PE[p] · PE[p + k] for k in −max_offset..max_offset, one curve per position p (NaN outside the table).

    For the sinusoidal table the curves of different p lie on top of each other: similarity depends on k only.
    """
    pe = np.asarray(pe, dtype=np.float64)
    length = pe.shape[0]
    offsets = np.arange(-max_offset, max_offset + 1)
    curves = {}
    for p in positions:
        if not 0 <= p < length:
            raise ValueError(f"position {p} is outside 0..{length - 1}")
        values = np.full(offsets.shape, np.nan)
        for j, k in enumerate(offsets):
            if 0 <= p + k < length:
                values[j] = pe[p] @ pe[p + k]
        curves[int(p)] = values
    return offsets, curves


@dataclass
class PositionEmbeddings:
    """A ViT's learned position embeddings, split into the patch grid and the prefix (CLS, ...) tokens."""

    patch: np.ndarray  # (rows * cols, D), row-major over the patch grid
    grid: tuple[int, int]  # (rows, cols)
    prefix: np.ndarray  # (P, D): embeddings of prefix tokens (CLS, registers); (0, D) when they have none
    prefix_labels: list[str]


def vit_position_embeddings(model: nn.Module) -> PositionEmbeddings:
    """The learned `pos_embed` of a timm VisionTransformer, as numpy.

    timm stores (1, P + rows·cols, D) where the prefix tokens (CLS first) share the table, or (1, rows·cols, D)
    when `no_embed_class` is set (DeiT-3 and later: the CLS token gets no position).
    """
    pos = getattr(model, "pos_embed", None)
    if not isinstance(pos, (torch.Tensor, nn.Parameter)):
        raise CodedError("positional.no_pos_embed", model=type(model).__name__)
    grid = tuple(int(g) for g in model.patch_embed.grid_size)
    table = pos.detach().float().cpu().numpy()[0]  # (tokens, D)
    n_patch = grid[0] * grid[1]
    n_prefix_in_table = table.shape[0] - n_patch
    if n_prefix_in_table < 0:
        raise CodedError("positional.pos_embed_size", entries=table.shape[0], rows=grid[0], cols=grid[1])
    labels = _prefix_labels(model, grid)[:n_prefix_in_table]
    return PositionEmbeddings(table[n_prefix_in_table:], grid, table[:n_prefix_in_table], labels)


def _prefix_labels(model: nn.Module, grid: tuple[int, int]) -> list[str]:
    """The prefix tokens' names as the ViT page writes them (models.capture.vision.token_labels): CLS, DIST for a
    distilled DeiT's distillation token (Touvron et al. 2021), REG0… for register tokens (Darcet et al. 2023)."""
    from models.capture import vision

    labels, n_prefix = vision.token_labels(model, grid)
    return labels[:n_prefix]


def cosine_similarity_grid(patch: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(rows, cols, rows, cols): entry [r, c, r', c'] is the cosine similarity of the embeddings at (r, c) and (r', c').

    [r, c] is the small map of Dosovitskiy et al. 2021, Fig. 7 (centre) for the patch in row r, column c.
    """
    rows, cols = grid
    patch = np.asarray(patch, dtype=np.float64)
    if patch.shape[0] != rows * cols:
        raise CodedError("positional.grid_size", entries=patch.shape[0], rows=rows, cols=cols)
    norms = np.linalg.norm(patch, axis=1, keepdims=True)
    unit = patch / np.maximum(norms, 1e-12)
    sim = np.clip(unit @ unit.T, -1.0, 1.0)
    return sim.reshape(rows, cols, rows, cols).astype(np.float32)


@dataclass
class BiasTable:
    """One Swin block's relative position bias, per head, as a (2M−1)×(2M−1) table over (Δy, Δx)."""

    name: str  # module path, e.g. "layers.0.blocks.1"
    stage: int
    block: int
    window: tuple[int, int]  # (M_h, M_w)
    shift: int
    table: np.ndarray  # (heads, 2M_h − 1, 2M_w − 1); [h, Δy + M_h − 1, Δx + M_w − 1], Δ = query − key


def relative_bias_table(attn: nn.Module) -> np.ndarray:
    """(heads, 2M_h−1, 2M_w−1) from a timm Swin WindowAttention, laid out by the module's own index.

    timm looks up `relative_position_bias_table[relative_position_index[i, j]]` for query i and key j of a
    window; we place each looked-up value at (Δy, Δx) = coords(i) − coords(j), so what is drawn is exactly
    what the block adds to its attention logits.
    """
    table = attn.relative_position_bias_table.detach().float().cpu()  # ((2Mh−1)(2Mw−1), heads)
    index = attn.relative_position_index.detach().cpu()  # (Mh·Mw, Mh·Mw)
    mh, mw = (int(w) for w in attn.window_size)
    ys, xs = np.divmod(np.arange(mh * mw), mw)
    dy = ys[:, None] - ys[None, :] + mh - 1  # (M², M²)
    dx = xs[:, None] - xs[None, :] + mw - 1
    out = np.full((table.shape[1], 2 * mh - 1, 2 * mw - 1), np.nan, dtype=np.float32)
    looked_up = table[index.reshape(-1)].numpy().reshape(mh * mw, mh * mw, -1)  # (M², M², heads)
    out[:, dy, dx] = np.moveaxis(looked_up, -1, 0)
    return out


def swin_bias_tables(model: nn.Module) -> list[BiasTable]:
    """Every block's relative position bias table of a timm SwinTransformer, in order."""
    tables = []
    for stage_index, stage in enumerate(getattr(model, "layers", [])):
        for block_index, block in enumerate(getattr(stage, "blocks", [])):
            attn = getattr(block, "attn", None)
            if attn is None or not hasattr(attn, "relative_position_bias_table"):
                continue
            shift = block.shift_size
            shift = int(shift[0] if isinstance(shift, (tuple, list)) else shift)
            tables.append(
                BiasTable(
                    name=f"layers.{stage_index}.blocks.{block_index}",
                    stage=stage_index,
                    block=block_index,
                    window=tuple(int(w) for w in attn.window_size),
                    shift=shift,
                    table=relative_bias_table(attn),
                )
            )
    if not tables:
        raise CodedError("positional.no_bias_tables", model=type(model).__name__)
    return tables
