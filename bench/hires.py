"""The high-resolution ViT figures (issue 14): every head of a ViT at 5,000+ tokens, through the page a user opens.

page_path: the ViT page (AppTest, in a child process of its own, like bench/memory.py) opened from a link with random
  weights (no Hub here; weights do not change memory or bytes): `vit_weights=random`, `vit_model=<name>`,
  `vit_size=<px>`, the default image (the first sample photo). Rows: vit_small_patch14_dinov2 and
  vit_small_patch14_reg4_dinov2 at 1,036 px (74 × 74 patches of 14 px: 5,477 and 5,481 tokens, 12 layers × 6 heads),
  and vit_small_patch14_dinov2 at 518 px, its own size (1,370 tokens). For each: the peak resident memory of the
  child (VmHWM from /proc/self/status: its own address space's high-water mark over the whole child, the imports,
  the model built at that size, the run, every figure the page builds and serialises on opening, then one layer
  change and one head change; not ru_maxrss, which Linux carries over from a parent across exec), with the peak after
  each step; the bytes the page sends as it opens (bench.pages.page_bytes: every st.plotly_chart's JSON spec and
  config and every st.image's bytes); the size the page's vit_size control shows (the run is checked to be at the
  size asked: a page that ignored the link's size would give smaller figures, reported with a reason, goal unmet);
  the tokens vision.cost gives for that size; errors and warnings; the whole-script AppTest rerun after that layer
  and that head change (the server's side; the browser reruns the fragments only).
browser: Chromium against `streamlit run app.py` (bench/browser.py's helpers), server fresh: open
  /vit?vit_weights=random&vit_model=vit_small_patch14_dinov2&vit_size=1036 by its address, wait until idle with a
  figure drawn (open_s), then view_change_ms: focus the vit_layer select_slider and press ArrowRight (and the same
  on vit_head): from the key press to the script state going running then notRunning and two animation frames
  painted; one warm-up change each, then the median of the repeats, with the page's own stamps split into the
  script's run (server_ms) and the paint after it (paint_ms). Then first_figure_after_upload_s on that open page:
  choose "upload" in the Image radio (untimed; the page then shows no chart: checked), then hand the uploader's
  <input type=file> a 2,000 × 2,000 px JPEG (the first sample photo enlarged with Lanczos, quality 90, written to a
  temporary folder); the clock runs from just before Playwright sets the file to the first
  `[data-testid='stPlotlyChart'] .js-plotly-plot` in the page (Plotly has drawn that chart) and two animation
  frames after it, i.e. the browser sending the file, the server decoding it, preprocessing, the model's run at
  1,036 px (built at that size when the page opened: cached) and the page's script up to its first chart, and the
  browser drawing it. upload_to_idle_s: the same clock to the whole page idle (every figure).
With --quick: tiny stand-ins keep the harness working, their timings not figures: vit_tiny_patch16_224 at 384 px
  (577 tokens) in place of both 1,036-px rows and in the browser, and at 224 px (its own size) for the own-size row.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
HIRES_MODELS = ("vit_small_patch14_dinov2", "vit_small_patch14_reg4_dinov2")
HIRES_SIZE = 1036
OWN_MODEL, OWN_SIZE = "vit_small_patch14_dinov2", 518
BROWSER_MODEL = "vit_small_patch14_dinov2"
QUICK_MODEL, QUICK_SIZE, QUICK_OWN_SIZE = "vit_tiny_patch16_224", 384, 224
PHOTO_PX = 2000
GOAL_RSS_MB = 2500
GOAL_OWN_RSS_MB = 1200
GOAL_BYTES = 5_000_000
GOAL_VIEW_MS = 300
GOAL_UPLOAD_S = 20


def row_name(model: str, size: int) -> str:
    return f"{model} @ {size} px"


# ------------------------------------------------------------------------------------------------ the page path
CHILD = r"""
import json, resource, sys, time
from bench.pages import hwm_mb
import torch
torch.set_num_threads(int(sys.argv[4]))
from streamlit.testing.v1 import AppTest
from bench.pages import page_bytes
model, size = sys.argv[2], int(sys.argv[3])
at = AppTest.from_file(sys.argv[1], default_timeout=1800)
at.query_params["vit_weights"] = "random"
at.query_params["vit_model"] = model
at.query_params["vit_size"] = str(size)
at.run()
steps = {"home": hwm_mb()}
t0 = time.perf_counter()
at.switch_page("views/vit.py").run()
opened = time.perf_counter() - t0
steps["page_opened"] = hwm_mb()
errors = [e.message for e in at.exception] + [e.value for e in at.error]
sizes = page_bytes(at)
shown = None
try:
    shown = at.selectbox(key="vit_size").value
