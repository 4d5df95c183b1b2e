"""Attention over images: the patch grid, per-head overlays, rollout, mean attention distance, top-k.

Pure figure builders: numpy arrays and labels in, plotly Figures out (no streamlit, no torch).
Coordinates are the pixels of the model's input crop: pixel (row i, col j) is drawn centred at
(x=j, y=i), so patch (r, c) of side p spans x ∈ [c·p − ½, (c+1)·p − ½). Images travel as PNG data
URIs (a few kB) rather than as numbers, so a grid of twelve heads stays light in the browser.

Every word a figure shows (titles, axis titles, hover labels) is in the reader's language (ui.i18n); the
pages cache figures per language (ui.common.cached_figure).

Every figure is written as plain dicts and wrapped with `viz.fast.figure` (no per-property
validation; `tests/test_figures_vit.py` validates each one in full). The PNG data URIs depend only
on the image, not on the layer, head or query shown, so they are memoised by the image's content
(a small LRU shared by all sessions): a rerun after a view change encodes no PNG.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from ui.i18n import _
from viz import fast

# Low weights dim the image, high weights let it through with a warm tint: the picture stays readable.
OVERLAY_SCALE = fast.Shared([
    [0.0, "rgba(8, 8, 40, 0.72)"],
    [0.3, "rgba(90, 20, 120, 0.50)"],
    [0.65, "rgba(235, 90, 40, 0.32)"],
    [1.0, "rgba(255, 235, 60, 0.12)"],
])
OVERLAY_OPACITY = 1.0
# The token × token matrix: plotly's "Blues" (as viz.heatmaps.ATTENTION_SCALE), written out, since Plotly.js
# has its own, different "Blues" and the figures here skip the validation that would expand the name.
MATRIX_SCALE = fast.colorscale("Blues")
OUTLINE = "#00e5ff"  # the chosen patch
_HIDDEN_AXIS = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", showline=False)

_MEMO: OrderedDict = OrderedDict()
_MEMO_LOCK = threading.Lock()
_MEMO_ENTRIES = 48  # PNG data URIs of a few images at a few sizes: a few MB at most


_KEPT = fast.KeptKeys()  # digests of read-only arrays, kept while they live


def _digest(image: np.ndarray) -> str:
    """A content key of an array: dtype, shape and a BLAKE2 hash of its bytes (0.2 ms for a 224 px crop).

    A read-only array that owns its data (a cached trace's crop) cannot change, so its key is kept while
    it lives and not recomputed on every rerun."""
    frozen = isinstance(image, np.ndarray) and not image.flags.writeable and image.base is None
    known = _KEPT.get(image) if frozen else None
    if known is not None:
        return known
    a = np.ascontiguousarray(image)
    key = f"{a.dtype.str}{a.shape}:" + hashlib.blake2b(a.data, digest_size=16).hexdigest()
    if frozen:
        _KEPT.keep(image, key)
    return key


def _memo(key: tuple, compute: Callable):
    """compute(), remembered under `key` (least recently used dropped first); thread-safe."""
    with _MEMO_LOCK:
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]
    value = compute()
    with _MEMO_LOCK:
        _MEMO[key] = value
        while len(_MEMO) > _MEMO_ENTRIES:
            _MEMO.popitem(last=False)
    return value


def png_data_uri(image: np.ndarray, max_side: int | None = None) -> tuple[str, float]:
    """A PNG data URI of an (H, W, 3) uint8 image, shrunk to at most `max_side` px; and the shrink factor.

    Memoised by the image's content: the same crop is encoded once, whatever view is shown over it.
    """
    key = ("png", _digest(image), max_side)
    return _memo(key, lambda: _encode_png(np.asarray(image, dtype=np.uint8), max_side))


def _encode_png(image: np.ndarray, max_side: int | None) -> tuple[str, float]:
    small = _thumbnail(image, max_side) if max_side else image
    return fast.png_uri(small, optimize=True), image.shape[1] / small.shape[1]


def photo_data_uri(image: np.ndarray, max_side: int | None = None) -> tuple[str, float]:
    """A JPEG data URI of the model's input crop, shrunk to at most `max_side` px; and the shrink factor.

    The photo under the ViT page's maps is sent again with every figure that changes (a head or layer change
    sends two or three): as a JPEG a 640 px crop is about 100 KB instead of 850 KB as a PNG. The weights drawn
    over it are sent exactly. Memoised by the image's content."""
    key = ("jpeg", _digest(image), max_side)

    def encode():
        a = np.asarray(image, dtype=np.uint8)
        small = _thumbnail(a, max_side) if max_side else a
        return fast.jpeg_uri(small), a.shape[1] / small.shape[1]

    return _memo(key, encode)


