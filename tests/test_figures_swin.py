"""The Swin page's dict-built figures (viz.swin on viz.fast) against Plotly's full validation.

Every builder skips Plotly's per-property checks for speed; here each figure goes through them
(viz.fast.validated), must serialise to exactly the JSON its validated copy gives, must serialise without
plotly.io's slow fallback (orjson refuses numpy string and object arrays), and must carry the right numbers:
heatmaps hold the attention, mask and bias arrays given, window outlines sit at the pixel coordinates of a
geometry worked out by hand here.
"""
import copy
import json

import numpy as np
import plotly.io as pio
import pytest
from plotly.colors import get_colorscale
from plotly.subplots import make_subplots

from models.capture import swin
from models.capture.trace import BlockInfo
from tests import figures
from viz import swin as vw

RNG = np.random.default_rng(3)

# An 8 x 8 token grid of 4 px tokens (a 32 x 32 px crop), windows of M = 4, a shifted block with s = 2;
# then a 6 x 6 grid (not a multiple of M: padded to 8 x 8) and a 4 x 4 last stage that is one window.
REG = BlockInfo("layers.0.blocks.0", 0, (8, 8), 4.0, 4, 0, 2)
SHF = BlockInfo("layers.0.blocks.1", 0, (8, 8), 4.0, 4, 2, 2)
PAD = BlockInfo("layers.0.blocks.1", 0, (6, 6), 4.0, 4, 2, 2)
IMAGE = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)
STAGES = [
    {"stage": 0, "grid": (8, 8), "patch_px": 4.0, "dim": 32, "window_size": 4},
    {"stage": 1, "grid": (4, 4), "patch_px": 8.0, "dim": 64, "window_size": 4},
    {"stage": 2, "grid": (2, 2), "patch_px": 16.0, "dim": None, "window_size": 2},
]


def softmax_rows(shape):
    x = RNG.normal(size=shape) * 3
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


