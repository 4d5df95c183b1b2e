"""The ViT page, headless (AppTest): demo weights on a sample photo, random weights of a named timm model,
no Hub, the query patch and the layer and head controls (heads and layers count from 1), hostile uploads, what
the page says about prefix tokens and the attention formula of the loaded model, and pooled matrices of
257- and 1,374-token models. Real clicks on the charts are in tests/test_browser_vit.py."""
import base64
import io
import json
import pathlib
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from models.capture import vision

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGE = "views/vit.py"


def open_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.switch_page(PAGE).run()
    return at


def specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def array(value) -> np.ndarray:
    """A figure array from plotly's JSON: a list, or {"bdata", "dtype", "shape"} (plotly ≥ 6 typed arrays)."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(value)


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def test_demo_weights_on_a_sample_photo():
    at = open_page()
    assert not at.exception
    assert at.radio(key="vit_weights").value == "demo"
    assert at.radio(key="vit_image_source").value == "sample photo"
    assert "Weights: **demo (vit_demo" in texts(at.info)
    assert "synthetic shapes" in texts(at.info)
    figures = specs(at)
    assert len(figures) >= 8
    top = next(f for f in figures if f["data"][0]["type"] == "bar")
    probs = array(top["data"][0]["x"])
    assert len(probs) == 5 and 0.5 < probs.sum() <= 1.0 + 1e-6 and (np.diff(probs) <= 0).all()
    grid = figures[0]  # the patch grid: image + one invisible marker per patch (8 × 8 for the demo ViT)
    assert grid["data"][0]["type"] == "image" and len(array(grid["data"][1]["x"])) == 64
    matrix = next(f for f in figures if "query" in str(f["data"][0].get("hovertemplate", "")))
    z = array(matrix["data"][0]["z"])
    assert z.shape == (65, 65)  # CLS + 64 patches, nothing pooled
    np.testing.assert_allclose(z.sum(1), 1.0, atol=1e-4)
    assert at.select_slider(key="vit_layer").value == 4
    assert at.select_slider(key="vit_head").value == 1
    assert at.select_slider(key="vit_head").options == ["1", "2", "3", "4"]
    assert "Layer 4, head 1: queries (rows) × keys (columns)" in [f["layout"]["title"]["text"] for f in figures
                                                                  if "title" in f["layout"]]
    assert "1 prefix token (CLS), then the 64 patches row by row" in texts(at.markdown)
    assert "d_k = 24 being each head's own dimension" in texts(at.markdown)  # 96 dims over 4 heads
    assert "also" not in texts(at.markdown).split("d_k = 24")[1].split(".")[0]  # a plain ViT adds nothing


def test_random_weights_of_a_named_model_and_a_patch_click():
    at = open_page()
    at.radio(key="vit_weights").set_value("random").run()
    at.selectbox(key="vit_model").set_value("deit_tiny_patch16_224").run()
    assert not at.exception
    assert "random (untrained deit_tiny_patch16_224" in texts(at.warning)
    assert "2 prefix tokens" not in texts(at.markdown) and "1 prefix token (CLS)" in texts(at.markdown)
    at.slider(key="vit_q_row").set_value(3).run()
    at.slider(key="vit_q_col").set_value(11).run()
    assert not at.exception
    at.run()  # a full run: every part of the page shows the same query
    assert (at.slider(key="vit_q_row").value, at.slider(key="vit_q_col").value) == (3, 11)
    assert "token 54" in texts(at.markdown) and "token 54" in texts(at.caption)
    at.select_slider(key="vit_head").set_value(3).run()
    at.select_slider(key="vit_layer").set_value(2).run()
    at.run()
    assert not at.exception
    titles = [f["layout"].get("title", {}).get("text", "") for f in specs(at)]
    assert "Layer 2, head 3: CLS → patches" in titles and "Layer 2, head 3: queries (rows) × keys (columns)" in titles
    at.radio(key="vit_fusion").set_value("max").run()
    at.slider(key="vit_discard").set_value(0.9).run()
    assert not at.exception


def test_unavailable_pretrained_weights_fall_back_with_a_message(monkeypatch):
    monkeypatch.setattr(vision, "_cached_hub_file", lambda cfg: None)
    monkeypatch.setattr(vision, "_hub_reachable", lambda url=None, timeout=3.0: False)
    at = open_page()
    at.radio(key="vit_weights").set_value("pretrained").run()
    at.selectbox(key="vit_model").set_value("deit_tiny_patch16_224").run()
    assert not at.exception
    assert "Hugging Face Hub is unreachable" in texts(at.error)
    assert "Showing **random** weights" in texts(at.warning)


def test_bad_names_and_bad_images_give_messages():
    at = open_page()
    at.radio(key="vit_weights").set_value("random").run()
    at.selectbox(key="vit_model").set_value("other timm model…").run()
    at.text_input(key="vit_model_other").set_value("resnet18").run()
    assert not at.exception and "not a ViT-family" in texts(at.error)
    at.text_input(key="vit_model_other").set_value("swin_tiny_patch4_window7_224").run()
    assert not at.exception and "Swin" in texts(at.error)
    at.text_input(key="vit_model_other").set_value("vit_no_such_thing").run()
    assert not at.exception and "not a timm model" in texts(at.error)

    at = open_page()
    at.radio(key="vit_image_source").set_value("upload").run()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40_000, 40_000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    at.file_uploader(key="vit_image").set_value(("bomb.png", bomb, "image/png")).run()
    assert not at.exception and "Refused" in texts(at.error)
    at.file_uploader(key="vit_image").set_value(("empty.png", b"", "image/png")).run()
    assert not at.exception and "empty" in texts(at.error)
    buf = io.BytesIO()
    Image.new("CMYK", (300, 200), (0, 255, 255, 0)).save(buf, "JPEG")
    at.file_uploader(key="vit_image").set_value(("cmyk.jpg", buf.getvalue(), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert "CMYK converted to RGB" in texts(at.caption)


@pytest.mark.slow
def test_a_1374_token_model_is_pooled_before_it_reaches_the_browser():
    at = open_page()
    at.radio(key="vit_weights").set_value("random").run()
    at.selectbox(key="vit_model").set_value("vit_small_patch14_reg4_dinov2").run()
    assert not at.exception
    assert "1374 tokens" in texts(at.warning) and "mean of the weights" in texts(at.warning)
    assert "squares of 2–3 × 2–3 patches" in texts(at.warning)  # 37 rows in 13 runs of 2 or 3
    assert "5 prefix tokens (CLS, REG0, REG1, REG2, REG3), then the 1369 patches" in texts(at.markdown)
    figures = specs(at)
    matrix = next(f for f in figures if "query" in str(f["data"][0].get("hovertemplate", "")))
    z = array(matrix["data"][0]["z"])
    assert z.shape[0] == z.shape[1] == 5 + 13 * 13  # 5 prefix tokens + 13 × 13 squares
    assert list(matrix["data"][0]["x"])[:6] == ["0: CLS", "1: REG0", "2: REG1", "3: REG2", "4: REG3", "5: r0-1,c0-1"]
    assert sum(len(c.proto.spec) for c in at.get("plotly_chart")) < 40_000_000
    assert "JSON is offered up to" in texts(at.caption)  # 12 × 6 × 1374² weights: NPZ only


@pytest.mark.slow
def test_the_formula_says_what_eva02_and_beit_add():
    """EVA-02 rotates q and k (2-D RoPE); BEiT adds a learned relative position bias: read from the modules."""
    at = open_page()
    at.radio(key="vit_weights").set_value("random").run()
    at.selectbox(key="vit_model").set_value("other timm model…").run()
    at.text_input(key="vit_model_other").set_value("eva02_tiny_patch14_224").run()
    assert not at.exception
    said = texts(at.markdown)
    assert "rotates q and k" in said and "RoPE" in said and "relative position bias" not in said
    assert "d_k = 64" in said  # 192 dims over 3 heads
    assert "257 tokens" in texts(at.warning)  # CLS + 16 × 16 patches: pooled
    at.text_input(key="vit_model_other").set_value("beit_base_patch16_224").run()
    assert not at.exception
    said = texts(at.markdown)
    assert "relative position bias B to the logits" in said and "rotates q and k" not in said
    assert "d_k = 64" in said


def test_a_distilled_deit_names_its_dist_token():
    at = open_page()
    at.radio(key="vit_weights").set_value("random").run()
    at.selectbox(key="vit_model").set_value("deit_small_distilled_patch16_224").run()
    assert not at.exception
    assert "2 prefix tokens (CLS, DIST), then the 196 patches row by row" in texts(at.markdown)
    assert "distilled DeiT models, Touvron et al. 2021" in texts(at.markdown)
    assert "the prefix tokens (CLS, DIST) first" in texts(at.caption)
