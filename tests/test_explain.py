"""The gradient capture and the perturbation test (models/capture/explain.py) on the bundled demo ViT."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.analysis import relevance as rel
from models.capture import explain, vision
from models.demo import shapes


@pytest.fixture(scope="module")
def demo():
    return vision.load("vit_demo", "demo")


def test_gradients_keep_the_model_s_own_attention(demo):
    x, _ = vision.preprocess(demo, shapes.sample_image("ring", size=64, seed=3))
    cap = explain.vit_gradients(demo, x)
    tr = vision.run(demo, shapes.sample_image("ring", size=64, seed=3))
    assert len(cap.attention) == len(tr.attention) == len(cap.grads)
    for a, b in zip(cap.attention, tr.attention):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-6)
    assert cap.target == int(np.argmax(cap.probs))
    assert any(np.abs(g).max() > 0 for g in cap.grads)
    assert all(p.grad is None for p in demo.module.parameters())  # gradients taken for the maps only


def test_gradients_match_a_float64_recomputation(demo):
    """The same gradients from a float64 copy of the model, by autograd on retained attention tensors."""
    import copy

    x, _ = vision.preprocess(demo, shapes.sample_image("cross", size=64, seed=5))
    cap = explain.vit_gradients(demo, x, target=2)
    m64 = copy.deepcopy(demo.module).double()
    for mod in m64.modules():
        if hasattr(mod, "fused_attn"):
            mod.fused_attn = False
    kept = []
    handles = [b.attn.attn_drop.register_forward_hook(lambda m, i, o: kept.append(o)) for b in m64.blocks]
    try:
        xg = x.double().requires_grad_(True)
        out = m64(xg)
        grads = torch.autograd.grad(out[0, 2], kept)
    finally:
        for h in handles:
            h.remove()
    for g32, g64 in zip(cap.grads, grads):
        np.testing.assert_allclose(g32, g64[0].numpy(), atol=2e-4 * max(1.0, float(g64.abs().max())))


def test_relevance_beats_random_on_shapes(demo):
    """Chefer's relevance removes the evidence faster than a random order (lower area, positive perturbation), over
    a few generated shapes: the test that a relevance map means something on the trained demo model."""
    wins = 0
    for seed in range(6):
        img = shapes.sample_image(shapes.CLASSES[seed % 6], size=64, seed=100 + seed)
        x, _ = vision.preprocess(demo, img)
        cap = explain.vit_gradients(demo, x)
        r = rel.chefer_self(cap.attention, cap.grads)[0, cap.num_prefix:]
        fr = np.arange(0, 1.0, 0.1)
        ours = rel.area_under_curve(fr, explain.perturbation_curve(demo, x, r, cap.target, True, fr))
        rnd = rel.area_under_curve(fr, explain.perturbation_curve(demo, x, r, cap.target, True, fr,
                                                                  rng=np.random.default_rng(seed)))
        wins += ours < rnd
    assert wins >= 5
