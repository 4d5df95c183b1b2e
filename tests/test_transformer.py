"""The from-scratch Transformer against PyTorch's own attention, and its causal and padding properties."""
import math

import pytest
import torch
import torch.nn as nn

from models.network.transformer import (
    MultiHeadAttention,
    TransformerConfig,
    causal_mask,
    make_model,
    padding_mask,
    sinusoidal_encoding,
)

torch.manual_seed(0)


def _reference_from(ours: MultiHeadAttention, d_model: int, n_heads: int) -> nn.MultiheadAttention:
    """PyTorch's nn.MultiheadAttention carrying exactly our weights."""
    ref = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        ref.out_proj.weight.copy_(ours.w_o.weight)
        ref.out_proj.bias.copy_(ours.w_o.bias)
    return ref.eval()


@pytest.mark.parametrize("d_model,n_heads", [(64, 4), (48, 3), (32, 1)])
def test_multihead_attention_matches_pytorch(d_model, n_heads):
    ours = MultiHeadAttention(d_model, n_heads).eval()
    ref = _reference_from(ours, d_model, n_heads)
    q, kv = torch.randn(3, 5, d_model), torch.randn(3, 7, d_model)
    out, w = ours(q, kv, kv)
    ref_out, ref_w = ref(q, kv, kv, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w, ref_w, atol=1e-6, rtol=1e-5)
    assert w.shape == (3, n_heads, 5, 7)


def test_masks_match_pytorch_key_padding_and_causal_masks():
    d_model, n_heads = 32, 4
    ours = MultiHeadAttention(d_model, n_heads).eval()
    ref = _reference_from(ours, d_model, n_heads)
    ids = torch.tensor([[5, 6, 7, 8, 0, 0], [5, 6, 7, 8, 9, 1]])
    x = torch.randn(2, 6, d_model)
    mask = padding_mask(ids, 0) & causal_mask(6)
    out, w = ours(x, x, x, mask)
    ref_out, ref_w = ref(
        x, x, x,
        key_padding_mask=ids == 0,  # PyTorch: True = ignore
        attn_mask=~causal_mask(6)[0, 0],  # PyTorch: True = not allowed
        need_weights=True,
        average_attn_weights=False,
    )
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w, ref_w, atol=1e-6, rtol=1e-5)
    assert torch.all(w[0, :, :, 4:] == 0), "padding keys get exactly zero weight"
    assert torch.all(w.triu(1) == 0), "no query attends to a later position"


