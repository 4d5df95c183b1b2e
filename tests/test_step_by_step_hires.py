"""One head, step by step, for a ViT above sbs.DENSE_MAX_TOKENS tokens (DINOv2 ViT-S/14 at 1,036 px: 5,477 tokens):
no head keeps a token × token matrix, each head's output is computed a chunk of query rows at a time, the page draws
the chosen query's row. Held against the dense recomputation and timm's AttentionExtract where both run."""
import copy

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch.utils._python_dispatch import TorchDispatchMode

from models.capture import step_by_step as sbs
from models.capture import vision
from tests.conftest import APP

TOL = 1e-5
NAME = "vit_small_patch14_dinov2"


@pytest.fixture(scope="module")
def small_dinov2():
    """DINOv2 ViT-S/14, random weights, built at 112 px: 1 + 8 × 8 = 65 tokens, with LayerScale."""
    model = vision.load(NAME, "random", "cpu", img_size=112)
    pixels = torch.randn(1, 3, 112, 112, generator=torch.Generator().manual_seed(0))
    return model, pixels


def _rows_only(monkeypatch, chunk: int = 7 * 65) -> None:
    """Every input above 10 tokens goes the high-resolution way, in chunks of 7 query rows (65 keys)."""
    monkeypatch.setattr(sbs, "DENSE_MAX_TOKENS", 10)
    monkeypatch.setattr(sbs, "CHUNK_ELEMENTS", chunk)


def test_rows_only_steps_equal_the_dense_recomputation(small_dinov2, monkeypatch):
    model, pixels = small_dinov2
    dense = sbs.vit_model_steps(model, pixels, 3, None)
    _rows_only(monkeypatch)
    rows = sbs.vit_model_steps(model, pixels, 3, None)
    assert all(d.dense for d in dense) and not any(r.dense for r in rows)
    for d, r in zip(dense, rows):
        assert r.scores is None and r.scaled is None and r.masked is None and r.weights is None
        assert r.max_abs_diff <= r.tol and r.max_abs_diff < TOL  # the model check, on every row
        assert r.layer_scale is not None and r.scaled_output.shape == d.scaled_output.shape
        assert np.allclose(r.head_output, d.head_output, atol=1e-6)
        assert np.allclose(r.output, d.output, atol=1e-6)
        assert r.grid == (8, 8) and r.n_prefix == 1 and len(r.query_labels) == 65
        for query in (0, 1, 30, 64):
            a, b = d.query_row(query), r.query_row(query)
            assert a.query == b.query == query
            for name in ("scores", "scaled", "masked", "weights"):
                assert getattr(b, name).shape == (65,)
                assert np.allclose(getattr(b, name), getattr(a, name), atol=1e-5), name
            assert np.isclose(b.weights.sum(), 1.0, atol=1e-5)
            assert b.output_diff < 1e-5  # the row's weights · V is the head's (checked) output row
            assert np.array_equal(a.weights, d.weights[query])  # dense: read from the kept matrix
    with pytest.raises(ValueError):
        rows[0].query_row(65)


def test_rows_only_rows_equal_timms_attention_extract(small_dinov2, monkeypatch):
    from timm.utils import AttentionExtract

    model, pixels = small_dinov2
    unfused = copy.deepcopy(model.module)
    for block in unfused.blocks:
        block.attn.fused_attn = False
    with torch.no_grad():
        extracted = AttentionExtract(unfused, method="fx")(pixels)
    reference = [extracted[n] for n in sorted(extracted, key=lambda n: int(n.split(".")[1]))]
    _rows_only(monkeypatch)
    for block in (0, 11):
        steps = sbs.vit_model_steps(model, pixels, block, None)
        for head, s in enumerate(steps):
            for query in (0, 17, 64):
                want = reference[block][0, head, query].numpy()
                assert np.allclose(s.query_row(query).weights, want, atol=1e-6), (block, head, query)


def test_the_shown_grid_and_window_are_the_rows_tokens(small_dinov2, monkeypatch):
    model, pixels = small_dinov2
    _rows_only(monkeypatch)
    s = sbs.vit_model_steps(model, pixels, 0, 0)
    row = s.query_row(5).weights
    grid = s.on_grid(row)
    assert grid.shape == (8, 8) and grid[1, 2] == row[1 + 1 * 8 + 2]  # patch (1, 2) is token 11
    assert s.query_labels[1 + 1 * 8 + 2] == "(1,2)"
    assert s.rows_window(0, 16) == slice(0, 16)
    assert s.rows_window(30, 16) == slice(22, 38)
    assert s.rows_window(64, 16) == slice(49, 65)
    assert s.rows_window(3, 100) == slice(0, 65)


def test_the_forward_pass_stops_after_the_chosen_block_and_leaves_no_hook(small_dinov2):
    model, pixels = small_dinov2
    module = model.module
    with torch.inference_mode():
        before = module(pixels)
    calls = []
    later = module.blocks[3].register_forward_pre_hook(lambda *_: calls.append(3))
    try:
        sbs.vit_model_steps(model, pixels, 2, 0)
        assert calls == []  # block 4 (index 3) did not run: the forward ended in block 3's attention
        sbs.vit_model_steps(model, pixels, 11, 0)
        assert calls == [3]
    finally:
        later.remove()
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())
    with torch.inference_mode():
        assert torch.equal(module(pixels), before)


