"""The ViT page at 1,036 px in a real Chromium, as a researcher uses it: DINOv2 ViT-S/14 with registers (random
weights: no Hub here), its size chosen in the size control (5,481 tokens), then real clicks: a tile of the overview
(that layer and head everywhere), a patch of the grid (that patch's row, computed alone), and a rollout other than
the default one, computed when its button is pressed. No exception box or console error at any point; the page
says what it keeps and how each view was computed. Screenshots go to screenshots/ (or $SCREENSHOT_DIR).
"""
from __future__ import annotations

import re

import pytest

from tests.browser import check, click_chart, data_fraction, open_page, wait_idle
from tests.test_browser_vit import expect_text, thumb

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MODEL = "vit_small_patch14_reg4_dinov2"
SLOW_MS = 300_000  # a cold 5,481-token run on 2 shared cores: the capture, every weight once, the rollout


def _pick(pg, key: str, option: str) -> None:
    pg.locator(f".st-key-{key} [role=combobox]").first.click()
    pg.get_by_role("option", name=option).first.click()
    wait_idle(pg)


def test_dinov2_at_1036_px_every_view_and_click(page, server):
    from playwright.sync_api import expect

    page.set_default_timeout(SLOW_MS)
    open_page(page, server, "vit")
    wait_idle(page)
    page.locator(".st-key-vit_weights label").filter(has_text="random").first.click()
    wait_idle(page)
    _pick(page, "vit_model", MODEL)
    expect(page.locator(".st-key-vit_size input").first).to_have_value(  # the model's own size first
        re.compile("^518 px"), timeout=SLOW_MS)
    _pick(page, "vit_size", "1036 px: 74×74 patches, 5,481 tokens")
    expect_text(page, ".st-key-vit_box_grid", "74×74 patches of 14×14 px", timeout=SLOW_MS)
    body = page.inner_text("body")
    assert "5,481 tokens in 12 layers × 6 heads" in body
    assert "random weights are drawn for the 74×74 grid directly" in body
    check(page, "hires_1036_start", min_plots=6)
    expect_text(page, ".st-key-vit_box_rollout", "Computed for this row only", timeout=SLOW_MS)
    assert "no 5,481×5,481 map kept" in page.inner_text("body")

    # a tile of the overview: that layer and head in section 2 and the token matrix (pooled)
    fx, fy = data_fraction(page, "vit_overview", 1, (9 - 1) * 6 + (4 - 1))
    click_chart(page, "vit_overview", fx, fy)
    expect_text(page, ".st-key-vit_box_heads", "Layer 9, head 4: CLS → patches")
    expect_text(page, ".st-key-vit_box_matrix", "Layer 9, head 4: queries (rows) × keys (columns)")
    assert (thumb(page, "vit_layer"), thumb(page, "vit_head")) == ("9", "4")
    assert "5481 tokens make a 5481×5481 matrix" in page.inner_text(".st-key-vit_box_matrix")
    check(page, "hires_1036_tile")

    # a patch of the grid: its row of every head of layer 9
    fx, fy = data_fraction(page, "vit_patch_grid", 1, 10 * 74 + 60)
    click_chart(page, "vit_patch_grid", fx, fy)
    expect_text(page, ".st-key-vit_box_query", "Patch (row 10, column 60), token 805, as the query in layer 9")
    check(page, "hires_1036_patch")

    # a rollout from that patch: asked for, then computed and said how
    page.locator(".st-key-vit_rollout_from label").filter(has_text="the query patch").first.click()
    wait_idle(page)
    expect_text(page, ".st-key-vit_box_rollout", "computed when you ask")
    page.locator(".st-key-vit_rollout_go button").first.click()
    wait_idle(page)
    expect_text(page, ".st-key-vit_box_rollout", "Rollout from patch (10, 60), 12 layers", timeout=SLOW_MS)
    expect_text(page, ".st-key-vit_box_rollout", "Computed for this row only")
    check(page, "hires_1036_rollout")
    page.locator(".st-key-vit_box_overview").screenshot(path=str(_shot("hires_1036_overview")))
    page.locator(".st-key-vit_box_matrix").screenshot(path=str(_shot("hires_1036_matrix")))
    page.locator(".st-key-vit_box_query").screenshot(path=str(_shot("hires_1036_query")))
    page.locator(".st-key-vit_box_rollout").screenshot(path=str(_shot("hires_1036_rollout_box")))


def _shot(name: str):
    from tests.browser import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"
