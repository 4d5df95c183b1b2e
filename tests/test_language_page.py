"""The language-model page in AppTest: every view and tab runs in both languages with the real MiniLM, our demo and
small random transformers models; the figures carry the model's own numbers; a link opens the same view; bad
links get a notice."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests import language_models as lm
from tests.conftest import APP
from tests.i18n_scan import english_words
from ui import i18n

PAGE = "views/language.py"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TEXT = "The cat sat on the mat because it was tired."
# Names a Chinese page shows: the models, their authors and the input (data), never a sentence.
NAMES = {"MiniLM", "sentence", "reimers", "gurevych", "nreimers", "uncased", "microsoft", "apache", "pypi",
         "sha", "the", "cat", "sat", "on", "mat", "because", "it", "was", "tired", "gt", "minilm", "bundled",
         "bert", "gpt", "llama", "qwen", "bart", "marian", "opus", "mt", "mistral", "roberta", "distilbert",
         "helsinki", "nlp", "openai", "community", "google", "facebook", "facebookai", "huggingfacetb", "smollm",
         "owner", "name", "atlas", "max", "params", "hello", "world", "cls", "sep"}


def _names() -> set[str]:
    """NAMES, and the words of the page's example inputs and model list (data: English text for English models)."""
    import re

    from ui import language as ui

    words = set(NAMES) | {"reverse", "dates", "translate", "txt", "German", "to", "English"}
    from models.demo import text as demo

    for examples in [*ui.EXAMPLES.values(), *(t.examples for t in demo.TASKS.values())]:
        for example in examples:
            words |= set(re.findall(r"[A-Za-z]{2,}", example))
    return words


