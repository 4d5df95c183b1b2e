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
import torch

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


def _onehot(group: np.ndarray, m: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(len(group), m): 1 where position i belongs to group group[i]."""
    out = torch.zeros((group.size, m), dtype=dtype, device=device)
    out[torch.arange(group.size), torch.as_tensor(group)] = 1.0
    return out


def pool_groups(grid: tuple[int, int], num_prefix: int, factor: int):
    """pool_mean's groups: (group of every token, group count, spans of the patch groups)."""
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
    return group, p + gr * gc, spans


def summary(attention, grid: tuple[int, int], num_prefix: int, patch_px: float, matrix_tokens: int,
            overview_blocks: int) -> Summary:
    """One pass over every weight of the run (see the module's docstring); `matrix_tokens`: the most tokens of
    the pooled matrix (pool_factor), `overview_blocks`: the most blocks per side of an overview tile.

    In torch: each chunk's keys are summed into their groups (index_add), its queries into theirs by one
    product with a one-hot matrix; sums within a chunk in float32, across chunks in float64."""
    att: BlockAttention = as_block_attention(attention)
    started = time.perf_counter()
    layers, heads, n = len(att), att.num_heads, att.num_tokens
    p = num_prefix
    rows, cols = grid
    patches = rows * cols
    if n != p + patches:
        raise ValueError(f"{n} tokens are not {p} prefix tokens and a {rows}×{cols} grid")
    factor = am.pool_factor(grid, p, matrix_tokens) if n > matrix_tokens else 1
    group, m, spans = pool_groups(grid, p, factor)
    counts = np.bincount(group, minlength=m).astype(np.float64)
    edges = am.block_edges(n, overview_blocks)
    blocks = len(edges) - 1
    block_of = np.searchsorted(edges, np.arange(n), side="right") - 1
    sizes = np.diff(edges).astype(np.float64)
    centres = torch.as_tensor(am.patch_centres(grid, patch_px), dtype=torch.float32)
    with torch.inference_mode():
        group_t, block_t = torch.as_tensor(group), torch.as_tensor(block_of)
        pooled = torch.zeros((layers, heads, m, m), dtype=torch.float64)
        overview = torch.zeros((layers, heads, blocks, blocks), dtype=torch.float64)
        distance = torch.zeros((layers, heads), dtype=torch.float64)
        received = torch.zeros((layers, heads, patches), dtype=torch.float64)
        step = att.chunk_rows()
        for start in range(0, n, step):
            stop = min(n, start + step)
            c = stop - start
            q_groups = _onehot(group[start:stop], m).T  # (M, c)
            q_blocks = _onehot(block_of[start:stop], blocks).T  # (B, c)
            first = max(start, p)
            dist = None
            if first < stop:  # patch queries in this chunk: their pixel distance to every patch
                dist = torch.cdist(centres[first - p:stop - p], centres)  # (c_patches, patches)
            for layer in range(layers):
                w = att.tensor_rows(layer, start, stop).cpu()  # (H, c, N)
                keys = torch.zeros((heads, c, m)).index_add_(-1, group_t, w)  # summed into prefix tokens, squares
                pooled[layer] += q_groups @ keys
                runs = torch.zeros((heads, c, blocks)).index_add_(-1, block_t, w)  # summed into runs of positions
                overview[layer] += q_blocks @ runs
                if dist is not None:
                    wp = w[:, first - start:, p:]  # (H, c_patches, patches)
                    received[layer] += wp.sum(dim=1)
                    total = wp.sum(dim=-1).clamp_min(1e-12)
                    distance[layer] += (torch.einsum("hcj,cj->hc", wp, dist) / total).sum(dim=-1)
    pooled = pooled.numpy() / np.outer(counts, counts)
    overview = overview.numpy() / np.outer(sizes, sizes)
    return Summary(
        pooled=pooled.astype(np.float32), spans=spans, factor=factor, overview=overview.astype(np.float32),
        overview_edges=edges, distance=(distance.numpy() / max(patches, 1)).astype(np.float32),
        received=(received.numpy() / max(patches, 1)).reshape(layers, heads, rows, cols).astype(np.float32),
        seconds=time.perf_counter() - started)


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
    step = att.chunk_rows()
    with torch.inference_mode():
        v = torch.zeros((len(rows), n), dtype=torch.float64)
        v[torch.arange(len(rows)), torch.as_tensor(list(rows))] = 1.0
        for layer in reversed(range(len(att))):
            if discard_ratio > 0:
                fused = torch.empty((n, n), dtype=torch.float32)
                for start in range(0, n, step):
                    fused[start:start + step] = _fuse(att.tensor_rows(layer, start, min(n, start + step)).cpu(),
                                                      fusion)
                k = int(fused.numel() * min(discard_ratio, 1.0))
                if k > 0:
                    flat = fused.view(-1).numpy()
                    flat[np.argpartition(flat, k - 1)[:k]] = 0.0
                v = v @ _factor(fused, 0)
                del fused
            else:
                out = torch.zeros_like(v)
                for start in range(0, n, step):
                    w = att.tensor_rows(layer, start, min(n, start + step)).cpu()
                    out += v[:, start:start + w.shape[1]] @ _factor(_fuse(w, fusion), start)
                v = out
    return v.numpy().astype(np.float32), time.perf_counter() - started


def _fuse(w: torch.Tensor, fusion: str) -> torch.Tensor:
    """attention_math.fuse_heads on a (H, c, N) chunk."""
    if fusion == "mean":
        return w.mean(dim=0)
    return w.amax(dim=0) if fusion == "max" else w.amin(dim=0)


def _factor(fused: torch.Tensor, start: int) -> torch.Tensor:
    """Rows start:start + c of norm(0.5·W + 0.5·I) from those rows of the fused W (c, N), in float64."""
    a = 0.5 * fused.double()
    c = a.shape[0]
    a[torch.arange(c), start + torch.arange(c)] += 0.5
    return a / a.sum(dim=-1, keepdim=True)
