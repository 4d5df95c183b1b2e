"""The encoder–decoder page's dict-built figures (viz.fast) against Plotly's full validation.

Every builder skips Plotly's per-property checks for speed; here each figure goes through them
(viz.fast.validated), must serialise to exactly the JSON its validated copy gives (so a colour-scale name or
a wrong property can't slip through unconverted), must serialise without plotly.io's slow fallback (orjson
refuses object arrays), and must carry the model's numbers.
"""
import json

import numpy as np
import plotly.io as pio
import pytest
from plotly.colors import get_colorscale
from plotly.subplots import make_subplots

from tests import figures
from viz import fast, lines
from viz import text as vt
from viz.heatmaps import attention_heatmap

RNG = np.random.default_rng(1)
Q = ["&lt;s&gt;", "l", "l", "o", "␣"]  # repeated and escaped tokens, as the page passes them
K = ["h", "e", "l", "l", "o", "!", "&lt;/s&gt;"]


def softmax_rows(shape):
    x = RNG.normal(size=shape) * 3
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


ENC = [softmax_rows((4, len(K), len(K))) for _ in range(2)]
DEC = [softmax_rows((4, len(Q), len(Q))) for _ in range(2)]
CROSS = [softmax_rows((4, len(Q), len(K))) for _ in range(2)]
SOURCE_MASK = np.array([True] * 5 + [False] * 2)
CAUSAL = np.tril(np.ones((len(Q), len(Q)), dtype=bool))

BUILDERS = {
    "attention_heatmap": lambda: attention_heatmap(CROSS[0][1], Q, K, title="Cross-attention · layer 1, head 2"),
    "attention_heatmap_untitled": lambda: attention_heatmap(ENC[0][0], K, K),
    "head_matrix": lambda: vt.head_matrix(DEC[1][3], Q, Q, title="Decoder masked self-attention · layer 2, head 4"),
    "head_grid": lambda: vt.head_grid(CROSS[1], Q, K, title="Cross-attention · layer 2"),
    "head_grid_two_columns": lambda: vt.head_grid(ENC[0][:3], K, K, cols=2, show_ticks=False),
    "overview_grid": lambda: vt.overview_grid(CROSS, Q, K, title="Cross-attention"),
    "head_view": lambda: lines.head_view(CROSS[0], Q, K, title="Head view", query_title="decoder (query)",
                                         key_title="encoder (key)"),
    "padding_mask": lambda: vt.padding_mask_figure(SOURCE_MASK, K, K, title="Padding mask (encoder self-attention)"),
    "causal_mask": lambda: vt.mask_heatmap(CAUSAL, Q, Q, title="Causal mask (decoder self-attention)"),
    "step_causal": lambda: vt.step_figure(DEC[0], 2, Q, Q, causal=True, title="Decoder self-attention at step 3"),
    "step_cross": lambda: vt.step_figure(CROSS[1], 4, Q, K, title="Cross-attention at step 5"),
    "top_k": lambda: vt.top_k_figure([("o", 0.91), ("<pad>", 0.05), ("2", 0.04)], title="Next token: top 5"),
}


def _json(fig) -> dict:
    return json.loads(pio.to_json(fig))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_figure_is_valid_and_sends_what_validation_would(name):
    figures.assert_valid_and_sends_what_validation_would(BUILDERS[name]())


@pytest.mark.parametrize("name", list(BUILDERS))
def test_figure_serialises_without_the_slow_fallback(name):
    figures.assert_serialises_without_the_slow_fallback(BUILDERS[name]())