def _figure(data: list[dict], layout: dict) -> go.Figure:
    """viz.fast.figure, without the empty shape and annotation lists that validation would drop."""
    layout = {k: v for k, v in layout.items() if v or k not in ("shapes", "annotations")}
    return fast.figure(data, layout)


def _image_trace(image: np.ndarray, max_side: int | None = None) -> dict:
    uri, scale = photo_data_uri(image, max_side)
    return dict(type="image", source=uri, x0=scale / 2 - 0.5, y0=scale / 2 - 0.5, dx=scale, dy=scale,
                hoverinfo="skip")


@functools.lru_cache(maxsize=32)
def _patch_custom(grid: tuple[int, int], num_prefix: int) -> np.ndarray:
    """(rows, cols, 3) row, column and token index of every patch (read-only: shared between figures)."""
    rows, cols = grid
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    custom = _ints(np.stack([r, c, num_prefix + r * cols + c], axis=-1))
    custom.flags.writeable = False
    return custom


OVERLAY_PHOTO_PX = 480  # the photo under a map (the figure is 460 px tall): sent again with every map shown
COMPACT_HOVER_PATCHES = 1024  # above this many patches the head grids' hover names the patch, not its token


@functools.lru_cache(maxsize=8)
def _compact_custom(grid: tuple[int, int]) -> np.ndarray:
    """(rows, cols, 2) row and column of every patch, as the smallest integers that hold them (read-only): a
    head grid of 74 × 74 patches sends six of these, 11 KB each instead of 33 KB with the token index."""
    rows, cols = grid
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    custom = _ints(np.stack([r, c], axis=-1))
    custom.flags.writeable = False
    return custom


def _ints(values) -> np.ndarray:
    """Integers as the smallest signed type that holds them (plotly sends them as a typed array of it)."""
    a = np.asarray(values)
    top = int(np.abs(a).max(initial=0))
    dtype = np.int8 if top <= 127 else np.int16 if top <= 32767 else np.int32
    return fast.array(a, dtype)


def _overlay_trace(
    patch_map: np.ndarray, patch_px: float, num_prefix: int, zmax: float | None, showscale: bool, label: str
) -> dict:
    rows, cols = patch_map.shape
    return dict(
        type="heatmap",
        z=fast.array(patch_map),
        x0=patch_px / 2 - 0.5,
        dx=patch_px,
        y0=patch_px / 2 - 0.5,
        dy=patch_px,
        customdata=_patch_custom((int(rows), int(cols)), int(num_prefix)),
        colorscale=OVERLAY_SCALE,
        zmin=0.0,
        zmax=zmax if zmax is not None else max(float(np.max(patch_map)), 1e-9),
        opacity=OVERLAY_OPACITY,
        showscale=showscale,
        colorbar=dict(title=dict(text=label), thickness=10, len=0.8),
        hovertemplate=_("patch (%{customdata[0]}, %{customdata[1]}), token %{customdata[2]}<br>{label} %{z:.4f}")
        .replace("{label}", label) + "<extra></extra>",
    )


def _image_axes(width: int, height: int) -> dict:
    """Layout entries for axes in image pixels, hidden, y downwards, one pixel as wide as tall."""
    return dict(
        xaxis=dict(range=[-0.5, width - 0.5], **_HIDDEN_AXIS),
        yaxis=dict(range=[height - 0.5, -0.5], scaleanchor="x", scaleratio=1, **_HIDDEN_AXIS),
    )


def _title(title: str | None, **kw) -> dict:
    return {"title": dict(text=title, **kw)} if title else {}


def _patch_rect(r: int, c: int, patch_px: float, width: float = 3, ox: float = 0.0, oy: float = 0.0) -> dict:
    return dict(type="rect", x0=ox + c * patch_px - 0.5, x1=ox + (c + 1) * patch_px - 0.5, y0=oy + r * patch_px - 0.5,
                y1=oy + (r + 1) * patch_px - 0.5, line=dict(color=OUTLINE, width=width))


