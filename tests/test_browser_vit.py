"""The ViT page in a real Chromium, used as a user uses it: real mouse clicks on every chart that answers a
click (the patch grid of "1. The image and its patches" and the tiles of the overview in "3. Every head"), each at
the screen position of a cell, read from the chart's own axes; after each one the view shows the pick, and no
exception box or console error appeared. Then an image change after an overview click, and the projector
check: no text on the page's charts under 12 px, no tick label over another or over a title.
Harness: tests/browser.py. Screenshots go to screenshots/ (or $SCREENSHOT_DIR).
"""
from __future__ import annotations

import pytest

from tests.browser import SHOTS, check, click_chart, data_fraction, open_page, wait_idle

pytestmark = pytest.mark.browser

CLICKABLE = ("vit_patch_grid", "vit_overview")  # every chart of the page with on_select


def expect_text(pg, selector: str, text: str, timeout: float = 60_000) -> None:
    """Wait until the element matching `selector` contains `text` (a fragment's rerun may start late on a busy CPU)."""
    from playwright.sync_api import expect

    expect(pg.locator(selector).first).to_contain_text(text, timeout=timeout)


def thumb(pg, key: str) -> str:
    return pg.locator(f".st-key-{key} [data-testid='stSliderThumbValue']").first.inner_text().strip()


def click_patch(pg, row: int, col: int, cols: int) -> None:
    fx, fy = data_fraction(pg, "vit_patch_grid", 1, row * cols + col)  # trace 1: one marker per patch, row-major
    click_chart(pg, "vit_patch_grid", fx, fy)


def click_tile(pg, layer: int, head: int, heads: int) -> None:
    """Layer and head counted from 1, as on the page."""
    fx, fy = data_fraction(pg, "vit_overview", 1, (layer - 1) * heads + (head - 1))
    click_chart(pg, "vit_overview", fx, fy)


def test_every_clickable_chart_answers_a_real_click(page, server):
    open_page(page, server, "vit")
    check(page, "vit_clicks_start")
    for key in CLICKABLE:
        assert page.locator(f".st-key-{key} .js-plotly-plot").count() == 1, key
    # the demo ViT: 8 × 8 patches after CLS, 4 layers × 4 heads; the query starts at the middle patch (4, 4)
    expect_text(page, ".st-key-vit_box_grid", "patch (row 4, column 4), token 37")

    click_patch(page, 2, 5, cols=8)
    expect_text(page, ".st-key-vit_box_grid", "patch (row 2, column 5), token 22")
    expect_text(page, ".st-key-vit_box_query", "Patch (row 2, column 5), token 22")
    assert (thumb(page, "vit_q_row"), thumb(page, "vit_q_col")) == ("2", "5")
    check(page, "vit_click_patch")

    click_patch(page, 6, 1, cols=8)
    expect_text(page, ".st-key-vit_box_query", "Patch (row 6, column 1), token 50")
    page.locator(".st-key-vit_q_row input[type='range']").focus()  # move the query with the slider…
    page.keyboard.press("ArrowLeft")
    expect_text(page, ".st-key-vit_box_query", "Patch (row 5, column 1), token 42")
    click_patch(page, 6, 1, cols=8)  # …and click the patch that was picked before: it is picked again
    expect_text(page, ".st-key-vit_box_query", "Patch (row 6, column 1), token 50")
    check(page, "vit_click_patch_again")

    click_tile(page, 2, 3, heads=4)
    expect_text(page, ".st-key-vit_box_matrix", "Layer 2, head 3: queries (rows) × keys (columns)")
    expect_text(page, ".st-key-vit_box_heads", "Layer 2, head 3: CLS → patches")
    assert (thumb(page, "vit_layer"), thumb(page, "vit_head")) == ("2", "3")
    click_tile(page, 4, 1, heads=4)
    expect_text(page, ".st-key-vit_box_query", "as the query in layer 4")
    expect_text(page, ".st-key-vit_box_matrix", "Layer 4, head 1:")
    assert (thumb(page, "vit_layer"), thumb(page, "vit_head")) == ("4", "1")
    page.locator(".st-key-vit_head input[type='range']").focus()  # another head with the slider…
    page.keyboard.press("ArrowRight")
    expect_text(page, ".st-key-vit_box_matrix", "Layer 4, head 2:")
    click_tile(page, 4, 1, heads=4)  # …and the tile clicked last, again (Plotly sends it as a deselection)
    expect_text(page, ".st-key-vit_box_matrix", "Layer 4, head 1:")
    assert thumb(page, "vit_head") == "1"
    check(page, "vit_click_overview")


