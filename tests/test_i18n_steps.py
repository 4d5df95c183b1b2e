"""The positional-encodings and step-by-step pages in both languages, their links, bad links, and projecting.

Each page runs in English and Chinese in its default view and in another one (no exception, and in Chinese no
English word left, tests/i18n_scan.py); a view opened from a link draws the same numbers as the same view reached
with the widgets; a link names choices by internal name, never by a label of the reader's language, so the same
link opens the same view in either language and the URL after a run holds no Chinese but typed text; a link with
bad values gives a notice and the defaults; `?present=1` runs and sizes the figures for a projector.
"""
import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP
from tests.i18n_scan import english_words
from ui import i18n, present
from ui import vision as ui_vision

# Names a Chinese page keeps: the demo tasks' names, a model family and an author the page cites.
NAMES = {"reverse", "dates", "translate", "cait", "touvron"}
STEPS, POSITIONAL = "views/step_by_step.py", "views/positional.py"
VIT = "Vision Transformer (ViT)"


def _open(page: str, lang: str = "en", **params) -> AppTest:
    """The page as a fresh browser opens a link with these query parameters."""
    at = AppTest.from_file(APP, default_timeout=240)
    at.query_params["lang"] = lang
    for name, value in params.items():
        at.query_params[name] = [str(v) for v in value] if isinstance(value, list) else str(value)
    at.run()
    return at.switch_page(page).run()


def _english(at: AppTest) -> list:
    """English words left on a Chinese page. LaTeX formulas keep the paper's notation (d_{model}, \\mathrm{head}_h,
    \\begin{aligned}): words inside them are symbols, not sentences, except their \\text{…}, which is translated."""
    words = [w for w in english_words(at, extra=NAMES) if w[0] != "latex"]
    for latex in at.latex:
        for start in [i for i in range(len(latex.value)) if latex.value.startswith(r"\text{", i)]:
            inner = latex.value[start + 6:latex.value.index("}", start)]
            assert not any(c.isascii() and c.isalpha() for c in inner), latex.value
    return words


def _specs(at: AppTest) -> dict[str, dict]:
    """Every figure's spec by the chart's key."""
    return {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _data(spec: dict) -> list:
    """What a figure draws: its traces' numbers (z, x, y), not its words."""
    return [{k: t.get(k) for k in ("z", "x", "y", "type")} for t in spec["data"]]


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# ------------------------------------------------------------------------------------------- step by step


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_step_by_step_runs_in_both_languages(lang):
    at = _open(STEPS, lang)
    _ok(at)
    assert len(at.get("plotly_chart")) == 4
    if lang == "zh":
        assert at.title[0].value == "逐步计算一个注意力头"
        assert _english(at) == []


def test_step_by_step_in_chinese_every_step_of_the_decoder_with_its_mask():
    at = _open(STEPS, "zh", sbs_kind="decoder", sbs_part="all", sbs_head=2)
    _ok(at)
    assert not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="sbs_kind").value == "decoder" and at.select_slider(key="sbs_head").value == 2
    assert len(at.get("plotly_chart")) >= 15
    assert any("掩码" in s.value for s in at.subheader)
    assert any(r"\text{可以关注}" in latex.value for latex in at.latex)
    assert _english(at) == []


def test_step_by_step_in_chinese_for_the_demo_vit():
    at = _open(STEPS, "zh", sbs_model="vit", sbs_part="all", sbs_block=2)
    _ok(at)
    assert at.selectbox(key="sbs_block").value == 2
    assert any("没有掩码" in m.value for m in at.markdown)
    assert _english(at) == []


