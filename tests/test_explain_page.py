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


def _outside_top_5(probs: np.ndarray) -> tuple[list[int], int]:
    order = [int(i) for i in np.argsort(-probs)]
    return order[:5], order[5]


def test_every_class_is_offered_and_one_outside_the_top_5_is_explained_end_to_end():
    """The picker lists the top 5 first (their probabilities in the label), then every other class; picking one
    outside the top 5 redraws the maps, the perturbation scores and the importance grid for that class."""
    from models.analysis.faithfulness import tie_broken
    from models.capture import ablation

    at = _page(vit_image="shape", vit_shape="ring", vit_seed="11")
    model = vision.load("vit_demo", "demo")
    x, _ = vision.preprocess(model, shapes.sample_image("ring", size=64, seed=11))
    probs = explain.vit_gradients(model, x).probs
    top, other = _outside_top_5(np.asarray(probs))
    box = at.selectbox(key="vit_x_class")
    assert box.value == str(top[0])
    names = model.class_names
    assert box.options == [f"{names[i]} · {100 * probs[i]:.1f} %" for i in top] + [names[other]]
    box.set_value(str(other)).run()
    assert not at.exception
    assert at.selectbox(key="vit_x_class").value == str(other)
    assert at.query_params["vit_x_class"] == str(other)
    cap = explain.vit_gradients(model, x, other)
    assert cap.target == other
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    from tests.test_vit_page import array

    want = rel.chefer_self(cap.attention, cap.grads)[0, 1:].reshape(cap.grid)
    np.testing.assert_allclose(array(charts["vit_x_map_relevance"]["data"][1]["z"]).reshape(cap.grid), want,
                               rtol=1e-4, atol=1e-6)
    # the perturbation score of the relevance map is the one for this class (the page's own order: ties broken, seed 0)
    ranked = tie_broken(want.reshape(-1), np.random.default_rng(0))
    fr = tuple(round(0.1 * i, 1) for i in range(10))
    pos = rel.area_under_curve(fr, explain.perturbation_curve(model, x, ranked, other, True, fr))
    captions = " ".join(c.value for c in at.caption)
    assert captions.count("Perturbation on this image") == 4
    assert f"leaves an area of {pos:.3f} under the class's probability" in captions
    # the curves follow the class: the random order's first point is the class's own probability
    curves = {t["name"]: t["y"] for t in charts["vit_x_curves"]["data"]}
    assert abs(curves["Random order"][0] - float(probs[other])) < 1e-5
    # the importance grid is the drop in this class's probability, each head alone off
    base = float(ablation.ablate(model, x, [])[other])
    assert f"the class's probability ({base:.1%})" in captions
    drop = base - ablation.importance(model, x, other)
    np.testing.assert_allclose(array(charts["vit_x_importance_grid"]["data"][0]["z"]), drop, atol=1e-6)


def test_a_link_names_any_class_and_another_image_starts_from_its_prediction():
    model = vision.load("vit_demo", "demo")
    x, _ = vision.preprocess(model, shapes.sample_image("cross", size=64, seed=2))
    probs = np.asarray(explain.vit_gradients(model, x).probs)
    _top, other = _outside_top_5(probs)
    at = _page(vit_image="shape", vit_shape="cross", vit_seed="2", vit_x_class=str(other))
    assert not at.exception
    assert at.selectbox(key="vit_x_class").value == str(other)
    assert not at.warning or all("does not fit" not in w.value for w in at.warning)
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    assert "Relevance" in json.dumps(charts["vit_x_map_relevance"]["layout"]["title"])
    cap = explain.vit_gradients(model, x, other)
    from tests.test_vit_page import array

    np.testing.assert_allclose(array(charts["vit_x_map_relevance"]["data"][1]["z"]).reshape(cap.grid),
                               rel.chefer_self(cap.attention, cap.grads)[0, 1:].reshape(cap.grid), rtol=1e-4,
                               atol=1e-6)
    # another image: the picker starts again from that image's predicted class, and the link drops the class
    at.number_input(key="vit_shape_seed").set_value(3).run()
    x3, _ = vision.preprocess(model, shapes.sample_image("cross", size=64, seed=3))
    predicted = int(np.argmax(explain.vit_gradients(model, x3).probs))
    assert at.selectbox(key="vit_x_class").value == str(predicted)
    assert "vit_x_class" not in at.query_params


def test_swin_section_explains_a_class_outside_the_top_5_and_draws_the_curves():
    from models.capture import explain_swin as es

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for k, v in dict(swin_image="shape", swin_shape="triangle", swin_seed="4").items():
        at.query_params[k] = v
    at.run()
    at.switch_page("views/swin.py").run()
    model = vision.load("swin_demo", "demo")
    x, _ = vision.preprocess(model, shapes.sample_image("triangle", size=64, seed=4))
    probs = np.asarray(es.swin_gradients(model, x).probs)
    top, other = _outside_top_5(probs)
    box = at.selectbox(key="swin_x_class")
    assert box.value == str(top[0]) and len(box.options) == len(model.class_names)
    box.set_value(str(other)).run()
    assert not at.exception
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    assert "swin_x_curves" in charts  # the shared helper draws the curves on the Swin page too
    cap = es.swin_gradients(model, x, other)
    from tests.test_vit_page import array

    got = array(charts["swin_x_map_relevance"]["data"][1]["z"]).reshape(cap.grid)
    np.testing.assert_allclose(got, np.asarray(es.relevance(cap.attention, cap.grads, cap.blocks)).reshape(cap.grid),
                               rtol=1e-4, atol=1e-7)
    captions = " ".join(c.value for c in at.caption)
    assert captions.count("Perturbation on this image") == 4 and "random order" in captions.lower()
