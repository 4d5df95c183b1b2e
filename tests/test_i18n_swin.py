"""The Swin page in both languages, its view in the URL, bad links, presentation mode, and the downloads' words."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from models.demo import shapes
from tests.conftest import APP
from tests.i18n_scan import english_words
from ui.i18n import use

PAGE = "views/swin.py"
# Names the Chinese page shows as they are: the demo's class names (model data) and a library's name.
NAMES = set(shapes.CLASSES) | {"NumPy"}
# A view other than the default, as a link writes it (stages, blocks, heads from 1; windows, rows, columns from 0)
VIEW = {
    "swin_stage": "2", "swin_mask_window": "1", "swin_block": "2", "swin_window": "5", "swin_patch_stage": "2",
    "swin_row": "1", "swin_col": "6", "swin_head": "2", "swin_bias_block": "4", "swin_bias_head": "3",
}


def _open(lang: str = "en", **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = lang
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _chart_key(chart) -> str:
    """The key a chart was drawn with (Streamlit's element id ends with it: "$$ID-<hash>-<key>")."""
    return chart.proto.id.split("-", 2)[-1]


def _specs(at) -> dict[str, str]:
    """Every chart's figure (data and layout, as sent to the browser) by its key."""
    return {_chart_key(c): c.proto.spec for c in at.get("plotly_chart")}


# ------------------------------------------------------------------------------------------------ languages
@pytest.fixture(scope="module")
def zh_default():
    return _open("zh")


def test_chinese_default_view_has_no_english_left(zh_default):
    """Words from ui/vision.py (model, weights and image pickers) and viz/vit.py's top-5 chart are translated on
    their own branches; this asserts the merged state."""
    assert english_words(zh_default, extra=NAMES) == []


def test_chinese_page_speaks_chinese(zh_default):
    at = zh_default
    headers = " ".join(h.value for h in at.header)
    for topic in ("常规窗口", "移位窗口", "循环移位", "掩码", "一个窗口之内", "相对位置偏置", "阶段", "平均注意力距离"):
        assert topic in headers
    with use("zh"):  # format_func runs outside the page here
        assert at.selectbox(key="swin_block").format_func(1) == "第 1 阶段 · 第 2 块 · 移位窗口（s = 2）"
    assert at.select_slider(key="swin_head").options == ["各头平均", "头 1", "头 2"]
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]
    assert "头 1" in titles and "头 2" in titles
    assert [b.proto.label for b in at.get("download_button")] == ["下载注意力（.npz）", "下载注意力（.json）"]


def test_chinese_other_view_has_no_english_left():
    at = _open("zh", **VIEW)
    assert not at.warning or all("swin_" not in w.value for w in at.warning)  # every value of the link fits
    assert english_words(at, extra=NAMES) == []


def test_english_other_view_runs():
    at = _open("en", **VIEW)
    assert not at.error, [e.value for e in at.error]
    assert any("window 5" in c.value for c in at.caption)


# ------------------------------------------------------------------------------------------------ the link
def test_a_link_opens_the_same_view_as_the_widgets():
    linked = _open("en", **VIEW)
    clicked = _open("en")
    clicked.selectbox(key="swin_stage").set_value(1).run()
    clicked.selectbox(key="swin_mask_window").set_value(1).run()
    clicked.selectbox(key="swin_block").set_value(1).run()
    clicked.selectbox(key="swin_window").set_value(5).run()
    clicked.selectbox(key="swin_patch_stage").set_value(1).run()
    clicked.slider(key="swin_row").set_value(1).run()
    clicked.slider(key="swin_col").set_value(6).run()
    clicked.select_slider(key="swin_head").set_value(2).run()
    clicked.selectbox(key="swin_bias_block").set_value(3).run()
    clicked.selectbox(key="swin_bias_head").set_value(3).run()
    assert not clicked.exception, clicked.exception
    a, b = _specs(linked), _specs(clicked)
    assert set(a) == set(b) and len(a) >= 15
    for key in a:
        assert a[key] == b[key], key
    # and the widgets' view is what the URL now says (the same parameters a link would carry)
    for name, value in VIEW.items():
        assert clicked.query_params.get(name) in (value, [value]), (name, clicked.query_params.get(name))


def test_bad_or_stale_link_values_fall_back_to_defaults_with_a_notice():
    at = _open("en", swin_stage="9", swin_window="999", swin_head="-1", swin_block="abc", swin_row="99")
    assert not at.error, [e.value for e in at.error]
    notices = " ".join(w.value for w in at.warning)
    for name in ("swin_stage", "swin_window", "swin_head", "swin_block", "swin_row"):
        assert f"{name}=" in notices, name
    default = _open("en")
    a, b = _specs(at), _specs(default)
    for key in a:
        assert a[key] == b[key], key
    assert at.query_params.get("swin_stage") in ("1", ["1"])  # the URL now holds the view shown


# ------------------------------------------------------------------------------------------------ presentation
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_presentation_mode_runs_and_projects(lang):
    at = _open(lang, present="1")
    assert not at.error, [e.value for e in at.error]
    assert len(at.expander) >= 8  # explanations folded
    for chart in at.get("plotly_chart"):
        layout = json.loads(chart.proto.spec)["layout"]
        assert layout.get("height", 0) <= 560, _chart_key(chart)
        for name, axis in layout.items():
            if name.startswith(("xaxis", "yaxis")) and axis.get("showticklabels", True):
                assert axis.get("tickfont", {}).get("size", 0) >= 16, (_chart_key(chart), name)
    if lang == "zh":
        assert english_words(at, extra=NAMES) == []


# ------------------------------------------------------------------------------------------------ downloads
def test_downloads_describe_their_fields_in_the_readers_language():
    from models.capture import swin, vision
    from ui.i18n import use
    from ui.messages import word

    trace = vision.run(vision.load("swin_demo", "demo"), shapes.sample_image("circle", seed=1))
    english = json.loads(swin.export_json(trace))
    with use("zh"):
        chinese = json.loads(swin.export_json(trace, word))
    assert set(english["fields"]) == set(chinese["fields"]) == set(swin.EXPORT_AXES)
    assert "indices from 0" in english["conventions"] and "从 0 开始的索引" in chinese["conventions"]
    assert "−100" in chinese["fields"]["mask"] and "掩码" in chinese["fields"]["mask"]
    assert english["blocks"] == chinese["blocks"] or all(
        a["name"] == b["name"] for a, b in zip(english["blocks"], chinese["blocks"]))


def test_capture_errors_are_codes_worded_in_both_languages():
    from models.capture import swin
    from ui.i18n import use
    from ui.messages import word

    with pytest.raises(swin.SwinUnsupported) as err:
        swin._square((7, 8), "windows")
    assert err.value.code == "swin.non_square_windows"
    assert "non-square windows (7×8)" in str(err.value)
    with use("zh"):
        assert "窗口不是正方形（7×8）" in word(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["swinv2_tiny_window8_256", "swinv2_cr_tiny_ns_224"])
def test_swin_v2_in_chinese(model):
    at = _open("zh")
    with use("zh"):  # AppTest formats the widgets' options in this thread, outside the page's session
        at.radio(key="swin_weights").set_value("random").run()
        at.selectbox(key="swin_model").set_value(model).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    info = " ".join(i.value for i in at.info)
    assert "Swin V2" in info and "缩放余弦" in info and "残差后归一化" in info
    assert ("SwinTransformerV2Cr" in info) == ("_cr_" in model)
    text = " ".join(m.value for m in at.markdown)
    assert "1/τ = **" in text and "⌊M/2⌋ = " in text
    assert english_words(at, extra=NAMES | {model}) == []
