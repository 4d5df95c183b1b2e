"""Presentation mode, for projecting in class: large type, one main figure per screen, explanations folded.

Switched in the sidebar or by the link (`?present=1`). What it changes, in one place:
- CSS: body text at 20 px and headings larger (CSS below);
- every figure drawn through ui.common.cached_figure is restyled by `restyle`: tick labels ≥ 16 px, titles and
  hover text larger, and no taller than FIGURE_MAX_HEIGHT, so that a figure fits a projector's window;
- `explain(markdown)` shows an explanation folded in an expander;
- `layout()` gives a page the columns for "controls beside the main figure".
"""
from __future__ import annotations

import copy

import streamlit as st

from ui.i18n import _

SESSION_KEY = "present"
BODY_PX = 20
TICK_PX = 16
TITLE_PX = 22
FIGURE_MAX_HEIGHT = 560  # px: a 1280 × 720 projector's browser window leaves about 600 px below the header
CONTROLS_WIDTH = 1  # controls : figure columns in presentation mode
FIGURE_WIDTH = 3

CSS = f"""
<style>
.stApp, .stMarkdown p, .stMarkdown li, .stCaption p, [data-testid="stCaptionContainer"] p,
[data-testid="stWidgetLabel"] p, .stAlert p, label p, .stExpander summary p, button p,
[data-testid="stTab"] p, [data-testid="stSliderThumbValue"] p, [data-testid="stSliderTickBar"] p,
[data-testid="stMarkdownContainer"] p {{
  font-size: {BODY_PX}px !important; line-height: 1.45 !important;
}}
.stMarkdown h1, h1 {{ font-size: 40px !important; }}
.stMarkdown h2, h2 {{ font-size: 32px !important; }}
.stMarkdown h3, h3 {{ font-size: 26px !important; }}
.stCode code, code {{ font-size: {BODY_PX - 2}px !important; }}
</style>
"""


def on() -> bool:
    """True when this session is in presentation mode."""
    return bool(st.session_state.get(SESSION_KEY, False))


def apply_css() -> None:
    if on():
        st.html(CSS)


def explain(markdown: str, label: str | None = None) -> None:
    """An explanation: shown as text normally, folded into an expander when projecting."""
    if on():
        with st.expander(label or _("Explanation")):
            st.markdown(markdown)
    else:
        st.markdown(markdown)


def caption(text: str) -> None:
    """A caption: small text normally, folded when projecting (it would be 20 px otherwise)."""
    if on():
        with st.expander(_("Explanation")):
            st.caption(text)
    else:
        st.caption(text)


def layout():
    """(controls, figure) columns when projecting; (main, main) otherwise: a page puts its view's controls in
    the first and its main figure in the second."""
    if on():
        return st.columns([CONTROLS_WIDTH, FIGURE_WIDTH], gap="medium")
    main = st.container()
    return main, main


def _font(d: dict, size: int) -> None:
    font = d.get("font")
    font = dict(font) if isinstance(font, dict) else {}
    font["size"] = max(size, font.get("size") or 0)
    d["font"] = font


def restyle(fig):
    """A copy of `fig` (a go.Figure, or a dict of one) sized for a projector; `fig` itself is left as it is,
    since figures are cached and shared."""
    import plotly.graph_objects as go

    is_figure = isinstance(fig, go.Figure)
    d = fig.to_plotly_json() if is_figure else copy.deepcopy(fig)
    layout = dict(d.get("layout") or {})
    _font(layout, BODY_PX - 2)
    for name, value in list(layout.items()):
        if (name.startswith("xaxis") or name.startswith("yaxis") or name in ("coloraxis",)) and isinstance(value, dict):
            axis = dict(value)
            tick = dict(axis.get("tickfont") or {})
            tick["size"] = max(TICK_PX, tick.get("size") or 0)
            axis["tickfont"] = tick
            title = axis.get("title")
            if isinstance(title, dict):
                title = dict(title)
                _font(title, TICK_PX + 2)
                axis["title"] = title
            layout[name] = axis
    title = layout.get("title")
    if isinstance(title, dict):
        title = dict(title)
        _font(title, TITLE_PX)
        layout["title"] = title
    for name in ("legend", "hoverlabel"):
        part = dict(layout.get(name) or {})
        _font(part, TICK_PX)
        layout[name] = part
    annotations = layout.get("annotations")
    if annotations:
        out = []
        for a in annotations:
            a = dict(a)
            _font(a, TICK_PX)
            out.append(a)
        layout["annotations"] = out
    height = layout.get("height")
    if height is None or height > FIGURE_MAX_HEIGHT:
        layout["height"] = FIGURE_MAX_HEIGHT
    data = []
    for trace in d.get("data") or []:
        trace = dict(trace)
        colorbar = trace.get("colorbar")
        if isinstance(colorbar, dict) or trace.get("type") in ("heatmap", "contour"):
            colorbar = dict(colorbar or {})
            tick = dict(colorbar.get("tickfont") or {})
            tick["size"] = max(TICK_PX, tick.get("size") or 0)
            colorbar["tickfont"] = tick
            trace["colorbar"] = colorbar
        if trace.get("type") in ("scatter", "scattergl") and "textfont" in trace:
            _font_key = dict(trace["textfont"] or {})
            _font_key["size"] = max(TICK_PX, _font_key.get("size") or 0)
            trace["textfont"] = _font_key
        data.append(trace)
    d = {"data": data, "layout": layout}
    if is_figure:
        from viz.fast import figure

        return figure(d["data"], d["layout"])
    return d


def styled(fig):
    """`fig` restyled for the projector in presentation mode, else `fig` itself: for the few figures that are
    not drawn through ui.common.cached_figure (which does this already)."""
    return restyle(fig) if on() else fig
