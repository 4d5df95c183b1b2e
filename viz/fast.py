"""Figures built from plain dicts: the fast path every page's builders take.

Plotly's graph objects check every property as it is set; for a page of 20 figures with hundreds of
traces that is most of a rerun (a 4-head grid of heatmaps took about 140 ms through make_subplots and
update_xaxes, about 5 ms as dicts). The builders therefore write the figure as plain dicts, the JSON
Plotly.js reads, and wrap it with `figure()`, which skips the per-property validation. The checking is
not lost: `tests/test_figures.py` validates every builder's output with Plotly's validators.

Arrays stay numpy (C-contiguous, float32 where the values are weights): Streamlit serialises figures
with plotly.io.to_json, whose orjson engine writes numpy arrays in one call, while Python lists of
floats are walked element by element.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio


class Shared(list):
    """A list that deepcopy hands back as it is (a colour scale, the same for many figures): go.Figure()
    and Figure.to_dict(), which Streamlit calls on every chart, deep-copy the data. Figures are never
    changed once built, so sharing it is safe."""

    def __deepcopy__(self, memo):
        return self


class SharedDict(dict):
    """A dict that deepcopy hands back as it is (the layout template, the same for every figure)."""

    def __deepcopy__(self, memo):
        return self


_TEMPLATES: dict[str, dict] = {}


def figure(data: list[dict], layout: dict) -> go.Figure:
    """A go.Figure of these trace dicts and layout dict, without per-property validation.

    Plotly's default template is given as a dict, built once and shared: Plotly would otherwise look it
    up and validate it for every figure (about 1 ms each), and every copy of the figure would copy it.
    The JSON is the same either way."""
    name = pio.templates.default
    if isinstance(name, str) and name and "template" not in layout:
        template = _TEMPLATES.get(name)
        if template is None:
            template = _TEMPLATES.setdefault(name, SharedDict(pio.templates[name].to_plotly_json()))
        layout = dict(layout, template=template)
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def array(values, dtype=np.float32) -> np.ndarray:
    """A C-contiguous numpy array for a figure (orjson serialises only contiguous arrays without a fallback)."""
    return np.ascontiguousarray(values, dtype=dtype)


def validated(fig: go.Figure) -> go.Figure:
    """The same figure through Plotly's full validation: raises ValueError on any invalid property (tests)."""
    return go.Figure(fig.to_dict())
