"""The ViT page and the shared vision UI in both languages: no English left in Chinese, the view in the link,
bad links falling back with a notice, presentation mode, and the codes the vision models raise and return."""
import json
import pathlib
import re
import string

import pytest
from streamlit.testing.v1 import AppTest

from models.messages import Notice
from models.runtime import images
from tests.conftest import APP
from tests.i18n_scan import english_words
from ui import i18n
from ui.messages import templates, word

PAGE = "views/vit.py"
ROOT = pathlib.Path(__file__).resolve().parent.parent
# Names the page shows in Latin letters: papers' authors, the sample photos' subjects and credits, image formats.
NAMES = {"touvron", "jacob", "gildenblat", "eileen", "collins", "chelsea", "dscovr", "nasa", "spacex", "st", "fan",
         "van", "der", "walt", "rachel", "michetti", "pikolo", "espresso", "bar", "jpeg", "webp", "bmp", "gif", "tiff"}
# A view other than the default one, as the link writes it: a generated ring, layer 2, head 3, patch (1, 5),
# max fusion with half the weights discarded, rollout from the query patch.
OTHER_VIEW = {"vit_image": "shape", "vit_shape": "ring", "vit_seed": "7", "vit_layer": "2", "vit_head": "3",
              "vit_q_row": "1", "vit_q_col": "5", "vit_fusion": "max", "vit_discard": "0.5",
              "vit_rollout_from": "patch"}