def test_colour_scales_are_plotly_py_lists_not_names():
    # Plotly.js's own "Blues" runs from dark blue to grey: a bare name in an unvalidated figure would draw it.
    blues = get_colorscale("Blues")
    assert _json(BUILDERS["attention_heatmap"]())["data"][0]["colorscale"] == blues
    assert _json(BUILDERS["head_grid"]())["layout"]["coloraxis"]["colorscale"] == blues
    assert _json(BUILDERS["step_cross"]())["data"][0]["colorscale"] == blues
    assert _json(BUILDERS["causal_mask"]())["data"][0]["colorscale"] == vt.MASK_SCALE
    custom = attention_heatmap(ENC[0][0], K, K, colorscale="Viridis")
    assert _json(custom)["data"][0]["colorscale"] == get_colorscale("Viridis")


def test_attention_heatmap_numbers_ticks_and_hover():
    fig = BUILDERS["attention_heatmap"]()
    tr = fig.data[0]
    np.testing.assert_array_equal(np.asarray(tr.z), CROSS[0][1])
    assert tr.zmin == 0.0 and tr.zmax == pytest.approx(float(CROSS[0][1].max()))
    assert list(fig.layout.xaxis.ticktext) == K and list(fig.layout.yaxis.ticktext) == Q
    assert list(fig.layout.xaxis.tickvals) == list(range(len(K))) and fig.layout.yaxis.autorange == "reversed"
    assert tuple(tr.customdata[2][3]) == ("l", "l") and tuple(tr.customdata[0][6]) == ("&lt;s&gt;", "&lt;/s&gt;")
    assert "key %{x}: %{customdata[1]}" in tr.hovertemplate and "weight %{z:.4f}" in tr.hovertemplate
    assert fig.layout.title.text == "Cross-attention · layer 1, head 2"
    assert fig.layout.height == max(260, min(900, 60 + 22 * len(Q)))
    # Other pages adjust the returned figure: that must keep working on a dict-built one.
    fig.update_xaxes(tickangle=-90)
    fig.update_layout(margin=dict(t=150))
    assert fig.layout.xaxis.tickangle == -90 and fig.layout.margin.t == 150


def _ref_axes(ref, cell: int):
    suffix = "" if cell == 1 else str(cell)
    return ref.layout["xaxis" + suffix], ref.layout["yaxis" + suffix]


def _cells(fig):
    return [(tr, fig.layout["xaxis" + tr.xaxis[1:]], fig.layout["yaxis" + tr.yaxis[1:]]) for tr in fig.data]


def test_head_grid_matches_make_subplots_and_carries_every_head():
    fig = BUILDERS["head_grid"]()
    ref = make_subplots(rows=1, cols=4, subplot_titles=[f"head {h + 1}" for h in range(4)],
                        horizontal_spacing=0.06, vertical_spacing=0.12)
    assert len(fig.data) == 4
    for h, (tr, xaxis, yaxis) in enumerate(_cells(fig)):
        np.testing.assert_array_equal(np.asarray(tr.z), CROSS[1][h])
        assert tr.coloraxis == "coloraxis" and tr.hovertemplate.startswith(f"head {h + 1}<br>query %{{y}}")
        assert list(tr.x) == vt.token_categories(K) and list(tr.y) == vt.token_categories(Q)
        assert tr.y[1] == "1: l" and tr.y[2] == "2: l"  # repeated tokens keep their own rows
        ref_x, ref_y = _ref_axes(ref, h + 1)
        assert xaxis.domain == pytest.approx(ref_x.domain) and yaxis.domain == pytest.approx(ref_y.domain)
        # Labels where they fit (a 4-head row leaves ~17 px a key: "</s>" beside "!" would overlap), each at its token.
        assert [K[i] for i in xaxis.tickvals] == list(xaxis.ticktext) and len(xaxis.ticktext) >= len(K) - 2
        assert list(yaxis.ticktext) == Q and yaxis.autorange == "reversed"
        assert xaxis.tickfont.size >= 12 and yaxis.tickfont.size >= 12
        assert xaxis.anchor == tr.yaxis and yaxis.anchor == tr.xaxis
    for mine, theirs in zip(fig.layout.annotations, ref.layout.annotations, strict=True):
        assert (mine.text, mine.yanchor) == (theirs.text, theirs.yanchor)
        assert (mine.x, mine.y) == pytest.approx((theirs.x, theirs.y))
    assert fig.layout.coloraxis.cmin == 0.0 and fig.layout.coloraxis.cmax == pytest.approx(float(CROSS[1].max()))
    assert fig.layout.title.text == "Cross-attention · layer 2"


