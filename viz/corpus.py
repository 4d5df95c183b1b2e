"""Figures of the corpus page (views/corpus.py), built from plain data: arrays of per-head numbers, never a model.

- `stat_grid`: a statistic's corpus mean per layer (rows, from 1) and head (columns, from 1), the picked cell
  outlined; one invisible marker per cell (a Scatter, which Streamlit can select) carries (layer, head, value) as
  customdata, so a click picks that head (ui.clicks).
- `head_map`: the heads placed in 2-D by multidimensional scaling of their Jensen–Shannon distances (Clark et al.,
  2019, Fig. 6), coloured by layer; customdata (layer, head).
- `profile_bars` / `profile_grid`: a head's mean weight by relative position (text: offsets −R…R in tokens;
  images: patch offsets (dy, dx) ∈ [−R, R]², (0, 0) the query patch).
- `distance_depth`: each head's corpus mean of the mean attention distance against its layer, with the spread (std
  over the corpus) as error bars (Dosovitskiy et al., 2021, Fig. 7).

Layers and heads count from 1 in everything drawn and sent. Words come in translated (ui.i18n).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ui.i18n import _
from viz import fast

OUTLINE = "#e4572e"
SCALE = "Viridis"
LAYER_SCALE = "Turbo"


def _title(title: str | None) -> dict:
    return {"title": dict(text=title)} if title else {}


def _figure(data: list[dict], layout: dict) -> go.Figure:
    layout = {k: v for k, v in layout.items() if v or k not in ("shapes", "annotations")}
    return fast.figure(data, layout)


def stat_grid(values: np.ndarray, selected: tuple[int, int] | None = None, title: str | None = None,
              colorbar: str = "", value_format: str = ".3f") -> go.Figure:
    """values (layers, heads): the corpus mean of one statistic (NaN where a layer has fewer heads: Swin).
    `selected` (layer, head) counts from 1. Row 1 (the first layer) is at the top."""
    v = np.asarray(values, dtype=np.float64)
    layers, heads = v.shape
    ll, hh = np.meshgrid(np.arange(1, layers + 1), np.arange(1, heads + 1), indexing="ij")
    ok = ~np.isnan(v)
    custom = np.stack([ll[ok], hh[ok], v[ok]], axis=-1)
    data = [
        dict(type="heatmap", z=fast.array(v, np.float64), x=fast.array(np.arange(1, heads + 1), np.int32),
             y=fast.array(np.arange(1, layers + 1), np.int32), colorscale=fast.colorscale(SCALE), hoverinfo="skip",
             colorbar=dict(title=dict(text=colorbar)), xgap=1, ygap=1),
        dict(type="scatter", x=fast.array(hh[ok], np.int32), y=fast.array(ll[ok], np.int32), mode="markers",
             marker=dict(size=max(8, min(40, 600 // max(layers, heads))), symbol="square", opacity=0.0),
             customdata=fast.array(custom, np.float64), showlegend=False, name="cells",
             hovertemplate=_("layer %{customdata[0]}, head %{customdata[1]}") + "<br>%{customdata[2]:"
             + value_format + "}<extra></extra>"),
    ]
    shapes = []
    if selected is not None:
        layer, head = selected
        shapes.append(dict(type="rect", x0=head - 0.5, x1=head + 0.5, y0=layer - 0.5, y1=layer + 0.5,
                           line=dict(color=OUTLINE, width=3)))
    layout = dict(
        **_title(title),
        height=min(900, 140 + layers * max(22, min(44, 600 // max(layers, 1)))),
        margin=dict(l=70, r=10, t=60 if title else 30, b=50),
        xaxis=dict(title=dict(text=_("head (from 1)")), tickmode="array", tickvals=list(range(1, heads + 1)),
                   showgrid=False, zeroline=False, range=[0.5, heads + 0.5]),
        yaxis=dict(title=dict(text=_("layer (from 1)")), tickmode="array", tickvals=list(range(1, layers + 1)),
                   showgrid=False, zeroline=False, range=[layers + 0.5, 0.5]),
        shapes=shapes, clickmode="event+select", dragmode=False,
    )
    return _figure(data, layout)


def head_map(heads: Sequence[Sequence[int]], xy: np.ndarray, selected: tuple[int, int] | None = None,
             title: str | None = None) -> go.Figure:
    """heads: [[layer, head], …] from 1; xy (heads, 2): their MDS positions. Colour: layer."""
    hl = np.asarray(heads, dtype=np.int64).reshape(-1, 2)
    p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    layers = int(hl[:, 0].max()) if len(hl) else 1
    data = [dict(
        type="scatter", x=fast.array(p[:, 0], np.float64), y=fast.array(p[:, 1], np.float64), mode="markers",
        marker=dict(size=11, color=fast.array(hl[:, 0], np.float64), colorscale=fast.colorscale(LAYER_SCALE),
                    cmin=1, cmax=max(layers, 2), line=dict(width=0.5, color="white"),
                    colorbar=dict(title=dict(text=_("layer")), tickmode="array",
                                  tickvals=list(range(1, layers + 1)))),
        customdata=fast.array(hl, np.float64), showlegend=False, name="heads",
        hovertemplate=_("layer %{customdata[0]}, head %{customdata[1]}") + "<extra></extra>",
    )]
    if selected is not None:
        hit = np.flatnonzero((hl[:, 0] == selected[0]) & (hl[:, 1] == selected[1]))
        if len(hit):
            k = int(hit[0])
            data.append(dict(type="scatter", x=[float(p[k, 0])], y=[float(p[k, 1])], mode="markers",
                             marker=dict(size=22, color="rgba(0,0,0,0)", line=dict(width=3, color=OUTLINE)),
                             customdata=[[int(hl[k, 0]), int(hl[k, 1])]], showlegend=False, name="picked",
                             hovertemplate=_("layer %{customdata[0]}, head %{customdata[1]}") + "<extra></extra>"))
    layout = dict(
        **_title(title), height=520, margin=dict(l=40, r=10, t=60 if title else 30, b=40),
        xaxis=dict(showticklabels=False, zeroline=False, title=dict(text=_("MDS dimension 1"))),
        yaxis=dict(showticklabels=False, zeroline=False, title=dict(text=_("MDS dimension 2")), scaleanchor="x",
                   scaleratio=1),
        clickmode="event+select", dragmode=False,
    )
    return _figure(data, layout)


def profile_bars(profile: Sequence[float], title: str | None = None) -> go.Figure:
    """A text head's mean weight at relative positions −R…R (key position − query position, in tokens)."""
    v = np.asarray(profile, dtype=np.float64)
    r = (len(v) - 1) // 2
    offsets = np.arange(-r, r + 1)
    colours = ["#e4572e" if o == 0 else "#1f77b4" for o in offsets]
    data = [dict(type="bar", x=fast.array(offsets, np.int32), y=fast.array(np.nan_to_num(v), np.float64),
                 marker=dict(color=colours), showlegend=False,
                 hovertemplate=_("offset %{x}: mean weight %{y:.4f}") + "<extra></extra>")]
    layout = dict(
        **_title(title), height=320, margin=dict(l=60, r=10, t=60 if title else 30, b=50),
        xaxis=dict(title=dict(text=_("key position − query position (tokens)")), tickmode="array",
                   tickvals=list(range(-r, r + 1)), zeroline=False),
        yaxis=dict(title=dict(text=_("mean weight")), rangemode="tozero"),
        bargap=0.15,
    )
    return _figure(data, layout)


