"""Figures for the Swin page: patch grids, window partitions, the cyclic shift, masks, window attention
on the image, relative position bias and attention distance.

Pure builders: numpy arrays, boxes and labels in, Plotly figures out; they never import streamlit or
torch. Geometry (which tokens a window holds, where its pieces lie) comes from models.capture.swin as data.
Image coordinates are pixels of the model's input crop: x right, y down, pixel (i, j) covers
[j, j + 1) x [i, i + 1).

Every figure is written as plain dicts and wrapped by viz.fast.figure (no per-property validation:
tests/test_figures_swin.py validates them all). Numbers stay numpy (plotly.io.to_json writes them as
base64 typed arrays); strings go as short Python lists, which orjson writes in one call (a numpy string
or object array would make plotly.io.to_json fall back to walking the whole figure in Python). Token
matrices put the tokens on category axes, so hover names them without an M² x M² array of strings.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ui.i18n import _
from viz import fast
from viz.fast import array

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in pixels

# Nine region colours (Liu et al. 2021, Fig. 4: the regions of the rolled map), colour-blind friendly.
REGION_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
WINDOW_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7"]
HIGHLIGHT = "#d62728"
ATTENTION_SCALE = "Inferno"
WINDOW_HEATMAP_SCALE = "Blues"  # the per-window matrices look like the other pages' attention matrices
BIAS_SCALE = "RdBu_r"
MASK_SCALE = [[0.0, "#3a3a3a"], [0.5, "#3a3a3a"], [0.5, "#e8f1fa"], [1.0, "#e8f1fa"]]


_scale = fast.colorscale  # a named scale as explicit stops (Plotly.js knows fewer names)
figure = fast.figure  # shares Plotly's default template between figures


def _rgba(colour: str, alpha: float) -> str:
    c = colour.lstrip("#")
    return f"rgba({int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},{alpha})"


def _text(v) -> dict | None:
    return None if v is None else dict(text=v)


def _image_trace(image: np.ndarray, xaxis: str | None = None) -> dict:
    """The crop with pixel (i, j) covering [j, j + 1) x [i, i + 1), so boxes in pixels line up.

    The pixels go as a lossless PNG, encoded once per image content (viz.vit.png_data_uri): about half the
    bytes of the raw uint8 array for a photograph, and several figures of a page show the same crop."""
    from viz.vit import png_data_uri

    uri = png_data_uri(np.asarray(image, dtype=np.uint8))[0]
    trace = dict(type="image", source=uri, x0=0.5, y0=0.5, dx=1, dy=1, hoverinfo="skip")
    if xaxis:
        trace.update(xaxis=xaxis, yaxis="y" + xaxis[1:])
    return trace


def _image_axes(height: int, width: int, scaleanchor: str | None = "x") -> tuple[dict, dict]:
    xaxis = dict(range=[0, width], showgrid=False, zeroline=False, showticklabels=False, constrain="domain")
    yaxis = dict(range=[height, 0], showgrid=False, zeroline=False, showticklabels=False, constrain="domain")
    if scaleanchor:
        yaxis["scaleanchor"] = scaleanchor
    return xaxis, yaxis


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


def _outline(boxes: Sequence[Box]) -> tuple[list, list]:
    """x, y lists (None-separated) of closed rectangles, one per box."""
    xs, ys = [], []
    for x0, y0, x1, y1 in boxes:
        xs += [x0, x1, x1, x0, x0, None]
        ys += [y0, y0, y1, y1, y0, None]
    return xs, ys


def _layout(title: str | None, height: int, **more) -> dict:
    layout = dict(height=height, margin=dict(l=10, r=10, t=50 if title else 10, b=10),
                  showlegend=False, dragmode=False, plot_bgcolor="white",
                  modebar=dict(orientation="v"))  # on the right edge, never over the title
    if title is not None:
        layout["title"] = dict(text=title)
    layout.update(more)
    return layout


def _categories(labels: Sequence[str], index: bool = False) -> list[str]:
    """Category names of a token axis: the labels, or "i: label" where the index is wanted in the hover
    or the labels repeat ("pad"): each token keeps its own row and column."""
    labels = [str(t) for t in labels]
    if index or len(set(labels)) < len(labels):
        return [f"{i}: {t}" for i, t in enumerate(labels)]
    return labels


TICK_PX = 12  # the smallest text on any axis (projector-readable)
TICK_STEP_PX = 16  # room one tick label needs along its axis
MATRIX_SIDE_PX = 320  # a token matrix's plot side: what half the page's width leaves beside labels and colour bar


def _label_px(labels: Sequence[str]) -> int:
    """Length in px of the longest tick label at TICK_PX (about 0.62 em a character)."""
    return int(np.ceil(0.62 * TICK_PX * max((len(t) for t in labels), default=1)))


def _token_axes(categories: list[str], labels: list[str], side_px: int, **x_more) -> tuple[dict, dict]:
    """Category axes of a token matrix (key across the top, query down), ticked with the plain labels at 12 px.

    Every k-th token is labelled, k chosen so that labels `TICK_STEP_PX` apart fit the plot's side (`side_px`);
    all tokens stay categories, so hover names query and key by %{y} and %{x} (no per-cell customdata: M² x M²
    strings would be most of the figure's bytes and of the time to copy and serialise it)."""
    n = len(categories)
    step = max(1, int(np.ceil(n * TICK_STEP_PX / max(side_px, 1))))
    ticks = dict(type="category", tickmode="array", tickfont=dict(size=TICK_PX),
                 tickvals=categories[::step], ticktext=labels[::step])
    xaxis = dict(title=dict(text=_("key"), standoff=6), side="top", tickangle=-90, **ticks, **x_more)
    yaxis = dict(title=dict(text=_("query"), standoff=6), autorange="reversed", **ticks)
    return xaxis, yaxis


def _matrix_layout(categories: list[str], labels: list[str], title: str | None, n: int, **x_more) -> dict:
    """Layout of a square token matrix: a plot side that grows with the tokens, top and left margins that hold
    the upright key labels and the query labels, the title above them all (never on a label)."""
    side = int(min(MATRIX_SIDE_PX, max(256, TICK_STEP_PX * n)))
    xaxis, yaxis = _token_axes(categories, labels, side, **x_more)
    xaxis["constrain"] = yaxis["constrain"] = "domain"
    yaxis["scaleanchor"] = "x"
    label = _label_px(labels)
    top = label + 34 + (36 if title else 0)  # labels, the "key" title, the figure title
    layout = dict(height=side + top + 20, margin=dict(l=10, r=10, t=top, b=20), showlegend=False,
                  dragmode=False, plot_bgcolor="white", xaxis=xaxis, yaxis=yaxis, modebar=dict(orientation="v"))
    if title is not None:
        layout["title"] = dict(text=title, y=1.0, yref="container", yanchor="top", pad=dict(t=8))
    return layout


# ---------------------------------------------------------------------------------------------- stages
def stage_grids_figure(image: np.ndarray, stages: Sequence[dict], height: int = 330) -> go.Figure:
    """One panel per stage: the crop with that stage's token grid (patch merging halves it each stage).

    `stages`: dicts with "stage", "grid" (rows, cols), "patch_px", "dim" (channels C) and "window_size"
    (or objects with those attributes, such as models.capture.trace.SwinStage).
    """
    stages = [s if isinstance(s, dict) else dict(vars(s)) for s in stages]
    h, w = np.asarray(image).shape[:2]
    n = len(stages)
    spacing = 0.02
    width = (1 - spacing * (n - 1)) / n
    data, annotations = [], []
    layout = _layout(None, height)
    layout["margin"] = dict(l=10, r=10, t=60, b=10)
    for i, s in enumerate(stages):
        suffix = "" if i == 0 else str(i + 1)
        x_ref = "x" + suffix
        data.append(_image_trace(image, xaxis=x_ref))
        xs, ys = _grid_lines(*s["grid"], s["patch_px"], h, w)
        data.append(dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(color="rgba(255,255,255,0.75)", width=0.7),
                         hoverinfo="skip", xaxis=x_ref, yaxis="y" + suffix))
        m = s.get("window_size")
        if m:  # window borders, thicker
            xs, ys = _grid_lines(*s["grid"], s["patch_px"], h, w, every=m)
            data.append(dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(color=HIGHLIGHT, width=1.6),
                             hoverinfo="skip", xaxis=x_ref, yaxis="y" + suffix))
        xaxis, yaxis = _image_axes(h, w, scaleanchor=x_ref)
        x0 = i * (width + spacing)
        layout["xaxis" + suffix] = dict(xaxis, anchor="y" + suffix, domain=[x0, x0 + width])
        layout["yaxis" + suffix] = dict(yaxis, anchor=x_ref, domain=[0.0, 1.0])
        fields = dict(stage=s["stage"] + 1, rows=s["grid"][0], cols=s["grid"][1], px=f"{s['patch_px']:g}")
        text = (_("stage {stage}: {rows}×{cols} tokens<br>of {px} px, C = {dim}").format(dim=s["dim"], **fields)
                if s.get("dim") else _("stage {stage}: {rows}×{cols} tokens<br>of {px} px").format(**fields))
        annotations.append(dict(
            text=text,
            x=x0 + width / 2, y=1.0, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
            showarrow=False, font=dict(size=12),
        ))
    layout["annotations"] = annotations
    return figure(data, layout)


