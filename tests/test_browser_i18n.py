"""Two languages, links and presentation mode in a real browser (tests/browser.py).

- A first visit follows the browser's preferred language (Chromium started with the zh-CN locale), and the
  Chinese text is drawn with a CJK font: Chromium's DevTools say which platform fonts drew a node's glyphs
  (CSS.getPlatformFontsForNode), so a missing font (tofu boxes) fails the test instead of passing unseen.
- `?lang=zh` opens the app in Chinese; the sidebar's language box switches it, and the address bar follows.
- "Copy link to this view" puts the address bar's URL on the clipboard.
- Presentation mode (`?present=1`): body text ≥ 20 px, every figure's tick labels ≥ 16 px, no figure taller
  than the window.
Screenshots go to screenshots/ (i18n_*.png).
"""
from __future__ import annotations

import re

import pytest

from tests.browser import RUN_TIMEOUT_MS, SHOTS, type_text, wait_idle

pytestmark = pytest.mark.browser

CJK = re.compile(r"[\u4e00-\u9fff]")
CJK_FONTS = ("CJK", "WenQuanYi", "Droid Sans Fallback", "AR PL", "Source Han", "Noto Sans SC", "Noto Serif SC")


def _context_page(browser, **kw):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, **kw)
    pg = ctx.new_page()
    pg.set_default_timeout(RUN_TIMEOUT_MS)
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(f"pageerror: {e}"))
    return ctx, pg


def platform_fonts(pg, selector: str) -> list[dict]:
    """The fonts Chromium drew the first node matching `selector` with: [{familyName, glyphCount}, …]."""
    cdp = pg.context.new_cdp_session(pg)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    assert node, selector
    out = []
    # the text nodes under it: getPlatformFontsForNode reports a node's own text
    desc = cdp.send("DOM.describeNode", {"nodeId": node, "depth": -1})["node"]

    def walk(n):
        for child in n.get("children", []):
            if child.get("nodeType") == 3 and CJK.search(child.get("nodeValue", "")):
                pushed = cdp.send("DOM.pushNodesByBackendIdsToFrontend", {"backendNodeIds": [child["backendNodeId"]]})
                for nid in pushed["nodeIds"]:
                    out.extend(cdp.send("CSS.getPlatformFontsForNode", {"nodeId": nid})["fonts"])
            walk(child)

    walk(desc)
    if not out:
        out = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return out


def test_a_first_visit_follows_the_browsers_language_and_chinese_is_drawn_with_a_cjk_font(browser, server):
    ctx, pg = _context_page(browser, locale="zh-CN")
    try:
        pg.goto(server)
        wait_idle(pg)
        nav = pg.locator("[data-testid='stSidebarNav']").inner_text()
        assert "首页" in nav and "术语表" in nav, nav
        body = pg.locator("[data-testid='stMain']").inner_text()
        assert "注意力头" in body, body[:300]
        SHOTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SHOTS / "i18n_home_zh.png"), full_page=True)
        fonts = platform_fonts(pg, "[data-testid='stMain'] [data-testid='stMarkdownContainer'] p")
        cjk = [f for f in fonts if any(name in f["familyName"] for name in CJK_FONTS)]
        assert cjk and sum(f["glyphCount"] for f in cjk) > 10, fonts
        assert not pg.errors, pg.errors
    finally:
        ctx.close()


def test_lang_in_the_link_and_the_sidebar_switch(browser, server):
    ctx, pg = _context_page(browser, locale="en-US")
    try:
        pg.goto(server + "/?lang=zh")
        wait_idle(pg)
        assert "术语表" in pg.locator("[data-testid='stSidebarNav']").inner_text()
        box = pg.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first
        box.click()
        pg.get_by_role("option", name="English").click()
        wait_idle(pg)
        assert "Glossary" in pg.locator("[data-testid='stSidebarNav']").inner_text()
        pg.wait_for_function("() => window.location.search.includes('lang=en')")
        box.click()
        pg.get_by_role("option", name="中文").click()
        wait_idle(pg)
        assert "术语表" in pg.locator("[data-testid='stSidebarNav']").inner_text()
        pg.wait_for_function("() => window.location.search.includes('lang=zh')")
        assert not pg.errors, pg.errors
    finally:
        ctx.close()


