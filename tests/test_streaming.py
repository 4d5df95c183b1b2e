"""Weights computed when shown (models/capture/attention.py) and the views streamed from them
(models/analysis/streaming.py), against timm's AttentionExtract and the dense formulas of attention_math.

- a plain timm ViT's run keeps q and k, and the weights computed from them equal AttentionExtract's (≤ 1e-6)
  for ViT, DeiT (distilled), registers, at 224 and 518 px; rotary and relative-bias models keep their maps;
- every streamed view equals its dense counterpart (pool_mean, block_means, mean_attention_distance,
  mean_query_maps, rollout with every fusion and discard ratio) on real runs;
- a 1,036 px DINOv2 run keeps N·d, not heads·N² (checked in a child process's own peak memory);
- downloads: the maps written layer by layer, or the queries and keys that reproduce them.
"""
import copy
import dataclasses
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from models.analysis import attention_math as am
from models.analysis import streaming
from models.capture import attention as lazy_attention
from models.capture import vision
from models.runtime import images
from tests.conftest import ROOT
from viz import vit as vi


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return images.load_image(images.SAMPLES["Chelsea the cat"])


def _attention_extract(module, x):
    from timm.utils import AttentionExtract

    ref = copy.deepcopy(module)
    for m in ref.modules():
        if hasattr(m, "fused_attn"):
            m.fused_attn = False
    with torch.inference_mode():
        return [v[0].float().numpy() for v in AttentionExtract(ref, method="fx")(x).values()]


@pytest.mark.parametrize("name,kwargs", [
    ("vit_tiny_patch16_224", {}),
    ("deit_tiny_distilled_patch16_224", {}),
    ("vit_small_patch14_reg4_dinov2", {"img_size": 224}),
])
def test_a_plain_vit_keeps_queries_and_keys_and_its_weights_equal_attention_extract(name, kwargs, photo):
    model = vision.load(name, "random", **kwargs)
    assert model.lazy
    trace = vision.run(model, photo)
    att = trace.attention
    assert isinstance(att, lazy_attention.BlockAttention) and att.lazy
    n, heads = att.num_tokens, att.num_heads
    assert att.nbytes == len(att) * 2 * n * model.module.embed_dim * 4  # q and k, float32: N·d per block
    x, _ = vision.preprocess(model, photo)
    reference = _attention_extract(model.module, x)
    for i, theirs in enumerate(reference):
        np.testing.assert_allclose(att[i], theirs, atol=1e-6, rtol=0)
        np.testing.assert_allclose(att.rows(i, [0, n - 1]), theirs[:, [0, n - 1]], atol=1e-6, rtol=0)
        np.testing.assert_allclose(att.rows(i, 3, heads=[1]), theirs[[1], 3], atol=1e-6, rtol=0)
        chunks = np.concatenate([w for _, w in att.chunks(i, rows=50)], axis=1)
        np.testing.assert_allclose(chunks, theirs, atol=1e-6, rtol=0)
    assert att[0].shape == (heads, n, n) and not any(m._forward_hooks for m in model.module.modules())


@pytest.mark.slow
def test_at_518_px_the_weights_equal_attention_extract(photo):
    """DINOv2 with registers at its own 518 px: 1,374 tokens, every block against timm's AttentionExtract."""
    model = vision.load("vit_small_patch14_reg4_dinov2", "random")
    trace = vision.run(model, photo)
    assert trace.attention.num_tokens == 5 + 37 * 37 and trace.attention.lazy
    x, _ = vision.preprocess(model, photo)
    for i, theirs in enumerate(_attention_extract(model.module, x)):
        np.testing.assert_allclose(trace.attention[i], theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["eva02_tiny_patch14_224", "vit_relpos_small_patch16_224"])
def test_rotary_and_relative_bias_models_keep_their_maps_as_timm_returns_them(name, photo):
    """Their logits get more than q·kᵀ (rotation, a learned bias): the run keeps timm's maps, at their own size
    only (no other size is offered), equal to AttentionExtract."""
    model = vision.load(name, "random")
    assert not model.lazy and vision.geometry(name)["sizes"] == (vision.geometry(name)["img_size"],)
    trace = vision.run(model, photo)
    assert not trace.attention.lazy
    x, _ = vision.preprocess(model, photo)
    for ours, theirs in zip(trace.attention, _attention_extract(model.module, x), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=0)


def test_a_model_that_would_keep_too_many_maps_is_refused_with_the_reason(photo, monkeypatch):
    model = dataclasses.replace(vision.load("vit_tiny_patch16_224", "random"), lazy=False)
    monkeypatch.setattr(vision, "DENSE_MAX_BYTES", 1_000_000)  # its maps: 5.6 MB
    with pytest.raises(vision.CaptureError) as raised:
        vision.run(model, photo)
    assert raised.value.code == "vision.maps_too_large" and "GB" in str(raised.value)


def test_geometry_and_cost_say_what_a_size_costs_before_it_runs():
    geo = vision.geometry("vit_small_patch14_dinov2")
    assert (geo["img_size"], geo["patch"], geo["depth"], geo["heads"], geo["dim"], geo["prefix"]) == (
        518, 14, 12, 6, 384, 1)
    assert 518 in geo["sizes"] and 1036 in geo["sizes"] and geo["lazy"]
    c = vision.cost(geo, 1036)
    assert c["grid"] == 74 and c["tokens"] == 5477
    assert c["kept_bytes"] == 12 * 2 * 5477 * 384 * 4  # 202 MB of queries and keys
    assert c["maps_bytes"] == 12 * 6 * 5477 ** 2 * 4  # 8.6 GB of maps, not kept
    assert vision.geometry("swin_tiny_patch4_window7_224") is None and vision.geometry("no_such_model") is None


