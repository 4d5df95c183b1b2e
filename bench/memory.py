"""peak_rss_mb: peak resident memory of a child process that runs a 518-pixel ViT through the ViT page's path.

The child runs the ViT page itself with AppTest (weights "random", model vit_small_patch14_dinov2: 518 px,
14-pixel patches, 37 × 37 + 1 = 1,370 tokens, 12 layers × 6 heads), i.e. vision.load, vision.run and every
figure builder and serialisation the page makes, then reports its own peak resident memory: VmHWM from
/proc/self/status (the high-water mark of the child's own address space). Not ru_maxrss: Linux carries a parent's
ru_maxrss over into a child across exec, so a child started by a big bench process (or a test run) would report the
parent's peak; ru_maxrss is reported beside it (ru_maxrss_mb), and used only where /proc is missing.
"""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODEL = "vit_small_patch14_dinov2"  # timm's default img_size for it is 518
QUICK_MODEL = "vit_tiny_patch16_224"

CHILD = r"""
import json, re, resource, sys
from bench.pages import hwm_mb
import torch
torch.set_num_threads(int(sys.argv[3]))
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=600).run()
at.switch_page("views/vit.py").run()
at.radio(key="vit_weights").set_value("random").run()
at.selectbox(key="vit_model").set_value("other timm model…").run()
at.text_input(key="vit_model_other").set_value(sys.argv[2]).run()
errors = [e.message for e in at.exception] + [e.value for e in at.error]
found = [re.search(r"(\d+) tokens, indexed from 0", m.value) for m in at.markdown]  # section 1
peak = hwm_mb()
maxrss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps({
    "peak_rss_mb": peak if peak is not None else maxrss,
    "peak_rss_from": "VmHWM" if peak is not None else "ru_maxrss",
    "ru_maxrss_mb": maxrss,
    "tokens": next((int(m.group(1)) for m in found if m), None),
    "charts": len(at.get("plotly_chart")),
    "errors": errors,
}))
"""


def measure(quick: bool, threads: int) -> dict:
    model = QUICK_MODEL if quick else MODEL
    print(f"peak_rss_mb: ViT page with {model} in a child process", file=sys.stderr)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT / "app.py"), model, str(threads)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"peak_rss_mb": None, "model": model, "reason": proc.stderr[-500:]}
    out = json.loads(lines[-1])
    out["model"] = model
    if out["errors"]:
        out["reason"] = "the page showed errors: " + "; ".join(out["errors"])[:300]
    return out

