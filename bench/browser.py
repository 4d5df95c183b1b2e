"""The browser figures, in Chromium against `streamlit run app.py`.

first_figure_s: from `streamlit run app.py` (cold: a new process) to the first attention figure drawn in Chromium.
Chromium is launched before the clock starts (a user's browser is already open). The clock runs from
starting the server process, through its start-up, the page's first run (imports, loading the demo
checkpoint, decoding) and the browser drawing the first `[data-testid='stPlotlyChart'] .js-plotly-plot`
of the encoder–decoder page (opened by its address).

view_change_ms: on each page, the time from a view change a user makes to the page being idle again, median of
repeated changes (goal <= 300 ms). The change is the page's head control, found as `.st-key-<key> [role='slider']`
(the contract with the pages: a st.select_slider or st.slider with that key), focused and sent ArrowRight; on the
ViT page also a real mouse click on the patch grid "What the model sees" (`vit_patch_grid`). Idle: the app's
script state went `running`, then `notRunning`, and the browser painted twice after that (two animation frames),
as recorded by a MutationObserver in the page with the page's own clock. A page without its control is reported
as "control not found", not as a failure. The server and caches are warm (each page opened once first) and the
model result is cached, as in class when a teacher steps through heads.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
FIGURE = "[data-testid='stPlotlyChart'] .js-plotly-plot"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


VIEW_CONTROLS = {  # page slug -> key of its head control (st.select_slider / st.slider), as agreed with the pages
    "encoder_decoder": "ed_head",
    "vit": "vit_head",
    "swin": "swin_head",
    "step_by_step": "sbs_head",
    "positional": "pe_len",
}
PATCH_GRID_KEY = "vit_patch_grid"
GOAL_MS = 300
# Installed in every page: records when the script state changes, and the second animation frame after idle.
OBSERVER_JS = """() => {
  if (window.__atlasStates) return;
  window.__atlasStates = [];
  const app = document.querySelector("[data-testid='stApp']");
  const note = () => {
    const state = app.getAttribute('data-test-script-state');
    const t = performance.now();
    window.__atlasStates.push({state, t});
    if (state === 'notRunning') {
      const painted = () => window.__atlasStates.push({state: 'painted', t: performance.now()});
      requestAnimationFrame(() => requestAnimationFrame(painted));
    }
  };
  new MutationObserver(note).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
# Resolves with the time from t0 to the second paint after the first running -> notRunning that followed t0.
SETTLED_JS = """(t0) => {
  const s = window.__atlasStates.filter(e => e.t >= t0);
  const run = s.findIndex(e => e.state === 'running');
  if (run < 0) return null;
  const idle = s.findIndex((e, i) => i > run && e.state === 'notRunning');
  if (idle < 0) return null;
  const painted = s.findIndex((e, i) => i > idle && e.state === 'painted');
  return painted < 0 ? null : s[painted].t - t0;
}"""


def _healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok"
    except OSError:
        return False


def measure(device: str, timeout_s: float = 120.0, slug: str = "encoder_decoder") -> dict:
    """{"first_figure_s": seconds or None, "reason": why None, ...}: the first figure of the page `slug`.

    Also: server_ready_s (health answers), first_chart_element_s (the first chart's element arrived, before
    Plotly drew it) and second_visit_s (a second browser page, server and caches warm: from opening the
    app's address to the first figure of the same page)."""
    if not os.path.exists(CHROMIUM):
        return {"first_figure_s": None, "reason": f"Chromium not found at {CHROMIUM}"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"first_figure_s": None, "reason": "Playwright for Python is not installed"}
    print("first_figure_s: streamlit run app.py + Chromium", file=sys.stderr)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(timeout_s * 1000)
        t0 = time.perf_counter()
        proc = _start_server(port, device)
        try:
            why = _wait_healthy(proc, url, timeout_s)
            if why:
                return {"first_figure_s": None, "reason": why}
            ready = time.perf_counter() - t0
            page.goto(url)  # as a user does: the app's address, then the page's link in the sidebar
            link = page.locator(f"[data-testid='stSidebarNav'] a[href$='/{slug}']").first
            link.wait_for()
            link.click()
            page.wait_for_selector("[data-testid='stPlotlyChart']")
            element = time.perf_counter() - t0  # the server's first chart reached the browser
            page.wait_for_selector(FIGURE)
            first = time.perf_counter() - t0
            page2 = browser.new_page(viewport={"width": 1400, "height": 1000})  # a second visitor, server warm
            t1 = time.perf_counter()
            page2.goto(url)
            link = page2.locator(f"[data-testid='stSidebarNav'] a[href$='/{slug}']").first
            link.click()
            page2.wait_for_selector(FIGURE)
            warm = time.perf_counter() - t1
            return {"first_figure_s": round(first, 2), "server_ready_s": round(ready, 2),
                    "first_chart_element_s": round(element, 2), "second_visit_s": round(warm, 2), "reason": None}
        except Exception as e:
            return {"first_figure_s": None, "reason": f"{type(e).__name__}: {str(e)[:300]}"}
        finally:
            browser.close()
            _stop(proc)


def _start_server(port: int, device: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`streamlit run app.py` on `port`; `env`: variables added to this process's environment."""
    env = dict(os.environ, **(env or {}))
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--global.developmentMode", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def missing() -> str | None:
    """Why a browser figure cannot be measured here (Chromium or Playwright absent), or None."""
    if not os.path.exists(CHROMIUM):
        return f"Chromium not found at {CHROMIUM}"
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed"
    return None


def with_page(out: dict, measure_page, device: str = "cpu", env: dict[str, str] | None = None,
              timeout_s: float = 600.0) -> dict:
    """A `streamlit run app.py` of its own (127.0.0.1, stopped after), one Chromium page of 1400 × 1000 with
    `timeout_s` as its default timeout, and `measure_page(page, url)` filling `out`. What goes wrong is written to
    out["reason"], never raised; returns `out`."""
    why = missing()
    if why:
        out["reason"] = why
        return out
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_server(port, device, env=env)
    try:
        why = _wait_healthy(proc, url, 120)
        if why:
            out["reason"] = why
            return out
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            try:
                page = chromium.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(timeout_s * 1000)
                measure_page(page, url)
            except Exception as e:
                out["reason"] = f"{type(e).__name__}: {str(e)[:300]}"
            finally:
                chromium.close()
    finally:
        _stop(proc)
    return out


def _wait_healthy(proc: subprocess.Popen, url: str, limit_s: float) -> str | None:
    """Wait until the server at `url` answers its health check: None, or why it never did."""
    t0 = time.perf_counter()
    while not _healthy(url):
        if proc.poll() is not None:
            return "streamlit exited: " + proc.stderr.read()[-500:]
        if time.perf_counter() - t0 > limit_s:
            return f"streamlit did not answer within {limit_s:.0f} s"
        time.sleep(0.05)
    return None


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _wait_idle(page) -> None:
    """As tests/browser.py wait_idle: connected, script not running, no skeletons left."""
    page.wait_for_timeout(210)
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
    page.wait_for_function("() => document.querySelectorAll(\"[data-testid='stSkeleton']\").length === 0")


def _open(page, url: str, slug: str) -> None:
    """The app's address, then the page's link in the sidebar, as a user does; then idle."""
    page.goto(url)
    _wait_idle(page)
    page.locator(f"[data-testid='stSidebarNav'] a[href$='/{slug}']").first.click()
    page.wait_for_url(re.compile(rf"/{slug}(\?|$)"))  # the page keeps its view in the query
    page.wait_for_selector(FIGURE)  # every page draws a chart: its first run got that far
    _wait_idle(page)
    page.evaluate(OBSERVER_JS)


def _timed(page, act, timeout_ms: float) -> float | None:
    """ms from just before `act()` to the second paint after the rerun it caused; None if no rerun came."""
    t0 = page.evaluate("() => performance.now()")
    act()
    try:
        handle = page.wait_for_function(SETTLED_JS, arg=t0, timeout=timeout_ms, polling=10)
    except Exception:  # Playwright's TimeoutError: the action changed nothing the server heard of
        return None
    ms = handle.json_value()
    _wait_idle(page)  # nothing left running before the next change
    _check_no_exception(page)
    return round(float(ms), 1)


def _slider(page, key: str):
    """The head control's slider: `.st-key-<key> [role='slider']`, by its ARIA role. Streamlit 1.67 draws a slider
    as an <input type="range">, whose role is implicit (no role attribute), so Playwright's role locator is used;
    an element with an explicit role="slider" (older Streamlit, BaseWeb) matches it too."""
    return page.locator(f".st-key-{key}").get_by_role("slider")


def _at_end(slider) -> bool:
    now = slider.get_attribute("aria-valuenow") or slider.input_value()
    top = slider.get_attribute("aria-valuemax") or slider.get_attribute("max")
    try:
        return float(now) >= float(top)
    except (TypeError, ValueError):
        return False


def _slider_changes(page, key: str, repeats: int, timeout_ms: float) -> list[float | None]:
    slider = _slider(page, key).first
    out = []
    for _ in range(repeats):
        slider.scroll_into_view_if_needed()
        if _at_end(slider):  # at the end: back to the start first (not timed)
            slider.focus()
            slider.press("Home")
            _wait_idle(page)
        slider.focus()
        out.append(_timed(page, lambda: slider.press("ArrowRight"), timeout_ms))
    return out


def _grid_clicks(page, key: str, repeats: int, timeout_ms: float) -> list[float | None]:
    area = page.locator(f".st-key-{key} .nsewdrag").first
    out = []
    done = getattr(page, "_atlas_clicks", 0)  # clicks made on this page so far: each click lands on a new patch
    for i in range(done, done + repeats):
        page._atlas_clicks = i + 1
        area.scroll_into_view_if_needed()
        bb = area.bounding_box()
        # Row and column both change from one click to the next (a click on the patch already chosen changes nothing).
        fx, fy = 0.1 + 0.8 * ((i * 3) % 9) / 8, 0.1 + 0.8 * (i % 9) / 8
        x, y = bb["x"] + bb["width"] * fx, bb["y"] + bb["height"] * fy
        page.mouse.move(x, y)
        page.wait_for_timeout(150)  # Plotly needs a hover before the click selects a point
        out.append(_timed(page, lambda: page.mouse.click(x, y), timeout_ms))
    return out


class PageBroke(Exception):
    """The page showed Streamlit's exception box after a change: no time is reported for it."""


def _check_no_exception(page) -> None:
    box = page.locator("[data-testid='stException']")
    if box.count():
        raise PageBroke("the page showed an exception: " + " ".join(box.first.inner_text().split())[:200])


def _summary(key: str, runs: list[float | None]) -> dict:
    done = [r for r in runs if r is not None]
    if not done:
        return {"key": key, "median_ms": None, "runs_ms": runs, "status": "no rerun after the change"}
    return {"key": key, "median_ms": round(statistics.median(done), 1), "runs_ms": runs,
            "status": "ok" if len(done) == len(runs) else f"{len(runs) - len(done)} changes caused no rerun"}


def _row(page, key: str, found: bool, changes, repeats: int, timeout_ms: float) -> dict:
    """One control measured: a warm-up change (the first view of a head builds its figures), then `repeats`."""
    if not found:
        return {"key": key, "median_ms": None, "runs_ms": [], "status": "control not found"}
    try:
        changes(page, key, 1, timeout_ms)
        return _summary(key, changes(page, key, repeats, timeout_ms))
    except Exception as e:  # a page that breaks is reported (PageBroke: its exception box), the others still run
        status = str(e) if isinstance(e, PageBroke) else f"{type(e).__name__}: {str(e)[:200]}"
        return {"key": key, "median_ms": None, "runs_ms": [], "status": status}


def measure_view_changes(url: str, browser, repeats: int, timeout_s: float = 120.0) -> dict:
    """{slug: {"key", "median_ms", "runs_ms", "status"}} for every page of VIEW_CONTROLS, and "vit_patch_click"."""
    out: dict = {}
    timeout_ms = timeout_s * 1000
    for slug, key in VIEW_CONTROLS.items():
        print(f"view_change_ms: {slug} ({key})", file=sys.stderr)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(timeout_ms)
        try:
            _open(page, url, slug)
        except Exception as e:
            out[slug] = {"key": key, "median_ms": None, "runs_ms": [],
                         "status": f"page did not open: {type(e).__name__}: {str(e)[:200]}"}
            page.close()
            continue
        try:
            out[slug] = _row(page, key, _slider(page, key).count() > 0, _slider_changes, repeats, timeout_ms)
            if slug == "vit":
                _open(page, url, slug)  # afresh: the click is measured on the page as it opens
                found = page.locator(f".st-key-{PATCH_GRID_KEY} .nsewdrag").count() > 0
                out["vit_patch_click"] = _row(page, PATCH_GRID_KEY, found, _grid_clicks, repeats, timeout_ms)
        finally:
            page.close()
    return out


def measure_all(device: str, repeats: int = 9, timeout_s: float = 120.0, first_figure: bool = True) -> dict:
    """first_figure_s (a cold server of its own), then view_change_ms against a second server, warmed page by page."""
    if not os.path.exists(CHROMIUM):
        return {"first_figure_s": None, "reason": f"Chromium not found at {CHROMIUM}", "view_change": None}
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        return {"first_figure_s": None, "reason": "Playwright for Python is not installed", "view_change": None}
    if first_figure:
        first = measure(device, timeout_s)
    else:
        first = {"first_figure_s": None, "reason": "not measured with --quick (a cold start of its own)"}
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_server(port, device)
    try:
        why = _wait_healthy(proc, url, timeout_s)
        if why:
            first["view_change"] = None
            first["view_change_reason"] = why
            return first
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            try:
                first["view_change"] = measure_view_changes(url, browser, repeats, timeout_s)
            finally:
                browser.close()
    finally:
        _stop(proc)
    return first
