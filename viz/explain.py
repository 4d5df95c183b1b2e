"""Figures of "What the prediction rests on": the head-importance grid and perturbation curves. Pure builders from
plain arrays (no streamlit, no torch)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ui.i18n import _


def importance_grid(drop: np.ndarray, title: str | None = None) -> go.Figure:
    """(layers, heads) drop in the predicted class's probability when each head alone is switched off; layers and
    heads numbered from 1. Diverging colours: a head whose removal raises the probability is blue."""
    layers, heads = drop.shape
    lim = max(float(np.nanmax(np.abs(drop))) if np.isfinite(drop).any() else 0.0, 1e-6)
    fig = go.Figure(go.Heatmap(
        z=drop, x=list(range(1, heads + 1)), y=list(range(1, layers + 1)), colorscale="RdBu", reversescale=True,
        zmin=-lim, zmax=lim, colorbar=dict(title=dict(text=_("drop")), tickformat=".1%", thickness=10),
        hovertemplate=_("layer %{y}, head %{x}<br>drop %{z:.2%}") + "<extra></extra>",
    ))
    fig.update_layout(
        title=dict(text=title) if title else None, height=120 + 26 * layers, margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(title=dict(text=_("head")), dtick=1), yaxis=dict(title=dict(text=_("layer")), dtick=1,
                                                                  autorange="reversed"),
    )
    return fig


def perturbation_curves(fractions: Sequence[float], curves: dict[str, np.ndarray], title: str | None = None,
                        x_title: str | None = None, y_title: str | None = None) -> go.Figure:
    """The target class's (or token's) probability as patches (or tokens) are removed, one line per method
    (name → values); the axis titles default to patches and the class."""
    fig = go.Figure()
    x = [float(f) for f in fractions]
    dashes = ("solid", "dash", "dot", "dashdot", "longdash")  # lines that coincide stay told apart (and in grey print)
    for k, (name, y) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=x, y=[float(v) for v in y], mode="lines+markers", name=name,
                                 line=dict(dash=dashes[k % len(dashes)]),
                                 hovertemplate=name + "<br>%{x:.0%} → %{y:.3f}<extra></extra>"))
    fig.update_layout(
        title=dict(text=title) if title else None, height=320, margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(title=dict(text=x_title or _("patches removed")), tickformat=".0%"),
        yaxis=dict(title=dict(text=y_title or _("probability of the class")), rangemode="tozero"),
    )
    return fig
