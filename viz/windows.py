"""Figures for the Swin page: patch grids, window partitions, the cyclic shift, masks, window attention
on the image, relative position bias and attention distance.

Pure builders: numpy arrays, boxes and labels in, Plotly figures out; they never import streamlit or
torch. Geometry (which tokens a window holds, where its pieces lie) comes from models.swin as data.
Image coordinates are pixels of the model's input crop: x right, y down, pixel (i, j) covers
[j, j + 1) x [i, i + 1).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.heatmaps import attention_heatmap

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in pixels

# Nine region colours (Liu et al. 2021, Fig. 4: the regions of the rolled map), colour-blind friendly.
REGION_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
WINDOW_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7"]
HIGHLIGHT = "#d62728"
ATTENTION_SCALE = "Inferno"
BIAS_SCALE = "RdBu_r"
MASK_SCALE = [[0.0, "#3a3a3a"], [0.5, "#3a3a3a"], [0.5, "#e8f1fa"], [1.0, "#e8f1fa"]]


def _rgba(colour: str, alpha: float) -> str:
    c = colour.lstrip("#")
    return f"rgba({int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},{alpha})"


def _image_trace(image: np.ndarray) -> go.Image:
    """The crop with pixel (i, j) covering [j, j + 1) x [i, i + 1), so boxes in pixels line up."""
    return go.Image(z=np.asarray(image, dtype=np.uint8), x0=0.5, y0=0.5, dx=1, dy=1, hoverinfo="skip")


def _image_axes(fig: go.Figure, height: int, width: int, row=None, col=None) -> None:
    kw = {} if row is None else dict(row=row, col=col)
    fig.update_xaxes(range=[0, width], showgrid=False, zeroline=False, showticklabels=False, constrain="domain", **kw)
    fig.update_yaxes(range=[height, 0], showgrid=False, zeroline=False, showticklabels=False,
                     scaleanchor="x" if row is None else None, constrain="domain", **kw)


def _grid_lines(rows: int, cols: int, step: float, height: float, width: float, every: int = 1) -> tuple[list, list]:
    """x, y lists (None-separated) of the lines between tokens (every `every` tokens)."""
    xs, ys = [], []
    for c in range(0, cols + 1, every):
        xs += [c * step, c * step, None]
        ys += [0, min(rows * step, height), None]
    for r in range(0, rows + 1, every):
        xs += [0, min(cols * step, width), None]
        ys += [r * step, r * step, None]
    return xs, ys


def _layout(fig: go.Figure, title: str | None, height: int) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=50 if title else 10, b=10),
                      showlegend=False, dragmode=False, plot_bgcolor="white")
    return fig


# ---------------------------------------------------------------------------------------------- stages
def stage_grids_figure(image: np.ndarray, stages: Sequence[dict], height: int = 330) -> go.Figure:
    """One panel per stage: the crop with that stage's token grid (patch merging halves it each stage).

    `stages`: dicts with "stage", "grid" (rows, cols), "patch_px", "dim" (channels C) and "window_size".
    """
    h, w = np.asarray(image).shape[:2]
    titles = [
        f"stage {s['stage'] + 1}: {s['grid'][0]}×{s['grid'][1]} tokens<br>of {s['patch_px']:g} px"
        + (f", C = {s['dim']}" if s.get("dim") else "")
        for s in stages
    ]
    fig = make_subplots(rows=1, cols=len(stages), subplot_titles=titles, horizontal_spacing=0.02)
    for i, s in enumerate(stages, start=1):
        fig.add_trace(_image_trace(image), row=1, col=i)
        xs, ys = _grid_lines(*s["grid"], s["patch_px"], h, w)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="rgba(255,255,255,0.75)", width=0.7),
                                 hoverinfo="skip"), row=1, col=i)
        m = s.get("window_size")
        if m:  # window borders, thicker
            xs, ys = _grid_lines(*s["grid"], s["patch_px"], h, w, every=m)
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=HIGHLIGHT, width=1.6), hoverinfo="skip"),
                          row=1, col=i)
        _image_axes(fig, h, w, row=1, col=i)
        fig.update_yaxes(scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    for a in fig.layout.annotations:
        a.font = dict(size=12)
    fig = _layout(fig, None, height)
    fig.update_layout(margin=dict(t=60))
    return fig


# ---------------------------------------------------------------------------------------------- windows
def window_partition_figure(
    image: np.ndarray,
    windows: Sequence[Sequence[Box]],
    title: str | None = None,
    highlight: int | None = None,
    height: int = 520,
) -> go.Figure:
    """The crop with every window drawn over it, numbered; a shifted window that wraps round the edges
    is drawn as its pieces, all in the window's colour and each marked with its number.

    `windows[w]` is the list of pixel boxes of window w (models.swin.window_boxes). The last trace is an
    invisible marker at each piece's centre with customdata = window index: select it to pick a window.
    """
    h, w = np.asarray(image).shape[:2]
    fig = go.Figure(_image_trace(image))
    cx, cy, ids = [], [], []
    n = len(windows)
    for win, boxes in enumerate(windows):
        colour = HIGHLIGHT if win == highlight else WINDOW_COLOURS[win % len(WINDOW_COLOURS)]
        xs, ys = [], []
        for x0, y0, x1, y1 in boxes:
            xs += [x0, x1, x1, x0, x0, None]
            ys += [y0, y0, y1, y1, y0, None]
            cx.append((x0 + x1) / 2)
            cy.append((y0 + y1) / 2)
            ids.append(win)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", fill="toself", hoverinfo="skip",
            fillcolor=_rgba(colour, 0.35 if win == highlight else (0.18 if n > 1 else 0.08)),
            line=dict(color=colour, width=3 if win == highlight else 1.5),
        ))
    size = 16 if n <= 16 else 12 if n <= 64 else 9
    fig.add_trace(go.Scatter(
        x=cx, y=cy, mode="text", text=[str(i) for i in ids], hoverinfo="skip",
        textfont=dict(color="white", size=size, family="monospace"),
    ))
    fig.add_trace(go.Scatter(
        x=cx, y=cy, mode="markers", customdata=ids, marker=dict(size=24, opacity=0),
        hovertemplate="window %{customdata}<extra></extra>",
    ))
    _image_axes(fig, h, w)
    return _layout(fig, title, height)


def shift_figure(
    image: np.ndarray,
    labels: np.ndarray,
    window_size: int,
    patch_px: float,
    title: str | None = None,
    offset: int = 0,
    height: int = 520,
) -> go.Figure:
    """A crop with an M x M window grid and, per token, the region label 0..8 (Liu et al. 2021, Fig. 4)
    as colour and text. `labels` is (rows, cols) in token units. For the rolled map the grid is the
    regular one (offset 0); for the image before the roll, pass offset = s to draw the shifted windows."""
    h, w = np.asarray(image).shape[:2]
    fig = go.Figure(_image_trace(image))
    labels = np.asarray(labels)
    rows, cols = labels.shape
    z = labels.astype(float)
    scale = [[k / 8, c] for k, c in enumerate(REGION_COLOURS)] if labels.max() > 0 else [[0, REGION_COLOURS[0]], [1, REGION_COLOURS[0]]]
    fig.add_trace(go.Heatmap(
        z=z, x0=patch_px / 2, dx=patch_px, y0=patch_px / 2, dy=patch_px, zmin=0, zmax=8,
        colorscale=scale, opacity=0.45, showscale=False,
        hovertemplate="region %{z:.0f}<extra></extra>",
    ))
    # one label per region, at its centre (every token would be unreadable on a 56 x 56 grid)
    tx, ty, tt = [], [], []
    for k in np.unique(labels):
        rr, cc = np.nonzero(labels == k)
        for part in _split_regions(rr, cc, window_size, offset):
            tx.append((part[1].mean() + 0.5) * patch_px)
            ty.append((part[0].mean() + 0.5) * patch_px)
            tt.append(str(int(k)))
    fig.add_trace(go.Scatter(x=tx, y=ty, mode="text", text=tt, hoverinfo="skip",
                             textfont=dict(color="white", size=14, family="monospace")))
    xs, ys = [], []
    cuts_c = sorted({0, cols, *range(offset % window_size, cols, window_size)})
    cuts_r = sorted({0, rows, *range(offset % window_size, rows, window_size)})
    for c in cuts_c:
        xs += [c * patch_px, c * patch_px, None]
        ys += [0, min(rows * patch_px, h), None]
    for r in cuts_r:
        xs += [0, min(cols * patch_px, w), None]
        ys += [r * patch_px, r * patch_px, None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="white", width=2), hoverinfo="skip"))
    _image_axes(fig, h, w)
    return _layout(fig, title, height)


def _split_regions(rr: np.ndarray, cc: np.ndarray, m: int, offset: int = 0):
    """A region's tokens split by window, so a region spanning several windows gets a label in each."""
    keys = ((rr - offset) // m) * 100_000 + (cc - offset) // m
    for k in np.unique(keys):
        sel = keys == k
        yield rr[sel], cc[sel]


def mask_figure(
    mask: np.ndarray,
    token_labels: Sequence[str],
    regions: Sequence[int],
    title: str | None = None,
) -> go.Figure:
    """One window's (M², M²) shift mask: 0 (light) where query and key share a region, −100 (dark)
    where they do not. Tick labels give each token's image position and region."""
    mask = np.asarray(mask, dtype=np.float32)
    n = mask.shape[0]
    labels = [f"{t} r{r}" for t, r in zip(token_labels, regions)]
    custom = np.empty((n, n, 2), dtype=object)
    custom[:, :, 0] = np.asarray(labels, dtype=object)[:, None]
    custom[:, :, 1] = np.asarray(labels, dtype=object)[None, :]
    fig = go.Figure(go.Heatmap(
        z=mask, x=np.arange(n), y=np.arange(n), zmin=-100, zmax=0, colorscale=MASK_SCALE, customdata=custom,
        colorbar=dict(title="added", tickvals=[-100, 0], thickness=12),
        hovertemplate="query %{customdata[0]}<br>key %{customdata[1]}<br>mask %{z:.0f}<extra></extra>",
    ))
    show = n <= 64
    fig.update_xaxes(title="key", side="top", tickmode="array", tickvals=list(range(n)) if show else None,
                     ticktext=labels if show else None, tickfont=dict(size=8), constrain="domain")
    fig.update_yaxes(title="query", autorange="reversed", tickmode="array", tickvals=list(range(n)) if show else None,
                     ticktext=labels if show else None, tickfont=dict(size=8), scaleanchor="x", constrain="domain")
    return _layout(fig, title, max(380, min(760, 160 + 9 * n)))


def mask_mosaic_figure(masks: np.ndarray, per_row: int, title: str | None = None, height: int = 520) -> go.Figure:
    """Every window's mask side by side, laid out like the windows on the rolled map (window w at row
    w // per_row, column w % per_row); a thin gap separates windows."""
    masks = np.asarray(masks, dtype=np.float32)
    nw, n, _ = masks.shape
    rows = -(-nw // per_row)
    gap = max(1, n // 12)
    side = n + gap
    z = np.full((rows * side - gap, per_row * side - gap), np.nan, dtype=np.float32)
    win = np.full(z.shape, -1, dtype=np.int64)
    for k in range(nw):
        r, c = divmod(k, per_row)
        z[r * side : r * side + n, c * side : c * side + n] = masks[k]
        win[r * side : r * side + n, c * side : c * side + n] = k
    fig = go.Figure(go.Heatmap(
        z=z, zmin=-100, zmax=0, colorscale=MASK_SCALE, customdata=win, showscale=False,
        hovertemplate="window %{customdata}<br>mask %{z:.0f}<extra></extra>",
    ))
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", scaleanchor="x",
                     constrain="domain")
    return _layout(fig, title, height)


# ---------------------------------------------------------------------------------------------- attention
def window_attention_figure(
    image: np.ndarray,
    weights: np.ndarray,
    positions: np.ndarray,
    patch_px: float,
    grid: tuple[int, int],
    boxes: Sequence[Box],
    query: tuple[int, int],
    title: str | None = None,
    zmax: float | None = None,
    height: int = 520,
) -> go.Figure:
    """One query token's attention inside its window, over the image.

    `weights` (M²,) are the query's softmax row; `positions` (M², 2) each key's (row, col) in the image
    token grid (-1 for padding). Tokens outside the window stay clear; the window's pieces are outlined
    and the query is ringed. An invisible marker over every token (customdata = (row, col)) lets the
    page pick a new query by selection.
    """
    h, w = np.asarray(image).shape[:2]
    rows, cols = grid
    z = np.full((rows, cols), np.nan, dtype=np.float32)
    for (r, c), a in zip(np.asarray(positions), np.asarray(weights, dtype=np.float32)):
        if r >= 0:
            z[r, c] = a
    top = zmax if zmax is not None else max(float(np.nanmax(z)) if np.isfinite(z).any() else 0.0, 1e-6)
    fig = go.Figure(_image_trace(image))
    fig.add_trace(go.Heatmap(
        z=z, x0=patch_px / 2, dx=patch_px, y0=patch_px / 2, dy=patch_px, zmin=0, zmax=top, opacity=0.7,
        colorscale=ATTENTION_SCALE, colorbar=dict(title="weight", thickness=12), hoverongaps=False,
        hovertemplate="key (%{y:.0f}, %{x:.0f}) px<br>weight %{z:.4f}<extra></extra>",
    ))
    xs, ys = [], []
    for x0, y0, x1, y1 in boxes:
        xs += [x0, x1, x1, x0, x0, None]
        ys += [y0, y0, y1, y1, y0, None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="white", width=2.5), hoverinfo="skip"))
    qr, qc = query
    fig.add_trace(go.Scatter(
        x=[(qc + 0.5) * patch_px], y=[(qr + 0.5) * patch_px], mode="markers", hoverinfo="skip",
        marker=dict(symbol="circle-open", size=max(10, min(28, patch_px * 500 / max(h, w))), color="#00e5ff",
                    line=dict(width=3)),
    ))
    rr, cc = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    fig.add_trace(go.Scatter(
        x=((cc.ravel() + 0.5) * patch_px), y=((rr.ravel() + 0.5) * patch_px), mode="markers",
        customdata=np.stack([rr.ravel(), cc.ravel()], axis=-1),
        marker=dict(size=max(6, min(30, patch_px * 480 / max(h, w))), opacity=0, symbol="square"),
        hovertemplate="token (%{customdata[0]}, %{customdata[1]})<extra></extra>",
    ))
    _image_axes(fig, h, w)
    return _layout(fig, title, height)


