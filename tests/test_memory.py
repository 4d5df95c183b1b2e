"""models.runtime.memory: after keep_freed_memory(), a capture reuses freed pages instead of faulting in new ones.

Page faults are counted with getrusage (ru_minflt), which does not depend on timing. Each case runs in a
fresh interpreter, since the allocator setting is process-wide.
"""
import json
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
m = vision.load("vit_small_patch16_224", "random", "cpu")
img = images.load_image(next(iter(images.SAMPLES.values())))
faults = []
for _ in range(7):
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    trace = vision.run(m, img)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0)
    del trace
print(json.dumps({"applied": memory._applied, "faults": faults, "attention_pages": 12 * 6 * 197 * 197 * 4 // 4096}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_captures_stop_faulting_in_fresh_pages():
    out = {}
    for mode in ("keep", "default"):
        proc = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    pages = out["keep"]["attention_pages"]
    keep, default = (statistics.median(out[m]["faults"][1:]) for m in ("keep", "default"))  # after the first run
    assert default > pages / 2, out  # by default each run's maps land on fresh pages
    assert keep < pages / 4 and keep < default / 4, out  # kept: the maps reuse the last run's pages
