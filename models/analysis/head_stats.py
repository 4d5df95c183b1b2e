"""What one head does on one input, as numbers: the statistics of Clark et al. (2019, "What Does BERT Look At?"),
the ViT paper's mean attention distance (Dosovitskiy et al., 2021, Fig. 7) and the shares that reveal attention
sinks (Darcet et al., 2023), for text, ViT and Swin attention. Pure functions of captured weights (torch tensors,
float32 in, float64 sums), so the corpus job (models/corpus) and its tests share them.

Every function takes one input's weights for one layer, (heads, queries, keys) — or, for a batch of images of one
geometry, (batch, heads, N, N) — and returns a dict of statistic name → (heads,) (or (batch, heads)) float64 tensors,
each a mean over the input's queries:

- entropy: −Σ_k w log w, in nats (0: one key takes everything; log K: uniform);
- max_weight: the query's largest weight;
- distance: Σ_k w·|q − k| in tokens (text), or the Euclidean distance between patch centres in pixels of the model's
  crop (images; patch queries over patch keys, renormalised: what a head parks on CLS or a register does not read
  as "looks nearby" — the ViT page's definition); Swin: within each window, in the image's coordinates;
- self / prev / next: weight on the query itself, on the token before it, after it (text; prev over the queries
  that have one, next likewise); self for images too;
- punct: weight on punctuation tokens (text);
- offset_x / offset_y: the attention-weighted offset Σ_k w·(x_k − x_q) in pixels (images), right and down positive;
- share:<NAME>: weight on each special or prefix token, by name ([CLS], [SEP], </s>, CLS, DIST, REG0…), always on the
  raw weights.

`exclude_sinks`: BOS-like keys (a text's first token when it is special: [CLS], <s>, BOS; an image's prefix tokens)
are removed and every query's remaining weights renormalised before the other statistics — a head that dumps on BOS
otherwise looks positional (its few remaining weights decide nothing). Queries left with no weight are skipped.

`profile`: the head's mean pattern by relative position — text: mean weight on the token at offset −R…R from the
query (2R+1 values); images and Swin: mean weight on the patch at (dy, dx) ∈ [−R, R]² ((2R+1)² values, row by row).
"""
from __future__ import annotations

import functools
import unicodedata

import numpy as np
import torch

TEXT_STATS = ("entropy", "max_weight", "distance", "self", "prev", "next", "punct")
IMAGE_STATS = ("entropy", "max_weight", "distance", "self", "offset_x", "offset_y")
PROFILE_RADIUS = {"text": 8, "image": 3}
SHARE = "share:"


def is_punctuation(label: str) -> bool:
    """A token made only of punctuation marks (Unicode categories P*: . , ; ! ? " ' ( ) and the full-width ，。、)."""
    s = label.strip().removeprefix("##")
    return bool(s) and all(unicodedata.category(c).startswith("P") for c in s)


def _entropy(w: torch.Tensor) -> torch.Tensor:
    return torch.special.entr(w.double()).sum(-1)


