"""The real-browser harness: `streamlit run app.py` on a loopback port, driven by Playwright + Debian's Chromium.

One server and one browser serve every browser test of a pytest run (session fixtures, registered in conftest.py);
each test gets a fresh page. Helpers: open a page from the sidebar as a user does, wait until the app is idle, check
that charts rendered with no exception box and no console error (and take a screenshot), pick in a multiselect or a
selectbox by typing, click a chart with a real mouse click at a place in its plot area. Without Chromium or
Playwright the tests are skipped with the reason.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
SHOTS = pathlib.Path(os.environ.get("SCREENSHOT_DIR", ROOT / "screenshots"))
# The server's ATLAS_WEIGHTS_DIR: tests put small random transformers models there for the language page.
WEIGHTS = pathlib.Path(tempfile.gettempdir()) / f"atlas-browser-weights-{os.getpid()}"
RUN_TIMEOUT_MS = 120_000  # a cold page on 2 CPU cores imports torch and loads a model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser suite cannot run")
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    port = _free_port()
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", ATLAS_WEIGHTS_DIR=str(WEIGHTS))
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
            "--server.fileWatcherType", "none",
        ],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read() if proc.poll() is not None else ""
                pytest.fail(f"streamlit did not start: {out[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(WEIGHTS, ignore_errors=True)


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(RUN_TIMEOUT_MS)
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    pg.errors = errors
    try:
        yield pg
    finally:
        ctx.close()


def wait_idle(pg) -> None:
    """As Streamlit's own e2e tests: connected, script not running, no skeletons left."""
    pg.wait_for_timeout(210)
    pg.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    pg.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
    pg.wait_for_function("() => document.querySelectorAll(\"[data-testid='stSkeleton']\").length === 0")


def check(pg, name: str, min_plots: int = 1) -> None:
    wait_idle(pg)
    if min_plots:
        pg.wait_for_selector("[data-testid='stPlotlyChart'] .js-plotly-plot")
        assert pg.locator("[data-testid='stPlotlyChart'] .js-plotly-plot").count() >= min_plots
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    exceptions = pg.locator("[data-testid='stException']")
    assert exceptions.count() == 0, exceptions.first.inner_text()
    assert not pg.errors, pg.errors


def open_page(pg, server: str, slug: str) -> None:
    """Open the app at its root and follow the sidebar link, as a user does. (A deep link first probes
    /<page>/_stcore/health, which answers 404 and logs a console error before Streamlit falls back.)"""
    pg.goto(server)
    wait_idle(pg)
    pg.locator(f"[data-testid='stSidebarNav'] a[href$='/{slug}']").first.click()
    pg.wait_for_url(re.compile(rf"/{slug}(\?|$)"))  # the page keeps its view in the query


def type_text(pg, value: str) -> None:
    box = pg.locator("[data-testid='stTextArea'] textarea, [data-testid='stTextInput'] input").first
    box.fill(value)
    box.press("Control+Enter" if box.evaluate("e => e.tagName") == "TEXTAREA" else "Enter")


def upload(pg, path: pathlib.Path) -> None:
    uploader = pg.get_by_test_id("stFileUploaderDropzoneInput")
    if uploader.count() == 0:  # the vision pages start on a sample photo: choose "upload" first
        pg.locator("[data-testid='stRadio'] label").filter(has_text="upload").first.click()
        wait_idle(pg)
    pg.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(path))


def multiselect_type(pg, key: str, values) -> None:
    """Pick `values` in the Streamlit multiselect whose key is `key` with the keyboard, as a user does: click into
    the box, type each value and press Enter (the list filters as one types; Enter takes the first match), then
    Escape to close the list; waits until the app is idle."""
    box = pg.locator(f".st-key-{key} input").first
    for value in values:
        box.click()
        box.type(value)
        pg.keyboard.press("Enter")
    pg.keyboard.press("Escape")
    wait_idle(pg)


def select_type(pg, key: str, text: str) -> None:
    """Choose in the Streamlit selectbox whose key is `key` by typing: click it, type `text` (its list filters as
    one types), press Enter for the first match; waits until the app is idle."""
    box = pg.locator(f".st-key-{key} input").first
    box.click()
    box.type(text)
    pg.keyboard.press("Enter")
    wait_idle(pg)


def plot_area(pg, key: str):
    """The bounding box of the plot area of the chart whose Streamlit key is `key` (Plotly's drag layer)."""
    area = pg.locator(f".st-key-{key} .nsewdrag").first
    area.wait_for()
    area.scroll_into_view_if_needed()
    return area.bounding_box()


def click_chart(pg, key: str, fx: float, fy: float) -> None:
    """A real mouse click at (fx, fy) of the plot area (fractions from its top-left corner), then wait for idle.

    This is what a user does; the page then receives the selection payload that Chromium really sends."""
    bb = plot_area(pg, key)
    pg.mouse.move(bb["x"] + bb["width"] * fx, bb["y"] + bb["height"] * fy)
    pg.wait_for_timeout(150)  # Plotly needs a hover before the click selects a point
    pg.mouse.click(bb["x"] + bb["width"] * fx, bb["y"] + bb["height"] * fy)
    wait_idle(pg)


def data_fraction(pg, key: str, trace: int, index: int) -> tuple[float, float]:
    """Where point `index` of trace `trace` of chart `key` is, as fractions of the plot area (its own axes)."""
    return tuple(pg.evaluate(
        """([key, t, i]) => {
            const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, d = gd._fullData[t];
            const x = d.x[i], y = d.y[i];
            return [xa.l2p(x) / xa._length, ya.l2p(y) / ya._length];
        }""",
        [key, trace, index],
    ))