def profile_grid(profile: Sequence[float], title: str | None = None) -> go.Figure:
    """An image head's mean weight at patch offsets (dy, dx) ∈ [−R, R]² (row by row, dy first); (0, 0) is the query
    patch, outlined; right and down are positive."""
    v = np.asarray(profile, dtype=np.float64)
    side = int(round(np.sqrt(len(v))))
    r = (side - 1) // 2
    z = v.reshape(side, side)
    offs = np.arange(-r, r + 1)
    data = [dict(type="heatmap", z=fast.array(z, np.float64), x=fast.array(offs, np.int32),
                 y=fast.array(offs, np.int32), colorscale=fast.colorscale(SCALE),
                 colorbar=dict(title=dict(text=_("mean weight"))),
                 hovertemplate=_("dx %{x}, dy %{y}: mean weight %{z:.4f}") + "<extra></extra>")]
    shapes = [dict(type="rect", x0=-0.5, x1=0.5, y0=-0.5, y1=0.5, line=dict(color=OUTLINE, width=3))]
    layout = dict(
        **_title(title), height=380, margin=dict(l=60, r=10, t=60 if title else 30, b=50),
        xaxis=dict(title=dict(text=_("dx: key patch column − query patch column")), tickmode="array",
                   tickvals=list(offs), zeroline=False, constrain="domain"),
        yaxis=dict(title=dict(text=_("dy: key patch row − query patch row")), tickmode="array", tickvals=list(offs),
                   zeroline=False, autorange="reversed", scaleanchor="x", scaleratio=1),
        shapes=shapes,
    )
    return _figure(data, layout)


