"""Swin Transformer (Liu et al., 2021) from timm: window attention captured as data, and the pure
geometry that puts every window, shift and mask back on the image.

Swin attends inside M x M windows of the token grid. Every second block of a stage first rolls the
feature map by floor(M/2) tokens up and left (the cyclic shift), so that its windows straddle the
previous block's window borders; tokens that share a rolled window without being neighbours in the
image are kept apart by a mask of -100 added to their logits before the softmax. Each stage after
the first starts with patch merging (2 x 2 neighbours concatenated, 4C -> 2C), halving the grid.

Geometry conventions (as timm's): window w of a block is row w // (Wp / M), column w % (Wp / M) of
the *rolled, padded* token grid (Hp, Wp); rolled position r holds the token that sits at
(r + shift) mod H in the image. Tokens are numbered row by row inside a window.
"""
from __future__ import annotations

import functools
import weakref
from typing import NamedTuple

import numpy as np
import torch

from models.capture.hooks import hooks, unfused
from models.capture.trace import BlockInfo, SwinDetails, SwinStage
from models.messages import CodedError, Notice

# Swin families timm builds; the page offers these (any other timm Swin / Swin V2 name works too).
MODEL_NAMES = (
    "swin_tiny_patch4_window7_224",
    "swin_small_patch4_window7_224",
    "swin_base_patch4_window7_224",
    "swin_base_patch4_window12_384",
    "swin_large_patch4_window7_224",
    "swinv2_tiny_window8_256",
    "swinv2_tiny_window16_256",
    "swinv2_small_window8_256",
    "swinv2_base_window8_256",
    "swinv2_cr_tiny_ns_224",  # timm's separate Swin V2 implementation (SwinTransformerV2Cr)
)

MASK_VALUE = -100.0  # what Liu et al. (and timm) add to the logits of pairs from different regions


class SwinUnsupported(CodedError):
    """A Swin the page cannot draw (non-square patches, windows or shifts): a code, worded by ui/words/swin.py."""


class SwinCaptureError(CodedError, RuntimeError):
    """The attention of a Swin could not be captured (an unexpected timm version or architecture): a code."""


# ---------------------------------------------------------------------------------------------
# Which models are Swin
# ---------------------------------------------------------------------------------------------
def is_cr(model: torch.nn.Module) -> bool:
    """Whether the model is timm's SwinTransformerV2Cr (swinv2_cr_*): Swin V2 written separately, with `stages`
    instead of `layers`, a functional softmax, and a position-bias MLP used without 16·sigmoid."""
    from timm.models.swin_transformer_v2_cr import SwinTransformerV2Cr

    return isinstance(model, SwinTransformerV2Cr)


def swin_version(model: torch.nn.Module) -> int | None:
    """1 for a timm SwinTransformer, 2 for a SwinTransformerV2 or SwinTransformerV2Cr, None for anything else."""
    from timm.models.swin_transformer import SwinTransformer
    from timm.models.swin_transformer_v2 import SwinTransformerV2

    if isinstance(model, SwinTransformerV2) or is_cr(model):
        return 2
    if isinstance(model, SwinTransformer):
        return 1
    return None


def is_swin(model: torch.nn.Module) -> bool:
    return swin_version(model) is not None


