"""Attention matrices as heatmaps."""
from __future__ import annotations

import html
import unicodedata
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ui.i18n import N_, _
from viz import fast

ATTENTION_SCALE = "Blues"
HOVER = N_("query %{y}: %{customdata[0]}<br>key %{x}: %{customdata[1]}<br>weight %{z:.4f}<extra></extra>")


colorscale_of = fast.colorscale  # the explicit list validation would send (Plotly.js draws its own "Blues")

TICK_FONT = 12  # px: no tick label smaller, so that a projected figure stays readable
TICK_GAP = 6  # px between two tick labels
RUN_TOKENS = ("<pad>", "&lt;pad&gt;")  # a run of these gets one label, "<pad> ×N", in its middle


def text_width(label: str, font: float = TICK_FONT) -> float:
    """An upper estimate of a label's width in px: wide (CJK) characters 1 em, others 0.62 em."""
    label = html.unescape(str(label))
    return font * sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.62 for c in label)


def tick_labels(labels: Sequence[str], room_px: float, along: str = "x", font: float = TICK_FONT,
                gap: float = TICK_GAP) -> tuple[list[int], list[str]]:
    """Which positions of a token axis get a tick label, and its text, so that no two labels overlap.

    room_px: the axis length on screen (an estimate on the small side). A run of <pad> tokens gets one label in
    its middle ("<pad> ×36") instead of 36 smeared ones; the rest are kept left to right when there is room for
    them beside the last kept one (along "x": their widths; along "y": one line each). Hover still names every
    position, so a left-out label loses nothing.
    """
    labels = [str(t) for t in labels]
    n = len(labels)
    items, i = [], 0
    while i < n:
        j = i
        while labels[i] in RUN_TOKENS and j + 1 < n and labels[j + 1] == labels[i]:
            j += 1
        items.append(((i + j) // 2, labels[i] if j == i else f"{labels[i]} ×{j - i + 1}"))
        i = j + 1
    cell = room_px / max(n, 1)
    size = (lambda t: text_width(t, font)) if along == "x" else (lambda t: font * 1.3)
    kept: list[tuple[int, str]] = []
    for pos, label in items:
        if not kept or (pos - kept[-1][0]) * cell >= (size(kept[-1][1]) + size(label)) / 2 + gap:
            kept.append((pos, label))
    return [p for p, _ in kept], [t for _, t in kept]


def token_pairs(query_labels: Sequence[str], key_labels: Sequence[str]) -> list:
    """(Q, K, 2) customdata: (query token, key token) for every cell.

    Lists of tuples of str, not an object array: orjson writes them in one call, while an object array makes
    plotly.io.to_json fall back to walking the whole figure in Python (tuples also copy faster than lists
    in the deepcopy that every figure's to_dict makes).
    """
    return [[(q, k) for k in key_labels] for q in query_labels]


def attention_heatmap(
    weights: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    title: str | None = None,
    zmax: float | None = None,
    colorscale: str = ATTENTION_SCALE,
    height: int | None = None,
    plot_width: float = 300,
) -> go.Figure:
    """One head's (queries, keys) attention matrix, queries down the side, keys along the top.

    Axes are numeric with the tokens as tick text, so that repeated tokens ("l", "l") keep their own
    rows and columns; hover names the query token, the key token and the weight. Tick labels are 12 px and
    thinned to what fits plot_width (px, an estimate of the plot area's width) and the height (tick_labels).
    """
    weights = fast.array(weights)
    n_q, n_k = weights.shape
    query_labels = [str(t) for t in query_labels]
    key_labels = [str(t) for t in key_labels]
    trace = dict(
        type="heatmap",
        z=weights,
        x=np.arange(n_k, dtype=np.int32),
        y=np.arange(n_q, dtype=np.int32),
        colorscale=colorscale_of(colorscale),
        zmin=0.0,
        zmax=zmax if zmax is not None else max(float(weights.max(initial=0.0)), 1e-6),
        hovertemplate=_(HOVER),
        colorbar=dict(title=dict(text=_("weight")), thickness=12),
    )
    height = height or max(260, min(900, 60 + 22 * n_q))
    top = 100 if title else 60  # room for the title above the top "key" axis
    xvals, xtext = tick_labels(key_labels, plot_width)
    yvals, ytext = tick_labels(query_labels, height - top - 10, along="y")
    layout = dict(
        xaxis=dict(tickmode="array", tickvals=xvals, ticktext=xtext, side="top",
                   title=dict(text=_("key")), tickangle=0, tickfont=dict(size=TICK_FONT)),
        yaxis=dict(tickmode="array", tickvals=yvals, ticktext=ytext, autorange="reversed",
                   title=dict(text=_("query")), tickfont=dict(size=TICK_FONT)),
        height=height,
        margin=dict(l=10, r=10, t=top, b=10),
    )
    if title:
        layout["title"] = dict(text=title, y=0.99, yanchor="top")
    fig = fast.figure([trace], layout)
    # Set after construction: the figure stores it as given, where the constructor deep-copies every cell.
    fig.data[0].customdata = token_pairs(query_labels, key_labels)
    return fig