def _renormalise(w: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys outside `keep` set to 0 and rows rescaled to sum 1; returns (weights, rows that kept some weight)."""
    w = w * keep.to(w.dtype)
    total = w.sum(-1, keepdim=True)
    alive = total[..., 0] > 0
    return w / total.clamp_min(1e-30), alive


def _mean_over(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean over the last axis of values (..., Q) where rows (..., Q) is True; NaN where none is."""
    rows = rows.to(values.dtype)
    count = rows.sum(-1)
    return torch.where(count > 0, (values * rows).sum(-1) / count.clamp_min(1), torch.full_like(count, float("nan")))


def text_stats(
    w: torch.Tensor,
    specials: dict[str, np.ndarray],
    punct: np.ndarray,
    sinks: np.ndarray | None = None,
    exclude_sinks: bool = False,
    radius: int = PROFILE_RADIUS["text"],
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One input's self-attention of one layer, (heads, N, N) over its real tokens (no padding).

    specials: name → (N,) bool, the positions of each special token; punct: (N,) bool; sinks: (N,) bool, the
    BOS-like keys that `exclude_sinks` removes. Returns ({stat: (heads,)}, profile (heads, 2·radius + 1))."""
    h, q, k = w.shape  # computed in the weights' own precision (float32 from a model), means in float64
    if q != k:
        raise ValueError(f"self-attention expected: {q} queries, {k} keys")
    out: dict[str, torch.Tensor] = {}
    for name, where in specials.items():
        m = torch.as_tensor(np.asarray(where, dtype=bool), device=w.device)
        out[SHARE + name] = (w[..., m].sum(-1).double().mean(-1) if m.any()
                             else torch.zeros(h, dtype=torch.float64, device=w.device))
    rows = torch.ones(h, q, dtype=torch.bool, device=w.device)
    if exclude_sinks and sinks is not None and np.asarray(sinks).any():
        keep = torch.as_tensor(~np.asarray(sinks, dtype=bool), device=w.device)
        w, rows = _renormalise(w, keep)
    idx = torch.arange(q, device=w.device)
    out["entropy"] = _mean_over(torch.special.entr(w).sum(-1).double(), rows)
    out["max_weight"] = _mean_over(w.amax(-1).double(), rows)
    dist = (idx[:, None] - idx[None, :]).abs().to(w.dtype)
    out["distance"] = _mean_over((w * dist).sum(-1).double(), rows)
    out["self"] = _mean_over(w.diagonal(dim1=-2, dim2=-1).double(), rows)
    prev = torch.zeros(h, q, dtype=torch.float64, device=w.device)
    nxt = torch.zeros_like(prev)
    if q > 1:
        prev[:, 1:] = w.diagonal(offset=-1, dim1=-2, dim2=-1)
        nxt[:, :-1] = w.diagonal(offset=1, dim1=-2, dim2=-1)
    out["prev"] = _mean_over(prev, rows & (idx > 0))
    out["next"] = _mean_over(nxt, rows & (idx < q - 1))
    pm = torch.as_tensor(np.asarray(punct, dtype=bool), device=w.device)
    out["punct"] = (_mean_over(w[..., pm].sum(-1).double(), rows) if pm.any()
                    else torch.zeros(h, dtype=torch.float64, device=w.device))
    profile = torch.full((h, 2 * radius + 1), float("nan"), dtype=torch.float64, device=w.device)
    for j, o in enumerate(range(-radius, radius + 1)):
        if abs(o) < q:
            profile[:, j] = _mean_over(_shifted_diagonal(w, o).double(), rows[:, max(0, -o): q - max(0, o)])
    return out, profile


def _shifted_diagonal(w: torch.Tensor, offset: int) -> torch.Tensor:
    """w[..., i, i + offset] for every i where it exists."""
    return w.diagonal(offset=offset, dim1=-2, dim2=-1)


def patch_positions(grid: tuple[int, int], patch_px: float, device=None) -> torch.Tensor:
    """(rows·cols, 2) float64 centres (y, x) in pixels, row-major like the tokens."""
    r, c = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing="ij")
    return ((torch.stack([r.reshape(-1), c.reshape(-1)], 1).double() + 0.5) * float(patch_px)).to(device)


def image_stats(
    w: torch.Tensor,
    grid: tuple[int, int],
    patch_px: float,
    prefix: list[str],
    exclude_sinks: bool = False,
    radius: int = PROFILE_RADIUS["image"],
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A ViT block's weights, (heads, N, N) or (batch, heads, N, N) with N = len(prefix) + rows·cols, prefix tokens
    first (CLS, DIST, REG0…). Returns ({stat: (…, heads)} float64, profile (…, heads, (2·radius + 1)²)).

    Computed in the weights' own precision (float32 from a model; sums over keys are BLAS products), so that a batch
    of 32 images × 12 heads × 197² weights costs a fraction of the forward that made it."""
    p, n = len(prefix), w.shape[-1]
    if n != p + grid[0] * grid[1]:
        raise ValueError(f"{n} tokens are not {p} prefix tokens and a {grid[0]}×{grid[1]} grid")
    out: dict[str, torch.Tensor] = {}
    for i, name in enumerate(prefix):
        out[SHARE + name] = w[..., i].double().mean(-1)
    if exclude_sinks and p:
        base, rows = _renormalise(w[..., p:, p:], torch.ones(n - p, dtype=torch.bool, device=w.device))
        selfw = base.diagonal(dim1=-2, dim2=-1)
    else:
        base = w
        rows = torch.ones(w.shape[:-1], dtype=torch.bool, device=w.device)
        selfw = w.diagonal(dim1=-2, dim2=-1)
    out["entropy"] = _mean_over(torch.special.entr(base).sum(-1).double(), rows)
    out["max_weight"] = _mean_over(base.amax(-1).double(), rows)
    out["self"] = _mean_over(selfw.double(), rows)
    # Patch queries over patch keys, renormalised (the ViT paper's distance, as the ViT page computes it):
    # Σ_k w_qk · g_qk / Σ_k w_qk for g = distance, dx, dy, as one batched product per query.
    pw = w[..., p:, p:]
    total = pw.sum(-1)  # (…, P)
    alive = total > 0
    geo = _geometry(tuple(grid), float(patch_px), p, w.dtype, str(w.device))
    lead = pw.shape[:-2]
    per_q = w.reshape(-1, n, n).transpose(0, 1)  # (N q, batch·heads, N k): a view of the weights, no copy
    sums = torch.bmm(per_q, geo)[p:].transpose(0, 1).reshape(*lead, n - p, 3).double()  # (…, P, 3)
    sums = sums / total.double().clamp_min(1e-30)[..., None]
    out["distance"] = _mean_over(sums[..., 0], alive)
    out["offset_x"] = _mean_over(sums[..., 1], alive)
    out["offset_y"] = _mean_over(sums[..., 2], alive)
    return out, _grid_profile(w, p, total, alive, grid, radius)


@functools.lru_cache(maxsize=16)
def _geometry(grid: tuple[int, int], patch_px: float, p: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """(N q, N k, 3): the distance, dx and dy in pixels from each patch query to each patch key (key minus query);
    0 on the p prefix tokens' rows and columns. Read-only, shared by every call with this geometry."""
    pos = patch_positions(grid, patch_px)  # (P, 2) y, x
    dy = pos[None, :, 0] - pos[:, None, 0]
    dx = pos[None, :, 1] - pos[:, None, 1]
    n = p + grid[0] * grid[1]
    geo = torch.zeros(n, n, 3, dtype=torch.float64)
    geo[p:, p:] = torch.stack([torch.hypot(dy, dx), dx, dy], -1)
    return geo.to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=16)
def _offset_pairs(grid: tuple[int, int], radius: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For every offset (dy, dx) ∈ [−radius, radius]² (row by row) and every query patch that has that neighbour:
    (query index, key index, offset index), as three flat int64 tensors."""
    rows, cols = grid
    side = 2 * radius + 1
    qs, ks, segs = [], [], []
    for i, oy in enumerate(range(-radius, radius + 1)):
        for j, ox in enumerate(range(-radius, radius + 1)):
            r0, r1 = max(0, -oy), rows - max(0, oy)
            c0, c1 = max(0, -ox), cols - max(0, ox)
            if r1 <= r0 or c1 <= c0:
                continue
            qr, qc = torch.meshgrid(torch.arange(r0, r1), torch.arange(c0, c1), indexing="ij")
            q = (qr * cols + qc).reshape(-1)
            qs.append(q)
            ks.append(((qr + oy) * cols + (qc + ox)).reshape(-1))
            segs.append(torch.full_like(q, i * side + j))
    return torch.cat(qs), torch.cat(ks), torch.cat(segs)


def _grid_profile(w: torch.Tensor, p: int, total: torch.Tensor, alive: torch.Tensor, grid: tuple[int, int],
                  radius: int) -> torch.Tensor:
    """Mean renormalised weight at each patch offset (dy, dx) ∈ [−radius, radius]², over the queries that have that
    neighbour (NaN where none has). w: (…, N, N) with p prefix tokens first; total: (…, P) the patch rows' sums over
    patch keys."""
    side = 2 * radius + 1
    lead, n = w.shape[:-2], w.shape[-1]
    P = n - p
    q, k, seg = (t.to(w.device) for t in _offset_pairs(tuple(grid), radius))
    flat = w.reshape(-1, n * n)  # a view when w is contiguous (a softmax's output)
    vals = flat[:, (q + p) * n + (k + p)].double() / total.reshape(-1, P)[:, q].double().clamp_min(1e-30)
    ok = alive.reshape(-1, P)[:, q].double()
    sums = torch.zeros(flat.shape[0], side * side, dtype=torch.float64, device=w.device)
    counts = torch.zeros_like(sums)
    sums.index_add_(1, seg, vals * ok)
    counts.index_add_(1, seg, ok)
    prof = torch.where(counts > 0, sums / counts.clamp_min(1), torch.full_like(sums, float("nan")))
    return prof.reshape(*lead, side * side)


def swin_stats(w: torch.Tensor, positions: np.ndarray, patch_px: float, radius: int = PROFILE_RADIUS["image"]
               ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A Swin block's window weights, (windows, heads, M², M²), and `positions` (windows, M², 2): each window token's
    (row, col) in the image's token grid, −1 for padding (models.capture.swin.token_positions). Distances and offsets
    are measured in the image (not in the rolled map), in pixels; the means run over every real query token of
    every window. Returns ({stat: (heads,)}, profile (heads, (2·radius + 1)²))."""
    w = w.double()
    pos = torch.as_tensor(positions, device=w.device).double()  # (nW, M², 2)
    real = pos[..., 0] >= 0  # (nW, M²)
    keep = real[:, None, None, :]  # keys
    wr = w * keep.to(w.dtype)
    rows = real[:, None, :].expand(w.shape[0], w.shape[1], w.shape[2])  # (nW, H, M²)
    dy = (pos[:, None, :, 0] - pos[:, :, None, 0]) * patch_px  # (nW, q, k)
    dx = (pos[:, None, :, 1] - pos[:, :, None, 1]) * patch_px
    pair = (real[:, :, None] & real[:, None, :]).to(w.dtype)
    dy, dx = dy * pair, dx * pair

    def mean(v):  # (nW, H, M²) → (H,) over real queries of every window
        r = rows.to(v.dtype)
        return (v * r).sum((0, 2)) / r.sum((0, 2)).clamp_min(1)

    out = {
        "entropy": mean(_entropy(wr)),
        "max_weight": mean(wr.amax(-1)),
        "distance": mean((wr * torch.hypot(dy, dx)[:, None]).sum(-1)),
        "self": mean(wr.diagonal(dim1=-2, dim2=-1)),
        "offset_x": mean((wr * dx[:, None]).sum(-1)),
        "offset_y": mean((wr * dy[:, None]).sum(-1)),
    }
    side = 2 * radius + 1
    prof = torch.zeros(w.shape[1], side * side, dtype=w.dtype, device=w.device)
    count = torch.zeros(side * side, dtype=w.dtype, device=w.device)
    oy = (pos[:, None, :, 0] - pos[:, :, None, 0]).round().long()  # (nW, q, k) in tokens
    ox = (pos[:, None, :, 1] - pos[:, :, None, 1]).round().long()
    inside = (oy.abs() <= radius) & (ox.abs() <= radius) & pair.bool()
    cell = ((oy + radius) * side + (ox + radius)).clamp(0, side * side - 1)
    sel = cell[inside]  # (pairs,)
    vals = w.permute(1, 0, 2, 3)[:, inside]  # (H, pairs)
    prof.index_add_(1, sel, vals)
    count.index_add_(0, sel, torch.ones_like(sel, dtype=w.dtype))
    # each query has at most one key at a given offset: the sum over pairs divided by the queries that have one
    prof = torch.where(count > 0, prof / count.clamp_min(1), torch.full_like(prof, float("nan")))
    return out, prof


def sample_queries(n: int, k: int = 8) -> np.ndarray:
    """Up to k query positions spread evenly over 0…n−1 (all of them when n ≤ k): the rows the head map compares."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))


def js_distances(rows: torch.Tensor) -> torch.Tensor:
    """rows (heads, queries, keys): each head's attention rows for the same queries of one input (heads of every
    layer stacked). Returns (heads, heads) float64: the Jensen–Shannon distance (base 2, in [0, 1]; the square root of
    the divergence, as scipy.spatial.distance.jensenshannon) between two heads' rows, averaged over the queries.
    Clark et al. (2019, §6) compare heads by the Jensen–Shannon divergence of their attention on the same tokens.
    Computed in the rows' own precision (float32 from a model: ~1e-6 of the distance)."""
    p = rows / rows.sum(-1, keepdim=True).clamp_min(1e-30)
    ent = torch.special.entr(p).sum(-1)  # (H, Q) nats
    n = p.shape[0]
    out = torch.zeros(n, n, dtype=torch.float64, device=p.device)
    for a in range(n):
        m = (p[a: a + 1] + p[a:]) * 0.5  # (n − a, Q, K)
        js = torch.special.entr(m).sum(-1) - (ent[a: a + 1] + ent[a:]) * 0.5  # nats
        d = (js.double().clamp_min(0) / np.log(2)).sqrt().mean(-1)
        out[a, a:] = d
        out[a:, a] = d
    out.fill_diagonal_(0)
    return out


def head_map(distances: np.ndarray, seed: int = 0) -> np.ndarray:
    """(heads, 2) positions from multidimensional scaling of a (heads, heads) distance matrix (Clark et al. 2019,
    Fig. 6): scikit-learn's metric MDS on the precomputed distances, started from classical scaling."""
    from sklearn.manifold import MDS

    d = np.asarray(distances, dtype=np.float64)
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0)
    if d.shape[0] < 3:
        return np.zeros((d.shape[0], 2))
    mds = MDS(n_components=2, metric="precomputed", init="classical_mds", n_init=1, random_state=seed, max_iter=300)
    return mds.fit_transform(d)
