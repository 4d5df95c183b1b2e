"""One head step by step: the recomputation reproduces each demo model, and agrees with references nobody here wrote."""
import copy
import math

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from models.capture import step_by_step as sbs
from models.capture import vision
from models.demo import text
from models.network.transformer import TransformerConfig, make_model
from tests.conftest import APP
from viz import step_by_step as viz

TOL = 1e-5
SENTENCES = {"reverse": "Attention is all you need!", "dates": "21 November 2026",
             "translate": "the big dog chased a small cat ."}


@pytest.fixture(scope="module", params=list(text.TASKS))
def demo_text(request):
    """Each bundled demo task with a padded input, so that the padding mask is exercised too."""
    task = request.param
    model = text.load(task)  # the bundled checkpoint: a missing one fails here
    assert model.weights_source.startswith("demo checkpoint")
    trace = text.run(model, SENTENCES[task], pad_to=len(SENTENCES[task].split() if task == "translate" else
                                                        SENTENCES[task]) + 4)
    assert "<pad>" in trace.source_tokens
    return model, trace


@pytest.fixture(scope="module")
def demo_vit():
    return vision.load("vit_demo", weights="demo")


def test_every_layer_head_and_kind_of_every_demo_text_model_is_reproduced(demo_text):
    model, trace = demo_text
    cfg = model.transformer.cfg
    given = {"encoder": trace.encoder_attention, "decoder": trace.decoder_attention, "cross": trace.cross_attention}
    for kind in sbs.TEXT_KINDS:
        for layer in range(cfg.n_encoder_layers if kind == "encoder" else cfg.n_decoder_layers):
            for head in range(cfg.n_heads):
                s = sbs.text_steps(model, trace, kind, layer, head)
                assert s.max_abs_diff < TOL, (kind, layer, head, s.max_abs_diff)
                assert s.weights_diff < 1e-6
                # ... and the attention the encoder-decoder page shows is the softmax drawn here.
                assert np.allclose(s.weights, given[kind][layer][head], atol=1e-6)


def test_intermediates_follow_the_paper(demo_text):
    model, trace = demo_text
    cfg = model.transformer.cfg
    d_k = cfg.d_model // cfg.n_heads
    for kind in sbs.TEXT_KINDS:
        s = sbs.text_steps(model, trace, kind, 1, 2)
        assert s.d_k == d_k and s.w_q.shape == (cfg.d_model, d_k) and s.w_o.shape == (cfg.d_model, cfg.d_model)
        assert np.allclose(s.q, s.x_query @ s.w_q + s.b_q, atol=1e-4)
        assert np.allclose(s.k, s.x_key @ s.w_k + s.b_k, atol=1e-4)
        assert np.allclose(s.scores, s.q @ s.k.T, atol=1e-3)
        assert np.allclose(s.scaled, s.scores / math.sqrt(d_k), atol=1e-5)  # √ of the head's d_k, not d_model
        assert np.array_equal(np.isneginf(s.masked), ~s.mask)
        assert np.all(s.weights[~s.mask] == 0.0)
        assert np.allclose(s.weights.sum(-1), 1.0, atol=1e-5)
        assert np.allclose(s.head_output, s.weights @ s.v, atol=1e-5)
        assert np.allclose(s.concat[:, 2 * d_k:3 * d_k], s.head_output)
        assert np.allclose(s.output, s.concat @ s.w_o + s.b_o, atol=1e-4)
    pad = ~trace.source_mask
    enc = sbs.text_steps(model, trace, "encoder", 0, 0)
    assert np.all(~enc.mask[:, pad]) and np.all(enc.mask[:, ~pad])  # padding keys masked for every query
    dec = sbs.text_steps(model, trace, "decoder", 0, 0)
    assert np.array_equal(dec.mask, np.tril(np.ones_like(dec.mask)))  # causal
    cross = sbs.text_steps(model, trace, "cross", 0, 0)
    assert cross.x_key.shape[0] == len(trace.source_tokens) and cross.x_query.shape[0] == len(trace.target_tokens)