def test_a_step_by_step_link_draws_what_the_widgets_draw():
    """The same view, once from a link and once chosen with the widgets: the same numbers in every figure."""
    linked = _open(STEPS, sbs_layer_reverse_encoder=2, sbs_head=3, sbs_part="3-4", sbs_query_reverse=5,
                   sbs_pad_reverse=30, sbs_text_reverse="Hello, world")
    _ok(linked)
    assert not linked.warning, [w.value for w in linked.warning]

    clicked = _open(STEPS)
    clicked.text_input(key="sbs_text_reverse").set_value("Hello, world").run()
    clicked.slider(key="sbs_pad_reverse").set_value(30).run()
    clicked.get("button_group")[0].set_value("3-4").run()
    clicked.selectbox(key="sbs_layer_reverse_encoder").set_value(2).run()
    clicked.select_slider(key="sbs_head").set_value(3).run()
    clicked.selectbox(key="sbs_query_reverse").set_value(5).run()
    _ok(clicked)
    a, b = _specs(linked), _specs(clicked)
    assert sorted(a) == sorted(b) == ["sbs_fig_3_0", "sbs_fig_3_1", "sbs_fig_3_2", "sbs_fig_4"]
    for key in a:
        assert _data(a[key]) == _data(b[key]), key
        assert a[key]["layout"].get("shapes") == b[key]["layout"].get("shapes"), key  # the same query row boxed
    assert linked.metric[0].value == clicked.metric[0].value


def _cjk(value: str) -> bool:
    return any("\u2e80" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or "\uff00" <= c <= "\uffef" for c in value)


TYPED = ("sbs_text_", "sbs_vit_name", "pe_vit_name", "pe_swin_name")  # free text: kept as the reader typed it


def _published(at: AppTest) -> dict[str, str]:
    """The URL after the run (what ui.link.publish and the bound widgets wrote), checked to be language-neutral:
    no Chinese character in any value but the free text the reader typed."""
    params = {name: at.query_params[name] for name in at.query_params}
    params = {name: ",".join(v) if isinstance(v, list) else v for name, v in params.items()}
    for name, value in params.items():
        assert name.startswith(TYPED) or not _cjk(value), (name, value)
    return params


STEPS_VIEWS = {  # views as links name them: internal names, positions and counts, never an option's label
    "decoder": dict(sbs_model="reverse", sbs_kind="decoder", sbs_part="5-7", sbs_layer_reverse_decoder=2,
                    sbs_head=2, sbs_query_reverse=2),
    "vit photo": dict(sbs_model="vit", sbs_vit_which="demo", sbs_image_source="sample", sbs_sample="astronaut.png",
                      sbs_part="3-4", sbs_block=2, sbs_head=2),
    "vit shape": dict(sbs_model="vit", sbs_image_source="shape", sbs_shape="circle", sbs_seed=3, sbs_part="1-2"),
}


@pytest.mark.parametrize("view", list(STEPS_VIEWS))
def test_a_step_by_step_link_opens_the_same_view_in_either_language(view):
    """A link keeps choices by internal name: the same link opens the same view with ?lang=en and ?lang=zh (the
    same numbers in every figure), and the URL after the run still names them so, never by a Chinese label."""
    params = STEPS_VIEWS[view]
    en, zh = _open(STEPS, "en", **params), _open(STEPS, "zh", **params)
    for at in (en, zh):
        _ok(at)
        assert not at.warning, [w.value for w in at.warning]
        published = _published(at)
        assert {name: published.get(name) for name in params} == {name: str(v) for name, v in params.items()}
    a, b = _specs(en), _specs(zh)
    assert sorted(a) == sorted(b) and a
    for key in a:
        assert _data(a[key]) == _data(b[key]), key
    assert en.metric[0].value == zh.metric[0].value


def test_a_step_by_step_view_chosen_in_chinese_is_linked_by_internal_names():
    """Choices made with the widgets of the Chinese page go into the URL by internal name. The link opens the
    same view in English, and the reader switching language keeps it."""
    at = _open(STEPS, "zh")
    with i18n.use("zh"):  # AppTest words the options (format_func) outside the session: in its language
        at.selectbox(key="sbs_kind").set_value("cross").run()
        at.get("button_group")[0].set_value("8-11").run()
        at.selectbox(key="sbs_query_reverse").set_value(1).run()
    _ok(at)
    published = _published(at)
    assert (published["sbs_model"], published["sbs_kind"], published["sbs_part"], published["sbs_query_reverse"]) \
        == ("reverse", "cross", "8-11", "1")
    en = _open(STEPS, "en", **{k: v for k, v in published.items() if k != "lang"})
    _ok(en)
    assert not en.warning, [w.value for w in en.warning]
    assert en.selectbox(key="sbs_kind").value == "cross" and en.selectbox(key="sbs_query_reverse").value == 1
    a, b = _specs(at), _specs(en)
    assert sorted(a) == sorted(b) and a
    for key in a:
        assert _data(a[key]) == _data(b[key]), key

    with i18n.use("zh"):
        at.radio(key="sbs_model").set_value(VIT).run()
        at.radio(key="sbs_image_source").set_value("sample").run()
    _ok(at)
    published = _published(at)
    assert (published["sbs_model"], published["sbs_image_source"], published["sbs_sample"]) == \
        ("vit", "sample", next(iter(ui_vision.sample_files())))
    assert "sbs_kind" not in published  # the ViT has one kind of attention: nothing to keep
    before = _specs(at)
    at.session_state["lang"] = "en"  # the reader switches language: the same view, in English
    at.query_params["lang"] = "en"
    with i18n.use("zh"):  # the widgets' state is read as the Chinese page showed them
        at.run()
    _ok(at)
    assert not at.warning, [w.value for w in at.warning]
    assert _published(at)["sbs_sample"] == published["sbs_sample"] and at.radio(key="sbs_model").value == VIT
    after = _specs(at)
    assert sorted(after) == sorted(before)
    for key in after:
        assert _data(after[key]) == _data(before[key]), key


