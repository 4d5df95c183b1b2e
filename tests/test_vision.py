"""models.capture.vision and models.analysis.attention_math against references nobody here wrote.

- captured weights == timm.utils.AttentionExtract (FX and hooks) on a copy with fused attention off;
- weights @ V, merged and projected by the block's own modules, == the block's attention output
  (taken from the real, fused forward by a hook), and softmax(q·kᵀ/√d_k) == the captured weights;
- logits == the model's own forward; preprocessing == timm's own eval transform;
- rollout, mean distance and pooling against their definitions on hand-made arrays;
- the bundled demo model: accuracy on fresh images and attention on the object.
"""
import copy
import dataclasses
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from models.analysis import attention_math as am
from models.capture import vision
from models.demo import shapes
from models.runtime import images

VARIANTS = [  # (name, create kwargs, prefix labels)
    ("vit_tiny_patch16_224", {}, ["CLS"]),
    ("deit_tiny_distilled_patch16_224", {}, ["CLS", "DIST"]),
    ("vit_small_patch14_reg4_dinov2", {"img_size": 112, "num_classes": 10}, ["CLS", "REG0", "REG1", "REG2", "REG3"]),
]


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return images.load_image(images.SAMPLES["Chelsea the cat"])


@pytest.fixture(scope="module", params=VARIANTS, ids=[v[0] for v in VARIANTS])
def loaded(request):
    name, kwargs, prefix = request.param
    return vision.load(name, "random", **kwargs), prefix


def _fused_switches(model):
    return [m for m in model.modules() if hasattr(m, "fused_attn")]


def _reference_extract(model, x, method):
    """timm.utils.AttentionExtract on a deep copy whose attention modules take the explicit softmax path."""
    from timm.utils import AttentionExtract

    ref = copy.deepcopy(model)
    for m in _fused_switches(ref):
        m.fused_attn = False
    extractor = AttentionExtract(ref, method=method)  # timm's defaults: '*attn.softmax' / '*attn_drop'
    with torch.inference_mode():
        out = extractor(x)
    return [v[0].float().numpy() for v in out.values()]


def test_capture_equals_attention_extract_and_reproduces_block_outputs(loaded, photo):
    model, prefix = loaded
    net = model.module
    fused_before = [m.fused_attn for m in _fused_switches(net)]
    trace = vision.run(model, photo)
    assert [m.fused_attn for m in _fused_switches(net)] == fused_before  # the model keeps its fused path
    n_blocks = len(net.blocks)
    assert len(trace.attention) == n_blocks and trace.kind == "vit"
    x, crop = vision.preprocess(model, photo)
    assert np.array_equal(crop, trace.image)

    n = trace.num_prefix_tokens + trace.grid[0] * trace.grid[1]
    assert trace.token_labels[: len(prefix)] == prefix and trace.num_prefix_tokens == len(prefix)
    assert len(trace.token_labels) == n and trace.token_labels[len(prefix)] == "(0,0)"
    for a in trace.attention:
        assert a.dtype == np.float32 and a.shape == (net.blocks[0].attn.num_heads, n, n)
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)

    for method in ("fx", "hook"):
        reference = _reference_extract(net, x, method)
        assert len(reference) == n_blocks
        for ours, theirs in zip(trace.attention, reference):
            np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=0)

    # The block's own modules, in the real (fused) forward: input and output of every block.attn.
    seen = {}
    hooks = [
        blk.attn.register_forward_hook(lambda mod, inp, out, i=i: seen.__setitem__(i, (inp[0], out)))
        for i, blk in enumerate(net.blocks)
    ]
    try:
        with torch.inference_mode():
            logits = net(x)
    finally:
        for h in hooks:
            h.remove()
    for i, blk in enumerate(net.blocks):
        _check_block(blk.attn, *seen[i], trace.attention[i])

    probs = torch.softmax(logits[0], -1)
    best = torch.topk(probs, 5)
    assert [p for _, p in trace.top_k] == pytest.approx(best.values.tolist(), abs=1e-6)
    assert [name for name, _ in trace.top_k] == [model.class_names[i] for i in best.indices.tolist()]


