"""The encoder–decoder page in a real browser (tests/browser.py): a user types inputs, changes layer, head and
decoding step with the keyboard on the sliders, pads the source to 64 tokens; after each step the view changed,
no exception box showed, the browser logged no error, and no tick label is under 12 px or overlaps another label
or a title. Inputs unlike the training data show the warning with its reason. Screenshots go to screenshots/.

No chart on this page has on_select (a click selects nothing), so a real click on a chart must change nothing and
break nothing: that is checked too.
"""
from __future__ import annotations

import pytest

from tests.browser import SHOTS, check, click_chart, open_page, type_text, wait_idle

pytestmark = pytest.mark.browser

OUTSIDE = "Outside what this model was trained on"

# Every text element of every Plotly chart that is a tick label or a title, with its box and font size; pairs of
# boxes that overlap by more than 1 px. Tick labels of different subplots are compared too.
LABEL_OVERLAPS = """() => {
  const out = {small: [], overlaps: [], count: 0};
  for (const plot of document.querySelectorAll("[data-testid='stPlotlyChart'] .js-plotly-plot")) {
    const els = plot.querySelectorAll(
      ".xtick text, .ytick text, .gtitle, .g-xtitle text, .g-ytitle text, .annotation-text");
    const boxes = [];
    for (const el of els) {
      const text = el.textContent.trim();
      if (!text) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      const size = parseFloat(getComputedStyle(el).fontSize);
      if (el.closest(".xtick, .ytick") && size < 12) out.small.push(text + " " + size);
      boxes.push({text, l: r.left, r: r.right, t: r.top, b: r.bottom});
    }
    out.count += boxes.length;
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      const w = Math.min(a.r, b.r) - Math.max(a.l, b.l), h = Math.min(a.b, b.b) - Math.max(a.t, b.t);
      if (w > 1 && h > 1) out.overlaps.push(a.text + " / " + b.text);
    }
  }
  return out;
}"""


def _labels_readable(pg) -> None:
    found = pg.evaluate(LABEL_OVERLAPS)
    assert found["count"] > 0
    assert not found["small"], f"tick labels under 12 px: {found['small'][:5]}"
    assert not found["overlaps"], f"labels overlap: {found['overlaps'][:5]}"


def _shot(pg, key: str, name: str) -> None:
    """A screenshot of one element (the page scrolls inside its own container, so a full-page shot stops at the
    window): to look at the labels of a chart below the fold."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    element = pg.locator(f".st-key-{key}").first
    element.scroll_into_view_if_needed()
    element.screenshot(path=str(SHOTS / f"{name}.png"))


def _title(pg, key: str) -> str:
    return pg.locator(f".st-key-{key} .gtitle").first.text_content()


def _press(pg, key: str, button: str) -> None:
    """Focus a slider's thumb (an <input type="range"> in Streamlit 1.67) and press a key, as a keyboard user."""
    pg.locator(f".st-key-{key} input[type='range']").first.focus()
    pg.keyboard.press(button)
    wait_idle(pg)


def _choose_task(pg, title: str) -> None:
    pg.locator("[data-testid='stRadio'] label").filter(has_text=title).first.click()
    wait_idle(pg)


def _warning_text(pg) -> str:
    alerts = pg.locator("[data-testid='stAlert']")
    return " ".join(alerts.nth(i).inner_text() for i in range(alerts.count()))


def _tab(pg, name: str) -> None:
    pg.get_by_role("tab", name=name).click()
    wait_idle(pg)


def _view(pg, name: str) -> None:
    pg.locator(".st-key-ed_view label").filter(has_text=name).first.click()
    wait_idle(pg)


