"""rerender_ms and the bytes a page sends, measured on the real pages with Streamlit's AppTest.

A rerun after a view change (another layer or head) executes the whole page script, as the server does:
widgets, cached calls (the model result comes from st.cache_resource), every figure builder, and
plotly.io.to_json of each figure (Streamlit's own serialisation in st.plotly_chart). AppTest adds its
own bookkeeping, so the figures here are an upper bound of the server's work; the browser's drawing
is not included (see first_figure_s for a real browser).

Bytes: every st.plotly_chart sends its figure as one JSON string (proto.spec) plus a small config;
st.image sends its bytes separately. A page's bytes are the sum of both over the page.
"""
from __future__ import annotations

import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
OVERVIEW_TITLE = "Every layer × head"  # the ViT page's overview figure starts its title with this


def _open(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=600).run()
    at.switch_page(page).run()
    _check(at, page)
    return at


def _check(at, what: str) -> None:
    if at.exception:
        raise RuntimeError(f"{what}: {at.exception[0].message}")


def _chart_bytes(chart) -> int:
    return len(chart.proto.spec.encode()) + len(chart.proto.config.encode())


def _image_bytes(at) -> int:
    from streamlit.runtime import Runtime

    total = 0
    try:
        manager = Runtime.instance().media_file_mgr
    except Exception:
        manager = None
    for img in at.get("imgs"):
        for item in img.proto.imgs:
            url = item.url
            data = None
            if manager is not None and url.startswith("/media/"):
                try:
                    data = manager._storage.get_file(url.split("/")[-1].split(".")[0]).content
                except Exception:
                    data = None
            total += len(data) if data is not None else len(url.encode())
    return total


def page_bytes(at) -> dict:
    charts = at.get("plotly_chart")
    sizes = [_chart_bytes(c) for c in charts]
    images = _image_bytes(at)
    return {"charts": len(charts), "chart_bytes": sum(sizes), "image_bytes": images,
            "total_bytes": sum(sizes) + images, "largest_chart_bytes": max(sizes, default=0)}


def _title(chart) -> str:
    layout = json.loads(chart.proto.spec).get("layout", {})
    title = layout.get("title")
    return str(title.get("text", "") if isinstance(title, dict) else title or "")


def _rerender(at, changes: list[tuple[str, str, object]], page: str) -> list[float]:
    """Seconds of each rerun after setting one widget (kind, key, value)."""
    times = []
    for kind, key, value in changes:
        widget = getattr(at, kind)(key=key)
        value = value(widget) if callable(value) else value  # e.g. an option of a list that depends on the view
        widget.set_value(value)
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        _check(at, f"{page} after {key}={value}")
    return times


def vit_page(quick: bool) -> dict:
    """The ViT page on one sample photo: vit_base_patch16_224 (random weights: no Hub here), or the demo ViT."""
    print("pages: ViT page", file=sys.stderr)
    at = _open("views/vit.py")
    model = "vit_demo (demo weights)"
    if not quick:
        at.radio(key="vit_weights").set_value("random").run()
        at.selectbox(key="vit_model").set_value("vit_base_patch16_224").run()
        _check(at, "ViT page with vit_base_patch16_224")
        model = "vit_base_patch16_224 (random weights)"
    sizes = page_bytes(at)
    overview = [c for c in at.get("plotly_chart") if _title(c).startswith(OVERVIEW_TITLE)]
    n_layers = len(at.select_slider(key="vit_layer").options)  # layers and heads count from 1
    n_heads = len(at.select_slider(key="vit_head").options)
    changes = []
    for i in range(3 if quick else 6):
        changes.append(("select_slider", "vit_layer", 1 + (i * 5) % n_layers))
        changes.append(("select_slider", "vit_head", 1 + (i * 7 + 3) % n_heads))
    times = _rerender(at, changes, "ViT page")
    return {
        "model": model,
        "page": sizes,
        "overview_bytes": _chart_bytes(overview[0]) if overview else None,
        "rerender_ms": round(statistics.median(times) * 1e3, 1),
        "rerender_ms_max": round(max(times) * 1e3, 1),
    }


def swin_page(quick: bool) -> dict:
    print("pages: Swin page", file=sys.stderr)
    at = _open("views/swin.py")
    blocks = len(at.selectbox(key="swin_block").options)
    changes = []
    for i in range(2 if quick else 5):
        changes.append(("selectbox", "swin_block", (i * 5 + 2) % blocks))
        changes.append(("selectbox", "swin_window", lambda w, i=i: (i * 3 + 1) % len(w.options)))
    times = _rerender(at, changes, "Swin page")
    return {"model": "swin_demo (demo weights)", "page": page_bytes(at),
            "rerender_ms": round(statistics.median(times) * 1e3, 1), "rerender_ms_max": round(max(times) * 1e3, 1)}


def encoder_decoder_page(quick: bool) -> dict:
    print("pages: encoder-decoder page", file=sys.stderr)
    at = _open("views/encoder_decoder.py")
    layer_key = "ed_layer" if any(s.key == "ed_layer" for s in at.select_slider) else "ed_enc_layer"
    layers = at.select_slider(key=layer_key).options
    heads = at.select_slider(key="ed_head").options
    changes = []
    for i in range(2 if quick else 5):  # select sliders counted from 1 (their options are strings)
        changes.append(("select_slider", layer_key, int(layers[(i + 1) % len(layers)])))
        changes.append(("select_slider", "ed_head", int(heads[(i * 3 + 1) % len(heads)])))
    times = _rerender(at, changes, "encoder-decoder page")
    return {"task": "default task (demo weights)", "page": page_bytes(at),
            "rerender_ms": round(statistics.median(times) * 1e3, 1), "rerender_ms_max": round(max(times) * 1e3, 1)}


def measure(quick: bool) -> dict:
    return {"vit": vit_page(quick), "swin": swin_page(quick), "encoder_decoder": encoder_decoder_page(quick)}


def hwm_mb() -> float | None:
    """This process's own peak resident memory (VmHWM, MB): the children of bench/memory.py, hires.py and
    language.py report it (ru_maxrss would carry the parent's over across exec)."""
    try:
        with open("/proc/self/status") as f:
            return next(round(int(ln.split()[1]) / 1024, 1) for ln in f if ln.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None
