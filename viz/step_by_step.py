"""Figures for one head's arithmetic: any labelled matrix as a heatmap, with its shape in the title.

Pure builders: numpy arrays and labels in, Plotly figures out. Token × token attention weights reuse
viz.heatmaps.attention_heatmap; every other intermediate (X, W_Q, Q, Q Kᵀ, ...) goes through
`matrix_heatmap`, which centres a diverging colour scale on 0 and shows masked (−∞) cells as dark grey
cells marked "−∞".
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.heatmaps import attention_heatmap

VALUE_SCALE = "RdBu_r"  # negative blue, positive red, 0 white
MASKED_COLOUR = "#3a3a3a"
HIGHLIGHT = "#f28e2b"
MASK_SCALE = [[0.0, MASKED_COLOUR], [0.5, MASKED_COLOUR], [0.5, "#e8f1fa"], [1.0, "#e8f1fa"]]
MAX_MARKED = 900  # above this many −∞ cells, only the colour (and hover) says so
MAX_LABELLED = 40_000  # cells whose hover names both labels
MAX_TICKS = 48  # above this many rows (columns), ticks are plain numbers


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


def highlight_row(fig: go.Figure, row: int, n_cols: int, colour: str = HIGHLIGHT) -> go.Figure:
    """Draws a box around row `row` of a heatmap with numeric axes (cells centred on integers)."""
    fig.add_shape(
        type="rect", x0=-0.5, x1=n_cols - 0.5, y0=row - 0.5, y1=row + 0.5,
        line=dict(color=colour, width=2.5), fillcolor="rgba(0,0,0,0)", layer="above",
    )
    return fig


def highlight_columns(fig: go.Figure, start: int, stop: int, n_rows: int, colour: str = HIGHLIGHT) -> go.Figure:
    """Draws a box around columns start..stop−1 of a heatmap with numeric axes (one head's slice of Concat)."""
    fig.add_shape(
        type="rect", x0=start - 0.5, x1=stop - 0.5, y0=-0.5, y1=n_rows - 0.5,
        line=dict(color=colour, width=2.5, dash="dot"), fillcolor="rgba(0,0,0,0)", layer="above",
    )
    return fig


def _axes(fig: go.Figure, row_labels, col_labels, row_name: str, col_name: str) -> None:
    """Numeric axes, cells centred on integers, filling the plot exactly; tick text from the labels when they
    are given and few enough to read (hover always names them)."""
    n_r, n_c = len(fig.data[0].y), len(fig.data[0].x)
    for is_x, labels, n, name in ((True, col_labels, n_c, col_name), (False, row_labels, n_r, row_name)):
        named = labels is not None and n <= MAX_TICKS
        settings = dict(
            tickmode="array" if named else "auto", tickvals=list(range(n)) if named else None,
            ticktext=_labels(labels, n, name) if named else None, title=dict(text=name, standoff=4), showgrid=False,
            zeroline=False, range=[-0.5, n - 0.5] if is_x else [n - 0.5, -0.5],
        )
        if is_x:
            fig.update_xaxes(side="top", tickangle=0, **settings)
        else:
            fig.update_yaxes(**settings)


def _hover_names(labels: Sequence[str] | None, n: int, name: str) -> np.ndarray:
    """ "query 3: n" when labels are given, "head dim 3" when the index is all there is."""
    if labels is None:
        return np.asarray([f"{name} {i}" for i in range(n)], dtype=object)
    return np.asarray([f"{name} {i}: {t}" for i, t in enumerate(_labels(labels, n, name))], dtype=object)


def _height(n_rows: int) -> int:
    return int(max(320, min(760, 130 + 20 * n_rows)))


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
) -> go.Figure:
    """A labelled (rows, cols) matrix: shape in the title, hover with both labels and the value.

    Entries equal to −∞ (the masked scores) are drawn dark grey and marked "−∞"; the colour scale is
    symmetric about 0 over the finite entries. `highlight` boxes one row (the chosen query token).
    Axes are numeric, labels are tick text, so repeated tokens keep their own rows.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        z = z[None, :]
    n_r, n_c = z.shape
    neg_inf = np.isneginf(z)
    finite = z[np.isfinite(z)]
    bound = max(float(np.abs(finite).max(initial=0.0)), 1e-6)
    shown = np.where(neg_inf, np.nan, z).astype(np.float32)
    where = f"{row_name} %{{y}}<br>{col_name} %{{x}}"
    custom, value = None, "%{z:.5g}"
    if n_r * n_c <= MAX_LABELLED:  # hover names both labels; above this the per-cell labels would weigh megabytes
        custom = np.empty((n_r, n_c, 3), dtype=object)
        custom[:, :, 0] = _hover_names(row_labels, n_r, row_name)[:, None]
        custom[:, :, 1] = _hover_names(col_labels, n_c, col_name)[None, :]
        custom[:, :, 2] = np.where(neg_inf, "−∞", np.char.mod("%.5g", z)) if neg_inf.any() else ""
        where = "%{customdata[0]}<br>%{customdata[1]}"
        if neg_inf.any():
            value = "%{customdata[2]}"
        else:
            custom = custom[:, :, :2]
    fig = go.Figure(
        go.Heatmap(
            z=shown, x=np.arange(n_c), y=np.arange(n_r), customdata=custom,
            colorscale=colorscale, zmid=0.0, zmin=-bound, zmax=bound, hoverongaps=True,
            hovertemplate=f"{where}<br>value {value}<extra></extra>",
            colorbar=dict(thickness=12),
        )
    )
    if neg_inf.any() and neg_inf.sum() <= MAX_MARKED:
        ys, xs = np.nonzero(neg_inf)
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="text", text=["−∞"] * len(xs), textfont=dict(color="white", size=10),
                hoverinfo="skip", showlegend=False,
            )
        )
    _axes(fig, row_labels, col_labels, row_name, col_name)
    fig.update_layout(
        title=dict(text=f"{escape(title)}  ({shape_text(z.shape)})", y=0.99, yanchor="top"), height=height or _height(n_r),
        plot_bgcolor=MASKED_COLOUR if neg_inf.any() else "white", margin=dict(l=10, r=10, t=100, b=10),
    )
    if highlight is not None:
        highlight_row(fig, highlight, n_c)
    return fig


def mask_heatmap(
    mask: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], title: str, highlight: int | None = None
) -> go.Figure:
    """The additive mask: 0 where a query may attend to a key (light), −∞ where it may not (dark, marked)."""
    mask = np.asarray(mask, dtype=bool)
    n_q, n_k = mask.shape
    ql, kl = _labels(query_labels, n_q, "query"), _labels(key_labels, n_k, "key")
    custom = np.empty((n_q, n_k, 3), dtype=object)
    custom[:, :, 0] = np.asarray(ql, dtype=object)[:, None]
    custom[:, :, 1] = np.asarray(kl, dtype=object)[None, :]
    custom[:, :, 2] = np.where(mask, "0 (may attend)", "−∞ (masked)")
    fig = go.Figure(
        go.Heatmap(
            z=mask.astype(float), x=np.arange(n_k), y=np.arange(n_q), customdata=custom, colorscale=MASK_SCALE,
            zmin=0, zmax=1, showscale=False, xgap=1, ygap=1,
            hovertemplate="query %{y}: %{customdata[0]}<br>key %{x}: %{customdata[1]}<br>%{customdata[2]}<extra></extra>",
        )
    )
    ys, xs = np.nonzero(~mask)
    if 0 < len(xs) <= MAX_MARKED:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="text", text=["−∞"] * len(xs),
                                 textfont=dict(color="white", size=10), hoverinfo="skip", showlegend=False))
    _axes(fig, query_labels, key_labels, "query", "key")
    fig.update_layout(title=dict(text=f"{escape(title)}  ({shape_text(mask.shape)})", y=0.99, yanchor="top"),
                      height=_height(n_q), margin=dict(l=10, r=10, t=100, b=10))
    if highlight is not None:
        highlight_row(fig, highlight, n_k)
    return fig


def weights_heatmap(
    weights: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], title: str, highlight: int | None = None
) -> go.Figure:
    """softmax output: viz.heatmaps.attention_heatmap with the shape in the title and the query row boxed."""
    weights = np.asarray(weights, dtype=np.float32)
    n_q, n_k = weights.shape
    fig = attention_heatmap(weights, _labels(query_labels, n_q, "query"), _labels(key_labels, n_k, "key"),
                            title=f"{escape(title)}  ({shape_text(weights.shape)})",
                            height=_height(weights.shape[0]))
    if n_q > MAX_TICKS:
        fig.update_yaxes(tickmode="auto", tickvals=None, ticktext=None)
    if n_k > MAX_TICKS:
        fig.update_xaxes(tickmode="auto", tickvals=None, ticktext=None)
    fig.update_layout(title=dict(y=0.99, yanchor="top"), margin=dict(t=100))
    if highlight is not None:
        highlight_row(fig, highlight, weights.shape[1])
    return fig


def query_row_bars(
    values: np.ndarray, key_labels: Sequence[str], title: str, value_name: str = "value"
) -> go.Figure:
    """One query's row (scores or weights) as bars over the keys; −∞ entries drawn as absent and named."""
    values = np.asarray(values, dtype=np.float64)
    labels = _labels(key_labels, values.shape[0], "key")
    masked = np.isneginf(values)
    shown = np.where(masked, np.nan, values)
    text = ["−∞" if m else "" for m in masked]
    fig = go.Figure(
        go.Bar(
            x=np.arange(len(values)), y=shown, text=text, textposition="outside", marker_color="#2b6cb0",
            customdata=np.asarray(labels, dtype=object),
            hovertemplate="key %{x}: %{customdata}<br>" + value_name + " %{y:.5g}<extra></extra>",
        )
    )
    few = len(values) <= 60
    fig.update_xaxes(tickmode="array" if few else "auto", tickvals=list(range(len(values))) if few else None,
                     ticktext=labels if few else None, title="key", tickangle=0)
    fig.update_yaxes(title=value_name)
    fig.update_layout(title=escape(title), height=260, margin=dict(l=10, r=10, t=50, b=10))
    return fig
