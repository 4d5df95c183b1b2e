"""What a Swin's prediction rests on: class-specific relevance, rollout, attention flow and the single-layer maps for
timm's Swin Transformer (V1, and V2's SwinTransformerV2; not SwinTransformerV2Cr), on the input patch grid.

Chefer et al. (2021) define gradient-weighted relevance for global self-attention; their code does not cover Swin.
This module is our extension, built so that every step is one of theirs (or Abnar & Zuidema's) applied to the
attention Swin really computed:

1. Capture. One forward with fused attention off and a hook on each block's `attn.softmax` (this thread only, under
   the model's lock, removed in `finally`: models/capture/hooks.py), then `torch.autograd.grad` of the class logit
   for the softmax outputs only (no parameter's `.grad` is written). Per block: (windows, heads, M², M²) weights A
   and ∂y_c/∂A, windows numbered on the rolled, padded map as models/capture/swin.py numbers them.
2. Window → grid. Each block's window attention is the (N, N) token × token matrix of the stage's image grid
   (N = rows·cols, tokens row by row): entry [i, j] is the weight query i gave key j in the one window that holds
   them both (undoing the cyclic shift: window w's token t sits at image position token_positions(block)[w, t]);
   zero for tokens in different windows; keys that are padding (a grid that is not a multiple of M) are dropped.
   A shifted block's masked pairs keep the weight the model gave them (about e^-100 of the row): it is what ran.
   `apply_windows` multiplies this matrix into R window by window, never forming it (O(N·M²·N₁), not O(N²·N₁)).
3. Within a stage, rule 5/6 per block: Ā = mean over heads of (∇A ⊙ A)⁺ on the grid, R ← R + Ā·R, in forward order
   (the identity term is the residual connection, as in Chefer's ViT rule).
4. Across patch merging. Merged token (i, j) of the next stage is made (norm, then one linear map) of the 2×2 group
   (2i + a, 2j + b), a, b ∈ {0, 1}, of the stage before (timm's PatchMerging). Relevance is carried with
   R_next = P·R, P[(i, j), (2i + a, 2j + b)] = 1/4: the merged token starts out relevant to exactly what its four
   sources were relevant to, in equal parts. The average (not the sum) keeps R's rows on the scale of the identity
   the next stage's rule adds to, and keeps rollout's rows distributions. Equal parts is an assumption: the linear
   reduction weights the four sources' channels, not the tokens as wholes, so there is no single weight per source
   to take instead. (Where timm pads an odd grid, P averages over the real sources only.)
5. The classifier reads the mean of the last stage's tokens (global average pooling), so the relevance of the
   prediction is the mean of R's rows over the last stage's tokens: one value per stage-1 token, i.e. per input
   patch (rows·cols of the patch embedding).

Rollout (Abnar & Zuidema 2020) uses the same window → grid and merge steps with the factor 0.5·A + 0.5·I (heads
averaged, rows renormalised) and the same pooled read-out. Where every gradient is 1, rule 5 gives Ā = mean A and
R = Π (I + Ā) = 2^L · rollout (L blocks, every row of A summing to 1): the tests hold the two against each other.
The map `relevance` returns leaves out the identity path (a uniform 1/N₁ per patch, see there).
Gradient rollout (vit-explain) uses its own factor (A ⊙ ∇A fused over heads, negatives to 0, the smallest
`discard_ratio` of the block's window entries dropped, 0.5·fused + 0.5·I renormalised) with the same carry.
Attention flow is max-flow in the same layered graph: one node per token per block output, window edges of
capacity 0.5·A + 0.5·I (rows renormalised), merge edges of capacity 1/4 from each source to its merged token,
and edges of capacity 1/N_L from every last-stage token into one sink (the pooled representation); each input
patch's value is the maximum flow from it to the sink.
Raw attention and attention × gradient read the last block only: the mean over heads (of A, or of (A ⊙ ∇A)⁺) and
over queries of each last-stage token's received weight (the pooled representation averages the queries), spread
back evenly over the input patches each last-stage token covers (the product of the merges' P).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from models.capture import swin
from models.capture.explain import ExplainError
from models.capture.hooks import hooks, unfused
from models.capture.trace import BlockInfo


@dataclass(frozen=True)
class SwinGradCapture:
    attention: list[np.ndarray]  # per block (windows, heads, M², M²) float32, the softmax output
    grads: list[np.ndarray]  # per block, the same shape: ∂ logit[target] / ∂ attention
    blocks: list[BlockInfo]  # per block its geometry (swin.py's BlockInfo: grid, M, shift, heads, stage)
    target: int  # the class whose logit was differentiated
    probs: np.ndarray  # (classes,) softmax of the logits
    grid: tuple[int, int]  # stage 1's token grid = the input patch grid (rows, cols)


def swin_gradients(model, x: torch.Tensor, target: int | None = None) -> SwinGradCapture:
    """One image (x: (1, 3, H, W), from vision.preprocess) through a timm Swin with every block's window attention
    kept with its gradient of the logit of `target` (None: the predicted class). `model`: a VisionModel."""
    module = model.module
    version = swin.swin_version(module)
    if version is None or swin.is_cr(module):
        raise ExplainError("explain.not_swin", name=model.name)
    entries = swin.swin_blocks(module)
    scales = swin._stage_scales(module)
    maps: dict[str, list[torch.Tensor]] = {name: [] for name, _, _ in entries}
    shapes: dict[str, tuple[int, int]] = {}
    with unfused(module), hooks() as h, torch.enable_grad():
        for name, _, blk in entries:
            h.pre(blk, lambda mod, args, name=name: shapes.__setitem__(name, (int(args[0].shape[1]),
                                                                               int(args[0].shape[2]))))
            h.forward(blk.attn.softmax, lambda mod, args, out, name=name: maps[name].append(out))
        xg = x.detach().clone().requires_grad_(True)
        logits = module(xg)
        if logits.ndim != 2 or logits.shape[-1] < 2:
            raise ExplainError("explain.no_classifier", name=model.name)
        cls = int(logits[0].argmax()) if target is None else int(target)
        if not 0 <= cls < logits.shape[-1]:
            raise ExplainError("explain.bad_class", index=cls, classes=int(logits.shape[-1]))
        found = [maps[name] for name, _, _ in entries]
        if any(len(m) != 1 for m in found) or len(shapes) != len(entries):
            raise ExplainError("explain.capture_count", maps=sum(len(m) for m in found), blocks=len(entries))
        grads = torch.autograd.grad(logits[0, cls], [m[0] for m in found])
    blocks = [
        BlockInfo(name=name, stage=stage, grid=shapes[name], patch_px=float(scales[stage]),
                  window_size=swin._square(blk.window_size, "windows"), shift=swin._square(blk.shift_size, "shifts"),
                  num_heads=int(blk.attn.num_heads))
        for name, stage, blk in entries
    ]
    return SwinGradCapture(
        attention=[m[0].detach().float().cpu().numpy() for m in found],
        grads=[g.detach().float().cpu().numpy() for g in grads],
        blocks=blocks,
        target=cls,
        probs=torch.softmax(logits[0].detach().float(), -1).cpu().numpy(),
        grid=blocks[0].grid,
    )


# ---------------------------------------------------------------------------------------------
# Pure geometry: window attention on the image grid, patch merging
# ---------------------------------------------------------------------------------------------
def token_index(block: BlockInfo) -> np.ndarray:
    """(windows, M²) int: the image-grid index (row·cols + col) of every window token, -1 for padding."""
    pos = swin.token_positions(block)
    return np.where(pos[..., 0] >= 0, pos[..., 0] * block.grid[1] + pos[..., 1], -1)


def window_to_grid(windows: np.ndarray, block: BlockInfo) -> np.ndarray:
    """(windows, M², M²) → (N, N) float64 on the image grid (N = rows·cols, row-major): [i, j] = the window entry of
    query i and key j where one window holds both, 0 elsewhere; padding rows and columns dropped."""
    idx = token_index(block)
    n = block.grid[0] * block.grid[1]
    out = np.zeros((n, n))
    w = np.asarray(windows, dtype=np.float64)
    for k in range(idx.shape[0]):
        real = idx[k] >= 0
        out[np.ix_(idx[k][real], idx[k][real])] = w[k][np.ix_(real, real)]
    return out


def apply_windows(windows: np.ndarray, block: BlockInfo, r: np.ndarray) -> np.ndarray:
    """window_to_grid(windows, block) @ r without forming the (N, N) matrix: r (N, D) → (N, D)."""
    idx = token_index(block)
    r = np.asarray(r, dtype=np.float64)
    padded = np.concatenate([r, np.zeros((1, r.shape[1]))])  # index -1 reads this zero row
    gathered = padded[idx]  # (windows, M², D)
    prod = np.asarray(windows, dtype=np.float64) @ gathered
    out = np.zeros_like(r)
    real = idx >= 0
    out[idx[real]] = prod[real]
    return out


def merge_matrix(grid: tuple[int, int]) -> np.ndarray:
    """(N_next, N) P of patch merging: merged token (i, j) averages the real tokens of the 2×2 group (2i + a, 2j + b).
    The next grid is ceil(rows / 2) × ceil(cols / 2), as timm pads an odd grid before merging."""
    rows, cols = grid
    nr, nc = -(-rows // 2), -(-cols // 2)
    p = np.zeros((nr * nc, rows * cols))
    for i in range(nr):
        for j in range(nc):
            src = [(2 * i + a) * cols + 2 * j + b for a in (0, 1) for b in (0, 1)
                   if 2 * i + a < rows and 2 * j + b < cols]
            p[i * nc + j, src] = 1.0 / len(src)
    return p


def _stage_changes(blocks: list[BlockInfo]) -> list[bool]:
    """Whether a patch merging comes before each block (its grid differs from the previous block's)."""
    return [k > 0 and tuple(b.grid) != tuple(blocks[k - 1].grid) for k, b in enumerate(blocks)]


def _check_merge(prev: BlockInfo, nxt: BlockInfo) -> None:
    want = (-(-prev.grid[0] // 2), -(-prev.grid[1] // 2))
    if tuple(nxt.grid) != want:
        raise ValueError(f"stage grid {prev.grid} cannot merge into {nxt.grid}")


def propagate(blocks: list[BlockInfo], step: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray:
    """R over the blocks: R = I on stage 1's grid; before a block on a new grid R ← P·R; then R ← step(k, R).
    Returns the last stage's R, (N_last, N_1)."""
    r = np.eye(blocks[0].grid[0] * blocks[0].grid[1])
    for k, (b, merged) in enumerate(zip(blocks, _stage_changes(blocks))):
        if merged:
            _check_merge(blocks[k - 1], b)
            r = merge_matrix(blocks[k - 1].grid) @ r
        r = step(k, r)
    return r


def carry_to_input(blocks: list[BlockInfo]) -> np.ndarray:
    """(N_last, N_1): the product of every merge's P (each last-stage token spread evenly over its input patches)."""
    return propagate(blocks, lambda k, r: r)


# ---------------------------------------------------------------------------------------------
# The maps, each (rows, cols) on the input patch grid
# ---------------------------------------------------------------------------------------------
def _grid_map(values: np.ndarray, blocks: list[BlockInfo]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(blocks[0].grid)


def relevance(attention, grads, blocks: list[BlockInfo], keep_identity: bool = False) -> np.ndarray:
    """Chefer's rule 5/6 per block (R += Ā·R, Ā = mean over heads of (∇A ⊙ A)⁺), P across merges, mean over the last
    stage's rows. The identity path alone (every token relevant to itself, carried through the merges) gives every
    input patch the same 1/N₁ in that mean: it says nothing about the class and is subtracted unless
    `keep_identity` (as Chefer's ViT map reads the CLS row without CLS's own column, which holds its identity)."""
    def step(k, r):
        a = np.clip(np.asarray(grads[k], np.float64) * np.asarray(attention[k], np.float64), 0, None).mean(axis=1)
        return r + apply_windows(a, blocks[k], r)

    r = propagate(blocks, step)
    if not keep_identity:
        r = r - carry_to_input(blocks)
    return _grid_map(r.mean(axis=0), blocks)


def _residual_factor(fused: np.ndarray, block: BlockInfo, r: np.ndarray) -> np.ndarray:
    """(0.5·A + 0.5·I) rows renormalised, applied to r (A: (windows, M², M²) on the block's grid)."""
    rowsum = apply_windows(fused, block, np.ones((r.shape[0], 1)))  # what each query's row keeps on the grid
    return (0.5 * apply_windows(fused, block, r) + 0.5 * r) / (0.5 * rowsum + 0.5)


def rollout(attention, blocks: list[BlockInfo]) -> np.ndarray:
    """Abnar & Zuidema's rollout through windows and merges (heads averaged), read out by the pooled representation."""
    def step(k, r):
        return _residual_factor(np.asarray(attention[k], np.float64).mean(axis=1), blocks[k], r)

    return _grid_map(propagate(blocks, step).mean(axis=0), blocks)


def grad_rollout(attention, grads, blocks: list[BlockInfo], discard_ratio: float = 0.9, fusion: str = "mean"
                 ) -> np.ndarray:
    """vit-explain's gradient rollout through windows and merges. The discard ratio drops that share of the block's
    smallest fused window entries (the entries the block has; on the full grid most entries are zeros already)."""
    from models.analysis.relevance import _fuse

    def step(k, r):
        fused = np.stack([_fuse(np.asarray(a, np.float64) * np.asarray(g, np.float64), fusion)
                          for a, g in zip(attention[k], grads[k])])  # (windows, M², M²)
        fused[fused < 0] = 0
        flat = fused.reshape(-1)
        n_drop = int(flat.size * discard_ratio)
        if n_drop > 0:
            flat[np.argpartition(flat, n_drop - 1)[:n_drop]] = 0
        return _residual_factor(fused, blocks[k], r)

    return _grid_map(propagate(blocks, step).mean(axis=0), blocks)


def raw_attention(attention, blocks: list[BlockInfo]) -> np.ndarray:
    """The last block's attention, heads averaged, averaged over its queries: what each last-stage token receives,
    spread evenly over the input patches it covers."""
    last = np.asarray(attention[-1], np.float64).mean(axis=1)
    n = blocks[-1].grid[0] * blocks[-1].grid[1]
    received = apply_windows(last, blocks[-1], np.eye(n)).mean(axis=0)  # column means of the grid matrix
    return _grid_map(received @ carry_to_input(blocks), blocks)


def attention_x_gradient(attention, grads, blocks: list[BlockInfo]) -> np.ndarray:
    """The last block's mean over heads of (A ⊙ ∇A)⁺, averaged over queries and spread back like raw_attention."""
    last = np.clip(np.asarray(grads[-1], np.float64) * np.asarray(attention[-1], np.float64), 0, None).mean(axis=1)
    n = blocks[-1].grid[0] * blocks[-1].grid[1]
    received = apply_windows(last, blocks[-1], np.eye(n)).mean(axis=0)
    return _grid_map(received @ carry_to_input(blocks), blocks)


def flow_network(attention, blocks: list[BlockInfo]):
    """The layered graph of `attention_flow` as (csr capacity matrix, int32 ×FLOW_SCALE; sink node; input nodes)."""
    from scipy.sparse import coo_matrix

    from models.analysis.relevance import FLOW_SCALE

    src, dst, cap = [], [], []
    offset, n = 0, blocks[0].grid[0] * blocks[0].grid[1]  # the nodes of the current layer: offset .. offset + n
    for k, (b, merged) in enumerate(zip(blocks, _stage_changes(blocks))):
        if merged:
            p = merge_matrix(blocks[k - 1].grid)
            i, j = np.nonzero(p)
            src.append(offset + j)
            dst.append(offset + n + i)
            cap.append(p[i, j])
            offset, n = offset + n, p.shape[0]
        fused = np.asarray(attention[k], np.float64).mean(axis=1)
        a = window_to_grid(fused, b)
        a = 0.5 * a + 0.5 * np.eye(n)
        a = a / a.sum(axis=-1, keepdims=True)
        i, j = np.nonzero(a > 0)
        src.append(offset + j)
        dst.append(offset + n + i)
        cap.append(a[i, j])
        offset += n
    sink = offset + n
    src.append(offset + np.arange(n))
    dst.append(np.full(n, sink))
    cap.append(np.full(n, 1.0 / n))
    caps = np.rint(np.concatenate(cap) * FLOW_SCALE).astype(np.int32)
    graph = coo_matrix((caps, (np.concatenate(src), np.concatenate(dst))), shape=(sink + 1, sink + 1)).tocsr()
    graph.sum_duplicates()
    return graph, sink, blocks[0].grid[0] * blocks[0].grid[1]


def attention_flow(attention, blocks: list[BlockInfo], progress: Callable[[int, int], None] | None = None
                   ) -> np.ndarray:
    """Abnar & Zuidema's attention flow to the pooled representation: per input patch, the max flow from its node to
    the sink (SciPy's compiled maximum_flow). `progress(done, total)` after each patch."""
    from scipy.sparse.csgraph import maximum_flow

    from models.analysis.relevance import FLOW_SCALE

    graph, sink, n = flow_network(attention, blocks)
    out = np.zeros(n)
    for j in range(n):
        out[j] = maximum_flow(graph, j, sink).flow_value / FLOW_SCALE
        if progress is not None:
            progress(j + 1, n)
    return _grid_map(out, blocks)