def patch_grid(
    image: np.ndarray, grid: tuple[int, int], patch_px: float, num_prefix: int, selected: tuple[int, int] | None = None
) -> go.Figure:
    """The crop with its patch grid drawn on; hover names each patch's row, column, token index and size.

    One invisible marker per patch (a Scatter, which Streamlit can select, unlike Heatmap cells) carries
    (row, col, token index) as customdata, so a click picks that patch.
    """
    h, w = image.shape[:2]
    rows, cols = grid
    width = 1 if rows * cols <= 400 else 0.5
    line = dict(color="rgba(255,255,255,0.75)", width=width)
    shapes = []
    for c in range(cols + 1):
        x = c * patch_px - 0.5
        shapes.append(dict(type="line", x0=x, x1=x, y0=-0.5, y1=rows * patch_px - 0.5, line=dict(line)))
    for r in range(rows + 1):
        y = r * patch_px - 0.5
        shapes.append(dict(type="line", x0=-0.5, x1=cols * patch_px - 0.5, y0=y, y1=y, line=dict(line)))
    if selected is not None:
        shapes.append(_patch_rect(*selected, patch_px))
    custom = _patch_custom((int(rows), int(cols)), int(num_prefix)).reshape(-1, 3)
    centres = (custom[:, :2] + 0.5) * patch_px - 0.5
    p = int(round(patch_px))
    data = [
        _image_trace(image, max_side=640),
        dict(
            type="scatter",
            x=fast.array(centres[:, 1]),
            y=fast.array(centres[:, 0]),
            mode="markers",
            marker=dict(size=max(4, min(28, 480 / max(rows, cols))), opacity=0.0, symbol="square"),
            customdata=custom,
            hovertemplate=_("patch %{customdata[0]}, %{customdata[1]} (row, column)<br>token %{customdata[2]}<br>"
                            "{size}×{size} px").replace("{size}", str(p)) + "<extra></extra>",
            showlegend=False,
            name="patches",
        ),
    ]
    layout = dict(
        shapes=shapes,
        height=480,
        margin=dict(l=0, r=0, t=30, b=0),
        title=dict(text=_("{rows}×{cols} patches of {size}×{size} px").format(rows=rows, cols=cols, size=p),
                   font=dict(size=13)),
        clickmode="event+select",
        dragmode=False,
        **_image_axes(w, h),
    )
    return _figure(data, layout)


def attention_overlay(
    image: np.ndarray,
    patch_map: np.ndarray,
    patch_px: float,
    num_prefix: int,
    title: str | None = None,
    label: str | None = None,
    mark: tuple[int, int] | None = None,
    height: int = 460,
) -> go.Figure:
    """One (rows, cols) map over the patches, drawn translucent over the image; `mark` outlines one patch."""
    h, w = image.shape[:2]
    label = label or _("weight")
    data = [_image_trace(image, max_side=OVERLAY_PHOTO_PX), _overlay_trace(patch_map, patch_px, num_prefix, None, True,
                                                                             label)]
    layout = dict(
        **_title(title), height=height, margin=dict(l=0, r=0, t=40 if title else 10, b=0),
        **_image_axes(w, h),
    )
    if mark is not None:
        layout["shapes"] = [_patch_rect(*mark, patch_px)]
    return _figure(data, layout)