# ---------------------------------------------------------------------------------------------
# Pure window geometry (numpy), the paper's construction written out
# ---------------------------------------------------------------------------------------------
def window_partition(x: np.ndarray, window_size: int) -> np.ndarray:
    """(H, W, ...) -> (num_windows, M, M, ...): non-overlapping M x M windows, row by row.

    H and W must be multiples of M (pad first: `padded_grid`).
    """
    h, w = x.shape[:2]
    m = window_size
    if h % m or w % m:
        raise ValueError(f"grid {h}x{w} is not a multiple of the window size {m}")
    rest = x.shape[2:]
    x = x.reshape(h // m, m, w // m, m, *rest)
    x = np.moveaxis(x, 2, 1)  # (H/M, W/M, M, M, ...)
    return x.reshape(-1, m, m, *rest)


def window_reverse(windows: np.ndarray, window_size: int, height: int, width: int) -> np.ndarray:
    """(num_windows, M, M, ...) -> (H, W, ...): the inverse of `window_partition`."""
    m = window_size
    rest = windows.shape[3:]
    x = windows.reshape(height // m, width // m, m, m, *rest)
    x = np.moveaxis(x, 1, 2)  # (H/M, M, W/M, M, ...)
    return x.reshape(height, width, *rest)


def padded_grid(grid: tuple[int, int], window_size: int) -> tuple[int, int]:
    """The token grid rounded up to whole windows (timm pads the bottom and right with zeros)."""
    m = window_size
    return (-(-grid[0] // m) * m, -(-grid[1] // m) * m)


def roll_map(a: np.ndarray, shift: int) -> np.ndarray:
    """The cyclic shift of a (H, W, ...) map: `torch.roll(x, (-s, -s))`, rows and columns move up and left."""
    return np.roll(a, (-shift, -shift), axis=(0, 1)) if shift else a.copy()


def region_labels(grid: tuple[int, int], window_size: int, shift: int) -> np.ndarray:
    """(Hp, Wp) int: the region of every position of the rolled, padded map, numbered 0..8 row by row.

    Liu et al. (2021), Fig. 4: after rolling by s, the last M rows split into a band of M - s rows that
    were already at the bottom and a band of s rows that wrapped round from the top (likewise for
    columns). Slices (0, Hp - M), (Hp - M, Hp - s), (Hp - s, Hp) across rows and columns give up to 9
    regions; tokens of different regions were not neighbours in the image. All zeros when s = 0.
    """
    hp, wp = padded_grid(grid, window_size)
    m, s = window_size, shift
    labels = np.zeros((hp, wp), dtype=np.int64)
    if not s:
        return labels
    row_cuts = [(0, hp - m), (hp - m, hp - s), (hp - s, hp)]
    col_cuts = [(0, wp - m), (wp - m, wp - s), (wp - s, wp)]
    for i, (r0, r1) in enumerate(row_cuts):
        for j, (c0, c1) in enumerate(col_cuts):
            labels[r0:r1, c0:c1] = 3 * i + j
    return labels


def shift_mask(grid: tuple[int, int], window_size: int, shift: int) -> np.ndarray | None:
    """(num_windows, M*M, M*M) float32: 0 where query and key share a region, -100 where they do not.

    None for a regular (unshifted) block, which needs no mask. Built from `region_labels` alone.
    """
    if not shift:
        return None
    labels = window_partition(region_labels(grid, window_size, shift), window_size)
    labels = labels.reshape(labels.shape[0], -1)  # (nW, M*M)
    differ = labels[:, None, :] != labels[:, :, None]  # [w, query, key]
    return np.where(differ, MASK_VALUE, 0.0).astype(np.float32)


def window_count(block: BlockInfo) -> tuple[int, int]:
    """Windows per column and per row of a block: (Hp / M, Wp / M)."""
    hp, wp = padded_grid(block.grid, block.window_size)
    return hp // block.window_size, wp // block.window_size


def token_positions(block: BlockInfo) -> np.ndarray:
    """(num_windows, M*M, 2) int: the (row, col) in the image's token grid of every token of every
    window, -1 for padding positions (grid not a multiple of M)."""
    h, w = block.grid
    hp, wp = padded_grid(block.grid, block.window_size)
    s = block.shift
    rr, cc = np.meshgrid(np.arange(hp), np.arange(wp), indexing="ij")  # rolled, padded coordinates
    real_r = np.where(rr < h, (rr + s) % h, -1)
    real_c = np.where(cc < w, (cc + s) % w, -1)
    pad = (real_r < 0) | (real_c < 0)
    pos = np.stack([np.where(pad, -1, real_r), np.where(pad, -1, real_c)], axis=-1)
    return window_partition(pos, block.window_size).reshape(-1, block.window_size**2, 2)


def token_window_map(block: BlockInfo) -> np.ndarray:
    """(rows, cols) int: the window (index from 0, as numbered on the rolled map) that holds each image token."""
    h, w = block.grid
    out = np.full((h, w), -1, dtype=np.int64)
    for win, pos in enumerate(token_positions(block)):
        real = pos[:, 0] >= 0
        out[pos[real, 0], pos[real, 1]] = win
    return out


def locate_token(block: BlockInfo, row: int, col: int) -> tuple[int, int]:
    """(window index, index inside the window) of the image token at (row, col) in this block."""
    h, w = block.grid
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"token ({row}, {col}) is outside the {h}x{w} grid")
    m, s = block.window_size, block.shift
    rr, rc = (row - s) % h, (col - s) % w  # where the roll puts it
    _, per_row = window_count(block)
    return (rr // m) * per_row + rc // m, (rr % m) * m + rc % m


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of integers as (first, last) pairs, in the order given."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def window_boxes(block: BlockInfo, window: int) -> list[tuple[float, float, float, float]]:
    """Pixel boxes (x0, y0, x1, y1) on the model's input crop covered by one window of one block.

    A regular window is one box. A shifted window covers rows and columns of the rolled map, which in
    the image wrap round the bottom/right edge to the top/left: it comes back as up to four pieces.
    Padding positions (outside the image) are left out.
    """
    n_rows, n_cols = window_count(block)
    if not 0 <= window < n_rows * n_cols:
        raise ValueError(f"window {window} out of range: this block has {n_rows * n_cols} windows")
    h, w = block.grid
    m, s, px = block.window_size, block.shift, block.patch_px
    wr, wc = divmod(window, n_cols)
    rows = [(r + s) % h for r in range(wr * m, (wr + 1) * m) if r < h]
    cols = [(c + s) % w for c in range(wc * m, (wc + 1) * m) if c < w]
    boxes = []
    for r0, r1 in _runs(rows):
        for c0, c1 in _runs(cols):
            boxes.append((c0 * px, r0 * px, (c1 + 1) * px, (r1 + 1) * px))
    return boxes


def token_labels(block: BlockInfo, window: int) -> list[str]:
    """Axis labels "(row, col)" (image token coordinates) of the tokens of one window; "pad" for padding."""
    pos = token_positions(block)[window]
    return ["pad" if r < 0 else f"({r},{c})" for r, c in pos]


def rolled_image(image: np.ndarray, block: BlockInfo) -> np.ndarray:
    """The input crop rolled like the block's feature map: by shift x patch_px pixels up and left."""
    return roll_map(np.asarray(image), int(round(block.shift * block.patch_px)))


@functools.lru_cache(maxsize=64)
def _window_distances(grid: tuple[int, int], window_size: int, shift: int, patch_px: float) -> tuple[np.ndarray, int]:
    """((nW, N*N, 1) float32 query-key distances in input pixels, 0 where either is padding; real queries).

    Depends only on the block's geometry, so it is computed once per geometry, not once per image.
    """
    block = BlockInfo(name="", stage=0, grid=grid, patch_px=patch_px, window_size=window_size, shift=shift, num_heads=1)
    pos = token_positions(block).astype(np.float64)  # (nW, N, 2)
    real = pos[..., 0] >= 0  # (nW, N)
    dy = pos[:, :, None, 0] - pos[:, None, :, 0]
    dx = pos[:, :, None, 1] - pos[:, None, :, 1]
    dist = np.hypot(dy, dx) * patch_px  # (nW, N, N)
    dist *= real[:, :, None] & real[:, None, :]  # padded queries and keys count for nothing
    nw, n = dist.shape[:2]
    out = np.ascontiguousarray(dist.reshape(nw, n * n, 1), dtype=np.float32)
    out.flags.writeable = False
    return out, int(real.sum())


def mean_distances(attention: list[np.ndarray], blocks: list[BlockInfo]) -> list[np.ndarray]:
    """`mean_attention_distance` of every block: [(heads,) pixels]. Not part of the capture: the page asks
    for it when it draws the distance plot (about 3 ms for swin_tiny, a third of the capture's overhead)."""
    return [mean_attention_distance(a, b) for a, b in zip(attention, blocks)]


def mean_attention_distance(attention: np.ndarray, block: BlockInfo) -> np.ndarray:
    """(heads,) mean attention distance in input pixels (Dosovitskiy et al., 2021, Fig. 7 / Appendix D.7).

    For every query: the attention-weighted Euclidean distance to its keys, measured in the image (not
    in the rolled map), times the token side in pixels; averaged over the image's query tokens. Keys
    across a shifted window's wrap-around carry weight e^-100, so they count for nothing.
    """
    dist, n_real = _window_distances(tuple(block.grid), int(block.window_size), int(block.shift), float(block.patch_px))
    nw, heads, n, _ = attention.shape
    # Σ_q Σ_k a[w, h, q, k] · d[w, q, k] as one batched matrix-vector product per window (BLAS, not einsum)
    a = np.ascontiguousarray(attention, dtype=np.float32).reshape(nw, heads, n * n)
    total = (a @ dist)[..., 0].astype(np.float64).sum(axis=0)  # (heads,)
    return total / n_real


# ---------------------------------------------------------------------------------------------
# Capture from a timm model
# ---------------------------------------------------------------------------------------------
def _stages(model: torch.nn.Module) -> tuple[str, list[torch.nn.Module]]:
    """("layers", model.layers) for timm's Swin and Swin V2, ("stages", model.stages) for SwinTransformerV2Cr."""
    return ("stages", list(model.stages)) if is_cr(model) else ("layers", list(model.layers))


def swin_blocks(model: torch.nn.Module) -> list[tuple[str, int, torch.nn.Module]]:
    """(module name, stage, block) of every Swin block, in forward order."""
    prefix, stages = _stages(model)
    out = []
    for stage, layer in enumerate(stages):
        for j, block in enumerate(layer.blocks):
            out.append((f"{prefix}.{stage}.blocks.{j}", stage, block))
    return out


def _square(size, what: str) -> int:
    """The side of a square patch, window or shift (`what`: "patches", "windows" or "shifts")."""
    size = tuple(int(v) for v in (size if isinstance(size, (tuple, list)) else (size, size)))
    if size[0] != size[1]:
        shown = f"{size[0]}×{size[1]}"
        if what == "patches":
            raise SwinUnsupported("swin.non_square_patches", size=shown)
        if what == "windows":
            raise SwinUnsupported("swin.non_square_windows", size=shown)
        raise SwinUnsupported("swin.non_square_shifts", size=shown)
    return size[0]


def _stage_scales(model: torch.nn.Module) -> list[int]:
    """Input pixels per token side at each stage: the patch size, doubled by every patch merging."""
    patch = _square(model.patch_embed.patch_size, "patches")
    scales, scale = [], patch
    for layer in _stages(model)[1]:
        if not isinstance(layer.downsample, torch.nn.Identity):
            scale *= 2
        scales.append(scale)
    return scales


def _dim(block: torch.nn.Module) -> int | None:
    """Channels C of a block (timm's Swin: .dim; V2Cr: its attention's in_features)."""
    if hasattr(block, "dim"):
        return int(block.dim)
    found = getattr(getattr(block, "attn", None), "in_features", None)
    return int(found) if found is not None else None


_BIAS_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bias_tables(attn: torch.nn.Module, version: int, num_heads: int) -> tuple[np.ndarray, np.ndarray]:
    """`_compute_bias_tables`, computed once per module and parameter state (read-only arrays).

    The bias depends only on the weights, not on the image: it is kept beside the module (weakly, so
    it goes with the model) and recomputed when any of the module's parameters changed in place
    (training, load_state_dict), which bumps their version counters.
    """
    state = tuple(p._version for p in attn.parameters())
    cached = _BIAS_CACHE.get(attn)
    if cached is not None and cached[0] == state:
        return cached[1]
    table, bias = _compute_bias_tables(attn, version, num_heads)
    table.flags.writeable = False
    bias.flags.writeable = False
    _BIAS_CACHE[attn] = (state, (table, bias))
    return table, bias


def _relative_position_index(attn: torch.nn.Module) -> np.ndarray:
    """(M*M, M*M): the row of the flattened (2M-1)^2 table for each query-key pair (timm's buffer where it has one)."""
    found = getattr(attn, "relative_position_index", None)
    if found is not None:
        return found.cpu().numpy()
    wh, ww = attn.window_size
    rows, cols = np.divmod(np.arange(wh * ww), ww)
    dy = rows[:, None] - rows[None, :] + wh - 1
    dx = cols[:, None] - cols[None, :] + ww - 1
    return (dy * (2 * ww - 1) + dx).astype(np.int64)


def _cr_weights(attn: torch.nn.Module, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """SwinTransformerV2Cr's WindowMultiHeadAttention softmax, step by step as its forward computes it (timm calls
    `attn.softmax(dim=-1)` as a tensor method: there is no module to hook). Its output is checked against the
    module's own in tests/test_swin.py."""
    bw, n, c = x.shape
    qkv = attn.qkv(x).view(bw, n, 3, attn.num_heads, c // attn.num_heads).permute(2, 0, 3, 1, 4)
    query, key, _ = qkv.unbind(0)
    logits = torch.nn.functional.normalize(query, dim=-1) @ torch.nn.functional.normalize(key, dim=-1).transpose(-2, -1)
    scale = torch.clamp(attn.logit_scale.reshape(1, attn.num_heads, 1, 1), max=float(np.log(100.0))).exp()
    logits = logits * scale + attn._relative_positional_encodings()
    if mask is not None:
        nw = mask.shape[0]
        logits = (logits.view(bw // nw, nw, attn.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)).view(
            -1, attn.num_heads, n, n)
    return logits.softmax(dim=-1)


def _compute_bias_tables(attn: torch.nn.Module, version: int, num_heads: int) -> tuple[np.ndarray, np.ndarray]:
    """The relative position bias of one WindowAttention: ((heads, 2M-1, 2M-1) table, (heads, M*M, M*M) bias).

    V1: the learned table B-hat, indexed by (dy + M - 1, dx + M - 1) with dy, dx = query - key.
    V2: the continuous position bias, 16 * sigmoid(cpb_mlp(log-spaced relative coords)), as timm adds it.
    V2Cr: its meta MLP of the log-spaced coords, sign(d)·log(1 + |d|), as timm adds it (no sigmoid).
    """
    wh, ww = attn.window_size
    if hasattr(attn, "meta_mlp"):  # SwinTransformerV2Cr: the MLP of the log-spaced offsets, used as is
        expanded = attn._relative_positional_encodings()[0]  # timm's own: (heads, N, N)
        dy, dx = torch.meshgrid(torch.arange(-(wh - 1), wh), torch.arange(-(ww - 1), ww), indexing="ij")
        offsets = torch.stack([dy, dx], dim=-1).reshape(-1, 2).to(attn.logit_scale)
        flat = attn.meta_mlp(torch.sign(offsets) * torch.log1p(offsets.abs()))  # ((2M-1)^2, heads)
        table = flat.reshape(2 * wh - 1, 2 * ww - 1, num_heads).permute(2, 0, 1)
        return table.float().cpu().numpy(), expanded.float().cpu().numpy()
    index = attn.relative_position_index.reshape(-1)
    if version == 1:
        flat = attn.relative_position_bias_table  # ((2M-1)^2, heads)
        expanded = attn._get_rel_pos_bias()[0]  # timm's own expansion: (heads, N, N)
    else:
        flat = 16 * torch.sigmoid(attn.cpb_mlp(attn.relative_coords_table).reshape(-1, num_heads))
        expanded = flat[index].reshape(wh * ww, wh * ww, num_heads).permute(2, 0, 1)
    table = flat.reshape(2 * wh - 1, 2 * ww - 1, num_heads).permute(2, 0, 1)
    return table.float().cpu().numpy(), expanded.float().cpu().numpy()


class SwinCapture(NamedTuple):
    """What `capture` returns."""

    attention: list[np.ndarray]  # [b] float32 (windows, heads, M*M, M*M), rows sum to 1
    blocks: list[BlockInfo]
    details: SwinDetails
    logits: torch.Tensor  # (1, classes) float32 on the CPU: the model's own output for the image


def capture(model: torch.nn.Module, x: torch.Tensor, traced: tuple | None = None) -> SwinCapture:
    """Run one preprocessed image (1, 3, H, W) through a timm Swin / Swin V2 and return its attention.

    `traced` = (extractor, softmax node names, output node name): timm's FX GraphExtractNet built once
    when the model was loaded (models.capture.vision), run as is: no hooks, no flags, no lock. Without it the
    weights are read by hooks on the model for this call only.

    Returns SwinCapture(attention, blocks, details, logits):
      attention[b]  float32 (windows, heads, M*M, M*M): softmax weights of block b, windows numbered
                    on the rolled, padded map (see the module docstring), rows sum to 1;
      blocks[b]     BlockInfo: grid of the stage, token side in input pixels, M, shift, heads;
      details       SwinDetails: per block the mask the block really used, the position bias (table and
                    expanded), the relative position index, V2's logit scale; the version and the stages;
      logits        (1, classes) float32 CPU tensor, the model's output on the same forward pass.

    Weights come from the block's own softmax (hooked for this call only, fused attention off while
    it runs). Safe when one cached model serves many threads: a per-model lock, nothing left behind.
    """
    version = swin_version(model)
    if version is None:
        raise TypeError(f"{type(model).__name__} is not a timm Swin Transformer")
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one image as a (1, 3, H, W) tensor, got {tuple(x.shape)}")
    entries = swin_blocks(model)
    scales = _stage_scales(model)
    weights: dict[str, list[torch.Tensor]] = {name: [] for name, _, _ in entries}
    masks: dict[str, list] = {name: [] for name, _, _ in entries}
    shapes: dict[str, tuple[int, int]] = {}

    def on_block(name):  # hooks fire for this thread's calls only (models/capture/hooks.py)
        def hook(module, args):
            shapes[name] = (int(args[0].shape[1]), int(args[0].shape[2]))  # NHWC input

        return hook

    cr = is_cr(model)

    def on_attn(name):
        def hook(module, args, kwargs):
            mask = kwargs.get("mask", args[1] if len(args) > 1 else None)
            masks[name].append(None if mask is None else mask.detach().float().cpu().numpy())
            if cr:  # SwinTransformerV2Cr calls softmax as a tensor method: nothing to hook, so it is recomputed
                weights[name].append(_cr_weights(module, args[0], mask).detach().float().cpu())

        return hook

    def on_softmax(name):
        def hook(module, args, output):
            weights[name].append(output.detach().float().cpu())

        return hook

    param = next(model.parameters())
    x = x.to(device=param.device, dtype=param.dtype)
    if traced is not None and not cr:
        extractor, nodes, output = traced
        with torch.inference_mode():
            out = extractor(x)
            logits = out[output].float().cpu()
            for name, _, blk in entries:
                node = f"{name}.attn.softmax"
                if node in nodes:
                    weights[name].append(out[node].detach().float().cpu())
                mask = getattr(blk, "attn_mask", None)  # the buffer the traced graph reads (no dynamic_mask)
                masks[name].append(None if mask is None else mask.detach().float().cpu().numpy())
                shapes[name] = tuple(int(v) for v in blk.input_resolution)
    else:
        with unfused(model), hooks() as h:
            for name, _, blk in entries:
                h.pre(blk, on_block(name))
                h.pre(blk.attn, on_attn(name), with_kwargs=True)
                if not cr:
                    h.forward(blk.attn.softmax, on_softmax(name))
            with torch.inference_mode():
                logits = model(x).float().cpu()  # (1, classes)
    with torch.inference_mode():
        tables = [_bias_tables(blk.attn, version, blk.attn.num_heads) for _, _, blk in entries]
        scales_v2 = [
            torch.clamp(blk.attn.logit_scale, max=float(np.log(100.0))).exp().reshape(-1).float().cpu().numpy()
            if version == 2
            else None
            for _, _, blk in entries
        ]

    attention, blocks = [], []
    details = SwinDetails(version=version, attn_mask=[], bias_table=[], bias=[], relative_position_index=[],
                          logit_scale=scales_v2, stages=[],
                          implementation="SwinTransformerV2Cr" if cr else type(model).__name__)
    for (name, stage, blk), (table, bias) in zip(entries, tables):
        if len(weights[name]) != 1 or name not in shapes:
            raise SwinCaptureError("swin.capture_failed", module=name, calls=len(weights[name]))
        m = _square(blk.window_size, "windows")
        shift = _square(blk.shift_size, "shifts")
        info = BlockInfo(
            name=name,
            stage=stage,
            grid=shapes[name],
            patch_px=float(scales[stage]),
            window_size=m,
            shift=shift,
            num_heads=int(blk.attn.num_heads),
        )
        att = weights[name][0].numpy().astype(np.float32, copy=False)  # (nW, heads, N, N)
        expected = window_count(info)
        if att.shape != (expected[0] * expected[1], info.num_heads, m * m, m * m):
            raise SwinCaptureError("swin.unexpected_shape", module=name, shape=str(tuple(att.shape)))
        attention.append(att)
        blocks.append(info)
        details.attn_mask.append(masks[name][0] if masks[name] else None)
        details.bias_table.append(table)
        details.bias.append(bias)
        details.relative_position_index.append(_relative_position_index(blk.attn))
    details.stages.extend(
        SwinStage(
            stage=i,
            grid=next(b.grid for b in blocks if b.stage == i),
            patch_px=float(scales[i]),
            dim=_dim(layer.blocks[0]),
            depth=len(layer.blocks),
            num_heads=next(b.num_heads for b in blocks if b.stage == i),
            window_size=next(b.window_size for b in blocks if b.stage == i),
            merging=not isinstance(layer.downsample, torch.nn.Identity),
        )
        for i, layer in enumerate(_stages(model)[1])
        if len(layer.blocks)
    )
    if not attention:
        raise SwinCaptureError("swin.no_blocks")
    return SwinCapture(attention, blocks, details, logits)


# ---------------------------------------------------------------------------------------------
# Views the page asks for (plain numpy in, plain numpy out)
# ---------------------------------------------------------------------------------------------
def block_number(block: BlockInfo) -> int | str:
    """The block's number inside its stage, counted from 1 (its module name when that has no number)."""
    last = block.name.rsplit(".", 1)[-1]
    return int(last) + 1 if last.isdigit() else block.name


def block_name(block: BlockInfo) -> str:
    """'stage 1 · block 2': the block's name in the downloads and logs (stages and blocks counted from 1, as the
    paper). The page words it in the reader's language itself."""
    return f"stage {block.stage + 1} · block {block_number(block)}"


def block_label(block: BlockInfo) -> str:
    """'stage 1 · block 2 · shifted windows (s = 3)' for menus (block_name and its kind of windows)."""
    kind = f"shifted windows (s = {block.shift})" if block.shift else "regular windows"
    return f"{block_name(block)} · {kind}"


def stage_pair(blocks: list[BlockInfo], stage: int) -> tuple[int, int | None]:
    """Indices (into blocks) of a stage's first regular block and of the shifted block after it (None
    when the stage has no shifted block, e.g. a last stage that is a single window)."""
    in_stage = [i for i, b in enumerate(blocks) if b.stage == stage]
    if not in_stage:
        raise ValueError(f"no blocks in stage {stage}")
    regular = next((i for i in in_stage if not blocks[i].shift), in_stage[0])
    shifted = next((i for i in in_stage if blocks[i].shift), None)
    return regular, shifted


def all_window_boxes(block: BlockInfo) -> list[list[tuple[float, float, float, float]]]:
    """window_boxes for every window of the block, in window order."""
    n_rows, n_cols = window_count(block)
    return [window_boxes(block, w) for w in range(n_rows * n_cols)]


def window_regions(block: BlockInfo, window: int) -> np.ndarray:
    """(M*M,) region label (0..8, see region_labels) of each token of one window."""
    labels = window_partition(region_labels(block.grid, block.window_size, block.shift), block.window_size)
    return labels[window].reshape(-1)


def rolled_region_labels(block: BlockInfo) -> np.ndarray:
    """(rows, cols) region label of every position of the rolled map that holds an image token."""
    h, w = block.grid
    return region_labels(block.grid, block.window_size, block.shift)[:h, :w]


def image_region_labels(block: BlockInfo) -> np.ndarray:
    """(rows, cols) region label of every image token, where the token sits before the roll."""
    return np.roll(rolled_region_labels(block), (block.shift, block.shift), axis=(0, 1))


def mask_matches(block: BlockInfo, used: np.ndarray | None) -> bool:
    """Whether the mask a block used equals the one built from the paper's region labels."""
    ours = shift_mask(block.grid, block.window_size, block.shift)
    if ours is None or used is None:
        return ours is None and used is None
    return ours.shape == used.shape and bool(np.array_equal(ours, used))


def query_attention(
    attention: np.ndarray, block: BlockInfo, row: int, col: int, head: int | None = None
) -> tuple[int, np.ndarray, np.ndarray]:
    """One image token's attention in one block: (window index, weights (M*M,), key positions (M*M, 2)).

    `head` None gives the mean over heads. Key positions are image token (row, col), -1 for padding.
    """
    window, index = locate_token(block, row, col)
    rows = attention[window, :, index, :]  # (heads, M*M)
    weights = rows.mean(axis=0) if head is None else rows[head]
    return window, weights.astype(np.float32), token_positions(block)[window]


# ---------------------------------------------------------------------------------------------
# Downloads: the attention shown, as data (NPZ and JSON)
# ---------------------------------------------------------------------------------------------
EXPORT_AXES = {
    "attention": ["window", "head", "query", "key"],
    "mask": ["window", "query", "key"],
    "bias": ["head", "query", "key"],
    "bias_table": ["head", "Δrow + M − 1", "Δcol + M − 1"],
    "relative_position_index": ["query", "key"],
    "logit_scale": ["head"],
    "token_positions": ["window", "token", "(row, col) in the image's token grid, -1 for padding"],
}


def _block_prefix(block: BlockInfo) -> str:
    """'stage1_block2': the key prefix of one block in the downloads (counted from 1, as on the page)."""
    return block_name(block).replace(" · ", "_").replace(" ", "")


# What each array of the downloads holds: codes, worded in the reader's language by the page (ui/words/swin.py)
EXPORT_FIELDS = {
    "attention": Notice("swin.field_attention"),
    "mask": Notice("swin.field_mask"),
    "bias": Notice("swin.field_bias"),
    "bias_table": Notice("swin.field_bias_table"),
    "relative_position_index": Notice("swin.field_relative_position_index"),
    "logit_scale": Notice("swin.field_logit_scale"),
    "token_positions": Notice("swin.field_token_positions"),
}
EXPORT_CONVENTIONS = Notice("swin.export_conventions")


def export_meta(trace, word=str) -> dict:
    """What the files say about the run: model, weights, version, conventions, what each array holds and each
    block's geometry. `word` words a Notice (the page passes ui.messages.word, for the reader's language; the
    default, str, gives the English)."""
    d = trace.swin
    return {
        "model": trace.model_name,
        "weights_source": trace.weights_source,
        "family": f"Swin V{d.version}" if d is not None else "Swin",
        "input_crop_px": list(trace.image.shape[:2]),
        "patch_size_px": trace.patch_size,
        "conventions": word(EXPORT_CONVENTIONS),
        "axes": EXPORT_AXES,
        "fields": {name: word(notice) for name, notice in EXPORT_FIELDS.items()},
        "stages": [dict(vars(s), stage=s.stage + 1, grid=list(s.grid)) for s in (d.stages if d else [])],
        "blocks": [
            {
                "name": block_name(b),
                "key": _block_prefix(b),
                "module": b.name,
                "stage": b.stage + 1,
                "grid": list(b.grid),
                "token_px": b.patch_px,
                "window_size": b.window_size,
                "shift": b.shift,
                "num_heads": b.num_heads,
                "windows": list(window_count(b)),
            }
            for b in trace.blocks
        ],
    }


def export_arrays(trace) -> dict[str, np.ndarray]:
    """Every block's window attention, mask, position bias (and V2's logit scale), token positions, and the crop."""
    d = trace.swin
    out: dict[str, np.ndarray] = {"image": np.asarray(trace.image)}
    for i, (att, b) in enumerate(zip(trace.attention, trace.blocks)):
        p = _block_prefix(b)
        out[f"{p}_attention"] = np.asarray(att, dtype=np.float32)
        out[f"{p}_token_positions"] = token_positions(b)
        if d is None:
            continue
        if d.attn_mask[i] is not None:
            out[f"{p}_mask"] = np.asarray(d.attn_mask[i], dtype=np.float32)
        out[f"{p}_bias"] = np.asarray(d.bias[i], dtype=np.float32)
        out[f"{p}_bias_table"] = np.asarray(d.bias_table[i], dtype=np.float32)
        out[f"{p}_relative_position_index"] = np.asarray(d.relative_position_index[i])
        if d.logit_scale[i] is not None:
            out[f"{p}_logit_scale"] = np.asarray(d.logit_scale[i], dtype=np.float32)
    return out


def export_npz(trace, word=str) -> bytes:
    """One .npz: the arrays of export_arrays, and "meta", the JSON text of export_meta."""
    import io
    import json

    buf = io.BytesIO()
    meta = json.dumps(export_meta(trace, word), ensure_ascii=False)
    np.savez_compressed(buf, meta=np.array(meta), **export_arrays(trace))
    return buf.getvalue()


def export_json(trace, word=str) -> str:
    """export_meta, with each block's arrays as nested lists under its entry in "blocks" (the crop left out)."""
    import json

    doc = export_meta(trace, word)
    arrays = export_arrays(trace)
    for entry in doc["blocks"]:
        p = entry["key"]
        entry["arrays"] = {k[len(p) + 1:]: v.tolist() for k, v in arrays.items() if k.startswith(p + "_")}
    return json.dumps(doc, ensure_ascii=False)
