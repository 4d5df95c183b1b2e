"""One attention head of one layer, recomputed from the model's own weights, every intermediate kept.

The model runs once, unchanged; a pre-hook and a hook on the chosen attention module record its input and
output for this call only (this thread's calls only; removed in `finally`; written into a local dict). From that
input and the module's weights we redo the arithmetic of Vaswani et al. 2017, eq. (1) and section 3.2.2:

    Q = X W_Q,  K = X W_K,  V = X W_V              (per head: d_model → d_k)
    A = softmax(mask(Q Kᵀ / √d_k))                  (mask: −∞ where a key may not be attended)
    head = A V,  MultiHead = Concat(head_1..head_h) W_O

and check that Concat(...) W_O + b_O equals what the module itself returned (`max_abs_diff`), within
`tolerance(...)`. A recomputation that does not reproduce the model is refused (NotReproducible, with a code
that says why, worded for the reader by ui/words/steps.py), never returned: the page must not show numbers the model
did not compute.

For a timm ViT block (Dosovitskiy et al. 2021) X is the block's LayerNorm'd input (pre-norm, eq. 2:
z'_l = MSA(LN(z_{l-1})) + z_{l-1}), Q, K, V come from one fused `qkv` projection (with BEiT/EVA-style separate
q/v biases where present), and `q_norm`/`k_norm`, if the model has them, are applied as it does. Models with
LayerScale (DINOv2, CaiT; timm's `ls1` or `gamma_1`) add γ ⊙ MSA(LN(z)) to the residual stream: γ is included
and checked too. Models that add anything else to QKᵀ/√d_k before the softmax (BEiT's relative position bias,
EVA-02's rotary embeddings of q and k) are refused up front with that reason. The forward pass ends in the chosen
block's attention (nothing after it is used). Above DENSE_MAX_TOKENS tokens (a ViT built for 1,036 px: 5,477) no head
keeps a token × token matrix: each head's softmax(QKᵀ/√d_k)V is computed a chunk of query rows at a time, the check
still covers every row, and `HeadSteps.query_row(i)` gives one query's row of the scores, scaled scores and weights
from the head's q and k (with how far its weights · V is from the checked output row).

For a Hugging Face transformers language model (models.language.LanguageModel; `lm_steps`) the base model runs
once on the tokenized text, whatever attention implementation it was loaded with (the app's "atlas", SDPA or
eager), and the hooks record the self-attention module's input X and the output of its sub-layer's W_O:
BertSelfOutput.dense (BERT, RoBERTa, ELECTRA, MiniLM: before dropout, the residual and LayerNorm), DistilBERT's
out_lin, GPT-2's c_proj (its Conv1D c_attn holds W_Q | W_K | W_V), Llama/Mistral/Qwen2's o_proj. The scale is the
module's own `scaling`; decoders are masked causally, and by their sliding window where a layer has one; Llama-style
models rotate q and k by position with the cos/sin the model passed to the layer (RoPE, Su et al. 2021), and
grouped-query heads take their group's K and V. Relative position biases (T5, DeBERTa), ALiBi (BLOOM, MPT),
encoder–decoders and any other model type are refused with the reason (`lm_refusal`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from models.capture.hooks import hooks, running
from models.messages import CodedError, Notice
from models.network.transformer import MultiHeadAttention, Transformer

TEXT_KINDS = ("encoder", "decoder", "cross")
RELATIVE_TOLERANCE = 1e-4  # float32: |recomputed − model| ≤ 1e-4 × max(1, largest |model output|)
# A ViT block above this many tokens is recomputed without a token × token matrix for any head: each head's
# softmax(QKᵀ/√d_k)V is computed a chunk of query rows at a time (at most CHUNK_ELEMENTS scores at once) and the
# page draws one query's row (HeadSteps.query_row). DINOv2 ViT-S/14 at 1,036 px: 5,477 tokens, where the dense
# matrices would take 4 × 6 heads × 120 MB = 2.9 GB a block.
DENSE_MAX_TOKENS = 1024
CHUNK_ELEMENTS = 1 << 21  # 2 Mi float32 scores (8 MiB) a chunk of query rows
WINDOW_ROWS = 64  # rows of a token × dimension matrix drawn around the query when not every row is


class NotReproducible(CodedError):
    """This head cannot be recomputed so that it reproduces the model: a code and its parameters say why
    (ui/words/steps.py words them for the reader). A ValueError, as CodedError is."""


def tolerance(model_output: np.ndarray) -> float:
    """The largest |recomputed − model| accepted as a reproduction: float32 round-off of sums over d_model terms,
    relative to the output's magnitude (1e-4 × max(1, max |output|))."""
    return RELATIVE_TOLERANCE * max(1.0, float(np.abs(model_output).max(initial=0.0)))


def tolerance_text() -> str:
    """The rule, for logs and the command line (the page words it from RELATIVE_TOLERANCE)."""
    return f"{RELATIVE_TOLERANCE:.0e} × max(1, largest |model output|)"


KIND_NAMES = {  # English, for logs and the command line; the page has its own words for these
    "encoder": "encoder self-attention",
    "decoder": "decoder masked self-attention",
    "cross": "decoder cross-attention (encoder–decoder attention)",
    "vit": "ViT self-attention",
    "self": "self-attention",
}