def test_head_grid_rows_when_heads_do_not_fill_the_last_row():
    fig = BUILDERS["head_grid_two_columns"]()  # 3 heads, 2 columns: 2 rows, the last half empty
    ref = make_subplots(rows=2, cols=2, horizontal_spacing=0.02, vertical_spacing=0.04)
    assert len(fig.data) == 3
    for h, (tr, xaxis, yaxis) in enumerate(_cells(fig)):
        np.testing.assert_array_equal(np.asarray(tr.z), ENC[0][h])
        ref_x, ref_y = _ref_axes(ref, h + 1)
        assert xaxis.domain == pytest.approx(ref_x.domain) and yaxis.domain == pytest.approx(ref_y.domain)
        assert xaxis.showticklabels is False
    assert fig.layout.height == 2 * max(220, min(520, 80 + 16 * len(K))) + 60


def test_overview_grid_layers_by_heads_with_row_and_column_titles():
    fig = BUILDERS["overview_grid"]()
    ref = make_subplots(rows=2, cols=4, horizontal_spacing=0.015, vertical_spacing=0.03,
                        row_titles=["layer 1", "layer 2"], column_titles=[f"head {h + 1}" for h in range(4)])
    assert len(fig.data) == 8
    for i, (tr, xaxis, yaxis) in enumerate(_cells(fig)):
        layer, h = divmod(i, 4)
        np.testing.assert_array_equal(np.asarray(tr.z), CROSS[layer][h])
        assert tr.hovertemplate.startswith(f"layer {layer + 1}, head {h + 1}<br>")
        suffix = "" if i == 0 else str(i + 1)
        assert xaxis.domain == pytest.approx(ref.layout["xaxis" + suffix].domain)
        assert yaxis.domain == pytest.approx(ref.layout["yaxis" + suffix].domain)
    keys = ("text", "x", "y", "xanchor", "yanchor", "textangle")
    assert [tuple(a[k] for k in keys) for a in fig.layout.annotations] == [
        pytest.approx(tuple(a[k] for k in keys)) for a in ref.layout.annotations]
    assert fig.layout.coloraxis.cmax == pytest.approx(max(float(w.max()) for w in CROSS))


def test_masks_show_the_model_mask_and_name_the_state():
    pad = BUILDERS["padding_mask"]()
    np.testing.assert_array_equal(np.asarray(pad.data[0].z), np.tile(SOURCE_MASK.astype(np.float32), (len(K), 1)))
    assert pad.data[0].text[3][6] == vt.MASKED and pad.data[0].text[3][0] == vt.MAY_ATTEND
    causal = BUILDERS["causal_mask"]()
    np.testing.assert_array_equal(np.asarray(causal.data[0].z), CAUSAL.astype(np.float32))
    states = np.array(causal.data[0].text)
    np.testing.assert_array_equal(states == vt.MAY_ATTEND, CAUSAL)
    assert list(causal.layout.xaxis.ticktext) == Q and causal.layout.yaxis.autorange == "reversed"
    assert list(causal.data[0].colorbar.ticktext) == ["masked", "may attend"]


def test_step_figures_hold_the_step_row_of_every_head():
    causal = BUILDERS["step_causal"]()
    np.testing.assert_array_equal(np.asarray(causal.data[0].z), DEC[0][:, 2, :3])
    assert list(causal.layout.xaxis.ticktext) == Q[:3] and list(causal.data[0].y) == [f"head {h + 1}" for h in range(4)]
    cross = BUILDERS["step_cross"]()
    np.testing.assert_array_equal(np.asarray(cross.data[0].z), CROSS[1][:, 4, :])
    assert cross.data[0].hovertemplate.startswith("query %{meta[0]}<br>%{y}<br>key %{x}")
    assert cross.data[0].meta == ("4: ␣",) or list(cross.data[0].meta) == ["4: ␣"]


