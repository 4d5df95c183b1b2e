"""Swin relevance (models/capture/explain_swin.py): window attention on the image grid against timm's own shift,
window and merge code; the capture against the model and a float64 copy; relevance, rollout and flow against their
formulas written out densely (and networkx's max-flow)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from models.capture import explain, swin, vision
from models.capture import explain_swin as es
from models.capture.trace import BlockInfo
from models.demo import shapes


def _block(grid, m, shift, stage=0):
    return BlockInfo(name="b", stage=stage, grid=grid, patch_px=4.0, window_size=m, shift=shift, num_heads=1)


def _stochastic(rng, *shape):
    a = rng.random(shape)
    return a / a.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("grid, m, shift", [((8, 8), 4, 0), ((8, 8), 4, 2), ((8, 12), 4, 2), ((6, 6), 4, 2),
                                            ((7, 5), 2, 1)])
def test_window_to_grid_equals_timm_s_roll_and_windows(grid, m, shift):
    """window_to_grid(W) @ X equals what timm's block does to X with windows W: roll by −s, pad with zeros, partition,
    multiply inside each window, reverse, crop, roll back (timm's own window_partition / window_reverse)."""
    from timm.models.swin_transformer import window_partition, window_reverse

    rng = np.random.default_rng(0)
    block = _block(grid, m, shift)
    hp, wp = swin.padded_grid(grid, m)
    att = _stochastic(rng, (hp // m) * (wp // m), m * m, m * m)
    x = torch.from_numpy(rng.normal(size=(1, *grid, 3)))
    s = torch.roll(x, (-shift, -shift), dims=(1, 2)) if shift else x
    s = torch.nn.functional.pad(s, (0, 0, 0, wp - grid[1], 0, hp - grid[0]))
    win = window_partition(s, (m, m)).reshape(-1, m * m, 3)
    out = torch.from_numpy(att) @ win
    back = window_reverse(out.reshape(-1, m, m, 3), (m, m), hp, wp)[:, : grid[0], : grid[1]]
    ref = torch.roll(back, (shift, shift), dims=(1, 2)) if shift else back
    flat = x[0].reshape(-1, 3).numpy()
    dense = es.window_to_grid(att, block)
    np.testing.assert_allclose(dense @ flat, ref[0].reshape(-1, 3).numpy(), atol=1e-12)
    np.testing.assert_allclose(es.apply_windows(att, block, flat), dense @ flat, atol=1e-12)
    # nothing crosses windows: entry (i, j) is non-zero only where swin.py puts i and j in one window
    where = swin.token_window_map(block).reshape(-1)
    assert np.all(dense[where[:, None] != where[None, :]] == 0)


def test_merge_matrix_equals_timm_s_patch_merging():
    """P from timm's PatchMerging: one-hot tokens in, norm off, the reduction set to average the four sources."""
    from timm.models.swin_transformer import PatchMerging

    for grid in [(4, 4), (8, 6)]:
        n = grid[0] * grid[1]
        pm = PatchMerging(dim=n, out_dim=n)
        pm.norm = torch.nn.Identity()
        with torch.no_grad():
            pm.reduction.weight.copy_(torch.cat([torch.eye(n)] * 4, dim=1) / 4)
        onehot = torch.eye(n, dtype=torch.float32).reshape(1, *grid, n)
        with torch.no_grad():
            out = pm(onehot).reshape(-1, n).numpy()
        np.testing.assert_allclose(es.merge_matrix(grid), out, atol=1e-7)
    odd = es.merge_matrix((5, 3))
    assert odd.shape == (3 * 2, 15) and np.allclose(odd.sum(axis=1), 1)


@pytest.fixture(scope="module")
def demo():
    return vision.load("swin_demo", "demo")


@pytest.fixture(scope="module")
def captured(demo):
    x, _ = vision.preprocess(demo, shapes.sample_image("ring", size=64, seed=3))
    return x, es.swin_gradients(demo, x)


def test_capture_is_the_model_s_own_attention(demo, captured):
    x, cap = captured
    ref = swin.capture(demo.module, x)
    assert [b.grid for b in cap.blocks] == [b.grid for b in ref.blocks]
    assert [(b.window_size, b.shift) for b in cap.blocks] == [(b.window_size, b.shift) for b in ref.blocks]
    for a, b in zip(cap.attention, ref.attention):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert cap.target == int(ref.logits[0].argmax())
    assert any(np.abs(g).max() > 0 for g in cap.grads)
    assert all(p.grad is None for p in demo.module.parameters())
    flags = [m.fused_attn for m in demo.module.modules() if hasattr(m, "fused_attn")]
    es.swin_gradients(demo, x)
    assert [m.fused_attn for m in demo.module.modules() if hasattr(m, "fused_attn")] == flags


def test_shifted_block_on_the_grid(captured):
    """A shifted block's grid matrix: rows sum to 1, query (r, c)'s row is the window row swin.locate_token names, and
    pairs the shift mask keeps apart carry (almost) nothing."""
    _, cap = captured
    k = next(i for i, b in enumerate(cap.blocks) if b.shift)
    block = cap.blocks[k]
    att = cap.attention[k].mean(axis=1)
    dense = es.window_to_grid(att, block)
    np.testing.assert_allclose(dense.sum(axis=1), 1, atol=1e-5)
    rows, cols = block.grid
    for r, c in [(0, 0), (rows - 1, cols - 1), (3, cols - 2), (rows - 2, 5)]:
        w, t = swin.locate_token(block, r, c)
        keys = swin.token_positions(block)[w]
        np.testing.assert_allclose(dense[r * cols + c, keys[:, 0] * cols + keys[:, 1]], att[w, t], atol=1e-7)
    mask = swin.shift_mask(block.grid, block.window_size, block.shift)
    idx = es.token_index(block)
    masked = [(idx[w, q], idx[w, kk]) for w, q, kk in zip(*np.nonzero(mask < 0))]
    assert masked and max(dense[i, j] for i, j in masked) < 1e-30


def test_unit_gradients_relevance_is_rollout_times_two_to_the_blocks(captured):
    """With every gradient 1, rule 5 gives Ā = mean A and R = Π(I + Ā) = 2^L · Π(0.5·Ā + 0.5·I): rollout (merges
    are linear, so the carry keeps the factor)."""
    _, cap = captured
    ones = [np.ones_like(g) for g in cap.grads]
    roll = es.rollout(cap.attention, cap.blocks)
    full = es.relevance(cap.attention, ones, cap.blocks, keep_identity=True)
    np.testing.assert_allclose(full, 2 ** len(cap.blocks) * roll, rtol=1e-6)
    uniform = 1 / roll.size
    np.testing.assert_allclose(es.relevance(cap.attention, ones, cap.blocks), full - uniform, atol=1e-9)
    np.testing.assert_allclose(es.grad_rollout(cap.attention, ones, cap.blocks, discard_ratio=0), roll, rtol=1e-6)
    assert roll.shape == cap.grid and abs(roll.sum() - 1) < 1e-6


def _dense_chain(cap, factor):
    """The same products written out: dense grid matrices and merge matrices multiplied in order."""
    r = np.eye(cap.grid[0] * cap.grid[1])
    for k, b in enumerate(cap.blocks):
        if k and b.grid != cap.blocks[k - 1].grid:
            r = es.merge_matrix(cap.blocks[k - 1].grid) @ r
        r = factor(k, b) @ r
    return r


def test_relevance_and_rollout_against_dense_products(captured):
    _, cap = captured

    def chefer(k, b):
        a = np.clip(cap.grads[k].astype(np.float64) * cap.attention[k], 0, None).mean(axis=1)
        return np.eye(b.grid[0] * b.grid[1]) + es.window_to_grid(a, b)

    def roll(k, b):
        a = 0.5 * es.window_to_grid(cap.attention[k].astype(np.float64).mean(axis=1), b) + 0.5 * np.eye(
            b.grid[0] * b.grid[1])
        return a / a.sum(axis=1, keepdims=True)

    carry = _dense_chain(cap, lambda k, b: np.eye(b.grid[0] * b.grid[1]))
    np.testing.assert_allclose(es.relevance(cap.attention, cap.grads, cap.blocks).reshape(-1),
                               (_dense_chain(cap, chefer) - carry).mean(axis=0), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(es.rollout(cap.attention, cap.blocks).reshape(-1),
                               _dense_chain(cap, roll).mean(axis=0), rtol=1e-9)
    last = es.window_to_grid(cap.attention[-1].astype(np.float64).mean(axis=1), cap.blocks[-1])
    np.testing.assert_allclose(es.raw_attention(cap.attention, cap.blocks).reshape(-1),
                               last.mean(axis=0) @ carry, rtol=1e-9)
    assert np.all(es.relevance(cap.attention, cap.grads, cap.blocks) >= 0)


def test_flow_against_networkx():
    """Max-flow through windows and a merge on a small made-up Swin, against networkx on the graph built by hand."""
    import networkx as nx

    rng = np.random.default_rng(1)
    blocks = [_block((4, 4), 2, 0), _block((4, 4), 2, 1), _block((2, 2), 2, 0, stage=1)]
    att = [_stochastic(rng, 4, 2, 4, 4), _stochastic(rng, 4, 2, 4, 4), _stochastic(rng, 1, 3, 4, 4)]
    g = nx.DiGraph()
    layer, n = [f"in{j}" for j in range(16)], 16
    for k, b in enumerate(blocks):
        if k and b.grid != blocks[k - 1].grid:
            new = [f"m{k}_{i}" for i in range(4)]
            for i in range(2):
                for j in range(2):
                    for a in (0, 1):
                        for c in (0, 1):
                            g.add_edge(layer[(2 * i + a) * 4 + 2 * j + c], new[i * 2 + j], capacity=0.25)
            layer, n = new, 4
        dense = 0.5 * es.window_to_grid(att[k].mean(axis=1), b) + 0.5 * np.eye(n)
        dense /= dense.sum(axis=1, keepdims=True)
        new = [f"b{k}_{i}" for i in range(n)]
        for i in range(n):
            for j in range(n):
                if dense[i, j] > 0:
                    g.add_edge(layer[j], new[i], capacity=dense[i, j])
        layer = new
    for node in layer:
        g.add_edge(node, "sink", capacity=1 / n)
    ref = np.array([nx.maximum_flow_value(g, f"in{j}", "sink") for j in range(16)])
    ours = es.attention_flow(att, blocks).reshape(-1)
    np.testing.assert_allclose(ours, ref, atol=2e-5 * len(g.edges))


def test_gradients_match_a_float64_copy(demo):
    x, _ = vision.preprocess(demo, shapes.sample_image("cross", size=64, seed=5))
    cap = es.swin_gradients(demo, x, target=2)
    m64 = copy.deepcopy(demo.module).double()
    for mod in m64.modules():
        if hasattr(mod, "fused_attn"):
            mod.fused_attn = False
    kept = []
    handles = [blk.attn.softmax.register_forward_hook(lambda m, i, o: kept.append(o))
               for _, _, blk in swin.swin_blocks(m64)]
    try:
        out = m64(x.double())
        grads = torch.autograd.grad(out[0, 2], kept)
    finally:
        for h in handles:
            h.remove()
    assert cap.target == 2 and len(grads) == len(cap.grads)
    for g32, g64 in zip(cap.grads, grads):
        np.testing.assert_allclose(g32, g64.numpy(), atol=2e-4 * max(1.0, float(g64.abs().max())))


def test_relevance_beats_random_on_shapes(demo):
    """Removing the least relevant patches first keeps the prediction longer than a random order (negative
    perturbation: higher area) on most images. (The demo Swin's prediction falls within the first 10 % of random
    patches removed, so the positive test's random baseline is already near the floor: see bench.faithfulness.)"""
    from models.analysis import relevance as rel

    wins = 0
    for seed in range(6):
        x, _ = vision.preprocess(demo, shapes.sample_image(shapes.CLASSES[seed], size=64, seed=200 + seed))
        cap = es.swin_gradients(demo, x)
        r = es.relevance(cap.attention, cap.grads, cap.blocks)
        fr = np.arange(0, 1.0, 0.1)
        ours = rel.area_under_curve(fr, explain.perturbation_curve(demo, x, r, cap.target, False, fr))
        rnd = rel.area_under_curve(fr, explain.perturbation_curve(demo, x, r, cap.target, False, fr,
                                                                  rng=np.random.default_rng(seed)))
        wins += ours > rnd
    assert wins >= 5


def test_a_vit_is_refused():
    vit = vision.load("vit_demo", "demo")
    with pytest.raises(explain.ExplainError) as err:
        es.swin_gradients(vit, torch.zeros(1, 3, 64, 64))
    assert err.value.code == "explain.not_swin"