def test_a_label_in_a_step_by_step_link_is_no_name():
    """A value a link must name (an option's internal name) given as a label, in either language, gets a notice and
    the default; the view's URL then names the default."""
    at = _open(STEPS, "zh", sbs_kind="解码器带掩码的自注意力", sbs_part="全部十一步")
    _ok(at)
    notices = [w.value for w in at.warning]
    assert any("sbs_kind" in n for n in notices) and any("sbs_part" in n for n in notices), notices
    assert at.selectbox(key="sbs_kind").value == "encoder"
    assert _published(at)["sbs_kind"] == "encoder" and _published(at)["sbs_part"] == "1-2"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_bad_step_by_step_links_fall_back_to_defaults_with_a_notice(lang):
    at = _open(STEPS, lang, sbs_model="not_a_model", sbs_layer_reverse_encoder=99, sbs_head=-1, sbs_part="x",
               sbs_kind="nonsense", sbs_pad_reverse=1000)
    _ok(at)
    notices = [w.value for w in at.warning]
    for param in ("sbs_model", "sbs_layer_reverse_encoder", "sbs_head", "sbs_part", "sbs_kind", "sbs_pad_reverse"):
        assert any(param in n for n in notices), (param, notices)
    assert at.radio(key="sbs_model").value == "reverse"
    assert at.selectbox(key="sbs_layer_reverse_encoder").value == 1
    assert at.select_slider(key="sbs_head").value == 1
    assert at.selectbox(key="sbs_kind").value == "encoder"
    assert len(at.get("plotly_chart")) == 4
    with i18n.use(lang):  # AppTest words the options (format_func) outside the session: in its language
        at.select_slider(key="sbs_head").set_value(2).run()  # said once: the next run has nothing to report
    assert not at.warning and not at.exception


