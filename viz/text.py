"""Figures for the encoder–decoder page: all heads of a layer, layers × heads, the masks, decoding step by step.

Pure builders: numpy arrays and token labels in, Plotly figures out, written as plain dicts (viz.fast: no
per-property validation; tests/test_figures_text.py validates every builder's output instead).

Token axes are categorical, one category per position named "index: token" ("3: l"), with the bare tokens as
tick text: repeated tokens keep their own rows and columns, and hover names the query token, the key token and
the weight through %{y} and %{x}, with no per-cell hover data to build and send. The single-head matrix of
other pages is viz.heatmaps.attention_heatmap (numeric axes, per-cell customdata); head_matrix draws the same
picture and hover text this way.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ui.i18n import N_, _
from viz import fast
from viz.heatmaps import ATTENTION_SCALE, TICK_FONT, colorscale_of, tick_labels

VISIBLE = {" ": "␣", "\t": "⇥", "\n": "↵", "": "∅"}
MASK_SCALE = [[0.0, "#d9d9d9"], [0.5, "#d9d9d9"], [0.5, "#2b6cb0"], [1.0, "#2b6cb0"]]  # masked grey, allowed blue
CELL_HOVER = N_("query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>")  # translated where used
MAY_ATTEND, MASKED = N_("may attend"), N_("masked: score set to −∞, weight 0")
SUBPLOT_TITLE_FONT = 16  # make_subplots' size for subplot, row and column titles


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


def token_categories(labels: Sequence[str], ids: Sequence[int] | None = None) -> list[str]:
    """Category names of a token axis, "index: token": unique where tokens repeat, and what hover shows; with the
    tokenizer's ids, "index: token (id 2368)"."""
    if ids is None:
        return [f"{i}: {t}" for i, t in enumerate(labels)]
    return [f"{i}: {t} (id {n})" for i, (t, n) in enumerate(zip(labels, ids))]


# Plot-area sizes on screen, estimated on the small side for a 1280-pixel-wide window (the page's layout: a
# half-width column, a two-thirds column, the full width); tick labels are thinned to fit them (tick_labels).
HALF_PLOT_PX = 300
TWO_THIRDS_PLOT_PX = 420
FULL_PLOT_PX = 760


def _token_axis(labels: Sequence[str], room_px: float, along: str = "x", **props) -> dict:
    """A categorical axis with one category per token, labelled with the bare tokens at 12 px, as many as fit
    in room_px without overlapping (viz.heatmaps.tick_labels); hover names every token ("index: token")."""
    tickvals, ticktext = tick_labels(labels, room_px, along)
    props.setdefault("tickfont", dict(size=TICK_FONT))
    return dict(type="category", tickmode="array", tickvals=tickvals, ticktext=ticktext, **props)


def _head(h: int) -> str:
    """A head's name as figures write it, counted from 1 (h is 0-based)."""
    return _("head {head}").format(head=h + 1)


def _domains(n: int, spacing: float, end: float = 1.0) -> list[tuple[float, float]]:
    """make_subplots' domains of n cells along [0, end] with `spacing` between them, first cell first."""
    size = (end - spacing * (n - 1)) / n
    return [(i * (size + spacing), i * (size + spacing) + size) for i in range(n)]


def _title_annotation(text: str, x: float, y: float, **props) -> dict:
    """A subplot, row or column title, placed as make_subplots places them."""
    ann = dict(font=dict(size=SUBPLOT_TITLE_FONT), showarrow=False, text=text, x=x, xanchor="center", xref="paper",
               y=y, yanchor="bottom", yref="paper")
    ann.update(props)
    return ann


def _cell_trace(weights: np.ndarray, x: list[str], y: list[str], prefix: str, cell: int) -> dict:
    """One heatmap of a grid (cell 1, 2, ...), on the figure's shared colour axis; hover prefixed by `prefix`."""
    suffix = "" if cell == 1 else str(cell)
    return dict(type="heatmap", z=fast.array(weights), x=x, y=y, coloraxis="coloraxis", xaxis="x" + suffix,
                yaxis="y" + suffix, hovertemplate=prefix + "<br>" + _(CELL_HOVER))


