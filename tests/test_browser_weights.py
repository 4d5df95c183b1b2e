"""In a real browser: a typo in a pretrained tag is answered with a message naming the real tags, and the page does
not quietly show random weights instead (random weights stand in for a Hub that cannot be reached, not for a tag
that does not exist). Harness: tests/browser.py.
"""
from __future__ import annotations

import pytest

from tests.browser import check, open_page, wait_idle

pytestmark = pytest.mark.browser

TYPO = "vit_tiny_patch16_224.augreg_in21k_ft_in1kk"
TAGS = ("Its tags: vit_tiny_patch16_224.augreg_in21k, vit_tiny_patch16_224.augreg_in21k_ft_in1k. "
        "Did you mean vit_tiny_patch16_224.augreg_in21k_ft_in1k?")


def _choose(pg, key: str, text: str) -> None:
    pg.locator(f".st-key-{key} label").filter(has_text=text).first.click()
    wait_idle(pg)


def _type_name(pg, key: str, value: str) -> None:
    box = pg.locator(f".st-key-{key} input").first
    box.fill(value)
    box.press("Enter")
    wait_idle(pg)


def _alerts(pg) -> str:
    return " ".join(pg.locator("[data-testid='stAlert']").all_inner_texts())


def test_vit_page_names_the_real_tags_of_a_typo(page, server):
    open_page(page, server, "vit")
    check(page, "weights_vit_demo")
    _choose(page, "vit_weights", "pretrained")
    page.locator(".st-key-vit_model [role='combobox']").first.click()
    page.get_by_role("option", name="other timm model…").click()
    wait_idle(page)
    _type_name(page, "vit_model_other", TYPO)
    check(page, "weights_vit_typo_tag", min_plots=0)
    alerts = _alerts(page)
    assert "'augreg_in21k_ft_in1kk'" in alerts and TAGS in alerts, alerts
    assert "random" not in alerts.lower(), alerts
    assert page.locator("[data-testid='stPlotlyChart']").count() == 0, "no figures from weights nobody asked for"


def test_step_by_step_page_names_the_real_tags_of_a_typo(page, server):
    open_page(page, server, "step_by_step")
    check(page, "weights_step_by_step")
    _choose(page, "sbs_model", "Vision Transformer")
    _choose(page, "sbs_vit_which", "timm model")
    _type_name(page, "sbs_vit_name", TYPO)
    check(page, "weights_step_by_step_typo_tag", min_plots=0)
    alerts = _alerts(page)
    assert "'augreg_in21k_ft_in1kk'" in alerts and TAGS in alerts, alerts
    assert "untrained" not in alerts and "random" not in alerts.lower(), alerts
