"""End to end in a real browser: `streamlit run app.py` on a loopback port, driven by Playwright + Debian's Chromium.

Every page is opened, text typed, a sample photo and a hostile file uploaded; after each step the test waits until the
app is idle and asserts that Plotly charts rendered, that no Streamlit exception box showed and that the browser
logged no error. A screenshot of every page goes to screenshots/ (or $SCREENSHOT_DIR).
Without Chromium or Playwright the suite is skipped with the reason, never passed silently.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import ROOT, SAMPLES

pytestmark = pytest.mark.browser

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
RUN_TIMEOUT_MS = 120_000  # a cold page on 2 CPU cores imports torch and loads a model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser suite cannot run")
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    port = _free_port()
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
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


@pytest.fixture(scope="module")
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
    pg.wait_for_url(f"**/{slug}")


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


def test_home(page, server):
    page.goto(server)
    check(page, "home", min_plots=0)
    assert "Attention Atlas" in page.inner_text("body")


def test_encoder_decoder_page(page, server):
    open_page(page, server, "encoder_decoder")
    check(page, "encoder_decoder")
    assert page.locator("[data-testid='stPlotlyChart']").count() == 3  # lazy tabs: only "One head" is drawn
    page.get_by_role("tab", name="Layers × heads").click()  # a tab's content runs when it is opened
    wait_idle(page)
    page.get_by_text("Every layer (rows) and head (columns)").wait_for()
    check(page, "encoder_decoder_overview", min_plots=3)
    page.get_by_role("tab", name="One head").click()
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