def head_grid(
    image: np.ndarray,
    maps: np.ndarray,
    patch_px: float,
    num_prefix: int,
    titles: Sequence[str] | None = None,
    columns: int = 4,
    shared_scale: bool = False,
    label: str | None = None,
    mark: tuple[int, int] | None = None,
) -> go.Figure:
    """Every head's (rows, cols) map over a thumbnail of the image, `columns` per row.

    Each head has its own colour range unless `shared_scale` (then all share the largest weight), so a
    diffuse head is still readable; hover gives the exact weights either way.

    Drawn as panels laid side by side on one pair of axes, not as subplots: the thumbnails are tiled
    into one image sent once, and each head is one heatmap placed on its panel. The figure is built from
    plain dicts in one go, which keeps a rerun after a layer change fast and the JSON small.
    """
    heads = maps.shape[0]
    columns = max(1, min(columns, heads))
    n_rows = math.ceil(heads / columns)
    label = label or _("weight")
    titles = list(titles) if titles is not None else [  # heads count from 1
        _("head {head}").format(head=i + 1) for i in range(heads)]
    rows, cols = maps.shape[1:]
    compact = rows * cols > COMPACT_HOVER_PATCHES  # (row, column) only, one byte each: a third of the bytes
    hover = (_("{title}<br>patch (%{customdata[0]}, %{customdata[1]})<br>{label} %{z:.4f}") if compact else
             _("{title}<br>patch (%{customdata[0]}, %{customdata[1]}), token %{customdata[2]}<br>{label} %{z:.4f}"))
    h, w = image.shape[:2]
    gap_x, gap_y = 0.04 * w, 0.14 * h  # room between panels and for each panel's title
    canvas_w = columns * w + (columns - 1) * gap_x
    canvas_h = n_rows * (h + gap_y)
    uri, origins, scale = _tiled_panels(image, heads, columns, gap_x, gap_y)
    data = [dict(type="image", source=uri, x0=scale / 2 - 0.5, y0=scale / 2 - 0.5, dx=scale, dy=scale,
                 hoverinfo="skip")]
    zmax = float(maps.max()) if shared_scale else None
    shapes, annotations = [], []
    custom = _patch_custom((int(rows), int(cols)), int(num_prefix))
    if compact:
        custom = _compact_custom((int(rows), int(cols)))
    tops = maps.reshape(heads, -1).max(axis=1)
    for i in range(heads):
        ox, oy = origins[i][0] * scale, origins[i][1] * scale  # the panel's top-left corner, in input pixels
        top = max(float(tops[i]), 1e-9) if zmax is None else max(zmax, 1e-9)
        data.append(dict(
            type="heatmap", z=fast.array(maps[i]), x0=ox + patch_px / 2 - 0.5, dx=patch_px,
            y0=oy + patch_px / 2 - 0.5, dy=patch_px, customdata=custom, colorscale=OVERLAY_SCALE, zmin=0.0,
            zmax=top, opacity=OVERLAY_OPACITY, showscale=False, name=titles[i],
            hovertemplate=hover.replace("{title}", titles[i]).replace("{label}", label) + "<extra></extra>",
        ))
        annotations.append(dict(x=ox + w / 2, y=oy - 0.5, text=titles[i], showarrow=False, yanchor="bottom",
                                font=dict(size=12)))
        if mark is not None:
            shapes.append(_patch_rect(*mark, patch_px, width=2, ox=ox, oy=oy))
    panel = 220 if columns <= 4 else 170
    layout = dict(
        height=40 + n_rows * panel, margin=dict(l=0, r=0, t=10, b=0), showlegend=False,
        xaxis=dict(range=[-0.5, canvas_w - 0.5], constrain="domain", **_HIDDEN_AXIS),
        yaxis=dict(range=[canvas_h - gap_y - 0.5, -gap_y - 0.5], scaleanchor="x", scaleratio=1, **_HIDDEN_AXIS),
        shapes=shapes, annotations=annotations,
    )
    return _figure(data, layout)


def _tiled_panels(image: np.ndarray, heads: int, columns: int, gap_x: float, gap_y: float):
    """(JPEG data URI of `heads` thumbnails of the image tiled `columns` per row, their top-left corners in
    thumbnail pixels, input pixels per thumbnail pixel); memoised by the image's content."""
    def compute():
        thumb = _thumbnail(np.asarray(image, dtype=np.uint8), 160)
        scale = image.shape[1] / thumb.shape[1]
        tiled, origins = _tile_thumbnails(thumb, heads, columns, gap_x / scale, gap_y / scale)
        return fast.jpeg_uri(tiled), origins, scale

    return _memo(("tiles", _digest(image), heads, columns, gap_x, gap_y), compute)


def _thumbnail(image: np.ndarray, max_side: int) -> np.ndarray:
    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if max(pil.size) > max_side:
        f = max(pil.size) / max_side
        pil = pil.resize((max(1, round(pil.width / f)), max(1, round(pil.height / f))), Image.Resampling.BOX)
    return np.asarray(pil)


