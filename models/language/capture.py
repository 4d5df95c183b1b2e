"""The capture: a registered attention function ("atlas") that lets transformers' own fused SDPA kernel compute
every output, and, during a call under `recording()`, keeps what each layer's softmax needs (queries after rotary
embedding, keys, the mask as the softmax saw it, the scale, T5's position bias). Weights are computed later, when
shown (models/language/trace.py), so no layer's N × N map is kept.

Thread-safe: the active recorder lives in a ContextVar set for one call only; nothing is set on the model.
"""
from __future__ import annotations

import contextlib
import contextvars
import weakref
from dataclasses import dataclass, field

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.utils import logging as hf_logging

from models.language.model import LanguageModel
from models.messages import CodedError

ATTN = "atlas"


class CaptureRefused(CodedError):
    """This model's attention cannot be captured faithfully (codes lm.refused_*, with the reason's params)."""


# Keywords that change the softmax and that the capture does not reproduce.
_REFUSED = {"s_aux", "sinks", "attention_sinks", "logit_cap", "attn_logit_softcapping"}


@dataclass
class Record:
    """One attention call: references to the tensors the softmax used (batch first), no copies."""

    module: str  # qualified name of the attention module
    kind: str | None  # "self", "encoder", "decoder", "cross" (set by the recorder from its map; None: unknown)
    query: torch.Tensor  # (B, H, Q, d) after rotary embedding
    key: torch.Tensor  # (B, Hkv, K, d), not repeated for grouped-query attention
    repeat: int  # query heads per key/value head
    mask: torch.Tensor | None  # as the softmax saw it: bool (True = may attend) or additive float; None: none
    causal: bool  # SDPA's is_causal path (mask None): lower-triangular, top-left aligned
    scale: float
    bias: torch.Tensor | None  # T5's position bias (B or 1, H, Q, K), added before the mask
    sliding_window: int | None
    value: torch.Tensor | None = None  # with keep_values
    output: torch.Tensor | None = None  # with keep_values: the fused kernel's output (B, Q, H, d)
    weights: torch.Tensor | None = None  # with gradients: the softmax output (B, H, Q, K), in the autograd graph


@dataclass
class Recorder:
    """What one call recorded, in call order."""

    keep_values: bool = False
    gradients: bool = False  # explicit softmax(q kᵀ·scale + bias + mask) @ v, its weights kept in the graph
    names: dict[int, str] = field(default_factory=dict)  # id(module) -> qualified name
    kinds: dict[str, str] = field(default_factory=dict)  # qualified name -> kind
    records: list[Record] = field(default_factory=list)
    shared: dict[int, tuple[weakref.ref, torch.Tensor]] = field(default_factory=dict)  # id -> (tensor, detached)

    def keep(self, t: torch.Tensor | None) -> torch.Tensor | None:
        """A detached reference (no copy); the same tensor passed again (a mask, T5's bias) gives the same one.
        A view into a much larger buffer (GPT-2's queries are a third of one fused q|k|v projection) is kept as a
        compact copy of itself, so that the record does not hold the whole buffer alive."""
        if t is None:
            return None
        hit = self.shared.get(id(t))
        if hit is not None and hit[0]() is t:
            return hit[1]
        d = t.detach()
        if d.untyped_storage().nbytes() > 1.5 * d.numel() * d.element_size():
            d = d.contiguous() if not d.is_contiguous() else d.clone()
        # A weak reference: holding t itself would keep GPT-2's whole fused q|k|v buffer alive per layer; a reused
        # id then finds a dead or other object and is not taken for t.
        self.shared[id(t)] = (weakref.ref(t), d)
        return d

    def watch(self, model: torch.nn.Module, kinds: dict[str, str] | None = None) -> "Recorder":
        self.names = {id(m): n for n, m in model.named_modules()}
        self.kinds = dict(kinds or {})
        return self

    def by_kind(self) -> dict[str, list[Record]]:
        out: dict[str, list[Record]] = {}
        for r in self.records:
            out.setdefault(r.kind or "self", []).append(r)
        return out

    @property
    def nbytes(self) -> int:
        return tensor_bytes(self.records)


def tensor_bytes(records) -> int:
    """Bytes the records keep alive: each storage counted once, whole (shared masks and biases, views)."""
    seen: dict[int, int] = {}
    for r in records:
        for t in (r.query, r.key, r.mask, r.bias, r.value, r.output):
            if t is not None:
                storage = t.untyped_storage()
                seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


