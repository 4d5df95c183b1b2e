"""The encoder–decoder page in English and Chinese, its links, and presentation mode (AppTest, headless).

- every section and view runs in both languages, and in Chinese no English sentence is left in what the page
  shows (tests/i18n_scan.py; names and the tasks' example inputs are data, passed as `extra`);
- a link (query parameters) opens the same view, with the same numbers, as the widgets do;
- a link's bad values fall back to the defaults with a notice, never a traceback;
- presentation mode (?present=1) runs every section;
- the codes of models/demo/text.py are worded in Chinese with every field filled, and the page's copies of the
  tasks' texts still say what the tasks say.
"""
import json
import re
import string
import types

import pytest
from streamlit.testing.v1 import AppTest

from models.demo import text
from models.messages import Notice
from tests.conftest import APP
from tests.i18n_scan import english_words
from ui import i18n
from ui import text as ui
from ui.words.text import TEMPLATES

PAGE = "views/encoder_decoder.py"
DEFAULT_TITLE = {"en": "Encoder self-attention · layer 1, head 1", "zh": "编码器自注意力 · 第 1 层，注意力头 1"}
SECTIONS = ["encoder", "masks", "decoder", "cross", "steps", "overview"]
NAMES = {"ISO", "ASCII", "Python", "POSIX", "Jain", "Wallace"}  # names: standards, a language, authors


def _open(params: dict[str, str], lang: str = "en") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.query_params["lang"] = lang
    for name, value in params.items():
        at.query_params[name] = value
    with i18n.use(lang):
        at.run()
        at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _set(at: AppTest, lang: str = "en", **params: str) -> None:
    """Sets query parameters and reruns. AppTest words the widgets' options (format_func) outside the session,
    in the language `i18n.use` sets: the language the page showed last."""
    for name, value in params.items():
        at.query_params[name] = value
    with i18n.use(lang):
        at.run()
    assert not at.exception, [e.value for e in at.exception]


def _examples(task: str) -> set[str]:
    """The task's example inputs are data: their words may show (in the examples box) in any language."""
    return {w for example in text.TASKS[task].examples for w in re.findall(r"[A-Za-z]{2,}", example)}


def _english_in_main(at: AppTest, task: str) -> list:
    """English words left in the page's own area (the sidebar is the app's, checked with the app)."""
    return english_words(types.SimpleNamespace(_tree=at.main), extra=NAMES | _examples(task))


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


# ------------------------------------------------------------------------------------------ both languages
@pytest.mark.parametrize("task,typed", [("dates", "tomorrow"), ("translate", "the teacher reads a red book")])
def test_every_section_in_chinese_leaves_no_english(task, typed):
    at = _open({"ed_task": task, ui.text_key(task): typed}, lang="zh")
    assert at.radio(key=ui.TASK_KEY).value == task
    assert any("超出了这个模型的训练范围" in w.value for w in at.warning), [w.value for w in at.warning]
    for section in SECTIONS:
        for view in (["head", "layer", "lines"] if section in ("encoder", "decoder", "cross") else ["head"]):
            _set(at, "zh", ed_tab=section, ed_view=view)
            assert at.get("plotly_chart") or section == "overview", (section, view)
            found = _english_in_main(at, task)
            assert found == [], (section, view, found[:10])


def test_default_view_in_both_languages():
    for lang in ("en", "zh"):
        at = _open({}, lang=lang)
        charts = _charts(at)
        assert len(charts) == 1
        title = charts[0]["layout"]["title"]["text"]
        assert title == DEFAULT_TITLE[lang]
        if lang == "zh":
            assert _english_in_main(at, "reverse") == []
            assert at.radio(key=ui.TASK_KEY).options == [
                "反转文本", "日期 → ISO 8601", "英语 → Zerin（一种动词居末的玩具语言）"]


def test_the_zerin_lexicon_is_in_chinese():
    at = _open({"ed_task": "translate"}, lang="zh")
    frame = at.dataframe[0].value
    assert list(frame.columns) == ["英语", "Zerin", "词性"]
    assert "名词" in set(frame["词性"])


# ------------------------------------------------------------------------------------------------- links
def test_a_link_opens_the_view_the_widgets_reach():
    task, typed = "translate", "the quick fox carried an apple near the river."
    link = {"ed_task": task, ui.text_key(task): typed, "ed_pad_to": "20", "ed_layer": "2", "ed_head": "3",
            "ed_view": "layer", "ed_tab": "cross"}
    linked = _open(link)
    by_widgets = _open({})
    by_widgets.radio(key=ui.TASK_KEY).set_value(task).run()
    by_widgets.text_input(key=ui.text_key(task)).set_value(typed).run()
    by_widgets.slider(key=ui.PAD_KEY).set_value(20).run()
    by_widgets.select_slider(key="ed_layer").set_value(2).run()
    by_widgets.select_slider(key="ed_head").set_value(3).run()
    by_widgets.radio(key=ui.VIEW_KEY).set_value("layer").run()
    by_widgets.session_state["ed_tab"] = "5 · Cross-attention"
    by_widgets.run()
    assert not by_widgets.exception
    a, b = _charts(linked), _charts(by_widgets)
    assert len(a) == 1 and a == b
    assert a[0]["layout"]["title"]["text"] == "Cross-attention · layer 2"
    assert [c.value for c in linked.code] == [c.value for c in by_widgets.code]


