"""The encoder–decoder page, headless (streamlit.testing.v1.AppTest): each task, then the inputs that must not break it.

One AppTest session serves the whole module (each `.run()` re-runs the page; CI has 2 cores). What the page shows
is compared with `text.run` on the same model: the page must draw what the model computed.
"""
import base64
import functools
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from models.demo import text
from tests.conftest import APP
from ui.text import RESPONSIBLY, TASK_KEY, text_key
from viz import text as vt

TABS = ["2 · Encoder self-attention", "3 · Masks", "4 · Decoder self-attention", "5 · Cross-attention",
        "6 · Decoding step by step", "7 · Overview & download"]
ENCODER, MASKS, DECODER, CROSS, STEPS, OVERVIEW = TABS
ATTENTION_TABS = (ENCODER, DECODER, CROSS)
VIEWS = ["head", "layer", "lines"]  # one head, all heads of a layer, the head view (the "ed_view" radio)
TAB_KEY = "ed_tab"

TYPED = {
    "reverse": ("Hello, world", "dlrow ,olleH"),
    "dates": ("21 Nov 2026", "2026-11-21"),
    "translate": ("the big dog chased a small cat .", None),  # checked against text.run only
}


@pytest.fixture(scope="module")
def at():
    at = AppTest.from_file(APP, default_timeout=240).run()
    at.switch_page("views/encoder_decoder.py").run()
    assert not at.exception
    return at


@functools.cache
def _model(task: str):
    """The model the page uses: the demo checkpoint, or random weights while none is bundled (the page says so)."""
    try:
        return text.load(task)
    except text.MissingCheckpoint:
        return text.load(task, weights="random")


def _weights(task: str) -> str:
    return "random" if _model(task).weights_source.startswith("random") else "demo"


def _type(at, task: str, value: str) -> None:
    """Choose the task and type `value`, in one run of the page."""
    at.radio(key=TASK_KEY).set_value(task)
    at.session_state[text_key(task)] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key=text_key(task)).value == value


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _open_tab(at, label: str) -> None:
    """Choose a tab: the tabs are lazy (on_change="rerun"), so only the open one's content runs."""
    at.session_state[TAB_KEY] = label
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def _set_view(at, view: str) -> None:
    at.radio(key="ed_view").set_value(view).run()
    assert not at.exception, [e.value for e in at.exception]


def _every_tab(at) -> tuple[list[dict], dict[str, int]]:
    """The charts of every tab (each view of the attention tabs), opened one after the other, and how many each
    tab drew; back to the first tab and view."""
    charts, counts = [], {}
    for label in TABS:
        _open_tab(at, label)
        counts[label] = 0
        for view in VIEWS if label in ATTENTION_TABS else [None]:
            if view is not None:
                _set_view(at, view)
            found = _charts(at)
            charts += found
            counts[label] += len(found)
        if label in ATTENTION_TABS:
            _set_view(at, VIEWS[0])
    _open_tab(at, TABS[0])
    return charts, counts


def _z(trace: dict) -> np.ndarray:
    """A heatmap's z from the figure JSON (Plotly writes numpy arrays as typed-array dicts)."""
    z = trace["z"]
    if isinstance(z, dict):
        shape = tuple(int(n) for n in str(z.get("shape", "-1")).split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=np.dtype(z["dtype"])).reshape(shape)
    return np.asarray(z, dtype=float)


def _expected_trace(task: str, value: str):
    return text.run(_model(task), value)


@pytest.mark.parametrize("task", list(TYPED))
def test_typed_text_gives_output_and_every_figure(at, task):
    value, answer = TYPED[task]
    _type(at, task, value)
    expected = _expected_trace(task, value)
    assert [c.value for c in at.code] == [expected.output]
    if answer is not None and _weights(task) == "demo":
        assert expected.output == answer
    assert any(expected.weights_source in i.value for i in [*at.info, *at.warning])

    assert len(at.get("tab")) == len(TABS) and [t.label for t in at.get("tab")] == TABS
    first = _charts(at)  # only the open tab is drawn, in the chosen view
    assert len(first) == 1
    charts, counts = _every_tab(at)
    assert all(counts[label] for label in TABS), counts
    titles = [(c["layout"].get("title") or {}).get("text", "") for c in charts]
    # One head: the heatmaps hold exactly the trace's arrays, tokens on both axes.
    enc = charts[titles.index("Encoder self-attention · layer 1, head 1")]
    np.testing.assert_allclose(_z(enc["data"][0]), expected.encoder_attention[0][0], atol=1e-6)
    assert enc["data"][0]["x"] == [f"{i}: {t}" for i, t in enumerate(vt.visible_tokens(expected.source_tokens))]
    xaxis = enc["layout"]["xaxis"]
    labels = vt.visible_tokens(expected.source_tokens)
    assert [labels[i] for i in xaxis["tickvals"]] == xaxis["ticktext"] and xaxis["tickfont"]["size"] >= 12
    cross = charts[titles.index("Cross-attention · layer 1, head 1")]
    np.testing.assert_allclose(_z(cross["data"][0]), expected.cross_attention[0][0], atol=1e-6)
    assert "key %{x}" in cross["data"][0]["hovertemplate"]  # x is "index: token": hover names every key
    # All heads of a layer, layers x heads, the head view, the masks and the step view are all there.
    n_heads = expected.encoder_attention[0].shape[0]
    grid = charts[titles.index("Encoder self-attention · layer 1")]
    assert len(grid["data"]) == n_heads
    overview = charts[titles.index("Cross-attention")]
    assert len(overview["data"]) == n_heads * len(expected.cross_attention)
    head_view = charts[titles.index("Head view: Encoder self-attention · layer 1")]
    assert any(tr.get("mode") == "lines" for tr in head_view["data"])
    causal = charts[titles.index("Causal mask (decoder self-attention)")]
    np.testing.assert_array_equal(_z(causal["data"][0]), expected.causal_mask.astype(float))
    assert "Step 1: the next token, top 5" in titles
    _open_tab(at, OVERVIEW)
    assert len(at.get("download_button")) == 2
    _open_tab(at, TABS[0])