def window_heatmap(weights: np.ndarray, token_labels: Sequence[str], title: str | None = None, height: int = 380) -> go.Figure:
    """One head's (M², M²) attention inside one window: viz.heatmaps.attention_heatmap with key labels
    turned upright, so that M² of them fit a narrow column."""
    fig = attention_heatmap(weights, token_labels, token_labels, title=title, height=height)
    small = len(token_labels) > 25
    fig.update_xaxes(tickangle=-90, tickfont=dict(size=7 if small else 9))
    fig.update_yaxes(tickfont=dict(size=7 if small else 9))
    return fig


# ---------------------------------------------------------------------------------------------- bias
def bias_table_figure(table: np.ndarray, title: str | None = None, diverging: bool = True, height: int = 360) -> go.Figure:
    """One head's relative position bias table B̂, (2M−1) × (2M−1), indexed by the offset
    (Δrow, Δcol) = query − key, from −(M−1) to M−1."""
    table = np.asarray(table, dtype=np.float32)
    k = (table.shape[0] - 1) // 2
    offsets = np.arange(-k, k + 1)
    lim = float(np.abs(table).max()) or 1.0
    fig = go.Figure(go.Heatmap(
        z=table, x=offsets, y=offsets, colorscale=BIAS_SCALE if diverging else "Viridis",
        zmid=0 if diverging else None, zmin=-lim if diverging else None, zmax=lim if diverging else None,
        colorbar=dict(title="bias", thickness=12),
        hovertemplate="Δrow %{y}, Δcol %{x}<br>bias %{z:.3f}<extra></extra>",
    ))
    fig.update_xaxes(title="Δcol (query − key)", dtick=1 if k <= 8 else None, side="top", constrain="domain")
    fig.update_yaxes(title="Δrow (query − key)", dtick=1 if k <= 8 else None, autorange="reversed", scaleanchor="x",
                     constrain="domain")
    return _layout(fig, title, height)


