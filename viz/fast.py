"""Figures built from plain dicts: the fast path every page's builders take.

Plotly's graph objects check every property as it is set; for a page of 20 figures with hundreds of
traces that is most of a rerun (a 4-head grid of heatmaps took about 140 ms through make_subplots and
update_xaxes, about 5 ms as dicts). The builders therefore write the figure as plain dicts, the JSON
Plotly.js reads, and wrap it with `figure()`, which skips the per-property validation. The checking is
not lost: tests/test_figures_{text,vit,swin}.py validate every builder's output with Plotly's validators.

Arrays stay numpy (C-contiguous, float32 where the values are weights): Streamlit serialises figures
with plotly.io.to_json, whose orjson engine writes numpy arrays in one call, while Python lists of
floats are walked element by element.
"""
from __future__ import annotations

import threading
import weakref

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
_SCALES: dict[str, Shared] = {}


def colorscale(scale) -> Shared:
    """A colour scale as the explicit [[position, colour], ...] list that validation would send, shared.

    Dict-built figures need it: Plotly.js has colour scales of its own under some of Plotly.py's names
    ("Blues" there runs from dark blue to grey; "Inferno", "RdBu_r" it lacks), so a bare name would draw
    other colours. Names are looked up once (get_colorscale rebuilds Plotly's table on each call, ~1 ms)."""
    if not isinstance(scale, str):
        return Shared([list(stop) for stop in scale])
    stops = _SCALES.get(scale)
    if stops is None:
        from plotly.colors import get_colorscale

        stops = _SCALES.setdefault(scale, Shared([list(stop) for stop in get_colorscale(scale)]))
    return stops


def jpeg_uri(image, quality: int = 90) -> str:
    """A JPEG data URI of a PIL image or an (H, W, 3) uint8 array (quality 90, no chroma subsampling): for
    photographs under a chart, a fifth to a tenth of a PNG's bytes and no difference the eye sees."""
    import base64
    import io

    from PIL import Image

    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    pil.convert("RGB").save(buf, "JPEG", quality=quality, subsampling=0)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def png_uri(image, **save) -> str:
    """A PNG data URI of a PIL image or an (H, W[, 3]) uint8 array; `save` goes to PIL's PNG writer."""
    import base64
    import io

    from PIL import Image

    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    pil.save(buf, "PNG", **save)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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


class KeptKeys:
    """Content keys of objects that never change (read-only arrays, cached images), kept while each object
    lives: a rerun finds the key by identity instead of hashing the content again. Thread-safe."""

    def __init__(self) -> None:
        self._keys: dict[int, tuple[weakref.ref, str]] = {}
        self._lock = threading.RLock()  # the weakref callback may run while this thread holds it

    def get(self, obj) -> str | None:
        with self._lock:
            known = self._keys.get(id(obj))
        return known[1] if known is not None and known[0]() is obj else None

    def keep(self, obj, key: str) -> None:
        i = id(obj)
        ref = weakref.ref(obj, lambda _: self._forget(i))
        with self._lock:
            self._keys[i] = (ref, key)

    def _forget(self, i: int) -> None:
        with self._lock:
            known = self._keys.get(i)
            if known is not None and known[0]() is None:
                del self._keys[i]
