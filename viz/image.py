"""Attention over images: the patch grid, per-head overlays, rollout, mean attention distance, top-k.

Pure figure builders: numpy arrays and labels in, plotly Figures out (no streamlit, no torch).
Coordinates are the pixels of the model's input crop: pixel (row i, col j) is drawn centred at
(x=j, y=i), so patch (r, c) of side p spans x ∈ [c·p − ½, (c+1)·p − ½). Images travel as PNG data
URIs (a few kB) rather than as numbers, so a grid of twelve heads stays light in the browser.
"""
from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

# Low weights dim the image, high weights let it through with a warm tint: the picture stays readable.
OVERLAY_SCALE = [
    [0.0, "rgba(8, 8, 40, 0.72)"],
    [0.3, "rgba(90, 20, 120, 0.50)"],
    [0.65, "rgba(235, 90, 40, 0.32)"],
    [1.0, "rgba(255, 235, 60, 0.12)"],
]
OVERLAY_OPACITY = 1.0


def png_data_uri(image: np.ndarray, max_side: int | None = None) -> tuple[str, float]:
    """A PNG data URI of an (H, W, 3) uint8 image, shrunk to at most `max_side` px; and the shrink factor."""
    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    scale = 1.0
    if max_side and max(pil.size) > max_side:
        scale = max(pil.size) / max_side
        pil = pil.resize((max(1, round(pil.width / scale)), max(1, round(pil.height / scale))), Image.Resampling.BOX)
        scale = image.shape[1] / pil.width
    buf = io.BytesIO()
    pil.save(buf, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), scale


def _image_trace(image: np.ndarray, max_side: int | None = None) -> go.Image:
    uri, scale = png_data_uri(image, max_side)
    return go.Image(source=uri, x0=scale / 2 - 0.5, y0=scale / 2 - 0.5, dx=scale, dy=scale, hoverinfo="skip")


def _patch_custom(grid: tuple[int, int], num_prefix: int) -> np.ndarray:
    rows, cols = grid
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return np.stack([r, c, num_prefix + r * cols + c], axis=-1)  # (rows, cols, 3): row, col, token index


def _overlay_trace(
    patch_map: np.ndarray, patch_px: float, num_prefix: int, zmax: float | None, showscale: bool, label: str
) -> go.Heatmap:
    rows, cols = patch_map.shape
    return go.Heatmap(
        z=patch_map,
        x0=patch_px / 2 - 0.5,
        dx=patch_px,
        y0=patch_px / 2 - 0.5,
        dy=patch_px,
        customdata=_patch_custom((rows, cols), num_prefix),
        colorscale=OVERLAY_SCALE,
        zmin=0.0,
        zmax=zmax if zmax is not None else max(float(np.max(patch_map)), 1e-9),
        opacity=OVERLAY_OPACITY,
        showscale=showscale,
        colorbar=dict(title=label, thickness=10, len=0.8),
        hovertemplate="patch (%{customdata[0]}, %{customdata[1]}), token %{customdata[2]}<br>"
        + label
        + " %{z:.4f}<extra></extra>",
    )


def _image_axes(fig: go.Figure, width: int, height: int, row: int | None = None, col: int | None = None) -> None:
    kw = dict(row=row, col=col) if row is not None else {}
    hidden = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", showline=False)
    fig.update_xaxes(range=[-0.5, width - 0.5], **hidden, **kw)
    fig.update_yaxes(range=[height - 0.5, -0.5], **hidden, **kw)