def test_a_link_to_a_page_opens_it_inside_the_app(browser, server):
    """A link straight to a page (/positional?lang=zh, as "Copy link" gives) runs it inside app.py: the sidebar's
    navigation with the pages' titles, the language box, and the page in the link's language. (With the pages in a
    folder named pages/, Streamlit ran the file by itself: file names in the sidebar, no language, English.)"""
    ctx, pg = _context_page(browser, locale="en-US")
    try:
        pg.goto(server + "/positional?lang=zh")
        wait_idle(pg)
        nav = pg.locator("[data-testid='stSidebarNav']").inner_text()
        assert "术语表" in nav and "位置编码" in nav and "app" not in nav.split()
        assert pg.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").count() >= 1
        assert "位置编码" in pg.locator("[data-testid='stMain'] h1").first.inner_text()
        pg.screenshot(path=str(SHOTS / "i18n_deep_link.png"))
        assert not [e for e in pg.errors if "status of 404" not in e], pg.errors
    finally:
        ctx.close()


def test_copy_link_copies_the_address_bar(browser, server):
    ctx, pg = _context_page(browser, permissions=["clipboard-read", "clipboard-write"])
    try:
        pg.goto(server + "/?lang=zh&present=1")
        wait_idle(pg)
        pg.locator("button.atlas-copy-link").click()
        pg.wait_for_function("() => document.querySelector('button.atlas-copy-link').textContent.includes('已复制')")
        copied = pg.evaluate("() => navigator.clipboard.readText()")
        assert copied == pg.url and "lang=zh" in copied and "present=1" in copied, (copied, pg.url)
    finally:
        ctx.close()


VISIBLE = VISIBLE_PLOT = """() => [...document.querySelectorAll("[data-testid='stPlotlyChart'] .js-plotly-plot")]
  .some(e => e.offsetParent !== null && e.querySelector('.xtick text, .ytick text'))"""

# Every figure's tick labels (their font size) and height, and the body text's font size.
SIZES = """() => {
  const ticks = [...document.querySelectorAll("[data-testid='stPlotlyChart'] .xtick text, "
                 + "[data-testid='stPlotlyChart'] .ytick text")].filter(e => e.getBoundingClientRect().width > 0)
                 .map(e => parseFloat(getComputedStyle(e).fontSize));
  const heights = [...document.querySelectorAll("[data-testid='stPlotlyChart'] .js-plotly-plot")]
                  .map(e => e.getBoundingClientRect().height);
  const paragraphs = [...document.querySelectorAll("[data-testid='stMain'] [data-testid='stMarkdownContainer'] p")]
                  .filter(e => e.offsetParent !== null && e.textContent.trim())
                  .map(e => parseFloat(getComputedStyle(e).fontSize));
  return {ticks, heights, paragraphs, window: window.innerHeight};
}"""


@pytest.mark.parametrize("slug", ["encoder_decoder", "vit", "swin", "positional", "step_by_step"])
def test_presentation_mode_sizes(browser, server, slug):
    ctx, pg = _context_page(browser)
    try:
        pg.goto(server + "/?present=1")
        wait_idle(pg)
        pg.locator(f"[data-testid='stSidebarNav'] a[href$='/{slug}']").first.click()
        pg.wait_for_url(re.compile(rf"/{slug}\?"))
        wait_idle(pg)
        # in presentation mode a figure may be folded in an expander: wait for one that shows
        pg.wait_for_function(VISIBLE_PLOT)
        SHOTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SHOTS / f"i18n_present_{slug}.png"))
        assert pg.locator("[data-testid='stException']").count() == 0
        assert not pg.errors, pg.errors
        assert "present=1" in pg.url
        sizes = pg.evaluate(SIZES)
        assert sizes["ticks"] and min(sizes["ticks"]) >= 16, sizes["ticks"][:20]
        assert max(sizes["heights"]) <= sizes["window"], (sizes["heights"], sizes["window"])
        assert sizes["paragraphs"] and min(sizes["paragraphs"]) >= 20, sizes["paragraphs"][:20]
    finally:
        ctx.close()