except Exception:
    pass
sample = None
try:
    sample = at.selectbox(key="vit_sample").value
except Exception:
    pass
reruns = {}
if not errors:
    for key in ("vit_layer", "vit_head"):
        try:
            slider = at.select_slider(key=key)
        except Exception:
            reruns[key] = None
            continue
        n = len(slider.options)
        slider.set_value(1 + (int(slider.value) % n))  # the next one (layers and heads count from 1), as ArrowRight
        t = time.perf_counter()
        at.run()
        reruns[key] = round((time.perf_counter() - t) * 1e3, 1)
        steps[f"after_{key}_change"] = hwm_mb()
    errors += [e.message for e in at.exception]
peak = hwm_mb()
maxrss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps({
    "peak_rss_mb": peak if peak is not None else maxrss,
    "peak_rss_from": "VmHWM" if peak is not None else "ru_maxrss",
    "ru_maxrss_mb": maxrss,
    "peak_rss_mb_after": steps,
    "page": sizes,
    "size_shown": shown,
    "image": sample,
    "rerun_ms": reruns,
    "open_s": round(opened, 2),
    "warnings": [w.value[:200] for w in at.warning],
    "errors": errors,
}))
"""


def page_path(model: str, size: int, threads: int) -> dict:
    """One row of page_path (see the module's docstring): peak_rss_mb, page_bytes and what they were measured on."""
    from models.capture import vision

    print(f"hires page_path: ViT page, {model} at {size} px, AppTest child", file=sys.stderr)
    geo = vision.geometry(model)
    out: dict = {"model": model, "size": size, "tokens": vision.cost(geo, size)["tokens"] if geo else None}
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT / "app.py"), model, str(size), str(threads)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
        )
    except subprocess.TimeoutExpired:
        out.update(peak_rss_mb=None, page_bytes=None, reason="the child ran past 1,800 s")
        return out
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        out.update(peak_rss_mb=None, page_bytes=None, reason=proc.stderr[-800:])
        return out
    found = json.loads(lines[-1])
    out.update(found)
    out["page_bytes"] = found["page"]["total_bytes"]
    out["charts"] = found["page"]["charts"]
    reasons = []
    if found["errors"]:
        reasons.append("the page showed errors: " + "; ".join(found["errors"])[:300])
    if found["size_shown"] != size:
        reasons.append(f"the page ran at {found['size_shown']} px, not the link's {size} px (no vit_size control, "
                       f"or the link's value refused)")
    if reasons:
        out["reason"] = " ".join(reasons)
        out["peak_rss_mb"] = out["page_bytes"] = None  # not the figure asked for: never judged as if it were
        out["measured"] = {"peak_rss_mb": found["peak_rss_mb"], "page_bytes": found["page"]["total_bytes"]}
    return out


# ------------------------------------------------------------------------------------------------ the browser
def large_photo(folder: pathlib.Path, px: int = PHOTO_PX) -> pathlib.Path:
    """The first sample photo enlarged to px × px (Lanczos), as a JPEG (quality 90): a large photo to upload."""
    from PIL import Image

    from models.runtime import images

    source = next(iter(images.SAMPLES.values()))
    with Image.open(source) as img:
        big = img.convert("RGB").resize((px, px), Image.LANCZOS)
    path = folder / f"photo-{px}px.jpg"
    big.save(path, "JPEG", quality=90)
    return path


SHOWN_JS = "e => [e.innerText, ...[...e.querySelectorAll('input')].map(i => i.value)].join(' ')"
PAINTED_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


def browser_figures(model: str, size: int, repeats: int, timeout_s: float = 900.0) -> dict:
    """view_change (vit_layer, vit_head) and first_figure_after_upload_s on /vit at `size` px; or a reason."""
    from bench import browser
    from bench.language import _split

    query = urllib.parse.urlencode({"vit_weights": "random", "vit_model": model, "vit_size": size})
    out: dict = {"model": model, "size": size, "address": f"/vit?{query}"}
    if not browser.missing():
        print(f"hires browser: Chromium, /vit with {model} at {size} px", file=sys.stderr)
    timeout_ms = timeout_s * 1000

    def measure_page(page, url: str) -> None:
        with tempfile.TemporaryDirectory(prefix="atlas-bench-hires-") as tmp:
            photo = large_photo(pathlib.Path(tmp))
            out["photo"] = f"{PHOTO_PX} × {PHOTO_PX} px JPEG, {photo.stat().st_size:,} bytes"
            t1 = time.perf_counter()
            page.goto(f"{url}/vit?{query}")
            page.wait_for_selector(browser.FIGURE)
            browser._wait_idle(page)
            out["open_s"] = round(time.perf_counter() - t1, 2)
            browser._check_no_exception(page)
            shown = page.locator(".st-key-vit_size").first  # its label and the option shown (an input's value)
            out["size_shown"] = " ".join(shown.evaluate(SHOWN_JS).split())[:160] if shown.count() else None
            if not out["size_shown"] or f"{size} px" not in out["size_shown"]:
                out["reason"] = f"the page does not show {size} px in its vit_size control: {out['size_shown']}"
                return
            page.evaluate(browser.OBSERVER_JS)
            for key in ("vit_layer", "vit_head"):
                found = browser._slider(page, key).count() > 0
                t_key = page.evaluate("() => performance.now()")
                out[key] = browser._row(page, key, found, browser._slider_changes, repeats, timeout_ms)
                out[key].update(_split(page.evaluate("() => window.__atlasStates"), t_key))
            out["upload"] = _upload(page, photo, timeout_ms)

    return browser.with_page(out, measure_page, "cpu", timeout_s=timeout_s)