def test_head_view_and_top_k_carry_their_numbers():
    hv = BUILDERS["head_view"]()
    drawn = sum(tr.meta.get("lines", 0) for tr in hv.data if tr.mode == "lines")
    assert drawn == int((CROSS[0] >= 0.02).sum())
    queries = next(tr for tr in hv.data if tr.meta and tr.meta.get("role") == "query")
    assert list(queries.text) == Q and len(queries.hovertext) == len(Q)
    assert list(hv.layout.xaxis.ticktext) == ["decoder (query)", "encoder (key)"]
    top = BUILDERS["top_k"]()
    assert list(top.data[0].x) == [0.91, 0.05, 0.04]
    assert list(top.layout.yaxis.ticktext) == ["1. o", "2. &lt;pad&gt;", "3. 2"]


def test_head_matrix_draws_what_attention_heatmap_draws():
    # The masks tab shows each head's matrix through head_matrix (cheaper to send): same picture and hover text.
    title = "Cross-attention · layer 1, head 2"
    mine = _json(vt.head_matrix(CROSS[0][1], Q, K, title=title))
    ref = _json(attention_heatmap(CROSS[0][1], Q, K, title=title))
    fast.validated(vt.head_matrix(CROSS[0][1], Q, K, title=title))
    for axis in ("xaxis", "yaxis"):
        assert mine["layout"][axis].pop("type") == "category"
    assert {k: v for k, v in mine["layout"].items() if k != "template"} == {
        k: v for k, v in ref["layout"].items() if k != "template"}
    different = {"x", "y", "customdata", "hovertemplate"}
    assert {k: v for k, v in mine["data"][0].items() if k not in different} == {
        k: v for k, v in ref["data"][0].items() if k not in different}
    # Hover: "query 2: l" / "key 6: &lt;/s&gt;" from the category names, as attention_heatmap's customdata gives.
    assert mine["data"][0]["y"][2] == "2: l" and mine["data"][0]["x"][6] == "6: &lt;/s&gt;"
    assert mine["data"][0]["hovertemplate"] == "query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>"


def test_tick_labels_never_overlap_and_a_padding_run_gets_one_label():
    from viz.heatmaps import text_width, tick_labels

    tokens = vt.visible_tokens(list("Attention is all you need") + ["</s>"] + ["<pad>"] * 38)  # padded to 64
    for fig in (vt.head_matrix(softmax_rows((64, 64)), tokens, tokens, title="t"),
                attention_heatmap(softmax_rows((64, 64)), tokens, tokens, title="t")):
        x, y = fig.layout.xaxis, fig.layout.yaxis
        assert x.tickfont.size >= 12 and y.tickfont.size >= 12
        assert "&lt;pad&gt; ×38" in x.ticktext and list(x.ticktext).count("&lt;pad&gt;") == 0, "one label for the run"
        vals = list(x.tickvals)
        room = 300 / 64
        for (a, ta), (b, tb) in zip(zip(vals, x.ticktext), zip(vals[1:], x.ticktext[1:])):
            assert (b - a) * room >= (text_width(ta) + text_width(tb)) / 2, (ta, tb)
        rows = (fig.layout.height - fig.layout.margin.t - fig.layout.margin.b) / 64
        assert min(b - a for a, b in zip(y.tickvals, y.tickvals[1:])) * rows >= 12 * 1.3
    few = tick_labels(["a", "b", "c"], 300)
    assert few == ([0, 1, 2], ["a", "b", "c"]), "every label when there is room"
    assert text_width("年") > text_width("a")