@torch.inference_mode()
def _check_block(attn, inp, out, captured):
    """softmax(q·kᵀ/√d_k) from the block's own q, k == captured; captured @ V, merged, projected == output."""
    b, t, _ = inp.shape
    qkv = attn.qkv(inp).reshape(b, t, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    d_k = q.shape[-1]
    weights = torch.from_numpy(captured)[None]
    expected = torch.softmax(q @ k.transpose(-2, -1) / d_k**0.5, dim=-1)  # Vaswani et al. eq. 1
    torch.testing.assert_close(weights, expected, atol=2e-6, rtol=1e-4)
    merged = (weights @ v).transpose(1, 2).reshape(b, t, -1)
    torch.testing.assert_close(attn.proj(attn.norm(merged)), out, atol=1e-5, rtol=1e-4)


def test_preprocess_matches_timm_transform(photo):
    from timm.data import create_transform, resolve_data_config

    model = vision.load("deit_tiny_distilled_patch16_224", "random")
    x, crop = vision.preprocess(model, photo)
    reference = create_transform(**resolve_data_config({}, model=model.module))(photo)
    torch.testing.assert_close(x[0], reference)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    wide = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 400, 3), dtype=np.uint8))
    x_wide, _ = vision.preprocess(model, wide)  # cut to 4:1 first; the centre crop sees the same pixels
    reference = create_transform(**resolve_data_config({}, model=model.module))(wide)
    assert (x_wide[0] - reference).abs().mean() < 0.02
    strip, crop = vision.preprocess(model, Image.new("RGB", (20_000, 1), (200, 10, 10)))
    assert strip.shape == (1, 3, 224, 224) and tuple(crop[100, 100]) == (200, 10, 10)


def test_empty_capture_is_an_error(photo):
    model = vision.load("vit_tiny_patch16_224", "random")
    broken = dataclasses.replace(model, lazy=False, attention_nodes=())  # the maps path (FX graph)
    with pytest.raises(vision.CaptureError, match="empty"):
        vision.run(broken, photo)