class LargestTensor(TorchDispatchMode):
    """While `active` (the recomputation, not the model's forward): the largest tensor any torch operation creates,
    and the most query rows of a token × token tensor (last two dimensions ≥ rows × n) made at once."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.active, self.largest, self.score_rows = n, True, 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.active:
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor):
                    self.largest = max(self.largest, t.numel())
                    if t.dim() >= 2 and t.shape[-1] == self.n:
                        self.score_rows = max(self.score_rows, int(t.shape[-2]))
        return out


@pytest.mark.slow
def test_above_the_threshold_no_token_by_token_matrix_is_made_or_kept(monkeypatch):
    """DINOv2 ViT-S/14 at 476 px: 1 + 34 × 34 = 1,157 tokens (> DENSE_MAX_TOKENS), the real thresholds."""
    model = vision.load(NAME, "random", "cpu", img_size=476)
    pixels = torch.randn(1, 3, 476, 476, generator=torch.Generator().manual_seed(1))
    n = 1 + 34 * 34
    assert n > sbs.DENSE_MAX_TOKENS
    monkeypatch.setattr(sbs, "CHUNK_ELEMENTS", 1 << 17)  # 113 query rows a chunk at 1,157 tokens (the app: 1,812)
    mode = LargestTensor(n)
    capture = sbs._capture

    def forward_not_counted(*args, **kwargs):  # the model's own forward is not the recomputation's
        mode.active = False
        try:
            return capture(*args, **kwargs)
        finally:
            mode.active = True

    monkeypatch.setattr(sbs, "_capture", forward_not_counted)
    with mode:
        steps = sbs.vit_model_steps(model, pixels, 5, None)
    assert 0 < mode.score_rows <= (1 << 17) // n < n  # scores for a chunk of query rows, never N × N at once
    assert mode.largest <= max(1 << 17, 3 * n * 384)  # a chunk of scores, or the block's q, k, v (N × 3·d)
    kept = [v for s in steps for v in vars(s).values() if isinstance(v, np.ndarray)]
    assert max(a.size for a in kept) < n * n
    assert sum({id(a): a.nbytes for a in kept}.values()) < 40 * n * 384 * 4  # N × d arrays only, no N × N
    for s in steps:
        assert not s.dense and s.max_abs_diff <= s.tol and s.max_abs_diff < TOL
        row = s.query_row(n - 1)
        assert row.weights.shape == (n,) and row.output_diff < 1e-5
    # the dense arithmetic on one head, for the row shown
    s = steps[4]
    q, k = torch.from_numpy(np.array(s.q)), torch.from_numpy(np.array(s.k))
    dense = ((q @ k.T) / np.sqrt(s.d_k)).softmax(-1)
    assert np.allclose(s.query_row(700).weights, dense[700].numpy(), atol=1e-6)


def _spec(chart) -> dict:
    import json

    return json.loads(chart.proto.spec)


@pytest.mark.slow
def test_the_page_walks_a_1036_px_dinov2_block_from_a_link():
    """A link to DINOv2 ViT-S/14 at 1,036 px (5,477 tokens): every step drawn, no exception, the check passed, the
    query's rows drawn over every key and the matrices with a row per token as the window around the query."""
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params.update(sbs_model="vit", sbs_vit_which="timm", sbs_vit_weights="random", sbs_vit_name=NAME,
                           sbs_vit_size="1036", sbs_part="all", sbs_query_vit="1000", sbs_head="2")
    at = at.run().switch_page("views/step_by_step.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="sbs_vit_size").value == 1036
    assert any("5,477 tokens" in c.value for c in at.caption)
    assert float(at.metric[0].value) < TOL
    assert any("rows 968…1031" in i.value and "query 1000's row" in i.value for i in at.info)
    specs = [_spec(c) for c in at.get("plotly_chart")]
    bars = [s for s in specs if s["data"][0]["type"] == "bar"]
    assert len(bars) == 3  # scores, scaled scores, weights: query 1000's row over all 5,477 keys
    assert all("1000" in s["layout"]["title"]["text"] for s in bars)
    windows = [s for s in specs if "rows 968…1031" in s["layout"]["title"]["text"]]
    assert len(windows) >= 8  # X, Q, K, V, head output, concat, output, γ ⊙ output (the difference is below)
    assert all(s["layout"]["yaxis"]["range"] == [1031.5, 967.5] for s in windows)
    images = [s for s in specs if any(t["type"] == "image" for t in s["data"])]
    assert len(images) == 1  # the weights over the image, query 1000 = patch (13, 37) outlined
    assert len(at.selectbox(key="sbs_query_vit").options) == 5477
    at.selectbox(key="sbs_query_vit").set_value(0).run()
    assert not at.exception, at.exception
    assert any("rows 0…63" in i.value for i in at.info)
    at.selectbox(key="sbs_vit_size").set_value(224).run()  # small again: the token × token matrices, as before
    assert not at.exception and not at.info
    assert float(at.metric[0].value) < TOL
    assert sum(_spec(c)["data"][0]["type"] == "bar" for c in at.get("plotly_chart")) == 2
    assert at.query_params["sbs_vit_size"] == "224"
    at.selectbox(key="sbs_vit_size").set_value(518).run()  # the model's own: left out of the link, as on the ViT page
    assert not at.exception and "sbs_vit_size" not in at.query_params
    at.radio(key="sbs_vit_which").set_value("demo").run()  # the bundled demo: built for its own size only
    assert not at.exception and not at.error
    assert not [s for s in at.selectbox if s.key == "sbs_vit_size"]