def test_recomputation_agrees_with_torch_multihead_attention(demo_text):
    """torch.nn.MultiheadAttention, given the layer's weights and the captured inputs, is the reference."""
    model, trace = demo_text
    cfg = model.transformer.cfg
    for kind, layer in (("encoder", 1), ("decoder", 1), ("cross", 0)):
        s = sbs.text_steps(model, trace, kind, layer, 0)
        layers = model.transformer.encoder_layers if kind == "encoder" else model.transformer.decoder_layers
        mine = layers[layer].cross_attn if kind == "cross" else layers[layer].self_attn
        ref = torch.nn.MultiheadAttention(cfg.d_model, cfg.n_heads, batch_first=True).eval()
        with torch.no_grad():
            ref.in_proj_weight.copy_(torch.cat([mine.w_q.weight, mine.w_k.weight, mine.w_v.weight]).cpu())
            ref.in_proj_bias.copy_(torch.cat([mine.w_q.bias, mine.w_k.bias, mine.w_v.bias]).cpu())
            ref.out_proj.weight.copy_(mine.w_o.weight.cpu())
            ref.out_proj.bias.copy_(mine.w_o.bias.cpu())
            xq, xk = torch.from_numpy(s.x_query)[None], torch.from_numpy(s.x_key)[None]
            out, w = ref(xq, xk, xk, attn_mask=torch.from_numpy(~s.mask), average_attn_weights=False)
        assert np.allclose(out[0].numpy(), s.output, atol=TOL)
        assert np.allclose(w[0, 0].numpy(), s.weights, atol=1e-6)


def test_the_check_catches_a_wrong_scale(demo_text, monkeypatch):
    """Scaling by √d_model instead of √d_k must show up as a difference: the check is not vacuous."""
    model, trace = demo_text
    real = sbs._head_attention
    monkeypatch.setattr(sbs, "_head_attention",
                        lambda q, k, v, d_k, mask: real(q, k, v, model.transformer.cfg.d_model, mask))
    with pytest.raises(sbs.NotReproducible, match="differs from the model's own by"):  # refused, never shown
        sbs.text_steps(model, trace, "encoder", 0, 0)


def _tiny(name, **kw):
    import timm

    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **kw).eval()


def _labels(model):
    return [str(i) for i in range(model.num_prefix_tokens + model.patch_embed.num_patches)]


