"""The corpus page's figures (viz/corpus.py) from hand-made numbers: each value lands on its layer and head (from 1),
a click target carries (layer, head), the picked head is outlined where it is, and every figure passes Plotly's
full validation."""
import base64

import numpy as np
import pytest

from viz import corpus as vc
from viz.fast import validated


def arr(value) -> np.ndarray:
    """A figure array: numpy as built, a list, or plotly's typed-array JSON."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(value)


def as_json(fig) -> dict:
    return validated(fig).to_plotly_json()


def test_stat_grid_puts_each_value_on_its_layer_and_head():
    values = np.arange(12, dtype=float).reshape(3, 4) / 10  # layer l (from 1), head h: (l − 1)·4 + h − 1, /10
    values[2, 3] = np.nan  # a layer with fewer heads (Swin)
    fig = as_json(vc.stat_grid(values, selected=(2, 3), title="t", colorbar="nats"))
    heat, cells = fig["data"]
    assert heat["type"] == "heatmap" and cells["type"] == "scatter"
    z = arr(heat["z"])
    assert z.shape == (3, 4) and list(arr(heat["x"])) == [1, 2, 3, 4] and list(arr(heat["y"])) == [1, 2, 3]
    np.testing.assert_array_equal(np.isnan(z), np.isnan(values))
    custom = arr(cells["customdata"])
    assert len(custom) == 11  # no click target where the head does not exist
    for (layer, head, v), x, y in zip(custom, arr(cells["x"]), arr(cells["y"])):
        assert (x, y) == (head, layer)
        assert v == pytest.approx(values[int(layer) - 1, int(head) - 1])
    rect = fig["layout"]["shapes"][0]
    assert (rect["x0"] + rect["x1"]) / 2 == 3 and (rect["y0"] + rect["y1"]) / 2 == 2
    assert fig["layout"]["yaxis"]["range"][0] > fig["layout"]["yaxis"]["range"][1]  # layer 1 on top
    assert fig["layout"]["xaxis"]["title"]["text"] == "head (from 1)"


def test_head_map_places_heads_and_outlines_the_picked_one():
    heads = [[1, 1], [1, 2], [2, 1], [2, 2]]
    xy = np.array([[0.0, 1.0], [2.0, 3.0], [-1.0, 0.5], [4.0, -2.0]])
    fig = as_json(vc.head_map(heads, xy, selected=(2, 1)))
    dots, ring = fig["data"]
    np.testing.assert_allclose(arr(dots["x"]), xy[:, 0])
    np.testing.assert_allclose(arr(dots["y"]), xy[:, 1])
    np.testing.assert_array_equal(arr(dots["customdata"]), np.asarray(heads))
    np.testing.assert_array_equal(arr(dots["marker"]["color"]), [1, 1, 2, 2])  # coloured by layer
    assert (ring["x"][0], ring["y"][0]) == (-1.0, 0.5) and list(ring["customdata"][0]) == [2, 1]


def test_profile_bars_offsets_and_values():
    prof = np.linspace(0, 1, 17)
    prof[8] = 0.9
    fig = as_json(vc.profile_bars(prof))
    bar = fig["data"][0]
    assert list(arr(bar["x"])) == list(range(-8, 9))
    np.testing.assert_allclose(arr(bar["y"]), prof)
    assert bar["marker"]["color"][8] != bar["marker"]["color"][0]  # the query itself stands out


def test_profile_grid_dy_rows_dx_columns():
    prof = np.zeros(49)
    prof[(0 + 3) * 7 + (1 + 3)] = 0.5  # dy = 0, dx = +1: the patch to the right
    prof[(-2 + 3) * 7 + (0 + 3)] = 0.25  # dy = −2, dx = 0: two rows up
    fig = as_json(vc.profile_grid(prof))
    heat = fig["data"][0]
    z = arr(heat["z"])
    xs, ys = list(arr(heat["x"])), list(arr(heat["y"]))
    assert xs == ys == list(range(-3, 4))
    assert z[ys.index(0), xs.index(1)] == 0.5 and z[ys.index(-2), xs.index(0)] == 0.25
    assert fig["layout"]["yaxis"]["autorange"] == "reversed"  # down positive, as in the image
    rect = fig["layout"]["shapes"][0]
    assert (rect["x0"], rect["x1"], rect["y0"], rect["y1"]) == (-0.5, 0.5, -0.5, 0.5)


def test_distance_depth_dots_error_bars_and_axes():
    mean = np.array([[10.0, 20.0], [30.0, np.nan]])
    std = np.array([[1.0, 2.0], [3.0, np.nan]])
    fig = as_json(vc.distance_depth(mean, std, "mean attention distance (pixels)", selected=(2, 1)))
    dots = fig["data"][0]
    custom = arr(dots["customdata"])
    assert len(custom) == 3
    for (layer, head, m, s), x, y, e in zip(custom, arr(dots["x"]), arr(dots["y"]), arr(dots["error_y"]["array"])):
        assert round(x) == layer  # at its layer, spread a little sideways
        assert y == m == mean[int(layer) - 1, int(head) - 1] and e == s == std[int(layer) - 1, int(head) - 1]
    assert fig["layout"]["xaxis"]["title"]["text"] == "layer (from 1)"
    assert fig["layout"]["yaxis"]["title"]["text"] == "mean attention distance (pixels)"
    assert fig["data"][1]["y"][0] == 30.0  # the picked head outlined
