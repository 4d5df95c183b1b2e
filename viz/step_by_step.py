"""Figures for one head's arithmetic: any labelled matrix as a heatmap, with its shape in the title.

Pure builders: numpy arrays and labels in, Plotly figures out, written as plain dicts (viz.fast: no per-property
validation at build time; the tests validate every builder's output). Token × token attention weights and every
other intermediate (X, W_Q, Q, Q Kᵀ, ...) go through `matrix_heatmap`, which centres a diverging colour scale on
0 and shows masked (−∞) cells as dark grey cells marked "−∞". Rows and columns are indices from 0 (token
positions, dimensions); hover names the token where there is one.

Every word of a figure is in the reader's language (ui.i18n): callers pass translated titles and axis names, and
the words added here go through `_()`. Figures are cached per language (ui.common.cached_figure).
"""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ui.i18n import _
from viz import fast

VALUE_SCALE = "RdBu_r"  # negative blue, positive red, 0 white
WEIGHT_SCALE = "Blues"
MASKED_COLOUR = "#3a3a3a"
HIGHLIGHT = "#f28e2b"
MASK_SCALE = [[0.0, MASKED_COLOUR], [0.5, MASKED_COLOUR], [0.5, "#e8f1fa"], [1.0, "#e8f1fa"]]
MAX_MARKED = 900  # above this many −∞ cells, only the colour (and hover) says so
MAX_LABELLED = 12_000  # cells whose hover names both tokens; above, hover gives the indices (lighter to send)
MAX_TICKS = 40  # above this many rows (columns), ticks are plain indices
FONT = dict(size=13)  # projector-readable: no text under 12 px
TICK = dict(size=12)


