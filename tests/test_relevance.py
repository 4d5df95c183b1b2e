"""Relevance maps (models/analysis/relevance.py) on small hand-made arrays: against the formulas written out, against
networkx's max-flow, and against our rollout where the methods coincide."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from models.analysis import attention_math as am
from models.analysis import relevance as rel


def _att(rng, *shape):
    a = rng.random(shape) ** 2
    return a / a.sum(-1, keepdims=True)


def test_chefer_self_one_layer_and_two():
    rng = np.random.default_rng(0)
    a1, a2 = _att(rng, 2, 4, 4), _att(rng, 2, 4, 4)
    g1, g2 = rng.normal(size=(2, 4, 4)), rng.normal(size=(2, 4, 4))
    cam1 = np.maximum(g1 * a1, 0).mean(0)
    cam2 = np.maximum(g2 * a2, 0).mean(0)
    np.testing.assert_allclose(rel.chefer_self([a1], [g1]), np.eye(4) + cam1)
    np.testing.assert_allclose(rel.chefer_self([a1, a2], [g1, g2]), (np.eye(4) + cam2) @ (np.eye(4) + cam1))


def test_chefer_encoder_decoder_rules():
    rng = np.random.default_rng(1)
    s, t = 5, 3
    enc, enc_g = [_att(rng, 2, s, s)], [rng.normal(size=(2, s, s))]
    ds, ds_g = [_att(rng, 2, t, t) * np.tril(np.ones((t, t)))], [rng.normal(size=(2, t, t))]
    cr, cr_g = [_att(rng, 2, t, s)], [rng.normal(size=(2, t, s))]
    got = rel.chefer_encoder_decoder(enc, enc_g, ds, ds_g, cr, cr_g)
    r_ss = np.eye(s) + np.maximum(enc_g[0] * enc[0], 0).mean(0)
    cam_tt = np.maximum(ds_g[0] * ds[0], 0).mean(0)
    r_tt = np.eye(t) + cam_tt
    r_ts = cam_tt @ np.zeros((t, s))

    def norm(r):
        h = r - np.eye(len(r))
        return h / h.sum(-1, keepdims=True) + np.eye(len(r))

    want = r_ts + norm(r_tt).T @ np.maximum(cr_g[0] * cr[0], 0).mean(0) @ norm(r_ss)
    np.testing.assert_allclose(got, want)


def test_grad_rollout_with_unit_gradients_is_rollout():
    rng = np.random.default_rng(2)
    layers = [_att(rng, 3, 6, 6) for _ in range(3)]
    ones = [np.ones_like(a) for a in layers]
    got = rel.grad_rollout(layers, ones, discard_ratio=0.0)
    np.testing.assert_allclose(got, am.rollout(layers, "mean", 0.0, rows=[0])[0], rtol=1e-5)


def test_grad_rollout_discards_but_keeps_cls_to_cls():
    rng = np.random.default_rng(3)
    a = _att(rng, 1, 4, 4)
    a[0, 0, 0] = 1e-9  # the smallest entry: still kept
    out = rel.grad_rollout([a], [np.ones_like(a)], discard_ratio=0.5)
    fused = a[0].copy()
    flat = fused.reshape(-1)
    drop = np.argsort(flat)[:8]
    drop = drop[drop != 0]
    flat[drop] = 0
    f = 0.5 * fused + 0.5 * np.eye(4)
    f /= f.sum(-1, keepdims=True)
    np.testing.assert_allclose(out, f[0])


def test_attention_flow_equals_networkx():
    rng = np.random.default_rng(4)
    fused = [_att(rng, 5, 5) for _ in range(3)]
    got = rel.attention_flow(fused, target=0)
    src, dst, cap, nodes = rel.flow_graph(fused)
    g = nx.DiGraph()
    for s, d, c in zip(src, dst, cap):
        g.add_edge(int(s), int(d), capacity=int(c))
    for j in range(5):
        want = nx.maximum_flow_value(g, j, 3 * 5 + 0) / rel.FLOW_SCALE
        assert got[j] == pytest.approx(want, abs=1e-9)
    # each flow is bounded by the capacity into the target: its row of the last layer, which sums to 1
    assert (got >= 0).all() and (got <= 1 + 1e-6 * 5).all()


def test_flow_on_a_chain_is_the_bottleneck():
    """Two tokens, one layer whose attention keeps each token to itself: the residual graph is the identity, so the
    flow from token 1 to token 0 is 0 and from token 0 is 1."""
    out = rel.attention_flow([np.eye(2)], target=0)
    np.testing.assert_allclose(out, [1.0, 0.0])


def test_perturbation_order_and_area():
    s = np.array([0.1, 0.9, 0.5, 0.5])
    assert rel.perturbation_order(s, True).tolist() == [1, 2, 3, 0]
    assert rel.perturbation_order(s, False).tolist() == [0, 2, 3, 1]
    assert sorted(rel.perturbation_order(s, True, np.random.default_rng(0)).tolist()) == [0, 1, 2, 3]
    assert rel.area_under_curve([0, 0.5, 1], [1, 1, 0]) == pytest.approx(0.75)


def test_removal_masks_remove_the_first_fraction_of_the_removable_in_order():
    s = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    m = rel.removal_masks(s, True, [0, 0.5, 1.0])
    assert m.tolist()[0] == [False] * 5
    assert np.flatnonzero(m[1]).tolist() == [1, 3]  # round(2.5) = 2: the two largest
    assert m[2].all()
    least = rel.removal_masks(s, False, [0.4])
    assert np.flatnonzero(least[0]).tolist() == [0, 4]
    keep = np.array([True, False, True, True, True])  # position 1 never goes, and is not counted
    m = rel.removal_masks(s, True, [0.25, 0.5, 1.0], removable=keep)
    assert not m[:, 1].any()
    assert np.flatnonzero(m[0]).tolist() == [3] and np.flatnonzero(m[1]).tolist() == [2, 3]
    assert m[2].sum() == 4
    rnd = rel.removal_masks(s, True, [0.6], np.random.default_rng(0), removable=keep)
    assert rnd.sum() == 2 and not rnd[0, 1]