def distance_depth(mean: np.ndarray, std: np.ndarray, unit: str, selected: tuple[int, int] | None = None,
                   title: str | None = None) -> go.Figure:
    """mean, std (layers, heads): each head's corpus mean of the mean attention distance and its standard deviation
    over the corpus (NaN where a layer has no such head). One dot per head at its layer (spread a little sideways so
    the error bars do not hide one another), the picked head outlined. `unit`: the y axis's title."""
    m = np.asarray(mean, dtype=np.float64)
    s = np.asarray(std, dtype=np.float64)
    layers, heads = m.shape
    ll, hh = np.meshgrid(np.arange(1, layers + 1), np.arange(1, heads + 1), indexing="ij")
    ok = ~np.isnan(m)
    spread = 0.5 / max(heads, 1)
    x = ll + (hh - (heads + 1) / 2) * spread
    custom = np.stack([ll[ok], hh[ok], m[ok], np.nan_to_num(s[ok])], axis=-1)
    data = [dict(
        type="scatter", x=fast.array(x[ok], np.float64), y=fast.array(m[ok], np.float64), mode="markers",
        marker=dict(size=8, color=fast.array(hh[ok], np.float64), colorscale=fast.colorscale(LAYER_SCALE),
                    cmin=1, cmax=max(heads, 2), colorbar=dict(title=dict(text=_("head")), tickmode="array",
                                                              tickvals=list(range(1, heads + 1)))),
        error_y=dict(type="data", array=fast.array(np.nan_to_num(s[ok]), np.float64), visible=True, thickness=1,
                     width=0, color="rgba(80,80,80,0.45)"),
        customdata=fast.array(custom, np.float64), showlegend=False, name="heads",
        hovertemplate=_("layer %{customdata[0]}, head %{customdata[1]}") + "<br>"
        + _("mean %{customdata[2]:.2f}, std %{customdata[3]:.2f}") + "<extra></extra>",
    )]
    if selected is not None and 1 <= selected[0] <= layers and 1 <= selected[1] <= heads \
            and ok[selected[0] - 1, selected[1] - 1]:
        i, j = selected[0] - 1, selected[1] - 1
        data.append(dict(type="scatter", x=[float(x[i, j])], y=[float(m[i, j])], mode="markers",
                         marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=2.5, color=OUTLINE)),
                         showlegend=False, hoverinfo="skip"))
    layout = dict(
        **_title(title), height=420, margin=dict(l=70, r=10, t=60 if title else 30, b=50),
        xaxis=dict(title=dict(text=_("layer (from 1)")), tickmode="array", tickvals=list(range(1, layers + 1)),
                   range=[0.4, layers + 0.6], zeroline=False),
        yaxis=dict(title=dict(text=unit), rangemode="tozero"),
    )
    return _figure(data, layout)