_ACTIVE: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("atlas_recorder", default=None)


@contextlib.contextmanager
def recording(keep_values: bool = False, model: torch.nn.Module | None = None, kinds: dict[str, str] | None = None,
              gradients: bool = False):
    """Record every attention call made by this thread inside the block: `with recording() as rec: model(...)`.

    gradients=True (relevance maps, models/capture/explain_text.py): every layer computes its attention explicitly,
    softmax(q kᵀ·scale + bias + mask) @ v, as the records' `scores` recomputes it, instead of the fused kernel, and
    each record keeps those weights as `weights`, in the autograd graph (not detached), so that a score's gradient
    with respect to them can be taken. Outside such a block nothing changes: the fused kernel runs as before."""
    rec = Recorder(keep_values=keep_values, gradients=gradients)
    if model is not None:
        rec.watch(model, kinds)
    token = _ACTIVE.set(rec)
    try:
        yield rec
    finally:
        _ACTIVE.reset(token)


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    refused = sorted(k for k in kwargs if k in _REFUSED and kwargs[k] is not None)
    if refused:
        raise CaptureRefused("lm.refused_keyword", keyword=", ".join(refused))
    if kwargs.get("softcap") is not None:
        raise CaptureRefused("lm.refused_keyword", keyword="softcap")
    rec = _ACTIVE.get()
    if rec is not None and rec.gradients:
        return _explicit(rec, module, query, key, value, attention_mask, scaling, kwargs)
    output, _ = sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                       **kwargs)
    if rec is None:
        return output, None
    rec.records.append(_record(rec, module, query, key, value, attention_mask, scaling, kwargs, output))
    return output, None


def _record(rec: Recorder, module, query, key, value, attention_mask, scaling, kwargs, output,
            live: bool = False) -> Record:
    """What the softmax saw, with the same decisions as sdpa_attention_forward. live: the tensors themselves (in
    the autograd graph) instead of detached references."""
    is_causal = kwargs.get("is_causal")
    is_causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    q_len = query.shape[2]
    causal = bool(q_len > 1 and attention_mask is None and is_causal)
    key_r, value_r, bias = key, value, kwargs.get("position_bias")
    if causal and key.shape[2] > q_len:  # SDPA crops the keys in that case
        key_r, value_r = key[:, :, :q_len], value[:, :, :q_len]
        if bias is not None:
            bias = bias[..., :q_len]
    groups = getattr(module, "num_key_value_groups", 1) or 1
    if groups == 1 and key_r.shape[1] != query.shape[1]:
        groups = query.shape[1] // key_r.shape[1]
    window = kwargs.get("sliding_window", getattr(module, "sliding_window", None))
    name = rec.names.get(id(module), type(module).__name__)
    keep = (lambda t: t) if live else rec.keep
    return Record(
        module=name,
        kind=rec.kinds.get(name),
        query=keep(query),
        key=keep(key_r),
        repeat=int(groups),
        mask=keep(attention_mask),
        causal=causal,
        scale=float(scaling if scaling is not None else query.shape[-1] ** -0.5),
        bias=keep(bias),
        sliding_window=window if isinstance(window, int) else None,
        value=keep(value_r) if (rec.keep_values or live) else None,
        output=(output if live else output.detach()) if rec.keep_values and output is not None else None,
    )


def _explicit(rec: Recorder, module, query, key, value, attention_mask, scaling, kwargs):
    """Gradient mode: the attention written out (the weights kept in the graph), recorded like the fused path."""
    live = _record(rec, module, query, key, value, attention_mask, scaling, kwargs, None, live=True)
    weights = []
    for b in range(query.shape[0]):
        w = torch.softmax(scores(live, b), dim=-1)
        weights.append(torch.where(w.isnan(), torch.zeros((), dtype=w.dtype, device=w.device), w))
    w = torch.stack(weights)  # (B, H, Q, K) float32
    v = live.value.float()
    if live.repeat > 1:
        v = v.repeat_interleave(live.repeat, dim=1)
    output = torch.matmul(w, v).to(query.dtype).transpose(1, 2).contiguous()  # (B, Q, H, d) as SDPA returns it
    r = _record(rec, module, query, key, value, attention_mask, scaling, kwargs, output)
    r.weights = w
    rec.records.append(r)
    return output, None


AttentionInterface.register(ATTN, _attention)
AttentionMaskInterface.register(ATTN, sdpa_mask)
# A server's log is no place for a progress bar per model load (transformers draws one on stderr).
hf_logging.disable_progress_bar()


