"""Section 8 of the ViT page ("What the prediction rests on") in a real Chromium: the four maps and the curves
painted, a class picked from the list, heads picked in the multiselect with the mouse and keyboard, the prediction
without them drawn beside the one with them. Screenshots: screenshots/explain_*.png."""
from __future__ import annotations

import pytest

from tests.browser import SHOTS, check, wait_idle

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
    box = page.locator(".st-key-vit_x_off input")
    box.click()
    box.type("4.1")
    page.keyboard.press("Enter")
    box.type("4.2")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    wait_idle(page)
    expect(page.locator(".st-key-vit_x_after .js-plotly-plot")).to_have_count(1, timeout=60_000)
    expect(page.locator(".st-key-vit_x_after")).to_contain_text("With 2 heads off")
    page.locator(".st-key-vit_x_after").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_ablation.png"))
    assert page.locator("[data-testid='stException']").count() == 0
    assert not page.errors, page.errors
