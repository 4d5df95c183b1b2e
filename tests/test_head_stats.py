"""Each head statistic against a direct numpy computation (loops, written from the definitions) on small hand-made
attention arrays; the head map's distances against scipy's Jensen–Shannon distance; the image distance against the
ViT page's formula and Swin's against models.capture.swin."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from models.analysis import attention_math as am
from models.analysis import head_stats as hs


def _rows(rng, *shape):
    a = rng.random(shape) ** 3  # peaked rows, some weights near 0
    return a / a.sum(-1, keepdims=True)


def _text_reference(w, specials, punct, sinks=None, exclude=False):
    """Loops over heads and queries, straight from the definitions."""
    h, n, _ = w.shape
    out = {}
    for name, where in specials.items():
        out["share:" + name] = np.array([np.mean([w[k, q, where].sum() for q in range(n)]) for k in range(h)])
    if exclude:
        keep = ~sinks
        w = w * keep
        w = w / np.where(w.sum(-1, keepdims=True) > 0, w.sum(-1, keepdims=True), 1)
    res = {k: [] for k in ("entropy", "max_weight", "distance", "self", "prev", "next", "punct")}
    for k in range(h):
        qs = [q for q in range(n) if w[k, q].sum() > 0]
        ent = [-sum(x * np.log(x) for x in w[k, q] if x > 0) for q in qs]
        res["entropy"].append(np.mean(ent))
        res["max_weight"].append(np.mean([w[k, q].max() for q in qs]))
        res["distance"].append(np.mean([sum(w[k, q, j] * abs(q - j) for j in range(n)) for q in qs]))
        res["self"].append(np.mean([w[k, q, q] for q in qs]))
        res["prev"].append(np.mean([w[k, q, q - 1] for q in qs if q > 0]))
        res["next"].append(np.mean([w[k, q, q + 1] for q in qs if q < n - 1]))
        res["punct"].append(np.mean([w[k, q, punct].sum() for q in qs]))
    out.update({k: np.array(v) for k, v in res.items()})
    return out


def test_text_stats_equal_the_definitions():
    rng = np.random.default_rng(0)
    w = _rows(rng, 3, 7, 7)
    specials = {"[CLS]": np.eye(7, dtype=bool)[0], "[SEP]": np.eye(7, dtype=bool)[6]}
    punct = np.zeros(7, dtype=bool)
    punct[[3, 5]] = True
    got, profile = hs.text_stats(torch.tensor(w), specials, punct)
    ref = _text_reference(w, specials, punct)
    assert set(got) == set(ref)
    for k in ref:
        np.testing.assert_allclose(got[k].numpy(), ref[k], rtol=1e-12, atol=1e-12, err_msg=k)
    # the profile: at offset o the mean over queries of w[q, q + o]
    for j, o in enumerate(range(-8, 9)):
        vals = [[w[h, q, q + o] for q in range(7) if 0 <= q + o < 7] for h in range(3)]
        ref_o = [np.mean(v) if v else np.nan for v in vals]
        np.testing.assert_allclose(profile[:, j].numpy(), ref_o, rtol=1e-12, equal_nan=True)


def test_exclude_sinks_renormalises_without_the_bos_key():
    rng = np.random.default_rng(1)
    w = _rows(rng, 2, 6, 6)
    w[1, :, 0] += 20  # head 2 dumps on BOS
    w /= w.sum(-1, keepdims=True)
    sinks = np.eye(6, dtype=bool)[0]
    specials = {"<s>": sinks}
    punct = np.zeros(6, dtype=bool)
    got, _ = hs.text_stats(torch.tensor(w), specials, punct, sinks, exclude_sinks=True)
    ref = _text_reference(w, specials, punct, sinks, exclude=True)
    for k in ref:
        np.testing.assert_allclose(got[k].numpy(), ref[k], rtol=1e-12, atol=1e-12, err_msg=k)
    assert got["share:<s>"][1] > 0.9  # the share is on the raw weights
    raw, _ = hs.text_stats(torch.tensor(w), specials, punct, sinks, exclude_sinks=False)
    assert not np.allclose(raw["entropy"].numpy(), got["entropy"].numpy())


def test_causal_rows_and_a_query_left_with_nothing():
    """A causal head whose first query can only see BOS: with BOS excluded that query has no weight left and is
    skipped, not counted as zero."""
    n = 5
    w = np.tril(np.ones((n, n)))
    w /= w.sum(-1, keepdims=True)
    w = w[None]
    sinks = np.eye(n, dtype=bool)[0]
    got, _ = hs.text_stats(torch.tensor(w), {"BOS": sinks}, np.zeros(n, dtype=bool), sinks, exclude_sinks=True)
    ref = _text_reference(w, {"BOS": sinks}, np.zeros(n, dtype=bool), sinks, exclude=True)
    for k in ref:
        np.testing.assert_allclose(got[k].numpy(), ref[k], rtol=1e-12, err_msg=k)
    assert got["next"][0] == 0  # causal: nothing on the next token


def test_punctuation():
    assert hs.is_punctuation(",") and hs.is_punctuation("。") and hs.is_punctuation("?!") and hs.is_punctuation("”")
    assert not hs.is_punctuation("cat") and not hs.is_punctuation("") and not hs.is_punctuation("$")
    assert not hs.is_punctuation("##s")


def _image_reference(w, grid, px, p, exclude=False):
    h = w.shape[0]
    rows, cols = grid
    centres = [((r + 0.5) * px, (c + 0.5) * px) for r in range(rows) for c in range(cols)]
    out = {f"share:{i}": np.array([w[k, :, i].mean() for k in range(h)]) for i in range(p)}
    res = {k: [] for k in ("distance", "offset_x", "offset_y", "entropy", "max_weight", "self")}
    for k in range(h):
        d, ox, oy = [], [], []
        for q in range(rows * cols):
            row = w[k, p + q, p:]
            row = row / row.sum()
            d.append(sum(row[j] * np.hypot(centres[j][0] - centres[q][0], centres[j][1] - centres[q][1])
                         for j in range(rows * cols)))
            ox.append(sum(row[j] * (centres[j][1] - centres[q][1]) for j in range(rows * cols)))
            oy.append(sum(row[j] * (centres[j][0] - centres[q][0]) for j in range(rows * cols)))
        res["distance"].append(np.mean(d))
        res["offset_x"].append(np.mean(ox))
        res["offset_y"].append(np.mean(oy))
        if exclude:
            ww = w[k, p:, p:] / w[k, p:, p:].sum(-1, keepdims=True)
        else:
            ww = w[k]
        res["entropy"].append(np.mean([-(r[r > 0] * np.log(r[r > 0])).sum() for r in ww]))
        res["max_weight"].append(np.mean(ww.max(-1)))
        res["self"].append(np.mean(np.diag(ww)))
    out.update({k: np.array(v) for k, v in res.items()})
    return out


@pytest.mark.parametrize("exclude", [False, True])
def test_image_stats_equal_the_definitions(exclude):
    rng = np.random.default_rng(2)
    grid, p = (3, 4), 2
    w = _rows(rng, 2, p + 12, p + 12)
    got, profile = hs.image_stats(torch.tensor(w), grid, 16.0, ["CLS", "REG0"], exclude_sinks=exclude)
    ref = _image_reference(w, grid, 16.0, p, exclude)
    ref["share:CLS"], ref["share:REG0"] = ref.pop("share:0"), ref.pop("share:1")
    assert set(got) == set(ref)
    for k in ref:
        np.testing.assert_allclose(got[k].numpy(), ref[k], rtol=1e-10, atol=1e-10, err_msg=k)
    # the ViT page's formula (Dosovitskiy et al., Fig. 7) gives the same distance
    np.testing.assert_allclose(got["distance"].numpy(), am.mean_attention_distance(w.astype(np.float32), grid, 16.0, p),
                               rtol=1e-5)
    # profile at (dy, dx) = (0, 1): the patch to the right, over the queries that have one
    pw = w[:, p:, p:] / w[:, p:, p:].sum(-1, keepdims=True)
    ref_right = [np.mean([pw[h, r * 4 + c, r * 4 + c + 1] for r in range(3) for c in range(3)]) for h in range(2)]
    np.testing.assert_allclose(profile[:, 3 * 7 + 4].numpy(), ref_right, rtol=1e-12)
    assert np.isnan(profile[:, 0].numpy()).all()  # (−3, −3) does not exist on a 3-row grid


def test_image_stats_batched_equal_one_by_one():
    rng = np.random.default_rng(3)
    w = _rows(rng, 4, 2, 1 + 9, 1 + 9)
    batched, prof_b = hs.image_stats(torch.tensor(w), (3, 3), 14.0, ["CLS"])
    for b in range(4):
        one, prof_1 = hs.image_stats(torch.tensor(w[b]), (3, 3), 14.0, ["CLS"])
        for k in one:
            np.testing.assert_allclose(batched[k][b].numpy(), one[k].numpy(), rtol=1e-12)
        np.testing.assert_allclose(prof_b[b].numpy(), prof_1.numpy(), rtol=1e-12, equal_nan=True)


def test_offsets_find_a_head_that_looks_right():
    """A head that puts all its weight on the patch to the right of each query (or itself on the last column)."""
    grid = (4, 4)
    n = 16
    w = np.zeros((1, n, n))
    for q in range(n):
        r, c = divmod(q, 4)
        w[0, q, q + 1 if c < 3 else q] = 1
    got, profile = hs.image_stats(torch.tensor(w), grid, 10.0, [])
    assert got["offset_x"].item() == pytest.approx(10.0 * 12 / 16)
    assert got["offset_y"].item() == pytest.approx(0.0)
    assert got["max_weight"].item() == pytest.approx(1.0)
    assert got["entropy"].item() == pytest.approx(0.0)
    assert profile[0, 3 * 7 + 4].item() == pytest.approx(12 / 12)  # every query with a right neighbour: weight 1


def test_swin_stats_match_the_swin_page():
    from models.capture import swin
    from models.capture.trace import BlockInfo

    rng = np.random.default_rng(4)
    for shift in (0, 2):
        block = BlockInfo(name="b", stage=0, grid=(8, 8), patch_px=4.0, window_size=4, shift=shift, num_heads=3)
        w = _rows(rng, 4, 3, 16, 16).astype(np.float32)
        got, profile = hs.swin_stats(torch.tensor(w), swin.token_positions(block), 4.0)
        np.testing.assert_allclose(got["distance"].numpy(), swin.mean_attention_distance(w, block), rtol=1e-5)
        # reference by loops, in the image's coordinates
        pos = swin.token_positions(block)
        ox_ref, self_ref = [], []
        for h in range(3):
            ox, sf = [], []
            for win in range(4):
                for q in range(16):
                    ox.append(sum(w[win, h, q, k] * (pos[win, k, 1] - pos[win, q, 1]) * 4.0 for k in range(16)))
                    sf.append(w[win, h, q, q])
            ox_ref.append(np.mean(ox))
            self_ref.append(np.mean(sf))
        np.testing.assert_allclose(got["offset_x"].numpy(), ox_ref, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(got["self"].numpy(), self_ref, rtol=1e-5)
        np.testing.assert_allclose(profile[:, 24].numpy(), self_ref, rtol=1e-5)  # offset (0, 0) is the query itself


def test_js_distances_equal_scipy():
    rng = np.random.default_rng(5)
    rows = _rows(rng, 5, 3, 9)
    rows[2, 1] = 0
    rows[2, 1, 4] = 1  # a one-hot row
    got = hs.js_distances(torch.tensor(rows)).numpy()
    for a in range(5):
        for b in range(5):
            ref = np.mean([jensenshannon(rows[a, q], rows[b, q], base=2) for q in range(3)])
            assert got[a, b] == pytest.approx(ref, abs=1e-7), (a, b)
    assert np.allclose(got, got.T) and np.all(np.diag(got) == 0)


def test_head_map_places_alike_heads_together():
    rng = np.random.default_rng(6)
    a = _rows(rng, 1, 4, 10)
    b = _rows(rng, 1, 4, 10)
    rows = np.concatenate([a, a * 0.98 + b * 0.02, a * 0.96 + b * 0.04, b, b * 0.97 + a * 0.03])
    rows /= rows.sum(-1, keepdims=True)
    d = hs.js_distances(torch.tensor(rows)).numpy()
    xy = hs.head_map(d)
    assert xy.shape == (5, 2)
    near = np.linalg.norm(xy[0] - xy[1])
    far = np.linalg.norm(xy[0] - xy[3])
    assert near < far / 4


def test_sample_queries():
    assert hs.sample_queries(5).tolist() == [0, 1, 2, 3, 4]
    s = hs.sample_queries(100, 8)
    assert s[0] == 0 and s[-1] == 99 and len(s) == 8
