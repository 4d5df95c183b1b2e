"""Swin window geometry and attention capture, checked against timm's own code.

References nobody here wrote: timm's `attn_mask` buffers, timm's window_partition / window_reverse
and torch.roll, `timm.utils.AttentionExtract` (FX), and each WindowAttention's own output.
"""
import functools
import threading

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from timm.models import swin_transformer as timm_swin
from timm.models import swin_transformer_v2 as timm_swin_v2
from timm.utils import AttentionExtract

from models.capture import swin
from models.capture.trace import BlockInfo

torch.set_num_threads(1)


def _make(name, **kwargs):
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, **kwargs).eval()
    # Random weights give near-uniform attention; make the relative position bias large enough that a
    # wrong index or a wrong sign would show.
    with torch.no_grad():
        for _, _, blk in swin.swin_blocks(model):
            if hasattr(blk.attn, "relative_position_bias_table"):
                blk.attn.relative_position_bias_table.normal_(0, 1.0)
    return model


MODELS = {
    # name: (timm name, create_model kwargs)
    "swin_tiny": ("swin_tiny_patch4_window7_224", {}),
    "swinv2_tiny": ("swinv2_tiny_window8_256", {}),
    # 48x48 grid: not a multiple of M = 7, so timm pads; the last stage (6x6) clips M to 6 and drops the shift
    "swin_padded": (
        "swin_tiny_patch4_window7_224",
        dict(img_size=192, embed_dim=24, depths=(2, 2, 2, 2), num_heads=(1, 2, 3, 4), num_classes=5),
    ),
    # timm's separate Swin V2 (SwinTransformerV2Cr): stages, a functional softmax, its meta MLP bias as is
    "swinv2_cr_small": (
        "swinv2_cr_tiny_224",
        dict(img_size=(64, 64), window_size=4, embed_dim=24, depths=(2, 2, 2), num_heads=(1, 2, 3), num_classes=5),
    ),
    # the bundled demo's shape: 64 px, patch 4, window 4
    "swin_small_grid": (
        "swin_tiny_patch4_window7_224",
        dict(img_size=64, window_size=4, embed_dim=32, depths=(2, 2), num_heads=(2, 4), num_classes=6),
    ),
}


@functools.lru_cache(maxsize=None)
def _captured(key):
    name, kwargs = MODELS[key]
    model = _make(name, **kwargs)
    size = model.patch_embed.img_size
    torch.manual_seed(1)
    x = torch.randn(1, 3, *size)
    cap = swin.capture(model, x)
    return key, model, x, cap.attention, cap.blocks, cap


@pytest.fixture(scope="module", params=list(MODELS))
def captured(request):
    return _captured(request.param)


# ---------------------------------------------------------------------------------------------- masks
def test_masks_equal_timm_for_every_shifted_block(captured):
    key, model, _, _, blocks, cap = captured
    shifted = 0
    for (name, _, blk), info, used in zip(swin.swin_blocks(model), blocks, cap.details.attn_mask):
        ours = swin.shift_mask(info.grid, info.window_size, info.shift)
        if blk.attn_mask is None:
            assert ours is None and used is None and info.shift == 0, name
            continue
        shifted += 1
        theirs = blk.attn_mask.numpy()
        assert ours.shape == theirs.shape, name
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
        np.testing.assert_array_equal(used, theirs, err_msg=name)  # the mask the forward really used
        # the paper's construction: only -100 and 0, and windows wholly inside region 0 are unmasked
        assert set(np.unique(ours)) <= {0.0, -100.0}
        assert not ours[0].any()
    assert shifted >= 1, f"{key}: no shifted block was tested"


def test_shift_is_half_the_window_in_alternate_blocks(captured):
    _, _, _, _, blocks, _ = captured
    for b in blocks:
        index = int(b.name.rsplit(".", 1)[1])
        if index % 2 == 0 or b.grid[0] <= b.window_size:
            assert b.shift == 0, b
        else:
            assert b.shift == b.window_size // 2, b