def test_a_model_built_at_another_size_runs_there(photo):
    model = vision.load("vit_tiny_patch16_224", "random", img_size=384)
    assert model.data_config["input_size"] == (3, 384, 384)
    trace = vision.run(model, photo)
    assert trace.grid == (24, 24) and trace.image.shape[:2] == (384, 384)
    assert trace.attention.num_tokens == 1 + 24 * 24


@pytest.mark.parametrize("name,kwargs", [("vit_small_patch14_reg4_dinov2", {"img_size": 224}),
                                         ("deit_tiny_distilled_patch16_224", {})])
def test_every_streamed_view_equals_its_dense_formula(name, kwargs, photo, monkeypatch):
    monkeypatch.setattr(lazy_attention, "CHUNK_CELLS", 50_000)  # many chunks, one ending mid-way
    model = vision.load(name, "random", **kwargs)
    trace = vision.run(model, photo)
    att, grid, p = trace.attention, trace.grid, trace.num_prefix_tokens
    dense = att.to_dense()
    s = streaming.summary(att, grid, p, float(trace.patch_size), 100, 40)
    factor = am.pool_factor(grid, p, 100)
    edges = am.block_edges(att.num_tokens, 40)
    for layer, a in enumerate(dense):
        pooled, spans = am.pool_mean(a, grid, p, factor)
        np.testing.assert_allclose(s.pooled[layer], pooled, atol=1e-6, rtol=1e-5)
        assert s.spans == spans and s.factor == factor
        np.testing.assert_allclose(s.overview[layer], am.block_means(a, edges, edges), atol=1e-7, rtol=1e-5)
        np.testing.assert_allclose(s.distance[layer], am.mean_attention_distance(a, grid, float(trace.patch_size), p),
                                   rtol=1e-5)
        np.testing.assert_allclose(s.received[layer], am.mean_query_maps(a, grid, p), atol=1e-7, rtol=1e-5)
    for fusion in am.HEAD_FUSIONS:
        for discard in (0.0, 0.4):
            rows = [0, p + 3]
            ours, seconds = streaming.rollout_rows(att, fusion, discard, rows)
            np.testing.assert_allclose(ours, am.rollout(dense, fusion, discard, rows=rows), atol=1e-6, rtol=1e-5)
            assert seconds >= 0
    # the same functions over a dense-backed run (maps kept): the same numbers
    dense_s = streaming.summary(lazy_attention.BlockAttention.from_dense(dense), grid, p, float(trace.patch_size),
                                100, 40)
    np.testing.assert_allclose(dense_s.pooled, s.pooled, atol=1e-7)


CHILD = r"""
import json, sys, time
import torch
torch.set_num_threads(2)
from models.analysis import streaming
from models.capture import vision
from models.runtime import images
model = vision.load("vit_small_patch14_dinov2", "random", img_size=1036)
image = images.load_image(next(iter(images.SAMPLES.values())))
t = time.perf_counter()
trace = vision.run(model, image)
run_s = time.perf_counter() - t
row = trace.attention.rows(11, 0)
s = streaming.summary(trace.attention, trace.grid, 1, 14.0, 256, 96)
rolled, _ = streaming.rollout_rows(trace.attention, "mean", 0.0, [0])
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"tokens": trace.attention.num_tokens, "kept": trace.attention.nbytes, "hwm_mb": hwm,
                  "row_sum": float(row.sum()), "rolled_sum": float(rolled.sum()), "run_s": run_s,
                  "pooled": list(s.pooled.shape)}))
"""


@pytest.mark.slow
def test_a_1036_px_dinov2_run_keeps_n_d_not_heads_n_squared():
    """5,477 tokens: every map would be 8.6 GB; the run keeps 202 MB of q and k, and the run, a CLS row, the whole
    summary pass and a rollout together peak well under 2.5 GB (the child's own VmHWM)."""
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tokens"] == 5477 and out["kept"] == 12 * 2 * 5477 * 384 * 4
    assert out["hwm_mb"] < 2000, out
    assert out["row_sum"] == pytest.approx(6.0, abs=1e-4) and out["rolled_sum"] == pytest.approx(1.0, abs=1e-6)
    assert out["pooled"][:2] == [12, 6]


def test_downloads_write_the_maps_layer_by_layer_or_the_queries_and_keys(photo):
    model = vision.load("vit_tiny_patch16_224", "random")
    trace = vision.run(model, photo)
    att = trace.attention
    data = np.load(io.BytesIO(vi.export_npz(trace)))
    assert vi.export_size(trace) == 12 * 3 * 197 * 197
    for i in range(len(att)):
        np.testing.assert_array_equal(data[f"attention_layer{i + 1}"], att[i])
    qk = np.load(io.BytesIO(vi.export_queries_keys_npz(trace)))
    for i in range(len(att)):  # every weight from the file alone, as its caption says
        q, k = torch.from_numpy(qk[f"query_layer{i + 1}"]), torch.from_numpy(qk[f"key_layer{i + 1}"])
        weights = ((q * float(qk["scale"][i])) @ k.transpose(-2, -1)).softmax(-1).numpy()
        np.testing.assert_allclose(weights, att[i], atol=1e-6, rtol=0)
        np.testing.assert_allclose(qk[f"cls_layer{i + 1}"], att[i][:, 0], atol=1e-7, rtol=0)
    assert list(qk["token_labels"][:2]) == ["CLS", "(0,0)"] and tuple(qk["grid"]) == (14, 14)
    doc = json.loads(vi.export_json(trace))
    np.testing.assert_array_equal(np.asarray(doc["attention"]["layer2"], dtype=np.float32), att[1])
