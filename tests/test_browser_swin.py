"""The Swin page in a real browser: every clickable chart clicked with the mouse, as a user does.

Chromium sends a point's numpy customdata as a typed array (a dict keyed "0", "1", … by the time it reaches
Python); the page reads every click through ui.clicks. After each click the view must have changed (the selected
window or query caption, the highlighted window, the mask shown) and nothing may have raised (check()). The
demo Swin on the default sample photo: a 64 px crop, stage 1 a 16 × 16 grid of 4 px tokens in 4 × 4 windows
of M = 4 (window k at row k // 4, column k % 4; the shifted block's masks in a mosaic of 17-cell steps).
Harness: tests/browser.py.
"""
from __future__ import annotations

import pytest

from tests.browser import check, click_chart, open_page, wait_idle

pytestmark = pytest.mark.browser

HIGHLIGHT = "#d62728"  # viz.swin.HIGHLIGHT


def _text(pg, key: str) -> str:
    return pg.locator(f".st-key-{key}").first.text_content()


def _chosen(pg, key: str) -> str:
    """What a selectbox shows as chosen (the value of its combobox input)."""
    return pg.locator(f".st-key-{key} input[role='combobox']").first.input_value()


def _highlighted(pg, key: str) -> list[int]:
    """Windows drawn in the highlight colour on a window chart (its traces: the image, one per window, ...)."""
    return pg.evaluate(
        """([key, colour]) => {
            const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
            const out = [];
            gd.data.forEach((t, i) => {
                if (t.fill === 'toself' && t.line && t.line.color === colour) out.push(i - 1);
            });
            return out;
        }""",
        [key, HIGHLIGHT],
    )


def _caption_with(pg, words: str) -> str:
    loc = pg.locator("[data-testid='stCaptionContainer']").filter(has_text=words)
    loc.first.wait_for()
    return loc.first.text_content()


@pytest.fixture
def swin_page(page, server):
    open_page(page, server, "swin")
    check(page, "swin_before_clicks")
    return page


def test_clicking_a_window_on_the_image_selects_it(swin_page):
    pg = swin_page
    assert _highlighted(pg, "swin_window_pick") == [0]
    assert "window 0 of stage 1 · block 1" in _caption_with(pg, "Selected:")
    for window in (6, 13):
        r, c = divmod(window, 4)
        click_chart(pg, "swin_window_pick", (c + 0.5) / 4, (r + 0.5) / 4)
        check(pg, f"swin_window_click_{window}")
        assert f"window {window} of stage 1 · block 1" in _caption_with(pg, "Selected:")
        assert _highlighted(pg, "swin_window_pick") == [window]
        assert _chosen(pg, "swin_window") == str(window)
    # off-centre, near a window's corner, still that window (no hover cut-off: the token under the mouse)
    click_chart(pg, "swin_window_pick", 0.26, 0.74)  # row 2, column 1 of the windows: window 9
    check(pg, "swin_window_click_corner")
    assert _highlighted(pg, "swin_window_pick") == [9]


def test_clicking_the_mask_mosaic_selects_that_window(swin_page):
    pg = swin_page
    assert "window 15: mask" in pg.locator(".st-key-swin_mask .gtitle").first.text_content()
    side, cells = 17, 4 * 17 - 1  # 16 tokens a window and a one-cell gap; heatmap cells span -0.5 .. 66.5
    for window in (13, 5):
        r, c = divmod(window, 4)
        click_chart(pg, "swin_mask_pick", (c * side + 8) / cells, (r * side + 8) / cells)
        check(pg, f"swin_mosaic_click_{window}")
        assert f"window {window}: mask" in pg.locator(".st-key-swin_mask .gtitle").first.text_content()
        assert _chosen(pg, "swin_mask_window") == str(window)
        assert f"window {window} in red" in pg.locator(".st-key-swin_mask_pick .gtitle").first.text_content()


@pytest.mark.parametrize("chart", ["swin_patch_regular", "swin_patch_shifted"])
def test_clicking_a_patch_moves_the_query(swin_page, chart):
    pg = swin_page
    assert "row 8, column 8" in _caption_with(pg, "Query:")
    for row, col in ((3, 14), (12, 1)):
        click_chart(pg, chart, (col + 0.5) / 16, (row + 0.5) / 16)
        check(pg, f"{chart}_click_{row}_{col}")
        assert f"row {row}, column {col}" in _caption_with(pg, "Query:")
        title = pg.locator(f".st-key-{chart} .gtitle").first.text_content()
        assert title.startswith("stage 1 · block")


def test_a_block_a_head_and_the_model_change_every_selector(swin_page):
    pg = swin_page
    # Streamlit 1.67 draws the thumb as <input type="range">: its role is implicit, so ask by role, not [role=…]
    slider = pg.locator(".st-key-swin_head").get_by_role("slider").first
    slider.focus()
    slider.press("ArrowRight")
    wait_idle(pg)
    check(pg, "swin_head_1")
    assert "head 1" in _caption_with(pg, "Query:")
    # switch to random weights of swin_tiny (the first model of the menu): every selector reads its geometry
    pg.locator("[data-testid='stRadio'] label").filter(has_text="random").first.click()
    wait_idle(pg)
    check(pg, "swin_tiny_random")
    assert _chosen(pg, "swin_stage") == "stage 1 (56×56 tokens, M = 7)"
    assert _chosen(pg, "swin_block") == "stage 1 · block 1 · regular windows"
    assert _chosen(pg, "swin_bias_block") == "stage 1 · block 1 · regular windows"