@pytest.mark.parametrize("name, kw, why", [
    ("eva02_tiny_patch14_224", dict(img_size=56, depth=2), "rotary position embeddings"),
    ("beit_base_patch16_224", dict(img_size=64, depth=2, embed_dim=96, num_heads=4), "relative position bias"),
])
def test_models_that_add_to_the_logits_are_refused_with_the_reason(name, kw, why):
    """EVA-02 rotates q and k (RoPE), BEiT adds a relative position bias: softmax(QKᵀ/√d_k)V is not what they
    compute, so the walk-through refuses them with that reason instead of showing steps that do not match."""
    model = _tiny(name, **kw)
    with torch.no_grad():  # non-zero biases and bias tables, so that leaving them out would show
        for p_name, p in model.named_parameters():
            if "bias" in p_name:
                p.normal_(0, 0.5)
    pixels = torch.randn(1, 3, kw["img_size"], kw["img_size"], generator=torch.Generator().manual_seed(1))
    with pytest.raises(sbs.NotReproducible, match=why):
        sbs.vit_blocks(model)
    with pytest.raises(sbs.NotReproducible, match=why):
        sbs.vit_steps(model, pixels, 1, 0, _labels(model))
    assert sbs.refusal(model) and why in str(sbs.refusal(model))  # a coded refusal, worded in English by str()
    # ... and the refusal is deserved: the plain softmax(QKᵀ/√d_k)V of block 2 differs from timm's own attention.
    attn = model.blocks[1].attn
    args, kwargs, out = sbs._capture(attn, lambda: model(pixels))
    x = args[0]
    with torch.no_grad():
        b = torch.cat((attn.q_bias, attn.k_bias, attn.v_bias))
        qkv = torch.nn.functional.linear(x, attn.qkv.weight, b).reshape(1, x.shape[1], 3, attn.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        plain = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        plain = attn.proj(plain.transpose(1, 2).reshape(1, x.shape[1], -1))
    assert float((plain - out).abs().max()) > sbs.tolerance(out.numpy())


def test_layer_scale_is_part_of_the_residual_branch_and_checked_against_the_block():
    """DINOv2 blocks (LayerScale, timm's ls1) add γ ⊙ MSA(LN(z)) to z: the reference is timm's whole block."""
    model = _tiny("vit_small_patch14_dinov2", img_size=56, depth=2, embed_dim=48, num_heads=3)
    with torch.no_grad():
        for block in model.blocks:
            block.ls1.gamma.uniform_(0.2, 2.0)
            block.ls2.gamma.uniform_(0.2, 2.0)
    pixels = torch.randn(1, 3, 56, 56, generator=torch.Generator().manual_seed(2))
    s = sbs.vit_steps(model, pixels, 0, 1, _labels(model))
    assert s.layer_scale is not None and np.allclose(s.layer_scale, model.blocks[0].ls1.gamma.detach().numpy())
    assert np.allclose(s.scaled_output, s.output * s.layer_scale, atol=1e-6)
    assert any("LayerScale" in str(n) for n in s.notes)
    with torch.no_grad():
        z = model.norm_pre(model._pos_embed(model.patch_embed(pixels)))[0]
        block = model.blocks[0]
        after_attn = z + torch.from_numpy(s.scaled_output)
        mine = after_attn + block.ls2(block.mlp(block.norm2(after_attn)))
        theirs = block(z[None])[0]
    assert np.allclose(mine.numpy(), theirs.numpy(), atol=1e-5)
    # Without γ the residual branch would be wrong by far more than the tolerance.
    assert np.abs(s.output - s.scaled_output).max() > 10 * s.tol


def test_every_block_and_head_of_the_demo_vit_is_reproduced(demo_vit):
    from models.demo import shapes

    pixels, _ = vision.preprocess(demo_vit, shapes.sample_image("triangle", seed=3))
    # The reference weights: timm's own AttentionExtract over a copy with fused attention off.
    from timm.utils import AttentionExtract

    unfused = copy.deepcopy(demo_vit.module)
    for block in unfused.blocks:
        block.attn.fused_attn = False
    with torch.no_grad():
        extracted = AttentionExtract(unfused, method="fx")(pixels)
    reference = [extracted[n] for n in sorted(extracted, key=lambda n: int(n.split(".")[1]))]
    vit = demo_vit.module
    n_heads = vit.blocks[0].attn.num_heads
    n_tokens = 1 + int(np.prod(vit.patch_embed.grid_size))
    for block in range(len(vit.blocks)):
        for head in range(n_heads):
            s = sbs.vit_model_steps(demo_vit, pixels, block, head)
            assert s.max_abs_diff < TOL, (block, head, s.max_abs_diff)
            assert s.query_labels[0] == "CLS" and len(s.query_labels) == n_tokens
            assert s.mask is None and s.d_k == vit.blocks[0].attn.head_dim
            assert np.allclose(s.weights, reference[block][0, head].numpy(), atol=1e-5)
    # X is the block's LayerNorm'd input (pre-norm): norm1 of the residual stream.
    with torch.no_grad():
        z = vit.patch_embed(pixels)
        z = vit._pos_embed(z)
        x0 = vit.blocks[0].norm1(vit.norm_pre(vit.patch_drop(z)))
    s = sbs.vit_model_steps(demo_vit, pixels, 0, 0)
    assert np.allclose(s.x_query, x0[0].numpy(), atol=1e-5)


def test_qk_norm_vits_are_reproduced_too():
    import timm

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, embed_dim=48,
                              depth=2, num_heads=3, qk_norm=True).eval()
    with torch.no_grad():
        for block in model.blocks:
            block.attn.q_norm.weight.uniform_(0.5, 2.0)
            block.attn.k_norm.bias.uniform_(-1.0, 1.0)
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = ["CLS"] + [f"p{i}" for i in range(16)]
    for block in range(2):
        for head in range(3):
            s = sbs.vit_steps(model, pixels, block, head, labels)
            assert s.max_abs_diff < TOL
    assert any("normalises Q and K" in str(n) for n in s.notes)


def test_bad_choices_are_refused_with_messages():
    model = make_model(TransformerConfig(src_vocab=12, tgt_vocab=12, d_model=16, n_heads=2)).eval()
    src, tgt = torch.tensor([[4, 5, 2]]), torch.tensor([[1, 6]])
    with pytest.raises(ValueError, match="kind"):
        sbs.transformer_steps(model, src, tgt, "sideways", 0, 0, list("abc"), list("ab"))
    with pytest.raises(ValueError, match="layer 5"):
        sbs.transformer_steps(model, src, tgt, "encoder", 5, 0, list("abc"), list("ab"))
    with pytest.raises(ValueError, match="head 2"):
        sbs.transformer_steps(model, src, tgt, "decoder", 0, 2, list("abc"), list("ab"))
    with pytest.raises(RuntimeError, match="eval"):
        sbs.transformer_steps(model.train(), src, tgt, "encoder", 0, 0, list("abc"), list("ab"))
    with pytest.raises(ValueError, match="VisionTransformer"):
        sbs.vit_blocks(torch.nn.Linear(2, 2))