def test_step_slider_head_view_and_padding(at):
    task, (value, _) = "translate", TYPED["translate"]
    _type(at, task, value)
    expected = _expected_trace(task, value)
    n = len(expected.source_tokens) + 5
    at.slider(key="ed_pad_to").set_value(n).run()
    assert not at.exception
    padded = text.run(_model(task), value, pad_to=n)
    charts = _charts(at)  # the encoder, one head
    _open_tab(at, CROSS)
    _set_view(at, "lines")
    charts += _charts(at)
    _set_view(at, "head")
    _open_tab(at, MASKS)
    charts += _charts(at)
    if len(expected.output_tokens) > 1:
        _open_tab(at, STEPS)
        at.slider(key="ed_step").set_value(2).run()
        charts += _charts(at)
    markdown = [m.value for m in at.markdown]
    _open_tab(at, MASKS)
    markdown += [m.value for m in at.markdown]
    _open_tab(at, TABS[0])
    titles = [(c["layout"].get("title") or {}).get("text", "") for c in charts]
    mask = charts[titles.index("Padding mask (encoder self-attention)")]
    z = _z(mask["data"][0])
    assert z.shape == (n, n) and (z[:, -5:] == 0).all() and (z[:, :-5] == 1).all()
    # The padding changes nothing the model outputs, and the pad columns get weight exactly 0.
    assert [c.value for c in at.code] == [expected.output]
    enc = charts[titles.index("Encoder self-attention · layer 1, head 1")]
    assert (_z(enc["data"][0])[:, -5:] == 0).all()
    if len(expected.output_tokens) > 1:
        step = charts[titles.index("Cross-attention at step 2 · layer 1")]
        np.testing.assert_allclose(_z(step["data"][0]), padded.cross_attention[0][:, 1, :], atol=1e-6)
    hv = charts[titles.index("Head view: Cross-attention · layer 1")]
    assert any(tr.get("mode") == "lines" for tr in hv["data"])
    assert any("5 `<pad>` tokens" in m for m in markdown)


@pytest.mark.parametrize("value", ["", "   \t  "])
def test_empty_input_warns_and_draws_nothing(at, value):
    _type(at, "reverse", value)
    assert any("empty" in w.value for w in at.warning)
    assert not at.get("plotly_chart") and not at.code


def test_over_long_input_is_truncated_and_said(at):
    info = text.TASKS["reverse"]
    value = "x" * (info.max_input_len + 30) + "END"
    _type(at, "reverse", value)
    assert any("too long" in w.value for w in at.warning)
    expected = _expected_trace("reverse", value)
    assert expected.truncated and len(expected.source_tokens) == info.max_input_len + 1  # + </s>
    assert [c.value for c in at.code] == [expected.output]
    assert at.get("plotly_chart")


def test_unknown_characters_are_listed(at):
    _type(at, "reverse", "héllo ☃")
    warnings = " ".join(w.value for w in at.warning)
    assert "'é'" in warnings and "'☃'" in warnings
    assert at.get("plotly_chart")


@pytest.mark.parametrize(
    "task,value,why",
    [
        ("dates", "21/11/2026", "month/day/year"),
        ("dates", "tomorrow", "not a date written in any of the styles"),
        ("translate", "the teacher reads a red book", "repeats itself"),
    ],
)
def test_outside_the_training_data_is_said_with_the_reason(at, task, value, why):
    _type(at, task, value)
    warnings = " ".join(w.value for w in at.warning)
    assert "Outside what this model was trained on" in warnings and why in warnings
    assert any("Confidence" in c.value and "step" in c.value for c in at.caption)
    assert at.get("plotly_chart"), "the figures are still drawn: the page explains, it does not refuse"


@pytest.mark.parametrize("task", ["reverse", "dates", "translate"])
def test_inputs_like_the_training_data_get_no_warning(at, task):
    _type(at, task, text.TASKS[task].examples[1])
    assert not [w.value for w in at.warning if "Outside" in w.value]
    confidence = [c.value for c in at.caption if c.value.startswith("**Confidence")]
    assert len(confidence) == 1


def test_layers_heads_and_steps_count_from_1_and_the_note_is_beside_cross_attention(at):
    _type(at, "reverse", "Hello, world")
    head = at.select_slider(key="ed_head")
    assert head.options == ["1", "2", "3", "4"] and head.value == 1
    head.set_value(3).run()
    assert not at.exception
    assert any("indices from 0" in m.value for m in at.markdown)
    _open_tab(at, CROSS)
    titles = [(c["layout"].get("title") or {}).get("text", "") for c in _charts(at)]
    assert "Cross-attention · layer 1, head 3" in titles
    assert any(RESPONSIBLY in m.value for m in at.markdown)
    _open_tab(at, STEPS)
    assert at.slider(key="ed_step").min == 1
    assert any("counted from 0" in m.value for m in at.markdown)
    at.select_slider(key="ed_head").set_value(1)
    _open_tab(at, TABS[0])