def _grid(
    cells: list[tuple[np.ndarray, str]],
    rows: int,
    cols: int,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    show_ticks: bool,
    hspace: float,
    vspace: float,
    end: float = 1.0,
    height_px: float | None = None,
    query_ids: Sequence[int] | None = None,
    key_ids: Sequence[int] | None = None,
) -> tuple[list[dict], dict]:
    """Traces and axes of a grid of token × token heatmaps, cells filled row by row: (weights, hover prefix)."""
    xcat, ycat = token_categories(key_labels, key_ids), token_categories(query_labels, query_ids)
    xdom, ydom = _domains(cols, hspace, end), _domains(rows, vspace)[::-1]  # row 1 at the top
    cell_w = FULL_PLOT_PX * (xdom[0][1] - xdom[0][0]) - 40  # less the next cell's query labels
    cell_h = (height_px or 0) * (ydom[0][1] - ydom[0][0])
    data, layout = [], {}
    for i, (w, prefix) in enumerate(cells):
        r, c = divmod(i, cols)
        suffix = "" if i == 0 else str(i + 1)
        data.append(_cell_trace(w, xcat, ycat, prefix, i + 1))
        if show_ticks:
            xaxis = _token_axis(key_labels, cell_w, tickangle=0, side="bottom")
            yaxis = _token_axis(query_labels, cell_h, along="y")
        else:  # no tick labels: a tick mark on every token, as before, without a list of positions and texts
            xaxis, yaxis = (dict(type="category", tickmode="linear", tick0=0, dtick=1) for _ in range(2))
        xaxis.update(anchor="y" + suffix, domain=list(xdom[c]), showticklabels=show_ticks, constrain="domain")
        yaxis.update(anchor="x" + suffix, domain=list(ydom[r]), showticklabels=show_ticks, autorange="reversed")
        layout["xaxis" + suffix], layout["yaxis" + suffix] = xaxis, yaxis
    return data, layout


def _colour_axis(cmax: float) -> dict:
    return dict(colorscale=colorscale_of(ATTENTION_SCALE), cmin=0.0, cmax=max(cmax, 1e-6),
                colorbar=dict(title=dict(text=_("weight")), thickness=12))