def _upload(page, photo: pathlib.Path, timeout_ms: float) -> dict:
    from bench import browser
    from ui.vision import IMAGE_SOURCES

    page.locator(".st-key-vit_image_source [role='radiogroup'] label").nth(IMAGE_SOURCES.index("upload")).click()
    browser._wait_idle(page)
    left = page.locator(browser.FIGURE).count()
    if left:
        return {"first_figure_after_upload_s": None,
                "reason": f"{left} charts still shown after choosing upload: a new one could not be told apart"}
    uploader = page.get_by_test_id("stFileUploaderDropzoneInput").first
    t0 = time.perf_counter()
    uploader.set_input_files(str(photo))
    page.wait_for_selector(browser.FIGURE, timeout=timeout_ms)
    page.evaluate(PAINTED_JS)
    first = time.perf_counter() - t0
    browser._wait_idle(page)
    idle = time.perf_counter() - t0
    browser._check_no_exception(page)
    return {"first_figure_after_upload_s": round(first, 2), "upload_to_idle_s": round(idle, 2),
            "charts": page.locator(browser.FIGURE).count(), "reason": None}


# ------------------------------------------------------------------------------------------------ the part
def measure(quick: bool, threads: int) -> dict:
    if quick:
        hires = [(QUICK_MODEL, QUICK_SIZE)]
        own = (QUICK_MODEL, QUICK_OWN_SIZE)
        model, size, repeats = QUICK_MODEL, QUICK_SIZE, 2
    else:
        hires = [(m, HIRES_SIZE) for m in HIRES_MODELS]
        own = (OWN_MODEL, OWN_SIZE)
        model, size, repeats = BROWSER_MODEL, HIRES_SIZE, 9
    out: dict = {"page": {row_name(m, s): page_path(m, s, threads) for m, s in hires}}
    out["own_size"] = {row_name(*own): page_path(*own, threads)}
    out["browser"] = browser_figures(model, size, repeats)
    return out


def summary(found: dict) -> dict:
    """The top-level figures of the hires part (bench/__main__.py puts them beside the others)."""
    b = found.get("browser") or {}
    upload = b.get("upload") or {}
    return {
        "hires_peak_rss_mb": {k: v.get("peak_rss_mb") for k, v in found["page"].items()},
        "hires_page_bytes": {k: v.get("page_bytes") for k, v in found["page"].items()},
        "hires_own_size_peak_rss_mb": {k: v.get("peak_rss_mb") for k, v in found["own_size"].items()},
        "hires_view_change_ms": {k: (b.get(k) or {}).get("median_ms") for k in ("vit_layer", "vit_head")},
        "hires_first_figure_after_upload_s": upload.get("first_figure_after_upload_s"),
    }


def goals_met(results: dict) -> dict:
    """A figure that could not be measured (None) does not meet its goal."""
    def every(key, goal):
        values = (results.get(key) or {}).values()
        return bool(values) and all(v is not None and v <= goal for v in values)

    met = {}
    if results.get("hires_peak_rss_mb") is not None:
        met["hires_peak_rss_mb"] = every("hires_peak_rss_mb", GOAL_RSS_MB)
        met["hires_page_bytes"] = every("hires_page_bytes", GOAL_BYTES)
        met["hires_own_size_peak_rss_mb"] = every("hires_own_size_peak_rss_mb", GOAL_OWN_RSS_MB)
        met["hires_view_change_ms"] = every("hires_view_change_ms", GOAL_VIEW_MS)
        v = results.get("hires_first_figure_after_upload_s")
        met["hires_first_figure_after_upload_s"] = v is not None and v <= GOAL_UPLOAD_S
    return met
