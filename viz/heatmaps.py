"""Attention matrices as heatmaps."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

ATTENTION_SCALE = "Blues"


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
    weights = np.asarray(weights, dtype=np.float32)
    n_q, n_k = weights.shape
    query_labels = [str(t) for t in query_labels]
    key_labels = [str(t) for t in key_labels]
    custom = np.empty((n_q, n_k, 2), dtype=object)
    custom[:, :, 0] = np.asarray(query_labels, dtype=object)[:, None]
    custom[:, :, 1] = np.asarray(key_labels, dtype=object)[None, :]
    fig = go.Figure(
        go.Heatmap(
            z=weights,
            x=np.arange(n_k),
            y=np.arange(n_q),
            customdata=custom,
            colorscale=colorscale,
            zmin=0.0,
            zmax=zmax if zmax is not None else max(float(weights.max(initial=0.0)), 1e-6),
            hovertemplate="query %{y}: %{customdata[0]}<br>key %{x}: %{customdata[1]}<br>weight %{z:.4f}<extra></extra>",
            colorbar=dict(title="weight", thickness=12),
        )
    )
    fig.update_xaxes(
        tickmode="array", tickvals=list(range(n_k)), ticktext=key_labels, side="top", title="key", tickangle=0
    )
    fig.update_yaxes(
        tickmode="array", tickvals=list(range(n_q)), ticktext=query_labels, autorange="reversed", title="query"
    )
    fig.update_layout(
        title=dict(text=title, y=0.99, yanchor="top") if title else None,
        height=height or max(260, min(900, 60 + 22 * n_q)),
        margin=dict(l=10, r=10, t=100 if title else 60, b=10),  # room for the title above the top "key" axis
    )
    return fig
