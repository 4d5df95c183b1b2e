"""Section 8 of the ViT page ("What the prediction rests on") in a real Chromium: the four maps and the curves
painted, a class outside the top 5 found by typing its name in the class picker (the maps, the URL and the
importance grid follow it), heads picked in the multiselect with the mouse and keyboard, the prediction
without them drawn beside the one with them. Screenshots: screenshots/explain_*.png."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tests.browser import SHOTS, check, multiselect_type, select_type, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_section_8_in_the_browser(page, server):
    from playwright.sync_api import expect

    page.goto(server + "/vit?vit_image=shape&vit_shape=ring&vit_seed=11")
    wait_idle(page)
    # a deep link first probes /vit/_stcore/health, which answers 404 before Streamlit falls back (tests/browser.py)
    page.errors[:] = [e for e in page.errors if "status of 404" not in e]
    check(page, "explain_page", min_plots=10)
    section = page.get_by_text("8. What the prediction rests on")
    section.scroll_into_view_if_needed()
    for key in ("vit_x_map_raw", "vit_x_map_rollout", "vit_x_map_flow", "vit_x_map_relevance", "vit_x_curves",
                "vit_x_importance_grid"):
        expect(page.locator(f".st-key-{key} .js-plotly-plot")).to_have_count(1, timeout=60_000)
    page.locator(".st-key-vit_x_map_raw").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_maps.png"))
    # switch two heads off: open the multiselect, pick with the keyboard as a user does
    multiselect_type(page, "vit_x_off", ["4.1", "4.2"])
    expect(page.locator(".st-key-vit_x_after .js-plotly-plot")).to_have_count(1, timeout=60_000)
    expect(page.locator(".st-key-vit_x_after")).to_contain_text("With 2 heads off")
    page.locator(".st-key-vit_x_after").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_ablation.png"))
    assert page.locator("[data-testid='stException']").count() == 0
    assert not page.errors, page.errors


def _z(page, key: str) -> np.ndarray:
    """The values of the overlay (trace 1) of chart `key` as the browser holds them."""
    return np.asarray(page.evaluate(
        """key => Array.from(document.querySelector(`.st-key-${key} .js-plotly-plot`)._fullData[1].z,
                             row => Array.from(row))""", key), dtype=float)


def test_a_class_outside_the_top_5_in_the_browser(page, server):
    from playwright.sync_api import expect

    from models.analysis import relevance as rel
    from models.capture import explain, vision
    from models.demo import shapes

    model = vision.load("vit_demo", "demo")
    x, _ = vision.preprocess(model, shapes.sample_image("ring", size=64, seed=11))
    probs = np.asarray(explain.vit_gradients(model, x).probs)
    top = [int(i) for i in np.argsort(-probs)]
    other = top[5]
    name = model.class_names[other]
    page.goto(server + "/vit?vit_image=shape&vit_shape=ring&vit_seed=11")
    wait_idle(page)
    page.errors[:] = [e for e in page.errors if "status of 404" not in e]
    picker = page.locator(".st-key-vit_x_class")
    picker.scroll_into_view_if_needed()
    # the predicted class, with its probability
    expect(picker.locator("input")).to_have_value(re.compile(rf"^{model.class_names[top[0]]} · \d+\.\d %$"))
    select_type(page, "vit_x_class", name)
    expect(picker.locator("input")).to_have_value(name)
    expect(page.locator(".st-key-vit_x_map_relevance .js-plotly-plot")).to_have_count(1, timeout=60_000)
    assert f"vit_x_class={other}" in page.url
    cap = explain.vit_gradients(model, x, other)
    want = rel.chefer_self(cap.attention, cap.grads)[0, 1:].reshape(cap.grid)
    np.testing.assert_allclose(_z(page, "vit_x_map_relevance"), want, rtol=1e-4, atol=1e-6)
    grid = page.locator(".st-key-vit_x_importance_grid")
    expect(grid.locator(".js-plotly-plot")).to_have_count(1, timeout=60_000)
    from models.capture import ablation

    base = float(ablation.ablate(model, x, [])[other])
    expect(page.locator("[data-testid='stCaptionContainer']").filter(
        has_text=f"the class's probability ({base:.1%})")).to_have_count(1)
    page.locator(".st-key-vit_x_map_raw").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_class_outside_top5.png"))
    page.locator(".st-key-vit_x_curves").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_class_outside_top5_curves.png"))
    grid.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_class_outside_top5_importance.png"))
    check(page, "explain_class_outside_top5_page", min_plots=10)