ATT = softmax_rows((4, 2, 16, 16))  # (windows, heads, M², M²) of the shifted block
ATT_PAD = softmax_rows((4, 2, 16, 16))
MASKS = swin.shift_mask(SHF.grid, 4, 2)
TABLE = RNG.normal(size=(7, 7)).astype(np.float32)  # (2M - 1)²
BIAS = TABLE[np.add.outer(np.arange(16) // 4, -(np.arange(16) // 4)) + 3,
             np.add.outer(np.arange(16) % 4, -(np.arange(16) % 4)) + 3]
M_LABELS = [f"({i // 4},{i % 4})" for i in range(16)]
DISTANCES = [RNG.uniform(2, 30, 2), RNG.uniform(2, 30, 2), RNG.uniform(5, 40, 4)]
QUERY = (1, 2)
_, WEIGHTS, POSITIONS = swin.query_attention(ATT, SHF, *QUERY, head=1)
Q_WINDOW = swin.locate_token(SHF, *QUERY)[0]
PQ = (1, 1)  # rolled to (5, 5) of the padded 8 x 8 map: window 3, half of its rows and columns padding
PQ_WINDOW, P_WEIGHTS, P_POSITIONS = swin.query_attention(ATT_PAD, PAD, *PQ)

BUILDERS = {
    "stage_grids": lambda: vw.stage_grids_figure(IMAGE, STAGES),
    "regular_windows": lambda: vw.window_partition_figure(IMAGE, swin.all_window_boxes(REG)),
    "shifted_windows_picked": lambda: vw.window_partition_figure(IMAGE, swin.all_window_boxes(SHF), title="picked",
                                                                highlight=3, height=320),
    "one_window": lambda: vw.window_partition_figure(IMAGE, [[(0.0, 0.0, 32.0, 32.0)]]),
    "regions_before_roll": lambda: vw.shift_figure(IMAGE, swin.image_region_labels(SHF), 4, 4.0, offset=2),
    "regions_after_roll": lambda: vw.shift_figure(swin.rolled_image(IMAGE, SHF), swin.rolled_region_labels(SHF), 4,
                                                  4.0, title="rolled"),
    "regions_of_a_regular_block": lambda: vw.shift_figure(IMAGE, np.zeros((8, 8), np.int64), 4, 4.0),
    "mask": lambda: vw.mask_figure(MASKS[3], swin.token_labels(SHF, 3), swin.window_regions(SHF, 3), title="window 3"),
    "mask_mosaic": lambda: vw.mask_mosaic_figure(MASKS, 2, title="all windows"),
    "mask_mosaic_picked": lambda: vw.mask_mosaic_figure(MASKS, 2, title="window 3 in red", highlight=3),
    "window_attention": lambda: vw.window_attention_figure(IMAGE, WEIGHTS, POSITIONS, 4.0, SHF.grid,
                                                           swin.window_boxes(SHF, Q_WINDOW), QUERY, title="shifted"),
    "window_attention_padded": lambda: vw.window_attention_figure(IMAGE[:24, :24], P_WEIGHTS, P_POSITIONS, 4.0,
                                                                  PAD.grid, swin.window_boxes(PAD, PQ_WINDOW), PQ,
                                                                  zmax=0.5),
    "window_heatmap": lambda: vw.window_heatmap(ATT[3, 1], swin.token_labels(SHF, 3), title="head 1"),
    "window_heatmap_padded": lambda: vw.window_heatmap(ATT_PAD[3, 0], swin.token_labels(PAD, 3)),
    "bias_table": lambda: vw.bias_table_figure(TABLE, title="B̂"),
    "bias_table_v2": lambda: vw.bias_table_figure(np.abs(TABLE), diverging=False),
    "bias_matrix": lambda: vw.bias_matrix_figure(BIAS, M_LABELS, title="expanded B"),
    "bias_matrix_v2": lambda: vw.bias_matrix_figure(np.abs(BIAS), M_LABELS, diverging=False),
    "mask_without_ticks": lambda: vw.mask_figure(np.zeros((81, 81), np.float32),
                                                 [f"({i // 9},{i % 9})" for i in range(81)], [0] * 81),
    "attention_distance": lambda: vw.attention_distance_figure(DISTANCES, ["stage 1 · block 1", "stage 1 · block 2",
                                                                           "stage 2 · block 1"], [0, 0, 1], [0, 2, 0]),
    "window_picker_by_token": lambda: vw.window_partition_figure(IMAGE, swin.all_window_boxes(SHF), highlight=1,
                                                                 token_windows=swin.token_window_map(SHF),
                                                                 patch_px=4.0),
}


def _json(fig) -> dict:
    return json.loads(pio.to_json(fig))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_figure_is_valid_and_sends_what_validation_would(name):
    figures.assert_valid_and_sends_what_validation_would(BUILDERS[name]())


@pytest.mark.parametrize("name", list(BUILDERS))
def test_figure_serialises_without_the_slow_fallback(name):
    figures.assert_serialises_without_the_slow_fallback(BUILDERS[name]())


@pytest.mark.parametrize("name", list(BUILDERS))
def test_copies_send_the_same_json(name):
    # Streamlit serialises fig.to_dict(); the shared hover text and template must survive copies and reuse.
    fig = BUILDERS[name]()
    first = pio.to_json(fig.to_dict(), validate=False)
    assert pio.to_json(fig.to_dict(), validate=False) == first
    assert json.loads(pio.to_json(copy.deepcopy(fig).to_dict(), validate=False)) == json.loads(first)


def test_colour_scales_are_plotly_py_lists_not_names():
    # Plotly.js has no "Inferno" or "RdBu_r", and draws its own "Blues": a bare name would show other colours.
    assert _json(BUILDERS["window_attention"]())["data"][1]["colorscale"] == get_colorscale("Inferno")
    assert _json(BUILDERS["window_heatmap"]())["data"][0]["colorscale"] == get_colorscale("Blues")
    assert _json(BUILDERS["bias_table"]())["data"][0]["colorscale"] == get_colorscale("RdBu_r")
    assert _json(BUILDERS["bias_matrix_v2"]())["data"][0]["colorscale"] == get_colorscale("Viridis")
    assert _json(BUILDERS["mask"]())["data"][0]["colorscale"] == vw.MASK_SCALE


def _rect(x0, y0, x1, y1):
    return [x0, x1, x1, x0, x0, None], [y0, y0, y1, y1, y0, None]


def _pieces(trace):
    """The rectangles of a None-separated outline trace, as (x0, y0, x1, y1)."""
    xs, ys = list(trace.x), list(trace.y)
    out = []
    for i in range(0, len(xs), 6):
        assert xs[i + 5] is None and ys[i + 5] is None and (xs[i], ys[i]) == (xs[i + 4], ys[i + 4])
        out.append((xs[i], ys[i], xs[i + 2], ys[i + 2]))
    return out


def _pixels(trace) -> np.ndarray:
    """The pixels of an image trace sent as a PNG data URI."""
    import base64
    import io

    from PIL import Image

    assert trace.source.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(trace.source.split(",", 1)[1]))).convert("RGB"))