def test_an_overview_click_then_another_image_leaves_no_error(page, server):
    open_page(page, server, "vit")
    check(page, "vit_overview_then_image_start")
    click_tile(page, 3, 2, heads=4)
    expect_text(page, ".st-key-vit_box_matrix", "Layer 3, head 2:")
    page.locator(".st-key-vit_image_source label").filter(has_text="generated shape").first.click()
    wait_idle(page)
    check(page, "vit_overview_then_shape")
    seed = page.locator(".st-key-vit_shape_seed input").first
    seed.fill("7")
    seed.press("Enter")
    wait_idle(page)
    check(page, "vit_overview_then_seed")
    expect_text(page, ".st-key-vit_box_matrix", "Layer 3, head 2:")  # the pick outlives the new image
    click_patch(page, 0, 0, cols=8)
    expect_text(page, ".st-key-vit_box_grid", "patch (row 0, column 0), token 1")
    check(page, "vit_overview_then_seed_click")


LABELS_JS = """() => {
    const boxes = e => {
        const r = e.getBoundingClientRect(); return {l: r.left, r: r.right, t: r.top, b: r.bottom};
    };
    const overlap = (a, b) => Math.min(a.r, b.r) - Math.max(a.l, b.l) > 1
        && Math.min(a.b, b.b) - Math.max(a.t, b.t) > 1;
    const out = {small: [], overlaps: []};
    document.querySelectorAll("[data-testid='stPlotlyChart']").forEach(chart => {
        const key = (chart.closest("[class*='st-key-']")?.className.match(/st-key-(\\S+)/) || [])[1] || "?";
        const texts = [...chart.querySelectorAll("svg text")]
            .filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0);
        for (const t of texts) {
            const size = parseFloat(getComputedStyle(t).fontSize);
            if (size < 12) out.small.push(`${key}: "${t.textContent}" ${size}px`);
        }
        const titles = [...chart.querySelectorAll(".gtitle, .g-xtitle text, .g-ytitle text")]
            .filter(t => t.textContent.trim());
        for (const axis of ["xtick", "ytick"]) {
            const ticks = [...chart.querySelectorAll(`g.${axis} text`)].filter(t => t.textContent.trim());
            for (let i = 0; i < ticks.length; i++) {
                for (let j = i + 1; j < ticks.length; j++)
                    if (overlap(boxes(ticks[i]), boxes(ticks[j])))
                        out.overlaps.push(`${key}: "${ticks[i].textContent}" / "${ticks[j].textContent}"`);
                for (const title of titles)
                    if (overlap(boxes(ticks[i]), boxes(title)))
                        out.overlaps.push(`${key}: "${ticks[i].textContent}" / title "${title.textContent}"`);
            }
        }
        for (let i = 0; i < titles.length; i++)
            for (let j = i + 1; j < titles.length; j++)
                if (overlap(boxes(titles[i]), boxes(titles[j])))
                    out.overlaps.push(`${key}: title "${titles[i].textContent}" / "${titles[j].textContent}"`);
    });
    return out;
}"""


@pytest.mark.parametrize("model", ["demo", "deit_tiny_patch16_224"])
def test_projector_readable_labels(page, server, model):
    """Every chart of the page, the demo ViT (65 tokens) and a 197-token DeiT with every 5th token labelled."""
    open_page(page, server, "vit")
    wait_idle(page)
    if model != "demo":
        page.locator(".st-key-vit_weights label").filter(has_text="random").first.click()
        wait_idle(page)
        page.locator(".st-key-vit_model").click()
        page.get_by_role("option", name=model, exact=True).click()
        wait_idle(page)
        expect_text(page, ".st-key-vit_box_grid", "token 61")  # the query (4, 4) of 14 × 14 patches after CLS
    check(page, f"vit_labels_{model}", min_plots=7)
    page.wait_for_timeout(500)  # Plotly lays out its labels after the first draw
    for chart in page.locator("[data-testid='stPlotlyChart']").all():  # one screenshot a chart, to look at
        if not chart.is_visible():  # inside a closed expander (section 8's "More methods")
            continue
        key = chart.evaluate(
            "e => (e.closest(\"[class*='st-key-']\")?.className.match(/st-key-(\\S+)/) || [])[1] || 'chart'"
        )
        chart.scroll_into_view_if_needed()
        chart.screenshot(path=str(SHOTS / f"vit_labels_{model}_{key}.png"))
    found = page.evaluate(LABELS_JS)
    assert not found["small"], found["small"][:20]
    assert not found["overlaps"], found["overlaps"][:20]
