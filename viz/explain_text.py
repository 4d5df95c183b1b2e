"""Figures of the text pages' "What the output rests on": a value per source (or context) token as bars, all output
tokens × source tokens as a heatmap, output tokens with their probabilities. Pure builders from plain arrays (no
streamlit, no torch). Token positions are indices from 0 and shown as "index: token"."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ui.i18n import _
from viz.text import visible_tokens


def _indexed(tokens: Sequence[str]) -> list[str]:
    return [f"{i}: {t}" for i, t in enumerate(visible_tokens(list(tokens)))]


def token_bars(values: np.ndarray, tokens: Sequence[str], title: str | None = None, value_label: str | None = None,
               highlight: int | None = None) -> go.Figure:
    """One bar per token (positions from 0, in order), its height the value; `highlight` (a position) drawn darker,
    e.g. the position whose prediction is explained."""
    values = np.asarray(values, dtype=float)
    names = _indexed(tokens)
    colours = ["#2b6cb0" if i != highlight else "#c05621" for i in range(len(values))]
    fig = go.Figure(go.Bar(
        x=list(range(len(values))), y=[float(v) for v in values], customdata=names, marker=dict(color=colours),
        hovertemplate="%{customdata}<br>" + (value_label or _("value")) + " %{y:.4f}<extra></extra>",
    ))
    fig.update_layout(
        title=dict(text=title) if title else None, height=320, margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(tickmode="array", tickvals=list(range(len(values))), ticktext=names, tickangle=-45),
        yaxis=dict(title=dict(text=value_label or _("value")), rangemode="tozero"),
    )
    return fig


def token_heatmap(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str], title: str | None = None,
                  value_label: str | None = None, row_title: str | None = None,
                  col_title: str | None = None) -> go.Figure:
    """(rows, cols) values, e.g. output tokens × source tokens; both axes "index: token", indices from 0."""
    matrix = np.asarray(matrix, dtype=float)
    r, c = _indexed(rows), _indexed(cols)
    fig = go.Figure(go.Heatmap(
        z=matrix, x=list(range(len(c))), y=list(range(len(r))), colorscale="Blues",
        customdata=[[f"{a} → {b}" for b in c] for a in r],
        colorbar=dict(title=dict(text=value_label or _("value")), thickness=10),
        hovertemplate="%{customdata}<br>" + (value_label or _("value")) + " %{z:.4f}<extra></extra>",
    ))
    fig.update_layout(
        title=dict(text=title) if title else None, height=140 + 22 * len(r), margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(tickmode="array", tickvals=list(range(len(c))), ticktext=c, tickangle=-45,
                   title=dict(text=col_title) if col_title else None),
        yaxis=dict(tickmode="array", tickvals=list(range(len(r))), ticktext=r, autorange="reversed",
                   title=dict(text=row_title) if row_title else None),
    )
    return fig


def output_probabilities(tokens: Sequence[str], probs: Sequence[float], title: str | None = None,
                         compare: Sequence[float] | None = None, compare_name: str | None = None,
                         name: str | None = None) -> go.Figure:
    """Each output token (steps from 1) and its probability; `compare`, when given, a second bar per token (e.g.
    the same token's probability with heads switched off)."""
    labels = [f"{i + 1}. {t}" for i, t in enumerate(visible_tokens(list(tokens)))]
    fig = go.Figure(go.Bar(x=labels, y=[float(p) for p in probs], name=name or _("probability"),
                           marker=dict(color="#2b6cb0"),
                           hovertemplate="%{x}<br>" + _("probability") + " %{y:.4f}<extra></extra>"))
    if compare is not None:
        fig.add_trace(go.Bar(x=labels, y=[float(p) for p in compare], name=compare_name or "",
                             marker=dict(color="#dd6b20"),
                             hovertemplate="%{x}<br>" + _("probability") + " %{y:.4f}<extra></extra>"))
    fig.update_layout(
        title=dict(text=title) if title else None, height=320, margin=dict(l=10, r=10, t=50, b=10),
        barmode="group", yaxis=dict(title=dict(text=_("probability")), range=[0, 1]),
        xaxis=dict(tickangle=-45, type="category"), legend=dict(orientation="h", y=-0.35),
        showlegend=compare is not None,
    )
    return fig