def test_image_underlay_is_the_crop_pixel_for_pixel():
    for name in ("regular_windows", "regions_before_roll", "window_attention"):
        image = BUILDERS[name]().data[0]
        assert image.type == "image"
        np.testing.assert_array_equal(_pixels(image), IMAGE)  # lossless
        assert (image.x0, image.y0, image.dx, image.dy) == (0.5, 0.5, 1, 1)  # pixel (i, j) covers [j, j + 1)
    rolled = BUILDERS["regions_after_roll"]().data[0]
    np.testing.assert_array_equal(_pixels(rolled), np.roll(IMAGE, (-8, -8), axis=(0, 1)))  # s = 2 tokens of 4 px


def test_regular_windows_sit_on_the_pixel_grid():
    fig = BUILDERS["regular_windows"]()
    outlines = fig.data[1:-2]
    assert len(outlines) == 4
    assert [_pieces(t) for t in outlines] == [[(0.0, 0.0, 16.0, 16.0)], [(16.0, 0.0, 32.0, 16.0)],
                                              [(0.0, 16.0, 16.0, 32.0)], [(16.0, 16.0, 32.0, 32.0)]]
    assert (list(outlines[0].x), list(outlines[0].y)) == _rect(0.0, 0.0, 16.0, 16.0)
    assert [t.line.color for t in outlines] == vw.WINDOW_COLOURS[:4]
    labels, picker = fig.data[-2], fig.data[-1]
    assert list(labels.text) == ["0", "1", "2", "3"] and labels.mode == "text"
    assert list(picker.customdata) == [0, 1, 2, 3]
    assert list(picker.x) == [8, 24, 8, 24] and list(picker.y) == [8, 8, 24, 24]
    assert fig.layout.xaxis.range == (0, 32) and fig.layout.yaxis.range == (32, 0)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.dragmode is False


def test_shifted_windows_wrap_round_as_pieces_of_one_colour():
    fig = BUILDERS["shifted_windows_picked"]()
    outlines = fig.data[1:-2]
    # window 0 of the rolled map holds image rows and columns 2..5: one 16 px square from (8, 8)
    assert _pieces(outlines[0]) == [(8.0, 8.0, 24.0, 24.0)]
    # window 1: rows 2..5, columns 6, 7 then 0, 1 (wrapped): two pieces
    assert _pieces(outlines[1]) == [(24.0, 8.0, 32.0, 24.0), (0.0, 8.0, 8.0, 24.0)]
    # window 3 holds the four corners of the image
    assert _pieces(outlines[3]) == [(24.0, 24.0, 32.0, 32.0), (0.0, 24.0, 8.0, 32.0),
                                    (24.0, 0.0, 32.0, 8.0), (0.0, 0.0, 8.0, 8.0)]
    assert outlines[3].line.color == vw.HIGHLIGHT and outlines[3].line.width == 3
    assert outlines[3].fillcolor == "rgba(214,39,40,0.35)" and outlines[0].fillcolor == "rgba(78,121,167,0.18)"
    picker = fig.data[-1]
    assert list(picker.customdata) == [0, 1, 1, 2, 2, 3, 3, 3, 3]  # one marker per piece
    assert list(picker.x)[-4:] == [28, 4, 28, 4] and list(picker.y)[-4:] == [28, 28, 4, 4]
    assert list(fig.data[-2].text) == [str(w) for w in picker.customdata]
    assert fig.layout.title.text == "picked" and fig.layout.height == 320
    assert fig.data[1].fill == "toself"