def test_layer_head_and_step_change_the_view(page, server):
    open_page(page, server, "encoder_decoder")
    _tab(page, "5 · Cross-attention")
    check(page, "text_first")
    assert _title(page, "ed_one_cross") == "Cross-attention · layer 1, head 1"
    _press(page, "ed_head", "ArrowRight")
    check(page, "text_head2")
    assert _title(page, "ed_one_cross") == "Cross-attention · layer 1, head 2"
    _press(page, "ed_layer", "ArrowRight")
    check(page, "text_layer2")
    assert _title(page, "ed_one_cross") == "Cross-attention · layer 2, head 2"
    _tab(page, "2 · Encoder self-attention")
    assert _title(page, "ed_one_enc") == "Encoder self-attention · layer 2, head 2"
    _tab(page, "5 · Cross-attention")
    _labels_readable(page)
    # No chart here has on_select: a real click on a heatmap selects nothing and changes nothing.
    click_chart(page, "ed_one_cross", 0.5, 0.5)
    check(page, "text_clicked")
    assert _title(page, "ed_one_cross") == "Cross-attention · layer 2, head 2"

    _tab(page, "6 · Decoding step by step")
    page.locator(".st-key-ed_step").wait_for()
    assert "at step 1 " in _title(page, "ed_step_cross")
    _press(page, "ed_step", "ArrowRight")
    check(page, "text_step2")
    assert _title(page, "ed_step_cross") == "Cross-attention at step 2 · layer 2"
    assert "Step 2 of" in page.inner_text("body")
    _labels_readable(page)
    _shot(page, "ed_step_cross", "text_step2_cross")
    _tab(page, "2 · Encoder self-attention")


def test_padding_to_64_tokens_keeps_labels_apart(page, server):
    open_page(page, server, "encoder_decoder")
    wait_idle(page)
    _press(page, "ed_pad_to", "End")  # the slider's maximum: the model's 64 positions
    check(page, "text_padded_64")
    assert "The source holds" not in page.inner_text("body")  # the masks tab is closed: lazy
    _labels_readable(page)
    _shot(page, "ed_one_enc", "text_padded_64_encoder")
    ticks = page.locator(".st-key-ed_one_enc .xtick text").all_text_contents()
    assert sum("<pad> ×" in t for t in ticks) == 1 and "<pad>" not in ticks, ticks
    for tab in ("All heads of a layer", "Masks"):  # a view of the encoder's tab, then the masks' tab
        if tab == "Masks":
            _tab(page, "3 · Masks")
        else:
            _view(page, tab)
        check(page, "text_padded_" + tab.split()[0].lower())
        _labels_readable(page)
        _shot(page, "ed_grid_enc" if tab.startswith("All") else "ed_mask_cross",
              "text_padded_" + tab.split()[0].lower() + "_chart")
    _tab(page, "2 · Encoder self-attention")
    _view(page, "One head")
    _press(page, "ed_pad_to", "Home")


@pytest.mark.parametrize(
    "task,value,why,shot",
    [
        ("Dates", "21/11/2026", "month/day/year", "text_ood_dates_slashes"),
        ("Dates", "tomorrow", "not a date written in any of the styles", "text_ood_dates_tomorrow"),
        ("English", "the teacher reads a red book", "repeats itself", "text_ood_translate_loop"),
    ],
)
def test_inputs_unlike_the_training_data_show_the_warning(page, server, task, value, why, shot):
    open_page(page, server, "encoder_decoder")
    wait_idle(page)
    _choose_task(page, task)
    type_text(page, value)
    check(page, shot)
    shown = _warning_text(page)
    assert OUTSIDE in shown and why in shown, shown
    assert "Confidence" in page.inner_text("body")


def test_inputs_like_the_training_data_show_no_warning(page, server):
    open_page(page, server, "encoder_decoder")
    wait_idle(page)
    _choose_task(page, "Dates")
    for value, iso in [("21 Nov 2026", "2026-11-21"), ("2026年11月21日", "2026-11-21"),
                       ("二〇二六年十一月二十一日", "2026-11-21")]:
        type_text(page, value)
        check(page, "text_in_distribution_" + iso)
        assert OUTSIDE not in _warning_text(page)
        assert iso in page.locator("[data-testid='stCode']").first.inner_text()
        _labels_readable(page)
    _tab(page, "5 · Cross-attention")
    _shot(page, "ed_one_cross", "text_chinese_numerals_cross")