def escape(text: str) -> str:
    """Plotly reads text as HTML-like markup: "<s>" would open a strike-through; "&lt;s&gt;" shows as <s>."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shape_text(shape: Sequence[int]) -> str:
    """(12, 32) -> '12 × 32'."""
    return " × ".join(str(int(s)) for s in shape)


def _labels(labels: Sequence[str] | None, n: int, name: str) -> list[str]:
    if labels is None:
        return [f"{name} {i}" for i in range(n)]
    labels = [escape(t) for t in labels]
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} {name}s")
    return labels


def _box(x0: float, x1: float, y0: float, y1: float, dash: str = "solid") -> dict:
    return dict(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color=HIGHLIGHT, width=2.5, dash=dash),
                fillcolor="rgba(0,0,0,0)", layer="above")


def highlight_row(fig: go.Figure, row: int, n_cols: int) -> go.Figure:
    """Draws a box around row `row` of a heatmap with numeric axes (cells centred on integers)."""
    fig.add_shape(**_box(-0.5, n_cols - 0.5, row - 0.5, row + 0.5))
    return fig


def highlight_columns(fig: go.Figure, start: int, stop: int, n_rows: int) -> go.Figure:
    """Draws a box around columns start..stop−1 of a heatmap with numeric axes (one head's slice of Concat)."""
    fig.add_shape(**_box(start - 0.5, stop - 0.5, -0.5, n_rows - 0.5, dash="dot"))
    return fig


def _axis(labels, n: int, name: str, is_x: bool) -> dict:
    """Numeric axis, cells centred on integers, filling the plot exactly; tick text "i: token" when labels are
    given and few enough to read, else the plain index (hover names the token)."""
    named = labels is not None and n <= MAX_TICKS
    axis = dict(showgrid=False, zeroline=False, tickfont=TICK,
                title=dict(text=_("{name} (index from 0)").format(name=name), standoff=4),
                range=[-0.5, n - 0.5] if is_x else [n - 0.5, -0.5], automargin=False)
    if named:
        axis.update(tickmode="array", tickvals=list(range(n)), ticktext=_labels(labels, n, name))
    if is_x:
        axis.update(side="top", tickangle=0 if not named or n <= 16 else -90)
    return axis


def _hover_names(labels: Sequence[str] | None, n: int, name: str) -> list[str]:
    """ "query 3: n" when labels are given, "head dim 3" when the index is all there is."""
    if labels is None:
        return [f"{name} {i}" for i in range(n)]
    return [f"{name} {i}: {t}" for i, t in enumerate(_labels(labels, n, name))]


def _height(n_rows: int, labelled: bool = True) -> int:
    """20 px a row when rows carry token labels (12 px text needs the room); rows that are dimensions, named only
    by their index, get 3 px each: a 128-row weight matrix needs no 760 px, and every pixel is rasterised again
    in the browser when the head changes."""
    per_row = 20 if labelled else 3
    return int(max(340, min(760, 150 + per_row * n_rows)))


def _text_px(text: str) -> float:
    """About how wide a label is at 12 px: ~7 px a character, ~12 px a wide (CJK) one."""
    return sum(12.0 if unicodedata.east_asian_width(ch) in "WF" else 7.0 for ch in str(text))


def _tick_px(axis: dict) -> float:
    """The longest tick label of an axis, in px (its tick text, or the largest index)."""
    texts = axis.get("ticktext") or [str(int(axis["range"][1] + 0.5)) if "range" in axis else "000"]
    return max((_text_px(t) for t in texts), default=0.0)


def _margins(row_axis: dict, col_axis: dict) -> dict:
    """Room for the labels, worked out here instead of by Plotly's automargin: automargin measures every label in
    the browser and lays the chart out again, most of a view change's cost in Chromium (profiled). Labels are
    at least 12 px (TICK) and the axis titles sit beside them."""
    left = 10 + 20 + 6 + _tick_px(row_axis)  # pad, axis title, standoff, tick labels
    rotated = col_axis.get("tickangle") not in (0, None)
    tick_h = _tick_px(col_axis) if rotated else 16
    top = 34 + 22 + 6 + tick_h  # figure title, axis title, standoff, tick labels (above the plot: side "top")
    return dict(l=int(left), r=10, t=int(top), b=10)


def _layout(title: str, shape, height: int, row_axis: dict, col_axis: dict, **extra) -> dict:
    if not extra.get("shapes", True):
        del extra["shapes"]
    margin = _margins(row_axis, col_axis)
    return dict(
        title=dict(text=f"{escape(title)}  ({shape_text(shape)})", y=0.995, yanchor="top", x=0.0, xanchor="left",
                   font=dict(size=15)),
        height=height + max(0, margin["t"] - 110), font=FONT, xaxis=col_axis, yaxis=row_axis, margin=margin, **extra,
    )


def matrix_heatmap(
    z: np.ndarray,
    title: str,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    row_name: str = "row",
    col_name: str = "col",
    highlight: int | None = None,
    colorscale: str = VALUE_SCALE,
    height: int | None = None,
    zmin: float | None = None,
) -> go.Figure:
    """A labelled (rows, cols) matrix: shape in the title, hover with both labels and the value.

    Entries equal to −∞ (the masked scores) are drawn dark grey and marked "−∞"; the colour scale is
    symmetric about 0 over the finite entries (or runs from `zmin` to the largest entry when zmin is given,
    as for attention weights). `highlight` boxes one row (the chosen query token).
    Axes are numeric, labels are tick text, so repeated tokens keep their own rows.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        z = z[None, :]
    n_r, n_c = z.shape
    neg_inf = np.isneginf(z)
    finite = z[np.isfinite(z)]
    if zmin is None:
        bound = max(float(np.abs(finite).max(initial=0.0)), 1e-6)
        scale = dict(zmid=0.0, zmin=-bound, zmax=bound)
    else:
        scale = dict(zmin=zmin, zmax=max(float(finite.max(initial=zmin)), zmin + 1e-6))
    shown = fast.array(np.where(neg_inf, np.nan, z))
    trace = dict(type="heatmap", z=shown, x=np.arange(n_c, dtype=np.int32), y=np.arange(n_r, dtype=np.int32),
                 colorscale=fast.colorscale(colorscale), hoverongaps=True, colorbar=dict(thickness=12, tickfont=TICK),
                 **scale)
    # Hover names the tokens; an axis without labels (dimensions) is named by its index, with no per-cell data.
    labelled = (row_labels is not None or col_labels is not None) and n_r * n_c <= MAX_LABELLED
    custom = None
    if labelled or neg_inf.any():
        rows = _hover_names(row_labels, n_r, row_name) if row_labels is not None else None
        cols = _hover_names(col_labels, n_c, col_name) if col_labels is not None else None
        marks = np.where(neg_inf, "−∞", np.char.mod("%.5g", z)).tolist() if neg_inf.any() else None
        parts = []
        if rows is not None:
            parts.append(lambda r, c: rows[r])
        if cols is not None:
            parts.append(lambda r, c: cols[c])
        if marks is not None:
            parts.append(lambda r, c: marks[r][c])
        custom = [[tuple(f(r, c) for f in parts) for c in range(n_c)] for r in range(n_r)]
        names, i = [], 0
        for given, name, ax in ((rows, row_name, "y"), (cols, col_name, "x")):
            if given is not None:
                names.append(f"%{{customdata[{i}]}}")
                i += 1
            else:
                names.append(f"{name} %{{{ax}}}")
        value = f"%{{customdata[{i}]}}" if marks is not None else "%{z:.5g}"
        trace["hovertemplate"] = _("{row}<br>{col}<br>value {value}").format(row=names[0], col=names[1],
                                                                             value=value) + "<extra></extra>"
    else:
        trace["hovertemplate"] = _("{row}<br>{col}<br>value {value}").format(
            row=f"{row_name} %{{y}}", col=f"{col_name} %{{x}}", value="%{z:.5g}") + "<extra></extra>"
    data = [trace]
    if neg_inf.any() and neg_inf.sum() <= MAX_MARKED:
        ys, xs = np.nonzero(neg_inf)
        data.append(dict(type="scatter", x=xs.astype(np.int32), y=ys.astype(np.int32), mode="text",
                         text=["−∞"] * len(xs), textfont=dict(color="white", size=12), hoverinfo="skip",
                         showlegend=False))
    shapes = [_box(-0.5, n_c - 0.5, highlight - 0.5, highlight + 0.5)] if highlight is not None else []
    layout = _layout(title, z.shape, height or _height(n_r, row_labels is not None),
                     _axis(row_labels, n_r, row_name, False),
                     _axis(col_labels, n_c, col_name, True), shapes=shapes,
                     plot_bgcolor=MASKED_COLOUR if neg_inf.any() else "white")
    fig = fast.figure(data, layout)
    if custom is not None:  # set after construction: the constructor would deep-copy every cell
        fig.data[0].customdata = custom
    return fig


def mask_heatmap(
    mask: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], title: str, highlight: int | None = None
) -> go.Figure:
    """The additive mask: 0 where a query may attend to a key (light), −∞ where it may not (dark, marked)."""
    mask = np.asarray(mask, dtype=bool)
    n_q, n_k = mask.shape
    query, key = _("query"), _("key")
    ql, kl = _hover_names(query_labels, n_q, query), _hover_names(key_labels, n_k, key)
    what = np.where(mask, _("0 (may attend)"), _("−∞ (masked)")).tolist()
    trace = dict(type="heatmap", z=fast.array(mask), x=np.arange(n_k, dtype=np.int32),
                 y=np.arange(n_q, dtype=np.int32), colorscale=fast.colorscale(MASK_SCALE), zmin=0, zmax=1,
                 showscale=False, xgap=1, ygap=1,
                 hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>%{customdata[2]}<extra></extra>")
    data = [trace]
    ys, xs = np.nonzero(~mask)
    if 0 < len(xs) <= MAX_MARKED:
        data.append(dict(type="scatter", x=xs.astype(np.int32), y=ys.astype(np.int32), mode="text",
                         text=["−∞"] * len(xs), textfont=dict(color="white", size=12), hoverinfo="skip",
                         showlegend=False))
    shapes = [_box(-0.5, n_k - 0.5, highlight - 0.5, highlight + 0.5)] if highlight is not None else []
    layout = _layout(title, mask.shape, _height(n_q), _axis(query_labels, n_q, query, False),
                     _axis(key_labels, n_k, key, True), shapes=shapes)
    fig = fast.figure(data, layout)
    fig.data[0].customdata = [[(q, k, w) for k, w in zip(kl, row)] for q, row in zip(ql, what)]
    return fig


def weights_heatmap(
    weights: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], title: str,
    highlight: int | None = None,
) -> go.Figure:
    """The softmax output: weights from 0 (white) to the largest (dark blue), the query row boxed."""
    return matrix_heatmap(weights, title, query_labels, key_labels, _("query"), _("key"), highlight=highlight,
                          colorscale=WEIGHT_SCALE, zmin=0.0)


def query_row_bars(
    values: np.ndarray, key_labels: Sequence[str], title: str, value_name: str = "value"
) -> go.Figure:
    """One query's row (scores or weights) as bars over the keys; −∞ entries drawn as absent and named."""
    values = np.asarray(values, dtype=np.float64)
    labels = _labels(key_labels, values.shape[0], _("key"))
    masked = np.isneginf(values)
    shown = fast.array(np.where(masked, np.nan, values), np.float64)
    few = len(values) <= MAX_TICKS
    trace = dict(type="bar", x=np.arange(len(values), dtype=np.int32), y=shown,
                 text=["−∞" if m else "" for m in masked], textposition="outside", textfont=dict(size=12),
                 marker=dict(color="#2b6cb0"), customdata=labels,
                 hovertemplate=_("key %{x}: %{customdata}<br>{value_name} %{y:.5g}").replace(
                     "{value_name}", value_name) + "<extra></extra>")
    xaxis = dict(title=dict(text=_("{name} (index from 0)").format(name=_("key"))), tickfont=TICK, automargin=True,
                 tickangle=0 if len(values) <= 16 else -90)
    if few:
        xaxis.update(tickmode="array", tickvals=list(range(len(values))), ticktext=labels)
    layout = dict(title=dict(text=escape(title), x=0.0, xanchor="left", font=dict(size=15)), height=300, font=FONT,
                  xaxis=xaxis, yaxis=dict(title=dict(text=value_name), tickfont=TICK, automargin=True),
                  margin=dict(l=10, r=10, t=50, b=10))
    return fast.figure([trace], layout)