def test_a_link_to_an_uploaded_image_asks_for_it_again():
    at = _open(STEPS, "zh", sbs_model="vit", sbs_image_source="upload")
    assert not at.exception
    assert any("重新上传" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_step_by_step_refusal_is_worded_in_chinese():
    at = _open(STEPS, "zh", sbs_model="vit", sbs_vit_which="timm", sbs_vit_weights="random",
               sbs_vit_name="eva02_tiny_patch14_224")
    assert not at.exception
    assert any("旋转位置嵌入" in e.value for e in at.error), [e.value for e in at.error]
    assert not at.get("plotly_chart")


# ---------------------------------------------------------------------------------------- positional


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_positional_runs_in_both_languages(lang):
    at = _open(POSITIONAL, lang)
    _ok(at)
    assert len(at.get("plotly_chart")) == 8
    if lang == "zh":
        assert at.title[0].value == "位置编码"
        assert _english(at) == []


def test_positional_in_chinese_another_view():
    at = _open(POSITIONAL, "zh", pe_d=64, pe_len=40, pe_tab="vit", pe_vit_patch="1,2", pe_swin_block="1.2",
               pe_swin_head=2)
    _ok(at)
    assert not at.warning, [w.value for w in at.warning]
    specs = _specs(at)
    assert "第 1 行、第 2 列" in specs["pe_vit_patch"]["layout"]["title"]["text"]
    assert "阶段 1 · 块 2，注意力头 2" in specs["pe_swin_table"]["layout"]["title"]["text"]
    assert _english(at) == []


def test_a_positional_link_draws_what_the_widgets_draw():
    linked = _open(POSITIONAL, pe_d=64, pe_len=40, pe_dims=[0, 5, 9], pe_positions=[3, 7], pe_vit_patch="2,3",
                   pe_swin_block="1.2", pe_swin_head=2)
    _ok(linked)
    assert not linked.warning, [w.value for w in linked.warning]

    clicked = _open(POSITIONAL)
    clicked.select_slider(key="pe_d").set_value(64).run()
    clicked.slider(key="pe_len").set_value(40).run()
    clicked.multiselect(key="pe_dims").set_value([0, 5, 9]).run()
    clicked.multiselect(key="pe_positions").set_value([3, 7]).run()
    clicked.session_state["pe_vit_cell"] = (2, 3)  # what a click on the small map (row 2, column 3) sets
    clicked.selectbox(key="pe_swin_block").set_value(1).run()
    clicked.selectbox(key="pe_swin_head").set_value(2).run()
    _ok(clicked)
    a, b = _specs(linked), _specs(clicked)
    assert sorted(a) == sorted(b) and len(a) == 8
    for key in a:
        assert _data(a[key]) == _data(b[key]), key
        assert a[key]["layout"].get("title") == b[key]["layout"].get("title"), key
    assert "row 2, column 3" in a["pe_vit_patch"]["layout"]["title"]["text"]


def test_a_positional_link_opens_the_same_view_in_either_language():
    """The section, each model's choice and the Swin block are named in the link, not worded: the same link opens
    the same section and draws the same numbers with ?lang=en and ?lang=zh, and the URL keeps the names."""
    params = dict(pe_tab="swin", pe_d=64, pe_vit_which="demo", pe_vit_patch="1,2", pe_swin_which="demo",
                  pe_swin_block="1.2", pe_swin_head=2)
    en, zh = _open(POSITIONAL, "en", **params), _open(POSITIONAL, "zh", **params)
    for at, lang in ((en, "en"), (zh, "zh")):
        _ok(at)
        assert not at.warning, [w.value for w in at.warning]
        assert at.session_state["pe_tab"] == i18n.translations(lang).gettext("Relative bias (Swin)")  # open
        assert at.selectbox(key="pe_swin_block").value == 1
        published = _published(at)
        assert {name: published.get(name) for name in params} == {name: str(v) for name, v in params.items()}
    a, b = _specs(en), _specs(zh)
    assert sorted(a) == sorted(b) and len(a) == 8
    for key in a:
        assert _data(a[key]) == _data(b[key]), key


def test_a_positional_view_chosen_in_chinese_is_linked_by_internal_names():
    """The tab opened and the block chosen on the Chinese page go into the URL by name; the reader switching
    language keeps the section open."""
    zh_tab = i18n.translations("zh").gettext("Learned (ViT)")
    at = _open(POSITIONAL, "zh")
    assert _published(at)["pe_tab"] == "sin"
    with i18n.use("zh"):
        at.session_state["pe_tab"] = zh_tab  # what a click on the tab sets (on_change="rerun")
        at.run()
        at.selectbox(key="pe_swin_block").set_value(3).run()
        at.radio(key="pe_vit_which").set_value("timm").run()
        at.radio(key="pe_vit_weights").set_value("random").run()  # no download: the test machine is offline
    _ok(at)
    published = _published(at)
    assert (published["pe_tab"], published["pe_swin_block"], published["pe_vit_which"],
            published["pe_vit_weights"]) == ("vit", "2.2", "timm", "random")
    assert at.session_state["pe_tab"] == zh_tab
    at.session_state["lang"] = "en"  # the reader switches language: the same section stays open
    at.query_params["lang"] = "en"
    with i18n.use("zh"):
        at.run()
    _ok(at)
    assert at.session_state["pe_tab"] == "Learned (ViT)" and _published(at)["pe_tab"] == "vit"
    assert at.selectbox(key="pe_swin_block").value == 3 and _published(at)["pe_swin_block"] == "2.2"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_bad_positional_links_fall_back_to_defaults_with_a_notice(lang):
    at = _open(POSITIONAL, lang, pe_d=7, pe_len=99999, pe_vit_patch="99,99", pe_swin_head=-1, pe_vit_which="x",
               pe_tab="nowhere")
    _ok(at)
    notices = [w.value for w in at.warning]
    for param in ("pe_d", "pe_len", "pe_swin_head", "pe_vit_which", "pe_tab"):
        assert any(param in n for n in notices), (param, notices)
    assert any("99" in n and "pe_vit_patch" not in n for n in notices)  # the small map outside the grid
    assert at.select_slider(key="pe_d").value == 128 and at.slider(key="pe_len").value == 100
    default = _open(POSITIONAL, lang)
    assert _specs(at)["pe_vit_patch"] == _specs(default)["pe_vit_patch"]  # the centre patch, as by default
    assert len(at.get("plotly_chart")) == 8
    at2 = _open(POSITIONAL, lang, pe_vit_patch="abc")
    assert any("pe_vit_patch" in w.value for w in at2.warning) and not at2.exception


# -------------------------------------------------------------------------------------- presentation mode


def _projector_ready(at: AppTest) -> None:
    for chart in at.get("plotly_chart"):
        layout = json.loads(chart.proto.spec)["layout"]
        assert layout["height"] <= present.FIGURE_MAX_HEIGHT, chart.key
        for name, axis in layout.items():
            if name.startswith(("xaxis", "yaxis")) and axis.get("visible", True) is not False:
                assert axis["tickfont"]["size"] >= present.TICK_PX, (chart.key, name)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_step_by_step_in_presentation_mode(lang):
    at = _open(STEPS, lang, present=1, sbs_part="all")
    _ok(at)
    assert len(at.get("plotly_chart")) >= 15
    assert len(at.expander) >= 5  # the explanations are folded
    _projector_ready(at)
    if lang == "zh":
        assert _english(at) == []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_positional_in_presentation_mode(lang):
    at = _open(POSITIONAL, lang, present=1)
    _ok(at)
    assert len(at.get("plotly_chart")) == 8
    assert len(at.expander) >= 3
    _projector_ready(at)
    if lang == "zh":
        assert _english(at) == []


# ------------------------------------------------------------------------------------------------ codes


def test_every_code_of_this_area_has_a_template_with_its_fields_in_both_languages():
    """Refusals and notes of models/capture/step_by_step.py and models/analysis/positional.py: each code raised or
    returned (NotReproducible's too, which tests/test_i18n.py's pattern does not see) has an English template
    with exactly its parameters, and a Chinese one with the same fields."""
    import pathlib
    import re
    import string

    from ui.words.steps import TEMPLATES

    root = pathlib.Path(__file__).resolve().parent.parent / "models"
    call = re.compile(r"(?:NotReproducible|StepsInputError|CodedError|Notice)"
                      r"\(\s*\"([a-z_]+\.[a-z0-9_]+)\"((?:[^()]|\([^()]*\))*)\)")
    used = {}
    for path in (root / "capture" / "step_by_step.py", root / "analysis" / "positional.py"):
        for code, args in call.findall(path.read_text()):
            used.setdefault(code, set()).add(frozenset(re.findall(r"(\w+)\s*=", args)))
    assert set(used) == set(TEMPLATES), set(used) ^ set(TEMPLATES)

    def fields(template: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f}

    for code, calls in used.items():
        for given in calls:
            assert fields(TEMPLATES[code]) == set(given), code
        with i18n.use("zh"):
            chinese = i18n._(TEMPLATES[code])
        assert chinese != TEMPLATES[code] and fields(chinese) == fields(TEMPLATES[code]), code


def test_refusals_are_worded_in_the_readers_language():
    from models.capture import step_by_step as sbs
    from ui.messages import word

    refusal = sbs.NotReproducible("steps.tolerance", diff=3e-3, tol=1e-4, rel=1e-4)
    assert "differs from the model's own by 3.0e-03" in str(refusal)  # logs and tracebacks: English
    with i18n.use("zh"):
        assert "相差 3.0e-03" in word(refusal) and "容差 1.0e-04" in word(refusal)
    with i18n.use("en"):
        assert word(refusal) == str(refusal)
