"""One attention head of one layer, recomputed from the model's own weights, every intermediate kept.

The model runs once, unchanged; a pre-hook and a hook on the chosen attention module record its input and
output for this call only (this thread's calls only; removed in `finally`; written into a local dict). From that input and the
module's weights we redo the arithmetic of Vaswani et al. 2017, eq. (1) and section 3.2.2:

    Q = X W_Q,  K = X W_K,  V = X W_V              (per head: d_model → d_k)
    A = softmax(mask(Q Kᵀ / √d_k))                  (mask: −∞ where a key may not be attended)
    head = A V,  MultiHead = Concat(head_1..head_h) W_O

and check that Concat(...) W_O + b_O equals what the module itself returned (`max_abs_diff`).
For a timm ViT block (Dosovitskiy et al. 2021) X is the block's LayerNorm'd input (pre-norm), Q, K, V come
from one fused `qkv` projection, and `q_norm`/`k_norm`, if the model has them, are applied as it does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from models.capture.hooks import hooks, running
from models.network.transformer import MultiHeadAttention, Transformer

TEXT_KINDS = ("encoder", "decoder", "cross")
KIND_NAMES = {
    "encoder": "encoder self-attention",
    "decoder": "decoder masked self-attention",
    "cross": "decoder cross-attention (encoder–decoder attention)",
    "vit": "ViT self-attention",
}


@dataclass
class HeadSteps:
    """Every intermediate of one head (and the layer's output), float32 numpy, rows = tokens."""

    kind: str  # "encoder", "decoder", "cross" or "vit"
    layer: int
    head: int
    n_heads: int
    d_model: int
    d_k: int
    query_labels: list[str]
    key_labels: list[str]
    x_query: np.ndarray  # (Tq, d_model): the layer's input X where queries come from
    x_key: np.ndarray  # (Tk, d_model): where keys and values come from (the encoder output for cross-attention)
    w_q: np.ndarray  # (d_model, d_k): this head's columns, so that Q = X W_Q + b_Q
    w_k: np.ndarray
    w_v: np.ndarray
    b_q: np.ndarray | None  # (d_k,)
    b_k: np.ndarray | None
    b_v: np.ndarray | None
    q: np.ndarray  # (Tq, d_k), after q_norm where the model has one
    k: np.ndarray  # (Tk, d_k)
    v: np.ndarray  # (Tk, d_k)
    scores: np.ndarray  # (Tq, Tk) Q Kᵀ
    scaled: np.ndarray  # (Tq, Tk) Q Kᵀ / √d_k
    mask: np.ndarray | None  # (Tq, Tk) bool, True = may attend; None when nothing is masked
    masked: np.ndarray  # (Tq, Tk) scaled with −inf where the mask is False
    weights: np.ndarray  # (Tq, Tk) softmax over keys
    head_output: np.ndarray  # (Tq, d_k) weights @ V
    concat: np.ndarray  # (Tq, n_heads·d_k): every head's output side by side (all recomputed here)
    w_o: np.ndarray  # (n_heads·d_k, d_model), so that output = concat W_O + b_O
    b_o: np.ndarray | None  # (d_model,)
    output: np.ndarray  # (Tq, d_model): our recomputation of the sub-layer's output
    model_output: np.ndarray  # (Tq, d_model): what the model's module returned in its own forward pass
    max_abs_diff: float  # max |output − model_output|
    weights_diff: float | None = None  # max |weights − the model's own weights| where the module returns them
    notes: list[str] = field(default_factory=list)  # model-specific facts worth saying on screen

    @property
    def scale(self) -> float:
        return 1.0 / math.sqrt(self.d_k)

    @property
    def difference(self) -> np.ndarray:
        """(Tq, d_model) recomputed − the model's own output."""
        return self.output - self.model_output


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().float().cpu().numpy()


def _capture(module: nn.Module, run, model: nn.Module | None = None) -> tuple[tuple, dict, object]:
    """Runs `run()` once and returns (args, kwargs, output) of `module`'s first call in it.

    The hooks live only inside this call and record only calls made by this thread: the model is shared by
    every session, and another session's forward pass may go through the same module meanwhile. `model`'s
    lock is held meanwhile, so no other capture switches its fused attention off under this forward.
    """
    seen: dict = {}

    def pre_hook(_mod, args, kwargs):
        if "args" not in seen:
            seen["args"], seen["kwargs"] = args, dict(kwargs)

    def post_hook(_mod, _args, _kwargs, output):
        if "output" not in seen:
            seen["output"] = output

    with hooks(hold=model) as h:  # this thread's calls only, removed in `finally`, flags as loaded (capture/hooks.py)
        h.pre(module, pre_hook, with_kwargs=True)
        h.forward(module, post_hook, with_kwargs=True)
        with torch.inference_mode():
            run()
    if "output" not in seen:
        raise RuntimeError("the chosen attention module was not called by the forward pass")
    return seen["args"], seen["kwargs"], seen["output"]


def _head_attention(q, k, v, d_k, mask):
    """(Tq, d_k), (Tk, d_k), (Tk, d_k), mask (Tq, Tk) bool or None -> scores, scaled, masked, weights, out."""
    scores = q @ k.transpose(-2, -1)  # (Tq, Tk)
    scaled = scores / math.sqrt(d_k)
    masked = scaled if mask is None else scaled.masked_fill(~mask, float("-inf"))
    weights = masked.softmax(dim=-1)
    return scores, scaled, masked, weights, weights @ v


# --------------------------------------------------------------------------------------------- text


def transformer_steps(
    model: Transformer,
    src_ids: torch.Tensor,
    tgt_ids: torch.Tensor,
    kind: str,
    layer: int,
    head: int,
    source_labels: list[str],
    target_labels: list[str],
) -> HeadSteps:
    """One head of the encoder–decoder Transformer (models/network/transformer.py) on one example.

    src_ids (1, S), tgt_ids (1, T): the source and the decoder input (BOS + output). kind: "encoder",
    "decoder" or "cross". The model runs its own forward pass; nothing on it is changed.
    """
    if kind not in TEXT_KINDS:
        raise ValueError(f"kind must be one of {TEXT_KINDS}")
    layers = model.encoder_layers if kind == "encoder" else model.decoder_layers
    if not 0 <= layer < len(layers):
        raise ValueError(f"layer {layer} is outside 0..{len(layers) - 1}")
    module: MultiHeadAttention = layers[layer].cross_attn if kind == "cross" else layers[layer].self_attn
    if not 0 <= head < module.n_heads:
        raise ValueError(f"head {head} is outside 0..{module.n_heads - 1}")
    if model.training:
        raise RuntimeError("the model must be in eval mode (dropout off) for an exact recomputation")
    dev = next(model.parameters()).device
    src_ids, tgt_ids = src_ids.to(dev), tgt_ids.to(dev)
    if src_ids.dim() != 2 or src_ids.size(0) != 1 or tgt_ids.dim() != 2 or tgt_ids.size(0) != 1:
        raise ValueError("one example at a time: src_ids and tgt_ids must be (1, length)")
    args, kwargs, out = _capture(module, lambda: model(src_ids, tgt_ids), model)
    names = ("query", "key", "value", "mask")
    inputs = dict(zip(names, args))
    inputs.update(kwargs)
    x_q, x_k, x_v, mask = inputs["query"][0], inputs["key"][0], inputs["value"][0], inputs.get("mask")
    model_out, model_weights = out[0][0], out[1][0]  # (Tq, d_model), (h, Tq, Tk)

    with running(), torch.inference_mode():  # the recomputation calls the modules too (capture/hooks.py)
        d_k, h_all = module.d_k, module.n_heads
        tq, tk = x_q.size(0), x_k.size(0)
        mask2d = None if mask is None else mask.expand(1, 1, tq, tk)[0, 0]  # (Tq, Tk)

        def head_qkv(h):
            rows = slice(h * d_k, (h + 1) * d_k)
            q = x_q @ module.w_q.weight[rows].T + module.w_q.bias[rows]  # (Tq, d_k)
            k = x_k @ module.w_k.weight[rows].T + module.w_k.bias[rows]  # (Tk, d_k)
            v = x_v @ module.w_v.weight[rows].T + module.w_v.bias[rows]  # (Tk, d_k)
            return q, k, v

        heads = [_head_attention(*head_qkv(h), d_k, mask2d) for h in range(h_all)]
        concat = torch.cat([r[4] for r in heads], dim=-1)  # (Tq, h·d_k)
        output = concat @ module.w_o.weight.T + module.w_o.bias  # (Tq, d_model)
        q, k, v = head_qkv(head)
        scores, scaled, masked, weights, head_out = heads[head]
        rows = slice(head * d_k, (head + 1) * d_k)
        notes = []
        if kind == "cross":
            notes.append("Queries come from the decoder; keys and values from the encoder's output (the memory).")
        return HeadSteps(
            kind=kind,
            layer=layer,
            head=head,
            n_heads=h_all,
            d_model=model.cfg.d_model,
            d_k=d_k,
            query_labels=list(target_labels if kind != "encoder" else source_labels),
            key_labels=list(source_labels if kind != "decoder" else target_labels),
            x_query=_np(x_q),
            x_key=_np(x_k),
            w_q=_np(module.w_q.weight[rows].T),
            w_k=_np(module.w_k.weight[rows].T),
            w_v=_np(module.w_v.weight[rows].T),
            b_q=_np(module.w_q.bias[rows]),
            b_k=_np(module.w_k.bias[rows]),
            b_v=_np(module.w_v.bias[rows]),
            q=_np(q),
            k=_np(k),
            v=_np(v),
            scores=_np(scores),
            scaled=_np(scaled),
            mask=None if mask2d is None else mask2d.cpu().numpy().astype(bool),
            masked=_np(masked),
            weights=_np(weights),
            head_output=_np(head_out),
            concat=_np(concat),
            w_o=_np(module.w_o.weight.T),
            b_o=_np(module.w_o.bias),
            output=_np(output),
            model_output=_np(model_out),
            max_abs_diff=float((output - model_out).abs().max()),
            weights_diff=float((weights - model_weights[head]).abs().max()),
            notes=notes,
        )


def text_ids(model, trace) -> tuple[torch.Tensor, torch.Tensor]:
    """A models.demo.text TextModel and one of its TextTraces -> (1, S) source ids and (1, T) decoder input ids.

    The trace's labels are vocabulary entries (unknown input is labelled <unk>, padding <pad>), so they map
    back to the very ids the model read.
    """
    src_index = {t: i for i, t in enumerate(model.source_vocab)}
    tgt_index = {t: i for i, t in enumerate(model.target_vocab)}
    missing = [t for t in trace.source_tokens if t not in src_index] + [
        t for t in trace.target_tokens if t not in tgt_index
    ]
    if missing:
        raise ValueError(f"tokens outside the model's vocabulary: {missing[:5]}")
    src = torch.tensor([[src_index[t] for t in trace.source_tokens]], dtype=torch.long)
    tgt = torch.tensor([[tgt_index[t] for t in trace.target_tokens]], dtype=torch.long)
    return src, tgt


def text_steps(model, trace, kind: str, layer: int, head: int) -> HeadSteps:
    """One head of a models.demo.text demo model on one of its traces (the decoder input is <s> + the output)."""
    src, tgt = text_ids(model, trace)
    return transformer_steps(model.transformer, src, tgt, kind, layer, head, trace.source_tokens, trace.target_tokens)


# ---------------------------------------------------------------------------------------------- ViT


def vit_blocks(model: nn.Module) -> nn.Sequential:
    """The transformer blocks of a timm VisionTransformer, checked to hold a standard qkv attention."""
    blocks = getattr(model, "blocks", None)
    if blocks is None or not len(blocks):
        raise ValueError("not a timm VisionTransformer: it has no `blocks`")
    attn = blocks[0].attn
    for name in ("qkv", "proj", "num_heads", "head_dim"):
        if not hasattr(attn, name):
            raise ValueError(f"this model's attention ({type(attn).__name__}) has no `{name}`; step-by-step "
                             "needs timm's standard Attention (fused qkv projection)")
    if getattr(attn, "gate", None) is not None:
        raise ValueError("gated attention is not supported step by step")
    return blocks


def vit_model_steps(model, pixels: torch.Tensor, block: int, head: int) -> HeadSteps:
    """vit_steps for a models.capture.vision.VisionModel (from vision.load), its tokens labelled as the ViT page
    labels them."""
    from models.capture import vision

    module = model.module
    labels, _ = vision.token_labels(module, tuple(int(g) for g in module.patch_embed.grid_size))
    return vit_steps(module, pixels, block, head, labels)


def vit_steps(model: nn.Module, pixels: torch.Tensor, block: int, head: int, token_labels: list[str]) -> HeadSteps:
    """One head of one block of a timm VisionTransformer on one preprocessed image (1, 3, H, W).

    X is the block's `norm1` output (pre-norm, Dosovitskiy et al. 2021 eq. 3): the input of its attention.
    """
    blocks = vit_blocks(model)
    if not 0 <= block < len(blocks):
        raise ValueError(f"block {block} is outside 0..{len(blocks) - 1}")
    module = blocks[block].attn
    n_heads, d_k = int(module.num_heads), int(module.head_dim)
    if not 0 <= head < n_heads:
        raise ValueError(f"head {head} is outside 0..{n_heads - 1}")
    if model.training:
        raise RuntimeError("the model must be in eval mode (dropout off) for an exact recomputation")
    dev = next(model.parameters()).device
    pixels = pixels.to(dev, dtype=next(model.parameters()).dtype)
    args, kwargs, out = _capture(module, lambda: model(pixels), model)
    x = (args[0] if args else kwargs["x"])[0]  # (N, C)
    if kwargs.get("attn_mask") is not None or kwargs.get("is_causal"):
        raise ValueError("this model passes an attention mask to its blocks; not supported step by step")
    model_out = out[0]  # (N, C)

    with running(), torch.inference_mode():  # the recomputation calls the modules too (capture/hooks.py)
        n = x.size(0)
        qkv = module.qkv(x[None]).reshape(1, n, 3, n_heads, d_k).permute(2, 0, 3, 1, 4)  # (3, 1, h, N, d_k)
        q_all, k_all, v_all = qkv.unbind(0)
        q_all, k_all = module.q_norm(q_all), module.k_norm(k_all)  # identity unless the model has qk-norm
        heads = [_head_attention(q_all[0, h], k_all[0, h], v_all[0, h], d_k, None) for h in range(n_heads)]
        concat = torch.cat([r[4] for r in heads], dim=-1)  # (N, h·d_k)
        concat_normed = module.norm(concat)  # identity unless scale_norm
        output = module.proj(concat_normed)  # (N, C)
        scores, scaled, masked, weights, head_out = heads[head]
        w = module.qkv.weight  # (3·h·d_k, C)
        b = module.qkv.bias
        a = n_heads * d_k

        def rows(i):
            return slice(i * a + head * d_k, i * a + (head + 1) * d_k)

        notes = []
        if not isinstance(module.q_norm, nn.Identity):
            notes.append(f"This model normalises Q and K per head ({type(module.q_norm).__name__}) before Q Kᵀ.")
        if not isinstance(module.norm, nn.Identity):
            notes.append(f"This model normalises the concatenated heads ({type(module.norm).__name__}) before W_O.")
        return HeadSteps(
            kind="vit",
            layer=block,
            head=head,
            n_heads=n_heads,
            d_model=int(x.size(-1)),
            d_k=d_k,
            query_labels=list(token_labels),
            key_labels=list(token_labels),
            x_query=_np(x),
            x_key=_np(x),
            w_q=_np(w[rows(0)].T),
            w_k=_np(w[rows(1)].T),
            w_v=_np(w[rows(2)].T),
            b_q=None if b is None else _np(b[rows(0)]),
            b_k=None if b is None else _np(b[rows(1)]),
            b_v=None if b is None else _np(b[rows(2)]),
            q=_np(q_all[0, head]),
            k=_np(k_all[0, head]),
            v=_np(v_all[0, head]),
            scores=_np(scores),
            scaled=_np(scaled),
            mask=None,
            masked=_np(masked),
            weights=_np(weights),
            head_output=_np(head_out),
            concat=_np(concat),
            w_o=_np(module.proj.weight.T),
            b_o=_np(module.proj.bias),
            output=_np(output),
            model_output=_np(model_out),
            max_abs_diff=float((output - model_out).abs().max()),
            notes=notes,
        )