def _open(params: dict[str, str], lang: str = "en", env: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = lang
    for name, value in params.items():
        at.query_params[name] = value
    with i18n.use(lang):
        at.run()
        at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _charts(at: AppTest) -> dict:
    import json

    return {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _titles(at: AppTest) -> list[str]:
    return [spec["layout"].get("title", {}).get("text", "") for spec in _charts(at).values()]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Small random GPT-2, T5 and BERT (with an MLM head) in a weights folder the page may open."""
    root = tmp_path_factory.mktemp("weights")
    return {kind: str(lm.build(kind, root / kind)) for kind in ("gpt2", "t5", "bert")}, root


@pytest.fixture()
def weights_dir(folders, monkeypatch):
    paths, root = folders
    monkeypatch.setenv("ATLAS_WEIGHTS_DIR", str(root))
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_minilm_default_view_is_the_real_model(lang):
    at = _open({}, lang)
    text = " ".join(str(i.value) for i in at.info)
    assert "53aa51172d14" in text  # the weights' source, hash checked, always on screen
    titles = _titles(at)
    assert titles == (["Self-attention · layer 1, head 1"] if lang == "en" else ["自注意力 · 第 1 层，注意力头 1"]) or \
        len(titles) == 1
    if lang == "zh":
        assert english_words(at, extra=_names()) == []


@pytest.mark.slow
def test_head_matrix_is_the_models_own_weights():
    from models import language

    at = _open({"lm_layer": "3", "lm_head": "5"})
    spec = next(iter(_charts(at).values()))
    trace = language.run(language.load(MINILM), TEXT)
    z = np.asarray(_z(spec["data"][0]["z"]), dtype=np.float32)
    np.testing.assert_allclose(z, trace.weights("self", 2)[4], atol=1e-6)
    assert spec["layout"]["title"]["text"] == "Self-attention · layer 3, head 5"
    # hover names each position, its token and the tokenizer's id (BERT's [CLS] is 101, [SEP] 102)
    assert spec["data"][0]["y"][0] == "0: [CLS] (id 101)" and spec["data"][0]["x"][-1].endswith("[SEP] (id 102)")


def _z(z):
    """A heatmap's z as Plotly sends it: a list, or typed-array base64 ({"dtype", "bdata", "shape"})."""
    if isinstance(z, dict):
        import base64

        flat = np.frombuffer(base64.b64decode(z["bdata"]), dtype=np.dtype(z["dtype"]))
        return flat.reshape([int(s) for s in str(z["shape"]).split(",")])
    return np.asarray(z)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("params", [
    {"lm_view": "layer"}, {"lm_view": "lines", "lm_hide": "true"}, {"lm_tab": "masks"}, {"lm_tab": "overview"},
    {"lm_model": "demo:reverse", "lm_text": "hello world", "lm_tab": "steps"},
    {"lm_model": "demo:translate", "lm_text": "the cat sat", "lm_kind": "cross", "lm_view": "lines"},
])
def test_views_run_in_both_languages(params, lang):
    at = _open(params, lang)
    assert at.get("plotly_chart"), "no figure"
    if lang == "zh":
        assert english_words(at, extra=_names() | {"olleh", "dlrow"}) == []


@pytest.mark.slow
def test_hide_special_tokens_renormalises_without_them():
    from models import language

    at = _open({"lm_hide": "true"})
    spec = next(iter(_charts(at).values()))
    z = _z(spec["data"][0]["z"])
    trace = language.run(language.load(MINILM), TEXT)
    full = trace.weights("self", 0)[0][1:-1, 1:-1]  # [CLS] first, [SEP] last
    np.testing.assert_allclose(z, full / full.sum(-1, keepdims=True), atol=1e-6)
    assert "[CLS]" not in str(spec["data"][0]["y"])


@pytest.mark.slow
def test_decoder_generation_steps_and_masks(weights_dir):
    at = _open({"lm_name": weights_dir["gpt2"], "lm_tab": "steps", "lm_new": "5"})
    titles = _titles(at)
    assert any("step 1" in t for t in titles), titles
    assert "steps" in at.query_params.get("lm_tab", "steps")
    at = _open({"lm_name": weights_dir["gpt2"], "lm_tab": "masks"})
    assert any("Causal mask" in t for t in _titles(at))


@pytest.mark.slow
def test_padding_shows_the_padding_mask_on_the_real_minilm():
    at = _open({"lm_pad": "20", "lm_tab": "masks"})
    titles = _titles(at)
    assert "Padding mask" in titles, titles
    mask = next(spec for spec in _charts(at).values() if spec["layout"]["title"]["text"] == "Padding mask")
    z = _z(mask["data"][0]["z"])
    assert z.shape == (20, 20) and not z[:, 13:].any() and z[:, :13].all()  # 13 real tokens, then 7 [PAD]


@pytest.mark.slow
def test_encoder_decoder_shows_three_kinds_and_cross_steps(weights_dir):
    at = _open({"lm_name": weights_dir["t5"], "lm_kind": "cross", "lm_new": "4", "lm_tab": "steps"})
    titles = _titles(at)
    assert any(t.startswith("Cross-attention at step 1") for t in titles), titles
    assert [r.value for r in at.radio if r.key == "lm_kind"] == ["cross"]


@pytest.mark.slow
def test_masked_lm_shows_top_5_fillers(weights_dir):
    at = _open({"lm_name": weights_dir["bert"], "lm_text": "the cat [MASK] on the mat"})
    titles = _titles(at)
    assert any(t.startswith("Mask at position 3") for t in titles), titles  # [CLS] the cat [MASK]: index 3


@pytest.mark.slow
def test_link_opens_the_same_view_as_the_widgets():
    linked = _open({"lm_layer": "4", "lm_head": "2", "lm_view": "layer"})
    at = _open({})
    at.select_slider(key="lm_layer").set_value(4).run()
    at.select_slider(key="lm_head").set_value(2).run()
    at.radio(key="lm_view").set_value("layer").run()
    assert not at.exception
    assert _titles(at) == _titles(linked)
    a, b = next(iter(_charts(at).values())), next(iter(_charts(linked).values()))
    np.testing.assert_array_equal(_z(a["data"][0]["z"]), _z(b["data"][0]["z"]))
    assert at.query_params.get("lm_view") == "layer"  # published by name (the bound sliders sync in the browser)


@pytest.mark.slow
@pytest.mark.parametrize("params", [{"lm_layer": "99"}, {"lm_head": "-1"}, {"lm_model": "no-such-model"},
                                    {"lm_view": "sideways"}, {"lm_tab": "nowhere"}])
def test_bad_links_give_a_notice_and_the_default(params):
    at = _open(params)
    assert any("does not fit this page" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.get("plotly_chart")


@pytest.mark.slow
def test_refused_and_unknown_models_are_plain_messages(monkeypatch):
    at = _open({"lm_name": "../../etc"})
    assert at.error and not at.exception
    at = _open({"lm_name": "/etc"})
    assert at.error and not at.exception


@pytest.mark.slow
def test_presentation_mode_runs():
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = "en"
    at.query_params["present"] = "1"
    with i18n.use("en"):
        at.run()
        at.switch_page(PAGE)
        at.session_state["present"] = True
        at.run()
    assert not at.exception
    assert at.get("plotly_chart")


def test_downloads_hold_the_weights_masks_and_tokens():
    """The NPZ and JSON downloads: every layer's weights as the trace computes them, the mask, the tokens and
    their ids, and what each field holds."""
    import io
    import json

    from models import language
    from ui import language as ui

    trace = language.run(language.load(MINILM), TEXT)
    layers = {"self": list(range(trace.num_layers("self")))}
    fields = {"x": "y"}
    npz = np.load(io.BytesIO(ui.export_npz(trace, layers, fields)))
    for layer in layers["self"]:
        np.testing.assert_array_equal(npz[f"self_layer{layer + 1}"], trace.weights("self", layer))
    assert npz["mask_self"].all() and list(npz["tokens_self"]) == trace.tokens("self")[1]
    assert npz["token_ids_self"][0] == 101 and json.loads(str(npz["fields"])) == fields
    doc = json.loads(ui.export_json(trace, layers, fields))
    np.testing.assert_allclose(doc["arrays"]["self_layer2"], trace.weights("self", 1), atol=1e-7)
    assert doc["tokens"]["self"][0] == "[CLS]" and doc["weights_source"] == trace.weights_source