# ------------------------------------------------------------------------------------------ recomputation
def scores(r: Record, b: int = 0, heads: slice | list | None = None, queries=None, keys: int | None = None
           ) -> torch.Tensor:
    """softmax inputs (H, q, K) float32 for batch row b: q kᵀ·scale + bias, masked entries -inf. keys: only the
    first `keys` keys (the caller knows every later one is masked for these queries)."""
    q = r.query[b].float()
    k = r.key[b].float()
    if keys is not None:
        k = k[:, :keys]
    if r.repeat > 1:
        k = k.repeat_interleave(r.repeat, dim=0)
    if heads is not None:
        q, k = q[heads], k[heads]
    if queries is not None:
        q = q[:, queries]
    s = torch.matmul(q, k.transpose(-1, -2)).mul_(r.scale)
    if r.bias is not None:
        bias = r.bias[b if r.bias.shape[0] > 1 else 0].float()
        if bias.shape[0] > 1 and heads is not None:
            bias = bias[heads]
        if queries is not None:
            bias = bias[:, queries] if bias.shape[-2] > 1 else bias
        s = s + (bias[..., :keys] if keys is not None else bias)
    if r.mask is not None and r.mask.dtype != torch.bool:  # an additive mask may carry values, not only -inf
        m = r.mask[b if r.mask.shape[0] > 1 else 0].float()
        if m.shape[0] > 1 and heads is not None:
            m = m[heads]
        if queries is not None and m.shape[-2] > 1:
            m = m[:, queries]
        if keys is not None:
            m = m[..., :keys]
        s = s + torch.where(m > torch.finfo(r.mask.dtype).min / 2, m, torch.zeros((), dtype=m.dtype))
    start = _contiguous_start(queries)
    if r.mask is None and r.causal and start is not None:
        # SDPA's causal path, for the rows start.. start+c: only keys after a row's own position are masked, all
        # within the columns start.. start+c; fill that triangle alone instead of a (c, K) mask.
        c = s.shape[-2]
        block = s[..., start: start + c]
        block.masked_fill_(torch.ones(c, block.shape[-1], dtype=torch.bool, device=s.device).triu(1), float("-inf"))
        if s.shape[-1] > start + c:
            s[..., start + c:] = float("-inf")
        return s
    allowed = allowed_mask(r, b, queries)
    if allowed is not None and keys is not None:
        allowed = allowed[..., :keys]
    if allowed is not None:
        s = s.masked_fill(~allowed, float("-inf"))
    return s


def _contiguous_start(queries) -> int | None:
    """The first index when `queries` is None (all rows: 0) or a run start, start+1, ...; else None."""
    if queries is None:
        return 0
    q = torch.as_tensor(queries)
    if q.dim() != 1 or q.numel() == 0:
        return None
    first = int(q[0])
    return first if torch.equal(q.cpu(), torch.arange(first, first + q.numel())) else None


def allowed_mask(r: Record, b: int = 0, queries=None) -> torch.Tensor | None:
    """(Q or 1, K) bool (True = may attend) as the softmax saw it, or None when every key is allowed."""
    q_len, k_len = r.query.shape[2], r.key.shape[2]
    if r.mask is not None:
        m = r.mask[b if r.mask.shape[0] > 1 else 0]
        m = m[0] if m.dim() == 3 else m  # one mask for every head (SDPA masks broadcast over heads)
        m = m if m.dtype == torch.bool else m > torch.finfo(m.dtype).min / 2
        m = m.expand(q_len, k_len)
        return m[queries] if queries is not None else m
    if r.causal:
        rows = torch.arange(q_len, device=r.query.device)
        rows = rows[queries] if queries is not None else rows
        return rows[:, None] >= torch.arange(k_len, device=r.query.device)[None, :]
    return None


def weights_of(r: Record, b: int = 0, heads=None, queries=None, keys: int | None = None) -> torch.Tensor:
    w = torch.softmax(scores(r, b, heads, queries, keys), dim=-1)
    empty = w[..., :1].isnan()  # a row with nothing allowed is NaN throughout: no weight anywhere
    return w.masked_fill_(empty, 0.0) if bool(empty.any()) else w


