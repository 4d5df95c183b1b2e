"""Figure builders of the encoder–decoder page, on arrays: shapes, hover data, line widths, repeated tokens."""
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest

from viz import lines
from viz import text as vt

RNG = np.random.default_rng(0)


def softmax_rows(shape, mask=None):
    x = RNG.normal(size=shape) * 3
    if mask is not None:
        x = np.where(mask, x, -np.inf)
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def test_visible_tokens_show_spaces_and_escape_markup():
    assert vt.visible_tokens(["a", " ", "b"]) == ["a", "␣", "b"]
    # Plotly reads "<s>" as a strike-through tag; escaped, it shows as the token.
    assert vt.visible_tokens(["<s>", "</s>", "a&b"]) == ["&lt;s&gt;", "&lt;/s&gt;", "a&amp;b"]


# --- head view ---------------------------------------------------------------------------------------------

def _segments(fig):
    """(head, query index, key index, trace) for every line drawn in a head view."""
    out = []
    for tr in fig.data:
        if tr.mode != "lines" or tr.meta.get("lines", 0) == 0:
            continue
        xs, ys = np.asarray(tr.x, dtype=float), np.asarray(tr.y, dtype=float)
        for i in range(0, len(xs), 3):
            assert (xs[i], xs[i + 1]) == (0.0, 1.0) and np.isnan(xs[i + 2])
            out.append((tr.meta["head"], int(-ys[i]), int(-ys[i + 1]), tr))
    return out


def test_head_view_draws_every_weight_above_threshold_in_its_bin():
    w = softmax_rows((3, 6, 8))
    fig = lines.head_view(w, [f"q{i}" for i in range(6)], [f"k{j}" for j in range(8)], min_weight=0.05)
    segs = _segments(fig)
    assert len(segs) == int((w >= 0.05).sum())
    drawn = {(h, q, k) for h, q, k, _ in segs}
    assert drawn == {tuple(i) for i in np.argwhere(w >= 0.05)}
    for h, q, k, tr in segs:
        lo, hi = tr.meta["weight_range"]
        assert lo - 1e-6 <= w[h, q, k] <= hi + 1e-6


def test_head_view_line_width_and_opacity_follow_weight():
    w = np.zeros((1, 2, 3), dtype=np.float32)
    w[0, 0] = [0.9, 0.08, 0.02]
    w[0, 1] = [0.3, 0.3, 0.4]
    fig = lines.head_view(w, ["a", "b"], ["x", "y", "z"], min_weight=0.01)
    by_pair = {(q, k): tr for _, q, k, tr in _segments(fig)}
    order = sorted(by_pair, key=lambda p: w[0, p[0], p[1]])
    widths = [by_pair[p].line.width for p in order]
    alphas = [float(by_pair[p].line.color.rsplit(",", 1)[1].rstrip(")")) for p in order]
    assert widths == sorted(widths) and alphas == sorted(alphas)
    assert by_pair[(0, 0)].line.width > 3 * by_pair[(0, 1)].line.width  # 0.9 against 0.08


def test_head_view_heads_have_their_own_colour_and_can_be_chosen():
    w = softmax_rows((4, 5, 5))
    fig = lines.head_view(w, list("abcde"), list("abcde"), heads=[1, 3])
    heads = {tr.meta["head"] for tr in fig.data if tr.mode == "lines"}
    assert heads == {1, 3}
    legend = [tr.name for tr in fig.data if tr.showlegend is not False and tr.mode == "lines"]
    assert legend == ["head 2", "head 4"]
    colours = {tr.meta["head"]: tr.line.color.split(",")[:3] for tr in fig.data if tr.mode == "lines"}
    assert colours[1] != colours[3]


def test_head_view_keeps_repeated_tokens_and_hovers_with_weights():
    w = softmax_rows((2, 5, 5))
    tokens = ["h", "e", "l", "l", "o"]
    fig = lines.head_view(w, tokens, tokens)
    q_tr = next(tr for tr in fig.data if tr.meta and tr.meta.get("role") == "query")
    k_tr = next(tr for tr in fig.data if tr.meta and tr.meta.get("role") == "key")
    assert list(q_tr.text) == tokens and list(k_tr.text) == tokens
    assert len(set(q_tr.y)) == 5  # both "l" keep their own place
    best = int(np.argmax(w[0, 2]))
    assert f"{best}:{tokens[best]} {w[0, 2, best]:.3f}" in q_tr.hovertext[2]


def test_head_view_rejects_mismatched_labels():
    with pytest.raises(ValueError):
        lines.head_view(np.zeros((1, 2, 3)), ["a", "b"], ["x", "y"])


def test_head_view_cross_attention_has_different_query_and_key_counts():
    w = softmax_rows((2, 4, 9))
    fig = lines.head_view(w, list("abcd"), list("123456789"))
    assert len([tr for tr in fig.data if tr.mode == "markers+text"]) == 2
    fig.to_json()


# --- heatmap grids -----------------------------------------------------------------------------------------

