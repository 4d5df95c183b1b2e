"""models.runtime.memory: after keep_freed_memory(), a capture reuses freed pages instead of faulting in new ones.

Page faults are counted with getrusage (ru_minflt), which does not depend on timing. Each case runs in a
fresh interpreter, since the allocator setting is process-wide.
"""
import json
import os
import statistics
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CHILD = r"""
import json, resource, sys
import torch
torch.set_num_threads(1)
from models.runtime import memory
keep = sys.argv[1] == "keep"
if keep:
    assert memory.keep_freed_memory()
import timm
from models.capture import vision
from models.runtime import images
if not keep:  # load() applies the setting; load the same model without it
    memory._applied = False
import dataclasses
# the path that keeps every map (timm's FX graph: rotary and relative-bias models); plain ViTs keep q and k
m = dataclasses.replace(vision.load("vit_small_patch16_224", "random", "cpu"), lazy=False)
img = images.load_image(next(iter(images.SAMPLES.values())))
faults = []
for _ in range(7):
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    trace = vision.run(m, img)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0)
    del trace
print(json.dumps({"applied": memory._applied, "faults": faults, "attention_pages": 12 * 6 * 197 * 197 * 4 // 4096}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_captures_stop_faulting_in_fresh_pages():
    out = {}
    for mode in ("keep", "default"):
        proc = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    pages = out["keep"]["attention_pages"]
    keep, default = (statistics.median(out[m]["faults"][1:]) for m in ("keep", "default"))  # after the first run
    # kept: every run after the first reuses the last run's pages
    assert keep < pages / 4, out
    # by default a good part of each run's maps usually land on fresh pages (medians of 1,302-2,700 faults for 2,728
    # pages of maps were seen), but glibc's own dynamic mmap threshold sometimes reuses them too (a CI run on
    # 2026-12-02 saw 0 after the second run): the contrast is asserted only where the default did fault
    if default > pages / 4:
        assert keep < default / 4, out


# --- The one bounded model cache (ui.common.MODEL_CACHE_SIZE), through the pages ---------------------------------

MODELS_CHILD = r"""
import gc, json, os, sys
import torch
torch.set_num_threads(1)
from streamlit.testing.v1 import AppTest
from ui import common

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def param_mb(model):
    modules = [model] if isinstance(model, torch.nn.Module) else [
        v for v in vars(model).values() if isinstance(v, torch.nn.Module)]
    seen = {}
    for m in modules:
        for t in list(m.parameters()) + list(m.buffers()):
            seen[id(t)] = t.numel() * t.element_size()
    return sum(seen.values()) / 2**20

at = AppTest.from_file(sys.argv[1], default_timeout=600).run()
steps, sizes = [], {}

def record(label):
    gc.collect()
    for key in common.model_cache().keys():
        if key not in sizes:
            sizes[key] = param_mb(common.model_cache().get(key, lambda: None))
    errors = [e.value for e in at.error] + [str(e.value) for e in at.exception]
    steps.append({"after": label, "rss_mb": round(rss_mb(), 1), "cached": len(common.model_cache()), "errors": errors})

at.switch_page("views/encoder_decoder.py").run()
for task in ("reverse", "dates", "translate"):
    at.radio(key="ed_task").set_value(task).run()
    record(task)
for page, name in json.loads(sys.argv[2]):
    at.switch_page(f"views/{page}.py").run()
    at.radio(key=f"{page}_weights").set_value("random").run()
    at.selectbox(key=f"{page}_model").set_value("other timm model…").run()
    at.text_input(key=f"{page}_model_other").set_value(name).run()
    record(name)
print(json.dumps({"steps": steps, "size": common.MODEL_CACHE_SIZE,
                  "loaded_mb": {"|".join(map(str, k)): round(v, 1) for k, v in sizes.items()}}))
"""

# random-init timm models of several architectures (ViT, DeiT distilled, ViT at 384 px, Swin, Swin V2), loaded
# through the ViT and Swin pages as a user picks them, after the three text demos of the encoder-decoder page
VISION_MODELS = [
    ("vit", "vit_base_patch32_224"), ("swin", "swin_tiny_patch4_window7_224"),
    ("vit", "deit_small_distilled_patch16_224"), ("vit", "vit_base_patch32_384"),
    ("swin", "swinv2_tiny_window8_256"), ("vit", "deit_base_patch16_224"), ("vit", "vit_base_patch16_224"),
    ("vit", "deit3_base_patch16_224"),
]
CACHE_SIZE = 2
KEPT_FREE_MB = 256  # models.runtime.memory.TRIM_THRESHOLD: freed memory the allocator keeps for the next capture
SLACK_MB = 400  # the pages' own bounded caches (6 runs, 512 figures), the allocator's per-thread arenas: runs vary


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_resident_memory_stays_bounded_over_many_models_through_the_pages():
    """Twelve models through the pages (3 text demos, the ViT page's default, 8 chosen timm models, 80 to 350 MB
    of parameters each) with ATLAS_MODEL_CACHE_SIZE=2: resident memory never exceeds

        RSS after the text demos + 2 × 1.25 × (largest model's parameters) + 256 MB kept free + 400 MB,

    i.e. what the two largest models in the cache can hold (1.25: loading copies a model's tensors once
    more), plus the allocator's kept memory (models/runtime/memory.py) and the pages' bounded caches.
    Measured here (2 CPU cores): at most about 1,700 MB against a bound of about 2,150 MB; the same run with an
    unbounded cache ends at about 3,100 MB (every model kept), which this bound refuses. A dropped model's memory
    is handed back to the OS (models.runtime.memory.release_freed_memory); without that, freed parameters stayed
    in the allocator's per-thread arenas and the same run crept up to about 2,060 MB."""
    env = dict(os.environ, ATLAS_MODEL_CACHE_SIZE=str(CACHE_SIZE), CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", MODELS_CHILD, str(ROOT / "app.py"), json.dumps(VISION_MODELS)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    steps = out["steps"]
    assert out["size"] == CACHE_SIZE
    assert not [s for s in steps if s["errors"]], steps
    assert len(out["loaded_mb"]) >= 8, out["loaded_mb"]  # at least 8 different models went through the cache
    assert all(s["cached"] <= CACHE_SIZE for s in steps), steps
    base = steps[2]["rss_mb"]  # after the three text demos: every library imported
    largest = max(out["loaded_mb"].values())
    bound = base + CACHE_SIZE * 1.25 * largest + KEPT_FREE_MB + SLACK_MB
    worst = max(steps[3:], key=lambda s: s["rss_mb"])
    assert worst["rss_mb"] <= bound, (round(bound), worst, steps)
    # the bound has teeth: keeping every model would need more than it allows
    assert sum(out["loaded_mb"].values()) > bound - base, (out["loaded_mb"], round(bound - base))
