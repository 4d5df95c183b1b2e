"""The ViT page's section "What the prediction rests on" (ui/explain.py), headless: every map drawn is the method's
own output for this image, the perturbation scores are there, heads switched off change the prediction."""
from __future__ import annotations

import json
import pathlib

import numpy as np
from streamlit.testing.v1 import AppTest

from models.analysis import relevance as rel
from models.capture import explain, vision
from models.demo import shapes

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _page(**params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("views/vit.py").run()
    return at


def test_maps_are_the_methods_outputs_and_scores_are_shown():
    at = _page(vit_image="shape", vit_shape="ring", vit_seed="11")
    assert not at.exception
    keys = [c.key for c in at.get("plotly_chart")]
    for k in ("raw", "rollout", "flow", "relevance", "grad_rollout", "attn_grad"):
        assert f"vit_x_map_{k}" in keys
    assert "vit_x_curves" in keys and "vit_x_importance_grid" in keys
    model = vision.load("vit_demo", "demo")
    image = shapes.sample_image("ring", size=64, seed=11)
    x, _ = vision.preprocess(model, image)
    cap = explain.vit_gradients(model, x)
    want = rel.chefer_self(cap.attention, cap.grads)[0, 1:].reshape(cap.grid)
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    from tests.test_vit_page import array

    np.testing.assert_allclose(array(charts["vit_x_map_relevance"]["data"][1]["z"]).reshape(cap.grid), want,
                               rtol=1e-4, atol=1e-6)
    raw = cap.attention[-1].mean(0)[0, 1:].reshape(cap.grid)
    np.testing.assert_allclose(array(charts["vit_x_map_raw"]["data"][1]["z"]).reshape(cap.grid), raw, rtol=1e-4)
    captions = " ".join(c.value for c in at.caption)
    assert captions.count("Perturbation on this image") == 4 and "random order" in captions.lower()
    assert at.selectbox(key="vit_x_class").value == str(cap.target)


def test_switching_heads_off_changes_the_prediction():
    at = _page(vit_image="shape", vit_shape="cross", vit_seed="2")
    at.multiselect(key="vit_x_off").set_value(["1.1", "2.2", "3.3", "4.4", "4.1", "4.2", "4.3"]).run()
    assert not at.exception
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    from tests.test_vit_page import array

    before = array(charts["vit_x_before"]["data"][0]["x"])
    after = array(charts["vit_x_after"]["data"][0]["x"])
    assert not np.allclose(before, after)
    assert "With 7 heads off" in json.dumps(charts["vit_x_after"]["layout"]["title"])


def test_swin_section_draws_each_method_s_map():
    from models.capture import explain_swin as es

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for k, v in dict(swin_image="shape", swin_shape="triangle", swin_seed="4").items():
        at.query_params[k] = v
    at.run()
    at.switch_page("views/swin.py").run()
    assert not at.exception
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    for k in ("raw", "rollout", "flow", "relevance"):
        assert f"swin_x_map_{k}" in charts
    model = vision.load("swin_demo", "demo")
    x, _ = vision.preprocess(model, shapes.sample_image("triangle", size=64, seed=4))
    cap = es.swin_gradients(model, x)
    from tests.test_vit_page import array

    for key, want in (("relevance", es.relevance(cap.attention, cap.grads, cap.blocks)),
                      ("rollout", es.rollout(cap.attention, cap.blocks))):
        got = array(charts[f"swin_x_map_{key}"]["data"][1]["z"]).reshape(cap.grid)
        np.testing.assert_allclose(got, np.asarray(want).reshape(cap.grid), rtol=1e-4, atol=1e-7)
    assert " ".join(c.value for c in at.caption).count("Perturbation on this image") == 4