def patch_grid(
    image: np.ndarray, grid: tuple[int, int], patch_px: float, num_prefix: int, selected: tuple[int, int] | None = None
) -> go.Figure:
    """The crop with its patch grid drawn on; hover names each patch's row, column, token index and size.

    One invisible marker per patch (a Scatter, which Streamlit can select, unlike Heatmap cells) carries
    (row, col, token index) as customdata, so a click picks that patch.
    """
    h, w = image.shape[:2]
    rows, cols = grid
    fig = go.Figure(_image_trace(image, max_side=640))
    lines = []
    for c in range(cols + 1):
        x = c * patch_px - 0.5
        lines.append(dict(type="line", x0=x, x1=x, y0=-0.5, y1=rows * patch_px - 0.5))
    for r in range(rows + 1):
        y = r * patch_px - 0.5
        lines.append(dict(type="line", x0=-0.5, x1=cols * patch_px - 0.5, y0=y, y1=y))
    width = 1 if rows * cols <= 400 else 0.5
    for s in lines:
        s["line"] = dict(color="rgba(255,255,255,0.75)", width=width)
    if selected is not None:
        r, c = selected
        lines.append(
            dict(
                type="rect", x0=c * patch_px - 0.5, x1=(c + 1) * patch_px - 0.5, y0=r * patch_px - 0.5,
                y1=(r + 1) * patch_px - 0.5, line=dict(color="#00e5ff", width=3),
            )
        )
    custom = _patch_custom(grid, num_prefix).reshape(-1, 3)
    centres = (custom[:, :2] + 0.5) * patch_px - 0.5
    p = int(round(patch_px))
    fig.add_trace(
        go.Scatter(
            x=centres[:, 1],
            y=centres[:, 0],
            mode="markers",
            marker=dict(size=max(4, min(28, 480 / max(rows, cols))), opacity=0.0, symbol="square"),
            customdata=custom,
            hovertemplate=f"patch %{{customdata[0]}}, %{{customdata[1]}} (row, col)<br>token %{{customdata[2]}}<br>"
            f"{p}×{p} px<extra></extra>",
            showlegend=False,
            name="patches",
        )
    )
    fig.update_layout(
        shapes=lines,
        height=480,
        margin=dict(l=0, r=0, t=30, b=0),
        title=dict(text=f"{rows}×{cols} patches of {p}×{p} px", font=dict(size=13)),
        clickmode="event+select",
        dragmode=False,
    )
    _image_axes(fig, w, h)
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def attention_overlay(
    image: np.ndarray,
    patch_map: np.ndarray,
    patch_px: float,
    num_prefix: int,
    title: str | None = None,
    label: str = "weight",
    mark: tuple[int, int] | None = None,
    height: int = 460,
) -> go.Figure:
    """One (rows, cols) map over the patches, drawn translucent over the image; `mark` outlines one patch."""
    h, w = image.shape[:2]
    fig = go.Figure([_image_trace(image, max_side=640), _overlay_trace(patch_map, patch_px, num_prefix, None, True, label)])
    if mark is not None:
        r, c = mark
        fig.add_shape(
            type="rect", x0=c * patch_px - 0.5, x1=(c + 1) * patch_px - 0.5, y0=r * patch_px - 0.5,
            y1=(r + 1) * patch_px - 0.5, line=dict(color="#00e5ff", width=3),
        )
    fig.update_layout(title=title, height=height, margin=dict(l=0, r=0, t=40 if title else 10, b=0))
    _image_axes(fig, w, h)
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def head_grid(
    image: np.ndarray,
    maps: np.ndarray,
    patch_px: float,
    num_prefix: int,
    titles: Sequence[str] | None = None,
    columns: int = 4,
    shared_scale: bool = False,
    label: str = "weight",
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
    titles = list(titles) if titles is not None else [f"head {i}" for i in range(heads)]
    h, w = image.shape[:2]
    thumb = _thumbnail(image, 160)
    scale = w / thumb.shape[1]  # input pixels per thumbnail pixel
    gap_x, gap_y = 0.04 * w, 0.14 * h  # room between panels and for each panel's title
    canvas_w = columns * w + (columns - 1) * gap_x
    canvas_h = n_rows * (h + gap_y)
    tiled, origins = _tile_thumbnails(thumb, heads, columns, gap_x / scale, gap_y / scale)
    uri = _png_uri(tiled)
    data = [dict(type="image", source=uri, x0=scale / 2 - 0.5, y0=scale / 2 - 0.5, dx=scale, dy=scale,
                 hoverinfo="skip")]
    zmax = float(maps.max()) if shared_scale else None
    shapes, annotations = [], []
    rows, cols = maps.shape[1:]
    custom = _patch_custom((rows, cols), num_prefix)
    for i in range(heads):
        ox, oy = origins[i][0] * scale, origins[i][1] * scale  # the panel's top-left corner, in input pixels
        top = max(float(np.max(maps[i])), 1e-9) if zmax is None else max(zmax, 1e-9)
        data.append(dict(
            type="heatmap", z=np.asarray(maps[i], dtype=np.float32), x0=ox + patch_px / 2 - 0.5, dx=patch_px,
            y0=oy + patch_px / 2 - 0.5, dy=patch_px, customdata=custom, colorscale=OVERLAY_SCALE, zmin=0.0,
            zmax=top, opacity=OVERLAY_OPACITY, showscale=False, name=titles[i],
            hovertemplate=f"{titles[i]}<br>patch (%{{customdata[0]}}, %{{customdata[1]}}), token %{{customdata[2]}}"
            f"<br>{label} %{{z:.4f}}<extra></extra>",
        ))
        annotations.append(dict(x=ox + w / 2, y=oy - 0.5, text=titles[i], showarrow=False, yanchor="bottom",
                                font=dict(size=12)))
        if mark is not None:
            mr, mc = mark
            shapes.append(dict(type="rect", x0=ox + mc * patch_px - 0.5, x1=ox + (mc + 1) * patch_px - 0.5,
                               y0=oy + mr * patch_px - 0.5, y1=oy + (mr + 1) * patch_px - 0.5,
                               line=dict(color="#00e5ff", width=2)))
    hidden = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", showline=False)
    panel = 220 if columns <= 4 else 170
    layout = dict(
        height=40 + n_rows * panel, margin=dict(l=0, r=0, t=10, b=0), showlegend=False,
        xaxis=dict(range=[-0.5, canvas_w - 0.5], constrain="domain", **hidden),
        yaxis=dict(range=[canvas_h - gap_y - 0.5, -gap_y - 0.5], scaleanchor="x", scaleratio=1, **hidden),
        shapes=shapes, annotations=annotations,
    )
    return go.Figure(dict(data=data, layout=layout))


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


def _png_uri(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


OVERVIEW_TILE = 96  # px per layer × head tile: about what a tile gets on screen; the selected head is shown in full


def _colour_table(scale: str = "Blues", n: int = 256) -> np.ndarray:
    from plotly.colors import sample_colorscale

    rgb = [c[c.index("(") + 1 : -1].split(",") for c in sample_colorscale(scale, [i / (n - 1) for i in range(n)])]
    return np.asarray([[round(float(v)) for v in c] for c in rgb], dtype=np.uint8)  # (n, 3)


OVERVIEW_LEVELS = 64  # colour levels of the overview: finer steps than the eye tells apart on a small tile


def overview_tiles(attention: Sequence[np.ndarray], tile: int = OVERVIEW_TILE, gap: int = 3,
                   levels: int = OVERVIEW_LEVELS) -> dict:
    """Every layer × head (N, N) matrix as one tiled image: rows are layers, columns heads.

    Each matrix is area-averaged down to at most `tile` × `tile` pixels (a box filter: each pixel is the
    mean of the weights it covers) and coloured on its own scale, 0 to its largest weight, in `levels`
    steps, so that every head's pattern is visible. The image is a palette PNG (one byte a pixel before
    compression). Returns {"uri": PNG data URI, "tile", "gap", "layers", "heads", "tokens",
    "max": (layers, heads) largest weight of each matrix}: the data `layer_head_overview` draws.
    """
    layers, heads = len(attention), attention[0].shape[0]
    n = attention[0].shape[-1]
    side = min(tile, n)
    step = side + gap
    white = levels  # palette index of the gaps
    canvas = np.full((layers * step - gap, heads * step - gap), white, dtype=np.uint8)
    maxima = np.zeros((layers, heads))
    for l, a in enumerate(attention):
        for h in range(a.shape[0]):
            m = np.asarray(a[h], dtype=np.float32)
            top = float(m.max())
            maxima[l, h] = top
            if side < n:
                m = np.asarray(Image.fromarray(m, mode="F").resize((side, side), Image.Resampling.BOX))
            idx = np.clip(m * ((levels - 1) / max(top, 1e-9)) + 0.5, 0, levels - 1).astype(np.uint8)
            canvas[l * step : l * step + side, h * step : h * step + side] = idx
    palette = np.vstack([_colour_table(n=levels), [[255, 255, 255]]]).astype(np.uint8)
    pil = Image.fromarray(canvas, mode="P")
    pil.putpalette(palette.reshape(-1).tolist())
    buf = io.BytesIO()
    pil.save(buf, "PNG", compress_level=6)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return {"uri": uri, "tile": side, "gap": gap, "layers": layers, "heads": heads, "tokens": n, "max": maxima}


def layer_head_overview(tiles: dict, selected: tuple[int, int] | None = None, title: str | None = None) -> go.Figure:
    """The tiled image of `overview_tiles`, rows = layers, columns = heads; `selected` (layer, head) outlined.

    Hover names a tile's layer and head and its largest weight; one invisible marker per tile (a Scatter,
    which Streamlit can select) carries (layer, head) as customdata, so a click picks that head.
    """
    side, gap, layers, heads = tiles["tile"], tiles["gap"], tiles["layers"], tiles["heads"]
    step = side + gap
    centre = (side - 1) / 2
    ll, hh = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
    custom = np.stack([ll + 1, hh, tiles["max"]], axis=-1).reshape(-1, 3)
    n = tiles["tokens"]
    data = [
        dict(type="image", source=tiles["uri"], x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"),
        dict(type="scatter", x=(hh * step + centre).reshape(-1), y=(ll * step + centre).reshape(-1), mode="markers",
             marker=dict(size=max(6, min(40, 720 / max(layers, heads))), symbol="square", opacity=0.0),
             customdata=custom, showlegend=False, name="tiles",
             hovertemplate="layer %{customdata[0]}, head %{customdata[1]}<br>largest weight %{customdata[2]:.4f}"
             f"<br>{n}×{n} queries × keys" + (f", shown as {side}×{side} averages" if side < n else "")
             + "<extra></extra>"),
    ]
    shapes = []
    if selected is not None:
        l, h = selected
        shapes.append(dict(type="rect", x0=h * step - 1.5, x1=h * step + side + 0.5, y0=l * step - 1.5,
                           y1=l * step + side + 0.5, line=dict(color="#e4572e", width=3)))
    width, height = heads * step - gap, layers * step - gap
    layout = dict(
        title=dict(text=title) if title else None,
        height=min(1100, 90 + layers * max(40, min(90, 900 // max(layers, 1)))),
        margin=dict(l=60, r=10, t=70 if title else 40, b=10),
        xaxis=dict(range=[-0.5, width - 0.5], side="top", tickmode="array", tickvals=[h * step + centre for h in range(heads)],
                   ticktext=[f"head {h}" for h in range(heads)], showgrid=False, zeroline=False, constrain="domain"),
        yaxis=dict(range=[height - 0.5, -0.5], tickmode="array", tickvals=[l * step + centre for l in range(layers)],
                   ticktext=[f"layer {l + 1}" for l in range(layers)], showgrid=False, zeroline=False,
                   scaleanchor="x", scaleratio=1),
        shapes=shapes, clickmode="event+select", dragmode=False,
    )
    return go.Figure(dict(data=data, layout=layout))


def distance_scatter(distances: np.ndarray, image_px: float, title: str | None = None) -> go.Figure:
    """Mean attention distance (pixels) per head against depth, one point per head (ViT paper, Fig. 7 right)."""
    layers, heads = distances.shape
    layer = np.arange(1, layers + 1)
    offsets = np.linspace(-0.2, 0.2, heads) if heads > 1 else np.zeros(1)  # heads side by side within a layer
    fig = go.Figure(
        [
            go.Scatter(
                x=layer + offsets[h],
                y=distances[:, h],
                mode="markers",
                name=f"head {h}",
                marker=dict(size=8),
                customdata=layer,
                hovertemplate=f"layer %{{customdata}}, head {h}<br>mean distance %{{y:.1f}} px<extra></extra>",
            )
            for h in range(heads)
        ]
    )
    fig.update_xaxes(title="network depth (layer)", tickmode="array", tickvals=list(range(1, layers + 1)))
    fig.update_yaxes(title="mean attention distance (pixels)", range=[0, image_px * 0.75])
    fig.update_layout(title=title, height=380, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def token_matrix(matrix: np.ndarray, labels: Sequence[str], title: str | None = None, max_ticks: int = 40) -> go.Figure:
    """viz.heatmaps.attention_heatmap for a ViT's tokens, with every k-th tick labelled when there are many."""
    from viz.heatmaps import attention_heatmap

    n = len(labels)
    fig = attention_heatmap(matrix, labels, labels, title=title, height=min(900, max(420, 60 + 8 * n)))
    if n > max_ticks:
        step = math.ceil(n / max_ticks)
        ticks = list(range(0, n, step))
        fig.update_xaxes(tickvals=ticks, ticktext=[labels[i] for i in ticks], tickangle=-90)
        fig.update_yaxes(tickvals=ticks, ticktext=[labels[i] for i in ticks])
        fig.update_layout(margin=dict(t=150))  # room for the upright key labels under the title
    return fig


def top_k_bars(top_k: Sequence[tuple[str, float]], title: str | None = None) -> go.Figure:
    """Horizontal bars of (class name, probability), best on top.

    Bars sit on numeric positions with the names as tick text: ImageNet has two classes called "crane",
    and a categorical axis would merge them into one bar.
    """
    names = [n if len(n) <= 40 else n[:39] + "…" for n, _ in top_k]
    probs = [p for _, p in top_k]
    fig = go.Figure(
        go.Bar(
            x=probs,
            y=list(range(len(top_k))),
            orientation="h",
            text=[f"{p:.1%}" for p in probs],
            textposition="auto",
            customdata=[n for n, _ in top_k],
            hovertemplate="%{customdata}<br>p = %{x:.4f}<extra></extra>",
            marker_color="#3b6fb6",
        )
    )
    fig.update_xaxes(range=[0, 1], title="probability", tickformat=".0%")
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(top_k))), ticktext=names, autorange="reversed")
    fig.update_layout(title=title, height=60 + 36 * max(1, len(top_k)), margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig
