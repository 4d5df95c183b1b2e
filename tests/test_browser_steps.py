"""The step-by-step, positional and home pages in a real Chromium, driven as a user drives them: the head slider
stepped with the keyboard, selectboxes picked, every clickable chart clicked with the mouse (tests.browser.click_chart);
after each step the view changed, no exception box and no console error. Screenshots go to screenshots/.
"""
from __future__ import annotations

import pytest

from tests.browser import check, click_chart, open_page, wait_idle

pytestmark = pytest.mark.browser


def _text(pg, key: str) -> str:
    return pg.locator(f".st-key-{key}").first.inner_text()


def _slider(pg, key: str):
    return pg.locator(f".st-key-{key} [role='slider'], .st-key-{key} input[type=range]").first


def _spec(pg, key: str) -> str:
    """What the chart shows now: its title and first trace's first values, as drawn by Plotly."""
    return pg.locator(f".st-key-{key} .js-plotly-plot").first.evaluate(
        """el => { const cd = el.calcdata[0]; const title = el.layout.title && el.layout.title.text;
                   const z = cd[0] && cd[0].z;
                   const row = z ? Array.from(z[0]).slice(0, 8) : cd.slice(0, 8).map(p => p.s);
                   return JSON.stringify([title, row]); }""")


def test_home_reading_note(page, server):
    page.goto(server)
    check(page, "steps_home", min_plots=0)
    body = page.inner_text("body")
    assert "Reading attention responsibly" in body and "Kobayashi" in body and "Abnar" in body


def test_step_by_step_head_layer_and_parts(page, server):
    open_page(page, server, "step_by_step")
    check(page, "step_by_step_text")
    before = _spec(page, "sbs_fig_2_0")  # W_Q of head 1
    slider = _slider(page, "sbs_head")
    slider.focus()
    slider.press("ArrowRight")  # as the bench does
    wait_idle(page)
    check(page, "step_by_step_head2")
    assert "2" in _text(page, "sbs_head")
    assert _spec(page, "sbs_fig_2_0") != before, "W_Q must be head 2's now"
    assert "Head 2 of" in page.inner_text("body")
    # the layer, by its selectbox
    page.locator(".st-key-sbs_layer_reverse_encoder [role=combobox]").first.click()
    page.get_by_role("option", name="2", exact=True).click()  # layers are numbers counted from 1
    wait_idle(page)
    check(page, "step_by_step_layer2")
    assert "layer 2" in page.inner_text("body")
    # the other steps
    page.locator(".st-key-sbs_part button").filter(has_text="5–7").first.click()
    wait_idle(page)
    check(page, "step_by_step_scores")
    assert "Softmax over the keys" in page.inner_text("body")
    page.locator(".st-key-sbs_part button").filter(has_text="8–11").first.click()
    wait_idle(page)
    check(page, "step_by_step_output")
    assert "The check" in page.inner_text("body")


def test_step_by_step_vit(page, server):
    open_page(page, server, "step_by_step")
    wait_idle(page)
    page.locator(".st-key-sbs_model label").filter(has_text="Vision Transformer").first.click()
    wait_idle(page)
    check(page, "step_by_step_vit")
    before = _spec(page, "sbs_fig_2_0")  # W_Q of head 1
    slider = _slider(page, "sbs_head")
    slider.focus()
    slider.press("ArrowRight")
    wait_idle(page)
    check(page, "step_by_step_vit_head2")
    assert _spec(page, "sbs_fig_2_0") != before
    page.locator(".st-key-sbs_part button").filter(has_text="all eleven").first.click()
    wait_idle(page)
    check(page, "step_by_step_vit_all", min_plots=15)


def test_positional_length_and_grid_clicks(page, server):
    open_page(page, server, "positional")
    check(page, "positional")
    before = _spec(page, "pe_heat")
    slider = _slider(page, "pe_len")
    slider.focus()
    slider.press("ArrowRight")  # the bench's control on this page
    wait_idle(page)
    check(page, "positional_len")
    assert _spec(page, "pe_heat") != before and "104 positions" in _spec(page, "pe_heat")
    page.get_by_role("tab", name="Learned (ViT)").click()
    wait_idle(page)
    shown = _spec(page, "pe_vit_patch")
    assert "row 3, column 3" in shown  # the centre patch of the demo's 8 × 8 grid
    # The grid is 8 small maps of 8 cells (and 7 gaps) a side: small map c spans cells 9c…9c+7 of 71.
    click_chart(page, "pe_vit_grid", 4 / 71, 4 / 71)
    check(page, "positional_vit_clicked", min_plots=0)
    assert "row 0, column 0" in _spec(page, "pe_vit_patch"), _spec(page, "pe_vit_patch")
    click_chart(page, "pe_vit_grid", (6 * 9 + 4) / 71, (2 * 9 + 4) / 71)  # small map (row 2, column 6)
    check(page, "positional_vit_clicked2", min_plots=0)
    assert "row 2, column 6" in _spec(page, "pe_vit_patch"), _spec(page, "pe_vit_patch")
    page.get_by_role("tab", name="Relative bias (Swin)").click()
    wait_idle(page)
    page.locator(".st-key-pe_swin_table .js-plotly-plot").first.wait_for()
    assert "stage 1 · block 1" in _spec(page, "pe_swin_table")
    check(page, "positional_swin", min_plots=0)