def test_each_head_scales_by_its_own_dimension():
    """softmax(QKᵀ/√d_k) with d_k = d_model / h, not √d_model."""
    d_model, n_heads = 64, 4
    mha = MultiHeadAttention(d_model, n_heads).eval()
    x = torch.randn(1, 6, d_model)
    _, w = mha(x, x, x)
    q = mha.split_heads(mha.w_q(x))
    k = mha.split_heads(mha.w_k(x))
    expected = (q @ k.transpose(-2, -1) / math.sqrt(d_model // n_heads)).softmax(-1)
    torch.testing.assert_close(w, expected)


def _model(**kw):
    cfg = TransformerConfig(src_vocab=30, tgt_vocab=25, d_model=32, n_heads=4, d_ff=64, dropout=0.0, max_len=40, **kw)
    torch.manual_seed(1)
    return make_model(cfg).eval()


def test_decoder_is_causal():
    model = _model()
    src = torch.randint(3, 30, (2, 9))
    tgt = torch.randint(3, 25, (2, 8))
    logits, att = model(src, tgt)
    for t in range(7):
        changed = tgt.clone()
        changed[:, t + 1 :] = torch.randint(3, 25, changed[:, t + 1 :].shape)
        logits2, att2 = model(src, changed)
        torch.testing.assert_close(logits2[:, : t + 1], logits[:, : t + 1], atol=1e-5, rtol=1e-5)
        for a, b in zip(att.decoder + att.cross, att2.decoder + att2.cross):
            torch.testing.assert_close(b[:, :, : t + 1], a[:, :, : t + 1], atol=1e-6, rtol=1e-5)
    for w in att.decoder:
        assert torch.all(w.triu(1) == 0)


def test_padding_never_changes_real_tokens():
    model = _model()
    src = torch.randint(3, 30, (1, 7))
    tgt = torch.randint(3, 25, (1, 5))
    logits, att = model(src, tgt)
    src_p = torch.cat([src, torch.zeros(1, 6, dtype=torch.long)], 1)
    tgt_p = torch.cat([tgt, torch.zeros(1, 4, dtype=torch.long)], 1)
    logits_p, att_p = model(src_p, tgt_p)
    torch.testing.assert_close(logits_p[:, :5], logits, atol=1e-5, rtol=1e-5)
    for a, b in zip(att.encoder, att_p.encoder):
        torch.testing.assert_close(b[:, :, :7, :7], a, atol=1e-6, rtol=1e-5)
        assert torch.all(b[..., 7:] == 0)
    for a, b in zip(att.cross, att_p.cross):
        torch.testing.assert_close(b[:, :, :5, :7], a, atol=1e-6, rtol=1e-5)
    # In a batch, a short sequence padded beside a long one gives the same result as alone.
    long_src = torch.randint(3, 30, (1, 13))
    batch = torch.cat([src_p.new_zeros(1, 13), long_src])
    batch[0, :7] = src[0]
    logits_b, _ = model(batch, torch.cat([tgt, tgt]))
    torch.testing.assert_close(logits_b[:1], logits, atol=1e-5, rtol=1e-5)


def test_fused_path_without_weights_gives_the_same_output():
    """need_weights=False (PyTorch's fused scaled_dot_product_attention) computes what the weights path does."""
    d_model, n_heads = 32, 4
    mha = MultiHeadAttention(d_model, n_heads).eval()
    ids = torch.tensor([[5, 6, 7, 8, 0, 0], [5, 6, 7, 8, 9, 1]])
    x = torch.randn(2, 6, d_model)
    mask = padding_mask(ids, 0) & causal_mask(6)
    fused, none = mha(x, x, x, mask, need_weights=False)
    assert none is None
    torch.testing.assert_close(fused, mha(x, x, x, mask)[0], atol=1e-5, rtol=1e-5)
    model = _model()
    src, tgt = torch.randint(3, 30, (2, 9)), torch.randint(3, 25, (2, 6))
    src[0, 6:] = 0  # padding in the source
    logits, att = model(src, tgt)
    logits_f, att_f = model(src, tgt, need_weights=False)
    torch.testing.assert_close(logits_f, logits, atol=1e-5, rtol=1e-5)
    assert all(w is None for w in att_f.encoder + att_f.decoder + att_f.cross)
    assert all(w is not None for w in att.encoder + att.decoder + att.cross)


def test_sinusoidal_encoding_is_the_papers_formula():
    d_model, length = 16, 50
    pe = sinusoidal_encoding(length, d_model)
    for pos in (0, 1, 7, 49):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert sinusoidal_encoding(5, 7).shape == (5, 7)  # odd widths work too


def test_greedy_decode_stops_and_pads():
    model = _model()
    src = torch.randint(3, 30, (3, 6))
    ys = model.greedy_decode(src, bos_id=1, eos_id=2, max_len=10)
    assert ys.shape[0] == 3 and ys.shape[1] <= 11
    assert torch.all(ys[:, 0] == 1)


def test_config_rejects_indivisible_heads():
    with pytest.raises(ValueError):
        TransformerConfig(src_vocab=10, tgt_vocab=10, d_model=30, n_heads=4)


def test_tied_embeddings_share_one_matrix_and_round_trip():
    """tie_embeddings (Vaswani et al. 2017, section 3.4): source embedding, target embedding and the pre-softmax
    projection are one parameter; a checkpoint may hold it once; untied configs are as before."""
    cfg = TransformerConfig(src_vocab=40, tgt_vocab=40, d_model=32, n_heads=4, d_ff=64, dropout=0.0,
                            tie_embeddings=True)
    model = make_model(cfg).eval()
    assert model.src_embed.weight is model.tgt_embed.weight is model.generator.weight
    untied = make_model(TransformerConfig(src_vocab=40, tgt_vocab=40, d_model=32, n_heads=4, d_ff=64))
    n_tied, n_untied = (sum(p.numel() for p in m.parameters()) for m in (model, untied))
    assert n_untied - n_tied == 2 * 40 * 32
    assert torch.all(model.src_embed.weight[cfg.pad_id] == 0)
    # A gradient step moves the one matrix through all three uses.
    src, tgt = torch.randint(3, 40, (2, 6)), torch.randint(3, 40, (2, 5))
    logits, _ = model(src, tgt)
    logits.sum().backward()
    assert model.generator.weight.grad is model.src_embed.weight.grad
    # Saved once (safetensors refuses shared memory), loaded back strictly into a fresh model.
    state = model.unique_state_dict()
    assert "src_embed.weight" in state and not {"tgt_embed.weight", "generator.weight"} & set(state)
    fresh = make_model(TransformerConfig(**cfg.to_dict())).eval()
    fresh.load_state_dict(state, strict=True)
    assert fresh.generator.weight is fresh.src_embed.weight
    torch.testing.assert_close(fresh(src, tgt)[0], model(src, tgt)[0])
    # A config saved before the field existed (no tie_embeddings key) builds an untied model.
    old = cfg.to_dict()
    del old["tie_embeddings"]
    assert TransformerConfig(**old).tie_embeddings is False
    with pytest.raises(ValueError, match="one vocabulary"):
        TransformerConfig(src_vocab=40, tgt_vocab=41, tie_embeddings=True)