def test_head_grid_one_heatmap_per_head_on_a_shared_colour_axis():
    w = softmax_rows((4, 5, 6))
    q, k = ["a", "b", "b", "c", "d"], ["x", "y", "y", "y", "z", "w"]
    fig = vt.head_grid(w, q, k, title="layer 1")
    assert len(fig.data) == 4
    for h, tr in enumerate(fig.data):
        assert tr.type == "heatmap" and tr.coloraxis == "coloraxis"
        np.testing.assert_array_equal(np.asarray(tr.z), w[h])
        # Hover names both tokens through the category names "index: token" (repeated tokens stay apart).
        assert "query %{y}" in tr.hovertemplate and "key %{x}" in tr.hovertemplate and "weight %{z" in tr.hovertemplate
        assert f"head {h + 1}" in tr.hovertemplate
        assert list(tr.y) == [f"{i}: {t}" for i, t in enumerate(q)]
        assert list(tr.x) == [f"{j}: {t}" for j, t in enumerate(k)]
    assert list(fig.layout.xaxis.ticktext) == k and list(fig.layout.xaxis.tickvals) == list(range(6))
    assert list(fig.layout.yaxis4.ticktext) == q
    assert fig.layout.coloraxis.cmax == pytest.approx(float(w.max()))


def test_overview_grid_layers_by_heads():
    layers = [softmax_rows((3, 4, 4)) for _ in range(2)]
    fig = vt.overview_grid(layers, list("abcd"), list("abcd"))
    assert len(fig.data) == 6
    np.testing.assert_array_equal(np.asarray(fig.data[4].z), layers[1][1])
    assert "layer 2, head 2" in fig.data[4].hovertemplate
    assert all(tr.coloraxis == "coloraxis" for tr in fig.data)


# --- masks -------------------------------------------------------------------------------------------------

def test_padding_mask_figure_masks_pad_keys_for_every_query():
    mask = np.array([True, True, True, False, False])
    labels = ["a", "b", "</s>", "<pad>", "<pad>"]
    fig = vt.padding_mask_figure(mask, labels, labels)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (5, 5)
    np.testing.assert_array_equal(z, np.tile(mask.astype(np.float32), (5, 1)))
    state = fig.data[0].text  # the cell's state, shown on hover
    assert state[0][3].startswith("masked") and state[0][0] == "may attend" and "%{text}" in fig.data[0].hovertemplate


def test_causal_mask_figure_is_lower_triangular():
    causal = np.tril(np.ones((4, 4), dtype=bool))
    fig = vt.mask_heatmap(causal, list("abcd"), list("abcd"))
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), causal.astype(np.float32))


# --- decoding step by step ---------------------------------------------------------------------------------

def test_step_figure_shows_one_row_per_head_and_only_the_past_when_causal():
    causal = np.tril(np.ones((5, 5), dtype=bool))
    w = softmax_rows((2, 5, 5), causal)
    fig = vt.step_figure(w, 2, list("<abcd"), list("<abcd"), causal=True)
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), w[:, 2, :3])
    assert list(fig.layout.xaxis.ticktext) == ["<", "a", "b"]
    cross = softmax_rows((2, 5, 7))
    fig = vt.step_figure(cross, 4, list("<abcd"), list("1234567"))
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), cross[:, 4, :])
    assert "query %{meta[0]}" in fig.data[0].hovertemplate and list(fig.data[0].meta) == ["4: d"]
    with pytest.raises(ValueError):
        vt.step_figure(cross, 5, list("<abcd"), list("1234567"))


def test_top_k_figure_orders_candidates():
    fig = vt.top_k_figure([("2", 0.97), ("1", 0.02), ("</s>", 0.01)])
    assert list(fig.data[0].x) == [0.97, 0.02, 0.01]
    assert list(fig.data[0].customdata) == ["2", "1", "&lt;/s&gt;"]
    assert list(fig.layout.yaxis.ticktext) == ["1. 2", "2. 1", "3. &lt;/s&gt;"]  # digits stay labels


# --- downloads ---------------------------------------------------------------------------------------------

def test_downloads_hold_every_array_and_token():
    from ui.text import export_json, export_npz

    trace = SimpleNamespace(
        encoder_attention=[softmax_rows((2, 3, 3))], decoder_attention=[softmax_rows((2, 2, 2))],
        cross_attention=[softmax_rows((2, 2, 3))], source_mask=np.array([True, True, False]),
        causal_mask=np.tril(np.ones((2, 2), dtype=bool)), source_tokens=["a", "</s>", "<pad>"],
        target_tokens=["<s>", "a"], output_tokens=["a", "</s>"], output="a", weights_source="test",
    )
    npz = np.load(io.BytesIO(export_npz(trace)))
    np.testing.assert_array_equal(npz["cross_attention_layer1"], trace.cross_attention[0])
    np.testing.assert_array_equal(npz["source_mask"], trace.source_mask)
    assert list(npz["source_tokens"]) == trace.source_tokens
    doc = json.loads(export_json(trace))
    np.testing.assert_allclose(np.array(doc["arrays"]["encoder_attention_layer1"]), trace.encoder_attention[0])
    assert doc["target_tokens"] == ["<s>", "a"] and doc["output"] == "a"