def test_a_link_opens_a_decoding_step_and_keeps_the_tab_in_either_language():
    link = {"ed_task": "dates", ui.text_key("dates"): "21 Nov 2026", "ed_tab": "steps", "ed_step": "4"}
    at = _open(link, lang="zh")
    assert at.slider(key="ed_step").value == 4
    titles = [c["layout"]["title"]["text"] for c in _charts(at)]
    assert "第 4 步的交叉注意力 · 第 1 层" in titles
    at.session_state["lang"] = "en"  # the reader switches language: the same tab stays open
    at.query_params["lang"] = "en"
    with i18n.use("zh"):  # the widgets AppTest sends back are the Chinese page's
        at.run()
    assert not at.exception
    titles = [c["layout"]["title"]["text"] for c in _charts(at)]
    assert "Cross-attention at step 4 · layer 1" in titles


def test_a_link_opens_the_head_view_with_its_heads():
    link = {"ed_task": "dates", "ed_tab": "cross", "ed_view": "lines", "ed_hv_heads": "2,4"}
    at = _open(link)
    assert at.multiselect(key=ui.HEADS_KEY).value == [1, 3]
    (chart,) = _charts(at)
    assert chart["layout"]["title"]["text"] == "Head view: Cross-attention · layer 1"
    assert {tr["name"] for tr in chart["data"] if tr.get("showlegend")} == {"head 2", "head 4"}
    at = _open({**link, "ed_hv_heads": "2,9"})
    assert "ed_hv_heads" in " ".join(w.value for w in at.warning)
    assert at.multiselect(key=ui.HEADS_KEY).value == [0, 1, 2, 3]


def test_bad_link_values_fall_back_to_the_defaults_with_a_notice():
    bad = {"ed_task": "nonsense", "ed_layer": "99", "ed_head": "-1", "ed_view": "sideways", "ed_tab": "nowhere",
           "ed_pad_to": "9999", "ed_step": "abc"}
    for lang in ("en", "zh"):
        at = _open(bad, lang=lang)
        notices = " ".join(w.value for w in at.warning)
        for name in ("ed_task", "ed_layer", "ed_head", "ed_view", "ed_tab", "ed_pad_to"):
            assert name in notices, (lang, name, notices)
        assert at.radio(key=ui.TASK_KEY).value == "reverse"
        assert at.select_slider(key="ed_head").value == 1
        assert [c["layout"]["title"]["text"] for c in _charts(at)] == [
            DEFAULT_TITLE[lang]]
    at = _open({"ed_tab": "steps", "ed_step": "99"})
    assert "ed_step" in " ".join(w.value for w in at.warning) and at.slider(key="ed_step").value == 1


# -------------------------------------------------------------------------------------------- presentation
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_presentation_mode_runs_every_section(lang):
    at = _open({"present": "1", "ed_task": "translate"}, lang=lang)
    assert all(c["layout"]["height"] <= 560 for c in _charts(at))
    for section in SECTIONS:
        at.session_state["present"] = True  # the sidebar's switch (AppTest keeps no sidebar after switch_page)
        _set(at, lang, ed_tab=section)
        assert at.get("plotly_chart") or section == "overview"
    at.session_state["present"] = True
    _set(at, lang, ed_tab="masks", ed_mask="cross")
    titles = [c["layout"]["title"]["text"] for c in _charts(at)]
    assert len(titles) == 2, "one mask and its attention per screen"
    for chart in _charts(at):
        assert chart["layout"]["xaxis"]["tickfont"]["size"] >= 16 and chart["layout"]["height"] <= 560


# ------------------------------------------------------------------------------------------------- words
def _sample(template: str) -> dict:
    return {f: 7 for _, f, _, _ in string.Formatter().parse(template) if f}


@pytest.mark.parametrize("code", sorted(TEMPLATES))
def test_every_code_is_worded_in_chinese_with_its_fields(code):
    params = _sample(TEMPLATES[code])
    if "month_name" in params:  # the model gives the month's number too (a Chinese date is written with it)
        params.update(month=11, month_name="November")
    if "actual" in params:
        params.update(actual="Saturday", given="Monday", month_name="November")
    with i18n.use("zh"):
        worded = ui.word(Notice(code, **params))
    assert "{" not in worded and re.search(r"[\u4e00-\u9fff]", worded), worded
    if code == "text.date_weekday":
        assert "星期六" in worded and "星期一" in worded


def test_the_pages_copies_of_the_task_texts_say_what_the_tasks_say():
    for name, task in text.TASKS.items():
        assert ui.task_description(name) == ui.TASK_DESCRIPTIONS[name], name
        assert ui.trained_on(name) == ui.TRAINED_ON[name], name
        with i18n.use("zh"):
            assert re.search(r"[\u4e00-\u9fff]", ui.task_description(name) + ui.trained_on(name) + ui.task_title(name))
    lexicon = {pos for task in text.TASKS.values() for _, _, pos in task.lexicon}
    assert lexicon <= set(ui.PARTS_OF_SPEECH)