def open_page(lang: str = "en", **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = lang
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(PAGE).run()
    return at


def charts(at) -> list[dict]:
    """Every chart's figure, in page order."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def figure_data(at) -> list[str]:
    """What the charts draw (data and titles), in page order, as comparable text."""
    return [json.dumps(json.loads(c.proto.spec), sort_keys=True) for c in at.get("plotly_chart")]


def _pending_in_the_leads_catalog() -> set[str]:
    """Messages of the shared UI (ui/present.py's "Explanation"…) that messages.po has but not yet in Chinese:
    the lead translates them when the parts are folded in; until then they are not this page's English."""
    from scripts import i18n as catalog_tool

    done = catalog_tool.translations()
    return {m.id for m in catalog_tool.read(catalog_tool.CATALOG) if isinstance(m.id, str) and m.id not in done}


def english_left(at) -> list:
    pending = _pending_in_the_leads_catalog()
    return [(kind, w, text) for kind, w, text in english_words(at, extra=NAMES) if text not in pending]


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_default_view_in_both_languages(lang):
    at = open_page(lang)
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 8
    if lang == "zh":
        assert english_left(at) == []
        assert "注意力头" in texts(at.subheader) and "图像块" in texts(at.subheader)
        assert "宇航员艾琳·柯林斯" in at.selectbox(key="vit_sample").options
        assert at.selectbox(key="vit_sample").value == "astronaut.png"
    else:
        assert "Vision Transformer" in texts(at.title)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_another_view_in_both_languages(lang):
    at = open_page(lang, **OTHER_VIEW)
    assert not at.exception and not at.warning
    assert at.select_slider(key="vit_layer").value == 2 and at.select_slider(key="vit_head").value == 3
    assert (at.slider(key="vit_q_row").value, at.slider(key="vit_q_col").value) == (1, 5)
    titles = [f["layout"].get("title", {}).get("text", "") for f in charts(at)]
    if lang == "zh":
        assert english_left(at) == []
        assert "第 2 层，注意力头 3：CLS → 图像块" in titles
        assert "从图像块 (1, 5) 出发的注意力展开，4 层" in titles
    else:
        assert "Layer 2, head 3: CLS → patches" in titles and "Rollout from patch (1, 5), 4 layers" in titles


def test_a_named_model_with_random_weights_in_chinese():
    """A timm model of the link (random weights: no download), with two prefix tokens (CLS, DIST)."""
    at = open_page("zh", vit_weights="random", vit_model="deit_small_distilled_patch16_224")
    assert not at.exception
    assert english_left(at) == []
    assert "随机（未训练的 deit_small_distilled_patch16_224，随机种子 0）" in texts(at.warning)
    assert "2 个前缀词元（CLS, DIST）" in texts(at.markdown)
    assert at.query_params["vit_model"] == "deit_small_distilled_patch16_224"


def test_a_bad_upload_is_told_in_chinese():
    at = open_page("zh", vit_image="upload")
    with i18n.use("zh"):  # AppTest calls the widgets' format_func (translated labels) outside the session
        at.file_uploader(key="vit_image").set_value(("empty.png", b"", "image/png")).run()
    assert not at.exception
    assert "无法使用这张图像：文件是空的（0 字节）。" in texts(at.error)
    assert english_left(at) == []


def test_a_link_opens_the_view_the_widgets_made():
    """Widgets → the URL the page writes → a fresh session opened on that URL draws the same figures.
    (A widget's callback may rerun only some fragments: `.run().run()` shows the whole page, as a browser has it.)"""
    at = open_page("en")
    at.radio(key="vit_image_source").set_value("generated shape").run().run()
    at.selectbox(key="vit_shape").set_value("ring").run().run()
    at.number_input(key="vit_shape_seed").set_value(7).run().run()
    at.select_slider(key="vit_layer").set_value(2).run().run()
    at.select_slider(key="vit_head").set_value(3).run().run()
    at.slider(key="vit_q_row").set_value(1).run().run()
    at.slider(key="vit_q_col").set_value(5).run().run()
    at.radio(key="vit_fusion").set_value("max").run().run()
    at.slider(key="vit_discard").set_value(0.5).run().run()
    at.radio(key="vit_rollout_from").set_value("patch").run().run()
    at.run()
    assert not at.exception
    url = {k: at.query_params[k] for k in at.query_params}
    assert {k: url.get(k) for k in OTHER_VIEW} == OTHER_VIEW
    assert url["vit_weights"] == "demo"
    opened = open_page(**{k: v for k, v in url.items() if k != "lang"})
    assert not opened.exception and not opened.warning
    assert figure_data(opened) == figure_data(at)
    # the same view in Chinese: the same numbers, other words
    zh = open_page("zh", **{k: v for k, v in url.items() if k != "lang"})
    assert [json.loads(s)["data"][-1].get("z") for s in figure_data(zh)] == \
        [json.loads(s)["data"][-1].get("z") for s in figure_data(at)]


def test_a_sample_photo_is_linked_by_its_file_name():
    at = open_page("zh", vit_image="chelsea.png")
    assert not at.exception
    assert at.selectbox(key="vit_sample").value == "chelsea.png"
    assert at.query_params["vit_image"] == "chelsea.png"


def test_bad_link_values_fall_back_to_defaults_with_a_notice():
    at = open_page("en", vit_weights="random", vit_model="no_such_model_at_all", vit_layer="99", vit_head="-2",
                   vit_q_row="x", vit_fusion="median", vit_image="nope.png")
    assert not at.exception
    said = texts(at.warning)
    assert "no_such_model_at_all" in said and "vit_small_patch16_224 is shown instead" in said
    for param in ("vit_layer=99", "vit_head=-2", "vit_q_row=x", "vit_fusion=median", "vit_image=nope.png"):
        assert param in said
    assert at.selectbox(key="vit_model").value == "vit_small_patch16_224"
    assert at.select_slider(key="vit_layer").value == 12 and at.select_slider(key="vit_head").value == 1
    assert at.radio(key="vit_fusion").value == "mean"
    zh = open_page("zh", vit_layer="99")
    assert not zh.exception and "vit_layer=99" in texts(zh.warning)
    assert zh.select_slider(key="vit_layer").value == 4


def test_a_link_to_an_upload_asks_for_the_image_again():
    for lang, words in (("en", "upload the image again"), ("zh", "重新上传")):
        at = open_page(lang, vit_image="upload")
        assert not at.exception
        assert at.radio(key="vit_image_source").value == "upload"
        assert words in texts(at.info)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_presentation_mode(lang):
    at = open_page(lang, present="1")
    assert not at.exception
    if lang == "zh":
        assert english_left(at) == []
    assert len(at.expander) >= 3  # explanations folded
    # one head, one patch, rollout: each section's controls in a narrow column beside its figure (1 : 3)
    assert [round(c.weight, 2) for c in at.columns].count(0.25) == 3
    assert _column_of(at.main, "vit_layer") == 0.25 and _column_of(at.main, "vit_fusion") == 0.25
    for fig in charts(at):
        layout = fig["layout"]
        assert layout["height"] <= 560
        for name, axis in layout.items():
            if name.startswith(("xaxis", "yaxis")) and axis.get("showticklabels", True):
                assert axis["tickfont"]["size"] >= 16


def _column_of(node, key: str, column: float | None = None) -> float | None:
    """The weight of the column that holds the widget `key` (None when no column does)."""
    children = getattr(node, "children", None) or {}
    for child in children.values() if isinstance(children, dict) else children:
        if getattr(child, "key", None) == key:
            return column
        inner = round(child.weight, 2) if getattr(child, "type", None) == "column" else column
        found = _column_of(child, key, inner)
        if found is not None:
            return found
    return None


FROM_F_STRINGS = {  # the codes an f-string code stands for
    "vision.{found}_not_{wanted}": ["vision.swin_not_vit", "vision.vit_not_swin"],
    "vision.not_{wanted}": ["vision.not_vit", "vision.not_swin"],
    "image.grey_{depth}": ["image.grey_16", "image.grey_32f", "image.grey_32i"],
}


def test_every_vision_code_has_a_template_with_its_fields():
    """Every code the vision models, the image reader, attention_math and shapes raise or return, with its fields
    (tests/test_i18n.py's pattern does not see `UnknownModel(`, `WeightsUnavailable(`… nor f-string codes)."""
    table = templates()
    call = re.compile(r"(?:Notice|Error|Model|Unavailable|Mismatch|Tag)\(\s*f?\"([a-z_]+\.[a-z0-9_{}]+)\"([^)]*)\)")
    found = 0
    for path in ("models/capture/vision.py", "models/runtime/images.py", "models/analysis/attention_math.py",
                 "models/demo/shapes.py"):
        for code, args in call.findall((ROOT / path).read_text()):
            codes = FROM_F_STRINGS.get(code, [code])
            for c in codes:
                found += 1
                assert c in table, c
                given = set(re.findall(r"(\w+)\s*=", args))
                fields = {f for _, f, _, _ in string.Formatter().parse(table[c]) if f}
                assert fields <= given, (c, fields - given)
    assert found > 40


def test_codes_are_worded_in_the_readers_language():
    with pytest.raises(images.ImageError) as err:
        images.load_image(b"")
    assert str(err.value) == "The file is empty (0 bytes)."
    with i18n.use("zh"):
        assert word(err.value) == "文件是空的（0 字节）。"
        assert word(Notice("image.first_frame", frames=3)) == "使用了 3 帧/页中的第一帧/页"
        assert "随机种子 0" in word(Notice("vision.source_random", name="vit_tiny_patch16_224"))
