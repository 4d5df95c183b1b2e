"""What the ViT page computes from every weight of a run, streamed chunk by chunk (models/capture/attention.py).

At 5,481 tokens a block's maps are 6 × 5,481² weights (720 MB); nothing here holds them. `summary` walks
every block once, a chunk of query rows at a time (one chunk, then every block on it), and accumulates:
the pooled token × token matrix of every head (attention_math.pool_mean's squares), the overview's block
means (attention_math.block_means' runs of positions), the mean attention distance of every head
(attention_math.mean_attention_distance) and the attention every patch receives from the patch queries
(attention_math.mean_query_maps). `rollout_rows` computes rollout (attention_math.rollout) for some rows only:
a row vector through the layers, last to first, each layer's fused matrix streamed in chunks, or built in
full (N² float32, one layer at a time) when a discard ratio needs its smallest weights.

Each function equals its dense counterpart in attention_math on the same weights (tests/test_streaming.py);
those stay as the formulas written out.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from models.analysis import attention_math as am
from models.capture.attention import BlockAttention, as_block_attention


@dataclass(frozen=True)
class Summary:
    """Every head of every block, reduced: what the overview, the token matrix and the distances draw."""

    pooled: np.ndarray  # (layers, heads, M, M): pool_mean over squares of `factor` patches (prefix kept)
    spans: list[tuple[int, int, int, int]]  # per pooled patch group: (row0, row1, col0, col1), end-exclusive
    factor: int
    overview: np.ndarray  # (layers, heads, B, B): plain block means over runs of positions (block_edges)
    overview_edges: np.ndarray  # (B + 1,) the runs' edges
    distance: np.ndarray  # (layers, heads): mean attention distance in pixels
    received: np.ndarray  # (layers, heads, rows, cols): attention each patch receives, mean over patch queries
    seconds: float  # how long the pass took


def _group_onehot(group: np.ndarray, m: int) -> np.ndarray:
    onehot = np.zeros((group.size, m), dtype=np.float32)
    onehot[np.arange(group.size), group] = 1.0
    return onehot


def pool_groups(grid: tuple[int, int], num_prefix: int, factor: int):
    """pool_mean's groups: (group of every token, group count, row edges, column edges, spans)."""
    rows, cols = grid
    gr, gc = math.ceil(rows / factor), math.ceil(cols / factor)
    row_edges, col_edges = am.pool_edges(rows, gr), am.pool_edges(cols, gc)
    row_group = np.searchsorted(row_edges, np.arange(rows), side="right") - 1
    col_group = np.searchsorted(col_edges, np.arange(cols), side="right") - 1
    p = num_prefix
    group = np.empty(p + rows * cols, dtype=np.int64)
    group[:p] = np.arange(p)
    group[p:] = p + (row_group[:, None] * gc + col_group[None, :]).ravel()
    spans = [(int(row_edges[i]), int(row_edges[i + 1]), int(col_edges[j]), int(col_edges[j + 1]))
             for i in range(gr) for j in range(gc)]
    return group, p + gr * gc, row_edges, col_edges, spans


def _key_squares(chunk: np.ndarray, num_prefix: int, grid: tuple[int, int], row_edges, col_edges) -> np.ndarray:
    """(H, c, N) → (H, c, M): each query's weights summed over the prefix tokens (one each) and the squares."""
    h, c, _ = chunk.shape
    rows, cols = grid
    patches = chunk[..., num_prefix:].reshape(h, c, rows, cols)
    summed = np.add.reduceat(np.add.reduceat(patches, col_edges[:-1], axis=3), row_edges[:-1], axis=2)
    return np.concatenate([chunk[..., :num_prefix], summed.reshape(h, c, -1)], axis=-1)


