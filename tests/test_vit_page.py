"""The ViT page, headless (AppTest): demo weights on a sample photo, random weights of a named timm model,
no Hub, a click on a patch, hostile uploads, and a 1,374-token model."""
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
PAGE = "pages/vit.py"


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
    assert at.slider(key="vit_layer").value == 4


def test_random_weights_of_a_named_model_and_a_patch_click():
    at = open_page()
    at.radio(key="vit_weights").set_value("random").run()
    at.selectbox(key="vit_model").set_value("deit_tiny_patch16_224").run()
    assert not at.exception
    assert "random (untrained deit_tiny_patch16_224" in texts(at.warning)
    at.session_state["vit_patch_grid"] = {
        "selection": {"points": [{"customdata": [3, 11, 1 + 3 * 14 + 11]}], "point_indices": [53], "box": [], "lasso": []}
    }
    at.run()
    assert not at.exception
    assert (at.slider(key="vit_q_row").value, at.slider(key="vit_q_col").value) == (3, 11)
    assert "token 54" in texts(at.markdown)
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
    assert "1374 tokens" in texts(at.warning) and "block-averaged" in texts(at.warning)
    figures = specs(at)
    matrix = next(f for f in figures if "query" in str(f["data"][0].get("hovertemplate", "")))
    z = array(matrix["data"][0]["z"])
    assert z.shape[0] == z.shape[1] <= 256  # pooled: 5 prefix tokens + 13 × 13 squares of 3 × 3 patches
    np.testing.assert_allclose(z.sum(1), 1.0, atol=1e-4)
    assert sum(len(c.proto.spec) for c in at.get("plotly_chart")) < 40_000_000
