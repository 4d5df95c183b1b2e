"""viz.vit's figure builders: every figure passes Plotly's full validation, serialises with orjson in
one call (no slow fallback), and carries the model's numbers: the heatmaps hold the attention maps, the
images hold the crop, the overview tiles hold the box-averaged, per-head-normalised, quantised matrices,
and the outlines sit on the chosen patch, layer and head.

The data are synthetic (softmax rows of random logits) in the shapes of vit_base_patch16_224: 224 px
crop, 14 × 14 patches of 16 px, CLS + 196 = 197 tokens, so that 197 → 96 is not an integer factor.
"""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import plotly.io as pio
import pytest
from PIL import Image

from viz import fast
from viz import vit as vi

GRID = (14, 14)
PATCH = 16.0
P = 1  # CLS
N = P + GRID[0] * GRID[1]  # 197 tokens
LAYERS, HEADS = 3, 4


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:224, :224]
    base = np.stack([x, y, (x + y) // 2], axis=-1).astype(np.int64)  # smooth, so it compresses like a photo
    return np.clip(base + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def attention() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    # sharp and diffuse heads: logits scaled differently per head
    scales = np.array([0.5, 2.0, 4.0, 8.0], dtype=np.float32)[:, None, None]
    return [softmax_rows(rng.normal(size=(HEADS, N, N)).astype(np.float32) * scales) for _ in range(LAYERS)]


def decode_png(uri: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(uri[len(prefix):])))


def decode_photo(uri: str) -> np.ndarray:
    """The photo under a ViT map: a JPEG (quality 90, no chroma subsampling), as an (H, W, 3) array."""
    prefix = "data:image/jpeg;base64,"
    assert uri.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri[len(prefix):]))).convert("RGB"))


def same_photo(sent: np.ndarray, crop: np.ndarray) -> bool:
    """The crop as sent: full size, within JPEG's rounding (the test crop is noisy, JPEG's worst case: mean error
    under 6 levels of 255; another image, or one shifted by a pixel, is tens of levels off)."""
    return sent.shape == crop.shape and float(np.abs(sent.astype(int) - crop.astype(int)).mean()) < 6


def check(fig) -> dict:
    """Full Plotly validation, orjson without the Python fallback, and the figure as plain data."""
    checked = fast.validated(fig)  # raises ValueError on any invalid property
    # …and validation changed nothing: the same JSON, up to the order of keys
    assert json.loads(pio.to_json(checked, validate=False)) == json.loads(pio.to_json(fig, validate=False))
    orjson = pytest.importorskip("orjson")
    spec = fig.to_dict()
    orjson.dumps(spec, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)  # TypeError = slow fallback
    return spec