def _tile_thumbnails(thumb: np.ndarray, n: int, columns: int, gap_x: float, gap_y: float):
    """n copies of an (h, w, 3) thumbnail on a white canvas, `columns` per row: (canvas, top-left corners).

    Corners are in thumbnail pixels and may be fractional; each copy is pasted at the rounded corner.
    """
    th, tw = thumb.shape[:2]
    n_rows = math.ceil(n / columns)
    width = math.ceil(columns * tw + (columns - 1) * gap_x)
    height = math.ceil(n_rows * (th + gap_y))
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    origins = []
    for i in range(n):
        r, c = divmod(i, columns)
        x, y = c * (tw + gap_x), gap_y + r * (th + gap_y)
        xi, yi = round(x), round(y)
        canvas[yi : yi + th, xi : xi + tw] = thumb[: height - yi, : width - xi]
        origins.append((xi, yi))
    return canvas, origins


OVERVIEW_TILE = 96  # px per layer × head tile: about what a tile gets on screen; the selected head is shown in full


def _colour_table(scale: str = "Blues", n: int = 256) -> np.ndarray:
    from plotly.colors import sample_colorscale

    rgb = [c[c.index("(") + 1 : -1].split(",") for c in sample_colorscale(scale, [i / (n - 1) for i in range(n)])]
    return np.asarray([[round(float(v)) for v in c] for c in rgb], dtype=np.uint8)  # (n, 3)


OVERVIEW_LEVELS = 64  # colour levels of the overview: finer steps than the eye tells apart on a small tile


def overview_tiles(attention: Sequence[np.ndarray], tile: int = OVERVIEW_TILE, gap: int = 3,
                   levels: int = OVERVIEW_LEVELS, sizes: tuple[int, int] | None = None) -> dict:
    """Every layer × head (Q, K) matrix as one tiled image: rows are layers, columns heads.

    Each matrix is area-averaged down to at most `tile` × `tile` pixels (a box filter: each pixel is the
    mean of the weights it covers) and coloured on its own scale, 0 to its largest weight, in `levels`
    steps, so that every head's pattern is visible. The image is a palette PNG (one byte a pixel before
    compression). sizes: the (queries, keys) the matrices stand for when they arrive already pooled (the
    language page's block means), for hover; by default their own shape. Returns {"uri": PNG data URI, "tile"
    (width), "tile_h" (height), "gap", "layers", "heads", "tokens" (keys), "queries", "max": (layers, heads)
    largest weight of each matrix}: the data `layer_head_overview` draws.
    """
    layers, heads = len(attention), attention[0].shape[0]
    n_q, n = attention[0].shape[-2], attention[0].shape[-1]
    side, side_h = min(tile, n), min(tile, n_q)
    step, step_h = side + gap, side_h + gap
    white = levels  # palette index of the gaps
    canvas = np.full((layers * step_h - gap, heads * step - gap), white, dtype=np.uint8)
    maxima = np.zeros((layers, heads))
    for layer, a in enumerate(attention):
        for h in range(a.shape[0]):
            m = np.asarray(a[h], dtype=np.float32)
            top = float(m.max())
            maxima[layer, h] = top
            if side < n or side_h < n_q:
                m = np.asarray(Image.fromarray(m, mode="F").resize((side, side_h), Image.Resampling.BOX))
            idx = np.clip(m * ((levels - 1) / max(top, 1e-9)) + 0.5, 0, levels - 1).astype(np.uint8)
            canvas[layer * step_h : layer * step_h + side_h, h * step : h * step + side] = idx
    palette = np.vstack([_colour_table(n=levels), [[255, 255, 255]]]).astype(np.uint8)
    pil = Image.fromarray(canvas, mode="P")
    pil.putpalette(palette.reshape(-1).tolist())
    uri = fast.png_uri(pil, compress_level=6)
    queries, keys = sizes if sizes is not None else (n_q, n)
    return {"uri": uri, "tile": side, "tile_h": side_h, "gap": gap, "layers": layers, "heads": heads, "tokens": keys,
            "queries": queries, "pooled": (side, side_h) != (keys, queries), "max": maxima}