@dataclass(frozen=True)
class QueryRow:
    """One query's row of each token × token step of a head, float32 (Tk,); `output_diff` is
    max |row weights · V − the head's output row| (0 when read from kept matrices)."""

    query: int
    scores: np.ndarray
    scaled: np.ndarray
    masked: np.ndarray
    weights: np.ndarray
    output_diff: float


@dataclass
class HeadSteps:
    """Every intermediate of one head (and the layer's output), float32 numpy, rows = tokens."""

    kind: str  # "encoder", "decoder", "cross", "vit", or "self" (a transformers language model's self-attention)
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
    # The token × token matrices: None for a ViT above DENSE_MAX_TOKENS tokens, where no head keeps one
    # (`dense` is False): `query_row(i)` computes one query's row of each from q and k instead.
    scores: np.ndarray | None  # (Tq, Tk) Q Kᵀ
    scaled: np.ndarray | None  # (Tq, Tk) Q Kᵀ / √d_k
    mask: np.ndarray | None  # (Tq, Tk) bool, True = may attend; None when nothing is masked
    masked: np.ndarray | None  # (Tq, Tk) scaled with −inf where the mask is False
    weights: np.ndarray | None  # (Tq, Tk) softmax over keys
    head_output: np.ndarray  # (Tq, d_k) weights @ V
    concat: np.ndarray  # (Tq, n_heads·d_k): every head's output side by side (all recomputed here)
    w_o: np.ndarray  # (n_heads·d_k, d_model), so that output = concat W_O + b_O
    b_o: np.ndarray | None  # (d_model,)
    output: np.ndarray  # (Tq, d_model): our recomputation of the sub-layer's output
    model_output: np.ndarray  # (Tq, d_model): what the model's module returned in its own forward pass
    max_abs_diff: float  # max |output − model_output|
    weights_diff: float | None = None  # max |weights − the model's own weights| where the module returns them
    notes: list[Notice] = field(default_factory=list)  # model-specific facts worth saying on screen (codes)
    layer_scale: np.ndarray | None = None  # (d_model,) LayerScale γ where the block has one (ls1 / gamma_1)
    scaled_output: np.ndarray | None = None  # (Tq, d_model) γ ⊙ output: what is added to the residual stream
    model_scaled_output: np.ndarray | None = None  # (Tq, d_model) the block's own γ ⊙ (its module's output)
    tol: float = 0.0  # the tolerance the check used (see tolerance())
    scaling: float | None = None  # the model's own factor on Q Kᵀ where it is not 1/√d_k (None: 1/√d_k)
    q_unrotated: np.ndarray | None = None  # (Tq, d_k) rotary models: X W_Q + b_Q before the rotation (q is after)
    k_unrotated: np.ndarray | None = None  # (Tk, d_k) the same for K
    output_name: str | None = None  # language models: the module whose output is checked ("attention.output.dense")
    grid: tuple[int, int] | None = None  # ViT: the patch grid (rows, columns), patches after `n_prefix` tokens
    n_prefix: int = 0  # ViT: tokens before the patches (CLS, DIST, REG0…)

    @property
    def scale(self) -> float:
        return float(self.scaling) if self.scaling is not None else 1.0 / math.sqrt(self.d_k)

    @property
    def dense(self) -> bool:
        """Whether the token × token matrices are kept (every input up to DENSE_MAX_TOKENS tokens)."""
        return self.weights is not None

    def query_row(self, query: int) -> QueryRow:
        """Query `query`'s row of Q Kᵀ, Q Kᵀ / √d_k, the masked scores and the softmax, float32 (Tk,).

        Kept matrices are read; without them (`dense` False) the row is computed from this head's q and k as the
        block's recomputation computed it (Q Kᵀ, ÷ √d_k, softmax), and `output_diff` says how far its weights · V
        is from the head's output row, which is part of the checked output."""
        if not 0 <= query < self.q.shape[0]:
            raise ValueError(f"query {query} is outside 0..{self.q.shape[0] - 1}")
        if self.dense:
            return QueryRow(query, self.scores[query], self.scaled[query], self.masked[query], self.weights[query],
                            0.0)
        with torch.inference_mode():
            q = torch.from_numpy(np.array(self.q[query:query + 1]))
            k = torch.from_numpy(np.array(self.k))
            scores = q @ k.T
            scaled = scores / math.sqrt(self.d_k) if self.scaling is None else scores * self.scaling
            masked = scaled
            if self.mask is not None:
                masked = scaled.masked_fill(~torch.from_numpy(np.array(self.mask[query:query + 1])), float("-inf"))
            weights = masked.softmax(dim=-1)
            out = weights @ torch.from_numpy(np.array(self.v))
            diff = float((out[0] - torch.from_numpy(np.array(self.head_output[query]))).abs().max())
        return QueryRow(query, _np(scores[0]), _np(scaled[0]), _np(masked[0]), _np(weights[0]), diff)

    def rows_window(self, query: int, size: int = WINDOW_ROWS) -> slice:
        """The `size` consecutive token positions (all of them when fewer) that the page draws of a matrix with a
        row per token when it does not draw every row: the query's row and the rows around it."""
        n = self.q.shape[0]
        if n <= size:
            return slice(0, n)
        start = min(max(0, query - size // 2), n - size)
        return slice(start, start + size)

    def on_grid(self, row: np.ndarray) -> np.ndarray:
        """A ViT key row (Tk,) as the patch grid (rows, columns): the patches' values, prefix tokens left out."""
        if self.grid is None:
            raise ValueError("not a ViT head: no patch grid")
        rows, cols = self.grid
        return np.asarray(row)[self.n_prefix:self.n_prefix + rows * cols].reshape(rows, cols)

    @property
    def difference(self) -> np.ndarray:
        """(Tq, d_model) recomputed − the model's own output."""
        return self.output - self.model_output


def _checked(steps: HeadSteps) -> HeadSteps:
    """steps, with its tolerance set, if it reproduces the model; otherwise NotReproducible says by how much."""
    steps.tol = tolerance(steps.model_output)
    if not steps.max_abs_diff <= steps.tol:  # also refuses NaN
        raise NotReproducible("steps.tolerance", diff=steps.max_abs_diff, tol=steps.tol, rel=RELATIVE_TOLERANCE)
    return steps


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().float().cpu().numpy()


class _Captured(Exception):
    """Raised by _capture's hook once it has what it needs, when the rest of the forward pass is not wanted."""


def _capture(module: nn.Module, run, model: nn.Module | None = None,
             stop: bool = False) -> tuple[tuple, dict, object]:
    """Runs `run()` once and returns (args, kwargs, output) of `module`'s first call in it.

    The hooks live only inside this call and record only calls made by this thread: the model is shared by
    every session, and another session's forward pass may go through the same module meanwhile. `model`'s
    lock is held meanwhile, so no other capture switches its fused attention off under this forward.
    `stop`: the forward pass ends at that call (nothing after it is used; a ViT at 5,477 tokens spends seconds in
    the blocks after the chosen one).
    """
    seen: dict = {}

    def pre_hook(_mod, args, kwargs):
        if "args" not in seen:
            seen["args"], seen["kwargs"] = args, dict(kwargs)

    def post_hook(_mod, _args, _kwargs, output):
        if "output" not in seen:
            seen["output"] = output
            if stop:
                raise _Captured

    with hooks(hold=model) as h:  # this thread's calls only, removed in `finally`, flags as loaded (capture/hooks.py)
        h.pre(module, pre_hook, with_kwargs=True)
        h.forward(module, post_hook, with_kwargs=True)
        with torch.inference_mode():
            try:
                run()
            except _Captured:
                pass
    if "output" not in seen:
        raise RuntimeError("the chosen attention module was not called by the forward pass")
    return seen["args"], seen["kwargs"], seen["output"]


def _head_output_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, d_k: int) -> torch.Tensor:
    """softmax(Q Kᵀ / √d_k) V of one head, (Tq, d_k), a chunk of query rows at a time: never more than
    CHUNK_ELEMENTS scores at once, the same arithmetic as _head_attention (unmasked)."""
    out = q.new_empty(q.size(0), v.size(-1))
    step = max(1, CHUNK_ELEMENTS // max(1, k.size(0)))
    kt = k.transpose(-2, -1)
    for start in range(0, q.size(0), step):
        scaled = (q[start:start + step] @ kt) / math.sqrt(d_k)
        out[start:start + step] = scaled.softmax(dim=-1) @ v
    return out


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
    head: int | None,
    source_labels: list[str],
    target_labels: list[str],
) -> HeadSteps | list[HeadSteps]:
    """One head of the encoder–decoder Transformer (models/network/transformer.py) on one example; every head
    of the layer, in order, when `head` is None (one forward pass and one recomputation for all of them).

    src_ids (1, S), tgt_ids (1, T): the source and the decoder input (BOS + output). kind: "encoder",
    "decoder" or "cross". The model runs its own forward pass; nothing on it is changed.
    """
    if kind not in TEXT_KINDS:
        raise ValueError(f"kind must be one of {TEXT_KINDS}")
    layers = model.encoder_layers if kind == "encoder" else model.decoder_layers
    if not 0 <= layer < len(layers):
        raise ValueError(f"layer {layer} is outside 0..{len(layers) - 1}")
    module: MultiHeadAttention = layers[layer].cross_attn if kind == "cross" else layers[layer].self_attn
    if head is not None and not 0 <= head < module.n_heads:
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
        notes = []
        if kind == "cross":
            notes.append(Notice("steps.cross_memory"))
        diff = float((output - model_out).abs().max())

        def one(head: int) -> HeadSteps:
            q, k, v = head_qkv(head)
            scores, scaled, masked, weights, head_out = heads[head]
            rows = slice(head * d_k, (head + 1) * d_k)
            return _checked(HeadSteps(
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
                max_abs_diff=diff,
                weights_diff=float((weights - model_weights[head]).abs().max()),
                notes=notes,
            ))

        return [one(h) for h in range(h_all)] if head is None else one(head)


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


def text_steps(model, trace, kind: str, layer: int, head: int | None) -> HeadSteps | list[HeadSteps]:
    """One head (every head when None) of a models.demo.text demo model on one of its traces (the decoder input
    is <s> + the output)."""
    src, tgt = text_ids(model, trace)
    return transformer_steps(model.transformer, src, tgt, kind, layer, head, trace.source_tokens, trace.target_tokens)


# ---------------------------------------------------------------------------------------------- ViT


def _module(model) -> nn.Module:
    """The timm nn.Module of what models.capture.vision.load returned (a wrapper owning it, or the module)."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def _head_dim(attn: nn.Module) -> int:
    d = getattr(attn, "head_dim", None)
    return int(d) if d else int(attn.qkv.out_features) // (3 * int(attn.num_heads))


def refusal(model) -> NotReproducible | None:
    """Why this ViT's attention cannot be redone step by step (a coded error, not raised); None when it can.

    softmax(QKᵀ/√d_k)·V is the whole story only when nothing else enters the logits: these models add something.
    """
    module = _module(model)
    blocks = getattr(module, "blocks", None)
    attn = getattr(blocks[0], "attn", None) if blocks is not None and len(blocks) else None
    name = type(module).__name__
    if getattr(module, "rope", None) is not None or getattr(attn, "rope", None) is not None:
        return NotReproducible("steps.rotary", model=name)
    if getattr(module, "rel_pos_bias", None) is not None or getattr(attn, "relative_position_bias_table", None) \
            is not None or getattr(attn, "rel_pos", None) is not None:
        return NotReproducible("steps.relative_bias", model=name)
    if attn is not None and getattr(attn, "gate", None) is not None:
        return NotReproducible("steps.gated", model=name)
    return None


def vit_blocks(model) -> nn.Sequential:
    """The transformer blocks of a timm VisionTransformer, checked to hold a standard qkv attention.

    Raises NotReproducible (a ValueError) for models that add to the logits what this walk-through does not redo."""
    module = _module(model)
    blocks = getattr(module, "blocks", None)
    if blocks is None or not len(blocks):
        raise CodedError("steps.not_vit", model=type(module).__name__)
    reason = refusal(module)
    if reason is not None:
        raise reason
    attn = blocks[0].attn
    attention = type(attn).__name__
    for name in ("qkv", "proj", "num_heads"):
        if getattr(attn, name, None) is None:
            raise CodedError("steps.not_standard_attention", attention=attention, attribute=name)
    return blocks


def vit_model_steps(model, pixels: torch.Tensor, block: int, head: int | None) -> HeadSteps | list[HeadSteps]:
    """vit_steps for a model from models.capture.vision.load, its tokens labelled as the ViT page labels them."""
    from models.capture import vision

    module = _module(model)
    grid = tuple(int(g) for g in module.patch_embed.grid_size)
    labels, n_prefix = vision.token_labels(module, grid)
    return vit_steps(module, pixels, block, head, labels, grid=grid, n_prefix=n_prefix)


def _layer_scale(block: nn.Module) -> tuple[torch.Tensor | None, object]:
    """(γ, apply) of a block's LayerScale on the attention branch: timm's `ls1` module or a `gamma_1` parameter."""
    ls1 = getattr(block, "ls1", None)
    if ls1 is not None and not isinstance(ls1, nn.Identity):
        gamma = getattr(ls1, "gamma", None)
        if gamma is None:
            raise CodedError("steps.layer_scale_without_gamma", module=type(ls1).__name__)
        return gamma, ls1
    gamma = getattr(block, "gamma_1", None)
    if isinstance(gamma, torch.Tensor):
        return gamma, lambda t: gamma * t
    return None, None


def vit_steps(
    model: nn.Module, pixels: torch.Tensor, block: int, head: int | None, token_labels: list[str],
    grid: tuple[int, int] | None = None, n_prefix: int = 0,
) -> HeadSteps | list[HeadSteps]:
    """One head of one block of a timm VisionTransformer on one preprocessed image (1, 3, H, W); every head of
    the block, in order, when `head` is None (one forward pass and one recomputation for all of them).

    Up to DENSE_MAX_TOKENS tokens every head keeps its token × token matrices; above, none does (HeadSteps.dense
    is False): each head's output is computed a chunk of query rows at a time, and the check still covers every
    row of the block's output. `grid` and `n_prefix` (the patch grid, the tokens before it) go on the steps for
    the page's pictures.

    X is the block's `norm1` output (pre-norm, Dosovitskiy et al. 2021 eq. 2: z'_l = MSA(LN(z_{l-1})) + z_{l-1}):
    the input of its attention. With LayerScale the block adds γ ⊙ MSA(LN(z)) instead; γ is recomputed and checked.
    Raises NotReproducible when the recomputation cannot, or does not, reproduce the model.
    """
    model = _module(model)
    blocks = vit_blocks(model)
    if not 0 <= block < len(blocks):
        raise ValueError(f"block {block} is outside 0..{len(blocks) - 1}")
    module = blocks[block].attn
    n_heads, d_k = int(module.num_heads), _head_dim(module)
    if head is not None and not 0 <= head < n_heads:
        raise ValueError(f"head {head} is outside 0..{n_heads - 1}")
    if model.training:
        raise RuntimeError("the model must be in eval mode (dropout off) for an exact recomputation")
    dev = next(model.parameters()).device
    pixels = pixels.to(dev, dtype=next(model.parameters()).dtype)
    args, kwargs, out = _capture(module, lambda: model(pixels), model, stop=True)  # the blocks after: not needed
    x = (args[0] if args else kwargs["x"])[0]  # (N, C)
    if kwargs.get("rope") is not None:
        raise refusal(model) or NotReproducible("steps.rotary", model=type(model).__name__)
    if kwargs.get("shared_rel_pos_bias") is not None:
        raise NotReproducible("steps.shared_relative_bias", model=type(model).__name__)
    if kwargs.get("attn_mask") is not None or kwargs.get("is_causal"):
        raise NotReproducible("steps.attention_mask", model=type(model).__name__)
    model_out = out[0]  # (N, C)

    with running(), torch.inference_mode():  # the recomputation calls the modules too (capture/hooks.py)
        n = x.size(0)
        w = module.qkv.weight  # (3·h·d_k, C)
        b = module.qkv.bias
        q_bias = getattr(module, "q_bias", None)
        if q_bias is not None:  # BEiT / EVA: separate q and v biases, k has none (a zero buffer)
            b = torch.cat((q_bias, module.k_bias, module.v_bias)) + (0 if b is None else b)
        qkv = torch.nn.functional.linear(x[None], w, b)
        qkv = qkv.reshape(1, n, 3, n_heads, d_k).permute(2, 0, 3, 1, 4)  # (3, 1, h, N, d_k)
        q_all, k_all, v_all = qkv.unbind(0)
        q_all, k_all = module.q_norm(q_all), module.k_norm(k_all)  # identity unless the model has qk-norm
        if n <= DENSE_MAX_TOKENS:
            heads = [_head_attention(q_all[0, h], k_all[0, h], v_all[0, h], d_k, None) for h in range(n_heads)]
        else:  # no N × N matrix kept for any head: the page draws the query's row (HeadSteps.query_row)
            heads = [(None, None, None, None, _head_output_chunked(q_all[0, h], k_all[0, h], v_all[0, h], d_k))
                     for h in range(n_heads)]
        concat = torch.cat([r[4] for r in heads], dim=-1)  # (N, h·d_k)
        norm = getattr(module, "norm", None)
        concat_normed = concat if norm is None else norm(concat)  # identity unless scale_norm
        output = module.proj(concat_normed)  # (N, C)
        a = n_heads * d_k

        notes = []
        if not isinstance(module.q_norm, nn.Identity):
            notes.append(Notice("steps.qk_norm", norm=type(module.q_norm).__name__))
        if norm is not None and not isinstance(norm, nn.Identity):
            notes.append(Notice("steps.concat_norm", norm=type(norm).__name__))
        if q_bias is not None:
            notes.append(Notice("steps.qv_bias_only"))
        gamma, apply_gamma = _layer_scale(blocks[block])
        scaled_output = model_scaled = None
        diff = float((output - model_out).abs().max())
        if gamma is not None:
            scaled_output = gamma * output  # what the block adds to the residual stream
            model_scaled = apply_gamma(model_out)  # the block's own LayerScale applied to its module's output
            diff = max(diff, float((scaled_output - model_scaled).abs().max()))
            notes.append(Notice("steps.layer_scale"))
        shared = dict(x=_np(x), concat=_np(concat), w_o=_np(module.proj.weight.T), b_o=_np(module.proj.bias),
                      output=_np(output), model_output=_np(model_out), layer_scale=_np(gamma),
                      scaled_output=_np(scaled_output), model_scaled_output=_np(model_scaled))
        for value in shared.values():  # one copy for every head of the block, read-only
            if value is not None:
                value.flags.writeable = False

        def one(head: int) -> HeadSteps:
            def rows(i):
                return slice(i * a + head * d_k, i * a + (head + 1) * d_k)

            scores, scaled, masked, weights, head_out = heads[head]
            return _checked(HeadSteps(
                kind="vit",
                layer=block,
                head=head,
                n_heads=n_heads,
                d_model=int(x.size(-1)),
                d_k=d_k,
                query_labels=list(token_labels),
                key_labels=list(token_labels),
                x_query=shared["x"],
                x_key=shared["x"],
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
                concat=shared["concat"],
                w_o=shared["w_o"],
                b_o=shared["b_o"],
                output=shared["output"],
                model_output=shared["model_output"],
                max_abs_diff=diff,
                notes=notes,
                layer_scale=shared["layer_scale"],
                scaled_output=shared["scaled_output"],
                model_scaled_output=shared["model_scaled_output"],
                grid=None if grid is None else (int(grid[0]), int(grid[1])),
                n_prefix=int(n_prefix),
            ))

        return [one(h) for h in range(n_heads)] if head is None else one(head)



# ------------------------------------------------------------------------------- transformers language models

# model_type → how its self-attention is laid out. Anything else is refused (NotReproducible, with the reason
# where one is known): the walk-through redoes only what it knows the model computes.
LM_STYLES = {
    **dict.fromkeys(("bert", "roberta", "xlm-roberta", "camembert", "electra"), "bert"),
    "distilbert": "distilbert",
    "gpt2": "gpt2",
    **dict.fromkeys(("llama", "mistral", "qwen2"), "rotary"),
}
LM_RELATIVE_BIAS = ("t5", "mt5", "umt5", "longt5", "switch_transformers", "deberta", "deberta-v2")
LM_ALIBI = ("bloom", "mpt")
LM_SUPPORTED = sorted(set(LM_STYLES))  # as the refusal names them
LM_MAX_TOKENS = 256  # the walk-through draws T × T matrices: longer inputs are refused (lm_steps.too_long)
LM_OUTPUT_NAMES = {  # the sub-layer whose output is compared, named as in the model's own modules
    "bert": "attention.output.dense",
    "distilbert": "attention.out_lin",
    "gpt2": "attn.c_proj",
    "rotary": "self_attn.o_proj",
}


class StepsInputError(CodedError):
    """The text cannot be walked through (empty, too long): a code and its parameters."""


def lm_refusal(lm) -> NotReproducible | None:
    """Why this language model's attention is not redone step by step (a coded error, not raised); None when it is.

    `lm` is a models.language.LanguageModel. Supported: BERT-style encoders (BERT, RoBERTa, ELECTRA, MiniLM…),
    DistilBERT, GPT-2, and Llama-style decoders with rotary position embeddings (Llama, Mistral, Qwen2).
    """
    config = getattr(getattr(lm, "module", None), "config", None)
    model_type = str(getattr(config, "model_type", "") or "")
    if config is None or getattr(lm, "tokenizer", None) is None:  # our own demo: the text path does it
        name = str(getattr(lm, "name", "?"))
        return NotReproducible("lm_steps.not_transformers", model=name)
    if model_type in LM_RELATIVE_BIAS:
        return NotReproducible("lm_steps.relative_bias", model=model_type)
    if model_type in LM_ALIBI or getattr(config, "alibi", False):
        return NotReproducible("lm_steps.alibi", model=model_type)
    style = LM_STYLES.get(model_type)
    if style is None:
        if getattr(config, "is_encoder_decoder", False):
            return NotReproducible("lm_steps.encoder_decoder", model=model_type)
        return NotReproducible("lm_steps.unsupported", model=model_type, supported=LM_SUPPORTED)
    if style == "bert" and getattr(config, "position_embedding_type", "absolute") not in (None, "absolute"):
        return NotReproducible("lm_steps.relative_bias", model=model_type)
    if getattr(config, "is_encoder_decoder", False) or getattr(config, "add_cross_attention", False):
        return NotReproducible("lm_steps.encoder_decoder", model=model_type)
    dtype = next(lm.module.parameters()).dtype
    if dtype != torch.float32:
        shown = str(dtype).replace("torch.", "")
        return NotReproducible("lm_steps.dtype", dtype=shown)
    return None


def _lm_layers(lm) -> tuple[str, list[nn.Module], list[nn.Module]]:
    """(style, attention modules, output modules) of the model's self-attention layers, in order."""
    reason = lm_refusal(lm)
    if reason is not None:
        raise reason
    style = LM_STYLES[lm.module.config.model_type]
    base = lm.module.base_model
    if style == "bert":
        layers = base.encoder.layer
        return style, [m.attention.self for m in layers], [m.attention.output.dense for m in layers]
    if style == "distilbert":
        attn = [m.attention for m in base.transformer.layer]
        return style, attn, [a.out_lin for a in attn]
    if style == "gpt2":
        attn = [b.attn for b in base.h]
        return style, attn, [a.c_proj for a in attn]
    attn = [b.self_attn for b in base.layers]
    for a in attn:  # what this path does not redo: per-head norms of q and k (Qwen3, OLMo2), logit soft-capping
        for extra in ("q_norm", "k_norm", "sinks"):
            if getattr(a, extra, None) is not None:
                raise NotReproducible("lm_steps.unsupported", model=lm.module.config.model_type, supported=LM_SUPPORTED)
    return style, attn, [a.o_proj for a in attn]