def summary(attention, grid: tuple[int, int], num_prefix: int, patch_px: float, matrix_tokens: int,
            overview_blocks: int) -> Summary:
    """One pass over every weight of the run (see the module's docstring); `matrix_tokens`: the most tokens of
    the pooled matrix (pool_factor), `overview_blocks`: the most blocks per side of an overview tile."""
    att: BlockAttention = as_block_attention(attention)
    started = time.perf_counter()
    layers, heads, n = len(att), att.num_heads, att.num_tokens
    p = num_prefix
    patches = grid[0] * grid[1]
    if n != p + patches:
        raise ValueError(f"{n} tokens are not {p} prefix tokens and a {grid[0]}×{grid[1]} grid")
    factor = am.pool_factor(grid, p, matrix_tokens) if n > matrix_tokens else 1
    group, m, row_edges, col_edges, spans = pool_groups(grid, p, factor)
    counts = np.bincount(group, minlength=m).astype(np.float64)
    edges = am.block_edges(n, overview_blocks)
    blocks = len(edges) - 1
    block_of = np.searchsorted(edges, np.arange(n), side="right") - 1
    sizes = np.diff(edges).astype(np.float64)
    centres = am.patch_centres(grid, patch_px).astype(np.float32)

    pooled = np.zeros((layers, heads, m, m))
    overview = np.zeros((layers, heads, blocks, blocks))
    distance = np.zeros((layers, heads))
    received = np.zeros((layers, heads, patches))
    step = att.chunk_rows()
    for start in range(0, n, step):
        stop = min(n, start + step)
        q_groups = _group_onehot(group[start:stop], m)  # (c, M)
        q_blocks = _group_onehot(block_of[start:stop], blocks)  # (c, B)
        first_patch = max(start, p)
        dist = None
        if first_patch < stop:  # patch queries in this chunk: their pixel distance to every patch
            d = centres[first_patch - p:stop - p, None, :] - centres[None, :, :]
            dist = np.sqrt((d ** 2).sum(-1))  # (c_patches, patches)
        for layer in range(layers):
            w = _chunk(att, layer, start, stop)
            keys = _key_squares(w, p, grid, row_edges, col_edges)  # (H, c, M)
            pooled[layer] += np.einsum("cm,hck->hmk", q_groups, keys, optimize=True)
            runs = np.add.reduceat(w, edges[:-1], axis=-1)  # (H, c, B)
            overview[layer] += np.einsum("cb,hck->hbk", q_blocks, runs, optimize=True)
            if dist is not None:
                wp = w[:, first_patch - start:, p:]  # (H, c_patches, patches)
                received[layer] += wp.sum(axis=1, dtype=np.float64)
                total = np.maximum(wp.sum(axis=-1), 1e-12)
                distance[layer] += ((wp * dist).sum(axis=-1) / total).sum(axis=-1, dtype=np.float64)
    pooled /= np.outer(counts, counts)
    overview /= np.outer(sizes, sizes)
    distance /= max(patches, 1)
    received /= max(patches, 1)
    return Summary(
        pooled=pooled.astype(np.float32), spans=spans, factor=factor, overview=overview.astype(np.float32),
        overview_edges=edges, distance=distance.astype(np.float32),
        received=received.reshape(layers, heads, grid[0], grid[1]).astype(np.float32),
        seconds=time.perf_counter() - started)


def _chunk(att: BlockAttention, layer: int, start: int, stop: int) -> np.ndarray:
    """Every head's weights of the queries start:stop of a block: (H, stop - start, N) float32."""
    return att.rows(layer, slice(start, stop))


def rollout_rows(attention, fusion: str = "mean", discard_ratio: float = 0.0,
                 rows: list[int] | tuple[int, ...] = (0,)) -> tuple[np.ndarray, float]:
    """attention_math.rollout(attention, fusion, discard_ratio, rows), streamed: (len(rows), N) float32 and the
    seconds it took. v starts as the chosen rows of the identity and is multiplied by each layer's factor
    norm(0.5·fuse(A) + 0.5·I), last layer first; a factor is never held whole unless a discard ratio needs
    its smallest weights (then one layer's N × N float32 at a time)."""
    att: BlockAttention = as_block_attention(attention)
    if len(att) == 0:
        raise ValueError("rollout needs at least one layer of attention")
    if fusion not in am.HEAD_FUSIONS:
        am.fuse_heads(np.zeros((1, 1, 1)), fusion)  # raises the coded error
    started = time.perf_counter()
    n = att.num_tokens
    v = np.zeros((len(rows), n))
    v[np.arange(len(rows)), list(rows)] = 1.0
    for layer in reversed(range(len(att))):
        if discard_ratio > 0:
            fused = np.empty((n, n), dtype=np.float32)
            for start, w in att.chunks(layer):
                fused[start:start + w.shape[1]] = am.fuse_heads(w, fusion)
            k = int(fused.size * min(discard_ratio, 1.0))
            if k > 0:
                flat = fused.reshape(-1)
                flat[np.argpartition(flat, k - 1)[:k]] = 0.0
            v = v @ _factor(fused, 0)
            del fused
        else:
            out = np.zeros_like(v)
            for start, w in att.chunks(layer):
                out += v[:, start:start + w.shape[1]] @ _factor(am.fuse_heads(w, fusion), start)
            v = out
    return v.astype(np.float32), time.perf_counter() - started


def _factor(fused: np.ndarray, start: int) -> np.ndarray:
    """Rows start:start + c of norm(0.5·W + 0.5·I) from those rows of the fused W (c, N), in float64."""
    a = 0.5 * fused.astype(np.float64)
    a[np.arange(a.shape[0]), start + np.arange(a.shape[0])] += 0.5
    return a / a.sum(axis=-1, keepdims=True)
