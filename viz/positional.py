"""Figures for the positional-encoding page. Pure builders: numpy arrays in, Plotly figures out.

Every word of a figure is in the reader's language (ui.i18n `_()`); figures are cached per language by the page
(ui.common.cached_figure). Plotly's %{...} fields stay inside the translated hover templates.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ui.i18n import _
from viz.lines import head_colour

DIVERGING = "RdBu_r"
GRID_SCALE = "Viridis"
DASHES = ["solid", "dash", "dot", "dashdot", "longdash"]  # overlaid curves stay visible


def _fixed_margins(fig: go.Figure, left: int, top: int, bottom: int) -> go.Figure:
    """Margins set here, Plotly's automargin off (the default template turns it on): automargin measures every
    label in the browser and lays the chart out again, which made a change of `pe_len` slow in Chromium. The
    margins leave room for 12 px tick labels of up to four characters and the axis titles."""
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    fig.update_layout(margin=dict(l=left, r=10, t=top, b=bottom))
    return fig


def encoding_heatmap(pe: np.ndarray, title: str | None = None) -> go.Figure:
    """The (position, dimension) table: one row per position, sin in even columns, cos in odd ones."""
    pe = np.asarray(pe, dtype=np.float32)
    length, d_model = pe.shape
    fig = go.Figure(
        go.Heatmap(
            z=pe, x=np.arange(d_model), y=np.arange(length), colorscale=DIVERGING, zmin=-1, zmax=1,
            hovertemplate=_("position %{y}<br>dimension %{x}<br>PE %{z:.4f}") + "<extra></extra>",
            colorbar=dict(title="PE", thickness=12),
        )
    )
    fig.update_xaxes(title=_("dimension i"), side="top")
    fig.update_yaxes(title=_("position"), autorange="reversed")
    fig.update_layout(title=title, height=max(320, min(640, 120 + 4 * length)))
    return _fixed_margins(fig, left=64, top=84, bottom=10)


def encoding_curves(pe: np.ndarray, dims: Sequence[int], wavelengths: np.ndarray) -> go.Figure:
    """Chosen dimensions as curves over position, each named with its function and wavelength."""
    pe = np.asarray(pe, dtype=np.float32)
    positions = np.arange(pe.shape[0])
    fig = go.Figure()
    for n, d in enumerate(dims):
        fn = "sin" if d % 2 == 0 else "cos"
        fig.add_trace(
            go.Scatter(
                x=positions, y=pe[:, d], mode="lines", line=dict(color=head_colour(n), width=2),
                name=_("dim {dim} ({fn}, λ = {wavelength})").format(dim=d, fn=fn,
                                                                    wavelength=f"{wavelengths[d]:,.1f}"),
                hovertemplate=_("dim {dim}<br>position %{x}<br>PE %{y:.4f}").replace("{dim}", str(d))
                + "<extra></extra>",
            )
        )
    fig.update_xaxes(title=_("position"))
    fig.update_yaxes(title=_("PE(position, dim)"), range=[-1.1, 1.1])
    fig.update_layout(height=340, legend=dict(orientation="h", y=-0.2))
    return _fixed_margins(fig, left=70, top=30, bottom=56)


def wavelength_plot(wavelengths: np.ndarray) -> go.Figure:
    """Wavelength of every dimension on a log scale: a geometric progression from 2π to nearly 10000·2π."""
    wl = np.asarray(wavelengths, dtype=np.float64)
    fig = go.Figure(
        go.Scatter(
            x=np.arange(len(wl)), y=wl, mode="markers+lines", marker=dict(size=4), line=dict(width=1),
            hovertemplate=_("dimension %{x}<br>wavelength %{y:,.2f} positions") + "<extra></extra>", showlegend=False,
        )
    )
    for value, label in ((2 * np.pi, "2π"), (10000 * 2 * np.pi, "10000·2π")):  # the paper's two bounds
        fig.add_trace(
            go.Scatter(
                x=[0, len(wl) - 1], y=[value, value], mode="lines+text", text=["", label],
                textposition="top left", line=dict(dash="dot", color="grey", width=1), hoverinfo="skip",
                showlegend=False,
            )
        )
    fig.update_xaxes(title=_("dimension i"))
    fig.update_yaxes(title=_("wavelength (positions)"), type="log")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def similarity_heatmap(sim: np.ndarray, title: str | None = None) -> go.Figure:
    """(L, L) PE · PEᵀ between every pair of positions."""
    sim = np.asarray(sim, dtype=np.float32)
    n = sim.shape[0]
    fig = go.Figure(
        go.Heatmap(
            z=sim, x=np.arange(n), y=np.arange(n), colorscale=GRID_SCALE,
            hovertemplate=_("position %{y} · position %{x}<br>%{z:.3f}") + "<extra></extra>",
            colorbar=dict(title=_("dot product"), thickness=12),
        )
    )
    fig.update_xaxes(title=_("position"), side="top", scaleanchor="y", constrain="domain")
    fig.update_yaxes(title=_("position"), autorange="reversed", constrain="domain")
    fig.update_layout(title=title, height=460)
    return _fixed_margins(fig, left=64, top=84, bottom=10)


def offset_curves(offsets: np.ndarray, curves: dict[int, np.ndarray]) -> go.Figure:
    """PE[p] · PE[p + k] against the offset k, one line per start position p, overlaid."""
    fig = go.Figure()
    for n, (p, values) in enumerate(curves.items()):
        fig.add_trace(
            go.Scatter(
                x=offsets, y=values, mode="lines", name=f"p = {p}",
                line=dict(color=head_colour(n), width=max(1.5, 4 - 1.0 * n), dash=DASHES[n % len(DASHES)]),
                hovertemplate=_("p = {p}<br>offset k %{x}<br>PE[p]·PE[p+k] %{y:.4f}").replace("{p}", str(p))
                + "<extra></extra>",
            )
        )
    fig.update_xaxes(title=_("offset k (positions)"), zeroline=True)
    fig.update_yaxes(title="PE[p] · PE[p + k]")
    fig.update_layout(height=340, legend=dict(orientation="h", y=-0.2))
    return _fixed_margins(fig, left=70, top=30, bottom=56)


def position_similarity_grid(sim: np.ndarray, title: str | None = None, gap: int = 1) -> go.Figure:
    """(rows, cols, rows, cols) cosine similarities as one tiled image of rows × cols small maps.

    Small map [r, c] sits in row r, column c of the tiling and shows the similarity of position (r, c)'s
    embedding with every position (Dosovitskiy et al. 2021, Fig. 7 centre). Gaps are NaN (blank). Axes are
    categorical, one category per tiled column such as "3 → 5" (patch column 3, compared column 5): hover
    keep the tiling's cells distinct without a per-cell customdata array (a 14 × 14 grid has 43,681 cells). A
    second, invisible trace has one marker per small map with customdata (row, column): hover names the map and a
    click selects it (a heatmap cell cannot be selected); patch_similarity_map draws one map with per-cell hover.
    """
    sim = np.asarray(sim, dtype=np.float32)
    rows, cols = sim.shape[:2]
    step_r, step_c = rows + gap, cols + gap
    tiled = np.full((rows * step_r - gap, cols * step_c - gap), np.nan, dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            tiled[r * step_r:r * step_r + rows, c * step_c:c * step_c + cols] = sim[r, c]

    def categories(n: int, step: int) -> list[str]:
        labels = []
        for i in range(n * step - gap):
            outer, inner = divmod(i, step)
            labels.append(f"{outer} → {inner}" if inner < n else " " * (outer + 1))  # gaps: unique blanks
        return labels

    x, y = categories(cols, step_c), categories(rows, step_r)
    fig = go.Figure(
        go.Heatmap(
            z=tiled, x=x, y=y, colorscale=GRID_SCALE, zmin=-1, zmax=1, hoverongaps=False,
            hoverinfo="skip",  # hover and clicks go to the small maps' markers; the enlarged map hovers per cell
            colorbar=dict(title=_("cosine<br>similarity"), thickness=12),
        )
    )
    mid_c, mid_r = (cols - 1) // 2, (rows - 1) // 2
    # One invisible square marker over each small map, carrying its (row, column): a click selects it (heatmaps
    # cannot be selected), and the page reads it with ui.clicks.
    rr, cc = np.divmod(np.arange(rows * cols), cols)
    fig.add_trace(go.Scatter(
        x=[x[c * step_c + mid_c] for c in cc], y=[y[r * step_r + mid_r] for r in rr], mode="markers",
        marker=dict(size=max(8, min(56, 520 / max(rows, cols))), symbol="square", opacity=0.0),
        customdata=np.stack([rr, cc], axis=1), showlegend=False, name=_("small maps"),
        hovertemplate=_("small map of the patch at row %{customdata[0]}, column %{customdata[1]}<br>"
                        "click to enlarge it below") + "<extra></extra>",
    ))
    tick_step = 1 if max(rows, cols) <= 16 else 2  # 12-px labels need room: every other one on large grids
    fig.update_xaxes(
        title=_("patch column (index from 0)"), type="category", tickmode="array", tickfont=dict(size=12),
        tickvals=[x[c * step_c + mid_c] for c in range(cols)][::tick_step],
        ticktext=[str(c) for c in range(cols)][::tick_step],
        showgrid=False, zeroline=False, scaleanchor="y", constrain="domain", range=[-0.5, len(x) - 0.5],
    )
    fig.update_yaxes(
        title=_("patch row (index from 0)"), type="category", tickmode="array", tickfont=dict(size=12),
        tickvals=[y[r * step_r + mid_r] for r in range(rows)][::tick_step],
        ticktext=[str(r) for r in range(rows)][::tick_step],
        range=[len(y) - 0.5, -0.5], showgrid=False, zeroline=False, constrain="domain",  # reversed, fixed: the
    )  # click markers must not pad the axes
    fig.update_layout(title=title, height=640, plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=60 if title else 30, b=10))
    return fig


def patch_similarity_map(sim: np.ndarray, row: int, col: int, title: str | None = None) -> go.Figure:
    """One patch position's similarity with every position, as a (rows, cols) map, the patch itself boxed."""
    m = np.asarray(sim, dtype=np.float32)[row, col]
    rows, cols = m.shape
    fig = go.Figure(
        go.Heatmap(
            z=m, x=np.arange(cols), y=np.arange(rows), colorscale=GRID_SCALE, zmin=-1, zmax=1,
            hovertemplate=_("patch row %{y}, column %{x}<br>cosine similarity %{z:.3f}") + "<extra></extra>",
            colorbar=dict(title=_("cosine<br>similarity"), thickness=12),
        )
    )
    fig.add_shape(type="rect", x0=col - 0.5, x1=col + 0.5, y0=row - 0.5, y1=row + 0.5, line=dict(color="red", width=3))
    fig.update_xaxes(title=_("patch column (index from 0)"), scaleanchor="y", constrain="domain",
                     tickfont=dict(size=12),
                     dtick=1 if cols <= 16 else 2)
    fig.update_yaxes(title=_("patch row (index from 0)"), autorange="reversed", constrain="domain",
                     tickfont=dict(size=12),
                     dtick=1 if rows <= 16 else 2)
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=60 if title else 30, b=10))
    return fig