def lm_style(lm) -> str:
    """How the model lays out its attention (a value of LM_STYLES: "bert", "distilbert", "gpt2", "rotary");
    refuses as lm_steps does."""
    return _lm_layers(lm)[0]


def lm_num_layers(lm) -> int:
    """How many self-attention layers the walk-through offers (refuses as lm_steps does)."""
    return len(_lm_layers(lm)[1])


def lm_token_labels(tokenizer, ids: list[int]) -> list[str]:
    """The tokenizer's own pieces, their word-start marks (GPT-2's Ġ, SentencePiece's ▁) shown as ␣."""
    pieces = tokenizer.convert_ids_to_tokens(ids)
    return [str(p).replace("Ġ", "␣").replace("▁", "␣").replace("Ċ", "↵") for p in pieces]


def lm_tokenize(lm, text: str, max_tokens: int = LM_MAX_TOKENS) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(input_ids (1, T), attention_mask (1, T), labels) as the model's own tokenizer cuts `text`."""
    enc = lm.tokenizer(text, return_tensors="pt")
    ids = enc["input_ids"]
    n = int(ids.size(1))
    if n == 0:
        raise StepsInputError("lm_steps.empty")
    if n > max_tokens:
        raise StepsInputError("lm_steps.too_long", tokens=n, limit=max_tokens)
    positions = getattr(lm, "max_positions", None)
    if positions and n > positions:
        raise StepsInputError("lm_steps.too_long", tokens=n, limit=int(positions))
    mask = enc.get("attention_mask")
    mask = torch.ones_like(ids) if mask is None else mask
    return ids, mask, lm_token_labels(lm.tokenizer, ids[0].tolist())


