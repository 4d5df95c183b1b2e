"""The positional-encodings and step-by-step pages in both languages, their links, bad links, and projecting.

Each page runs in English and Chinese in its default view and in another one (no exception, and in Chinese no
English word left, tests/i18n_scan.py); a view opened from a link draws the same numbers as the same view reached
with the widgets; a link with bad values gives a notice and the defaults; `?present=1` runs and sizes the figures
for a projector.
"""
import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP
from tests.i18n_scan import english_words
from ui import i18n, present

# Names a Chinese page keeps: the demo tasks' names, a model family and an author the page cites.
NAMES = {"reverse", "dates", "translate", "cait", "touvron"}
STEPS, POSITIONAL = "pages/step_by_step.py", "pages/positional.py"
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
    at = _open(STEPS, "zh", sbs_kind="解码器带掩码的自注意力", sbs_part="全部十一步", sbs_head=2)
    _ok(at)
    assert not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="sbs_kind").value == "decoder" and at.select_slider(key="sbs_head").value == 2
    assert len(at.get("plotly_chart")) >= 15
    assert any("掩码" in s.value for s in at.subheader)
    assert any(r"\text{可以关注}" in latex.value for latex in at.latex)
    assert _english(at) == []


def test_step_by_step_in_chinese_for_the_demo_vit():
    at = _open(STEPS, "zh", sbs_model=VIT, sbs_part="全部十一步", sbs_block=2)
    _ok(at)
    assert at.selectbox(key="sbs_block").value == 2
    assert any("没有掩码" in m.value for m in at.markdown)
    assert _english(at) == []


def test_a_step_by_step_link_draws_what_the_widgets_draw():
    """The same view, once from a link and once chosen with the widgets: the same numbers in every figure."""
    token = _open(STEPS, sbs_text_reverse="Hello, world").selectbox(key="sbs_query_reverse").options[5]
    assert token.startswith("5: ")  # the option as the widget shows it, which is what it writes into the URL
    linked = _open(STEPS, sbs_layer_reverse_encoder=2, sbs_head=3, sbs_part="3–4: Q, K, V → scores",
                   sbs_query_reverse=token, sbs_pad_reverse=30, sbs_text_reverse="Hello, world")
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


def test_a_step_by_step_link_in_chinese_opens_the_same_view():
    """Option labels are the link's words: a Chinese link names the Chinese options, and shows the same view."""
    en = _open(STEPS, sbs_kind="decoder masked self-attention", sbs_part="5–7: scale, mask, softmax")
    zh = _open(STEPS, "zh", sbs_kind="解码器带掩码的自注意力", sbs_part="5–7：缩放、掩码、softmax")
    _ok(en)
    _ok(zh)
    assert en.selectbox(key="sbs_kind").value == zh.selectbox(key="sbs_kind").value == "decoder"
    a, b = _specs(en), _specs(zh)
    assert sorted(a) == sorted(b) and len(a) >= 4
    for key in a:
        assert _data(a[key]) == _data(b[key]), key


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
    at = _open(STEPS, "zh", sbs_model=VIT, sbs_image_source="上传")
    assert not at.exception
    assert any("重新上传" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_step_by_step_refusal_is_worded_in_chinese():
    at = _open(STEPS, "zh", sbs_model=VIT, sbs_vit_which="timm 模型", sbs_vit_weights="随机",
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
    at = _open(POSITIONAL, "zh", pe_d=64, pe_len=40, pe_tab="可学习（ViT）", pe_vit_patch="1,2",
               pe_swin_block="阶段 1 · 块 2（移位窗口）", pe_swin_head=2)
    _ok(at)
    assert not at.warning, [w.value for w in at.warning]
    specs = _specs(at)
    assert "第 1 行、第 2 列" in specs["pe_vit_patch"]["layout"]["title"]["text"]
    assert "阶段 1 · 块 2，注意力头 2" in specs["pe_swin_table"]["layout"]["title"]["text"]
    assert _english(at) == []


def test_a_positional_link_draws_what_the_widgets_draw():
    linked = _open(POSITIONAL, pe_d=64, pe_len=40, pe_dims=[0, 5, 9], pe_positions=[3, 7], pe_vit_patch="2,3",
                   pe_swin_block="stage 1 · block 2 (shifted windows)", pe_swin_head=2)
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
    at = _open(STEPS, lang, present=1, sbs_part="all eleven steps" if lang == "en" else "全部十一步")
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
    call = re.compile(r"(?:NotReproducible|CodedError|Notice)\(\s*\"([a-z_]+\.[a-z0-9_]+)\"((?:[^()]|\([^()]*\))*)\)")
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