def values(v) -> np.ndarray:
    """An array of a figure dict: numpy as built, or plotly's typed-array spec {"dtype", "bdata", "shape"}."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape([int(s) for s in str(v["shape"]).split(",")]) if v.get("shape") else a
    return np.asarray(v)


def rect_cell(shape: dict, step: float) -> tuple[int, int]:
    """The (row, column) cell of side `step` that a rect's centre falls in."""
    cx, cy = (shape["x0"] + shape["x1"]) / 2, (shape["y0"] + shape["y1"]) / 2
    return int((cy + 0.5) // step), int((cx + 0.5) // step)


# ------------------------------------------------------------------------------------- patch grid


def test_patch_grid_image_lines_markers_and_selection(crop):
    spec = check(vi.patch_grid(crop, GRID, PATCH, P, selected=(3, 11)))
    image, markers = spec["data"]
    assert image["type"] == "image" and image["hoverinfo"] == "skip"
    assert same_photo(decode_photo(image["source"]), crop)  # full size
    assert (image["x0"], image["dx"]) == (0.0, 1.0)
    custom = values(markers["customdata"]).reshape(-1, 3)
    r, c = np.divmod(np.arange(196), 14)
    assert np.array_equal(custom, np.stack([r, c, P + r * 14 + c], axis=-1))
    np.testing.assert_allclose(values(markers["x"]), (c + 0.5) * PATCH - 0.5)
    np.testing.assert_allclose(values(markers["y"]), (r + 0.5) * PATCH - 0.5)
    assert "token %{customdata[2]}" in markers["hovertemplate"] and "16×16 px" in markers["hovertemplate"]
    layout = spec["layout"]
    lines = [s for s in layout["shapes"] if s["type"] == "line"]
    assert len(lines) == 15 + 15
    assert sorted({s["x0"] for s in lines if s["x0"] == s["x1"]}) == [k * PATCH - 0.5 for k in range(15)]
    (outline,) = [s for s in layout["shapes"] if s["type"] == "rect"]
    assert rect_cell(outline, PATCH) == (3, 11)
    assert outline["x1"] - outline["x0"] == PATCH
    assert layout["clickmode"] == "event+select" and layout["title"]["text"] == "14×14 patches of 16×16 px"
    assert layout["yaxis"]["range"] == [223.5, -0.5] and layout["yaxis"]["scaleanchor"] == "x"


def test_a_large_crop_is_sent_shrunk_and_placed_at_scale():
    big = np.random.default_rng(2).integers(0, 256, (896, 896, 3), dtype=np.uint8)
    spec = check(vi.patch_grid(big, (64, 64), 14.0, 1))
    image = spec["data"][0]
    sent = decode_photo(image["source"])
    assert sent.shape[:2] == (640, 640) and image["dx"] == pytest.approx(896 / 640)
    assert image["x0"] == pytest.approx(896 / 640 / 2 - 0.5)


def test_png_data_uris_are_encoded_once_per_image(crop, monkeypatch):
    frozen = crop.copy()
    frozen.flags.writeable = False
    first = vi.png_data_uri(frozen, 640)
    calls = []
    monkeypatch.setattr(vi, "_encode_png", lambda *a: calls.append(a) or ("x", 1.0))
    assert vi.png_data_uri(frozen, 640) == first  # memoised: no new encoding
    assert vi.png_data_uri(frozen.copy(), 640) == first  # same content, another array: same URI
    changed = crop.copy()
    changed[0, 0] ^= 1
    assert vi.png_data_uri(changed, 640) == ("x", 1.0) and len(calls) == 1  # other pixels: encoded again


# ------------------------------------------------------------------------------------- overlays


def test_attention_overlay_holds_the_map_and_marks_the_patch(crop, attention):
    patch_map = attention[2][1, 0, P:].reshape(GRID)
    spec = check(vi.attention_overlay(crop, patch_map, PATCH, P, title="Layer 3, head 1", mark=(5, 9)))
    image, heat = spec["data"]
    assert same_photo(decode_photo(image["source"]), crop)
    assert heat["type"] == "heatmap"
    assert np.array_equal(values(heat["z"]), patch_map)  # float32, bit for bit
    assert heat["zmin"] == 0.0 and heat["zmax"] == pytest.approx(float(patch_map.max()))
    assert heat["colorscale"] == [list(c) for c in vi.OVERLAY_SCALE] or heat["colorscale"] == vi.OVERLAY_SCALE
    custom = values(heat["customdata"])
    assert custom.shape == (14, 14, 3) and custom[5, 9].tolist() == [5, 9, P + 5 * 14 + 9]
    assert (heat["x0"], heat["dx"], heat["y0"], heat["dy"]) == (7.5, 16.0, 7.5, 16.0)
    assert heat["colorbar"]["title"]["text"] == "weight"
    (outline,) = spec["layout"]["shapes"]
    assert rect_cell(outline, PATCH) == (5, 9)
    assert spec["layout"]["title"]["text"] == "Layer 3, head 1"
    untitled = check(vi.attention_overlay(crop, patch_map, PATCH, P, label="rollout"))
    assert "title" not in untitled["layout"] or not untitled["layout"]["title"].get("text")
    assert "rollout %{z:.4f}" in untitled["data"][1]["hovertemplate"] and not untitled["layout"].get("shapes")


def test_head_grid_one_heatmap_per_head_on_its_panel(crop, attention):
    att = attention[0]
    maps = att[:, 0, P:].reshape(HEADS, *GRID)
    spec = check(vi.head_grid(crop, maps, PATCH, P, columns=2, mark=(2, 6)))
    image, heats = spec["data"][0], spec["data"][1:]
    assert len(heats) == HEADS and all(h["type"] == "heatmap" for h in heats)
    tiled = decode_photo(image["source"])
    thumb = np.asarray(Image.fromarray(crop).resize((160, 160), Image.Resampling.BOX))
    scale = image["dx"]
    assert scale == pytest.approx(224 / 160)
    annotations = spec["layout"]["annotations"]
    outlines = spec["layout"]["shapes"]
    for i, heat in enumerate(heats):
        assert np.array_equal(values(heat["z"]), maps[i])
        assert heat["zmax"] == pytest.approx(float(maps[i].max()))  # each head on its own scale
        ox, oy = heat["x0"] - PATCH / 2 + 0.5, heat["y0"] - PATCH / 2 + 0.5  # the panel's corner, input px
        tx, ty = round(ox / scale), round(oy / scale)
        assert same_photo(tiled[ty : ty + 160, tx : tx + 160], thumb)  # the heatmap lies on its thumbnail
        assert annotations[i]["text"] == f"head {i + 1}" and annotations[i]["x"] == pytest.approx(ox + 112)  # from 1
        assert rect_cell(dict(outlines[i], x0=outlines[i]["x0"] - ox, x1=outlines[i]["x1"] - ox,
                              y0=outlines[i]["y0"] - oy, y1=outlines[i]["y1"] - oy), PATCH) == (2, 6)
        assert heat["hovertemplate"].startswith(f"head {i + 1}<br>")
    shared = check(vi.head_grid(crop, maps, PATCH, P, shared_scale=True))
    assert [h["zmax"] for h in shared["data"][1:]] == [pytest.approx(float(maps.max()))] * HEADS


# ------------------------------------------------------------------------------------- overview


def box_average(m: np.ndarray, side: int) -> np.ndarray:
    """(n, n) → (side, side) box average, written out in numpy: output pixel j averages the input pixels
    whose centres fall in its span, i.e. i + ½ ∈ (j·s, (j+1)·s] with s = n / side (PIL's BOX filter)."""
    n = m.shape[0]
    s = n / side
    centre = np.arange(n) + 0.5
    member = (centre[None, :] > np.arange(side)[:, None] * s) & (centre[None, :] <= (np.arange(side)[:, None] + 1) * s)
    w = member / member.sum(axis=1, keepdims=True)  # (side, n) rows of equal weights
    return w @ m.astype(np.float64) @ w.T


def area_average(m: np.ndarray, side: int) -> np.ndarray:
    """(n, n) → (side, side) exact area average: each input pixel weighted by the share of it covered."""
    n = m.shape[0]
    edges = np.arange(side + 1) * n / side
    lo, hi = edges[:-1, None], edges[1:, None]
    i = np.arange(n)[None, :]
    w = np.clip(np.minimum(hi, i + 1) - np.maximum(lo, i), 0, None) / (n / side)
    return w @ m.astype(np.float64) @ w.T


def test_box_average_reference_is_pils_box_filter(attention):
    m = attention[1][2]
    pil = np.asarray(Image.fromarray(m, mode="F").resize((96, 96), Image.Resampling.BOX))
    np.testing.assert_allclose(box_average(m, 96), pil, rtol=1e-5, atol=1e-9)


def test_overview_tiles_are_box_averaged_normalised_quantised(attention):
    tiles = vi.overview_tiles(attention)
    assert (tiles["tile"], tiles["layers"], tiles["heads"], tiles["tokens"]) == (96, LAYERS, HEADS, N)
    step, levels = 96 + tiles["gap"], vi.OVERVIEW_LEVELS
    png = decode_png(tiles["uri"])
    assert png.mode == "P"
    idx = np.asarray(png)
    assert idx.shape == (LAYERS * step - tiles["gap"], HEADS * step - tiles["gap"])
    palette = np.asarray(png.getpalette()[: 3 * (levels + 1)], dtype=np.uint8).reshape(-1, 3)
    assert np.array_equal(palette[:levels], vi._colour_table(n=levels)) and palette[levels].tolist() == [255] * 3
    for layer, a in enumerate(attention):
        for h in range(HEADS):
            m = a[h]
            assert tiles["max"][layer, h] == pytest.approx(float(m.max()))
            avg = box_average(m, 96)
            expected = np.clip(np.floor(avg * (levels - 1) / m.max() + 0.5), 0, levels - 1)
            got = idx[layer * step : layer * step + 96, h * step : h * step + 96].astype(int)
            diff = np.abs(got - expected)
            assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # float32 vs float64 at a level's edge only
            # and it is an area average: within a level of the exact coverage-weighted mean, on average
            exact = area_average(m, 96) * (levels - 1) / m.max()
            assert np.abs(got - exact).mean() < 1.0
    gaps = idx[96 : 96 + tiles["gap"], :]
    assert (gaps == levels).all()  # white between tiles


def test_overview_of_a_small_model_is_not_averaged():
    rng = np.random.default_rng(3)
    attention = [softmax_rows(rng.normal(size=(2, 65, 65)).astype(np.float32) * 3) for _ in range(2)]
    tiles = vi.overview_tiles(attention)
    assert tiles["tile"] == 65
    idx = np.asarray(decode_png(tiles["uri"]))
    step = 65 + tiles["gap"]
    m = attention[1][0]
    expected = np.clip(np.floor(m.astype(np.float64) * (vi.OVERVIEW_LEVELS - 1) / m.max() + 0.5), 0, 63)
    assert np.abs(idx[step : step + 65, :65].astype(int) - expected).max() <= 1
    spec = check(vi.layer_head_overview(tiles, selected=(1, 0)))
    assert "shown as" not in spec["data"][1]["hovertemplate"]


@pytest.mark.parametrize("selected", [(0, 0), (2, 3), (1, 2)])
def test_layer_head_overview_outline_and_click_targets(attention, selected):
    tiles = vi.overview_tiles(attention)
    spec = check(vi.layer_head_overview(tiles, selected=selected, title="Every layer × head: test"))
    image, markers = spec["data"]
    assert image["source"] == tiles["uri"] and (image["x0"], image["dx"]) == (0, 1)
    step = tiles["tile"] + tiles["gap"]
    custom = values(markers["customdata"]).reshape(LAYERS, HEADS, 3)
    layer, h = selected
    assert custom[layer, h, :2].tolist() == [layer + 1, h + 1]
    assert custom[layer, h, 2] == pytest.approx(tiles["max"][layer, h])
    xs = values(markers["x"]).reshape(LAYERS, HEADS)
    ys = values(markers["y"]).reshape(LAYERS, HEADS)
    assert xs[layer, h] == pytest.approx(h * step + 47.5) and ys[layer, h] == pytest.approx(layer * step + 47.5)
    (outline,) = spec["layout"]["shapes"]
    assert rect_cell(outline, step) == (layer, h)
    assert outline["x0"] < h * step and outline["x1"] > h * step + tiles["tile"] - 1  # around the whole tile
    assert outline["x0"] > h * step - tiles["gap"] - 0.5 and outline["y0"] > layer * step - tiles["gap"] - 0.5
    assert spec["layout"]["title"]["text"].startswith("Every layer × head")
    assert spec["layout"]["xaxis"]["ticktext"] == [f"head {i + 1}" for i in range(HEADS)]  # heads count from 1
    assert spec["layout"]["yaxis"]["ticktext"] == [f"layer {i + 1}" for i in range(LAYERS)]
    assert "shown as 96×96 averages" in markers["hovertemplate"]
    assert spec["layout"]["clickmode"] == "event+select"


# ------------------------------------------------------------------------------------- the rest


def test_token_matrix_full_precision_and_labelled_hover(attention):
    labels = ["CLS"] + [f"({r},{c})" for r in range(14) for c in range(14)]
    m = attention[2][3]
    spec = check(vi.token_matrix(m, labels, title="Layer 3, head 3"))
    (heat,) = spec["data"]
    z = values(heat["z"])
    assert z.dtype == np.float32 and np.array_equal(z, m)  # the selected head exactly, nothing pooled or rounded
    names = list(heat["x"])
    assert names == list(heat["y"]) and len(set(names)) == N and names[5] == "5: (0,4)"
    assert heat["hovertemplate"].startswith("query %{y}<br>key %{x}")  # "query 5: (0,4)", as before
    assert heat["zmax"] == pytest.approx(float(m.max())) and heat["colorscale"]
    x, y = spec["layout"]["xaxis"], spec["layout"]["yaxis"]
    assert x["type"] == y["type"] == "category" and y["autorange"] == "reversed" and x["side"] == "top"
    assert x["ticktext"] == [labels[int(v.split(":")[0])] for v in x["tickvals"]]
    assert len(x["tickvals"]) <= 40 and x["tickvals"][0] == "0: CLS" and x["tickangle"] == -90
    assert spec["layout"]["title"]["text"] == "Layer 3, head 3"
    margin = spec["layout"]["margin"]
    plot_height = spec["layout"]["height"] - margin["t"] - margin["b"]
    assert plot_height / len(y["tickvals"]) >= 18  # labelled rows far enough apart for 12 px labels
    assert x["tickfont"]["size"] >= 12 and y["tickfont"]["size"] >= 12
    # repeated tokens keep their own rows and columns; few tokens: every one labelled
    small = check(vi.token_matrix(np.eye(3, dtype=np.float32), ["REG", "REG", "(0,0)"]))
    assert list(small["data"][0]["x"]) == ["0: REG", "1: REG", "2: (0,0)"]
    assert small["layout"]["xaxis"]["ticktext"] == ["REG", "REG", "(0,0)"]
    assert small["layout"]["xaxis"]["tickangle"] == 0
    for n in (65, 197, 230, 1000):  # the demo ViT, vit_base, a pooled DINOv2, more
        big = check(
            vi.token_matrix(np.full((n, n), 1 / n, np.float32), [f"r{i}-{i},c{i}-{i}" for i in range(n)], title="t")
        )
        lay = big["layout"]
        assert (lay["height"] - lay["margin"]["t"] - lay["margin"]["b"]) / len(lay["yaxis"]["tickvals"]) >= 18, n


def test_top_k_bars_keep_duplicate_names_apart():
    top = [("crane", 0.4), ("crane", 0.3), ("a" * 50, 0.1)]
    spec = check(vi.top_k_bars(top, title="Top-5 predictions"))
    (bar,) = spec["data"]
    np.testing.assert_allclose(values(bar["x"]), [0.4, 0.3, 0.1])
    assert values(bar["y"]).tolist() == [0, 1, 2] and bar["orientation"] == "h"
    assert list(bar["text"]) == ["40.0%", "30.0%", "10.0%"] and list(bar["customdata"])[2] == "a" * 50
    y = spec["layout"]["yaxis"]
    assert y["ticktext"] == ["crane", "crane", "a" * 39 + "…"] and y["autorange"] == "reversed"
    assert spec["layout"]["xaxis"]["range"] == [0, 1] and spec["layout"]["height"] == 60 + 36 * 3


def test_distance_scatter_one_trace_per_head():
    d = np.random.default_rng(4).uniform(10, 120, (12, 6))
    spec = check(vi.distance_scatter(d, image_px=224.0))
    assert len(spec["data"]) == 6
    for h, trace in enumerate(spec["data"]):
        np.testing.assert_allclose(values(trace["y"]), d[:, h])
        np.testing.assert_allclose(values(trace["x"]), np.arange(1, 13) + np.linspace(-0.2, 0.2, 6)[h])
        assert values(trace["customdata"]).tolist() == list(range(1, 13)) and trace["name"] == f"head {h + 1}"
    assert spec["layout"]["yaxis"]["range"] == [0, 168.0]
    assert spec["layout"]["xaxis"]["title"]["text"] == "network depth (layer)"


# ------------------------------------------------------------------------------------- the page's inputs


def test_an_image_is_decoded_and_hashed_once_per_upload_or_sample(monkeypatch):
    """What a rerun after a view change costs before any figure: ui.vision keeps the loaded image
    (st.cache_resource) and its content key, so a 16 MP upload is neither decoded nor hashed again."""
    from models.runtime import images
    from ui import vision as uv

    path = next(iter(images.SAMPLES.values()))
    first = uv._cached_image(f"sample:{path}", path)
    assert uv._cached_image(f"sample:{path}", path) is first
    expected = uv._content_key(first)
    calls = []
    monkeypatch.setattr(uv, "_content_key", lambda im: calls.append(im) or expected)
    assert uv.image_key(first) == expected and not calls  # remembered: not hashed again
    other = images.load_image(path)  # the same pixels in another object: hashed, same key
    assert uv.image_key(other) == expected and len(calls) == 1


# ------------------------------------------------------------------------------------- pooled token matrix


def test_pooling_uniform_attention_gives_a_uniform_picture():
    """37 × 37 patches (a 518 px DINOv2 with 4 registers) do not cut into equal squares: the mean pool still
    draws attention spread evenly as one even colour, where summing the keys drew light stripes at the edges."""
    from models.analysis import attention_math as am

    grid, p = (37, 37), 5
    n = p + 37 * 37
    uniform = np.full((n, n), 1.0 / n, dtype=np.float32)
    f = am.pool_factor(grid, p, 256)
    pooled, spans = am.pool_mean(uniform, grid, p, f)
    assert pooled.shape == (p + 13 * 13,) * 2
    np.testing.assert_allclose(pooled, 1.0 / n, rtol=1e-6)  # no stripe: every cell one weight
    sizes = {b - a for a, b, _, _ in spans} | {d - c for _, _, c, d in spans}
    assert sizes == {2, 3}  # runs of near-equal length, no 1-patch leftover at the edge
    assert spans[0] == (0, 2, 0, 2) and spans[-1] == (34, 37, 34, 37)
    summed, _ = am.pool_tokens(uniform, grid, p, f)  # the old way: the last, 1-patch-wide squares get a third
    assert summed[p, -1] < 0.5 * summed[p, p]


def test_pooling_a_known_matrix_by_hand():
    from models.analysis import attention_math as am

    # 1 prefix token and 3 × 3 patches in squares of at most 2 × 2: rows and columns cut into runs {0} and {1, 2}
    a = np.arange(100, dtype=np.float64).reshape(10, 10)  # a[i, j] = 10 i + j, tokens 0 (CLS) and 1…9
    pooled, spans = am.pool_mean(a, (3, 3), 1, 2)
    assert spans == [(0, 1, 0, 1), (0, 1, 1, 3), (1, 3, 0, 1), (1, 3, 1, 3)]
    # pooled tokens: CLS; square 0 = patch 0 (token 1); square 1 = patches 1, 2 (tokens 2, 3);
    # square 2 = patches 3, 6 (tokens 4, 7); square 3 = patches 4, 5, 7, 8 (tokens 5, 6, 8, 9)
    assert pooled[0, 0] == 0.0  # CLS → CLS as it was
    assert pooled[0, 4] == pytest.approx((5 + 6 + 8 + 9) / 4)  # CLS → square 3: mean of four weights
    assert pooled[2, 0] == pytest.approx((20 + 30) / 2)  # square 1 → CLS: mean of two queries
    assert pooled[4, 2] == pytest.approx(np.mean([10 * i + j for i in (5, 6, 8, 9) for j in (2, 3)]))  # 72.5
    assert pooled[1, 1] == pytest.approx(11.0)  # a square of one patch: its own weight
    batched, _ = am.pool_mean(np.stack([a, 2 * a]), (3, 3), 1, 2)  # (heads, N, N) pools head by head
    np.testing.assert_allclose(batched[1], 2 * pooled, rtol=1e-6)


# ------------------------------------------------------------------------------------- downloads


@pytest.fixture(scope="module")
def demo_trace():
    """The bundled demo ViT on a generated shape: a real model's attention (4 layers × 4 heads, 65 tokens)."""
    from models.capture import vision
    from models.demo import shapes

    return vision.run(vision.load("vit_demo", "demo"), shapes.sample_image("circle", size=64, seed=3))


def test_npz_download_holds_every_layer_as_the_model_computed_it(demo_trace):
    data = np.load(io.BytesIO(vi.export_npz(demo_trace)))
    assert len(demo_trace.attention) == 4
    for i, a in enumerate(demo_trace.attention):
        got = data[f"attention_layer{i + 1}"]  # layers counted from 1
        assert got.dtype == np.float32 and np.array_equal(got, a)  # bit for bit
    assert "attention_layer0" not in data and "attention_layer5" not in data
    assert data["token_labels"].tolist() == list(demo_trace.token_labels) and data["token_labels"][0] == "CLS"
    assert str(data["model"]) == "vit_demo" and str(data["weights_source"]) == demo_trace.weights_source
    assert data["grid"].tolist() == [8, 8] and int(data["patch_size"]) == 8 and int(data["num_prefix_tokens"]) == 1
    assert np.array_equal(data["image"], demo_trace.image)
    assert vi.export_size(demo_trace) == 4 * 4 * 65 * 65


def test_json_download_holds_the_same_numbers(demo_trace):
    doc = json.loads(vi.export_json(demo_trace))
    assert doc["model"] == "vit_demo" and doc["weights_source"] == demo_trace.weights_source
    assert doc["token_labels"] == list(demo_trace.token_labels) and doc["num_prefix_tokens"] == 1
    assert doc["axes"] == ["head", "query", "key"]
    assert list(doc["attention"]) == ["layer1", "layer2", "layer3", "layer4"]
    for i, a in enumerate(demo_trace.attention):
        got = np.asarray(doc["attention"][f"layer{i + 1}"], dtype=np.float32)
        assert np.array_equal(got, a)
        np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)  # softmax rows


def test_top_k_text_is_never_shrunk_below_12_px():
    spec = check(vi.top_k_bars([("circle", 0.97), ("square", 0.02), ("triangle", 0.01)]))
    assert spec["layout"]["uniformtext"] == {"minsize": 12, "mode": "show"}


def test_a_head_grid_of_many_patches_names_each_patch_in_a_third_of_the_bytes(crop):
    """Above 1,024 patches (DINOv2 at 1,036 px: 74 × 74) each panel's hover carries (row, column) as one byte each,
    not the token index too: six panels resent on every layer change."""
    maps = np.random.default_rng(3).random((6, 40, 40)).astype(np.float32)
    spec = check(vi.head_grid(crop, maps, 224 / 40, 1))
    for heat in spec["data"][1:]:
        custom = values(heat["customdata"])
        assert custom.dtype == np.int8 and custom.shape == (40, 40, 2)
        assert custom[7, 31].tolist() == [7, 31] and "token" not in heat["hovertemplate"]
        assert np.array_equal(values(heat["z"]), maps[spec["data"].index(heat) - 1])  # the weights exactly