def _proj(layer: nn.Module, start: int, stop: int, conv1d: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(W (d_in, stop − start), b) of output features start:stop of a Linear (weight out × in) or of a GPT-2
    Conv1D (weight in × out), so that y = x W + b."""
    if conv1d:
        return layer.weight[:, start:stop], layer.bias[start:stop]
    bias = layer.bias
    return layer.weight[start:stop].T, None if bias is None else bias[start:stop]


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def lm_steps(lm, text: str, kind: str = "self", layer: int = 0, head: int | None = 0, query: int | None = None,
             max_tokens: int = LM_MAX_TOKENS) -> HeadSteps | list[HeadSteps]:
    """One head (every head of the layer when `head` is None) of a transformers language model's self-attention
    (a models.language.LanguageModel), recomputed from its weights and checked against its own forward pass.

    The text is tokenized by the model's tokenizer; the base model runs once, unchanged (whatever attention
    implementation it was loaded with), under torch.inference_mode, with one-call hooks (this thread's calls
    only, removed in `finally`) recording the attention module's input X (and rotary cos/sin where the model
    has them) and the output of its sub-layer: BertSelfOutput.dense (before dropout, the residual and
    LayerNorm), DistilBERT's out_lin, GPT-2's c_proj, Llama's o_proj. Then, per head:
        Q = X W_Q + b_Q, K, V likewise (grouped-query models: this head's key/value head),
        rotary models: q, k rotated by position (Su et al. 2021) with the model's own cos/sin,
        S = Q Kᵀ, S · scaling (the module's own: 1/√d_k for BERT and GPT-2), the mask (padding; causal for
        decoders; the sliding window where the layer has one), softmax, A V, Concat(heads) W_O + b_O.
    Raises NotReproducible for models it does not redo, or when the recomputation misses the model's output
    (`tolerance`); StepsInputError for an empty or too long text. `kind` is "self" (the only one of these
    models). `query`, if given, must be a token position (it is the page's highlighted row; every row is kept).
    Layers and heads are indices from 0.
    """
    if kind != "self":
        raise NotReproducible("lm_steps.kind", kind=str(kind))
    style, attns, outs = _lm_layers(lm)
    if not 0 <= layer < len(attns):
        raise ValueError(f"layer {layer} is outside 0..{len(attns) - 1}")
    module, out_module = attns[layer], outs[layer]
    config = lm.module.config
    n_heads = int(lm.num_heads)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_heads) if style == "rotary" else n_heads
    d_k = int(getattr(module, "head_dim", None) or getattr(module, "attention_head_size", None)
              or lm.head_dim)
    if head is not None and not 0 <= head < n_heads:
        raise ValueError(f"head {head} is outside 0..{n_heads - 1}")
    if lm.module.training:
        raise RuntimeError("the model must be in eval mode (dropout off) for an exact recomputation")
    ids, attention_mask, labels = lm_tokenize(lm, text, max_tokens)
    if query is not None and not 0 <= query < len(labels):
        raise ValueError(f"query {query} is outside 0..{len(labels) - 1}")
    dev = next(lm.module.parameters()).device
    ids, attention_mask = ids.to(dev), attention_mask.to(dev)

    seen: dict = {}

    def on_input(_mod, args, kwargs):
        if "x" not in seen:
            seen["x"] = args[0] if args else kwargs["hidden_states"]
            seen["position_embeddings"] = kwargs.get("position_embeddings",
                                                     args[1] if style == "rotary" and len(args) > 1 else None)

    def on_attention(_mod, _args, _kwargs, output):
        if "attention" not in seen:
            seen["attention"] = output

    def on_output(_mod, _args, output):
        if "output" not in seen:
            seen["output"] = output

    with hooks(hold=lm.module) as h:  # this thread's calls only, removed in `finally` (capture/hooks.py)
        h.pre(module, on_input, with_kwargs=True)
        h.forward(module, on_attention, with_kwargs=True)
        h.forward(out_module, on_output)
        with torch.inference_mode():
            lm.module.base_model(input_ids=ids, attention_mask=attention_mask)
    if "output" not in seen or "x" not in seen:
        raise RuntimeError("the chosen attention module was not called by the forward pass")
    x = seen["x"][0]  # (T, d_model)
    model_out = seen["output"][0]  # (T, d_model)
    attention = seen.get("attention")
    model_weights = attention[1] if isinstance(attention, tuple) and len(attention) > 1 else None
    model_weights = model_weights[0] if isinstance(model_weights, torch.Tensor) else None  # eager only

    with running(), torch.inference_mode():
        t = x.size(0)
        keep = attention_mask[0].bool()  # (T,) padding
        mask = keep[None, :].expand(t, t).clone()
        causal = style in ("gpt2", "rotary")
        window = None
        if causal:
            qi = torch.arange(t, device=x.device)[:, None]
            ki = torch.arange(t, device=x.device)[None, :]
            mask &= ki <= qi
            window = getattr(module, "sliding_window", None)
            if window is None and config.model_type == "mistral":
                window = getattr(config, "sliding_window", None)
            if window:
                mask &= ki > qi - int(window)
        mask2d = None if bool(mask.all()) else mask
        scaling = float(module.scaling)
        cos = sin = None
        if style == "rotary":
            pe = seen.get("position_embeddings")
            if pe is None:
                raise NotReproducible("lm_steps.unsupported", model=config.model_type, supported=LM_SUPPORTED)
            cos, sin = pe[0][0], pe[1][0]  # (T, d_k)
            if cos.shape[-1] != d_k:  # partial rotary: not this path's arithmetic
                raise NotReproducible("lm_steps.unsupported", model=config.model_type, supported=LM_SUPPORTED)
        conv1d = style == "gpt2"
        names = {"bert": ("query", "key", "value"), "distilbert": ("q_lin", "k_lin", "v_lin"),
                 "gpt2": ("c_attn",) * 3, "rotary": ("q_proj", "k_proj", "v_proj")}[style]
        q_layer, k_layer, v_layer = (getattr(module, n) for n in names)
        width = n_heads * d_k
        offsets = (0, width, 2 * width) if conv1d else (0, 0, 0)
        group = n_heads // n_kv

        def weights_of(h: int):
            kv = h // group
            wq, bq = _proj(q_layer, offsets[0] + h * d_k, offsets[0] + (h + 1) * d_k, conv1d)
            wk, bk = _proj(k_layer, offsets[1] + kv * d_k, offsets[1] + (kv + 1) * d_k, conv1d)
            wv, bv = _proj(v_layer, offsets[2] + kv * d_k, offsets[2] + (kv + 1) * d_k, conv1d)
            return wq, bq, wk, bk, wv, bv

        def head_steps(h: int):
            wq, bq, wk, bk, wv, bv = weights_of(h)
            q = x @ wq + (0 if bq is None else bq)
            k = x @ wk + (0 if bk is None else bk)
            v = x @ wv + (0 if bv is None else bv)
            q0, k0 = q, k
            if cos is not None:
                q = q * cos + _rotate_half(q) * sin
                k = k * cos + _rotate_half(k) * sin
            scores = q @ k.T
            scaled = scores * scaling
            masked = scaled if mask2d is None else scaled.masked_fill(~mask2d, float("-inf"))
            weights = masked.softmax(dim=-1)
            return (wq, bq, wk, bk, wv, bv), (q0, k0), (q, k, v), (scores, scaled, masked, weights, weights @ v)

        heads = [head_steps(h) for h in range(n_heads)]
        concat = torch.cat([r[3][4] for r in heads], dim=-1)  # (T, h·d_k)
        if conv1d:
            w_o, b_o = out_module.weight, out_module.bias
        else:
            w_o, b_o = out_module.weight.T, out_module.bias
        output = concat @ w_o + (0 if b_o is None else b_o)
        diff = float((output - model_out).abs().max())
        notes = []
        if style == "rotary":
            notes.append(Notice("lm_steps.rotary"))
        if group > 1:
            notes.append(Notice("lm_steps.grouped", heads=n_heads, kv_heads=n_kv, group=group))
        if window:
            notes.append(Notice("lm_steps.sliding_window", window=int(window)))
        if abs(scaling - 1.0 / math.sqrt(d_k)) > 1e-12 * max(1.0, scaling):
            notes.append(Notice("lm_steps.scaling", scaling=scaling))
        shared = dict(x=_np(x), concat=_np(concat), w_o=_np(w_o), b_o=_np(b_o), output=_np(output),
                      model_output=_np(model_out),
                      mask=None if mask2d is None else mask2d.cpu().numpy().astype(bool))
        for value in shared.values():  # one copy for every head of the layer, read-only
            if value is not None:
                value.flags.writeable = False

        def one(h: int) -> HeadSteps:
            (wq, bq, wk, bk, wv, bv), (q0, k0), (q, k, v), (scores, scaled, masked, weights, head_out) = heads[h]
            return _checked(HeadSteps(
                kind="self",
                layer=layer,
                head=h,
                n_heads=n_heads,
                d_model=int(x.size(-1)),
                d_k=d_k,
                query_labels=list(labels),
                key_labels=list(labels),
                x_query=shared["x"],
                x_key=shared["x"],
                w_q=_np(wq), w_k=_np(wk), w_v=_np(wv),
                b_q=_np(bq), b_k=_np(bk), b_v=_np(bv),
                q=_np(q), k=_np(k), v=_np(v),
                scores=_np(scores),
                scaled=_np(scaled),
                mask=shared["mask"],
                masked=_np(masked),
                weights=_np(weights),
                head_output=_np(head_out),
                concat=shared["concat"],
                w_o=shared["w_o"],
                b_o=shared["b_o"],
                output=shared["output"],
                model_output=shared["model_output"],
                max_abs_diff=diff,
                weights_diff=None if model_weights is None else float((weights - model_weights[h]).abs().max()),
                notes=list(notes),
                scaling=scaling,
                q_unrotated=None if cos is None else _np(q0),
                k_unrotated=None if cos is None else _np(k0),
                output_name=LM_OUTPUT_NAMES[style],
            ))

        return [one(h) for h in range(n_heads)] if head is None else one(head)