def test_region_labels_are_nine_regions_of_the_paper():
    labels = swin.region_labels((8, 8), 4, 2)
    assert sorted(np.unique(labels)) == list(range(9))
    assert (labels[:4, :4] == 0).all() and labels[7, 7] == 8 and labels[5, 5] == 4 and labels[4, 7] == 5
    assert not swin.region_labels((8, 8), 4, 0).any()
    assert swin.shift_mask((8, 8), 4, 0) is None


# ---------------------------------------------------------------------------------------------- partition
@pytest.mark.parametrize("shape,m", [((8, 8, 3), 4), ((14, 21, 5), 7), ((12, 12), 3), ((6, 6, 2, 2), 2)])
def test_window_reverse_inverts_partition_and_matches_timm(shape, m):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    windows = swin.window_partition(x, m)
    assert windows.shape == ((shape[0] // m) * (shape[1] // m), m, m, *shape[2:])
    np.testing.assert_array_equal(swin.window_reverse(windows, m, shape[0], shape[1]), x)
    if len(shape) == 3:  # timm's helpers take (B, H, W, C)
        t = torch.from_numpy(x)[None]
        theirs = timm_swin.window_partition(t, (m, m)).numpy()
        np.testing.assert_array_equal(windows, theirs)
        np.testing.assert_array_equal(timm_swin.window_reverse(torch.from_numpy(windows), (m, m), *shape[:2])[0], x)
        np.testing.assert_array_equal(timm_swin_v2.window_partition(t, (m, m)).numpy(), windows)


def test_partition_refuses_a_grid_that_is_not_whole_windows():
    with pytest.raises(ValueError):
        swin.window_partition(np.zeros((5, 8)), 4)


# ---------------------------------------------------------------------------------------------- capture
@pytest.mark.filterwarnings("ignore::UserWarning:torchvision.models.feature_extraction")
def test_captured_attention_equals_timm_attention_extract(captured):
    key, model, x, attention, blocks, _ = captured
    reference = AttentionExtract(model, method="fx")  # traces a copy of the graph; the model is untouched
    with torch.inference_mode():
        theirs = reference(x)
    assert len(theirs) == len(attention)
    for info, ours in zip(blocks, attention):
        np.testing.assert_allclose(ours, theirs[f"{info.name}.attn.softmax"].numpy(), atol=1e-6, err_msg=key)
        np.testing.assert_allclose(ours.sum(-1), 1.0, atol=1e-5)


def _attn_call(model, x):
    """Each block's WindowAttention input, mask and output, from one plain forward (test-only hooks)."""
    calls, handles = {}, []
    for name, _, blk in swin.swin_blocks(model):

        def hook(module, args, kwargs, output, name=name):
            calls[name] = (args[0].clone(), kwargs.get("mask"), output.clone())

        handles.append(blk.attn.register_forward_hook(hook, with_kwargs=True))
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return calls


def _qkv(attn, x):
    if getattr(attn, "q_bias", None) is not None:  # Swin V2: bias (q, 0, v)
        qkv = F.linear(x, attn.qkv.weight, torch.cat((attn.q_bias, attn.k_bias, attn.v_bias)))
    else:
        qkv = attn.qkv(x)
    b, n, _ = x.shape
    return qkv.reshape(b, n, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)  # each (nW, heads, N, d)


def test_captured_attention_reproduces_each_block_output(captured):
    key, model, x, attention, blocks, cap = captured
    calls = _attn_call(model, x)
    modules = {name: blk for name, _, blk in swin.swin_blocks(model)}
    with torch.inference_mode():
        for b, info in enumerate(blocks):
            attn = modules[info.name].attn
            inp, mask, out = calls[info.name]
            q, k, v = _qkv(attn, inp)
            weights = torch.from_numpy(attention[b])
            merged = (weights @ v).transpose(1, 2).reshape(inp.shape[0], inp.shape[1], -1)  # merge heads
            torch.testing.assert_close(attn.proj(merged), out, atol=1e-5, rtol=1e-4, msg=f"{key} {info.name}")

            # and the logits are what the page says: QK^T/sqrt(d) (V1) or cosine x logit scale (V2),
            # plus the relative position bias B from the details, plus the mask, before the softmax
            if cap.details.version == 1:
                logits = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
            else:
                cos = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
                logits = cos * torch.from_numpy(cap.details.logit_scale[b])[None, :, None, None]
            logits = logits + torch.from_numpy(cap.details.bias[b])[None]
            if cap.details.attn_mask[b] is not None:
                logits = logits + torch.from_numpy(cap.details.attn_mask[b])[:, None]
            torch.testing.assert_close(logits.softmax(-1), weights, atol=1e-5, rtol=1e-4, msg=f"{key} {info.name}")


def test_bias_table_expands_by_relative_offset(captured):
    """B[i, j] = B-hat[dy + M - 1, dx + M - 1], with (dy, dx) = position of query i - position of key j."""
    _, _, _, _, blocks, cap = captured
    for b, info in enumerate(blocks):
        m = info.window_size
        table, bias = cap.details.bias_table[b], cap.details.bias[b]
        assert table.shape == (info.num_heads, 2 * m - 1, 2 * m - 1)
        pos = np.stack(np.divmod(np.arange(m * m), m), axis=-1)
        d = pos[:, None, :] - pos[None, :, :] + (m - 1)
        np.testing.assert_allclose(bias, table[:, d[..., 0], d[..., 1]], atol=1e-6)


def test_bias_is_recomputed_when_the_weights_change():
    """The bias is cached per module (it depends on the weights, not the image), never stale."""
    for name, kwargs in (MODELS["swin_small_grid"], MODELS["swinv2_tiny"]):
        model = _make(name, **kwargs)
        x = torch.randn(1, 3, *model.patch_embed.img_size)
        first = swin.capture(model, x).details.bias
        again = swin.capture(model, x).details.bias
        assert all(a is b for a, b in zip(first, again))  # cached: the same read-only arrays
        assert not first[0].flags.writeable
        state = {k: v.clone() for k, v in model.state_dict().items()}
        attn = model.layers[0].blocks[0].attn
        key = "relative_position_bias_table" if hasattr(attn, "relative_position_bias_table") else "cpb_mlp.0.weight"
        state[f"layers.0.blocks.0.attn.{key}"].normal_(0, 2.0)
        model.load_state_dict(state)  # copies in place: the version counters move
        changed = swin.capture(model, x).details.bias
        with torch.no_grad():
            if swin.swin_version(model) == 1:
                want = attn._get_rel_pos_bias()[0]
            else:
                table = 16 * torch.sigmoid(attn.cpb_mlp(attn.relative_coords_table).reshape(-1, attn.num_heads))
                n = attn.window_size[0] * attn.window_size[1]
                want = table[attn.relative_position_index.reshape(-1)].reshape(n, n, -1).permute(2, 0, 1)
        np.testing.assert_allclose(changed[0], want.numpy(), atol=1e-6)
        assert not np.allclose(changed[0], first[0])
        np.testing.assert_array_equal(changed[1], first[1])  # other blocks kept theirs


@pytest.mark.parametrize("name,weights", [("swin_demo", "demo"), ("swin_tiny_patch4_window7_224", "random")])
@pytest.mark.slow
def test_traced_capture_equals_the_hooked_capture(name, weights):
    """vision.load builds timm's FX extractor for Swin too (identities taken out); it gives exactly what the
    hooks on the model give: every map, the masks, the geometry, the logits."""
    from models.capture import vision

    meta = vision.load(name, weights, "cpu")
    model = meta.module
    assert meta.extractor is not None and len(meta.attention_nodes) == len(swin.swin_blocks(model))
    kinds = {type(meta.extractor.graph_module.get_submodule(n.target)).__name__
             for n in meta.extractor.graph_module.graph.nodes if n.op == "call_module"}
    assert not kinds & {"Identity", "Dropout", "DropPath"}, kinds
    torch.manual_seed(2)
    x = torch.randn(1, 3, *model.patch_embed.img_size)
    c1 = swin.capture(model, x, (meta.extractor, meta.attention_nodes, meta.output_node))
    a1, b1 = c1.attention, c1.blocks
    c2 = swin.capture(model, x)
    a2, b2 = c2.attention, c2.blocks
    assert b1 == b2
    for p, q in zip(a1, a2):
        np.testing.assert_array_equal(p, q)
    for p, q in zip(c1.details.attn_mask, c2.details.attn_mask):
        assert (p is None and q is None) or np.array_equal(p, q)
    torch.testing.assert_close(c1.logits, c2.logits, atol=0, rtol=0)
    with torch.inference_mode():
        torch.testing.assert_close(c1.logits, model(x).float(), atol=1e-5, rtol=1e-5)  # the fused forward


def test_capture_leaves_no_state_and_predicts_like_a_plain_forward(captured):
    key, model, x, _, _, cap = captured
    with torch.inference_mode():
        plain = model(x)[0].numpy()
    np.testing.assert_allclose(cap.logits.numpy()[0], plain, atol=1e-5)
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks, key


def test_fused_attention_is_switched_off_only_for_the_capture():
    model = _make("swin_tiny_patch4_window7_224", img_size=64, window_size=4, embed_dim=16, depths=(2,), num_heads=(2,))
    attns = [blk.attn for _, _, blk in swin.swin_blocks(model)]
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        unfused = model(x)
    for a in attns:
        a.fused_attn = True
    with torch.inference_mode():
        fused = model(x)
    torch.testing.assert_close(fused, unfused, atol=1e-5, rtol=1e-4)
    attention = swin.capture(model, x).attention
    assert all(a.fused_attn for a in attns), "the fused flags were not restored"
    assert all(np.isfinite(w).all() and w.shape[-1] == 16 for w in attention)


def test_concurrent_captures_on_one_model_match_sequential_ones():
    model = _make("swin_tiny_patch4_window7_224", img_size=64, window_size=4, embed_dim=16, depths=(2, 2),
                  num_heads=(1, 2))
    inputs = [torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    expected = [swin.capture(model, x)[0] for x in inputs]
    results, errors = [None] * 4, []

    def work(i):
        try:
            results[i] = swin.capture(model, inputs[i])[0]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, want in zip(results, expected):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_capture_rejects_what_it_cannot_show():
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=2, depth=1)
    with pytest.raises(TypeError):
        swin.capture(vit, torch.zeros(1, 3, 224, 224))
    model = _make("swin_tiny_patch4_window7_224", img_size=64, window_size=4, embed_dim=16, depths=(2,), num_heads=(2,))
    with pytest.raises(ValueError):
        swin.capture(model, torch.zeros(2, 3, 64, 64))


def test_swin_v2_cr_is_read_with_its_own_position_bias():
    """timm's SwinTransformerV2Cr (stages[i].blocks, a functional softmax, a meta MLP bias used without
    16·sigmoid) is captured like the others (the parametrized tests above hold it against AttentionExtract and
    its own forward); here what differs: the bias is the MLP at the log-spaced offsets, sign(d)·log(1 + |d|)."""
    _, model, _, _, blocks, cap = _captured("swinv2_cr_small")
    assert swin.is_cr(model) and cap.details.version == 2 and cap.details.implementation == "SwinTransformerV2Cr"
    assert [b.name for b in blocks][:2] == ["stages.0.blocks.0", "stages.0.blocks.1"]
    assert [s.grid for s in cap.details.stages] == [(16, 16), (8, 8), (4, 4)]
    assert [s.patch_px for s in cap.details.stages] == [4.0, 8.0, 16.0]
    attn = model.stages[0].blocks[0].attn
    with torch.no_grad():
        one = attn.meta_mlp(torch.tensor([[np.log(2.0), -np.log(3.0)]], dtype=torch.float32))[0]  # Δ = (1, -2)
    m = attn.window_size[0]
    np.testing.assert_allclose(cap.details.bias_table[0][:, m - 1 + 1, m - 1 - 2], one.numpy(), rtol=1e-5, atol=1e-6)
    assert (cap.details.bias_table[0] < 0).any()  # not squashed to (0, 16)
    for b, info in enumerate(blocks):
        idx = cap.details.relative_position_index[b]
        flat = cap.details.bias_table[b].reshape(info.num_heads, -1)
        np.testing.assert_allclose(flat[:, idx], cap.details.bias[b], rtol=1e-5, atol=1e-6)


def test_swin_v2_is_captured_with_its_continuous_position_bias():
    model = _make("swinv2_tiny_window8_256")
    with pytest.raises(AssertionError):  # sanity: this really is a V2, no learned table
        assert hasattr(model.layers[0].blocks[0].attn, "relative_position_bias_table")
    attention, blocks, details, _ = swin.capture(model, torch.randn(1, 3, 256, 256))
    assert details.version == 2
    assert [b.grid for b in blocks if b.name.endswith(".0")] == [(64, 64), (32, 32), (16, 16), (8, 8)]
    for table, scale in zip(details.bias_table, details.logit_scale):
        assert ((table > 0) & (table < 16)).all()  # 16 * sigmoid(...)
        assert scale.shape == (table.shape[0],) and (scale <= 100 + 1e-4).all()


# ---------------------------------------------------------------------------------------------- placement
def _timm_positions(info: BlockInfo) -> np.ndarray:
    """Token positions per window the way timm's block moves them: roll, pad with -1, partition."""
    h, w = info.grid
    coords = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"), dim=-1)[None]  # (1,H,W,2)
    if info.shift:
        coords = torch.roll(coords, shifts=(-info.shift, -info.shift), dims=(1, 2))
    hp, wp = swin.padded_grid(info.grid, info.window_size)
    coords = F.pad(coords, (0, 0, 0, wp - w, 0, hp - h), value=-1)
    m = info.window_size
    return timm_swin.window_partition(coords, (m, m)).reshape(-1, m * m, 2).numpy()


def test_window_geometry_matches_timm_roll_and_partition(captured):
    _, _, _, attention, blocks, _ = captured
    for info, att in zip(blocks, attention):
        ours = swin.token_positions(info)
        np.testing.assert_array_equal(ours, _timm_positions(info), err_msg=info.name)
        assert ours.shape[0] == att.shape[0]
        for w in range(ours.shape[0]):
            for i, (r, c) in enumerate(ours[w]):
                if r >= 0:
                    assert swin.locate_token(info, int(r), int(c)) == (w, i)


def test_window_boxes_cover_the_image_once_and_hold_their_tokens(captured):
    _, _, _, attention, blocks, _ = captured
    for info in blocks:
        h, w = info.grid
        px = info.patch_px
        cover = np.zeros((h, w), dtype=int)
        positions = swin.token_positions(info)
        for win in range(positions.shape[0]):
            boxes = swin.window_boxes(info, win)
            assert 1 <= len(boxes) <= (4 if info.shift else 1)
            for x0, y0, x1, y1 in boxes:
                cover[int(y0 / px) : int(y1 / px), int(x0 / px) : int(x1 / px)] += 1
            for r, c in positions[win]:
                if r >= 0:
                    cy, cx = (r + 0.5) * px, (c + 0.5) * px
                    assert any(x0 <= cx < x1 and y0 <= cy < y1 for x0, y0, x1, y1 in boxes)
        assert (cover == 1).all(), info.name


def test_window_boxes_of_a_shifted_corner_window_wrap_round():
    info = BlockInfo("b", 0, (8, 8), 4.0, window_size=4, shift=2, num_heads=1)
    # window 3 is the bottom-right window of the rolled map: image rows/cols 6,7 then 0,1
    boxes = sorted(swin.window_boxes(info, 3))
    assert boxes == [(0.0, 0.0, 8.0, 8.0), (0.0, 24.0, 8.0, 32.0), (24.0, 0.0, 32.0, 8.0), (24.0, 24.0, 32.0, 32.0)]
    assert swin.window_boxes(info, 0) == [(8.0, 8.0, 24.0, 24.0)]
    with pytest.raises(ValueError):
        swin.window_boxes(info, 4)


@pytest.mark.slow
def test_mean_attention_distance_against_a_brute_force_sum(captured):
    _, _, _, attention, blocks, cap = captured
    for b in (0, 1):
        info, att = blocks[b], attention[b]
        pos = _timm_positions(info)
        total, count = np.zeros(info.num_heads), 0
        for w in range(att.shape[0]):
            for i in range(att.shape[2]):
                if pos[w, i, 0] < 0:
                    continue
                count += 1
                for j in range(att.shape[3]):
                    if pos[w, j, 0] >= 0:
                        total += att[w, :, i, j] * np.hypot(*(pos[w, i] - pos[w, j])) * info.patch_px
        np.testing.assert_allclose(swin.mean_distances(attention, blocks)[b], total / count, rtol=1e-5)


# ---------------------------------------------------------------------------------------------- figures
def test_figures_are_built_from_the_captured_data():
    from viz import swin as vw

    _, _, _, attention, blocks, cap = _captured("swin_small_grid")
    h, w = blocks[0].grid
    px = blocks[0].patch_px
    image = np.zeros((int(h * px), int(w * px), 3), np.uint8)
    reg_i, shf_i = swin.stage_pair(blocks, 0)
    shifted = blocks[shf_i]

    fig = vw.window_partition_figure(image, swin.all_window_boxes(shifted), highlight=3)
    picker = fig.data[-1]
    assert sorted(set(picker.customdata)) == list(range(attention[shf_i].shape[0]))
    assert len(picker.customdata) > attention[shf_i].shape[0]  # wrapped windows come as several pieces

    window, weights, positions = swin.query_attention(attention[shf_i], shifted, 0, 0, head=1)
    fig = vw.window_attention_figure(image, weights, positions, px, shifted.grid, swin.window_boxes(shifted, window),
                                     (0, 0))
    z = np.asarray(fig.data[1].z, dtype=float)
    np.testing.assert_allclose(np.nansum(z), 1.0, atol=1e-5)  # the whole softmax row is on the image
    assert np.isfinite(z).sum() == (positions[:, 0] >= 0).sum()
    assert z[0, 0] == pytest.approx(weights[swin.locate_token(shifted, 0, 0)[1]])

    labels = swin.region_labels(shifted.grid, shifted.window_size, shifted.shift)
    fig = vw.shift_figure(swin.rolled_image(image, shifted), labels, shifted.window_size, px)
    np.testing.assert_array_equal(np.asarray(fig.data[1].z), labels)
    used = cap.details.attn_mask[shf_i]
    fig = vw.mask_mosaic_figure(used, swin.window_count(shifted)[1])
    assert np.nanmin(np.asarray(fig.data[0].z, dtype=float)) == -100
    vw.mask_figure(used[-1], swin.token_labels(shifted, 3), swin.window_regions(shifted, 3))
    vw.bias_table_figure(cap.details.bias_table[0][0])
    vw.bias_matrix_figure(cap.details.bias[0][0], [str(i) for i in range(16)])
    stages = cap.details.stages
    fig = vw.stage_grids_figure(image, stages)
    assert len([t for t in fig.data if t.type == "image"]) == len(stages)
    fig = vw.attention_distance_figure(swin.mean_distances(attention, blocks), [swin.block_name(b) for b in blocks],
                                       [b.stage for b in blocks],
                                       [b.shift for b in blocks])
    assert sum(len(t.y) for t in fig.data) == sum(b.num_heads for b in blocks)


def test_page_helpers():
    blocks = [
        BlockInfo("layers.0.blocks.0", 0, (8, 8), 4.0, 4, 0, 2),
        BlockInfo("layers.0.blocks.1", 0, (8, 8), 4.0, 4, 2, 2),
        BlockInfo("layers.1.blocks.0", 1, (4, 4), 8.0, 4, 0, 4),
    ]
    assert swin.stage_pair(blocks, 0) == (0, 1)
    assert swin.stage_pair(blocks, 1) == (2, None)
    assert swin.block_label(blocks[1]) == "stage 1 · block 2 · shifted windows (s = 2)"
    assert swin.block_name(blocks[2]) == "stage 2 · block 1"
    np.testing.assert_array_equal(swin.token_window_map(blocks[0])[:, :4], [[0] * 4] * 4 + [[2] * 4] * 4)
    assert swin.mask_matches(blocks[1], swin.shift_mask((8, 8), 4, 2))
    assert not swin.mask_matches(blocks[1], np.zeros((4, 16, 16), np.float32))
    assert swin.mask_matches(blocks[0], None)
    # the last window of the rolled map holds the four corners of the image: regions 4, 5, 7, 8
    assert sorted(set(swin.window_regions(blocks[1], 3))) == [4, 5, 7, 8]
    # before the roll, the s = 2 top rows are the ones that wrap to the bottom: regions 6, 7, 8
    before = swin.image_region_labels(blocks[1])
    assert set(before[:2].ravel()) == {6, 7, 8} and set(before[2:, 2:].ravel()) == {0, 1, 3, 4}
    np.testing.assert_array_equal(swin.roll_map(before, 2), swin.rolled_region_labels(blocks[1]))


# ---------------------------------------------------------------------------------------------- the bundled demo
@pytest.mark.slow
def test_bundled_demo_scores_at_least_95_percent_through_the_cli(capsys):
    from models.demo import train_swin

    assert train_swin.main(["--evaluate"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("accuracy: ")
    assert float(last.split(": ")[1]) >= 0.95


def test_vision_run_gives_windows_that_place_back_on_the_image():
    from models.capture import vision
    from models.demo import shapes

    model = vision.load("swin_demo", "demo")
    assert swin.swin_version(model.module) == 1
    # the app's own path (sample image enlarged 4x, timm's resize back to 64 px) still names the shapes
    right = 0
    for shape in shapes.CLASSES:
        trace = vision.run(model, shapes.sample_image(shape, seed=3))
        right += trace.top_k[0][0] == shape
    assert right >= len(shapes.CLASSES) - 1
    assert trace.kind == "swin" and len(trace.top_k) == 5
    assert [b.grid for b in trace.blocks] == [(16, 16)] * 2 + [(8, 8)] * 2 + [(4, 4)] * 2
    assert [b.shift for b in trace.blocks] == [0, 2, 0, 2, 0, 0]  # the 4 x 4 stage is one window: no shift
    crop_h, crop_w = trace.image.shape[:2]
    for att, info in zip(trace.attention, trace.blocks):
        n_rows, n_cols = swin.window_count(info)
        assert att.shape == (n_rows * n_cols, info.num_heads, info.window_size**2, info.window_size**2)
        boxes = swin.all_window_boxes(info)
        area = sum((x1 - x0) * (y1 - y0) for pieces in boxes for x0, y0, x1, y1 in pieces)
        assert area == crop_h * crop_w  # the windows tile the crop exactly


def test_downloads_hold_every_blocks_attention_masks_geometry_and_source():
    """The NPZ and JSON files the page offers, read back: every block's window attention as captured, the masks
    the shifted blocks used, the bias, each window's token positions, the model's name and weights source."""
    import io
    import json

    from models.capture import vision
    from models.demo import shapes

    model = vision.load("swin_demo", "demo")
    trace = vision.run(model, shapes.sample_image("circle", seed=1))
    npz = np.load(io.BytesIO(swin.export_npz(trace)))
    meta = json.loads(str(npz["meta"]))
    doc = json.loads(swin.export_json(trace))
    for m in (meta, doc):
        assert m["model"] == "swin_demo" and m["weights_source"] == trace.weights_source and m["family"] == "Swin V1"
        assert [b["name"] for b in m["blocks"]] == [swin.block_name(b) for b in trace.blocks]
        assert m["blocks"][1]["name"] == "stage 1 · block 2" and m["blocks"][1]["shift"] == 2
        assert [s["stage"] for s in m["stages"]] == [1, 2, 3]
    np.testing.assert_array_equal(npz["image"], trace.image)
    for i, (b, entry) in enumerate(zip(trace.blocks, doc["blocks"])):
        key = entry["key"]
        np.testing.assert_array_equal(npz[f"{key}_attention"], trace.attention[i])
        np.testing.assert_array_equal(np.asarray(entry["arrays"]["attention"], np.float32), trace.attention[i])
        np.testing.assert_array_equal(npz[f"{key}_token_positions"], swin.token_positions(b))
        np.testing.assert_array_equal(npz[f"{key}_bias"], trace.swin.bias[i])
        np.testing.assert_array_equal(np.asarray(entry["arrays"]["bias_table"], np.float32), trace.swin.bias_table[i])
        if b.shift:
            # the mask the block used, which is the one the paper's regions give
            np.testing.assert_array_equal(npz[f"{key}_mask"], swin.shift_mask(b.grid, b.window_size, b.shift))
            np.testing.assert_array_equal(np.asarray(entry["arrays"]["mask"], np.float32), npz[f"{key}_mask"])
        else:
            assert f"{key}_mask" not in npz.files and "mask" not in entry["arrays"]
        assert entry["windows"] == list(swin.window_count(b))
