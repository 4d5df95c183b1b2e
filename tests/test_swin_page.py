"""The Swin page headless (AppTest): demo weights on a sample photo by default, selections, hostile images."""
import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from models.capture import swin
from tests.conftest import ROOT

APP = str(ROOT / "app.py")
PAGE = "views/swin.py"


def _open() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page(PAGE).run()
    return at


def _array(value) -> np.ndarray:
    """A figure array from the chart JSON: a plain list, or Plotly's typed-array dict (dtype, bdata, shape)."""
    if isinstance(value, dict) and "bdata" in value:
        a = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            a = a.reshape([int(n) for n in str(shape).split(",")])
        return a.astype(float)
    return np.array([[np.nan if v is None else v for v in row] if isinstance(row, list) else
                     (np.nan if row is None else row) for row in value], dtype=float)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def page():
    at = _open()
    assert not at.exception, at.exception
    return at


def test_default_is_demo_weights_on_a_sample_photo(page):
    at = page
    assert not at.error, [e.value for e in at.error]
    assert at.radio(key="swin_weights").value == "demo"
    assert at.radio(key="swin_image_source").value == "sample photo"
    assert any("Weights: **demo (swin_demo" in i.value for i in at.info)  # the source is on screen
    headers = " ".join(h.value for h in at.header)
    for topic in ("Regular windows", "Shifted windows", "cyclic shift", "Masks", "Inside one window",
                  "Relative position bias", "Stages", "Mean attention distance"):
        assert topic in headers
    # the demo is 64 px, 4 px patches, windows of 4: 16 windows, then a shift of 2 and its masks
    assert any("⌊M/2⌋ = 2 tokens" in m.value for m in at.markdown)
    assert any("✔" in c.value and "identical" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) >= 15


def test_figures_hold_the_models_numbers(page):
    specs = [json.loads(c.proto.spec) for c in at_charts(page)]
    mosaic = [s for s in specs if any("masked query-key pairs" in t.get("hovertemplate", "") for t in s["data"])]
    assert mosaic, "no mask mosaic"
    z = _array(mosaic[0]["data"][0]["z"])
    assert np.nanmin(z) == -100 and np.nanmax(z) == 0
    bars = [s for s in specs if s["data"] and s["data"][0].get("type") == "bar"]
    probs = list(_array(bars[0]["data"][0]["x"]))
    assert len(probs) == 5 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6


def at_charts(at):
    return at.get("plotly_chart")


def test_numbering_heads_blocks_and_stages_from_one(page):
    at = page
    assert at.selectbox(key="swin_block").format_func(1) == "stage 1 · block 2 · shifted windows (s = 2)"
    assert at.selectbox(key="swin_bias_head").options == ["head 1", "head 2"]
    assert at.select_slider(key="swin_head").options == ["mean of heads", "head 1", "head 2"]
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at_charts(at)]
    assert "head 1" in titles and "head 2" in titles and "head 0" not in titles
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "Block 0" not in text and "block 0" not in text
    assert "stage 1 · block 2: windows shifted by 2" in text
    assert "indices from 0" in text


def test_selecting_a_window_and_a_head(page):
    """The selectboxes (the fallback to clicking; clicks are tested in a real browser, tests/test_browser_swin.py)."""
    at = page
    at.selectbox(key="swin_block").set_value(1).run()
    at.selectbox(key="swin_window").set_value(15).run()
    assert not at.exception and not at.error
    heads = [c for c in at.get("plotly_chart") if "swin_head_" in c.proto.id]
    assert len(heads) == 2  # the demo's stage 1 has two heads
    weights = _array(json.loads(heads[0].proto.spec)["data"][0]["z"])
    assert weights.shape == (16, 16)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-4)
    # window 15 of a shifted block mixes four regions: its masked pairs get (almost) no attention
    mask = swin.shift_mask((16, 16), 4, 2)[15]
    assert weights[mask < 0].max() < 1e-6
    assert any("window 15" in c.value for c in at.caption)
    at.select_slider(key="swin_head").set_value(2).run()
    assert not at.exception
    assert any("head 2" in c.value and "row 8, column 8" in c.value for c in at.caption)


def test_downloads_are_offered(page):
    labels = [b.proto.label for b in page.get("download_button")]
    assert labels == ["Download attention (.npz)", "Download attention (.json)"]


@pytest.mark.parametrize(
    "name,data,expect",
    [
        ("truncated.png", _png(Image.new("RGB", (64, 64), (200, 30, 30)))[:60], "truncated"),
        ("strip.png", _png(Image.fromarray(np.random.default_rng(0).integers(0, 255, (3, 4000, 3), dtype=np.uint8))),
         "unusual shape"),
        ("notes.png", b"this is not an image", "not an image"),
    ],
)
def test_hostile_uploads_give_a_message_not_a_traceback(name, data, expect):
    at = _open()
    at.radio(key="swin_image_source").set_value("upload").run()
    at.file_uploader(key="swin_image").set_value((name, data, "image/png")).run()
    assert not at.exception, at.exception
    shown = " ".join(e.value for e in list(at.error) + list(at.warning) + list(at.caption) + list(at.info))
    assert expect in shown


@pytest.mark.slow
def test_pretrained_without_the_hub_says_so_and_falls_back_to_random():
    at = _open()
    at.radio(key="swin_weights").set_value("pretrained").run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    warnings = " ".join(w.value for w in at.warning)
    if not errors:  # this machine reached the Hub: the page must then say it runs pretrained weights
        assert any("pretrained" in i.value for i in at.info)
        return
    assert "Hub" in errors or "download" in errors
    assert "random" in warnings


@pytest.mark.slow
def test_swin_v2_with_random_weights_runs_and_says_what_differs():
    at = _open()
    at.radio(key="swin_weights").set_value("random").run()
    at.selectbox(key="swin_model").set_value("swinv2_tiny_window8_256").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any(w.value.startswith("Weights: **random") for w in at.warning)  # random weights are flagged
    info = " ".join(i.value for i in at.info)
    assert "Swin V2" in info and "cos(q, k)/τ + B" in info and "post-norm" in info and "τ·cos" not in info
    text = " ".join(m.value for m in at.markdown)
    assert "⌊M/2⌋ = 4 tokens" in text  # M = 8
    assert "1/τ = **" in text and "temperature:" not in text  # the number shown is timm's logit scale, 1/τ
    assert "deformable" not in (text + info).lower()
    # every selector now reads the V2 model's geometry (it read the demo's before the switch)
    stage = at.selectbox(key="swin_stage")
    assert stage.format_func(stage.value) == "stage 1 (64×64 tokens, M = 8)"
    assert stage.options[-1] == "stage 4 (8×8 tokens, M = 8)"
    assert at.selectbox(key="swin_block").format_func(1) == "stage 1 · block 2 · shifted windows (s = 4)"


@pytest.mark.slow
def test_swin_v2_cr_runs_and_says_which_implementation():
    at = _open()
    at.radio(key="swin_weights").set_value("random").run()
    at.selectbox(key="swin_model").set_value("swinv2_cr_tiny_ns_224").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    info = " ".join(i.value for i in at.info)
    assert "SwinTransformerV2Cr" in info and "cos(q, k)/τ + B" in info and "uses the MLP's output as is" in info
    assert "16·sigmoid" not in info
    stage = at.selectbox(key="swin_stage")
    assert stage.format_func(stage.value) == "stage 1 (56×56 tokens, M = 7)"