def layer_head_overview(tiles: dict, selected: tuple[int, int] | None = None, title: str | None = None) -> go.Figure:
    """The tiled image of `overview_tiles`, rows = layers, columns = heads; `selected` (layer, head) outlined.

    `selected` is 0-based (indices into the tiles); what the figure shows and sends counts from 1, as the
    papers do. Hover names a tile's layer and head and its largest weight; one invisible marker per tile (a
    Scatter, which Streamlit can select) carries (layer, head, largest weight) as customdata, layer and head
    from 1, so a click picks that head.
    """
    side, gap, layers, heads = tiles["tile"], tiles["gap"], tiles["layers"], tiles["heads"]
    side_h = tiles.get("tile_h", side)
    step, step_h = side + gap, side_h + gap
    centre, centre_h = (side - 1) / 2, (side_h - 1) / 2
    ll, hh = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
    custom = np.stack([ll + 1, hh + 1, tiles["max"]], axis=-1).reshape(-1, 3)
    n, n_q = tiles["tokens"], tiles.get("queries", tiles["tokens"])
    pooled = tiles.get("pooled", side < n)
    data = [
        dict(type="image", source=tiles["uri"], x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"),
        dict(type="scatter", x=fast.array((hh * step + centre).reshape(-1)),
             y=fast.array((ll * step_h + centre_h).reshape(-1)), mode="markers",
             marker=dict(size=max(6, min(40, 720 / max(layers, heads))), symbol="square", opacity=0.0),
             customdata=fast.array(custom, np.float64), showlegend=False, name="tiles",
             hovertemplate=(
                 _("layer %{customdata[0]}, head %{customdata[1]}<br>largest weight %{customdata[2]:.4f}<br>"
                   "{n}×{n} queries × keys, shown as {side}×{side} averages") if pooled and n == n_q and side == side_h
                 else _("layer %{customdata[0]}, head %{customdata[1]}<br>largest weight %{customdata[2]:.4f}<br>"
                        "{n_q}×{n} queries × keys, shown as {side_h}×{side} averages") if pooled else
                 _("layer %{customdata[0]}, head %{customdata[1]}<br>largest weight %{customdata[2]:.4f}<br>"
                   "{n}×{n} queries × keys") if n == n_q else
                 _("layer %{customdata[0]}, head %{customdata[1]}<br>largest weight %{customdata[2]:.4f}<br>"
                   "{n_q}×{n} queries × keys")).replace("{n_q}", str(n_q)).replace("{side_h}", str(side_h))
             .replace("{n}", str(n)).replace("{side}", str(side))
             + "<extra></extra>"),
    ]
    shapes = []
    if selected is not None:
        layer, h = selected
        shapes.append(dict(type="rect", x0=h * step - 1.5, x1=h * step + side + 0.5, y0=layer * step_h - 1.5,
                           y1=layer * step_h + side_h + 0.5, line=dict(color="#e4572e", width=3)))
    width, height = heads * step - gap, layers * step_h - gap
    pad = 3.0  # room round the image for the outline of a tile on its edge
    layout = dict(
        **_title(title),
        height=min(1100, 90 + layers * max(40, min(90, 900 // max(layers, 1)))),
        margin=dict(l=60, r=10, t=70 if title else 40, b=10),
        xaxis=dict(range=[-pad, width - 1 + pad], side="top", tickmode="array",
                   tickvals=[h * step + centre for h in range(heads)],
                   ticktext=[_("head {head}").format(head=h + 1) for h in range(heads)], showgrid=False,
                   zeroline=False,
                   constrain="domain"),
        yaxis=dict(range=[height - 1 + pad, -pad], tickmode="array",
                   tickvals=[layer * step_h + centre_h for layer in range(layers)],
                   ticktext=[_("layer {layer}").format(layer=layer + 1) for layer in range(layers)], showgrid=False,
                   zeroline=False,
                   scaleanchor="x", scaleratio=1),
        shapes=shapes, clickmode="event+select", dragmode=False,
    )
    return _figure(data, layout)



def distance_scatter(distances: np.ndarray, image_px: float, title: str | None = None) -> go.Figure:
    """Mean attention distance (pixels) per head against depth, one point per head (ViT paper, Fig. 7 right)."""
    layers, heads = distances.shape
    layer = np.arange(1, layers + 1)
    offsets = np.linspace(-0.2, 0.2, heads) if heads > 1 else np.zeros(1)  # heads side by side within a layer
    custom = _ints(layer)
    data = [
        dict(
            type="scatter",
            x=fast.array(layer + offsets[h], np.float64),
            y=fast.array(distances[:, h], np.float64),
            mode="markers",
            name=_("head {head}").format(head=h + 1),
            marker=dict(size=8),
            customdata=custom,
            hovertemplate=_("layer %{customdata}, head {head}<br>mean distance %{y:.1f} px").replace(
                "{head}", str(h + 1)) + "<extra></extra>",
        )
        for h in range(heads)
    ]
    layout = dict(
        **_title(title), height=380, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        xaxis=dict(title=dict(text=_("network depth (layer)")), tickmode="array",
                   tickvals=list(range(1, layers + 1))),
        yaxis=dict(title=dict(text=_("mean attention distance (pixels)")), range=[0, image_px * 0.75]),
        legend=dict(title=dict(text=_("head"))),
    )
    return _figure(data, layout)


TICK_PX = 18  # px between two labelled rows of a token matrix: 12 px labels with room between them


def token_matrix(matrix: np.ndarray, labels: Sequence[str], title: str | None = None, max_ticks: int = 40) -> go.Figure:
    """One head's (queries, keys) matrix over a ViT's tokens, queries down the side, keys along the top; every
    k-th tick labelled when there are many. The weights are sent as they are (float32, nothing rounded).
    Labels are 12 px and the figure is as tall as its labelled rows need (TICK_PX each), so none overlaps.

    Like viz.heatmaps.attention_heatmap, but the axes are categories named "index: token" (unique even
    where tokens repeat) with the bare tokens as tick text, so hover reads "query 5: (0,4)" from the axes
    themselves; a per-cell array of label strings (N² strings, about 1 MB for 197 tokens) would be both
    heavy and slow to serialise.
    """
    z = fast.array(matrix)
    n_q, n_k = z.shape
    labels = [str(t) for t in labels]
    names = [f"{i}: {t}" for i, t in enumerate(labels)]
    n = len(labels)
    step = 1 if n <= max_ticks else math.ceil(n / max_ticks)
    ticks = list(range(0, n, step))
    upright = n > 12  # key labels turned upright: one label needs TICK_PX across, not its whole width
    longest = max((len(labels[i]) for i in ticks), default=1)
    # the top margin holds the title, the axis title "key" and the key labels (upright: ~7.5 px a character)
    top = (45 if title else 10) + 25 + (math.ceil(7.5 * longest) + 8 if upright else 22)
    plot = max(300, TICK_PX * len(ticks))  # every labelled row at least TICK_PX apart: no label over another
    data = [dict(
        type="heatmap", z=z, x=names[:n_k], y=names[:n_q], colorscale=MATRIX_SCALE, zmin=0.0,
        zmax=max(float(z.max(initial=0.0)), 1e-6),
        hovertemplate=_("query %{y}<br>key %{x}<br>weight %{z:.4f}") + "<extra></extra>",
        colorbar=dict(title=dict(text=_("weight")), thickness=12),
    )]
    layout = dict(
        **_title(title, y=1.0, yanchor="top", pad=dict(t=8)),
        height=top + plot + 10,
        margin=dict(l=10, r=10, t=top, b=10),
        xaxis=dict(type="category", tickmode="array", tickvals=[names[i] for i in ticks if i < n_k],
                   ticktext=[labels[i] for i in ticks if i < n_k], side="top", title=dict(text=_("key")),
                   tickangle=-90 if upright else 0, tickfont=dict(size=12)),
        yaxis=dict(type="category", tickmode="array", tickvals=[names[i] for i in ticks if i < n_q],
                   ticktext=[labels[i] for i in ticks if i < n_q], autorange="reversed", title=dict(text=_("query")),
                   tickfont=dict(size=12)),
    )
    return _figure(data, layout)


def top_k_bars(top_k: Sequence[tuple[str, float]], title: str | None = None) -> go.Figure:
    """Horizontal bars of (class name, probability), best on top.

    Bars sit on numeric positions with the names as tick text: ImageNet has two classes called "crane",
    and a categorical axis would merge them into one bar.
    """
    names = [n if len(n) <= 40 else n[:39] + "…" for n, _ in top_k]
    probs = [float(p) for _, p in top_k]
    positions = list(range(len(top_k)))
    data = [dict(
        type="bar", x=fast.array(probs, np.float64), y=_ints(positions), orientation="h",
        text=[f"{p:.1%}" for p in probs], textposition="auto", customdata=[n for n, _ in top_k],
        hovertemplate="%{customdata}<br>p = %{x:.4f}<extra></extra>", marker=dict(color="#3b6fb6"),
    )]
    layout = dict(
        **_title(title), height=60 + 36 * max(1, len(top_k)), margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        xaxis=dict(range=[0, 1], title=dict(text=_("probability")), tickformat=".0%"),
        yaxis=dict(tickmode="array", tickvals=positions, ticktext=names, autorange="reversed"),
        uniformtext=dict(minsize=12, mode="show"),  # Plotly would shrink the text of a short bar below 12 px
    )
    return _figure(data, layout)


# ------------------------------------------------------------------------------------- downloads

JSON_MAX_VALUES = 8_000_000  # about 180 MB of JSON text (vit_base: 5.6 million weights); beyond it, NPZ only


def export_size(trace) -> int:
    """How many attention weights a download of this run holds (every layer, head, query and key), without
    computing them (a run that keeps queries and keys knows its maps' size)."""
    att = trace.attention
    if hasattr(att, "map_bytes"):
        return int(att.map_bytes // 4)
    return int(sum(np.asarray(a).size for a in att))


def _export_meta(trace) -> dict:
    return {
        "model": trace.model_name,
        "weights_source": trace.weights_source,
        "token_labels": [str(t) for t in trace.token_labels],
        "num_prefix_tokens": int(trace.num_prefix_tokens),
        "grid": [int(trace.grid[0]), int(trace.grid[1])],
        "patch_size": int(trace.patch_size),
    }


def _npz(arrays) -> bytes:
    """An .npz (numpy's zip of .npy files, deflated) written one array at a time: `arrays` yields (name, array),
    so a run's maps are computed, written and dropped layer by layer."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for name, array in arrays:
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)
    return buf.getvalue()


def _meta_arrays(trace):
    meta = _export_meta(trace)
    yield "token_labels", np.asarray(meta["token_labels"], dtype=str)
    yield "model", np.asarray(meta["model"])
    yield "weights_source", np.asarray(meta["weights_source"])
    yield "grid", np.asarray(meta["grid"], dtype=np.int64)
    yield "patch_size", np.asarray(meta["patch_size"])
    yield "num_prefix_tokens", np.asarray(meta["num_prefix_tokens"])
    yield "image", np.asarray(trace.image, dtype=np.uint8)


def export_npz(trace) -> bytes:
    """The attention of a ViT run as one .npz: attention_layer1 … attention_layerL, each (heads, queries, keys)
    float32 exactly as the model computed it, layers counted from 1; token_labels (sequence order: prefix
    tokens, then patches "(row,col)" from 0), model, weights_source, grid, patch_size, num_prefix_tokens and
    the input crop (H, W, 3) uint8. Written layer by layer: one layer's maps in memory at a time."""
    def arrays():
        for i in range(len(trace.attention)):
            yield f"attention_layer{i + 1}", np.asarray(trace.attention[i], dtype=np.float32)
        yield from _meta_arrays(trace)

    return _npz(arrays())


def export_queries_keys_npz(trace) -> bytes:
    """For a run too large to download every map: query_layer1 … and key_layer1 … (heads, tokens, d_k) float32,
    the q and k of each layer's attention as the model computed them (after its q/k normalisation, before the
    scale), `scale` (layers,), and cls_layer1 … (heads, tokens): the CLS token's weights (or token 0's). Every
    weight of layer l is softmax(query_layerl · scale[l] @ key_layerlᵀ) over the last axis. Plus the labels and
    settings of export_npz."""
    att = trace.attention

    def arrays():
        scales = []
        for i in range(len(att)):
            q, k, scale = att.queries_keys(i)
            scales.append(scale)
            yield f"query_layer{i + 1}", q.float().cpu().numpy()
            yield f"key_layer{i + 1}", k.float().cpu().numpy()
            yield f"cls_layer{i + 1}", att.rows(i, 0)
        yield "scale", np.asarray(scales, dtype=np.float64)
        yield from _meta_arrays(trace)

    return _npz(arrays())


def export_json(trace) -> str:
    """The same attention as JSON: the labels and settings, "axes", and "attention": {"layer1": nested lists
    (heads, queries, keys), …}. Each float32 weight is written as the float64 of the same value, so reading it
    back as float32 gives the model's numbers bit for bit."""
    doc = _export_meta(trace)
    doc["axes"] = ["head", "query", "key"]
    doc["attention"] = {
        f"layer{i + 1}": np.asarray(trace.attention[i], dtype=np.float32).tolist()
        for i in range(len(trace.attention))
    }
    return json.dumps(doc, ensure_ascii=False)
