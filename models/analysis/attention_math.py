"""Pure numpy arithmetic on captured attention: rollout, mean attention distance, maps and pooling.

No torch, no plotting: arrays in, arrays out, so every formula here can be checked by hand.
Shapes: one block's attention is (heads, N, N), rows = queries, columns = keys, each row sums to 1;
the first `num_prefix` tokens are CLS / DIST / registers, the rest a (rows, cols) patch grid in
row-major order.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from models.messages import CodedError  # a ValueError: a choice a link could bring

HEAD_FUSIONS = ("mean", "max", "min")


def fuse_heads(attention: np.ndarray, fusion: str = "mean") -> np.ndarray:
    """(heads, N, N) → (N, N): the heads' mean, or their element-wise max or min.

    The mean is Abnar & Zuidema's (2020) rollout; max and min fusion come from Jacob Gildenblat's
    vit-explain, as does the discard ratio below.
    """
    if fusion == "mean":
        return attention.mean(axis=0)
    if fusion == "max":
        return attention.max(axis=0)
    if fusion == "min":
        return attention.min(axis=0)
    raise CodedError("vision.unknown_fusion", fusion=fusion, known=list(HEAD_FUSIONS))


def _rollout_factor(attention: np.ndarray, fusion: str, discard_ratio: float) -> np.ndarray:
    """One layer's factor 0.5·W + 0.5·I, rows renormalised, after dropping the weakest weights.

    `discard_ratio` zeroes that fraction of the fused matrix's smallest entries first (the filter of
    Gildenblat's vit-explain, which rollout is usually shown with); the identity added afterwards keeps
    every row non-empty.
    """
    w = fuse_heads(np.asarray(attention, dtype=np.float64), fusion)
    if discard_ratio > 0:
        k = int(w.size * min(discard_ratio, 1.0))
        if k > 0:
            flat = w.reshape(-1).copy()
            flat[np.argpartition(flat, k - 1)[:k]] = 0.0
            w = flat.reshape(w.shape)
    a = 0.5 * w + 0.5 * np.eye(w.shape[0])
    return a / a.sum(axis=-1, keepdims=True)


def rollout(
    attentions: Sequence[np.ndarray],
    fusion: str = "mean",
    discard_ratio: float = 0.0,
    rows: Sequence[int] | None = None,
) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020): Ã_l = norm(0.5·A_l + 0.5·I), R = Ã_L ··· Ã_2 Ã_1.

    R[i, j] is how much of input token j reaches output token i through the attention paths of all
    layers, residual connections included. With `rows` (e.g. [0] for CLS) only those rows of R are
    computed, as row vectors multiplied down from the last layer: O(L·N²) instead of O(L·N³), which is
    what keeps a 1,370-token model cheap. Returns (len(rows), N), or (N, N) when rows is None.
    """
    if len(attentions) == 0:
        raise ValueError("rollout needs at least one layer of attention")
    factors = [_rollout_factor(a, fusion, discard_ratio) for a in attentions]
    if rows is None:
        result = factors[0]
        for f in factors[1:]:
            result = f @ result
        return result.astype(np.float32)
    n = factors[-1].shape[0]
    v = np.zeros((len(rows), n))
    v[np.arange(len(rows)), list(rows)] = 1.0
    for f in reversed(factors):
        v = v @ f
    return v.astype(np.float32)


def patch_centres(grid: tuple[int, int], patch_px: float) -> np.ndarray:
    """(rows·cols, 2) centres (y, x) of the patches in pixels, row-major like the tokens."""
    r, c = np.meshgrid(np.arange(grid[0]), np.arange(grid[1]), indexing="ij")
    return (np.stack([r.ravel(), c.ravel()], axis=1) + 0.5) * float(patch_px)


