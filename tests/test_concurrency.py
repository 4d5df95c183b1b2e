"""One cached model serves every browser session: many threads at once must each get their own, correct result."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from models.capture import vision
from models.demo import shapes, text
from tests.conftest import SAMPLES

THREADS = 16


def _same_text(a: text.TextTrace, b: text.TextTrace) -> None:
    assert a.output == b.output
    assert a.source_tokens == b.source_tokens and a.target_tokens == b.target_tokens
    for name in ("encoder_attention", "decoder_attention", "cross_attention"):
        for x, y in zip(getattr(a, name), getattr(b, name), strict=True):
            np.testing.assert_array_equal(x, y)


def _same_vision(a, b) -> None:
    assert a.top_k == b.top_k
    assert a.token_labels == b.token_labels
    for x, y in zip(a.attention, b.attention, strict=True):
        np.testing.assert_array_equal(x, y)


def _run_parallel(fn, inputs):
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(fn, inputs))


@pytest.mark.parametrize("task", ["reverse", "dates", "translate"])
def test_text_model_shared_by_threads(task):
    model = text.load(task)
    examples = text.TASKS[task].examples
    inputs = [examples[i % len(examples)] + ("" if i < len(examples) else f" {i}") for i in range(THREADS * 2)]
    inputs = [s for s in inputs]  # different texts, some repeated
    serial = [text.run(model, s) for s in inputs]
    parallel = _run_parallel(lambda s: text.run(model, s), inputs)
    for a, b in zip(serial, parallel):
        _same_text(a, b)
    assert len({t.output for t in parallel}) > 1, "the inputs should give different outputs"


def _images(n: int) -> list[Image.Image]:
    photos = [Image.open(p).convert("RGB") for p in sorted(SAMPLES.glob("*.png")) + sorted(SAMPLES.glob("*.jpg"))]
    generated, _, _ = shapes.make_dataset(n, seed=123)
    pics = [Image.fromarray(a) for a in generated]
    return [photos[i % len(photos)] if i % 2 else pics[i] for i in range(n)]


@pytest.mark.parametrize("name", ["vit_demo", "swin_demo"])
def test_vision_model_shared_by_threads(name):
    model = vision.load(name, weights="demo")
    images = _images(THREADS)
    torch.manual_seed(0)
    serial = [vision.run(model, im) for im in images]
    parallel = _run_parallel(lambda im: vision.run(model, im), images)
    for a, b in zip(serial, parallel):
        _same_vision(a, b)
    assert len({tuple(t.top_k[0]) for t in parallel}) > 1 or len({float(t.attention[-1].sum()) for t in parallel}) > 1


def test_every_capture_path_shares_one_model_across_threads():
    """The traced graph, the hook fallback (models/capture/hooks.py) and the step-by-step recording all at once on
    one shared timm module, 16 threads: each call gets exactly what it gets alone, and the module is left as it was."""
    import dataclasses

    from models.capture import step_by_step as sbs

    traced = vision.load("vit_demo", weights="demo")
    # the same module, through the path that keeps maps (the hook fallback)
    hooked = dataclasses.replace(traced, lazy=False, extractor=None, attention_nodes=(), output_node=None)
    module = traced.module
    flags = [m.fused_attn for m in module.modules() if hasattr(m, "fused_attn")]
    images = _images(6)
    pixels = [vision.preprocess(traced, im)[0] for im in images]
    jobs = [("traced", i) for i in range(6)] + [("hooked", i) for i in range(6)] + [("steps", i) for i in range(6)]

    def do(job):
        kind, i = job
        if kind == "steps":
            return sbs.vit_model_steps(traced, pixels[i], i % len(module.blocks), i % 4)
        return vision.run(traced if kind == "traced" else hooked, images[i])

    serial = [do(job) for job in jobs]
    parallel = _run_parallel(do, jobs * 2)
    for (kind, _), a, b in zip(jobs * 2, serial * 2, parallel):
        if kind == "steps":
            np.testing.assert_array_equal(a.weights, b.weights)
            np.testing.assert_array_equal(a.model_output, b.model_output)
            assert b.max_abs_diff < 1e-4
        else:
            _same_vision(a, b)
    for (kind, i), trace in zip(jobs, serial):
        if kind == "hooked":  # the fallback reads the same maps as the graph
            for x, y in zip(serial[i].attention, trace.attention, strict=True):
                np.testing.assert_allclose(x, y, atol=1e-6, rtol=0)
    assert [m.fused_attn for m in module.modules() if hasattr(m, "fused_attn")] == flags
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())


@pytest.mark.slow
def test_a_model_loading_does_not_break_the_runs_of_other_sessions():
    """Loading a vision model traces it with torch.fx, which swaps torch.nn.Module.__call__ for the whole process
    while it runs: without models/capture/hooks.py's gate every forward of every other thread meanwhile failed
    ("module is not installed as a submodule"). Here sessions keep running the ViT, a text model and one head
    step by step while another loads models."""
    import threading

    from models.capture import step_by_step as sbs

    model = vision.load("vit_demo", weights="demo")
    translate = text.load("translate")
    images = _images(4)
    sentences = text.TASKS["translate"].examples[:4]
    expected_vision = [vision.run(model, im) for im in images]
    expected_text = [text.run(translate, s) for s in sentences]
    pixels = vision.preprocess(model, images[0])[0]
    expected_steps = sbs.vit_model_steps(model, pixels, 1, 2)
    stop, errors, done = threading.Event(), [], []

    def session(k):
        i = 0
        while not stop.is_set() or i < 2:
            try:
                if k % 3 == 1:
                    _same_vision(expected_vision[i % 4], vision.run(model, images[i % 4]))
                elif k % 3 == 2:
                    np.testing.assert_array_equal(sbs.vit_model_steps(model, pixels, 1, 2).output,
                                                  expected_steps.output)
                else:
                    _same_text(expected_text[i % 4], text.run(translate, sentences[i % 4]))
            except Exception as e:  # reported below, with the others
                errors.append(f"{type(e).__name__}: {e}"[:300])
            i += 1
        done.append(i)

    threads = [threading.Thread(target=session, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    try:
        for name in ("vit_tiny_patch16_224", "swin_demo", "vit_tiny_patch16_224"):
            loaded = vision.load(name, "random", **({"img_size": 64} if name.startswith("vit") else {}))
            assert loaded.extractor is not None
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    assert not errors, errors[:3]
    assert len(done) == 6 and min(done) >= 2
