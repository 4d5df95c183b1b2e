"""End to end in a real browser: every page opened from the sidebar, text typed, a sample photo and a hostile file
uploaded; after each step the app is idle, Plotly charts rendered, no Streamlit exception box showed and the browser
logged no error. A screenshot of every page goes to screenshots/ (or $SCREENSHOT_DIR). Harness: tests/browser.py.
"""
from __future__ import annotations

import pytest

from tests.browser import check, open_page, type_text, upload, wait_idle
from tests.conftest import SAMPLES

pytestmark = pytest.mark.browser


def test_home(page, server):
    page.goto(server)
    check(page, "home", min_plots=0)
    assert "Attention Atlas" in page.inner_text("body")


def test_encoder_decoder_page(page, server):
    open_page(page, server, "encoder_decoder")
    check(page, "encoder_decoder")
    # lazy tabs: only the open one ("2 · Encoder self-attention", one head) is drawn
    assert page.locator("[data-testid='stPlotlyChart']").count() == 1
    page.get_by_role("tab", name="7 · Overview & download").click()  # a tab's content runs when it is opened
    wait_idle(page)
    page.get_by_text("Every layer (rows) and head (columns)").wait_for()
    check(page, "encoder_decoder_overview", min_plots=3)
    page.get_by_role("tab", name="2 · Encoder self-attention").click()
    wait_idle(page)
    type_text(page, "Attention is all you need")
    check(page, "encoder_decoder_typed")
    type_text(page, "   ")
    wait_idle(page)
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.parametrize("slug", ["vit", "swin"])
def test_vision_pages_with_photo_and_hostile_file(page, server, slug, tmp_path):
    open_page(page, server, slug)
    check(page, slug)
    upload(page, SAMPLES / "chelsea.png")
    check(page, f"{slug}_upload")
    bad = tmp_path / "broken.png"
    bad.write_bytes((SAMPLES / "chelsea.png").read_bytes()[:300])  # a truncated PNG with an image name
    upload(page, bad)
    check(page, f"{slug}_hostile", min_plots=0)
    assert page.locator("[data-testid='stAlert']").count() >= 1, "a hostile file must be answered with a message"


@pytest.mark.parametrize("slug", ["positional", "step_by_step"])
def test_teaching_pages(page, server, slug):
    open_page(page, server, slug)
    check(page, slug)