def mean_attention_distance(
    attention: np.ndarray,
    grid: tuple[int, int],
    patch_px: float,
    num_prefix: int,
    renormalise: bool = True,
) -> np.ndarray:
    """Mean attention distance per head in pixels (Dosovitskiy et al. 2021, Fig. 7 right): (heads,).

    For each patch query, the pixel distance to each patch key weighted by the attention weight, summed;
    then averaged over the patch queries. Prefix tokens have no position and are left out; with
    `renormalise` the remaining patch weights are rescaled to sum to 1 per query, so that mass a head
    parks on CLS or a register does not read as "looks nearby".
    """
    p = num_prefix
    w = np.asarray(attention)[:, p:, p:]  # (heads, P, P) patch → patch
    if w.shape[-1] != grid[0] * grid[1]:
        raise ValueError(f"{w.shape[-1]} patch tokens do not fill a {grid[0]}×{grid[1]} grid")
    centres = patch_centres(grid, patch_px)
    dist = np.sqrt(((centres[:, None, :] - centres[None, :, :]) ** 2).sum(-1))  # (P, P) pixels
    out = np.empty(w.shape[0], dtype=np.float32)
    for h in range(w.shape[0]):  # one head at a time: a 1,370-token layer stays at a few MB
        wh = w[h] / np.maximum(w[h].sum(axis=-1, keepdims=True), 1e-12) if renormalise else w[h]
        out[h] = (wh * dist).sum(axis=-1).mean()
    return out


def query_maps(attention: np.ndarray, query: int, grid: tuple[int, int], num_prefix: int) -> np.ndarray:
    """(heads, rows, cols): where token `query` looks among the patches, per head (raw weights, not renormalised)."""
    a = np.asarray(attention)[:, query, num_prefix:]
    return a.reshape(a.shape[0], grid[0], grid[1]).astype(np.float32)


def mean_query_maps(attention: np.ndarray, grid: tuple[int, int], num_prefix: int) -> np.ndarray:
    """(heads, rows, cols): attention each patch receives, averaged over all patch queries (models without CLS)."""
    a = np.asarray(attention)[:, num_prefix:, num_prefix:].mean(axis=1)
    return a.reshape(a.shape[0], grid[0], grid[1]).astype(np.float32)


def pool_factor(grid: tuple[int, int], num_prefix: int, max_tokens: int) -> int:
    """The smallest f such that squares of at most f×f patches plus the prefix tokens give at most `max_tokens`
    tokens."""
    f = 1
    while num_prefix + math.ceil(grid[0] / f) * math.ceil(grid[1] / f) > max_tokens:
        f += 1
    return f


def pool_edges(n: int, groups: int) -> np.ndarray:
    """Edges of `groups` runs of consecutive indices covering range(n), as even as can be: sizes differ by at
    most one (37 patches in 13 runs: runs of 2 and 3, spread out), never a thin leftover run at the end."""
    return (np.arange(groups + 1) * n) // groups


def block_edges(n: int, max_blocks: int) -> np.ndarray:
    """Edges of at most `max_blocks` near-equal runs of consecutive positions covering range(n) (pool_edges);
    one run per position when n <= max_blocks."""
    return pool_edges(n, max(1, min(n, max_blocks)))


def block_means(matrix: np.ndarray, q_edges: np.ndarray, k_edges: np.ndarray) -> np.ndarray:
    """The plain mean of `matrix` (..., Q, K) over each block of rows q_edges[i]:q_edges[i+1] and columns
    k_edges[j]:k_edges[j+1]: every cell on the scale of one weight, whatever its block's size, so no stripe
    appears that the model did not compute. Exactly the matrix when every block is one position."""
    m = np.asarray(matrix, dtype=np.float64)
    q_edges, k_edges = np.asarray(q_edges, dtype=int), np.asarray(k_edges, dtype=int)
    summed = np.add.reduceat(np.add.reduceat(m, q_edges[:-1], axis=-2), k_edges[:-1], axis=-1)
    return (summed / np.outer(np.diff(q_edges), np.diff(k_edges))).astype(np.float32)


def without_positions(weights: np.ndarray, keep_queries: np.ndarray, keep_keys: np.ndarray) -> np.ndarray:
    """Attention (..., Q, K) with some queries and keys left out (special tokens such as [CLS] and [SEP], which
    absorb much of the attention; Clark et al., 2019) and every remaining row renormalised to sum to 1 over the
    keys kept. A row whose kept keys received nothing stays 0."""
    w = np.asarray(weights, dtype=np.float64)[..., keep_queries, :][..., keep_keys]
    total = w.sum(axis=-1, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0).astype(np.float32)


