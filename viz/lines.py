"""The head view (after BertViz's `head_view`): lines from each query token to the key tokens it attends to.

Queries stand in a column on the left, keys in a column on the right. A line's width and opacity grow with its
attention weight, and each head has its own colour. Lines are drawn as a few Scatter traces per head (one per
weight bin, segments separated by NaN) rather than one shape per line, so hundreds of lines stay cheap; the
legend toggles heads. The figure is written as plain dicts (viz.fast).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from ui.i18n import _
from viz import fast

HEAD_COLOURS = qualitative.Plotly + qualitative.D3[10:] + qualitative.Dark24  # distinct colours, many heads
MAX_WIDTH = 6.0  # pixels, for a line of weight 1
N_BINS = 10  # weights are grouped into bins of equal width; each bin is one trace with one width and opacity


def head_colour(head: int) -> str:
    """The colour of head `head` (0-based); the same head has the same colour in every figure."""
    return HEAD_COLOURS[head % len(HEAD_COLOURS)]


def _rgba(colour: str, alpha: float) -> str:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:.3f})"


def line_style(weight: float, max_width: float = MAX_WIDTH) -> tuple[float, float]:
    """(width in px, opacity) of a line whose weight falls in a bin: both grow with the weight."""
    return max(0.5, max_width * weight), 0.15 + 0.85 * weight


def head_view(
    weights: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    heads: Sequence[int] | None = None,
    min_weight: float = 0.02,
    title: str | None = None,
    query_title: str | None = None,
    key_title: str | None = None,
    n_bins: int = N_BINS,
    max_width: float = MAX_WIDTH,
) -> go.Figure:
    """Lines from every query token (left) to every key token (right) for the chosen heads.

    weights: (heads, Q, K) attention of one layer, rows summing to 1. heads: which heads to draw (0-based),
    all by default. Lines whose weight is below `min_weight` are left out (they would be invisible anyway);
    the rest fall into `n_bins` equal bins on [min_weight, 1], and each bin is drawn with the width and opacity
    of its midpoint. Hovering a token lists, per head, the tokens it attends most to (query) or that attend
    most to it (key), with the exact weights.
    """
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 3:
        raise ValueError(f"expected (heads, queries, keys), got shape {weights.shape}")
    n_heads, n_q, n_k = weights.shape
    query_labels, key_labels = [str(t) for t in query_labels], [str(t) for t in key_labels]
    if len(query_labels) != n_q or len(key_labels) != n_k:
        raise ValueError(f"{len(query_labels)} query / {len(key_labels)} key labels for weights {weights.shape}")
    heads = list(range(n_heads)) if heads is None else [int(h) for h in heads]
    query_title = _("query") if query_title is None else query_title
    key_title = _("key") if key_title is None else key_title
    head_names = {h: _("head {head}").format(head=h + 1) for h in heads}
    y_q, y_k = -np.arange(n_q, dtype=float), -np.arange(n_k, dtype=float)  # first token at the top
    edges = np.linspace(min_weight, 1.0, n_bins + 1)

    data = []
    for h in heads:
        colour = head_colour(h)
        w = weights[h]
        q_idx, k_idx = np.nonzero(w >= min_weight)
        bins = np.clip(np.digitize(w[q_idx, k_idx], edges) - 1, 0, n_bins - 1)
        # One legend entry per head, in the head's full colour; clicking it hides every line of the head.
        data.append(dict(
            type="scatter", x=[None], y=[None], mode="lines", line=dict(color=colour, width=3), name=head_names[h],
            legendgroup=f"head {h + 1}", showlegend=True, hoverinfo="skip", meta=dict(head=h, lines=0),
        ))
        for b in range(n_bins):
            sel = bins == b
            if not sel.any():
                continue
            n = int(sel.sum())
            xs = np.tile(np.array([0.0, 1.0, np.nan], dtype=np.float32), n)
            ys = np.empty(3 * n, dtype=np.float32)
            ys[0::3], ys[1::3], ys[2::3] = y_q[q_idx[sel]], y_k[k_idx[sel]], np.nan
            width, opacity = line_style(float(edges[b] + edges[b + 1]) / 2, max_width)
            data.append(dict(
                type="scatter",
                x=xs,
                y=ys,
                mode="lines",
                line=dict(color=_rgba(colour, opacity), width=width),
                hoverinfo="skip",
                name=head_names[h],
                legendgroup=f"head {h + 1}",
                showlegend=False,
                meta=dict(head=h, weight_range=[float(edges[b]), float(edges[b + 1])], lines=n),
            ))

    def _hover(labels: list[str], role: str, other: list[str], matrix_of_head) -> list[str]:
        per_head = {}  # per head: one "head h: j:token weight, ..." line per token, its 3 strongest links
        for h in heads:
            m = matrix_of_head(h)
            top = np.argsort(-m, axis=1, kind="stable")[:, :3]
            best = np.take_along_axis(m, top, axis=1).tolist()
            per_head[h] = [
                head_names[h] + ": " + (", ".join(f"{j}:{other[j]} {v:.3f}" for j, v in zip(js, vs) if v > 0) or "—")
                for js, vs in zip(top.tolist(), best)
            ]
        return ["<br>".join([f"<b>{role} {i}: {tok}</b>"] + [per_head[h][i] for h in heads])
                for i, tok in enumerate(labels)]

    data.append(dict(
        type="scatter", x=np.zeros(n_q, dtype=np.float32), y=fast.array(y_q), mode="markers+text",
        text=query_labels, textposition="middle left", marker=dict(size=8, color="#444"), name=_("query tokens"),
        showlegend=False, hovertext=_hover(query_labels, query_title, key_labels, lambda h: weights[h]),
        hoverinfo="text", meta=dict(role="query"),
    ))
    data.append(dict(
        type="scatter", x=np.ones(n_k, dtype=np.float32), y=fast.array(y_k), mode="markers+text",
        text=key_labels, textposition="middle right", marker=dict(size=8, color="#444"), name=_("key tokens"),
        showlegend=False, hovertext=_hover(key_labels, key_title, query_labels, lambda h: weights[h].T),
        hoverinfo="text", meta=dict(role="key"),
    ))
    layout = dict(
        xaxis=dict(range=[-0.45, 1.45], tickmode="array", tickvals=[0, 1], ticktext=[query_title, key_title],
                   side="top", showgrid=False, zeroline=False),
        yaxis=dict(visible=False, range=[-max(n_q, n_k) + 0.4, 0.8]),
        height=max(300, min(1400, 90 + 24 * max(n_q, n_k))),
        margin=dict(l=10, r=10, t=70 if title else 40, b=10),
        legend=dict(title=dict(text=_("heads (click to hide)")), orientation="v"),
        plot_bgcolor="white",
        hovermode="closest",
    )
    if title:
        layout["title"] = dict(text=title)
    return fast.figure(data, layout)
