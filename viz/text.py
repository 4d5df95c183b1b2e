"""Figures for the encoder–decoder page: all heads of a layer, layers × heads, the masks, decoding step by step.

Pure builders: numpy arrays and token labels in, Plotly figures out. Token × token matrices reuse
viz.heatmaps.attention_heatmap, so axes are numeric (repeated tokens keep their own rows) and hover names the
query token, the key token and the weight everywhere.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.heatmaps import ATTENTION_SCALE, attention_heatmap

VISIBLE = {" ": "␣", "\t": "⇥", "\n": "↵", "": "∅"}
MASK_SCALE = [[0.0, "#d9d9d9"], [0.5, "#d9d9d9"], [0.5, "#2b6cb0"], [1.0, "#2b6cb0"]]  # masked grey, allowed blue


def visible_tokens(tokens: Sequence[str], escape: bool = True) -> list[str]:
    """Token labels for Plotly: a space becomes ␣ (a character task has many), and &, <, > are escaped.

    Plotly reads its text as HTML-like markup: an unescaped "<s>" opens a strike-through that swallows the
    rest of the axis and breaks the layout ("Too many auto-margin redraws"); "&lt;s&gt;" shows as <s>.
    escape=False gives the labels for Markdown (the page's text) instead.
    """
    out = [VISIBLE.get(str(t), str(t)) for t in tokens]
    if escape:
        out = [t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for t in out]
    return out


def _cell_trace(weights: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], prefix: str) -> go.Heatmap:
    """attention_heatmap's trace (numeric axes, hover with both tokens), tied to the figure's shared colour axis."""
    trace = attention_heatmap(weights, query_labels, key_labels).data[0]
    trace.update(
        coloraxis="coloraxis", zmin=None, zmax=None, colorscale=None, colorbar=None,
        hovertemplate=prefix + "<br>" + trace.hovertemplate,
    )
    return trace


def head_grid(
    weights: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    title: str | None = None,
    cols: int | None = None,
    show_ticks: bool = True,
) -> go.Figure:
    """Every head of one layer side by side: weights (heads, Q, K) -> a grid of heatmaps on one colour scale.

    cols: heads per row; by default 4, or 2 when there are more than 20 keys, so the token labels stay legible.
    """
    weights = np.asarray(weights, dtype=np.float32)
    n_heads, n_q, n_k = weights.shape
    cols = max(1, min(cols or (4 if n_k <= 20 else 2), n_heads))
    rows = -(-n_heads // cols)
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=[f"head {h + 1}" for h in range(n_heads)],
        horizontal_spacing=0.06 if show_ticks else 0.02, vertical_spacing=0.12 if show_ticks else 0.04,
    )
    for h in range(n_heads):
        r, c = divmod(h, cols)
        fig.add_trace(_cell_trace(weights[h], query_labels, key_labels, f"head {h + 1}"), row=r + 1, col=c + 1)
    _token_axes(fig, rows * cols, query_labels, key_labels, show_ticks)
    fig.update_layout(
        title=title,
        coloraxis=dict(colorscale=ATTENTION_SCALE, cmin=0.0, cmax=max(float(weights.max(initial=0.0)), 1e-6),
                       colorbar=dict(title="weight", thickness=12)),
        height=rows * max(220, min(520, 80 + 16 * n_q)) + 60,
        margin=dict(l=10, r=10, t=90 if title else 60, b=10),
    )
    return fig


def overview_grid(
    layers: Sequence[np.ndarray],
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    title: str | None = None,
) -> go.Figure:
    """All layers × all heads as small multiples: one row per layer, one column per head, one colour scale.

    layers: a list of (heads, Q, K) arrays, first layer first. Tick labels are left out (the cells are small);
    hover names the layer, head, query token, key token and weight.
    """
    layers = [np.asarray(w, dtype=np.float32) for w in layers]
    n_layers, n_heads = len(layers), layers[0].shape[0]
    n_q = layers[0].shape[1]
    fig = make_subplots(
        rows=n_layers, cols=n_heads, horizontal_spacing=0.015, vertical_spacing=0.03,
        row_titles=[f"layer {l + 1}" for l in range(n_layers)], column_titles=[f"head {h + 1}" for h in range(n_heads)],
    )
    for l, w in enumerate(layers):
        for h in range(n_heads):
            fig.add_trace(
                _cell_trace(w[h], query_labels, key_labels, f"layer {l + 1}, head {h + 1}"), row=l + 1, col=h + 1
            )
    _token_axes(fig, n_layers * n_heads, query_labels, key_labels, show_ticks=False)
    fig.update_layout(
        title=title,
        coloraxis=dict(colorscale=ATTENTION_SCALE, cmin=0.0,
                       cmax=max(max(float(w.max(initial=0.0)) for w in layers), 1e-6),
                       colorbar=dict(title="weight", thickness=12)),
        height=n_layers * max(130, min(260, 40 + 6 * n_q)) + 80,
        margin=dict(l=10, r=30, t=80 if title else 50, b=10),
    )
    return fig


def _token_axes(fig: go.Figure, n_axes: int, query_labels, key_labels, show_ticks: bool) -> None:
    n_q, n_k = len(query_labels), len(key_labels)
    font = dict(size=9 if max(n_q, n_k) > 24 else 11)
    for i in range(1, n_axes + 1):
        suffix = "" if i == 1 else str(i)
        fig.layout[f"xaxis{suffix}"].update(
            tickmode="array", tickvals=list(range(n_k)), ticktext=[str(t) for t in key_labels],
            showticklabels=show_ticks, tickangle=0, side="bottom", constrain="domain", tickfont=font,
        )
        fig.layout[f"yaxis{suffix}"].update(
            tickmode="array", tickvals=list(range(n_q)), ticktext=[str(t) for t in query_labels],
            showticklabels=show_ticks, autorange="reversed", tickfont=font,
        )


def mask_heatmap(
    allowed: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    title: str | None = None,
) -> go.Figure:
    """A (Q, K) boolean mask: blue where query i may attend to key j, grey where the score is set to −∞.

    The softmax turns a −∞ score into a weight of exactly 0, which is why masked cells of the attention beside
    it are 0.
    """
    allowed = np.asarray(allowed, dtype=bool)
    fig = attention_heatmap(allowed.astype(np.float32), query_labels, key_labels, title=title, zmax=1.0)
    state = np.where(allowed, "may attend", "masked: score set to −∞, weight 0").astype(object)
    custom = np.asarray(fig.data[0].customdata, dtype=object)
    custom = np.concatenate([custom, state[:, :, None]], axis=2)
    fig.update_traces(
        customdata=custom,
        colorscale=MASK_SCALE,
        zmin=0.0,
        zmax=1.0,
        hovertemplate="query %{y}: %{customdata[0]}<br>key %{x}: %{customdata[1]}<br>%{customdata[2]}<extra></extra>",
        colorbar=dict(title="mask", tickvals=[0.25, 0.75], ticktext=["masked", "may attend"], thickness=12),
        xgap=1,
        ygap=1,
    )
    return fig


def padding_mask_figure(
    source_mask: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], title: str | None = None
) -> go.Figure:
    """The padding mask as the model applies it: every query may attend to the real keys, never to a <pad> key.

    source_mask: (S,) bool, True = real token. It masks keys only, so every query row is the same; for
    cross-attention the queries are the decoder positions and the keys the encoder positions.
    """
    source_mask = np.asarray(source_mask, dtype=bool)
    allowed = np.broadcast_to(source_mask[None, :], (len(query_labels), source_mask.size))
    return mask_heatmap(allowed, query_labels, key_labels, title=title)


def step_figure(
    weights: np.ndarray,
    step: int,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    title: str | None = None,
    causal: bool = False,
) -> go.Figure:
    """What every head of one layer attended to at one decoder step: row `step` of (heads, Q, K), heads down.

    causal=True keeps only the keys at positions ≤ step (the decoder's own past); the others are masked and 0.
    """
    weights = np.asarray(weights, dtype=np.float32)
    n_heads, n_q, n_k = weights.shape
    if not 0 <= step < n_q:
        raise ValueError(f"step {step} outside 0..{n_q - 1}")
    n_keys = step + 1 if causal else n_k
    rows = weights[:, step, :n_keys]  # (heads, keys)
    head_labels = [f"head {h + 1}" for h in range(n_heads)]
    custom = np.empty((n_heads, n_keys, 2), dtype=object)
    custom[:, :, 0] = np.asarray(head_labels, dtype=object)[:, None]
    custom[:, :, 1] = np.asarray([str(t) for t in key_labels[:n_keys]], dtype=object)[None, :]
    query = str(query_labels[step])
    fig = go.Figure(
        go.Heatmap(
            z=rows, x=np.arange(n_keys), y=np.arange(n_heads), customdata=custom,
            colorscale=ATTENTION_SCALE, zmin=0.0, zmax=max(float(rows.max(initial=0.0)), 1e-6),
            hovertemplate=f"query {step}: {query}<br>" + "%{customdata[0]}<br>key %{x}: %{customdata[1]}"
            "<br>weight %{z:.4f}<extra></extra>",
            colorbar=dict(title="weight", thickness=12), xgap=1, ygap=1,
        )
    )
    fig.update_xaxes(tickmode="array", tickvals=list(range(n_keys)), ticktext=[str(t) for t in key_labels[:n_keys]],
                     side="top", tickangle=0, title="key")
    fig.update_yaxes(tickmode="array", tickvals=list(range(n_heads)), ticktext=head_labels, autorange="reversed")
    fig.update_layout(title=title, height=max(200, 90 + 34 * n_heads), margin=dict(l=10, r=10, t=80 if title else 40, b=10))
    return fig


def top_k_figure(top_k: Sequence[tuple[str, float]], title: str | None = None) -> go.Figure:
    """The candidates for the next token, best first, with the probabilities the softmax gave them.

    top_k: (token, probability) pairs with the model's own token strings (escaped here for Plotly).
    """
    tokens = visible_tokens([t for t, _ in top_k])
    probs = [float(p) for _, p in top_k]
    labels = [f"{i + 1}. {t}" for i, t in enumerate(tokens)]  # numbered: two candidates may look alike
    fig = go.Figure(
        go.Bar(
            x=probs, y=list(range(len(probs))), orientation="h", text=[f"{p:.3f}" for p in probs],
            textposition="auto", customdata=tokens,
            hovertemplate="token %{customdata}<br>probability %{x:.4f}<extra></extra>",
            marker_color=["#2b6cb0"] + ["#90b4dc"] * (len(probs) - 1),
        )
    )
    fig.update_xaxes(range=[0, 1], title="probability")
    # Numeric positions with tick text: a token such as "2" must not turn the axis numeric.
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(probs))), ticktext=labels, autorange="reversed")
    fig.update_layout(title=title, height=80 + 34 * max(1, len(probs)), margin=dict(l=10, r=10, t=50 if title else 20, b=10))
    return fig
