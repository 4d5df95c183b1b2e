"""Figures for the language-model page, where a sequence may hold thousands of tokens.

A matrix that fits on screen is drawn as the encoder–decoder page draws it (viz.text, one row and column per
token). A longer one arrives pooled (LanguageTrace.pooled: each cell the plain mean of the weights of a block of
consecutive queries and keys, the blocks near-equal runs from models.analysis.attention_math.pool_edges): the
builders here draw such a matrix with one category per block, named by the positions it spans ("64–79", indices
from 0, both ends included), so hover says what a cell averages and no cell is invented or resampled.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ui.i18n import N_, _
from viz import fast
from viz import text as vt
from viz.heatmaps import ATTENTION_SCALE, colorscale_of, tick_labels

POOLED_HOVER = N_("queries %{y}<br>keys %{x}<br>mean weight %{z:.4f}<extra></extra>")


def is_pooled(edges: np.ndarray) -> bool:
    """Whether pool edges group several positions in one block (else every block is one token)."""
    edges = np.asarray(edges)
    return bool((np.diff(edges) > 1).any())


def block_labels(edges: np.ndarray, labels: Sequence[str], ids: Sequence[int] | None = None) -> list[str]:
    """One category per block: "index: token" for a block of one token (as viz.text names tokens, with its id when
    given), else the first and last positions it spans, "64–79" (indices from 0, both included)."""
    edges = np.asarray(edges, dtype=int)
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        if b - a > 1:
            out.append(f"{a}–{b - 1}")
        else:
            out.append(f"{a}: {labels[a]}" if ids is None else f"{a}: {labels[a]} (id {ids[a]})")
    return out


def _block_axis(categories: list[str], room_px: float, along: str = "x", **props) -> dict:
    tickvals, ticktext = tick_labels(categories, room_px, along)
    return dict(type="category", tickmode="array", tickvals=[categories[i] for i in tickvals], ticktext=ticktext,
                **props)


def pooled_matrix(
    pooled: np.ndarray,
    q_edges: np.ndarray,
    k_edges: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    title: str | None = None,
    query_ids: Sequence[int] | None = None,
    key_ids: Sequence[int] | None = None,
) -> go.Figure:
    """One head's (Q, K) attention, pooled into blocks where it is too long to send whole (else exactly
    viz.text.head_matrix). The colour scale runs from 0 to the largest mean shown. ids: the tokenizer's ids, for
    hover."""
    pooled = fast.array(pooled)
    if not (is_pooled(q_edges) or is_pooled(k_edges)):
        return vt.head_matrix(pooled, query_labels, key_labels, title=title, query_ids=query_ids, key_ids=key_ids)
    xcat, ycat = block_labels(k_edges, key_labels, key_ids), block_labels(q_edges, query_labels, query_ids)
    height = 640
    top = 100 if title else 60
    trace = dict(type="heatmap", z=pooled, x=xcat, y=ycat, colorscale=colorscale_of(ATTENTION_SCALE), zmin=0.0,
                 zmax=max(float(pooled.max(initial=0.0)), 1e-9), hovertemplate=_(POOLED_HOVER),
                 colorbar=dict(title=dict(text=_("mean weight")), thickness=12))
    layout = dict(
        xaxis=_block_axis(xcat, vt.FULL_PLOT_PX * 0.7, side="top", title=dict(text=_("key positions")), tickangle=0),
        yaxis=_block_axis(ycat, height - top - 10, along="y", autorange="reversed",
                          title=dict(text=_("query positions"))),
        height=height,
        margin=dict(l=10, r=10, t=top, b=10),
    )
    if title:
        layout["title"] = dict(text=title, y=0.99, yanchor="top")
    return fast.figure([trace], layout)


def _relabel(fig: go.Figure, q_edges, k_edges, query_labels, key_labels, prefixes: list[str],
             query_ids=None, key_ids=None) -> go.Figure:
    """A viz.text grid drawn on pooled arrays, with block categories and the pooled hover instead of tokens."""
    xcat, ycat = block_labels(k_edges, key_labels, key_ids), block_labels(q_edges, query_labels, query_ids)
    for trace, prefix in zip(fig.data, prefixes):
        trace.x, trace.y = xcat, ycat
        trace.hovertemplate = prefix + "<br>" + _(POOLED_HOVER)
    for name in list(fig.layout):
        if name.startswith(("xaxis", "yaxis")):
            axis = fig.layout[name]
            if axis.tickvals is not None and axis.showticklabels:
                cats = xcat if name.startswith("xaxis") else ycat
                vals, text = tick_labels(cats, 200, "x" if name.startswith("xaxis") else "y")
                axis.tickvals, axis.ticktext = [cats[i] for i in vals], text
    fig.layout.coloraxis.colorbar.title.text = _("mean weight")
    return fig


def pooled_head_grid(
    pooled: np.ndarray,
    q_edges: np.ndarray,
    k_edges: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    title: str | None = None,
    query_ids: Sequence[int] | None = None,
    key_ids: Sequence[int] | None = None,
) -> go.Figure:
    """Every head of one layer (heads, Q', K'), pooled where long (else exactly viz.text.head_grid)."""
    pooled = fast.array(pooled)
    long = is_pooled(q_edges) or is_pooled(k_edges)
    if not long:
        return vt.head_grid(pooled, query_labels, key_labels, title=title, query_ids=query_ids, key_ids=key_ids)
    fig = vt.head_grid(pooled, block_labels(q_edges, query_labels), block_labels(k_edges, key_labels),
                       title=title, cols=4, show_ticks=False)
    prefixes = [_("head {head}").format(head=h + 1) for h in range(pooled.shape[0])]
    return _relabel(fig, q_edges, k_edges, query_labels, key_labels, prefixes, query_ids, key_ids)


def pooled_mask(
    mask: np.ndarray,
    q_edges: np.ndarray,
    k_edges: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    title: str | None = None,
    query_ids: Sequence[int] | None = None,
    key_ids: Sequence[int] | None = None,
) -> go.Figure:
    """A mask: a (Q, K) boolean one, exactly as viz.text.mask_heatmap draws it, when every block is one token;
    else mask holds each block's share of (query, key) pairs that may attend (1: all, 0: none), the block means
    of the full mask (models.analysis.attention_math.block_means)."""
    if not (is_pooled(q_edges) or is_pooled(k_edges)):
        return vt.mask_heatmap(np.asarray(mask, dtype=bool), query_labels, key_labels, title=title,
                               query_ids=query_ids, key_ids=key_ids)
    share = np.asarray(mask, dtype=np.float32)
    xcat, ycat = block_labels(k_edges, key_labels, key_ids), block_labels(q_edges, query_labels, query_ids)
    trace = dict(type="heatmap", z=fast.array(share), x=xcat, y=ycat, colorscale=colorscale_of("Blues"), zmin=0.0,
                 zmax=1.0, hovertemplate=_("queries %{y}<br>keys %{x}<br>share that may attend %{z:.2f}"
                                           "<extra></extra>"),
                 colorbar=dict(title=dict(text=_("may attend")), thickness=12))
    layout = dict(
        xaxis=_block_axis(xcat, vt.FULL_PLOT_PX * 0.5, side="top", title=dict(text=_("key positions")), tickangle=0),
        yaxis=_block_axis(ycat, 500, along="y", autorange="reversed", title=dict(text=_("query positions"))),
        height=600, margin=dict(l=10, r=10, t=100 if title else 60, b=10),
    )
    if title:
        layout["title"] = dict(text=title, y=0.99, yanchor="top")
    return fast.figure([trace], layout)


def step_rows(
    rows: np.ndarray,
    query: int,
    query_label: str,
    key_labels: Sequence[str],
    title: str | None = None,
    key_ids: Sequence[int] | None = None,
) -> go.Figure:
    """What every head of one layer attended to from one query position: rows (heads, K), heads down, keys
    across (every key position, never pooled: a row costs K)."""
    rows = fast.array(rows)
    n_heads = rows.shape[0]
    head_labels = [_("head {head}").format(head=h + 1) for h in range(n_heads)]
    keys = [str(t) for t in key_labels[: rows.shape[1]]]
    xcat = vt.token_categories(keys, None if key_ids is None else list(key_ids)[: len(keys)])
    trace = dict(
        type="heatmap", z=rows, x=xcat, y=head_labels, colorscale=colorscale_of(ATTENTION_SCALE), zmin=0.0,
        zmax=max(float(rows.max(initial=0.0)), 1e-6), meta=[f"{query}: {query_label}"],
        hovertemplate=_("query %{meta[0]}<br>%{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>"),
        colorbar=dict(title=dict(text=_("weight")), thickness=12), xgap=1 if len(keys) <= 200 else 0,
        ygap=1,
    )
    tickvals, ticktext = tick_labels(keys, vt.TWO_THIRDS_PLOT_PX, "x")
    layout = dict(
        xaxis=dict(type="category", tickmode="array", tickvals=[xcat[i] for i in tickvals], ticktext=ticktext,
                   side="top", tickangle=0, title=dict(text=_("key"))),
        yaxis=dict(type="category", autorange="reversed"),
        height=max(220, 120 + 30 * n_heads),
        margin=dict(l=10, r=10, t=110 if title else 60, b=10),
    )
    if title:  # above the key axis's title, which sits at the top
        layout["title"] = dict(text=title, y=0.99, yanchor="top")
    return fast.figure([trace], layout)
