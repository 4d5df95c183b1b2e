"""The encoder–decoder Transformer of "Attention Is All You Need" (Vaswani et al., 2017), from scratch.

Every attention module returns its per-head weights as data: nothing is stored on a module, so one model
can serve many callers at once. Shapes are written as (B, h, T, d_k): batch, heads, tokens, head dimension.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class TransformerConfig:
    src_vocab: int  # size of the source vocabulary (specials included)
    tgt_vocab: int  # size of the target vocabulary (specials included)
    d_model: int = 128  # width of every token vector; the paper's base model uses 512
    n_heads: int = 4  # heads per attention layer; each head works in d_k = d_model / n_heads dimensions
    n_encoder_layers: int = 2  # the paper uses 6
    n_decoder_layers: int = 2  # the paper uses 6
    d_ff: int = 512  # inner width of the position-wise feed-forward network (paper: 2048 = 4 * 512)
    dropout: float = 0.1  # on sub-layer outputs, embeddings and attention weights (training only)
    max_len: int = 128  # longest sequence the positional encoding table covers
    pad_id: int = 0  # the padding token, masked out of every attention
    # One matrix for the source embedding, the target embedding and the pre-softmax projection (section 3.4);
    # needs src_vocab == tgt_vocab. Off by default, so that checkpoints saved without the field load as before.
    tie_embeddings: bool = False

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.tie_embeddings and self.src_vocab != self.tgt_vocab:
            raise ValueError(f"tied embeddings need one vocabulary; src_vocab={self.src_vocab}, "
                             f"tgt_vocab={self.tgt_vocab}")

    @property
    def d_k(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoidal_encoding(length: int, d_model: int) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model)).

    Returns (length, d_model) float32. The positional-encoding page draws this very function.
    """
    pos = torch.arange(length, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(d/2),)
    angle = pos / torch.pow(10000.0, two_i / d_model)  # (T, ceil(d/2))
    pe = torch.zeros(length, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.float()


def padding_mask(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """(B, S) token ids -> (B, 1, 1, S) bool, True where a key is a real token that may be attended to."""
    return (ids != pad_id)[:, None, None, :]


def causal_mask(length: int, device=None) -> torch.Tensor:
    """(1, 1, T, T) bool, True on and below the diagonal: position t sees positions <= t only."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()[None, None]


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
    dropout: nn.Module | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention: softmax(Q Kᵀ / √d_k) V, with d_k the head's own dimension.

    q: (B, h, Tq, d_k), k and v: (B, h, Tk, d_k); mask broadcastable to (B, h, Tq, Tk), True = may attend.
    Returns the output (B, h, Tq, d_k) and the weights (B, h, Tq, Tk), whose masked entries are exactly 0.
    """
    d_k = q.size(-1)  # the head's own dimension, not d_model
    scores = torch.matmul(q, k.transpose(-2, -1)).div_(math.sqrt(d_k))  # (B, h, Tq, Tk), scaled in place
    if mask is not None:
        scores = torch.where(mask, scores, float("-inf"))  # exp(-inf) = 0: masked weights are exactly 0
    weights = torch.softmax(scores, dim=-1)
    if dropout is not None and dropout.training:  # an identity in eval: skip the call
        weights = dropout(weights)
    return torch.matmul(weights, v), weights


class MultiHeadAttention(nn.Module):
    """h heads in parallel, each attending in its own d_k = d_model / h subspace; W_O mixes them back."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        assert d_model % n_heads == 0
        self.n_heads, self.d_k = n_heads, d_model // n_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> (B, h, T, d_k)."""
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.d_k).transpose(1, 2)

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """need_weights=False: PyTorch's fused scaled_dot_product_attention (same result, no weights formed);
        the weights are then None. It is the bare forward the benchmark compares the capture with."""
        q = self.split_heads(self.w_q(query))  # (B, h, Tq, d_k)
        k = self.split_heads(self.w_k(key))  # (B, h, Tk, d_k)
        v = self.split_heads(self.w_v(value))  # (B, h, Tk, d_k)
        if need_weights:
            out, weights = attention(q, k, v, mask, self.dropout)  # (B, h, Tq, d_k), (B, h, Tq, Tk)
        else:  # F.sdpa scales by 1/√(q.size(-1)) = 1/√d_k as well; a bool mask is True where it may attend
            p = self.dropout.p if self.training else 0.0
            out, weights = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p), None
        b, _, tq, _ = out.shape
        out = out.transpose(1, 2).reshape(b, tq, self.n_heads * self.d_k)  # Concat(head_1..head_h)
        return self.w_o(out), weights


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W1 + b1) W2 + b2, applied to each position separately."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.w_1, self.w_2, self.dropout = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(self.dropout(F.relu(self.w_1(x))))


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each wrapped as LayerNorm(x + Sublayer(x)) (post-norm, as in the paper)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.ff = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout)
        self.norm_1, self.norm_2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(
        self, x: torch.Tensor, src_mask: torch.Tensor, need_weights: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, weights = self.self_attn(x, x, x, src_mask, need_weights)
        x = self.norm_1(x + self.dropout(a))
        x = self.norm_2(x + self.dropout(self.ff(x)))
        return x, weights


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention over the encoder output, feed-forward; each post-norm residual."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.cross_attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.ff = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout)
        self.norm_1, self.norm_2, self.norm_3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor, tgt_mask: torch.Tensor,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        a, self_weights = self.self_attn(x, x, x, tgt_mask, need_weights)
        x = self.norm_1(x + self.dropout(a))
        # queries from the decoder, keys/values from the encoder
        a, cross_weights = self.cross_attn(x, memory, memory, src_mask, need_weights)
        x = self.norm_2(x + self.dropout(a))
        x = self.norm_3(x + self.dropout(self.ff(x)))
        return x, self_weights, cross_weights


@dataclass
class Attention:
    """Per-layer attention weights of one forward pass, each (B, h, Tq, Tk)."""

    encoder: list[torch.Tensor] = field(default_factory=list)
    decoder: list[torch.Tensor] = field(default_factory=list)
    cross: list[torch.Tensor] = field(default_factory=list)


class Transformer(nn.Module):
    # With cfg.tie_embeddings these are one parameter with src_embed.weight: a checkpoint may leave them out.
    TIED_KEYS = ("tgt_embed.weight", "generator.weight")

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.src_embed = nn.Embedding(cfg.src_vocab, cfg.d_model, padding_idx=cfg.pad_id)
        self.tgt_embed = (self.src_embed if cfg.tie_embeddings
                          else nn.Embedding(cfg.tgt_vocab, cfg.d_model, padding_idx=cfg.pad_id))
        self.register_buffer("pe", sinusoidal_encoding(cfg.max_len, cfg.d_model), persistent=False)
        self.encoder_layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_decoder_layers))
        self.generator = nn.Linear(cfg.d_model, cfg.tgt_vocab)  # output projection to logits over the target vocabulary
        if cfg.tie_embeddings:
            self.generator.weight = self.src_embed.weight  # logits = x Eᵀ + b, E the embedding matrix
        self.dropout = nn.Dropout(cfg.dropout)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As nn.Module's; with tied embeddings the shared matrix may be given once, as src_embed.weight."""
        if self.cfg.tie_embeddings and "src_embed.weight" in state_dict:
            state_dict = dict(state_dict)
            for key in self.TIED_KEYS:
                state_dict.setdefault(key, state_dict["src_embed.weight"])
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def unique_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict with each tensor once (tied embeddings: src_embed.weight only), for safetensors,
        which refuses tensors that share memory."""
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        if self.cfg.tie_embeddings:
            for key in self.TIED_KEYS:
                state.pop(key)
        return state

    def embed(self, ids: torch.Tensor, table: nn.Embedding) -> torch.Tensor:
        """Token embedding × √d_model plus the sinusoidal positional encoding (section 3.4–3.5)."""
        t = ids.size(1)
        if t > self.cfg.max_len:
            raise ValueError(f"sequence of {t} tokens exceeds max_len={self.cfg.max_len}")
        return self.dropout(table(ids) * math.sqrt(self.cfg.d_model) + self.pe[:t])

    def encode(self, src: torch.Tensor, need_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor, list]:
        """(B, S) ids -> memory (B, S, d_model), the source padding mask, and each layer's self-attention."""
        src_mask = padding_mask(src, self.cfg.pad_id)
        x, weights = self.embed(src, self.src_embed), []
        for layer in self.encoder_layers:
            x, w = layer(x, src_mask, need_weights)
            weights.append(w)
        return x, src_mask, weights

    def decode(
        self, tgt: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor, need_weights: bool = True
    ) -> tuple[torch.Tensor, list, list]:
        """(B, T) decoder input ids -> logits (B, T, tgt_vocab), masked self- and cross-attention per layer."""
        tgt_mask = padding_mask(tgt, self.cfg.pad_id) & causal_mask(tgt.size(1), tgt.device)  # (B, 1, T, T)
        x, self_w, cross_w = self.embed(tgt, self.tgt_embed), [], []
        for layer in self.decoder_layers:
            x, s, c = layer(x, memory, src_mask, tgt_mask, need_weights)
            self_w.append(s)
            cross_w.append(c)
        return self.generator(x), self_w, cross_w

    def forward(
        self, src: torch.Tensor, tgt: torch.Tensor, need_weights: bool = True
    ) -> tuple[torch.Tensor, Attention]:
        """Teacher-forced pass: logits (B, T, tgt_vocab) and every layer's attention weights.

        need_weights=False runs fused attention and returns no weights (the lists hold None)."""
        memory, src_mask, enc_w = self.encode(src, need_weights)
        logits, dec_w, cross_w = self.decode(tgt, memory, src_mask, need_weights)
        return logits, Attention(enc_w, dec_w, cross_w)

    @torch.inference_mode()
    def greedy_decode(self, src: torch.Tensor, bos_id: int, eos_id: int, max_len: int) -> torch.Tensor:
        """Greedy decoding for a batch: (B, S) -> (B, ≤ max_len + 1) ids starting with BOS, padded after EOS."""
        memory, src_mask, _ = self.encode(src)
        ys = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
        for _ in range(min(max_len, self.cfg.max_len - 1)):
            logits, _, _ = self.decode(ys, memory, src_mask)
            nxt = logits[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, self.cfg.pad_id), nxt)
            ys = torch.cat([ys, nxt[:, None]], dim=1)
            done |= nxt == eos_id
            if bool(done.all()):
                break
        return ys


def make_model(cfg: TransformerConfig) -> Transformer:
    """Build a Transformer with Xavier-uniform initialised matrices (as the Annotated Transformer does)."""
    model = Transformer(cfg)
    for p in model.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
    with torch.no_grad():
        model.src_embed.weight[cfg.pad_id].zero_()
        model.tgt_embed.weight[cfg.pad_id].zero_()  # the same row when the embeddings are tied
    return model