# ---------------------------------------------------------------------------------------------- windows
def window_partition_figure(
    image: np.ndarray,
    windows: Sequence[Sequence[Box]],
    title: str | None = None,
    highlight: int | None = None,
    height: int = 520,
    token_windows: np.ndarray | None = None,
    patch_px: float | None = None,
) -> go.Figure:
    """The crop with every window drawn over it, numbered (windows are indices from 0); a shifted window that
    wraps round the edges is drawn as its pieces, all in the window's colour and each marked with its number.

    `windows[w]` is the list of pixel boxes of window w (models.capture.swin.window_boxes). The last trace is an
    invisible marker with customdata = window index, at the centre of every token when `token_windows` (the
    (rows, cols) window of each image token, models.capture.swin.token_window_map) and `patch_px` are given, else
    at each piece's centre; with no hover cut-off a click anywhere picks the nearest marker, so the window
    under the mouse.
    """
    h, w = np.asarray(image).shape[:2]
    data = [_image_trace(image)]
    cx, cy, ids = [], [], []
    n = len(windows)
    for win, boxes in enumerate(windows):
        colour = HIGHLIGHT if win == highlight else WINDOW_COLOURS[win % len(WINDOW_COLOURS)]
        xs, ys = _outline(boxes)
        for x0, y0, x1, y1 in boxes:
            cx.append((x0 + x1) / 2)
            cy.append((y0 + y1) / 2)
            ids.append(win)
        data.append(dict(
            type="scatter", x=xs, y=ys, mode="lines", fill="toself", hoverinfo="skip",
            fillcolor=_rgba(colour, 0.35 if win == highlight else (0.18 if n > 1 else 0.08)),
            line=dict(color=colour, width=3 if win == highlight else 1.5),
        ))
    size = 16 if n <= 16 else 13 if n <= 64 else 12
    data.append(dict(
        type="scatter", x=array(cx), y=array(cy), mode="text", text=[str(i) for i in ids], hoverinfo="skip",
        textfont=dict(color="white", size=size, family="monospace"),
    ))
    if token_windows is not None and patch_px:
        tw = np.asarray(token_windows)
        rr, cc = np.meshgrid(np.arange(tw.shape[0]), np.arange(tw.shape[1]), indexing="ij")
        px, py, pid = (cc.ravel() + 0.5) * patch_px, (rr.ravel() + 0.5) * patch_px, tw.ravel()
    else:
        px, py, pid = cx, cy, ids
    data.append(dict(
        type="scatter", x=array(px), y=array(py), mode="markers", customdata=array(pid, np.int64),
        marker=dict(size=8, opacity=0), hovertemplate=_("window %{customdata}") + "<extra></extra>",
    ))
    xaxis, yaxis = _image_axes(h, w)
    return figure(data, _layout(title, height, xaxis=xaxis, yaxis=yaxis, hovermode="closest", hoverdistance=-1))


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
    labels = np.asarray(labels)
    rows, cols = labels.shape
    scale = ([[k / 8, c] for k, c in enumerate(REGION_COLOURS)] if labels.max() > 0
             else [[0, REGION_COLOURS[0]], [1, REGION_COLOURS[0]]])
    data = [_image_trace(image), dict(
        type="heatmap", z=array(labels, np.float64), x0=patch_px / 2, dx=patch_px, y0=patch_px / 2, dy=patch_px,
        zmin=0, zmax=8, colorscale=scale, opacity=0.45, showscale=False,
        hovertemplate=_("region %{z:.0f}") + "<extra></extra>",
    )]
    # one label per region, at its centre (every token would be unreadable on a 56 x 56 grid)
    tx, ty, tt = [], [], []
    for k in np.unique(labels):
        rr, cc = np.nonzero(labels == k)
        for part in _split_regions(rr, cc, window_size, offset):
            tx.append((part[1].mean() + 0.5) * patch_px)
            ty.append((part[0].mean() + 0.5) * patch_px)
            tt.append(str(int(k)))
    data.append(dict(type="scatter", x=array(tx), y=array(ty), mode="text",
                     text=tt, hoverinfo="skip",
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
    data.append(dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(color="white", width=2), hoverinfo="skip"))
    xaxis, yaxis = _image_axes(h, w)
    return figure(data, _layout(title, height, xaxis=xaxis, yaxis=yaxis))


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
    where they do not. Tick labels give each token's image position and region (every k-th token when
    M² labels would not fit at 12 px; hover names every one)."""
    mask = array(mask)
    n = mask.shape[0]
    labels = [f"{t} r{r}" for t, r in zip(token_labels, regions)]
    cats = _categories(labels)
    data = [dict(
        type="heatmap", z=mask, x=cats, y=cats, zmin=-100, zmax=0, colorscale=MASK_SCALE,
        colorbar=dict(title=dict(text=_("added")), tickvals=[-100, 0], thickness=12),
        hovertemplate=_("query %{y}<br>key %{x}<br>mask %{z:.0f}") + "<extra></extra>",
    )]
    return figure(data, _matrix_layout(cats, labels, title, n))


def mask_mosaic_figure(masks: np.ndarray, per_row: int, title: str | None = None, height: int = 520,
                       highlight: int | None = None) -> go.Figure:
    """Every window's mask side by side, laid out like the windows on the rolled map (window w at row
    w // per_row, column w % per_row); a thin gap separates windows. The last trace is an invisible marker at
    each window's centre (customdata: window, masked pairs) that carries the hover; with no hover cut-off a
    click anywhere on a window selects that window (the nearest centre on a square grid is the window's own)."""
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
    if z.size <= MOSAIC_HEATMAP_CELLS:
        data = [dict(type="heatmap", z=z, zmin=-100, zmax=0, colorscale=MASK_SCALE, showscale=False,
                     hoverinfo="skip")]
    else:  # e.g. swin_base 384 px: 144 windows of 144 x 144 = 3 M cells, 12 MB as a heatmap; a few kB as this
        data = [_mosaic_image(z)]
    if highlight is not None and 0 <= highlight < nw:  # the selected window, outlined
        r, c = divmod(highlight, per_row)
        xs, ys = _outline([(c * side - 0.5, r * side - 0.5, c * side + n - 0.5, r * side + n - 0.5)])
        data.append(dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(color=HIGHLIGHT, width=3),
                         hoverinfo="skip"))
    data.append(_window_picker(masks, per_row, n, side))
    xaxis = dict(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    yaxis = dict(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", scaleanchor="x",
                 constrain="domain")
    return figure(data, _layout(title, height, xaxis=xaxis, yaxis=yaxis, hovermode="closest", hoverdistance=-1))


MOSAIC_HEATMAP_CELLS = 250_000  # a larger mask mosaic is sent as a lossless PNG, one pixel a cell


def _mosaic_image(z: np.ndarray) -> dict:
    """The mosaic as a 3-colour palette PNG (masked, allowed, gap), every cell one pixel: nothing is lost,
    the mask being 0 or -100."""
    from PIL import Image

    index = np.full(z.shape, 2, dtype=np.uint8)  # the gap
    index[z == 0] = 1  # may attend
    index[z < 0] = 0  # masked (-100)
    pil = Image.fromarray(index, mode="P")
    pil.putpalette([0x3A, 0x3A, 0x3A, 0xE8, 0xF1, 0xFA, 0xFF, 0xFF, 0xFF])  # MASK_SCALE's colours, white
    return dict(type="image", source=fast.png_uri(pil, optimize=True), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip")


def _window_picker(masks: np.ndarray, per_row: int, n: int, side: int) -> dict:
    """One invisible marker at the centre of each window of the mosaic: customdata (window, masked pairs)."""
    nw = masks.shape[0]
    k = np.arange(nw)
    rows, cols = divmod(k, per_row)
    masked = (masks < 0).reshape(nw, -1).sum(axis=1)
    return dict(type="scatter", x=array(cols * side + (n - 1) / 2), y=array(rows * side + (n - 1) / 2),
                mode="markers", marker=dict(size=max(4, min(30, 600 // max(per_row, 1))), symbol="square", opacity=0.0),
                customdata=array(np.stack([k, masked], axis=-1), dtype=np.int64), showlegend=False,
                hovertemplate=_("window %{customdata[0]}<br>%{customdata[1]} masked query-key pairs")
                + "<extra></extra>")


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
    positions = np.asarray(positions).reshape(-1, 2)
    weights = np.asarray(weights, dtype=np.float32).reshape(-1)
    keep = positions[:, 0] >= 0
    z[positions[keep, 0], positions[keep, 1]] = weights[keep]
    top = zmax if zmax is not None else max(float(np.nanmax(z)) if np.isfinite(z).any() else 0.0, 1e-6)
    data = [_image_trace(image), dict(
        type="heatmap", z=z, x0=patch_px / 2, dx=patch_px, y0=patch_px / 2, dy=patch_px, zmin=0, zmax=top,
        opacity=0.7, colorscale=_scale(ATTENTION_SCALE), colorbar=dict(title=dict(text=_("weight")), thickness=12),
        hoverongaps=False, hovertemplate=_("key (%{y:.0f}, %{x:.0f}) px<br>weight %{z:.4f}") + "<extra></extra>",
    )]
    xs, ys = _outline(boxes)
    data.append(dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(color="white", width=2.5), hoverinfo="skip"))
    qr, qc = query
    data.append(dict(
        type="scatter", x=[(qc + 0.5) * patch_px], y=[(qr + 0.5) * patch_px], mode="markers", hoverinfo="skip",
        marker=dict(symbol="circle-open", size=max(10, min(28, patch_px * 500 / max(h, w))), color="#00e5ff",
                    line=dict(width=3)),
    ))
    rr, cc = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    data.append(dict(
        type="scatter", x=array((cc.ravel() + 0.5) * patch_px),
        y=array((rr.ravel() + 0.5) * patch_px), mode="markers",
        customdata=array(np.stack([rr.ravel(), cc.ravel()], axis=-1), np.int64),
        marker=dict(size=max(6, min(30, patch_px * 480 / max(h, w))), opacity=0, symbol="square"),
        hovertemplate=_("token (row %{customdata[0]}, col %{customdata[1]})") + "<extra></extra>",
    ))
    xaxis, yaxis = _image_axes(h, w)
    # no hover cut-off: a click anywhere picks the nearest token centre, i.e. the token under the mouse
    return figure(data, _layout(title, height, xaxis=xaxis, yaxis=yaxis, hovermode="closest", hoverdistance=-1))


def window_heatmap(weights: np.ndarray, token_labels: Sequence[str], title: str | None = None) -> go.Figure:
    """One head's (M², M²) attention inside one window, queries down the side and keys along the top
    (as viz.heatmaps.attention_heatmap draws attention matrices), key labels upright, 12 px, every k-th
    token when M² would not fit (hover names every one, "query 3: (0,3)")."""
    weights = array(weights)
    labels = [str(t) for t in token_labels]
    cats = _categories(labels, index=True)
    data = [dict(
        type="heatmap", z=weights, x=cats, y=cats,
        colorscale=_scale(WINDOW_HEATMAP_SCALE), zmin=0.0, zmax=max(float(weights.max(initial=0.0)), 1e-6),
        hovertemplate=_("query %{y}<br>key %{x}<br>weight %{z:.4f}") + "<extra></extra>",
        colorbar=dict(title=dict(text=_("weight")), thickness=12),
    )]
    return figure(data, _matrix_layout(cats, labels, title, len(labels)))


# ---------------------------------------------------------------------------------------------- bias
def bias_table_figure(
    table: np.ndarray, title: str | None = None, diverging: bool = True, height: int = 360
) -> go.Figure:
    """One head's relative position bias table B̂, (2M−1) × (2M−1), indexed by the offset
    (Δrow, Δcol) = query − key, from −(M−1) to M−1."""
    table = array(table)
    k = (table.shape[0] - 1) // 2
    offsets = np.arange(-k, k + 1)
    lim = float(np.abs(table).max()) or 1.0
    trace = dict(type="heatmap", z=table, x=offsets, y=offsets,
                 colorscale=_scale(BIAS_SCALE if diverging else "Viridis"),
                 colorbar=dict(title=dict(text=_("bias")), thickness=12),
                 hovertemplate=_("Δrow %{y}, Δcol %{x}<br>bias %{z:.3f}") + "<extra></extra>")
    if diverging:
        trace.update(zmid=0, zmin=-lim, zmax=lim)
    font = dict(size=TICK_PX)
    xaxis = dict(title=dict(text=_("Δcol (query − key)")), side="top", constrain="domain", tickfont=font)
    yaxis = dict(title=dict(text=_("Δrow (query − key)")), autorange="reversed", scaleanchor="x", constrain="domain",
                 tickfont=font)
    if k <= 8:
        xaxis["dtick"] = yaxis["dtick"] = 1
    layout = _layout(None, height, xaxis=xaxis, yaxis=yaxis)
    layout["margin"] = dict(l=10, r=10, t=100 if title else 64, b=10)  # the top axis' numbers and title
    if title is not None:  # above the top axis, never on it
        layout["title"] = dict(text=title, y=1.0, yref="container", yanchor="top", pad=dict(t=8))
    return figure([trace], layout)


def bias_matrix_figure(
    bias: np.ndarray,
    token_labels: Sequence[str],
    title: str | None = None,
    diverging: bool = True,
) -> go.Figure:
    """The (M², M²) bias B one head adds to its logits inside every window (query down, key across)."""
    bias = array(bias)
    n = bias.shape[0]
    labels = [str(t) for t in token_labels]
    cats = _categories(labels)
    lim = float(np.abs(bias).max()) or 1.0
    trace = dict(
        type="heatmap", z=bias, x=cats, y=cats,
        colorscale=_scale(BIAS_SCALE if diverging else "Viridis"),
        colorbar=dict(title=dict(text=_("bias")), thickness=12),
        hovertemplate=_("query %{y}<br>key %{x}<br>bias %{z:.3f}") + "<extra></extra>",
    )
    if diverging:
        trace.update(zmid=0, zmin=-lim, zmax=lim)
    return figure([trace], _matrix_layout(cats, labels, title, n))


# ---------------------------------------------------------------------------------------------- depth
def attention_distance_figure(
    distances: Sequence[np.ndarray],
    block_labels: Sequence[str],
    stages: Sequence[int],
    shifts: Sequence[int],
    title: str | None = None,
    height: int = 420,
) -> go.Figure:
    """Mean attention distance (input pixels) of every head against depth: one dot per head, one
    column per block (numbered from 1 along the axis, named by `block_labels` in the hover, e.g.
    "stage 1 · block 2"), coloured by stage; hollow dots for shifted-window blocks. Heads count from 1."""
    data = []
    for stage in sorted(set(stages)):
        xs, ys, text, symbols = [], [], [], []
        for b, (d, name, s, sh) in enumerate(zip(distances, block_labels, stages, shifts)):
            if s != stage:
                continue
            d = np.asarray(d, dtype=np.float64).reshape(-1)
            xs += [b + 1] * len(d)
            ys.append(d)
            which = (_("{name} (shifted), head {head}") if sh
                     else _("{name} (regular), head {head}"))
            text += [which.format(name=name, head=head + 1) for head in range(len(d))]
            symbols += ["circle-open" if sh else "circle"] * len(d)
        data.append(dict(
            type="scatter", x=array(xs, np.int64), y=array(np.concatenate(ys) if ys else [], np.float64),
            mode="markers",
            name=_("stage {stage}").format(stage=stage + 1), text=text,
            marker=dict(color=WINDOW_COLOURS[stage % len(WINDOW_COLOURS)], size=9, symbol=symbols,
                        line=dict(width=2)),
            hovertemplate="%{text}<br>%{y:.1f} px<extra></extra>",
        ))
    n = len(block_labels)
    step = max(1, int(np.ceil(n / 30)))  # 12 px numbers need about 24 px each
    layout = dict(
        height=height, margin=dict(l=10, r=10, t=50 if title else 10, b=10), legend=dict(orientation="h", y=-0.2),
        xaxis=dict(title=dict(text=_("block (depth, counted from 1)")), tickmode="array",
                   tickvals=list(range(1, n + 1, step)), ticktext=[str(i) for i in range(1, n + 1, step)],
                   tickfont=dict(size=TICK_PX)),
        yaxis=dict(title=dict(text=_("mean attention distance (input pixels)")), rangemode="tozero",
                   tickfont=dict(size=TICK_PX)),
    )
    if title is not None:
        layout["title"] = dict(text=title)
    return figure(data, layout)