def bias_matrix_figure(
    bias: np.ndarray,
    token_labels: Sequence[str],
    title: str | None = None,
    diverging: bool = True,
    height: int = 420,
) -> go.Figure:
    """The (M², M²) bias B one head adds to QKᵀ/√d inside every window (query down, key across)."""
    bias = np.asarray(bias, dtype=np.float32)
    n = bias.shape[0]
    labels = [str(t) for t in token_labels]
    custom = np.empty((n, n, 2), dtype=object)
    custom[:, :, 0] = np.asarray(labels, dtype=object)[:, None]
    custom[:, :, 1] = np.asarray(labels, dtype=object)[None, :]
    lim = float(np.abs(bias).max()) or 1.0
    fig = go.Figure(go.Heatmap(
        z=bias, x=np.arange(n), y=np.arange(n), customdata=custom,
        colorscale=BIAS_SCALE if diverging else "Viridis", zmid=0 if diverging else None,
        zmin=-lim if diverging else None, zmax=lim if diverging else None,
        colorbar=dict(title="bias", thickness=12),
        hovertemplate="query %{customdata[0]}<br>key %{customdata[1]}<br>bias %{z:.3f}<extra></extra>",
    ))
    show = n <= 64
    fig.update_xaxes(title="key", side="top", tickmode="array", tickvals=list(range(n)) if show else None,
                     ticktext=labels if show else None, tickfont=dict(size=8), constrain="domain")
    fig.update_yaxes(title="query", autorange="reversed", tickmode="array", tickvals=list(range(n)) if show else None,
                     ticktext=labels if show else None, tickfont=dict(size=8), scaleanchor="x", constrain="domain")
    return _layout(fig, title, height)