# ------------------------------------------------------------------------------------------ loading
def _family(config) -> str:
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    archs = " ".join(getattr(config, "architectures", None) or [])
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES as CAUSAL

    encoder_types = {"bert", "roberta", "distilbert", "albert", "electra", "xlm-roberta", "camembert", "deberta",
                     "deberta-v2", "mpnet", "ernie", "xlm", "mobilebert", "squeezebert", "esm", "modernbert"}
    if config.model_type in encoder_types or "MaskedLM" in archs or "ForMaskedLM" in archs:
        return "encoder"
    if config.model_type in CAUSAL or "CausalLM" in archs or "LMHead" in archs:
        return "decoder"
    return "encoder"


def _get(config, *names, default=None):
    for n in names:
        v = getattr(config, n, None)
        if v is not None:
            return v
    return default


def from_pretrained(where, *, name, source, weights_source, credit=None, device="cpu", local_files_only=False,
                    use_safetensors=None, num_params=None) -> LanguageModel:
    """Load a transformers model (never trust_remote_code) with the "atlas" attention, check the capture on a
    probe (`verify`), and describe it as a LanguageModel."""
    from transformers import (
        AutoConfig,
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
    )

    where = str(where)
    config = AutoConfig.from_pretrained(where, trust_remote_code=False, local_files_only=local_files_only)
    family = _family(config)
    cls, head = {"encoder-decoder": (AutoModelForSeq2SeqLM, "seq2seq-lm"),
                 "decoder": (AutoModelForCausalLM, "causal-lm"),
                 "encoder": (AutoModelForMaskedLM, "masked-lm")}[family]
    kw = dict(trust_remote_code=False, local_files_only=local_files_only, attn_implementation=ATTN)
    if use_safetensors is not None:
        kw["use_safetensors"] = use_safetensors
    if family == "encoder" and _bare_checkpoint(where, cls, config):
        module, head = AutoModel.from_pretrained(where, **kw), None  # its file holds no LM head: load it once
    else:
        module, info = cls.from_pretrained(where, output_loading_info=True, **kw)
        missing = [k for k in info.get("missing_keys", []) if _is_head_key(k, module)]
        if missing:
            del module
            module = AutoModel.from_pretrained(where, **kw)
            head = None
    module.eval().requires_grad_(False)
    dev = torch.device(device)
    module.to(dev)
    tokenizer = AutoTokenizer.from_pretrained(where, trust_remote_code=False, local_files_only=local_files_only)
    cfg = module.config
    dec_cfg = cfg.get_text_config(decoder=True) if hasattr(cfg, "get_text_config") else cfg
    heads = int(_get(dec_cfg, "num_attention_heads", "n_head", "encoder_attention_heads", "num_heads"))
    kv = int(_get(dec_cfg, "num_key_value_heads", default=heads) or heads)
    hidden = int(_get(dec_cfg, "hidden_size", "d_model", "n_embd", "dim"))
    head_dim = int(_get(dec_cfg, "head_dim", "d_kv", default=hidden // heads) or hidden // heads)
    if family == "encoder-decoder":
        enc_layers = int(_get(cfg, "encoder_layers", "num_layers", "num_hidden_layers"))
        dec_layers = int(_get(cfg, "decoder_layers", "num_decoder_layers", "num_layers", default=enc_layers))
        layers = {"encoder": enc_layers, "decoder": dec_layers, "cross": dec_layers}
    else:
        layers = {"self": int(_get(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers"))}
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_theta", None) or getattr(cfg, "rope_scaling",
                                                                                               None)
    relative = cfg.model_type in ("t5", "mt5", "umt5", "longt5") or bool(rope) or \
        getattr(cfg, "position_embedding_type", "absolute") != "absolute"
    max_positions = None if relative else _get(cfg, "max_position_embeddings", "n_positions")
    if max_positions is not None and cfg.model_type in ("roberta", "xlm-roberta", "camembert"):
        max_positions = int(max_positions) - int(getattr(cfg, "pad_token_id", 1) or 1) - 1  # positions from pad+1
    details = {
        "model_type": cfg.model_type,
        "architecture": type(module).__name__,
        "sliding_window": getattr(cfg, "sliding_window", None),
        "where": where,
    }
    lm = LanguageModel(
        name=name, family=family, head=head, module=module, tokenizer=tokenizer, source=source,
        weights_source=weights_source,
        num_params=int(num_params if num_params is not None else sum(p.numel() for p in module.parameters())),
        num_layers=layers, num_heads=heads, num_kv_heads=kv, head_dim=head_dim,
        max_positions=int(max_positions) if max_positions is not None else None, device=dev, credit=credit,
        details=details,
    )
    details["attention_kinds"] = classify(lm)
    verify(lm)
    return lm


def _bare_checkpoint(where: str, cls, config) -> bool:
    """Whether a local folder's safetensors hold a bare base model (keys without the base-model prefix, as
    BertModel.save_pretrained writes them: no LM head), read from the files' headers without loading them."""
    import pathlib

    from safetensors import safe_open

    files = sorted(pathlib.Path(where).glob("*.safetensors")) if pathlib.Path(where).is_dir() else []
    if not files:
        return False
    try:
        prefix = cls._model_mapping[type(config)].base_model_prefix  # "bert" for BertForMaskedLM
    except (KeyError, AttributeError):
        return False
    if not prefix:
        return False
    keys = []
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            keys += list(st.keys())
    return bool(keys) and not any(k.startswith(prefix + ".") for k in keys)


def _is_head_key(key: str, module) -> bool:
    base = getattr(module, "base_model_prefix", "")
    return not (base and key.startswith(base + ".")) and not key.startswith(("encoder.", "decoder.", "shared."))


def _probe_ids(lm: LanguageModel, n: int) -> list[int]:
    tok = lm.tokenizer
    specials = set(tok.all_special_ids)
    ids = [i for i in range(min(len(tok), 1000)) if i not in specials][: n]
    return ids


def _forward(lm: LanguageModel, src: list[int], tgt: list[int] | None = None):
    dev = lm.device
    with torch.inference_mode():
        if lm.family == "encoder-decoder":
            return lm.module(input_ids=torch.tensor([src], device=dev),
                             decoder_input_ids=torch.tensor([tgt], device=dev), use_cache=False)
        if lm.family == "decoder":
            return lm.module(input_ids=torch.tensor([src], device=dev), use_cache=False)
        return lm.module(input_ids=torch.tensor([src], device=dev))


def classify(lm: LanguageModel) -> dict[str, str]:
    """Which kind each attention module computes, from a probe with a source (12) and target (5) of different
    lengths: encoder-side modules are "encoder"; decoder modules whose keys have the source's length are
    "cross"."""
    src = _probe_ids(lm, 12)
    tgt = _probe_ids(lm, 5)
    with recording(model=lm.module) as rec:
        _forward(lm, src, tgt)
    if not rec.records:
        raise CaptureRefused("lm.refused_not_routed", model=lm.name)
    kinds: dict[str, str] = {}
    if lm.family != "encoder-decoder":
        return {r.module: "self" for r in rec.records}
    encoder = lm.module.get_encoder()
    enc_names = {id(m) for m in encoder.modules()}
    by_id = {n: m for n, m in lm.module.named_modules()}
    for r in rec.records:
        mod = by_id.get(r.module)
        if mod is not None and id(mod) in enc_names:
            kinds[r.module] = "encoder"
        elif r.query.shape[2] == len(tgt) and r.key.shape[2] == len(src):
            kinds[r.module] = "cross"
        else:
            kinds[r.module] = "decoder"
    return kinds


def verify(lm: LanguageModel, n: int = 12) -> None:
    """Recompute each layer's output from the records and compare with the fused kernel's; refuse on mismatch."""
    src = _probe_ids(lm, n)
    tgt = _probe_ids(lm, 5)
    kinds = lm.details.get("attention_kinds", {})
    with recording(keep_values=True, model=lm.module, kinds=kinds) as rec:
        _forward(lm, src, tgt)
    if not rec.records:
        raise CaptureRefused("lm.refused_not_routed", model=lm.name)
    counts = {k: 0 for k in lm.num_layers}
    for r in rec.records:
        kind = r.kind or "self"
        layer = counts.get(kind, 0)
        counts[kind] = layer + 1
        w = weights_of(r)  # (H, Q, K)
        v = r.value[0].float()
        if r.repeat > 1:
            v = v.repeat_interleave(r.repeat, dim=0)
        ours = torch.matmul(w, v)  # (H, Q, d)
        fused = r.output[0].float().transpose(0, 1)  # (H, Q, d)
        err = (ours - fused).abs().max().item()
        scale = max(fused.abs().max().item(), 1e-6)
        if not err <= 1e-4 * scale + 1e-6:
            raise CaptureRefused("lm.refused_mismatch", model=lm.name, kind=kind, layer=layer + 1,
                                 error=f"{err:.2e}")
    for kind, expected in lm.num_layers.items():
        if counts.get(kind, 0) < expected:
            raise CaptureRefused("lm.refused_missing_layers", model=lm.name, kind=kind, layer=counts.get(kind, 0) + 1)
