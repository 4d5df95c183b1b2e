"""The corpus page in a real Chromium, used as a user uses it: upload a small text file, press Run, then real mouse
clicks on the layers × heads grid and on the head map, each at the screen position of a cell or a dot read from the
chart's own axes; after each the picked head is in the URL (cp_layer, cp_head) and in the section's heading, and no
exception box or console error appeared. Then the same page in Chinese. Screenshots go to screenshots/ (or
$SCREENSHOT_DIR): corpus_run, corpus_click_grid, corpus_click_map, corpus_zh.
Harness: tests/browser.py.
"""
from __future__ import annotations

import re

import pytest

from tests.browser import SHOTS, check, click_chart, data_fraction, upload, wait_idle

pytestmark = pytest.mark.browser

LINES = ("The cat sat on the mat.\n"
         "Hello, world! How are you today?\n"
         "A longer sentence, with two commas, about nothing in particular.\n"
         "She read the book; he wrote the letter.\n"
         "Rain fell all night, and by morning the river had risen.\n")
HEADS = 12  # all-MiniLM-L6-v2: 6 layers × 12 heads


def expect_text(pg, selector: str, text: str, timeout: float = 60_000) -> None:
    from playwright.sync_api import expect

    expect(pg.locator(selector).first).to_contain_text(text, timeout=timeout)


def open_corpus(pg, server: str, lang: str = "en") -> None:
    pg.goto(server + ("/?lang=zh" if lang == "zh" else ""))
    wait_idle(pg)
    pg.locator("[data-testid='stSidebarNav'] a[href$='/corpus']").first.click()
    pg.wait_for_url(re.compile(r"/corpus(\?|$)"))
    wait_idle(pg)


def run_upload(pg, tmp_path, lang: str = "en") -> None:
    """Upload LINES as a text corpus and press Run (the result may be kept already: then the figures show at once)."""
    f = tmp_path / "five.txt"
    f.write_text(LINES, encoding="utf-8")
    if lang == "zh":
        pg.locator("[data-testid='stRadio'] label").filter(has_text="上传文本文件").first.click()
        wait_idle(pg)
    upload(pg, f)
    wait_idle(pg)
    run = pg.locator(".st-key-cp_run button")
    if run.count():
        run.first.click()
        wait_idle(pg)
    pg.locator(".st-key-cp_grid .js-plotly-plot").first.wait_for()


def heading(pg) -> str:
    return pg.locator("[data-testid='stHeading']").filter(has_text="4 ·").first.inner_text()


def test_run_then_a_real_click_on_the_grid_and_on_the_head_map_picks_the_head(page, server, tmp_path):
    open_corpus(page, server)
    run_upload(page, tmp_path)
    check(page, "corpus_run", min_plots=4)
    assert "5 of 5 inputs ran" in page.locator("[data-testid='stAlert']").all_inner_texts().__str__()
    assert "4 · Layer 1, head 1" in heading(page)

    # the grid: one invisible marker per cell (trace 1), layer-major; layer 3, head 5 (from 1)
    fx, fy = data_fraction(page, "cp_grid", 1, (3 - 1) * HEADS + (5 - 1))
    click_chart(page, "cp_grid", fx, fy)
    expect_text(page, "[data-testid='stHeading']:has-text('4 ·')", "4 · Layer 3, head 5")
    page.wait_for_url(re.compile(r"cp_layer=3"))
    assert "cp_head=5" in page.url
    shape = page.evaluate("""() => {
        const gd = document.querySelector('.st-key-cp_grid .js-plotly-plot');
        const s = gd._fullLayout.shapes[0]; return [(s.x0 + s.x1) / 2, (s.y0 + s.y1) / 2];
    }""")
    assert shape == [5, 3]  # the picked cell is outlined
    check(page, "corpus_click_grid", min_plots=4)

    # the head map: dots in (layer, head) order (trace 0); layer 5, head 2
    fx, fy = data_fraction(page, "cp_map", 0, (5 - 1) * HEADS + (2 - 1))
    click_chart(page, "cp_map", fx, fy)
    expect_text(page, "[data-testid='stHeading']:has-text('4 ·')", "4 · Layer 5, head 2")
    page.wait_for_url(re.compile(r"cp_layer=5"))
    assert "cp_head=2" in page.url
    check(page, "corpus_click_map", min_plots=4)
    for key in ("cp_grid", "cp_map", "cp_profile", "cp_depth"):  # the page scrolls inside: one shot per chart
        page.locator(f".st-key-{key}").first.scroll_into_view_if_needed()
        page.locator(f".st-key-{key}").first.screenshot(path=str(SHOTS / f"corpus_{key}.png"))
    page.locator("[data-testid='stHorizontalBlock']").filter(has_text="Highest").first.screenshot(
        path=str(SHOTS / "corpus_extremes.png"))

    # a link of the extremes opens that input on the language page, with the same model
    first = page.locator("[data-testid='stPageLink'] a").first
    href = first.get_attribute("href")
    assert href.startswith("language?") and "lm_text=" in href and "lm_model=sentence-transformers" in href
    shown = first.inner_text()
    sentence = next(line for line in LINES.splitlines() if line in shown)
    first.click()
    page.wait_for_url(re.compile(r"/language\?"))
    wait_idle(page)
    from playwright.sync_api import expect

    expect(page.locator(".st-key-lm_text textarea")).to_have_value(sentence, timeout=60_000)
    check(page, "corpus_link_language", min_plots=1)


