"""What a click on a Plotly chart selected, read the same way on every page.

`st.plotly_chart(..., on_select="rerun", selection_mode="points", key=KEY)` puts the selection in
`st.session_state[KEY]`. What a real browser sends is not what one would write by hand: a point's
`customdata` row that was a numpy array travels as a typed array and arrives as a dict keyed "0", "1", …
(tests/fixtures/chromium_*.json are such payloads, captured from Chromium), a list when it was a list,
a scalar when it was one; a click on empty space gives no points. `clicked` turns all of these into one
plain shape, so a page never indexes the raw payload.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Click:
    """The first point a click selected: its trace, its index in that trace, x, y and its customdata as a tuple."""

    curve: int
    index: int
    x: Any
    y: Any
    custom: tuple


def _as_tuple(custom: Any) -> tuple:
    if custom is None:
        return ()
    if isinstance(custom, Mapping):  # a typed array: {"0": a, "1": b, ...}
        try:
            return tuple(custom[k] for k in sorted(custom, key=int))
        except (TypeError, ValueError):
            return tuple(custom.values())
    if isinstance(custom, (list, tuple)):
        return tuple(custom)
    return (custom,)


def _points(event: Any) -> list:
    if event is None:
        return []
    if isinstance(event, Mapping):
        selection = event.get("selection") or {}
        points = selection.get("points") if isinstance(selection, Mapping) else getattr(selection, "points", None)
    else:
        selection = getattr(event, "selection", None)
        points = getattr(selection, "points", None) if selection is not None else None
    return list(points or [])


def clicked(event: Any) -> Click | None:
    """The first selected point of a chart's selection state (or the event st.plotly_chart returned), or None
    when nothing was selected (a click on empty space, a fresh chart, a malformed payload)."""
    for point in _points(event):
        if not isinstance(point, Mapping):
            continue
        curve = point.get("curve_number", 0)
        index = point.get("point_index", point.get("point_number", 0))
        try:
            return Click(int(curve or 0), int(index or 0), point.get("x"), point.get("y"),
                         _as_tuple(point.get("customdata")))
        except (TypeError, ValueError):
            continue
    return None


def custom_ints(event: Any, n: int) -> tuple[int, ...] | None:
    """The first `n` customdata values of the clicked point as ints, or None when there is no such click."""
    click = clicked(event)
    if click is None or len(click.custom) < n:
        return None
    try:
        return tuple(int(v) for v in click.custom[:n])
    except (TypeError, ValueError):
        return None