def pool_tokens(
    matrix: np.ndarray, grid: tuple[int, int], num_prefix: int, factor: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Block-average a (..., N, N) token matrix over factor×factor patch squares, prefix tokens kept.

    Queries are averaged within a square (the typical query of that region); keys are summed (the
    weight that region receives), so each row still sums to 1. Not for drawing: where the squares do not
    tile the grid evenly, the smaller edge squares receive less and show as light stripes that the model
    did not compute; `pool_mean` is what the page draws. Returns the pooled matrix and, per pooled
    patch token, its patch span (row0, row1, col0, col1), end-exclusive.
    """
    rows, cols = grid
    gr, gc = math.ceil(rows / factor), math.ceil(cols / factor)
    p = num_prefix
    n = p + rows * cols
    group = np.empty(n, dtype=np.int64)
    group[:p] = np.arange(p)
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    group[p:] = p + (r // factor * gc + c // factor).ravel()
    m = p + gr * gc
    onehot = np.zeros((n, m))
    onehot[np.arange(n), group] = 1.0
    counts = onehot.sum(axis=0)
    x = np.asarray(matrix, dtype=np.float64)
    summed_keys = x @ onehot  # (..., N, M)
    pooled = np.swapaxes(np.swapaxes(summed_keys, -1, -2) @ onehot, -1, -2) / counts[:, None]
    spans = [
        (i * factor, min(rows, (i + 1) * factor), j * factor, min(cols, (j + 1) * factor))
        for i in range(gr)
        for j in range(gc)
    ]
    return pooled.astype(np.float32), spans


def pool_mean(
    matrix: np.ndarray, grid: tuple[int, int], num_prefix: int, factor: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Mean-pool a (..., N, N) token matrix over squares of patches, prefix tokens kept as they are.

    The patch rows and columns are each cut into ceil(rows / factor) and ceil(cols / factor) runs of
    near-equal length (`pool_edges`), so a square holds at most factor×factor patches. Every cell of the
    result is the plain mean of the weights from the queries of one group to the keys of another (a
    prefix token is a group of one): each cell is on the scale of a single weight, whatever the size of
    its squares, so attention spread evenly pools to an even picture; no edge stripe appears that the
    model did not compute. (Summing the keys instead would make squares of fewer patches look lighter.)
    Rows of the result no longer sum to 1: a cell times the number of keys in its square is the share of
    the query's attention that square receives. Returns the pooled matrix and, per pooled patch token,
    its patch span (row0, row1, col0, col1), end-exclusive, indices from 0.
    """
    rows, cols = grid
    gr, gc = math.ceil(rows / factor), math.ceil(cols / factor)
    row_edges, col_edges = pool_edges(rows, gr), pool_edges(cols, gc)
    row_group = np.searchsorted(row_edges, np.arange(rows), side="right") - 1
    col_group = np.searchsorted(col_edges, np.arange(cols), side="right") - 1
    p = num_prefix
    n = p + rows * cols
    group = np.empty(n, dtype=np.int64)
    group[:p] = np.arange(p)
    group[p:] = p + (row_group[:, None] * gc + col_group[None, :]).ravel()
    m = p + gr * gc
    onehot = np.zeros((n, m))
    onehot[np.arange(n), group] = 1.0
    mean = onehot / onehot.sum(axis=0)  # (N, M): each column averages one group
    x = np.asarray(matrix, dtype=np.float64)
    pooled = mean.T @ x @ mean  # (..., M, M)
    spans = [
        (int(row_edges[i]), int(row_edges[i + 1]), int(col_edges[j]), int(col_edges[j + 1]))
        for i in range(gr)
        for j in range(gc)
    ]
    return pooled.astype(np.float32), spans


def mass_inside_box(
    patch_map: np.ndarray, box: tuple[int, int, int, int], image_hw: tuple[int, int]
) -> float:
    """Fraction of a (rows, cols) patch map's mass that falls inside the pixel box (x0, y0, x1, y1).

    Each patch's weight is spread evenly over its pixels, so a patch the box cuts counts in part.
    """
    h, w = image_hw
    rows, cols = patch_map.shape
    m = np.asarray(patch_map, dtype=np.float64)
    ys = (np.arange(h) * rows) // h  # the patch row of every pixel row
    xs = (np.arange(w) * cols) // w
    row_px, col_px = np.bincount(ys, minlength=rows), np.bincount(xs, minlength=cols)
    per_pixel = m[ys][:, xs] / (row_px[ys][:, None] * col_px[xs][None, :])
    x0, y0, x1, y1 = box
    total = per_pixel.sum()
    return float(per_pixel[y0:y1, x0:x1].sum() / total) if total > 0 else 0.0