def test_the_page_in_chinese(page, server, tmp_path):
    open_corpus(page, server, "zh")
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="语料库中的注意力头")).to_be_visible(timeout=60_000)
    run_upload(page, tmp_path, "zh")
    fx, fy = data_fraction(page, "cp_grid", 1, (2 - 1) * HEADS + (7 - 1))
    click_chart(page, "cp_grid", fx, fy)
    expect_text(page, "[data-testid='stHeading']:has-text('4 ·')", "4 · 第 2 层，头 7")
    check(page, "corpus_zh", min_plots=4)
    for key in ("cp_grid", "cp_profile"):
        page.locator(f".st-key-{key}").first.scroll_into_view_if_needed()
        page.locator(f".st-key-{key}").first.screenshot(path=str(SHOTS / f"corpus_zh_{key}.png"))


def test_vit_demo_on_the_bundled_images(page, server):
    """An image model: vit_demo (4 layers × 4 heads) on the 4 photos and 60 shapes; a real click on the grid, the
    7 × 7 pattern of the picked head, distance against depth, and an extreme that opens on the ViT page."""
    open_corpus(page, server)
    page.locator("[data-testid='stRadio'] label").filter(has_text="Image model").first.click()
    wait_idle(page)
    run = page.locator(".st-key-cp_run button")
    if run.count():
        run.first.click()
        wait_idle(page)
    page.locator(".st-key-cp_grid .js-plotly-plot").first.wait_for()
    fx, fy = data_fraction(page, "cp_grid", 1, (2 - 1) * 4 + (3 - 1))
    click_chart(page, "cp_grid", fx, fy)
    expect_text(page, "[data-testid='stHeading']:has-text('4 ·')", "4 · Layer 2, head 3")
    assert "cp_modality=images" in page.url and "cp_layer=2" in page.url and "cp_head=3" in page.url
    check(page, "corpus_images", min_plots=4)
    for key in ("cp_grid", "cp_map", "cp_profile", "cp_depth"):
        page.locator(f".st-key-{key}").first.scroll_into_view_if_needed()
        page.locator(f".st-key-{key}").first.screenshot(path=str(SHOTS / f"corpus_images_{key}.png"))
    first = page.locator("[data-testid='stPageLink'] a").first
    href = first.get_attribute("href")
    assert href.startswith("vit?") and "vit_weights=demo" in href and "vit_image=" in href
    shown = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r"/vit\?"))
    check(page, "corpus_images_link_vit", min_plots=1)
    from playwright.sync_api import expect

    photo = re.search(r"sample photo: (.+)$", shown)
    shape = re.search(r"generated (\w+), seed (\d+)", shown)
    if photo:  # the ViT page opened on that photo…
        expect(page.locator(".st-key-vit_sample input")).to_have_value(photo.group(1))
    else:  # …or on that shape and seed
        assert shape, shown
        expect(page.locator(".st-key-vit_shape input")).to_have_value(shape.group(1))
        expect(page.locator(".st-key-vit_shape_seed input")).to_have_value(shape.group(2))


def test_swin_demo_says_why_it_has_no_head_map(page, server):
    """swin_demo: the rows are blocks, each stage with its own heads (blank cells); no head map, and why."""
    open_corpus(page, server)
    page.locator("[data-testid='stRadio'] label").filter(has_text="Image model").first.click()
    wait_idle(page)
    page.locator(".st-key-cp_model [role=combobox]").first.click()
    page.get_by_role("option", name="swin_demo", exact=True).click()
    wait_idle(page)
    # the text corpus's 500 (all of them) became the image corpus's 64 (all of them)
    from playwright.sync_api import expect

    expect(page.locator(".st-key-cp_first input")).to_have_value("64")
    run = page.locator(".st-key-cp_run button")
    if run.count():
        run.first.click()
        wait_idle(page)
    page.locator(".st-key-cp_grid .js-plotly-plot").first.wait_for()
    expect_text(page, "[data-testid='stAlert']:has-text('No head map')", "heads of different stages attend within "
                "different windows")
    assert page.locator(".st-key-cp_map").count() == 0
    check(page, "corpus_swin", min_plots=3)
    for key in ("cp_grid", "cp_profile", "cp_depth"):
        page.locator(f".st-key-{key}").first.scroll_into_view_if_needed()
        page.locator(f".st-key-{key}").first.screenshot(path=str(SHOTS / f"corpus_swin_{key}.png"))
