"""Attention matrices as heatmaps."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz import fast

ATTENTION_SCALE = "Blues"
HOVER = "query %{y}: %{customdata[0]}<br>key %{x}: %{customdata[1]}<br>weight %{z:.4f}<extra></extra>"


colorscale_of = fast.colorscale  # the explicit list validation would send (Plotly.js draws its own "Blues")


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
) -> go.Figure:
    """One head's (queries, keys) attention matrix, queries down the side, keys along the top.

    Axes are numeric with the tokens as tick text, so that repeated tokens ("l", "l") keep their own
    rows and columns; hover names the query token, the key token and the weight.
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
        hovertemplate=HOVER,
        colorbar=dict(title=dict(text="weight"), thickness=12),
    )
    layout = dict(
        xaxis=dict(tickmode="array", tickvals=list(range(n_k)), ticktext=key_labels, side="top",
                   title=dict(text="key"), tickangle=0),
        yaxis=dict(tickmode="array", tickvals=list(range(n_q)), ticktext=query_labels, autorange="reversed",
                   title=dict(text="query")),
        height=height or max(260, min(900, 60 + 22 * n_q)),
        margin=dict(l=10, r=10, t=100 if title else 60, b=10),  # room for the title above the top "key" axis
    )
    if title:
        layout["title"] = dict(text=title, y=0.99, yanchor="top")
    fig = fast.figure([trace], layout)
    # Set after construction: the figure stores it as given, where the constructor deep-copies every cell.
    fig.data[0].customdata = token_pairs(query_labels, key_labels)
    return fig