def test_region_figures_carry_the_labels_and_the_window_cuts():
    before = BUILDERS["regions_before_roll"]()
    np.testing.assert_array_equal(np.asarray(before.data[1].z), swin.image_region_labels(SHF))
    heat = before.data[1]
    assert (heat.x0, heat.dx, heat.y0, heat.dy, heat.zmin, heat.zmax) == (2.0, 4.0, 2.0, 4.0, 0, 8)
    # shifted windows on the image: cuts at tokens 0, 2, 6, 8 (offset 2, every 4) = 0, 8, 24, 32 px
    lines = before.data[3]
    xs = [x for x in lines.x if x is not None]
    assert sorted(set(xs)) == [0.0, 8.0, 24.0, 32.0]
    labels = before.data[2]
    assert sorted(set(labels.text)) == [str(k) for k in range(9)]
    after = BUILDERS["regions_after_roll"]()
    np.testing.assert_array_equal(np.asarray(after.data[1].z), swin.rolled_region_labels(SHF))
    assert sorted({x for x in after.data[3].x if x is not None}) == [0.0, 16.0, 32.0]
    # the rolled map's regions 0..8, one label per region and window: 1 + 2 + 2 + 4 = 9
    assert len(after.data[2].text) == 9
    assert after.data[1].colorscale[3] == (3 / 8, vw.REGION_COLOURS[3])
    flat = BUILDERS["regions_of_a_regular_block"]()
    assert [c[1] for c in flat.data[1].colorscale] == [vw.REGION_COLOURS[0]] * 2


def test_mask_figure_is_the_mask_with_query_and_key_named():
    fig = BUILDERS["mask"]()
    tr = fig.data[0]
    np.testing.assert_array_equal(np.asarray(tr.z), MASKS[3])
    labels = [f"{t} r{r}" for t, r in zip(swin.token_labels(SHF, 3), swin.window_regions(SHF, 3))]
    assert list(fig.layout.xaxis.ticktext) == labels and list(fig.layout.yaxis.ticktext) == labels
    # tokens are the category axes: hover names query and key without per-cell strings
    assert list(tr.x) == labels and list(tr.y) == labels and fig.layout.xaxis.type == "category"
    assert list(fig.layout.xaxis.tickvals) == labels
    assert tr.hovertemplate == "query %{y}<br>key %{x}<br>mask %{z:.0f}<extra></extra>"
    assert (tr.zmin, tr.zmax) == (-100, 0) and fig.layout.yaxis.autorange == "reversed"
    big = BUILDERS["mask_without_ticks"]()  # M = 9: 81 tokens are too many to label at 12 px: every k-th one
    n_x, n_ticks = len(big.data[0].x), len(big.layout.xaxis.tickvals)
    step = n_x // n_ticks + (n_x % n_ticks > 0)
    assert len(big.data[0].x) == 81 and 1 < len(big.layout.xaxis.tickvals) < 81
    assert list(big.layout.xaxis.tickvals) == list(big.data[0].x)[::step]


MATRICES = ["mask", "mask_without_ticks", "window_heatmap", "window_heatmap_padded", "bias_matrix", "bias_matrix_v2"]


@pytest.mark.parametrize("name", MATRICES)
def test_token_matrices_are_readable_on_a_projector(name):
    """Tick labels 12 px or more, never closer than 15 px along the plot's side (every k-th token otherwise), the
    upright key labels inside the top margin, the title above them (not on a label)."""
    fig = BUILDERS[name]()
    lay = fig.layout
    side = lay.height - lay.margin.t - lay.margin.b
    for axis in (lay.xaxis, lay.yaxis):
        assert axis.tickfont.size >= 12
        assert len(axis.tickvals) * 16 <= side
    assert lay.xaxis.side == "top" and lay.xaxis.tickangle == -90
    longest = max(len(t) for t in lay.xaxis.ticktext)
    labels_px = 0.62 * 12 * longest
    assert lay.margin.t >= labels_px + 30 + (30 if lay.title.text else 0)
    if lay.title.text:
        assert (lay.title.yref, lay.title.y, lay.title.yanchor) == ("container", 1.0, "top")