def test_a_student_types_chinese_into_the_reverse_demo(browser, server):
    """Chinese typed into the reverse demo comes out reversed, and the output is drawn with a CJK font too."""
    ctx, pg = _context_page(browser)
    try:
        pg.goto(server + "/?lang=zh")
        wait_idle(pg)
        pg.locator("[data-testid='stSidebarNav'] a[href$='/encoder_decoder']").first.click()
        pg.wait_for_url(re.compile(r"/encoder_decoder\?"))
        wait_idle(pg)
        type_text(pg, "注意力 is all you need")
        wait_idle(pg)
        pg.get_by_text("deen uoy lla si 力意注").first.wait_for()
        SHOTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SHOTS / "i18n_reverse_chinese.png"))
        fonts = platform_fonts(pg, "[data-testid='stMain'] [data-testid='stCode'] code")
        assert any(any(name in f["familyName"] for name in CJK_FONTS) for f in fonts), fonts
        assert pg.locator("[data-testid='stException']").count() == 0
        assert not pg.errors, pg.errors
    finally:
        ctx.close()


# What a view shows: the input, every chart's title and the sum of the numbers of its first trace.
VIEW = """() => {
  const flat = v => (v !== null && typeof v === 'object' && v.length !== undefined) ? Array.from(v).flatMap(flat) : [v];
  return {
  input: (document.querySelector("[data-testid='stTextInput'] input, [data-testid='stTextArea'] textarea") || {}).value,
  charts: [...document.querySelectorAll("[data-testid='stPlotlyChart'] .js-plotly-plot")].map(gd => ({
    title: (gd.querySelector('.gtitle') || {}).textContent || '',
    sum: flat((gd._fullData && gd._fullData[0] && gd._fullData[0].z) || []).reduce((a, b) => a + (+b || 0), 0),
  })),
  };
}"""


def test_a_copied_link_opens_the_same_view_in_a_fresh_browser(browser, server):
    """A user changes the view (tab, input, head), copies the link; a fresh browser (another context, no
    session) opened on it shows the same input, the same charts and the same numbers, in the same language."""
    ctx, pg = _context_page(browser, permissions=["clipboard-read", "clipboard-write"])
    fresh = None
    try:
        pg.goto(server + "/?lang=zh")
        wait_idle(pg)
        pg.locator("[data-testid='stSidebarNav'] a[href$='/encoder_decoder']").first.click()
        pg.wait_for_url(re.compile(r"/encoder_decoder\?"))
        wait_idle(pg)
        type_text(pg, "你好 world")
        wait_idle(pg)
        pg.get_by_role("tab", name=re.compile("^5 ")).click()
        wait_idle(pg)
        pg.locator(".st-key-ed_head input[type='range']").first.focus()
        pg.keyboard.press("ArrowRight")
        wait_idle(pg)
        pg.wait_for_function("() => window.location.search.includes('ed_head=2')")
        shown = pg.evaluate(VIEW)
        pg.locator("button.atlas-copy-link").click()
        pg.wait_for_function("() => document.querySelector('button.atlas-copy-link').textContent.includes('已复制')")
        link = pg.evaluate("() => navigator.clipboard.readText()")
        fresh, other = _context_page(browser)
        other.goto(link)
        wait_idle(other)
        other.wait_for_function(VISIBLE)
        again = other.evaluate(VIEW)
        other.screenshot(path=str(SHOTS / "i18n_link_reopened.png"))
        assert again["input"] == shown["input"] == "你好 world"
        assert [c["title"] for c in again["charts"]] == [c["title"] for c in shown["charts"]]
        assert any("注意力头 2" in c["title"] or "头 2" in c["title"] for c in again["charts"]), again
        assert any(c["sum"] > 0 for c in shown["charts"]), shown  # the numbers compared are the weights drawn
        for a, b in zip(again["charts"], shown["charts"]):
            assert abs(a["sum"] - b["sum"]) < 1e-6, (a, b)
    finally:
        ctx.close()
        if fresh is not None:
            fresh.close()