def bias_table_heatmap(table: np.ndarray, title: str | None = None) -> go.Figure:
    """One head's (2M−1, 2M−1) relative position bias over (Δy, Δx) = query − key, centre = same position."""
    table = np.asarray(table, dtype=np.float32)
    n_y, n_x = table.shape
    my, mx = (n_y + 1) // 2, (n_x + 1) // 2
    dy, dx = np.arange(-(my - 1), my), np.arange(-(mx - 1), mx)
    bound = max(float(np.nanmax(np.abs(table), initial=0.0)), 1e-6)
    fig = go.Figure(
        go.Heatmap(
            z=table, x=dx, y=dy, colorscale=DIVERGING, zmid=0, zmin=-bound, zmax=bound,
            hovertemplate=_("Δy %{y}, Δx %{x}<br>bias %{z:.4f}") + "<extra></extra>",
            colorbar=dict(title=_("bias"), thickness=12),
        )
    )
    fig.update_xaxes(title=_("Δx = query column − key column"), scaleanchor="y", constrain="domain",
                     dtick=1 if n_x <= 15 else None)
    fig.update_yaxes(title=_("Δy = query row − key row"), autorange="reversed", constrain="domain",
                     dtick=1 if n_y <= 15 else None)
    fig.update_layout(title=title, height=460, margin=dict(l=10, r=10, t=60 if title else 30, b=10))
    return fig
