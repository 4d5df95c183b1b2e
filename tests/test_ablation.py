"""Switching heads off (models/capture/ablation.py) against the same model with W_O's input columns of that head
zeroed by hand (weight surgery on a copy), and the batched importance grid against one rerun per head."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from models.capture import ablation, vision
from models.demo import shapes


@pytest.fixture(scope="module")
def demo():
    return vision.load("vit_demo", "demo")


@pytest.fixture(scope="module")
def x(demo):
    return vision.preprocess(demo, shapes.sample_image("diamond", size=64, seed=7))[0]


def _surgery(demo, heads):
    m = copy.deepcopy(demo.module)
    with torch.no_grad():
        for layer, head in heads:
            proj = m.blocks[layer].attn.proj
            d = proj.in_features // m.blocks[layer].attn.num_heads
            proj.weight[:, head * d: (head + 1) * d] = 0
    return m


def test_ablation_equals_zeroed_output_projection(demo, x):
    heads = [(0, 1), (2, 3), (2, 0)]
    got = ablation.ablate(demo, x, heads)
    with torch.inference_mode():
        want = torch.softmax(_surgery(demo, heads)(x)[0], -1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)
    base = ablation.ablate(demo, x, [])
    with torch.inference_mode():
        np.testing.assert_allclose(base, torch.softmax(demo.module(x)[0], -1).numpy(), atol=1e-6)
    assert not np.allclose(got, base)


def test_importance_grid_batched_equals_one_by_one(demo, x):
    target = 3
    seen = []
    grid = ablation.importance(demo, x, target, batch=5, progress=lambda d, t: seen.append((d, t)))
    assert grid.shape == (4, 4) and seen[-1] == (16, 16)
    for layer in range(4):
        for head in range(4):
            one = ablation.ablate(demo, x, [(layer, head)])[target]
            assert grid[layer, head] == pytest.approx(one, abs=1e-5)


def test_bad_head(demo, x):
    from models.capture.explain import ExplainError

    with pytest.raises(ExplainError):
        ablation.ablate(demo, x, [(9, 0)])


def test_another_session_s_forward_meanwhile_is_unchanged(demo, x):
    """While one thread's forward runs with heads switched off, a forward of the same model from another thread
    (another visitor) gets the unablated output."""
    import threading

    from models.capture.hooks import hooks

    with torch.inference_mode():
        plain = demo.module(x).clone()
    other: dict = {}

    def run_other():
        with torch.inference_mode():
            other["out"] = demo.module(x)

    def midway(mod, args):
        t = threading.Thread(target=run_other)
        t.start()
        t.join()

    zero = torch.zeros(1, 1, demo.module.blocks[0].attn.proj.in_features)
    with hooks() as h, torch.inference_mode():
        for b in demo.module.blocks:
            h.alter_input(b.attn.proj, lambda mod, args: (args[0] * zero,))
        h.pre(demo.module.blocks[1], midway)
        ablated = demo.module(x)
    torch.testing.assert_close(other["out"], plain)
    assert not torch.allclose(ablated, plain)
