"""What a text model's output rests on: relevance of each source or context token (Chefer, Gur & Wolf 2021,
"Generic Attention-model Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers"), and head
ablation (a head's output set to zero before the output projection W_O, the model rerun).

Two kinds of model:

- our encoder–decoder (models/demo/text.py, models/network/transformer.py): for each generated token t, the
  gradient of its logit (the token greedy decoding chose) with respect to every attention map (encoder self,
  decoder self, cross; every layer), from one teacher-forced forward over <s> + the output; then the paper's
  encoder–decoder rules (relevance.chefer_encoder_decoder) give the relevance of each source token for token t.
  All T tokens at once: a batch of T copies of the input, copy t differentiates token t's logit, one backward.
- transformers language models (models/language): the [MASK] filler's logit at the mask position (masked LM) or
  the next token's logit at the last position (causal LM), with the registered "atlas" attention in gradient mode
  (models/language/capture.py `recording(gradients=True)`: the attention written out, its weights kept in the
  autograd graph); relevance.chefer_self gives the relevance of each context token for that prediction.

Gradients are taken with `torch.autograd.grad` for the maps only, from inputs made to require gradients here (the
embedding output, detached and marked): no parameter's `.grad` is written, the shared model is not changed. Hooks
(ablation, and marking our encoder–decoder's embeddings) exist for this thread and call only (models/capture/
hooks.py). Counting: layers, heads and token positions are indices from 0 in code; the pages count layers and
heads from 1.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models.analysis import relevance as rel
from models.capture.hooks import hooks, running
from models.messages import CodedError

KINDS = ("encoder", "decoder", "cross")  # our encoder–decoder's attention kinds, in this order everywhere here
TOP_K = 5


class TextExplainError(CodedError):
    """An input or model the text relevance or ablation cannot handle (codes explain_text.*)."""


# ============================================================================ our encoder–decoder: relevance
@dataclass(frozen=True)
class Seq2SeqGradients:
    """One teacher-forced forward over <s> + the output, with each output token's logit differentiated.

    attention[kind][layer]: (heads, Q, K) float32, the same for every output token; grads[kind][layer]:
    (T, heads, Q, K), row t = ∂ logit of output token t / ∂ that map."""

    attention: dict[str, list[np.ndarray]]
    grads: dict[str, list[np.ndarray]]
    output_ids: list[int]  # the token chosen at each decoder position (T)
    probs: np.ndarray  # (T,) the probability of each chosen token


def _mark_embeddings(h, tf) -> None:
    """The embedding output (token × √d + positions, through the model's own `dropout`, the identity in eval)
    detached and made to require gradients, for this thread: every attention map after it is then in the graph."""
    h.alter_input(tf.dropout, lambda mod, args: (args[0].detach().requires_grad_(True),) + tuple(args[1:]))


def seq2seq_gradients(model, src_ids: Sequence[int], ys: Sequence[int]) -> Seq2SeqGradients:
    """Gradients of each output token's logit w.r.t. every attention map of our encoder–decoder (a TextModel).
    src_ids: the source ids (ending with </s>); ys: <s> followed by the output ids (as greedy decoding returns)."""
    tf = model.transformer
    t = len(ys) - 1
    if t < 1:
        raise TextExplainError("explain_text.no_output")
    dev = model.device
    src = torch.tensor([list(src_ids)], dtype=torch.long, device=dev).expand(t, -1)
    tgt = torch.tensor([list(ys[:-1])], dtype=torch.long, device=dev).expand(t, -1)
    out_ids = torch.tensor(list(ys[1:]), dtype=torch.long, device=dev)
    with hooks() as h, torch.inference_mode(False), torch.enable_grad():
        _mark_embeddings(h, tf)
        logits, att = tf(src, tgt, need_weights=True)  # (T, T, V): copy b, position q
        steps = torch.arange(t, device=dev)
        chosen = logits[steps, steps, out_ids]  # copy t's own token t: each copy differentiates one logit
        maps = {"encoder": att.encoder, "decoder": att.decoder, "cross": att.cross}
        flat = [m for k in KINDS for m in maps[k]]
        grads = torch.autograd.grad(chosen.sum(), flat)
        probs = torch.softmax(logits[0].detach().float(), -1)[steps, out_ids]
    out_att: dict[str, list[np.ndarray]] = {}
    out_grads: dict[str, list[np.ndarray]] = {}
    i = 0
    for k in KINDS:
        n = len(maps[k])
        out_att[k] = [m[0].detach().float().cpu().numpy() for m in maps[k]]
        out_grads[k] = [g.detach().float().cpu().numpy() for g in grads[i: i + n]]
        i += n
    return Seq2SeqGradients(out_att, out_grads, list(ys[1:]), probs.cpu().numpy())


def relevance_rows(g: Seq2SeqGradients) -> np.ndarray:
    """(T, S): row t, the relevance R_ts of each source token for output token t (from output token t's own
    gradients: the row of chefer_encoder_decoder computed with them)."""
    rows = []
    for step in range(len(g.output_ids)):
        r = rel.chefer_encoder_decoder(
            g.attention["encoder"], [x[step] for x in g.grads["encoder"]],
            g.attention["decoder"], [x[step] for x in g.grads["decoder"]],
            g.attention["cross"], [x[step] for x in g.grads["cross"]])
        rows.append(r[step])
    return np.stack(rows)


@dataclass(frozen=True)
class Seq2SeqRelevance:
    """Relevance of each source token for each output token, beside the raw cross-attention. Positions from 0."""

    source_tokens: list[str]  # labels of the encoder positions (</s> included)
    output_tokens: list[str]  # the token written at each decoder position (</s> included when decoding ended)
    token_probs: list[float]  # the probability of each output token
    relevance: np.ndarray  # (T, S) row t: relevance of each source token for output token t
    cross_last: np.ndarray  # (T, S) the last layer's cross-attention, heads averaged
    cross_layers: list[np.ndarray]  # per decoder layer (T, S), heads averaged
    output: str  # the decoded text
    source_ids: list[int]  # the encoder's input ids (</s> included): what the perturbation test removes from
    decoder_ids: list[int]  # <s> + the output ids, as greedy decoding returned them (teacher forcing)
    attn_x_grad: np.ndarray  # (T, S) the last cross layer's (A ⊙ ∇A)⁺, heads averaged, row t from token t's gradient


def _greedy(model, ids: list[int]) -> list[int]:
    from models.demo.text import BOS, EOS

    with running(), torch.inference_mode():
        src = torch.tensor([ids], dtype=torch.long, device=model.device)
        return model.transformer.greedy_decode(src, BOS, EOS, model.info.max_output_len)[0].tolist()


def seq2seq_relevance(model, text: str) -> Seq2SeqRelevance:
    """Greedy output of `text` (as models.demo.text.run decodes it) and the relevance of every source token for
    each output token."""
    from models.demo import text as demo_text

    ids, labels, *_ = demo_text.encode(model, text)
    ys = _greedy(model, ids)
    g = seq2seq_gradients(model, ids, ys)
    cross = [a.mean(axis=0) for a in g.attention["cross"]]
    tokens = [model.target_vocab[i] for i in ys[1:]]
    return Seq2SeqRelevance(
        source_tokens=labels, output_tokens=tokens, token_probs=[float(p) for p in g.probs],
        relevance=relevance_rows(g), cross_last=cross[-1], cross_layers=cross,
        output=demo_text.detokenize(model.task, [t for t in tokens if t != "</s>"]),
        source_ids=list(ids), decoder_ids=list(ys), attn_x_grad=cross_x_gradient(g))


def cross_x_gradient(g: Seq2SeqGradients) -> np.ndarray:
    """(T, S): row t, the last cross-attention layer's (A ⊙ ∇A)⁺ for output token t, heads averaged, its own query
    row (vit-explain's attention × gradient read on the cross-attention)."""
    a, grads = g.attention["cross"][-1], g.grads["cross"][-1]
    return np.stack([rel.attention_x_gradient(a, grads[t], row=t) for t in range(len(g.output_ids))])


# ------------------------------------------------------------------------------ alignment (known truth)
def _reverse_alignment(src_labels: list[str], out_tokens: list[str]) -> list[int | None]:
    """Reverse: output token t is the source character at S − 1 − t (S: characters, </s> not counted)."""
    s = len(src_labels) - 1
    return [s - 1 - t if t < s and tok != "</s>" else None for t, tok in enumerate(out_tokens)]


def _translate_alignment(info, src_labels: list[str], out_tokens: list[str]) -> list[int | None]:
    """Translate: the toy language is word for word (models/demo/text.py's lexicon), so an output word's source is
    the English word it translates (a past-tense verb for the particle "ta", an out-of-vocabulary word for
    <unk>). Only where exactly one source position qualifies; the particles "ga" and "o" have no source word."""
    sources: dict[str, set[str]] = {}
    for en, zr, _ in info.lexicon:
        if not en:
            continue
        parts = zr.split()
        sources.setdefault(parts[0], set()).add(en)
        if len(parts) > 1:  # "mira ta": the stem and the past particle both come from the past form
            sources.setdefault(parts[1], set()).add(en)
    out: list[int | None] = []
    for tok in out_tokens:
        if tok == "<unk>":
            hits = [j for j, w in enumerate(src_labels) if w == "<unk>"]
        else:
            words = sources.get(tok, set())
            hits = [j for j, w in enumerate(src_labels) if w in words]
        out.append(hits[0] if len(hits) == 1 else None)
    return out


ALIGNED_TASKS = ("reverse", "translate")  # dates: an ISO date is not written token for token from its input


def alignment_accuracy(task: str, n: int, seed: int = 0, model=None, weights: str = "demo",
                       progress: Callable[[int, int], None] | None = None) -> dict:
    """How often each map's largest source weight falls on the truly aligned source token, over `n` fresh
    held-out examples (models.demo.text.examples(task, n, seed, HELDOUT)) whose greedy output is exactly the
    expected one (only there is the alignment of every output token known). Returns plain data:
    {task, inputs, exact_inputs, tokens, cross: [rate per decoder layer, heads averaged], cross_mean: rate of the
    layers' mean, relevance: rate, random: expected rate of a uniformly random position (mean of 1/S)}, with the
    argmax over every source position, </s> included (a maximum on </s> counts as a miss), and the same under
    "without_eos" with the argmax over the real source tokens only (</s> and padding left out)."""
    from models.demo import text as demo_text

    if task not in ALIGNED_TASKS:
        raise TextExplainError("explain_text.no_alignment", task=task)
    model = model if model is not None else demo_text.load(task, weights=weights)
    pairs = demo_text.examples(task, n, seed, split=demo_text.HELDOUT)
    layers = model.transformer.cfg.n_decoder_layers
    hits = {v: {"cross": np.zeros(layers), "cross_mean": 0.0, "relevance": 0.0, "random": 0.0}
            for v in ("all", "without_eos")}
    tokens = exact = 0
    for k, (source, expected) in enumerate(pairs):
        ids, labels, *_ = demo_text.encode(model, source)
        ys = _greedy(model, ids)
        out = [model.target_vocab[i] for i in ys[1:]]
        written = demo_text.detokenize(task, [t for t in out if t != "</s>"])
        if written == expected and out and out[-1] == "</s>":
            exact += 1
            aligned = (_reverse_alignment(labels, out) if task == "reverse"
                       else _translate_alignment(model.info, labels, out))
            steps = [t for t, j in enumerate(aligned) if j is not None]
            if steps:
                g = seq2seq_gradients(model, ids, ys)
                r = relevance_rows(g)
                cross = [a.mean(axis=0) for a in g.attention["cross"]]
                mean = np.mean(cross, axis=0)
                real = np.array([lab not in ("</s>", "<pad>") for lab in labels])
                for t in steps:
                    j = aligned[t]
                    tokens += 1
                    for v, keep in (("all", np.ones_like(real)), ("without_eos", real)):
                        def top(row, keep=keep):
                            return int(np.argmax(np.where(keep, row, -np.inf)))

                        h = hits[v]
                        h["random"] += 1.0 / float(keep.sum())
                        h["relevance"] += top(r[t]) == j
                        h["cross_mean"] += top(mean[t]) == j
                        for layer, c in enumerate(cross):
                            h["cross"][layer] += top(c[t]) == j
        if progress is not None:
            progress(k + 1, len(pairs))
    d = max(tokens, 1)
    rates = {v: {"cross": [float(x / d) for x in h["cross"]], "cross_mean": float(h["cross_mean"] / d),
                 "relevance": float(h["relevance"] / d), "random": float(h["random"] / d)} for v, h in hits.items()}
    return {"task": task, "inputs": len(pairs), "exact_inputs": exact, "tokens": tokens, **rates["all"],
            "without_eos": rates["without_eos"]}


# ------------------------------------------------------------------------- perturbation (source tokens removed)
ROWS_PER_FORWARD = 8192  # rows × tokens per forward of a perturbation batch (bounds its memory)


def seq2seq_removable(source_ids: Sequence[int]) -> np.ndarray:
    """(S,) bool: the source tokens a perturbation test may remove: every real token; </s> and <pad> stay (with
    </s> kept, no query is ever left with nothing to attend to)."""
    from models.demo.text import EOS, PAD

    return np.array([i not in (EOS, PAD) for i in source_ids], dtype=bool)


def seq2seq_removed_probs(model, source_ids: Sequence[int], decoder_ids: Sequence[int], steps: Sequence[int],
                          removed: np.ndarray) -> np.ndarray:
    """(R,) row r: the teacher-forced probability of output token steps[r] (from 0: decoder_ids[steps[r] + 1]) with
    the source tokens removed[r] (R, S) taken out. A token is taken out by writing <pad> in its place: the model
    masks <pad> out of every encoder self-attention and cross-attention (models/network/transformer.py
    padding_mask), so nothing reads it, and the other tokens keep their positions. Batched forwards."""
    from models.demo.text import PAD

    tf, dev = model.transformer, model.device
    removed = np.asarray(removed, dtype=bool)
    src = torch.tensor(list(source_ids), dtype=torch.long, device=dev)
    tgt = torch.tensor([list(decoder_ids[:-1])], dtype=torch.long, device=dev)
    out_ids = torch.tensor(list(decoder_ids[1:]), dtype=torch.long, device=dev)
    steps_t = torch.as_tensor(np.asarray(steps, dtype=np.int64), device=dev)
    rows = max(1, ROWS_PER_FORWARD // max(len(source_ids) + len(decoder_ids), 1))
    out = []
    with running(), torch.inference_mode():
        for a in range(0, len(removed), rows):
            m = torch.as_tensor(removed[a: a + rows], device=dev)
            batch = torch.where(m, torch.full_like(src, PAD), src)
            logits, _ = tf(batch, tgt.expand(len(batch), -1), need_weights=False)
            st = steps_t[a: a + rows]
            p = torch.softmax(logits[torch.arange(len(batch), device=dev), st].float(), -1)
            out.append(p.gather(1, out_ids[st][:, None])[:, 0])
    return torch.cat(out).cpu().numpy() if out else np.zeros(0)


def seq2seq_perturbation(model, source_ids: Sequence[int], decoder_ids: Sequence[int], step: int,
                         maps: dict[str, np.ndarray], fractions: Sequence[float], random_orders: int = 3,
                         seed: int = 0) -> dict:
    """The perturbation test (Chefer et al. 2021, §4, on source tokens) of each map (S,) for output token `step`
    (from 0), and of `random_orders` random orders: faithfulness.token_perturbation on seq2seq_removed_probs."""
    from models.analysis.faithfulness import token_perturbation

    return token_perturbation(
        lambda removed: seq2seq_removed_probs(model, source_ids, decoder_ids, [step] * len(removed), removed),
        maps, seq2seq_removable(source_ids), fractions, random_orders, seed)


# ============================================================================ our encoder–decoder: ablation
def _seq2seq_projections(tf) -> dict[str, list]:
    return {"encoder": [layer.self_attn.w_o for layer in tf.encoder_layers],
            "decoder": [layer.self_attn.w_o for layer in tf.decoder_layers],
            "cross": [layer.cross_attn.w_o for layer in tf.decoder_layers]}


def _seq2seq_masks(tf, heads: Iterable[tuple[str, int, int]], rows: int = 1) -> dict:
    """{w_o module: (rows, 1, d_model) mask} switching off (kind, layer, head) in row 0 (every row: same heads)."""
    proj = _seq2seq_projections(tf)
    h, dk = tf.cfg.n_heads, tf.cfg.d_k
    masks: dict = {}
    for kind, layer, head in heads:
        if kind not in proj or not (0 <= layer < len(proj[kind]) and 0 <= head < h):
            raise TextExplainError("explain_text.bad_head", kind=kind, layer=layer + 1, head=head + 1)
        m = proj[kind][layer]
        if m not in masks:
            masks[m] = torch.ones(rows, 1, tf.cfg.d_model, device=m.weight.device)
        masks[m][..., head * dk: (head + 1) * dk] = 0
    return masks


def _apply(h, masks: dict) -> None:
    for module, m in masks.items():
        h.alter_input(module, lambda mod, args, m=m: (args[0] * m.to(args[0].dtype),) + tuple(args[1:]))


def _seq2seq_probs(model, ids: list[int], ys: list[int], masks: dict, rows: int = 1) -> np.ndarray:
    """(rows, T) teacher-forced probability of each token of ys[1:] with the masks' heads off."""
    tf, dev = model.transformer, model.device
    src = torch.tensor([ids], dtype=torch.long, device=dev).expand(rows, -1)
    tgt = torch.tensor([ys[:-1]], dtype=torch.long, device=dev).expand(rows, -1)
    out = torch.tensor(ys[1:], dtype=torch.long, device=dev)
    with hooks() as h, torch.inference_mode():
        _apply(h, masks)
        logits, _ = tf(src, tgt, need_weights=False)
        p = torch.softmax(logits.float(), -1)
        return p[:, torch.arange(len(out), device=dev), out].cpu().numpy()


@dataclass(frozen=True)
class Seq2SeqAblation:
    """The output with the chosen heads off beside the model's own, each with the probability of every token."""

    heads: list[tuple[str, int, int]]  # (kind, layer, head), layer and head from 0
    base_output: str
    base_tokens: list[str]
    base_probs: list[float]
    output: str
    output_tokens: list[str]
    token_probs: list[float]
    base_token_probs_ablated: list[float]  # the model's own output tokens, teacher-forced, with the heads off


def seq2seq_ablate(model, text: str, heads: Iterable[tuple[str, int, int]]) -> Seq2SeqAblation:
    """Greedy output of `text` with the given heads switched off (kind in encoder/decoder/cross, layer and head
    from 0), and its tokens' probabilities, beside the unablated output."""
    from models.demo import text as demo_text
    from models.demo.text import BOS, EOS

    heads = [(str(k), int(layer), int(h)) for k, layer, h in heads]
    tf = model.transformer
    masks = _seq2seq_masks(tf, heads)
    ids, *_ = demo_text.encode(model, text)
    base = _greedy(model, ids)
    with hooks() as h, torch.inference_mode():
        _apply(h, masks)
        src = torch.tensor([ids], dtype=torch.long, device=model.device)
        ys = tf.greedy_decode(src, BOS, EOS, model.info.max_output_len)[0].tolist()
    vocab = model.target_vocab

    def words(seq):
        return [vocab[i] for i in seq[1:]]

    def text_of(seq):
        return demo_text.detokenize(model.task, [t for t in words(seq) if t != "</s>"])

    return Seq2SeqAblation(
        heads=heads, base_output=text_of(base), base_tokens=words(base),
        base_probs=[float(x) for x in _seq2seq_probs(model, ids, base, {})[0]],
        output=text_of(ys), output_tokens=words(ys),
        token_probs=[float(x) for x in _seq2seq_probs(model, ids, ys, masks)[0]],
        base_token_probs_ablated=[float(x) for x in _seq2seq_probs(model, ids, base, masks)[0]])


@dataclass(frozen=True)
class Seq2SeqImportance:
    """probs[kind][layer, head, t]: the probability of the model's own output token t (teacher-forced) with that
    head alone off; base (T,) with every head on. The drop is base − probs (positive: the head helped)."""

    output_tokens: list[str]
    base: np.ndarray
    probs: dict[str, np.ndarray]


def seq2seq_importance(model, text: str, batch: int = 16,
                       progress: Callable[[int, int], None] | None = None) -> Seq2SeqImportance:
    """Every head of every attention kind switched off alone, `batch` reruns per teacher-forced forward (copy b
    with its own head off); progress(done, total) after each forward."""
    from models.demo import text as demo_text

    tf = model.transformer
    ids, *_ = demo_text.encode(model, text)
    ys = _greedy(model, ids)
    t = len(ys) - 1
    proj = _seq2seq_projections(tf)
    nh, dk = tf.cfg.n_heads, tf.cfg.d_k
    triples = [(k, layer, h) for k in KINDS for layer in range(len(proj[k])) for h in range(nh)]
    probs = {k: np.full((len(proj[k]), nh, t), np.nan) for k in KINDS}
    for start in range(0, len(triples), batch):
        chunk = triples[start: start + batch]
        masks: dict = {}
        for row, (k, layer, h) in enumerate(chunk):
            m = proj[k][layer]
            if m not in masks:
                masks[m] = torch.ones(len(chunk), 1, tf.cfg.d_model, device=m.weight.device)
            masks[m][row, :, h * dk: (h + 1) * dk] = 0
        p = _seq2seq_probs(model, ids, ys, masks, rows=len(chunk))
        for (k, layer, h), row in zip(chunk, p):
            probs[k][layer, h] = row
        if progress is not None:
            progress(min(start + batch, len(triples)), len(triples))
    base = _seq2seq_probs(model, ids, ys, {})[0]
    return Seq2SeqImportance([model.target_vocab[i] for i in ys[1:]], base, probs)


# ============================================================================ transformers language models
def _check_lm(lm) -> None:
    from models.language.demo import is_demo

    if is_demo(lm) or lm.family not in ("encoder", "decoder"):
        raise TextExplainError("explain_text.unsupported_family", model=lm.name)  # an encoder–decoder (ours or not)
    if lm.head is None:
        raise TextExplainError("explain_text.no_lm_head", model=lm.name)


def _lm_ids(lm, text: str, mask_index: int) -> tuple[list[int], int]:
    """Token ids and the position whose prediction is explained: the mask_index-th [MASK] (masked LM, from 0) or
    the last position (causal LM: its next token)."""
    from models.language.run import EmptyText, _encode

    if not isinstance(text, str) or not text.strip():
        raise EmptyText("lm.empty_input")
    ids, _ = _encode(lm, text)
    if lm.family == "decoder":
        return ids, len(ids) - 1
    mask_id = lm.tokenizer.mask_token_id
    masks = [p for p, i in enumerate(ids) if mask_id is not None and i == mask_id]
    if not masks:
        raise TextExplainError("explain_text.no_mask", mask=str(lm.tokenizer.mask_token or "[MASK]"))
    if not 0 <= mask_index < len(masks):
        raise TextExplainError("explain_text.bad_mask", index=mask_index + 1, count=len(masks))
    return ids, masks[mask_index]


def _top(lm, probs: torch.Tensor) -> list[tuple[str, float]]:
    from models.language.run import _top as top

    return top(lm.tokenizer, probs, TOP_K)


def _labels(lm, ids: list[int]) -> list[str]:
    from models.language.tokens import token_list

    return [t.label for t in token_list(lm.tokenizer, ids)]


@dataclass(frozen=True)
class LMRelevance:
    """Relevance of each context token for one prediction of a language model. Positions from 0."""

    tokens: list[str]  # labels of the positions
    position: int  # where the prediction is read: the [MASK], or the last token (its next token)
    prediction: str  # "masked" or "next"
    target: int  # the token id whose logit was differentiated (the predicted one unless asked)
    target_label: str
    top: list[tuple[str, float]]  # the prediction's 5 most probable tokens
    relevance: np.ndarray  # (N,) row `position` of R = chefer_self(...)
    raw_last: np.ndarray  # (N,) row `position` of the last layer's attention, heads averaged
    raw_layers: list[np.ndarray]  # per layer (N,), heads averaged
    attention: list[np.ndarray]  # per layer (heads, N, N) float32
    grads: list[np.ndarray]  # per layer (heads, N, N): ∂ logit / ∂ attention
    ids: list[int]  # the token ids of the positions
    target_prob: float  # the probability of `target`


def lm_relevance(lm, text: str, mask_index: int = 0, target: int | None = None) -> LMRelevance:
    """One forward with the attention in the autograd graph and one backward from the prediction's logit."""
    from models.language.capture import recording

    _check_lm(lm)
    ids, pos = _lm_ids(lm, text, mask_index)
    module, dev = lm.module, lm.device
    kinds = lm.details.get("attention_kinds")
    x = torch.tensor([ids], device=dev)
    extra = {"use_cache": False} if lm.family == "decoder" else {}
    with running(), recording(model=module, kinds=kinds, gradients=True) as rec, torch.inference_mode(False), \
            torch.enable_grad():
        emb = module.get_input_embeddings()(x).detach().requires_grad_(True)
        out = module(inputs_embeds=emb, attention_mask=torch.ones_like(x), **extra)
        logits = out.logits[0, pos]
        cls = int(logits.argmax()) if target is None else int(target)
        if not 0 <= cls < logits.shape[-1]:
            raise TextExplainError("explain_text.bad_target", index=cls, vocab=int(logits.shape[-1]))
        maps = [r.weights for r in rec.records]
        if not maps or any(m is None for m in maps):
            raise TextExplainError("explain_text.capture_count", maps=len(maps), layers=lm.num_layers.get("self", 0))
        grads = torch.autograd.grad(logits[cls], maps)
        probs = torch.softmax(logits.detach().float(), -1)
    att = [m[0].detach().float().cpu().numpy() for m in maps]
    grd = [g[0].detach().float().cpu().numpy() for g in grads]
    raw = [a.mean(axis=0)[pos] for a in att]
    return LMRelevance(
        tokens=_labels(lm, ids), position=pos, prediction="next" if lm.family == "decoder" else "masked",
        target=cls, target_label=_labels(lm, [cls])[0], top=_top(lm, probs),
        relevance=rel.chefer_self(att, grd)[pos], raw_last=raw[-1], raw_layers=raw, attention=att, grads=grd,
        ids=list(ids), target_prob=float(probs[cls]))


def lm_removable(lm, ids: Sequence[int], position: int) -> np.ndarray:
    """(N,) bool: the context tokens a perturbation test may remove: every token but the predicted position itself
    and the tokenizer's special tokens ([CLS], [SEP], <s>…: removing them would change the input's frame, not its
    content, and would leave a causal model's first query nothing to attend to)."""
    special = set(getattr(lm.tokenizer, "all_special_ids", []) or [])
    keep = np.array([i not in special for i in ids], dtype=bool)
    keep[position] = False
    return keep


def lm_removed_probs(lm, ids: Sequence[int], position: int, target: int, removed: np.ndarray) -> np.ndarray:
    """(R,) row r: the probability of `target` at `position` (the [MASK] filler, or the next token after the last
    position) with the context tokens removed[r] (R, N) taken out through the attention mask: no position attends
    to them in any layer. Position ids are passed explicitly (0…N−1) where the model takes them, so the other tokens
    keep their positions (some models, OPT among them, would otherwise count positions from the mask)."""
    import inspect

    module, dev = lm.module, lm.device
    removed = np.asarray(removed, dtype=bool)
    x = torch.tensor([list(ids)], device=dev)
    extra: dict = {"use_cache": False} if lm.family == "decoder" else {}
    if "position_ids" in inspect.signature(module.forward).parameters:
        extra["position_ids"] = torch.arange(len(ids), device=dev)[None]
    rows = max(1, ROWS_PER_FORWARD // max(len(ids), 1))
    out = []
    with running(), torch.inference_mode():
        for a in range(0, len(removed), rows):
            keep = torch.as_tensor(~removed[a: a + rows], device=dev).long()
            kw = {k: (v.expand(len(keep), -1) if k == "position_ids" else v) for k, v in extra.items()}
            logits = module(input_ids=x.expand(len(keep), -1), attention_mask=keep, **kw).logits[:, position]
            out.append(torch.softmax(logits.float(), -1)[:, int(target)])
    return torch.cat(out).cpu().numpy() if out else np.zeros(0)


def lm_perturbation(lm, r: LMRelevance, maps: dict[str, np.ndarray], fractions: Sequence[float],
                    random_orders: int = 3, seed: int = 0) -> dict:
    """The perturbation test of each map (N,) for the prediction `r` explains (its target token at its position),
    and of `random_orders` random orders: faithfulness.token_perturbation on lm_removed_probs."""
    from models.analysis.faithfulness import token_perturbation

    return token_perturbation(lambda removed: lm_removed_probs(lm, r.ids, r.position, r.target, removed),
                              maps, lm_removable(lm, r.ids, r.position), fractions, random_orders, seed)


# ------------------------------------------------------------------------------------ language-model ablation
_PROJECTIONS = ("o_proj", "out_proj", "c_proj", "out_lin", "o", "dense")


def _in_features(m) -> int | None:
    w = getattr(m, "weight", None)
    if w is None or w.dim() != 2:
        return None
    if isinstance(m, torch.nn.Linear):
        return m.in_features
    return int(w.shape[0]) if hasattr(m, "nf") else None  # transformers' Conv1D (GPT-2): weight (in, out)


def lm_projections(lm) -> list[torch.nn.Module]:
    """Each self-attention layer's output projection W_O (forward order): the module that receives the heads'
    outputs side by side (o_proj, out_proj, GPT-2's c_proj, DistilBERT's out_lin, BERT's attention.output.dense)."""
    _check_lm(lm)
    named = dict(lm.module.named_modules())
    kinds = lm.details.get("attention_kinds") or {}
    width = lm.num_heads * lm.head_dim
    out = []
    for name in [n for n, k in kinds.items() if k == "self"]:
        attn = named.get(name)
        parent = named.get(name.rsplit(".", 1)[0]) if "." in name else None
        candidates = [getattr(attn, a, None) for a in _PROJECTIONS]
        if parent is not None:
            candidates.append(getattr(getattr(parent, "output", None), "dense", None))
        found = next((m for m in candidates if isinstance(m, torch.nn.Module) and _in_features(m) == width), None)
        if found is None:
            raise TextExplainError("explain_text.no_projection", model=lm.name, layer=len(out) + 1)
        out.append(found)
    if not out:
        raise TextExplainError("explain_text.no_projection", model=lm.name, layer=1)
    return out


def _lm_probs(lm, ids: list[int], pos: int, masks: dict, rows: int = 1) -> torch.Tensor:
    """(rows, V) the prediction's probabilities at `pos` with the masks' heads off."""
    x = torch.tensor([ids], device=lm.device).expand(rows, -1)
    extra = {"use_cache": False} if lm.family == "decoder" else {}
    with hooks() as h, torch.inference_mode():
        _apply(h, masks)
        out = lm.module(input_ids=x, attention_mask=torch.ones_like(x), **extra)
        return torch.softmax(out.logits[:, pos].float(), -1)


@dataclass(frozen=True)
class LMAblation:
    heads: list[tuple[int, int]]  # (layer, head) from 0
    position: int
    target: int  # the unablated prediction
    target_label: str
    base_top: list[tuple[str, float]]
    top: list[tuple[str, float]]
    base_prob: float  # the unablated prediction's probability, every head on
    prob: float  # its probability with the heads off


def lm_ablate(lm, text: str, heads: Iterable[tuple[int, int]], mask_index: int = 0) -> LMAblation:
    """The next-token or [MASK] top-5 with the given heads switched off, beside the model's own."""
    proj = lm_projections(lm)
    heads = [(int(layer), int(h)) for layer, h in heads]
    masks: dict = {}
    d = lm.head_dim
    for layer, h in heads:
        if not (0 <= layer < len(proj) and 0 <= h < lm.num_heads):
            raise TextExplainError("explain_text.bad_head", kind="self", layer=layer + 1, head=h + 1)
        m = proj[layer]
        if m not in masks:
            masks[m] = torch.ones(1, 1, lm.num_heads * d, device=lm.device)
        masks[m][..., h * d: (h + 1) * d] = 0
    ids, pos = _lm_ids(lm, text, mask_index)
    base = _lm_probs(lm, ids, pos, {})[0]
    off = _lm_probs(lm, ids, pos, masks)[0]
    target = int(base.argmax())
    return LMAblation(heads, pos, target, _labels(lm, [target])[0], _top(lm, base), _top(lm, off),
                      float(base[target]), float(off[target]))


@dataclass(frozen=True)
class LMImportance:
    """probs[layer, head]: the probability of the unablated prediction with that head alone off; the drop is
    base − probs (positive: the head helped the prediction)."""

    position: int
    target: int
    target_label: str
    base: float
    probs: np.ndarray


def lm_importance(lm, text: str, mask_index: int = 0, batch: int = 16,
                  progress: Callable[[int, int], None] | None = None) -> LMImportance:
    """Every head switched off alone, `batch` reruns per forward (copy b with its own head off)."""
    proj = lm_projections(lm)
    ids, pos = _lm_ids(lm, text, mask_index)
    base = _lm_probs(lm, ids, pos, {})[0]
    target = int(base.argmax())
    d, nh = lm.head_dim, lm.num_heads
    pairs = [(layer, h) for layer in range(len(proj)) for h in range(nh)]
    probs = np.full((len(proj), nh), np.nan)
    for start in range(0, len(pairs), batch):
        chunk = pairs[start: start + batch]
        masks: dict = {}
        for row, (layer, h) in enumerate(chunk):
            m = proj[layer]
            if m not in masks:
                masks[m] = torch.ones(len(chunk), 1, nh * d, device=lm.device)
            masks[m][row, :, h * d: (h + 1) * d] = 0
        p = _lm_probs(lm, ids, pos, masks, rows=len(chunk))[:, target].cpu().numpy()
        for (layer, h), x in zip(chunk, p):
            probs[layer, h] = x
        if progress is not None:
            progress(min(start + batch, len(pairs)), len(pairs))
    return LMImportance(pos, target, _labels(lm, [target])[0], float(base[target]), probs)
