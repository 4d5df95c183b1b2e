"""The app's frame in both languages (AppTest): home and glossary, the sidebar, `?lang=` and `?present=1` links,
bad values for them, and the browser's language on a first visit."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP
from tests.i18n_scan import english_words
from ui.glossary import TERMS


def _run(page: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", [None, "views/glossary.py"])
def test_home_and_glossary_in_chinese_leave_no_english_sentence(page):
    at = _run(page, lang="zh")
    assert at.session_state["lang"] == "zh"
    # the glossary is bilingual on purpose: each term is also given in English
    terms = {word for term in TERMS for word in term.en.replace("-", " ").replace("[", " ").replace("]", " ").split()}
    models = {"BERT", "BART", "Marian", "Llama", "Qwen"}  # the language models the home page names
    assert english_words(at, extra=(terms if page else set()) | models) == []


def test_home_in_english_and_chinese():
    en = _run(lang="en")
    zh = _run(lang="zh")
    assert any("Reading attention responsibly" in s.value for s in en.subheader)
    assert any("审慎解读注意力" in s.value for s in zh.subheader)
    assert zh.sidebar.selectbox[0].value == "zh" and en.sidebar.selectbox[0].value == "en"


def test_glossary_lists_every_term_in_both_languages():
    at = _run("views/glossary.py", lang="zh")
    shown = " ".join(m.value for m in at.markdown)
    for term in TERMS:
        assert term.zh in shown and term.en in shown, term.en


def test_a_bad_language_or_presentation_value_falls_back_with_a_notice():
    at = _run(lang="fr", present="maybe")
    assert at.session_state["lang"] == "en" and at.session_state["present"] is False
    notices = " ".join(w.value for w in at.warning)
    assert "lang=fr" in notices and "present=maybe" in notices


def test_present_in_the_link_switches_presentation_mode_on():
    at = _run(present="1")
    assert at.session_state["present"] is True
    assert at.sidebar.toggle[0].value is True
    assert at.query_params["present"] == ["1"] or at.query_params["present"] == "1"


def test_the_sidebar_switch_changes_the_language():
    at = _run(lang="en")
    at.sidebar.selectbox[0].set_value("zh").run()
    assert not at.exception
    assert any("审慎解读注意力" in s.value for s in at.subheader)


@pytest.mark.parametrize("page", ["views/vit.py", "views/swin.py"])
def test_the_demo_models_predictions_name_their_classes_in_chinese(page):
    """Class names are data the scan leaves out (tick labels), so they are checked here: the demo models'
    top-5 bars name the shapes in Chinese."""
    import json

    from models.demo import shapes
    from ui import i18n
    from ui.vision import class_label

    at = _run(page, lang="zh")
    labels = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        for name, axis in spec.get("layout", {}).items():
            if name.startswith(("xaxis", "yaxis")) and isinstance(axis.get("ticktext"), list):
                labels += [str(v) for v in axis["ticktext"]]
        for trace in spec.get("data", []):
            if trace.get("type") == "bar":
                for axis in ("x", "y", "text"):
                    if isinstance(trace.get(axis), list):  # numbers may come as a typed array (a dict)
                        labels += [str(v) for v in trace[axis]]
    with i18n.use("zh"):
        chinese = {class_label(c) for c in shapes.CLASSES}
    assert chinese & set(labels), labels
    assert not set(shapes.CLASSES) & set(labels), labels