def test_mask_mosaic_places_each_window_as_on_the_rolled_map():
    fig = BUILDERS["mask_mosaic"]()
    z = np.asarray(fig.data[0].z, dtype=float)
    side = 16 + 1  # M² plus a one-cell gap
    assert z.shape == (2 * side - 1, 2 * side - 1)
    for k in range(4):
        r, c = divmod(k, 2)
        np.testing.assert_array_equal(z[r * side:r * side + 16, c * side:c * side + 16], MASKS[k])
    assert np.isnan(z[16]).all()  # the gap
    assert np.nanmin(z) == -100 and np.nanmax(z) == 0
    assert fig.data[0].hoverinfo == "skip"  # hover and clicks go to the window markers
    picker = fig.data[-1]
    ids, masked = np.asarray(picker.customdata).T
    assert list(ids) == [0, 1, 2, 3] and list(masked) == [int((m < 0).sum()) for m in MASKS]
    # each marker sits at its window's centre, so the nearest marker to any cell is that cell's window
    for k, (x, y) in enumerate(zip(picker.x, picker.y)):
        r, c = divmod(k, 2)
        assert (x, y) == (c * side + 7.5, r * side + 7.5)
    assert fig.layout.hovermode == "closest" and fig.layout.hoverdistance == -1
    picked = BUILDERS["mask_mosaic_picked"]()
    assert _pieces(picked.data[1]) == [(16.5, 16.5, 32.5, 32.5)] and picked.data[1].line.color == vw.HIGHLIGHT


def _nearest(xs, ys, x, y) -> int:
    return int(np.argmin(np.hypot(np.asarray(xs) - x, np.asarray(ys) - y)))