def test_no_hook_is_left_behind(demo_text):
    model, trace = demo_text
    sbs.text_steps(model, trace, "cross", 0, 1)
    for m in model.transformer.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_capture_ignores_calls_from_other_threads():
    """One cached model serves every session: another thread's call through the module must not be recorded."""
    import threading

    from models.network.transformer import MultiHeadAttention

    mha = MultiHeadAttention(8, 2).eval()
    mine, theirs = torch.randn(1, 3, 8), torch.randn(1, 3, 8)

    def run():
        other = threading.Thread(target=lambda: mha(theirs, theirs, theirs))
        other.start()
        other.join()
        mha(mine, mine, mine)

    args, _, out = sbs._capture(mha, run)
    assert torch.equal(args[0], mine)
    with torch.no_grad():
        assert torch.allclose(out[0], mha(mine, mine, mine)[0])
    assert not mha._forward_hooks and not mha._forward_pre_hooks


def test_matrix_heatmap_marks_minus_infinity_and_states_the_shape():
    z = np.array([[1.0, -np.inf, 2.0], [0.5, -1.0, -np.inf]])
    fig = viz.matrix_heatmap(z, "S′", ["a", "b"], ["x", "y", "z"], "query", "key", highlight=1)
    assert "(2 × 3)" in fig.layout.title.text
    heat, marks = fig.data[0], fig.data[1]
    assert np.isnan(heat.z[0][1]) and heat.z[0][0] == 1.0
    assert list(marks.text) == ["−∞", "−∞"] and list(marks.x) == [1, 2] and list(marks.y) == [0, 1]
    assert heat.zmin == -2.0 and heat.zmax == 2.0  # symmetric over the finite entries
    assert fig.layout.shapes[0].y0 == 0.5  # the query row's box
    mask = viz.mask_heatmap(np.tril(np.ones((3, 3), bool)), list("abc"), list("abc"), "M")
    assert list(mask.data[1].text) == ["−∞"] * 3
    # Plotly reads labels as markup: "<s>" must arrive escaped, or it strikes through the rest of the axis.
    fig = viz.matrix_heatmap(np.ones((2, 2)), "X", ["<s>", "a"], None, "token", "dimension")
    assert fig.layout.yaxis.ticktext[0] == "&lt;s&gt;" and fig.data[0].customdata[0][0][0] == "token 0: &lt;s&gt;"
    weights = viz.weights_heatmap(np.eye(2), ["<s>", "</s>"], ["<s>", "</s>"], "A", highlight=0)
    assert list(weights.layout.xaxis.ticktext) == ["&lt;s&gt;", "&lt;/s&gt;"]


def _page(at: AppTest) -> AppTest:
    return at.switch_page("views/step_by_step.py").run()


def test_step_by_step_page_runs_for_text_and_vit():
    at = _page(AppTest.from_file(APP, default_timeout=240).run())
    assert not at.exception, at.exception
    assert not at.error
    assert not at.warning, [w.value for w in at.warning]  # demo weights, nothing to warn about
    assert float(at.metric[0].value) < TOL
    assert len(at.get("plotly_chart")) == 4  # steps 1–2 only (X, W_Q, W_K, W_V): a few figures per view
    at.get("button_group")[0].set_value("all").run()  # "all eleven steps"
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) >= 15
    assert any("sqrt{d_k}" in latex.value for latex in at.latex)
    head = at.select_slider(key="sbs_head")
    assert head.value == 1
    head.set_value(3).run()  # the bench's head control: heads counted from 1
    assert not at.exception and float(at.metric[0].value) < TOL
    assert any("Head 3 of" in m.value for m in at.markdown)
    at.selectbox(key="sbs_kind").set_value("decoder").run()
    assert not at.exception and float(at.metric[0].value) < TOL
    at.text_input(key="sbs_text_reverse").set_value("   ").run()
    assert not at.exception and "empty" in at.error[0].value
    at.radio(key="sbs_model").set_value("Vision Transformer (ViT)").run()
    assert not at.exception, at.exception
    assert not at.error
    assert float(at.metric[0].value) < TOL
    assert any("no mask" in m.value.lower() for m in at.markdown)
    assert any("indices from 0" in m.value for m in at.markdown)


@pytest.mark.slow
def test_step_by_step_page_refuses_eva02_in_plain_words():
    """A model the walk-through cannot reproduce gets a reason on the page and no steps, never unmatched numbers."""
    at = _page(AppTest.from_file(APP, default_timeout=240).run())
    at.radio(key="sbs_model").set_value("Vision Transformer (ViT)").run()
    at.radio(key="sbs_vit_which").set_value("timm").run()  # "timm model"
    at.radio(key="sbs_vit_weights").set_value("random").run()
    at.text_input(key="sbs_vit_name").set_value("eva02_tiny_patch14_224").run()
    assert not at.exception, at.exception
    assert any("rotary position embeddings" in e.value for e in at.error), [e.value for e in at.error]
    assert not at.get("plotly_chart") and not at.metric
    at.text_input(key="sbs_vit_name").set_value("not_a_model_at_all").run()
    assert not at.exception and at.error
