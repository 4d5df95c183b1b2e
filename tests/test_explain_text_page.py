"""The text pages' section "What the output rests on" (ui/explain_text.py), headless: the relevance and the raw
attention drawn are models/capture/explain_text.py's output for that very input (itself held against the papers'
formulas in tests/test_explain_text.py), heads switched off change the output, MiniLM (no LM head) gets a plain
message, and the Chinese page leaves no English word."""
from __future__ import annotations

import json
import re
import types

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from models.capture import explain_text as et
from models.demo import text as demo
from tests import language_models as lms
from tests.conftest import APP
from tests.i18n_scan import english_words
from tests.test_vit_page import array
from ui import i18n
from viz.text import visible_tokens

ED = "views/encoder_decoder.py"
LM = "views/language.py"
SENTENCE = "the teacher reads a red book"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def _open(page: str, params: dict[str, str], lang: str = "en", on: bool = True) -> AppTest:
    """The page with the section switched on (its toggle, in the link) unless `on` is False."""
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = lang
    if on:
        at.query_params["ed_x_on" if page == ED else "lm_x_on"] = "true"
    for k, v in params.items():
        at.query_params[k] = v
    with i18n.use(lang):
        at.run()
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _charts(at: AppTest) -> dict[str, dict]:
    return {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _english(at: AppTest, extra: set[str]) -> list:
    return english_words(types.SimpleNamespace(_tree=at.main), extra=extra)


# ------------------------------------------------------------------------------------------ encoder–decoder
def test_encoder_decoder_relevance_and_cross_attention_are_explain_texts():
    at = _open(ED, {"ed_task": "translate", "ed_text_translate": SENTENCE, "ed_x_token": "2"})
    want = et.seq2seq_relevance(demo.load("translate"), SENTENCE)
    assert at.selectbox(key="ed_x_token").value == "2"
    charts = _charts(at)
    np.testing.assert_allclose(array(charts["ed_x_rel"]["data"][0]["y"]), want.relevance[2], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(array(charts["ed_x_cross"]["data"][0]["y"]), want.cross_last[2], rtol=1e-5)
    ticks = charts["ed_x_rel"]["layout"]["xaxis"]["ticktext"]
    assert ticks == [f"{i}: {t}" for i, t in enumerate(visible_tokens(want.source_tokens))]  # <unk> escaped
    for kind in et.KINDS:
        assert f"ed_x_importance_{kind}" in charts
    # the first cross-attention layer, and every output token at once
    at.selectbox(key="ed_x_layer").set_value(1).run()
    at.radio(key="ed_x_view").set_value("heatmap").run()
    assert not at.exception
    charts = _charts(at)
    np.testing.assert_allclose(array(charts["ed_x_rel_map"]["data"][0]["z"]), want.relevance, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(array(charts["ed_x_cross_map"]["data"][0]["z"]), want.cross_layers[0], rtol=1e-5)


def test_encoder_decoder_importance_grid_is_the_mean_drop():
    at = _open(ED, {"ed_task": "reverse", "ed_text_reverse": "hello world"})
    imp = et.seq2seq_importance(demo.load("reverse"), "hello world")
    charts = _charts(at)
    for kind in et.KINDS:
        want = (imp.base[None, None, :] - imp.probs[kind]).mean(-1)
        np.testing.assert_allclose(array(charts[f"ed_x_importance_{kind}"]["data"][0]["z"]), want, atol=1e-6)


def test_encoder_decoder_heads_off_change_the_output():
    at = _open(ED, {"ed_task": "translate", "ed_text_translate": SENTENCE})
    heads = ["cross 1.1", "cross 1.2", "cross 2.1", "cross 2.2"]
    at.multiselect(key="ed_x_off").set_value(heads).run()
    assert not at.exception, [e.value for e in at.exception]
    want = et.seq2seq_ablate(demo.load("translate"), SENTENCE, [("cross", 0, 0), ("cross", 0, 1), ("cross", 1, 0),
                                                                ("cross", 1, 1)])
    assert want.output != want.base_output  # the check can fail: these heads matter for this sentence
    codes = [c.value for c in at.code]
    assert want.base_output in codes and want.output in codes
    charts = _charts(at)
    np.testing.assert_allclose(array(charts["ed_x_after"]["data"][0]["y"]), want.token_probs, rtol=1e-5)
    np.testing.assert_allclose(array(charts["ed_x_before"]["data"][1]["y"]), want.base_token_probs_ablated,
                               rtol=1e-5)
    assert "With 4 heads off" in json.dumps(charts["ed_x_after"]["layout"]["title"])


def test_encoder_decoder_section_in_chinese_leaves_no_english():
    at = _open(ED, {"ed_task": "translate", "ed_text_translate": SENTENCE}, lang="zh")
    with i18n.use("zh"):
        at.multiselect(key="ed_x_off").set_value(["cross 1.1"]).run()
    assert not at.exception
    assert any("输出依据什么" in h.value for h in at.subheader)
    words = set(re.findall(r"[A-Za-z]{2,}", " ".join(demo.TASKS["translate"].examples)))
    zerin = {w for _en, zr, _x in demo.load("translate").info.lexicon for w in zr.split()}  # the model's output
    found = _english(at, words | zerin | {"ISO", "ASCII", "Python", "POSIX", "Jain", "Wallace"})
    assert found == [], found[:10]
    with i18n.use("zh"):
        at.radio(key="ed_x_view").set_value("heatmap").run()
    assert not at.exception
    assert "ed_x_rel_map" in _charts(at)
    found = _english(at, words | zerin | {"ISO", "ASCII", "Python", "POSIX", "Jain", "Wallace"})
    assert found == [], found[:10]


def test_encoder_decoder_section_computes_only_when_switched_on():
    at = _open(ED, {"ed_task": "reverse", "ed_text_reverse": "hello"}, on=False)
    assert any("What the output rests on" in h.value for h in at.subheader)
    assert not [k for k in _charts(at) if k.startswith("ed_x_")]
    at.toggle(key="ed_x_on").set_value(True).run()
    assert not at.exception
    assert "ed_x_rel" in _charts(at)


# ------------------------------------------------------------------------------------------ language models
@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    return {kind: str(lms.build(kind, root / kind)) for kind in ("gpt2", "bert")}, root


@pytest.fixture()
def weights_dir(folders, monkeypatch):
    paths, root = folders
    monkeypatch.setenv("ATLAS_WEIGHTS_DIR", str(root))
    return paths


def _load(path: str):
    from models import language

    return language.load(path, "cpu", folders="weights_dir")


@pytest.mark.parametrize("kind,typed", [("bert", "the cat [MASK] on the mat"), ("gpt2", "the cat sat on the")])
def test_language_relevance_and_raw_row_are_explain_texts(weights_dir, kind, typed):
    at = _open(LM, {"lm_name": weights_dir[kind], "lm_text": typed})
    want = et.lm_relevance(_load(weights_dir[kind]), typed)
    charts = _charts(at)
    np.testing.assert_allclose(array(charts["lm_x_rel"]["data"][0]["y"]), want.relevance, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(array(charts["lm_x_raw"]["data"][0]["y"]), want.raw_last, rtol=1e-5)
    assert charts["lm_x_rel"]["layout"]["xaxis"]["ticktext"][want.position].startswith(f"{want.position}: ")
    shown = " ".join(m.value for m in at.markdown)
    assert ("mask at position" if kind == "bert" else "the next token after the text") in shown
    at.selectbox(key="lm_x_layer").set_value(1).run()
    np.testing.assert_allclose(array(_charts(at)["lm_x_raw"]["data"][0]["y"]), want.raw_layers[0], rtol=1e-5)


def test_language_heads_off_change_the_top_5_and_the_grid_comes_on_a_button(weights_dir):
    typed = "the cat [MASK] on the mat"
    at = _open(LM, {"lm_name": weights_dir["bert"], "lm_text": typed})
    assert "lm_x_importance_grid" not in _charts(at)
    heads = ["1.1", "1.2", "2.3", "2.4"]
    at.multiselect(key="lm_x_off").set_value(heads).run()
    model = _load(weights_dir["bert"])
    want = et.lm_ablate(model, typed, [(0, 0), (0, 1), (1, 2), (1, 3)])
    assert [p for _t, p in want.top] != [p for _t, p in want.base_top]
    charts = _charts(at)
    np.testing.assert_allclose(array(charts["lm_x_after"]["data"][0]["x"]), [p for _t, p in want.top], rtol=1e-5)
    np.testing.assert_allclose(array(charts["lm_x_before"]["data"][0]["x"]), [p for _t, p in want.base_top],
                               rtol=1e-5)
    at.button(key="lm_x_importance_go").click().run()
    assert not at.exception
    imp = et.lm_importance(model, typed)
    grid = array(_charts(at)["lm_x_importance_grid"]["data"][0]["z"])
    np.testing.assert_allclose(grid, imp.base - imp.probs, atol=1e-6)


def test_minilm_says_relevance_needs_a_prediction_and_shows_nothing_else():
    at = _open(LM, {}, on=False)  # said before the switch: there is nothing to switch on
    assert not [t for t in at.toggle if t.key == "lm_x_on"]
    assert any("no language-model head" in i.value and MINILM in i.value for i in at.info)
    assert not [k for k in _charts(at) if k.startswith("lm_x_")]
    assert not [m for m in at.multiselect if m.key == "lm_x_off"]


def test_minilm_in_chinese_and_our_encoder_decoder_get_a_plain_message():
    at = _open(LM, {}, lang="zh")
    assert any("相关性需要" in i.value or "语言模型头" in i.value for i in at.info), [i.value for i in at.info]
    assert not [k for k in _charts(at) if k.startswith("lm_x_")]
    at = _open(LM, {"lm_name": "demo:translate", "lm_text": SENTENCE})
    assert any("masked and causal language models" in i.value for i in at.info), [i.value for i in at.info]
    assert not [k for k in _charts(at) if k.startswith("lm_x_")]


def test_language_section_in_chinese_leaves_no_english(weights_dir):
    typed = "the cat [MASK] on the mat"
    at = _open(LM, {"lm_name": weights_dir["bert"], "lm_text": typed}, lang="zh")
    with i18n.use("zh"):
        at.multiselect(key="lm_x_off").set_value(["1.1"]).run()
        at.button(key="lm_x_importance_go").click().run()
    assert not at.exception
    assert "lm_x_importance_grid" in _charts(at)
    from tests.test_language_page import _names

    found = [w for w in _english(at, _names() | set(lms.VOCAB) | {"tmp", "pytest", "weights", "bert", "gpt"})]
    assert found == [], found[:10]


def test_a_text_longer_than_the_limit_gets_a_message(weights_dir, monkeypatch):
    from ui import explain_text as ux

    monkeypatch.setattr(ux, "MAX_TOKENS", 3)
    at = _open(LM, {"lm_name": weights_dir["gpt2"], "lm_text": "the cat sat on the"})
    assert any("relevance is offered up to 3 tokens" in i.value for i in at.info), [i.value for i in at.info]
    assert not [k for k in _charts(at) if k.startswith("lm_x_")]


def test_a_link_opens_the_same_view_and_a_bad_value_gets_a_notice():
    at = _open(ED, {"ed_task": "translate", "ed_text_translate": SENTENCE, "ed_x_layer": "1", "ed_x_view": "heatmap"})
    want = et.seq2seq_relevance(demo.load("translate"), SENTENCE)
    assert at.selectbox(key="ed_x_layer").value == 1 and at.radio(key="ed_x_view").value == "heatmap"
    np.testing.assert_allclose(array(_charts(at)["ed_x_cross_map"]["data"][0]["z"]), want.cross_layers[0], rtol=1e-5)
    at = _open(ED, {"ed_task": "translate", "ed_text_translate": SENTENCE, "ed_x_layer": "9", "ed_x_token": "x"})
    said = " ".join(w.value for w in at.warning)
    assert "ed_x_layer=9 does not fit" in said and "ed_x_token=x does not fit" in said, said
    assert at.selectbox(key="ed_x_layer").value == 2 and at.selectbox(key="ed_x_token").value == "0"


def test_presentation_mode_runs_both_sections(weights_dir):
    at = _open(ED, {"ed_task": "dates", "ed_text_dates": "tomorrow", "present": "1", "ed_x_view": "heatmap"})
    assert {"ed_x_rel_map", "ed_x_cross_map"} <= set(_charts(at))
    at = _open(LM, {"lm_name": weights_dir["gpt2"], "lm_text": "the cat sat", "present": "1"})
    assert {"lm_x_rel", "lm_x_raw"} <= set(_charts(at))


# ------------------------------------------------------------------------------------ perturbation on this input
def _captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_encoder_decoder_perturbation_scores_are_the_test_s_own_numbers():
    at = _open(ED, {"ed_task": "reverse", "ed_text_reverse": "attention", "ed_x_token": "3", "ed_x_layer": "1"})
    model = demo.load("reverse")
    r = et.seq2seq_relevance(model, "attention")
    want = et.seq2seq_perturbation(model, r.source_ids, r.decoder_ids, 3,
                                   {"relevance": r.relevance[3], "raw": r.cross_layers[0][3]}, ux_fractions())
    said = _captions(at)
    for k in ("relevance", "raw"):
        s = want["maps"][k]
        assert f"leaves an area of {s['pos']:.3f} under the token's probability" in said
        assert f"least relevant first, {s['neg']:.3f}" in said
    assert f"leaves an area of {want['random']['auc']:.3f} (mean of 3 orders)" in said
    assert f"{r.source_ids.__len__() - 1} tokens can be removed" in said
    curves = {c["name"]: array(c["y"]) for c in _charts(at)["ed_x_curves"]["data"]}
    assert set(curves) == {"Relevance", "Cross-attention · layer 1", "Random order"}
    np.testing.assert_allclose(curves["Relevance"], want["maps"]["relevance"]["pos_curve"], atol=1e-6)
    np.testing.assert_allclose(curves["Random order"], want["random"]["curve"], atol=1e-6)
    assert curves["Relevance"][0] == pytest.approx(r.token_probs[3], abs=1e-5)  # nothing removed: its probability


def ux_fractions():
    from ui import explain_text as ux

    return ux.FRACTIONS


@pytest.mark.parametrize("kind,typed", [("bert", "the cat [MASK] on the mat"), ("gpt2", "the cat sat on the")])
def test_language_perturbation_scores_and_the_button_for_large_work(weights_dir, kind, typed, monkeypatch):
    at = _open(LM, {"lm_name": weights_dir[kind], "lm_text": typed})
    lm = _load(weights_dir[kind])
    r = et.lm_relevance(lm, typed)
    want = et.lm_perturbation(lm, r, {"relevance": r.relevance, "raw": r.raw_layers[-1]}, ux_fractions())
    said = _captions(at)
    assert f"leaves an area of {want['maps']['relevance']['pos']:.3f} under the token's probability" in said
    assert f"leaves an area of {want['maps']['raw']['pos']:.3f} under the token's probability" in said
    curves = {c["name"]: array(c["y"]) for c in _charts(at)["lm_x_curves"]["data"]}
    np.testing.assert_allclose(curves["Relevance"], want["maps"]["relevance"]["pos_curve"], atol=1e-6)
    assert curves["Relevance"][0] == pytest.approx(r.target_prob, abs=1e-5)
    # a model and text past the automatic budget: a button, then the same numbers
    from ui import explain_text as ux

    monkeypatch.setattr(ux, "AUTO_WORK", 0)
    at = _open(LM, {"lm_name": weights_dir[kind], "lm_text": typed + " a"})
    assert "lm_x_curves" not in _charts(at)
    at.button(key="lm_x_scores_go").click().run()
    assert not at.exception and "lm_x_curves" in _charts(at)


def test_language_rollout_and_flow_to_the_predicted_position(weights_dir, monkeypatch):
    """Abnar & Zuidema's rollout and flow read at the predicted position ("a chosen query"), each the formula's
    output (relevance.attention_flow itself is held against networkx in tests/test_relevance.py) with its score;
    above FLOW_AUTO_TOKENS the flow waits for its button."""
    from models.analysis import attention_math as am
    from models.analysis import relevance as rel
    from ui import explain_text as ux

    typed = "the cat sat on the"
    at = _open(LM, {"lm_name": weights_dir["gpt2"], "lm_text": typed})
    lm = _load(weights_dir["gpt2"])
    r = et.lm_relevance(lm, typed)
    charts = _charts(at)
    np.testing.assert_allclose(array(charts["lm_x_rollout"]["data"][0]["y"]),
                               am.rollout(r.attention, rows=[r.position])[0], rtol=1e-5, atol=1e-7)
    flow = rel.attention_flow([a.mean(0) for a in r.attention], target=r.position)
    np.testing.assert_allclose(array(charts["lm_x_flow"]["data"][0]["y"]), flow, atol=1e-6)
    want = et.lm_perturbation(lm, r, {"flow": flow}, ux.FRACTIONS)["maps"]["flow"]
    assert f"leaves an area of {want['pos']:.3f} under the token's probability" in _captions(at)
    monkeypatch.setattr(ux, "FLOW_AUTO_TOKENS", 2)
    at = _open(LM, {"lm_name": weights_dir["gpt2"], "lm_text": typed + " mat"})
    assert "lm_x_flow" not in _charts(at) and "lm_x_rollout" in _charts(at)
    at.button(key="lm_x_flow_go").click().run()
    assert not at.exception and "lm_x_flow" in _charts(at)