def head_grid(
    weights: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    title: str | None = None,
    cols: int | None = None,
    show_ticks: bool = True,
    query_ids: Sequence[int] | None = None,
    key_ids: Sequence[int] | None = None,
) -> go.Figure:
    """Every head of one layer side by side: weights (heads, Q, K) -> a grid of heatmaps on one colour scale.

    cols: heads per row; by default 4, or 2 when there are more than 20 keys, so the token labels stay legible.
    """
    weights = fast.array(weights)
    n_heads, n_q, n_k = weights.shape
    cols = max(1, min(cols or (4 if n_k <= 20 else 2), n_heads))
    rows = -(-n_heads // cols)
    hspace, vspace = (0.06, 0.12) if show_ticks else (0.02, 0.04)
    height = rows * max(220, min(520, 80 + 16 * n_q)) + 60
    top = 90 if title else 60
    data, layout = _grid([(weights[h], _head(h)) for h in range(n_heads)], rows, cols,
                         query_labels, key_labels, show_ticks, hspace, vspace, height_px=height - top - 10,
                         query_ids=query_ids, key_ids=key_ids)
    xdom, ydom = _domains(cols, hspace), _domains(rows, vspace)[::-1]
    layout["annotations"] = [
        _title_annotation(_head(h), sum(xdom[h % cols]) / 2, ydom[h // cols][1]) for h in range(n_heads)
    ]
    layout.update(
        coloraxis=_colour_axis(float(weights.max(initial=0.0))),
        height=height,
        margin=dict(l=10, r=10, t=top, b=10),
    )
    if title:
        layout["title"] = dict(text=title)
    return fast.figure(data, layout)


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
    layers = [fast.array(w) for w in layers]
    n_layers, n_heads = len(layers), layers[0].shape[0]
    n_q = layers[0].shape[1]
    hspace, vspace, end = 0.015, 0.03, 0.98  # make_subplots keeps the right 2 % for the row titles
    cells = [(w[h], _("layer {layer}, head {head}").format(layer=layer + 1, head=h + 1))
             for layer, w in enumerate(layers) for h in range(n_heads)]
    data, layout = _grid(cells, n_layers, n_heads, query_labels, key_labels, False, hspace, vspace, end)
    xdom, ydom = _domains(n_heads, hspace, end), _domains(n_layers, vspace)[::-1]
    layout["annotations"] = [
        _title_annotation(_head(h), sum(xdom[h]) / 2, 1.0) for h in range(n_heads)
    ] + [
        _title_annotation(_("layer {layer}").format(layer=layer + 1), end, sum(ydom[layer]) / 2, textangle=90,
                          xanchor="left", yanchor="middle")
        for layer in range(n_layers)
    ]
    layout.update(
        coloraxis=_colour_axis(max(float(w.max(initial=0.0)) for w in layers)),
        height=n_layers * max(130, min(260, 40 + 6 * n_q)) + 80,
        margin=dict(l=10, r=30, t=80 if title else 50, b=10),
    )
    if title:
        layout["title"] = dict(text=title)
    return fast.figure(data, layout)


def _matrix_figure(trace: dict, query_labels: Sequence[str], key_labels: Sequence[str], title: str | None,
                   query_ids: Sequence[int] | None = None, key_ids: Sequence[int] | None = None) -> go.Figure:
    """One token × token heatmap framed as viz.heatmaps.attention_heatmap frames it: keys along the top,
    queries down the side (first at the top), title above the key axis, height growing with the queries."""
    trace.update(x=token_categories(key_labels, key_ids), y=token_categories(query_labels, query_ids))
    top = 100 if title else 60
    height = max(260, min(1200, top + 10 + 17 * len(query_labels)))  # 17 px a row: a 12 px label on every row
    layout = dict(
        xaxis=_token_axis(key_labels, HALF_PLOT_PX, side="top", title=dict(text=_("key")), tickangle=0),
        yaxis=_token_axis(query_labels, height - top - 10, along="y", autorange="reversed",
                          title=dict(text=_("query"))),
        height=height,
        margin=dict(l=10, r=10, t=top, b=10),
    )
    if title:
        layout["title"] = dict(text=title, y=0.99, yanchor="top")
    return fast.figure([trace], layout)


def head_matrix(
    weights: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], title: str | None = None,
    query_ids: Sequence[int] | None = None, key_ids: Sequence[int] | None = None,
) -> go.Figure:
    """One head's (Q, K) attention, as viz.heatmaps.attention_heatmap draws it (same colours, ticks, frame and
    hover text), on categorical token axes: no per-cell customdata, so about a third of the cost to send."""
    weights = fast.array(weights)
    trace = dict(type="heatmap", z=weights, colorscale=colorscale_of(ATTENTION_SCALE), zmin=0.0,
                 zmax=max(float(weights.max(initial=0.0)), 1e-6), hovertemplate=_(CELL_HOVER),
                 colorbar=dict(title=dict(text=_("weight")), thickness=12))
    return _matrix_figure(trace, query_labels, key_labels, title, query_ids, key_ids)


def mask_heatmap(
    allowed: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    title: str | None = None,
    query_ids: Sequence[int] | None = None,
    key_ids: Sequence[int] | None = None,
) -> go.Figure:
    """A (Q, K) boolean mask: blue where query i may attend to key j, grey where the score is set to −∞.

    The softmax turns a −∞ score into a weight of exactly 0, which is why masked cells of the attention beside
    it are 0. Framed like the attention beside it; hover names both tokens and the cell's state (the
    heatmap's text, one str per cell; identical rows share one list).
    """
    allowed = np.asarray(allowed, dtype=bool)
    rows: dict[bytes, list[str]] = {}
    text = []
    may_attend, masked = _(MAY_ATTEND), _(MASKED)
    for row in allowed:
        key = row.tobytes()
        if key not in rows:
            rows[key] = [may_attend if a else masked for a in row.tolist()]
        text.append(rows[key])
    trace = dict(
        type="heatmap", z=fast.array(allowed), text=text, colorscale=colorscale_of(MASK_SCALE), zmin=0.0, zmax=1.0,
        xgap=1, ygap=1, hovertemplate=_("query %{y}<br>key %{x}<br>%{text}<extra></extra>"),
        colorbar=dict(title=dict(text=_("mask")), tickvals=[0.25, 0.75], ticktext=[_("masked"), may_attend],
                      thickness=12),
    )
    return _matrix_figure(trace, query_labels, key_labels, title, query_ids, key_ids)


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
    rows = fast.array(weights[:, step, :n_keys])  # (heads, keys)
    head_labels = [_head(h) for h in range(n_heads)]
    keys = [str(t) for t in key_labels[:n_keys]]
    query = str(query_labels[step])
    trace = dict(
        type="heatmap", z=rows, x=token_categories(keys), y=head_labels,
        colorscale=colorscale_of(ATTENTION_SCALE), zmin=0.0, zmax=max(float(rows.max(initial=0.0)), 1e-6),
        # the query ("index: token") goes in as the trace's meta: data, not part of the translated template
        meta=[f"{step}: {query}"],
        hovertemplate=_("query %{meta[0]}<br>%{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>"),
        colorbar=dict(title=dict(text=_("weight")), thickness=12), xgap=1, ygap=1,
    )
    layout = dict(
        xaxis=_token_axis(keys, TWO_THIRDS_PLOT_PX, side="top", tickangle=0, title=dict(text=_("key"))),
        yaxis=_token_axis(head_labels, 34 * n_heads, along="y", autorange="reversed"),
        height=max(200, 90 + 34 * n_heads),
        margin=dict(l=10, r=10, t=80 if title else 40, b=10),
    )
    if title:
        layout["title"] = dict(text=title)
    return fast.figure([trace], layout)


def top_k_figure(top_k: Sequence[tuple[str, float]], title: str | None = None) -> go.Figure:
    """The candidates for the next token, best first, with the probabilities the softmax gave them.

    top_k: (token, probability) pairs with the model's own token strings (escaped here for Plotly).
    """
    tokens = visible_tokens([t for t, _ in top_k])
    probs = [float(p) for _, p in top_k]
    labels = [f"{i + 1}. {t}" for i, t in enumerate(tokens)]  # numbered: two candidates may look alike
    trace = dict(
        type="bar", x=probs, y=list(range(len(probs))), orientation="h", text=[f"{p:.3f}" for p in probs],
        textposition="auto", customdata=tokens,
        hovertemplate=_("token %{customdata}<br>probability %{x:.4f}<extra></extra>"),
        marker=dict(color=["#2b6cb0"] + ["#90b4dc"] * (len(probs) - 1)),
    )
    layout = dict(
        xaxis=dict(range=[0, 1], title=dict(text=_("probability"))),
        # Numeric positions with tick text: a token such as "2" must not turn the axis numeric.
        yaxis=dict(tickmode="array", tickvals=list(range(len(probs))), ticktext=labels, autorange="reversed"),
        height=80 + 34 * max(1, len(probs)),
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
    )
    if title:
        layout["title"] = dict(text=title)
    return fast.figure([trace], layout)
