"""The text pages' "What the output rests on" in a real Chromium: on the encoder–decoder page the section switched
on with its toggle, the relevance and the cross-attention painted side by side, another output token picked from
the select with the mouse, its perturbation curves, heads picked in the multiselect with the keyboard and the output
without them drawn; on the language-model page (a small random BERT with an MLM head in the server's weights folder)
the relevance of the [MASK] filler beside the raw row, rollout and flow in their expander, and the importance grid
computed on its button. Screenshots: screenshots/explain_text_*.png."""
from __future__ import annotations

import urllib.parse

import pytest

from tests import language_models as lm
from tests.browser import SHOTS, WEIGHTS, check, multiselect_type, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _deep(page, server: str, path: str, params: dict[str, str]) -> None:
    page.goto(f"{server}/{path}?{urllib.parse.urlencode(params)}")
    wait_idle(page)
    # a deep link first probes /<page>/_stcore/health, which answers 404 before Streamlit falls back
    page.errors[:] = [e for e in page.errors if "status of 404" not in e]


def test_encoder_decoder_section_in_the_browser(page, server):
    from playwright.sync_api import expect

    _deep(page, server, "encoder_decoder",
          {"ed_task": "translate", "ed_text_translate": "the teacher reads a red book"})
    check(page, "explain_text_ed_off", min_plots=1)  # the open tab's one figure; the section waits for its toggle
    page.get_by_text("8 · What the output rests on").scroll_into_view_if_needed()
    page.locator(".st-key-ed_x_on label").first.click()  # the section computes when switched on
    check(page, "explain_text_ed_page", min_plots=6)
    for key in ("ed_x_rel", "ed_x_cross", "ed_x_importance_encoder", "ed_x_importance_cross"):
        expect(page.locator(f".st-key-{key} .js-plotly-plot")).to_have_count(1, timeout=60_000)
    expect(page.locator(".st-key-ed_x_rel")).to_contain_text("Relevance for step 1")
    # another output token, picked with the mouse from the select
    page.locator(".st-key-ed_x_token [role=combobox]").first.click()
    page.get_by_role("option", name="step 3:").first.click()
    wait_idle(page)
    expect(page.locator(".st-key-ed_x_rel")).to_contain_text("Relevance for step 3")
    page.locator(".st-key-ed_x_rel").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_text_ed_relevance.png"))
    # the perturbation test on this input: relevance, the layer's cross-attention and a random order
    expect(page.locator(".st-key-ed_x_curves .js-plotly-plot")).to_have_count(1, timeout=60_000)
    expect(page.locator(".st-key-ed_x_curves")).to_contain_text("Removing the most relevant tokens first")
    expect(page.locator(".st-key-ed_x_curves .legend")).to_contain_text("Random order")
    page.locator(".st-key-ed_x_curves").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_text_ed_perturbation.png"))
    # every output token at once: relevance beside cross-attention as two heatmaps
    page.locator(".st-key-ed_x_view label").filter(has_text="All output tokens").first.click()
    wait_idle(page)
    expect(page.locator(".st-key-ed_x_rel_map .js-plotly-plot")).to_have_count(1, timeout=60_000)
    page.locator(".st-key-ed_x_rel_map").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_text_ed_heatmaps.png"))
    # switch the cross-attention heads of layer 1 off with the keyboard
    multiselect_type(page, "ed_x_off", ["cross 1.1", "cross 1.2"])
    expect(page.locator(".st-key-ed_x_after .js-plotly-plot")).to_have_count(1, timeout=60_000)
    expect(page.locator(".st-key-ed_x_after")).to_contain_text("With 2 heads off")
    page.locator(".st-key-ed_x_after").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_text_ed_ablation.png"))
    assert page.locator("[data-testid='stException']").count() == 0
    assert not page.errors, page.errors


def test_language_section_in_the_browser(page, server):
    from playwright.sync_api import expect

    folder = lm.build("bert", WEIGHTS / "bert_explain")
    _deep(page, server, "language", {"lm_name": str(folder), "lm_text": "the cat [MASK] on the mat",
                                       "lm_x_on": "true"})
    check(page, "explain_text_lm_page", min_plots=2)
    page.get_by_text("7 · What the prediction rests on").scroll_into_view_if_needed()
    for key in ("lm_x_rel", "lm_x_raw", "lm_x_curves"):
        expect(page.locator(f".st-key-{key} .js-plotly-plot")).to_have_count(1, timeout=60_000)
    # rollout and attention flow to the predicted position, in their expander
    page.get_by_text("More methods: rollout, attention flow").click()
    for key in ("lm_x_rollout", "lm_x_flow"):
        expect(page.locator(f".st-key-{key} .js-plotly-plot")).to_have_count(1, timeout=60_000)
    page.locator(".st-key-lm_x_flow").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_text_lm_flow.png"))
    page.locator(".st-key-lm_x_importance_go button").click()
    wait_idle(page)
    expect(page.locator(".st-key-lm_x_importance_grid .js-plotly-plot")).to_have_count(1, timeout=60_000)
    page.locator(".st-key-lm_x_rel").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_text_lm_relevance.png"))
    page.locator(".st-key-lm_x_importance_grid").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "explain_text_lm_importance.png"))
    assert page.locator("[data-testid='stException']").count() == 0
    assert not page.errors, page.errors