# ---------------------------------------------------------------------------------------------- depth
def attention_distance_figure(
    distances: Sequence[np.ndarray],
    block_names: Sequence[str],
    stages: Sequence[int],
    shifts: Sequence[int],
    title: str | None = None,
    height: int = 420,
) -> go.Figure:
    """Mean attention distance (input pixels) of every head against depth: one dot per head, one
    column per block, coloured by stage; hollow dots for shifted-window blocks."""
    fig = go.Figure()
    for stage in sorted(set(stages)):
        xs, ys, text, symbols = [], [], [], []
        for b, (d, name, s, sh) in enumerate(zip(distances, block_names, stages, shifts)):
            if s != stage:
                continue
            for head, v in enumerate(np.asarray(d, dtype=float)):
                xs.append(b)
                ys.append(v)
                text.append(f"{name} ({'shifted' if sh else 'regular'}), head {head}")
                symbols.append("circle-open" if sh else "circle")
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="markers", name=f"stage {stage + 1}", text=text,
            marker=dict(color=WINDOW_COLOURS[stage % len(WINDOW_COLOURS)], size=9, symbol=symbols, line=dict(width=2)),
            hovertemplate="%{text}<br>%{y:.1f} px<extra></extra>",
        ))
    fig.update_xaxes(title="block (depth)", tickmode="array", tickvals=list(range(len(block_names))),
                     ticktext=[str(i) for i in range(len(block_names))])
    fig.update_yaxes(title="mean attention distance (input pixels)", rangemode="tozero")
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=50 if title else 10, b=10),
                      legend=dict(orientation="h", y=-0.2))
    return fig
