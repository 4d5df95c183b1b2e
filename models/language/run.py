"""run: tokenize, generate greedily (no recording), then ONE forward over the whole sequence under `recording()`;
the LanguageTrace holds that forward's records and the predictions. Thread-safe: records live for one call."""
from __future__ import annotations

import inspect

import numpy as np
import torch

from models.language.capture import recording
from models.language.demo import is_demo
from models.language.model import LanguageModel, Token
from models.language.tokens import token_list
from models.language.trace import LanguageTrace
from models.messages import CodedError, Notice

TOP_K = 5
SEQ2SEQ_MAX_NEW = 64


class EmptyText(CodedError):
    """Nothing to read (code lm.empty_input)."""


def _top(tokenizer, probs: torch.Tensor, k: int = TOP_K) -> list[tuple[str, float]]:
    p, i = probs.float().topk(min(k, probs.shape[-1]))
    labels = token_list(tokenizer, i.tolist())
    return [(t.label, float(x)) for t, x in zip(labels, p.tolist())]


def _encode(model: LanguageModel, text: str, room: int = 0) -> tuple[list[int], list[Notice]]:
    tok = model.tokenizer
    ids = tok(text, add_special_tokens=True)["input_ids"]
    notices: list[Notice] = []
    limit = model.max_positions
    if limit is not None and len(ids) > limit - room:
        keep = max(limit - room, 1)
        specials = set(tok.all_special_ids)
        tail = [ids[-1]] if ids[-1] in specials and keep > 1 else []
        notices.append(Notice("lm.input_cut", n=len(ids), limit=keep))
        ids = ids[: keep - len(tail)] + tail
    return ids, notices


def _kinds_records(model: LanguageModel, rec) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in rec.records:
        out.setdefault(r.kind or "self", []).append(r)
    return out