def test_a_click_anywhere_on_a_window_picks_that_window():
    """Plotly with hoverdistance -1 gives a click to the nearest marker: on the window picker (one marker per
    token) that is the window holding the clicked pixel, wrapped pieces included."""
    fig = vw.window_partition_figure(IMAGE, swin.all_window_boxes(SHF), token_windows=swin.token_window_map(SHF),
                                     patch_px=4.0)
    picker = fig.data[-1]
    assert fig.layout.hoverdistance == -1
    windows = swin.token_window_map(SHF)
    for y in np.arange(0.25, 32, 1.5):  # never on a token border (a tie)
        for x in np.arange(0.25, 32, 1.5):
            got = picker.customdata[_nearest(picker.x, picker.y, x, y)]
            assert got == windows[int(y // 4), int(x // 4)]
    # the window that wraps round the corner (3) is picked at all four corners of the image
    for x, y in ((1, 1), (31, 1), (1, 31), (31, 31)):
        assert picker.customdata[_nearest(picker.x, picker.y, x, y)] == 3
    mosaic = BUILDERS["mask_mosaic"]().data[-1]
    side = 17
    for y in range(0, 2 * side - 1):
        for x in range(0, 2 * side - 1):
            if x % side == 16 or y % side == 16:
                continue  # the gap
            assert mosaic.customdata[_nearest(mosaic.x, mosaic.y, x, y)][0] == (y // side) * 2 + x // side


def test_window_attention_puts_each_weight_on_its_token():
    fig = BUILDERS["window_attention"]()
    z = np.asarray(fig.data[1].z, dtype=float)
    assert z.shape == (8, 8)
    for (r, c), a in zip(POSITIONS, WEIGHTS):
        assert z[r, c] == pytest.approx(a)
    assert np.isfinite(z).sum() == 16 and np.nansum(z) == pytest.approx(1.0, abs=1e-5)
    assert fig.data[1].zmax == pytest.approx(float(WEIGHTS.max()))
    # query (1, 2) rolls to (7, 0): window 2, image rows 6, 7 then 0, 1 (wrapped) and columns 2..5
    assert Q_WINDOW == 2
    assert _pieces(fig.data[2]) == [(8.0, 24.0, 24.0, 32.0), (8.0, 0.0, 24.0, 8.0)]
    assert fig.data[2].line.color == "white"
    ring = fig.data[3]
    assert (list(ring.x), list(ring.y)) == ([10.0], [6.0])  # centre of token (1, 2) of 4 px
    picker = fig.data[4]
    custom = np.asarray(picker.customdata)
    assert custom.shape == (64, 2) and custom[8 * 1 + 2].tolist() == [1, 2]
    assert picker.x[8 * 1 + 2] == 10.0 and picker.y[8 * 1 + 2] == 6.0


def test_window_attention_leaves_padding_out():
    fig = BUILDERS["window_attention_padded"]()
    z = np.asarray(fig.data[1].z, dtype=float)
    assert z.shape == (6, 6) and fig.data[1].zmax == 0.5
    real = P_POSITIONS[:, 0] >= 0
    # rolled rows and columns 4, 5 are image rows and columns 0, 1 (s = 2 on a 6-token grid); 6, 7 are padding
    assert PQ_WINDOW == 3 and real.sum() == 4
    assert np.isfinite(z).sum() == 4 and np.isfinite(z[:2, :2]).all()
    for (r, c), a in zip(P_POSITIONS[real], P_WEIGHTS[real]):
        assert z[r, c] == pytest.approx(a)
    assert fig.layout.xaxis.range == (0, 24)
    assert _pieces(fig.data[2]) == [(0.0, 0.0, 8.0, 8.0)]


def test_window_heatmap_is_the_heads_matrix():
    fig = BUILDERS["window_heatmap"]()
    tr = fig.data[0]
    np.testing.assert_array_equal(np.asarray(tr.z), ATT[3, 1])
    labels = swin.token_labels(SHF, 3)
    assert list(fig.layout.xaxis.ticktext) == labels and len(fig.layout.xaxis.tickvals) == 16
    assert fig.layout.xaxis.tickangle == -90 and fig.layout.xaxis.side == "top"
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.xaxis.tickfont.size == 12
    cats = [f"{i}: {t}" for i, t in enumerate(labels)]  # hover "query 4: (6,0)", as on the other pages
    assert list(tr.x) == cats and list(tr.y) == cats and list(fig.layout.yaxis.tickvals) == cats
    assert tr.hovertemplate == "query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>"
    assert (tr.zmin, tr.zmax) == (0.0, pytest.approx(float(ATT[3, 1].max())))
    assert fig.layout.title.text == "head 1"
    padded = BUILDERS["window_heatmap_padded"]()
    ticks = list(padded.layout.xaxis.ticktext)
    assert ticks.count("pad") == 12 and len(set(padded.data[0].x)) == 16  # repeated labels keep their own columns
    assert padded.layout.title.text is None


def test_bias_figures_hold_the_table_and_its_expansion():
    table = BUILDERS["bias_table"]()
    tr = table.data[0]
    np.testing.assert_array_equal(np.asarray(tr.z), TABLE)
    assert list(tr.x) == list(range(-3, 4)) and list(tr.y) == list(range(-3, 4))
    lim = float(np.abs(TABLE).max())
    assert (tr.zmid, tr.zmin, tr.zmax) == (0, pytest.approx(-lim), pytest.approx(lim))
    assert table.layout.xaxis.dtick == 1 and table.layout.yaxis.autorange == "reversed"
    plain = BUILDERS["bias_table_v2"]().data[0]
    assert plain.zmid is None and plain.zmin is None
    matrix = BUILDERS["bias_matrix"]()
    np.testing.assert_array_equal(np.asarray(matrix.data[0].z), BIAS)
    assert list(matrix.data[0].x) == M_LABELS and list(matrix.layout.yaxis.ticktext) == M_LABELS
    assert matrix.data[0].hovertemplate == "query %{y}<br>key %{x}<br>bias %{z:.3f}<extra></extra>"


def test_stage_grids_match_make_subplots_and_draw_each_grid():
    fig = BUILDERS["stage_grids"]()
    ref = make_subplots(rows=1, cols=3, subplot_titles=["a", "b", "c"], horizontal_spacing=0.02)
    images = [t for t in fig.data if t.type == "image"]
    assert len(images) == 3
    for i, s in enumerate(STAGES):
        suffix = "" if i == 0 else str(i + 1)
        xaxis, yaxis = fig.layout["xaxis" + suffix], fig.layout["yaxis" + suffix]
        assert xaxis.domain == pytest.approx(ref.layout["xaxis" + suffix].domain)
        assert yaxis.domain == pytest.approx(ref.layout["yaxis" + suffix].domain)
        assert yaxis.scaleanchor == "x" + suffix and xaxis.range == (0, 32) and yaxis.range == (32, 0)
        traces = [t for t in fig.data if t.xaxis == "x" + suffix]
        assert [t.type for t in traces] == ["image", "scatter", "scatter"]
        step = s["patch_px"]
        grid = {x for x in traces[1].x if x is not None}
        assert grid == {c * step for c in range(s["grid"][1] + 1)}
        window = {x for x in traces[2].x if x is not None}
        assert window == {c * step for c in range(0, s["grid"][1] + 1, s["window_size"])}
        assert traces[2].line.color == vw.HIGHLIGHT
    texts = [a.text for a in fig.layout.annotations]
    assert texts == ["stage 1: 8×8 tokens<br>of 4 px, C = 32", "stage 2: 4×4 tokens<br>of 8 px, C = 64",
                     "stage 3: 2×2 tokens<br>of 16 px"]
    for mine, theirs in zip(fig.layout.annotations, ref.layout.annotations, strict=True):
        assert (mine.x, mine.y, mine.yanchor) == pytest.approx((theirs.x, theirs.y, theirs.yanchor))


def test_attention_distance_has_one_dot_per_head():
    fig = BUILDERS["attention_distance"]()
    assert [t.name for t in fig.data] == ["stage 1", "stage 2"]
    s1, s2 = fig.data
    np.testing.assert_allclose(np.asarray(s1.y), np.concatenate(DISTANCES[:2]))
    np.testing.assert_allclose(np.asarray(s2.y), DISTANCES[2])
    assert list(s1.x) == [1, 1, 2, 2] and list(s2.x) == [3, 3, 3, 3]  # blocks counted from 1
    assert list(s1.marker.symbol) == ["circle", "circle", "circle-open", "circle-open"]
    assert s1.text[3] == "stage 1 · block 2 (shifted), head 2"  # heads counted from 1
    assert list(fig.layout.xaxis.ticktext) == ["1", "2", "3"] and fig.layout.xaxis.tickfont.size >= 12


def test_a_large_mask_mosaic_is_sent_as_a_lossless_image():
    """swin_base at 384 px has 144 windows of 144 x 144: past MOSAIC_HEATMAP_CELLS the mosaic is a palette PNG
    with one pixel a cell (masked, allowed, gap), hover by window, instead of a 12 MB heatmap."""
    import base64
    import io

    from PIL import Image

    masks = swin.shift_mask((96, 96), 12, 6)  # 64 windows of 144 x 144 query-key pairs
    assert masks.size > vw.MOSAIC_HEATMAP_CELLS
    fig = vw.mask_mosaic_figure(masks, 8, title="all windows")
    figures.assert_valid_and_sends_what_validation_would(fig)
    figures.assert_serialises_without_the_slow_fallback(fig)
    assert len(pio.to_json(fig)) < 100_000  # the shift masks are blocks of a few values: a few kB
    image, hover = fig.data
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(image.source.split(",", 1)[1]))))
    side = 144 + 12  # M² plus the gap
    assert pixels.shape == (8 * side - 12, 8 * side - 12)
    for k in range(64):
        r, c = divmod(k, 8)
        cell = pixels[r * side:r * side + 144, c * side:c * side + 144]
        np.testing.assert_array_equal(cell, np.where(masks[k] < 0, 0, 1))
    assert (pixels[144:156] == 2).all()  # a gap row
    ids, masked = np.asarray(hover.customdata).T
    assert list(ids) == list(range(64)) and list(masked) == [int((m < 0).sum()) for m in masks]
    assert masked[0] == 0 and masked[-1] > 0  # the corner window holds all four regions


def test_bias_table_title_sits_above_its_top_axis():
    fig = BUILDERS["bias_table"]()
    assert fig.layout.xaxis.side == "top" and fig.layout.xaxis.tickfont.size >= 12
    assert (fig.layout.title.yref, fig.layout.title.y, fig.layout.title.yanchor) == ("container", 1.0, "top")
    assert fig.layout.margin.t >= 100  # title, then the axis title and its numbers