def test_one_model_many_threads(photo):
    model = vision.load("vit_tiny_patch16_224", "random")
    other = Image.fromarray(shapes.render("ring", 160, 1)[0])
    expected = {id(im): vision.run(model, im).attention[-1] for im in (photo, other)}
    results, errors = [], []

    def work(im):
        try:
            results.append((id(im), vision.run(model, im).attention[-1]))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=((photo, other)[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6
    for key, att in results:
        np.testing.assert_array_equal(att, expected[key])


@pytest.mark.slow
def test_weights_sources_and_errors(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    model = vision.load("vit_tiny_patch16_224", "random")
    assert model.weights_source.startswith("random")
    assert model.class_names[0].startswith("tench")  # ImageNet names, offline, from timm

    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.module.state_dict().items()}, str(path))
    again = vision.load("vit_tiny_patch16_224", str(path))
    assert again.weights_source.startswith("file: tiny.safetensors")
    for a, b in zip(model.module.state_dict().values(), again.module.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(vision.WeightsMismatch, match=r"wrong shape.*blocks\.0"):
        vision.load("vit_small_patch16_224", str(path))
    (tmp_path / "tiny.pth").write_bytes(b"not loaded")
    with pytest.raises(vision.WeightsUnavailable, match="only .safetensors"):
        vision.load("vit_tiny_patch16_224", str(tmp_path / "tiny.pth"))

    monkeypatch.setattr(vision, "_cached_hub_file", lambda cfg: None)
    monkeypatch.setattr(vision, "_hub_reachable", lambda url=None, timeout=3.0: False)
    with pytest.raises(vision.WeightsUnavailable, match="unreachable"):
        vision.load("vit_tiny_patch16_224", "pretrained")
    with pytest.raises(vision.UnknownModel, match="not a timm model"):
        vision.load("vit_no_such_model", "random")
    with pytest.raises(vision.WeightsUnavailable, match="no bundled demo"):
        vision.load("vit_tiny_patch16_224", "demo")
    resnet = vision.load("resnet18", "random")
    with pytest.raises(vision.UnsupportedModel, match="not a ViT"):
        vision.run(resnet, Image.new("RGB", (64, 64)))
    assert vision.family("deit_small_distilled_patch16_224") == "vit"
    assert vision.family("swin_tiny_patch4_window7_224") == "swin"
    assert vision.family("resnet18") is None


# ----------------------------------------------------------------------------------- attention_math


def _random_attention(rng, heads, n):
    a = rng.random((heads, n, n))
    return (a / a.sum(-1, keepdims=True)).astype(np.float32)


def test_rollout_matches_its_definition():
    rng = np.random.default_rng(0)
    layers = [_random_attention(rng, 3, 7) for _ in range(4)]
    for fusion, fuse in (("mean", np.mean), ("max", np.max), ("min", np.min)):
        expected = np.eye(7)
        for a in layers:  # Abnar & Zuidema: Ã = norm(0.5 W + 0.5 I), R_l = Ã_l R_{l-1}
            w = 0.5 * fuse(a.astype(np.float64), axis=0) + 0.5 * np.eye(7)
            expected = (w / w.sum(-1, keepdims=True)) @ expected
        full = am.rollout(layers, fusion)
        np.testing.assert_allclose(full, expected, atol=1e-6)
        np.testing.assert_allclose(am.rollout(layers, fusion, rows=[0, 3]), expected[[0, 3]], atol=1e-6)
        np.testing.assert_allclose(full.sum(-1), 1.0, atol=1e-5)
    dropped = am.rollout(layers, "mean", discard_ratio=0.9)
    assert np.isfinite(dropped).all() and not np.allclose(dropped, am.rollout(layers, "mean"))


def test_mean_attention_distance_by_hand():
    grid, px = (3, 4), 16
    p = 1  # one CLS token
    n = p + 12
    self_only = np.zeros((1, n, n), np.float32)
    self_only[0, np.arange(n), np.arange(n)] = 1.0
    assert am.mean_attention_distance(self_only, grid, px, p)[0] == pytest.approx(0.0)
    right = np.zeros((1, n, n), np.float32)  # every patch looks one patch to its right (or left at the edge)
    right[0, 0, 0] = 1
    for i in range(12):
        r, c = divmod(i, 4)
        right[0, p + i, p + r * 4 + (c + 1 if c < 3 else c - 1)] = 1.0
    assert am.mean_attention_distance(right, grid, px, p)[0] == pytest.approx(16.0)
    uniform = np.full((1, n, n), 1.0 / n, np.float32)
    centres = am.patch_centres(grid, px)
    d = np.sqrt(((centres[:, None] - centres[None]) ** 2).sum(-1))
    assert am.mean_attention_distance(uniform, grid, px, p)[0] == pytest.approx(d.mean(), rel=1e-5)
    assert am.mean_attention_distance(uniform, grid, px, p, renormalise=False)[0] == pytest.approx(
        d.mean() * 12 / 13, rel=1e-5
    )


def test_pool_tokens_and_box_mass():
    rng = np.random.default_rng(1)
    grid, p = (5, 6), 2
    a = _random_attention(rng, 2, p + 30)
    f = am.pool_factor(grid, p, 12)
    assert f == 2 and p + 3 * 3 <= 12
    pooled, spans = am.pool_tokens(a, grid, p, f)
    assert pooled.shape == (2, 11, 11) and len(spans) == 9 and spans[-1] == (4, 5, 4, 6)
    np.testing.assert_allclose(pooled.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pooled[:, :p, :p], a[:, :p, :p], atol=1e-6)
    # pooled query (rows 0-1, cols 0-1) → pooled key (rows 4, cols 4-5), by hand
    q = [p + r * 6 + c for r in (0, 1) for c in (0, 1)]
    k = [p + 4 * 6 + c for c in (4, 5)]
    assert pooled[0, p, p + 8] == pytest.approx(a[0][np.ix_(q, k)].sum(1).mean(), rel=1e-5)
    m = np.zeros((4, 4))
    m[1, 1] = 1.0
    assert am.mass_inside_box(m, (16, 16, 32, 32), (64, 64)) == pytest.approx(1.0)
    assert am.mass_inside_box(m, (16, 16, 24, 32), (64, 64)) == pytest.approx(0.5)
    assert am.mass_inside_box(np.ones((4, 4)), (0, 0, 32, 32), (64, 64)) == pytest.approx(0.25)


# ------------------------------------------------------------------------------------ demo checkpoint


@pytest.fixture(scope="module")
def demo():
    return vision.load("vit_demo", "demo")


@pytest.mark.slow
def test_demo_model_accuracy_on_fresh_images(demo):
    from models.demo import train_vit

    assert demo.weights_source.startswith("demo") and list(demo.class_names) == shapes.CLASSES
    accuracy = train_vit.evaluate(demo.module, n=1000, seed=train_vit.EVAL_SEED + 7)  # not the evaluation set either
    assert accuracy >= 0.95


def test_demo_attention_is_on_the_object(demo):
    """Last-layer CLS attention (heads averaged) and CLS rollout each put ≥ 2× the box's share inside the box."""
    rng = np.random.default_rng(12345)
    ratios_last, ratios_rollout = [], []
    for i in range(50):
        array, box = shapes.render(i % len(shapes.CLASSES), 64, rng)
        trace = vision.run(demo, Image.fromarray(array))
        assert np.array_equal(trace.image, array)  # 64 px in, nothing resized or cropped
        share = (box[2] - box[0]) * (box[3] - box[1]) / 64**2
        last = am.query_maps(trace.attention[-1], 0, trace.grid, trace.num_prefix_tokens).mean(0)
        ratios_last.append(am.mass_inside_box(last, box, (64, 64)) / share)
        roll = am.rollout(trace.attention, "mean", rows=[0])[0, trace.num_prefix_tokens :].reshape(trace.grid)
        ratios_rollout.append(am.mass_inside_box(roll, box, (64, 64)) / share)
    assert np.mean(ratios_last) >= 2.0, np.mean(ratios_last)
    assert np.mean(ratios_rollout) >= 2.0, np.mean(ratios_rollout)


# ------------------------------------------------------------------------------ the model and its weights


def _attrs(module: torch.nn.Module) -> dict[str, set[str]]:
    return {name: set(vars(m)) for name, m in module.named_modules()}


@pytest.mark.slow
def test_load_wraps_the_module_and_sets_nothing_on_it():
    """The VisionModel owns timm's module and its facts; the module has exactly the attributes timm gave it."""
    import timm

    for name in ("vit_tiny_patch16_224", "swin_demo"):
        model = vision.load(name, "random")
        assert isinstance(model, vision.VisionModel) and model.extractor is not None
        arch = model.arch
        kwargs = vision._meta_kwargs(vision._demo_meta(name), name) if name == "swin_demo" else {}
        with torch.random.fork_rng(devices=[]):
            plain = timm.create_model(arch, pretrained=False, **kwargs).eval()
        assert _attrs(model.module) == _attrs(plain)
        assert not hasattr(model.module, "atlas")
        with pytest.raises(dataclasses.FrozenInstanceError):
            model.name = "other"  # read-only: one cached model serves every session
    assert not hasattr(vision, "info") and not hasattr(vision, "ModelInfo")


def test_the_hook_fallback_equals_the_traced_capture(photo):
    """Where FX cannot trace a ViT, run() reads every block's attn_drop through models/capture/hooks.py: the same
    maps and predictions as the traced graph, flags restored and no hook left behind."""
    model = vision.load("deit_tiny_distilled_patch16_224", "random")
    hooked = dataclasses.replace(model, lazy=False, extractor=None, attention_nodes=(), output_node=None)
    flags = [m.fused_attn for m in _fused_switches(model.module)]
    a, b = vision.run(model, photo), vision.run(hooked, photo)
    for p, q in zip(a.attention, b.attention, strict=True):
        np.testing.assert_allclose(p, q, atol=1e-6, rtol=0)
    assert [n for n, _ in a.top_k] == [n for n, _ in b.top_k]
    assert [p for _, p in a.top_k] == pytest.approx([p for _, p in b.top_k], abs=1e-6)
    assert [m.fused_attn for m in _fused_switches(model.module)] == flags and any(flags)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.module.modules())


def test_a_pretrained_tag_that_does_not_exist_is_an_error_naming_the_real_tags(monkeypatch):
    monkeypatch.setattr(vision, "_hub_reachable", lambda url=None, timeout=3.0: False)  # never the network
    name = "vit_base_patch16_224.nonexistent_tag"
    for weights in ("pretrained", "random"):
        with pytest.raises(vision.UnknownTag) as err:
            vision.load(name, weights)
        assert isinstance(err.value, vision.WeightsUnavailable)
        message = str(err.value)
        assert "nonexistent_tag" in message and "vit_base_patch16_224.augreg2_in21k_ft_in1k" in message
        assert "vit_base_patch16_224_miil" not in message  # another architecture's tags are not its tags
    with pytest.raises(vision.UnknownTag):
        vision.require_family(name, "vit")  # the pages' first, cheap check already says so
    assert vision.family(name) == "vit"
    # a real tag picks its own settings, even with random weights: ImageNet-21k has 21,843 classes
    tagged = vision.load("vit_tiny_patch16_224.augreg_in21k", "random")
    assert tagged.module.num_classes == 21843 and len(tagged.class_names) == 21843
    assert tagged.weights_source == "random (untrained vit_tiny_patch16_224.augreg_in21k, seed 0)"


def _page_with(name: str):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("views/vit.py").run()
    at.radio(key="vit_weights").set_value("pretrained").run()
    at.selectbox(key="vit_model").set_value("other timm model…").run()
    at.text_input(key="vit_model_other").set_value(name).run()
    return at


@pytest.mark.slow
def test_the_page_does_not_fall_back_to_random_weights_for_a_typo(monkeypatch):
    """Random weights stand in for pretrained ones the Hub cannot give, not for a tag that does not exist."""
    monkeypatch.setattr(vision, "_cached_hub_file", lambda cfg: None)
    monkeypatch.setattr(vision, "_hub_reachable", lambda url=None, timeout=3.0: False)
    at = _page_with("vit_tiny_patch16_224.nonexistent_tag")
    errors, warnings_ = " ".join(e.value for e in at.error), " ".join(w.value for w in at.warning)
    assert not at.exception
    assert "nonexistent_tag" in errors and "vit_tiny_patch16_224.augreg_in21k" in errors
    assert "random" not in warnings_ and not at.get("plotly_chart")
    # ... nor when the tag gets past the page's first check and only load() finds it (traced_input's fallback)
    monkeypatch.setattr(vision, "require_family", lambda name, wanted: None)
    at = _page_with("vit_tiny_patch16_224.another_typo")
    errors, warnings_ = " ".join(e.value for e in at.error), " ".join(w.value for w in at.warning)
    assert not at.exception and "another_typo" in errors
    assert "random" not in warnings_ and not at.get("plotly_chart")


def _copy_demo(name: str, folder, sidecar: dict | None) -> str:
    """The bundled demo's tensors under another name, with the given sidecar beside them (None: no sidecar)."""
    import json
    import shutil

    from models.demo import WEIGHTS_DIR

    target = folder / "my_weights.safetensors"
    shutil.copy(WEIGHTS_DIR / f"{name}.safetensors", target)
    if sidecar is not None:
        target.with_suffix(".json").write_text(json.dumps(sidecar))
    return str(target)


@pytest.mark.parametrize("demo_name", ["vit_demo", "swin_demo"])
@pytest.mark.slow
def test_a_weights_file_is_read_with_its_own_sidecar(demo_name, tmp_path, photo):
    """A demo checkpoint loaded as a file under its timm name predicts exactly as the demo does: the file's
    sidecar (sizes, input size, crop, mean/std, class names) wins over the settings of the name it is loaded by."""
    import json

    from models.demo import WEIGHTS_DIR

    meta = json.loads((WEIGHTS_DIR / f"{demo_name}.json").read_text())
    demo = vision.load(demo_name, "demo")
    path = _copy_demo(demo_name, tmp_path, meta)
    as_file = vision.load(meta["arch"], path)
    assert as_file.weights_source.startswith("file: my_weights.safetensors")
    assert as_file.data_config == demo.data_config and as_file.class_names == demo.class_names
    pictures = [shapes.sample_image(s, seed=i) for i, s in enumerate(shapes.CLASSES)] + [photo]
    for picture in pictures:
        x_demo, crop_demo = vision.preprocess(demo, picture)
        x_file, crop_file = vision.preprocess(as_file, picture)
        assert np.array_equal(crop_demo, crop_file)
        with torch.inference_mode():
            torch.testing.assert_close(as_file.module(x_file), demo.module(x_demo), atol=0, rtol=0)
        assert vision.run(as_file, picture).top_k == vision.run(demo, picture).top_k

    # What this guards against: without the overlay the crop follows the name (timm's crop_pct 0.9 here).
    bare = dict(meta)
    bare.pop("pretrained_cfg_overlay")
    (tmp_path / "bare").mkdir()
    named = vision.load(meta["arch"], _copy_demo(demo_name, tmp_path / "bare", bare))
    assert named.data_config["crop_pct"] != demo.data_config["crop_pct"]
    assert not np.array_equal(vision.preprocess(named, photo)[0], vision.preprocess(demo, photo)[0])


def test_a_sidecar_that_does_not_describe_the_file_is_refused_with_a_message(tmp_path):
    import json

    from models.demo import WEIGHTS_DIR

    meta = json.loads((WEIGHTS_DIR / "vit_demo.json").read_text())
    path = _copy_demo("vit_demo", tmp_path, {**meta, "arch": "swin_tiny_patch4_window7_224"})
    with pytest.raises(vision.WeightsMismatch, match="swin_tiny_patch4_window7_224 checkpoint"):
        vision.load("vit_tiny_patch16_224", path)
    (tmp_path / "my_weights.json").write_text("{not json")
    with pytest.raises(vision.WeightsUnavailable, match="not readable JSON"):
        vision.load("vit_tiny_patch16_224", path)
    (tmp_path / "my_weights.json").write_text(json.dumps({**meta, "kwargs": [1, 2]}))
    with pytest.raises(vision.WeightsUnavailable, match="must be JSON objects"):
        vision.load("vit_tiny_patch16_224", path)
    (tmp_path / "my_weights.json").write_text(json.dumps({**meta, "kwargs": {**meta["kwargs"], "no_such_kwarg": 1}}))
    with pytest.raises(vision.WeightsMismatch, match="cannot be built"):
        vision.load("vit_tiny_patch16_224", path)