def run(model: LanguageModel, text: str, max_new_tokens: int | None = None, *, keep_values: bool = False,
        target: str | None = None, pad_to: int | None = None) -> LanguageTrace:
    """One input through `model`: its attention (weights computed when asked), its generation and predictions.

    pad_to (encoder-only models): append the tokenizer's pad token up to that many positions, with attention
    mask 0 there, as a batch pads a shorter input: the padding mask then has something to hide (their key columns
    get weight exactly 0, and the real tokens' weights do not change)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise EmptyText("lm.empty_input")
    if is_demo(model):
        return _run_demo(model, text)
    if model.family == "decoder":
        return _run_decoder(model, text, max_new_tokens, keep_values)
    if model.family == "encoder-decoder":
        return _run_seq2seq(model, text, max_new_tokens, keep_values, target)
    return _run_encoder(model, text, keep_values, pad_to)


def _base(model: LanguageModel, text: str, **kw) -> dict:
    return dict(model_name=model.name, family=model.family, weights_source=model.weights_source,
                source=model.source, credit=model.credit, input_text=text, num_heads=model.num_heads,
                num_kv_heads=model.num_kv_heads, keep_values=kw.pop("keep_values", False), **kw)


def _run_encoder(model: LanguageModel, text: str, keep_values: bool, pad_to: int | None = None) -> LanguageTrace:
    tok = model.tokenizer
    ids, notices = _encode(model, text)
    real = len(ids)
    if pad_to is not None and pad_to > real and tok.pad_token_id is not None:
        if model.max_positions is not None and pad_to > model.max_positions:
            notices.append(Notice("lm.padding_limited", limit=model.max_positions))
            pad_to = model.max_positions
        ids = ids + [tok.pad_token_id] * (pad_to - real)
    attention = [1] * real + [0] * (len(ids) - real)
    kinds = model.details.get("attention_kinds")
    with recording(keep_values=keep_values, model=model.module, kinds=kinds) as rec, torch.inference_mode():
        out = model.module(input_ids=torch.tensor([ids], device=model.device),
                           attention_mask=torch.tensor([attention], device=model.device))
    fillers: dict[int, list[tuple[str, float]]] = {}
    if model.head is None:
        notices.append(Notice("lm.no_lm_head", model=model.name))
    else:
        mask_id = tok.mask_token_id
        probs = out.logits[0].float().softmax(-1)
        for pos, i in enumerate(ids):
            if mask_id is not None and i == mask_id:
                fillers[pos] = _top(tok, probs[pos])
    tokens = token_list(tok, ids)
    return LanguageTrace(**_base(
        model, text, keep_values=keep_values, output_text="", kinds=("self",), prompt_length=0, new_tokens=[],
        step_top_k=[], next_top_k=[], fillers=fillers, notices=notices, token_lists={"self": (tokens, tokens)},
        records=_kinds_records(model, rec), padding=np.asarray(attention, dtype=bool)))


def _run_decoder(model: LanguageModel, text: str, max_new_tokens: int | None, keep_values: bool) -> LanguageTrace:
    tok = model.tokenizer
    n_new = int(max_new_tokens or 0)
    ids, notices = _encode(model, text)
    if model.max_positions is not None and len(ids) + n_new > model.max_positions:
        n_new = max(model.max_positions - len(ids), 0)
        notices.append(Notice("lm.generation_cut", n=n_new, limit=model.max_positions))
    if model.head is None:
        if n_new:
            notices.append(Notice("lm.no_lm_head", model=model.name))
        n_new = 0
    dev = model.device
    seq = list(ids)
    if n_new:
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        with torch.inference_mode():
            x = torch.tensor([ids], device=dev)
            out = model.module.generate(x, attention_mask=torch.ones_like(x), do_sample=False,
                                        max_new_tokens=n_new, pad_token_id=pad, num_beams=1)
        seq = out[0].tolist()
    new = seq[len(ids):]
    kinds = model.details.get("attention_kinds")
    with recording(keep_values=keep_values, model=model.module, kinds=kinds) as rec, torch.inference_mode():
        extra = {}
        if model.head is not None and "logits_to_keep" in inspect.signature(model.module.forward).parameters:
            extra["logits_to_keep"] = len(new) + 1  # the rows that chose each new token, and the last
        out = model.module(input_ids=torch.tensor([seq], device=dev), use_cache=False, **extra)  # no K/V cache
    step_top_k, next_top_k = [], []
    if model.head is not None:
        logits = out.logits[0]
        first = len(seq) - logits.shape[0]  # position of logits row 0
        for s in range(1, len(new) + 1):
            step_top_k.append(_top(tok, logits[len(ids) + s - 2 - first].float().softmax(-1)))
        next_top_k = _top(tok, logits[-1].float().softmax(-1))
    else:
        notices.append(Notice("lm.no_lm_head", model=model.name))
    tokens = token_list(tok, seq)
    return LanguageTrace(**_base(
        model, text, keep_values=keep_values, output_text=tok.decode(new, skip_special_tokens=True),
        kinds=("self",), prompt_length=len(ids), new_tokens=tokens[len(ids):], step_top_k=step_top_k,
        next_top_k=next_top_k, fillers={}, notices=notices, token_lists={"self": (tokens, tokens)},
        records=_kinds_records(model, rec), padding=np.ones(len(seq), dtype=bool)))


def _run_seq2seq(model: LanguageModel, text: str, max_new_tokens: int | None, keep_values: bool,
                 target: str | None) -> LanguageTrace:
    tok = model.tokenizer
    ids, notices = _encode(model, text)
    dev = model.device
    cfg = model.module.config
    start = cfg.decoder_start_token_id
    if start is None:
        start = cfg.bos_token_id if cfg.bos_token_id is not None else cfg.pad_token_id
    src = torch.tensor([ids], device=dev)
    if target is not None:
        new = tok(text_target=target, add_special_tokens=True)["input_ids"]
    else:
        n_new = SEQ2SEQ_MAX_NEW if max_new_tokens is None else int(max_new_tokens)
        new = []
        if n_new:
            with torch.inference_mode():
                out = model.module.generate(src, attention_mask=torch.ones_like(src), do_sample=False, num_beams=1,
                                            max_new_tokens=n_new, decoder_start_token_id=start)
            seq = out[0].tolist()
            new = seq[1:]
            if cfg.pad_token_id is not None and cfg.pad_token_id != start:
                while new and new[-1] == cfg.pad_token_id:
                    new.pop()
    dec = [start] + list(new)
    kinds = model.details.get("attention_kinds")
    with recording(keep_values=keep_values, model=model.module, kinds=kinds) as rec, torch.inference_mode():
        out = model.module(input_ids=src, decoder_input_ids=torch.tensor([dec], device=dev), use_cache=False)
    logits = out.logits[0]
    step_top_k = [_top(tok, logits[s - 1].float().softmax(-1)) for s in range(1, len(new) + 1)]
    src_tokens, dec_tokens = token_list(tok, ids), token_list(tok, dec)
    return LanguageTrace(**_base(
        model, text, keep_values=keep_values, output_text=tok.decode(new, skip_special_tokens=True),
        kinds=("encoder", "decoder", "cross"), prompt_length=0, new_tokens=dec_tokens[1:], step_top_k=step_top_k,
        next_top_k=[], fillers={}, notices=notices,
        token_lists={"encoder": (src_tokens, src_tokens), "decoder": (dec_tokens, dec_tokens),
                     "cross": (dec_tokens, src_tokens)},
        records=_kinds_records(model, rec), padding=np.ones(len(ids), dtype=bool)))


def _demo_token(label: str) -> Token:
    return Token(-1, label, label, label in ("<s>", "</s>", "<pad>", "<unk>"), False)


def _run_demo(model: LanguageModel, text: str) -> LanguageTrace:
    from models.demo import text as demo_text

    tr = demo_text.run(model.module, text)
    src = [_demo_token(t) for t in tr.source_tokens]
    tgt = [_demo_token(t) for t in tr.target_tokens]
    s_len, t_len = len(src), len(tgt)
    pad = np.asarray(tr.source_mask, dtype=bool)
    enc_parts = {"padding": np.broadcast_to(pad[None, :], (s_len, s_len)).copy()} if not pad.all() else {}
    cross_parts = {"padding": np.broadcast_to(pad[None, :], (t_len, s_len)).copy()} if not pad.all() else {}
    return LanguageTrace(**_base(
        model, text, output_text=tr.output, kinds=("encoder", "decoder", "cross"), prompt_length=0,
        new_tokens=[_demo_token(t) for t in tr.output_tokens], step_top_k=[list(x) for x in tr.step_top_k],
        next_top_k=[], fillers={}, notices=list(tr.messages) + list(tr.outside),
        token_lists={"encoder": (src, src), "decoder": (tgt, tgt), "cross": (tgt, src)},
        dense={"encoder": list(tr.encoder_attention), "decoder": list(tr.decoder_attention),
               "cross": list(tr.cross_attention)},
        dense_masks={"encoder": enc_parts, "decoder": {"causal": np.asarray(tr.causal_mask, dtype=bool)},
                     "cross": cross_parts},
        padding=pad))
