"""The language-model page in a real browser (tests/browser.py): the real MiniLM's heads, a head change with the
keyboard, a real click on a tile of the layers × heads overview opening that head, a small random GPT-2 generating
step by step, and a 1,500-token input pooled. After each step: the view changed, no exception box, no browser
error. Screenshots go to screenshots/."""
from __future__ import annotations

import pytest

from tests import language_models as lm
from tests.browser import SHOTS, WEIGHTS, check, click_chart, data_fraction, open_page, wait_idle

pytestmark = pytest.mark.browser


def _titles(pg) -> list[str]:
    """The charts' titles as drawn (Streamlit wraps them in <b>)."""
    titles = pg.eval_on_selector_all(
        "[data-testid='stPlotlyChart'] .js-plotly-plot", "els => els.map(e => (e.layout.title || {}).text || '')")
    return [t.replace("<b>", "").replace("</b>", "") for t in titles]


def _shot(pg, key: str, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    element = pg.locator(f".st-key-{key}").first
    element.scroll_into_view_if_needed()
    element.screenshot(path=str(SHOTS / f"{name}.png"))


def _press(pg, key: str, button: str) -> None:
    """Focus a slider's thumb (an <input type="range"> in Streamlit 1.67) and press a key, as a keyboard user."""
    pg.locator(f".st-key-{key} input[type='range']").first.focus()
    pg.keyboard.press(button)
    wait_idle(pg)


def _tab(pg, label: str) -> None:
    pg.get_by_role("tab", name=label).click()
    wait_idle(pg)


def test_minilm_head_change_and_overview_click(page, server):
    open_page(page, server, "language")
    check(page, "language_minilm")
    assert "Self-attention · layer 1, head 1" in _titles(page)
    assert "53aa51172d14" in page.locator("[data-testid='stAlert']").first.inner_text()
    _press(page, "lm_head", "ArrowRight")
    assert "Self-attention · layer 1, head 2" in _titles(page)

    _tab(page, "6 · Overview & download")
    check(page, "language_overview")
    _shot(page, "lm_overview", "language_overview_tiles")
    fx, fy = data_fraction(page, "lm_overview", 1, 2 * 12 + 4)  # layer 3, head 5: its tile's click target
    click_chart(page, "lm_overview", fx, fy)
    wait_idle(page)
    page.wait_for_timeout(300)
    wait_idle(page)
    check(page, "language_overview_click")
    assert "Self-attention · layer 3, head 5" in _titles(page), _titles(page)


def test_small_gpt2_generates_step_by_step_and_long_input_is_pooled(page, server):
    folder = lm.build("gpt2", WEIGHTS / "gpt2")  # writes 20 tokens without stopping on this text
    long_model = lm.gpt2_long(WEIGHTS, n_positions=2048, layers=2, heads=4, d=64)
    long_text = " ".join(lm.WORDS) + " "  # 49 words, one token each
    open_page(page, server, "language")
    wait_idle(page)
    name = page.locator(".st-key-lm_name input").first
    name.fill(str(folder))
    name.press("Enter")
    wait_idle(page)
    check(page, "language_gpt2")
    _tab(page, "5 · Decoding step by step")
    check(page, "language_gpt2_steps")
    assert any(t.startswith("Self-attention at step 1") for t in _titles(page)), _titles(page)
    _press(page, "lm_step", "ArrowRight")
    assert any(t.startswith("Self-attention at step 2") for t in _titles(page)), _titles(page)

    _tab(page, "3 · Attention")
    name.fill(str(long_model))
    name.press("Enter")
    wait_idle(page)
    box = page.locator(".st-key-lm_text textarea").first
    box.fill(long_text * 30)  # 1,470 tokens
    box.press("Control+Enter")
    wait_idle(page)
    check(page, "language_gpt2_long")
    hover = page.eval_on_selector(".st-key-lm_one .js-plotly-plot", "e => e.data[0].hovertemplate")
    assert "mean weight" in hover  # pooled into blocks, and says so
    assert "too many to send whole" in page.inner_text("body")
