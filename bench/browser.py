"""first_figure_s: from `streamlit run app.py` (cold: a new process) to the first attention figure drawn in Chromium.

Chromium is launched before the clock starts (a user's browser is already open). The clock runs from
starting the server process, through its start-up, the page's first run (imports, loading the demo
checkpoint, decoding) and the browser drawing the first `[data-testid='stPlotlyChart'] .js-plotly-plot`
of the encoder–decoder page (opened by its address).
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

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
FIGURE = "[data-testid='stPlotlyChart'] .js-plotly-plot"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok"
    except OSError:
        return False


def measure(device: str, timeout_s: float = 120.0) -> dict:
    """{"first_figure_s": seconds or None, "reason": why None, ...}.

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
    env = dict(os.environ)
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(timeout_s * 1000)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
             "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--global.developmentMode", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            while not _healthy(url):
                if proc.poll() is not None:
                    return {"first_figure_s": None, "reason": "streamlit exited: " + proc.stderr.read()[-500:]}
                if time.perf_counter() - t0 > timeout_s:
                    return {"first_figure_s": None, "reason": f"streamlit did not answer within {timeout_s:.0f} s"}
                time.sleep(0.05)
            ready = time.perf_counter() - t0
            page.goto(url)  # as a user does: the app's address, then the page's link in the sidebar
            link = page.locator("[data-testid='stSidebarNav'] a[href$='/encoder_decoder']").first
            link.wait_for()
            link.click()
            page.wait_for_selector("[data-testid='stPlotlyChart']")
            element = time.perf_counter() - t0  # the server's first chart reached the browser
            page.wait_for_selector(FIGURE)
            first = time.perf_counter() - t0
            page2 = browser.new_page(viewport={"width": 1400, "height": 1000})  # a second visitor, server warm
            t1 = time.perf_counter()
            page2.goto(url)
            link = page2.locator("[data-testid='stSidebarNav'] a[href$='/encoder_decoder']").first
            link.click()
            page2.wait_for_selector(FIGURE)
            warm = time.perf_counter() - t1
            return {"first_figure_s": round(first, 2), "server_ready_s": round(ready, 2),
                    "first_chart_element_s": round(element, 2), "second_visit_s": round(warm, 2), "reason": None}
        except Exception as e:
            return {"first_figure_s": None, "reason": f"{type(e).__name__}: {str(e)[:300]}"}
        finally:
            browser.close()
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
