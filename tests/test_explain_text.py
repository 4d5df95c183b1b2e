"""Relevance and head ablation for text models (models/capture/explain_text.py), against references nobody here
wrote: autograd on a float64 copy of the model (our encoder–decoder, transformers' eager attention), eager
`output_attentions`, the formulas of models/analysis/relevance.py, and weight surgery (the output projection's
columns of a head set to zero on a copy) for head ablation."""
from __future__ import annotations

import copy
import pathlib

import numpy as np
import pytest
import torch

from models.analysis import relevance as rel
from models.capture import explain_text as ex
from models.demo import text as demo_text
from models.language import capture
from models.language.capture import recording
from models.messages import Notice
from tests import language_models as lms

TEXTS = {"bert": "the cat [MASK] on the mat and the dog ran", "gpt2": "the cat sat on the mat and the dog",
         "llama": "the cat sat on the mat and the dog"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("explain_text_models")


@pytest.fixture(scope="module")
def reverse():
    return demo_text.load("reverse")


def _lm(folder, kind):
    path = lms.build(kind, folder)
    return path, capture.from_pretrained(path, name=kind, source=Notice("lm.source_demo", task=kind),
                                         weights_source=kind)


# ------------------------------------------------------------------------------ our encoder–decoder
def _reference_grads(model, ids, ys):
    """float64 copy, parameters requiring gradients, one backward per output token (no batching, no hooks)."""
    ref = copy.deepcopy(model.transformer).double().requires_grad_(True)
    src, tgt = torch.tensor([ids]), torch.tensor([ys[:-1]])
    logits, att = ref(src, tgt, need_weights=True)
    maps = {"encoder": att.encoder, "decoder": att.decoder, "cross": att.cross}
    flat = [m for k in ex.KINDS for m in maps[k]]
    per_step = []
    for t, y in enumerate(ys[1:]):
        per_step.append(torch.autograd.grad(logits[0, t, y], flat, retain_graph=True))
    out = {}
    i = 0
    for k in ex.KINDS:
        n = len(maps[k])
        out[k] = [np.stack([g[i + j][0].numpy() for g in per_step]) for j in range(n)]
        i += n
    return {k: [m[0].detach().numpy() for m in maps[k]] for k in ex.KINDS}, out


def test_seq2seq_gradients_equal_float64_autograd_and_relevance_follows_the_rules(reverse):
    ids, *_ = demo_text.encode(reverse, "attention, please!")
    ys = ex._greedy(reverse, ids)
    g = ex.seq2seq_gradients(reverse, ids, ys)
    att64, grads64 = _reference_grads(reverse, ids, ys)
    t = len(ys) - 1
    for k in ex.KINDS:
        assert len(g.grads[k]) == len(grads64[k]) == 2
        for ours, theirs, a, a64 in zip(g.grads[k], grads64[k], g.attention[k], att64[k]):
            assert ours.shape == theirs.shape and ours.shape[0] == t
            np.testing.assert_allclose(a, a64, atol=1e-5, rtol=0)
            scale = np.abs(theirs).max()
            assert scale > 0
            np.testing.assert_allclose(ours, theirs, atol=2e-4 * scale, rtol=0)
    rows = ex.relevance_rows(g)
    assert rows.shape == (t, len(ids))
    for step in range(t):
        expected = rel.chefer_encoder_decoder(
            att64["encoder"], [x[step] for x in grads64["encoder"]], att64["decoder"],
            [x[step] for x in grads64["decoder"]], att64["cross"], [x[step] for x in grads64["cross"]])[step]
        np.testing.assert_allclose(rows[step], expected, atol=1e-3 * max(np.abs(expected).max(), 1e-6), rtol=0)
    # the gradient capture leaves the shared model as it was: no parameter requires or holds a gradient
    assert all(not p.requires_grad and p.grad is None for p in reverse.transformer.parameters())


def test_seq2seq_relevance_matches_the_run(reverse):
    text = "hello world"
    r = ex.seq2seq_relevance(reverse, text)
    tr = demo_text.run(reverse, text)
    assert r.output == tr.output == "dlrow olleh"
    assert r.output_tokens == tr.output_tokens and r.source_tokens == tr.source_tokens
    np.testing.assert_allclose(r.token_probs, tr.token_probs, atol=1e-5)
    np.testing.assert_allclose(r.cross_last, tr.cross_attention[-1].mean(0), atol=1e-6)
    assert r.relevance.shape == (len(tr.output_tokens), len(tr.source_tokens))
    assert (r.relevance >= 0).all()


def test_alignments_known_from_the_tasks():
    assert ex._reverse_alignment(list("abc") + ["</s>"], list("cba") + ["</s>"]) == [2, 1, 0, None]
    src = ["the", "big", "dog", "saw", "a", "cat", ".", "</s>"]
    out = "wubo gora ka ga misa na o mira ta . </s>".split()
    info = demo_text.TASKS["translate"]
    assert ex._translate_alignment(info, src, out) == [2, 1, 0, None, 5, 4, None, 3, 3, 6, None]
    # two "the": each "ka" could come from either, so neither is counted
    src2 = ["the", "dog", "sees", "the", "cat", "</s>"]
    assert ex._translate_alignment(info, src2, "wubo ka ga misa ka o mira </s>".split()) == \
        [1, None, None, 4, None, None, 2, None]
    with pytest.raises(ex.TextExplainError) as e:
        ex.alignment_accuracy("dates", 1)
    assert e.value.code == "explain_text.no_alignment"


@pytest.mark.slow
def test_alignment_on_fresh_reverse_examples(reverse):
    out = ex.alignment_accuracy("reverse", 20, seed=7, model=reverse)
    assert out["inputs"] == 20 and out["exact_inputs"] >= 18 and out["tokens"] > 100
    assert len(out["cross"]) == 2
    # the last layer's cross-attention reads the aligned character (the demo model learned the reversal there)
    assert out["cross"][-1] > 0.9
    # relevance is far above chance, whatever it loses to the raw last layer
    assert out["relevance"] > 5 * out["random"]
    # with </s> left out of the argmax, no method's rate falls, and chance rises a little
    alt = out["without_eos"]
    assert alt["relevance"] >= out["relevance"] and alt["cross"][-1] >= out["cross"][-1]
    assert alt["random"] > out["random"]
    assert all(type(v) is float for v in [out["relevance"], out["random"], out["cross_mean"], *out["cross"]])


# ------------------------------------------------------------------------------ our encoder–decoder: ablation
def _surgery(model, heads):
    tf = copy.deepcopy(model.transformer)
    dk = tf.cfg.d_k
    with torch.no_grad():
        for kind, layer, h in heads:
            block = (tf.encoder_layers if kind == "encoder" else tf.decoder_layers)[layer]
            mod = block.cross_attn if kind == "cross" else block.self_attn
            mod.w_o.weight[:, h * dk: (h + 1) * dk] = 0
    return tf


def _surgery_probs(tf, ids, ys):
    with torch.inference_mode():
        logits, _ = tf(torch.tensor([ids]), torch.tensor([ys[:-1]]))
        return torch.softmax(logits[0].float(), -1)[torch.arange(len(ys) - 1), torch.tensor(ys[1:])].numpy()


def test_seq2seq_ablation_equals_weight_surgery(reverse):
    text = "switch heads off"
    heads = [("cross", 1, 0), ("cross", 1, 2), ("encoder", 0, 3)]
    a = ex.seq2seq_ablate(reverse, text, heads)
    tf = _surgery(reverse, heads)
    ids, *_ = demo_text.encode(reverse, text)
    with torch.inference_mode():
        ys = tf.greedy_decode(torch.tensor([ids]), demo_text.BOS, demo_text.EOS, reverse.info.max_output_len)
    ys = ys[0].tolist()
    assert a.output_tokens == [reverse.target_vocab[i] for i in ys[1:]]
    np.testing.assert_allclose(a.token_probs, _surgery_probs(tf, ids, ys), atol=1e-5)
    base = ex._greedy(reverse, ids)
    np.testing.assert_allclose(a.base_token_probs_ablated, _surgery_probs(tf, ids, base), atol=1e-5)
    assert a.base_output == demo_text.run(reverse, text).output
    # the shared model is unchanged after the ablation
    assert ex.seq2seq_relevance(reverse, text).output == a.base_output
    with pytest.raises(ex.TextExplainError) as e:
        ex.seq2seq_ablate(reverse, text, [("cross", 2, 0)])
    assert e.value.code == "explain_text.bad_head" and e.value.params["layer"] == 3


def test_seq2seq_importance_batched_equals_one_surgery_per_head(reverse):
    text = "abc 123"
    seen = []
    imp = ex.seq2seq_importance(reverse, text, batch=5, progress=lambda d, n: seen.append((d, n)))
    assert seen[-1] == (24, 24) and len(seen) == 5
    ids, *_ = demo_text.encode(reverse, text)
    ys = ex._greedy(reverse, ids)
    np.testing.assert_allclose(imp.base, _surgery_probs(copy.deepcopy(reverse.transformer), ids, ys), atol=1e-5)
    for kind in ex.KINDS:
        assert imp.probs[kind].shape == (2, 4, len(ys) - 1)
        for layer in range(2):
            for h in range(4):
                np.testing.assert_allclose(imp.probs[kind][layer, h],
                                           _surgery_probs(_surgery(reverse, [(kind, layer, h)]), ids, ys), atol=1e-5)


# ------------------------------------------------------------------------------ transformers language models
def _position(lm, ids):
    if lm.family == "decoder":
        return len(ids) - 1
    return ids.index(lm.tokenizer.mask_token_id)


@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama"])
def test_gradient_mode_weights_outputs_and_gradients(folder, kind):
    path, lm = _lm(folder, kind)
    text = TEXTS[kind]
    ids = lm.tokenizer(text)["input_ids"]
    x = torch.tensor([ids])
    extra = {"use_cache": False} if kind != "bert" else {}
    # weights in gradient mode equal eager output_attentions; the outputs equal the normal (fused) forward
    ref = lms.reference(path, kind, "eager")
    with torch.no_grad():
        eager = ref(input_ids=x, output_attentions=True, **extra)
        normal = lm.module(input_ids=x, attention_mask=torch.ones_like(x), **extra)
    with recording(model=lm.module, gradients=True) as rec, torch.no_grad():
        explicit = lm.module(input_ids=x, attention_mask=torch.ones_like(x), **extra)
    assert len(rec.records) == len(eager.attentions) == 2
    for r, theirs in zip(rec.records, eager.attentions):
        np.testing.assert_allclose(r.weights.numpy(), theirs.numpy(), atol=1e-5, rtol=0)
    torch.testing.assert_close(explicit.logits, normal.logits, atol=1e-5, rtol=0)
    # gradients of the prediction's logit equal an eager float64 model's, by autograd
    r = ex.lm_relevance(lm, text)
    pos = _position(lm, ids)
    assert r.position == pos and r.target == int(normal.logits[0, pos].argmax())
    assert r.prediction == ("masked" if kind == "bert" else "next")
    ref64 = ref.double()
    emb = ref64.get_input_embeddings()(x).detach().requires_grad_(True)
    out = ref64(inputs_embeds=emb, output_attentions=True, **extra)
    grads = torch.autograd.grad(out.logits[0, pos, r.target], out.attentions)
    for ours, theirs, a, a64 in zip(r.grads, grads, r.attention, out.attentions):
        theirs = theirs[0].numpy()
        np.testing.assert_allclose(a, a64[0].detach().numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(ours, theirs, atol=1e-4 * np.abs(theirs).max(), rtol=0)
    expected = rel.chefer_self([a[0].detach().numpy() for a in out.attentions], [g[0].numpy() for g in grads])[pos]
    np.testing.assert_allclose(r.relevance, expected, atol=1e-4 * np.abs(expected).max(), rtol=0)
    np.testing.assert_allclose(r.raw_last, out.attentions[-1][0].mean(0)[pos].detach().numpy(), atol=1e-5)
    assert len(r.tokens) == len(ids) and r.top[0][0] == r.target_label
    assert all(not p.requires_grad and p.grad is None for p in lm.module.parameters())


def test_lm_errors(folder):
    _, bert = _lm(folder, "bert")
    with pytest.raises(ex.TextExplainError) as e:
        ex.lm_relevance(bert, "no mask in this text")
    assert e.value.code == "explain_text.no_mask"
    with pytest.raises(ex.TextExplainError) as e:
        ex.lm_ablate(bert, "the [MASK] sat", [(0, 0)], mask_index=1)
    assert e.value.code == "explain_text.bad_mask"
    with pytest.raises(ex.TextExplainError) as e:
        ex.lm_ablate(bert, "the [MASK] sat", [(0, 4)])
    assert e.value.code == "explain_text.bad_head"
    _, t5 = _lm(folder, "t5")
    with pytest.raises(ex.TextExplainError) as e:
        ex.lm_relevance(t5, "the cat")
    assert e.value.code == "explain_text.unsupported_family"


def _surgery_lm(lm, heads):
    module = copy.deepcopy(lm.module)
    twin = type(lm)(**{**lm.__dict__, "module": module})
    d = lm.head_dim
    with torch.no_grad():
        for layer, h in heads:
            proj = ex.lm_projections(twin)[layer]
            if isinstance(proj, torch.nn.Linear):
                proj.weight[:, h * d: (h + 1) * d] = 0
            else:  # GPT-2's Conv1D: weight (in, out)
                proj.weight[h * d: (h + 1) * d, :] = 0
    return module


def _surgery_lm_probs(lm, module, ids, pos):
    x = torch.tensor([ids])
    extra = {"use_cache": False} if lm.family == "decoder" else {}
    with torch.no_grad():
        return torch.softmax(module(input_ids=x, **extra).logits[0, pos].float(), -1)


@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama"])
def test_lm_ablation_and_importance_equal_weight_surgery(folder, kind):
    _, lm = _lm(folder, kind)
    text = TEXTS[kind]
    ids = lm.tokenizer(text)["input_ids"]
    pos = _position(lm, ids)
    heads = [(1, 2), (0, 1)]
    a = ex.lm_ablate(lm, text, heads)
    p = _surgery_lm_probs(lm, _surgery_lm(lm, heads), ids, pos)
    assert [t for t, _ in a.top] == [t for t, _ in ex._top(lm, p)]
    np.testing.assert_allclose([q for _, q in a.top], p.topk(5).values.numpy(), atol=1e-5)
    assert a.prob == pytest.approx(float(p[a.target]), abs=1e-5)
    base = _surgery_lm_probs(lm, lm.module, ids, pos)
    assert a.target == int(base.argmax()) and a.base_prob == pytest.approx(float(base.max()), abs=1e-5)
    seen = []
    imp = ex.lm_importance(lm, text, batch=3, progress=lambda d, n: seen.append((d, n)))
    assert imp.probs.shape == (2, 4) and seen[-1] == (8, 8) and len(seen) == 3
    assert imp.target == a.target and imp.base == pytest.approx(a.base_prob, abs=1e-6)
    for layer in range(2):
        for h in range(4):
            q = _surgery_lm_probs(lm, _surgery_lm(lm, [(layer, h)]), ids, pos)[imp.target]
            assert imp.probs[layer, h] == pytest.approx(float(q), abs=1e-5)
    assert not np.allclose(imp.probs, imp.base)  # switching a head off changes something


def test_codes_have_templates_in_both_languages():
    import re

    from babel.messages.pofile import read_po

    from ui.words.explain_text import TEMPLATES

    src = pathlib.Path(ex.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r'"(explain_text\.[a-z_]+)"', src))
    assert used and used <= set(TEMPLATES)
    po = pathlib.Path(__file__).resolve().parents[1] / "locale/zh_CN/LC_MESSAGES/messages.po"
    zh = {m.id: m.string for m in read_po(po.open("rb")) if m.id}
    for template in TEMPLATES.values():
        assert zh.get(str(template)), template
        assert set(re.findall(r"{(\w+)}", zh[str(template)])) == set(re.findall(r"{(\w+)}", str(template)))


def test_another_session_s_forward_meanwhile_is_unchanged(folder):
    """While one thread runs in gradient mode with a head switched off, a forward of the same model from another
    thread (another visitor) runs the fused path, records no weights, and gets the unablated output."""
    import threading

    from models.capture.hooks import hooks

    _, lm = _lm(folder, "gpt2")
    x = torch.tensor([lm.tokenizer(TEXTS["gpt2"])["input_ids"]])
    with torch.no_grad():
        plain = lm.module(input_ids=x, use_cache=False).logits.clone()
    other: dict = {}

    def run_other():
        with recording(model=lm.module) as rec, torch.no_grad():
            other["out"] = lm.module(input_ids=x, use_cache=False).logits
        other["weights"] = [r.weights for r in rec.records]

    def midway(mod, args):
        t = threading.Thread(target=run_other)
        t.start()
        t.join()

    proj = ex.lm_projections(lm)
    with recording(model=lm.module, gradients=True) as rec, hooks() as h, torch.no_grad():
        ex._apply(h, {proj[0]: torch.zeros(1, 1, lm.num_heads * lm.head_dim)})
        h.pre(lm.module.transformer.h[1], midway)
        ablated = lm.module(input_ids=x, use_cache=False).logits
    torch.testing.assert_close(other["out"], plain)
    assert len(other["weights"]) == 2 and all(w is None for w in other["weights"])
    assert len(rec.records) == 2 and all(r.weights is not None for r in rec.records)
    assert not torch.allclose(ablated, plain)


# ------------------------------------------------------------------------------ perturbation (tokens removed)
def test_seq2seq_removed_tokens_are_not_read_and_rows_match_one_by_one(reverse):
    """Removing a source token: its id no longer matters (nothing reads it), the others keep their positions, no
    removal gives the output's own probabilities, and a batch of rows equals the rows run one by one."""
    r = ex.seq2seq_relevance(reverse, "attention")
    s, t = len(r.source_ids), len(r.output_tokens)
    none = ex.seq2seq_removed_probs(reverse, r.source_ids, r.decoder_ids, range(t), np.zeros((t, s), bool))
    np.testing.assert_allclose(none, r.token_probs, atol=1e-5)
    removable = ex.seq2seq_removable(r.source_ids)
    assert removable.sum() == s - 1 and not removable[-1]  # </s> stays
    rng = np.random.default_rng(0)
    removed = (rng.random((12, s)) < 0.4) & removable
    steps = rng.integers(0, t, 12)
    batch = ex.seq2seq_removed_probs(reverse, r.source_ids, r.decoder_ids, steps, removed)
    one = [ex.seq2seq_removed_probs(reverse, r.source_ids, r.decoder_ids, [st], row[None])[0]
           for st, row in zip(steps, removed)]
    np.testing.assert_allclose(batch, one, atol=1e-5)
    other = list(r.source_ids)
    for j in np.flatnonzero(removed[0]):
        other[j] = reverse.source_vocab.index("z") if "z" in reverse.source_vocab else 4
    again = ex.seq2seq_removed_probs(reverse, other, r.decoder_ids, steps[:1], removed[:1])
    assert again[0] == pytest.approx(batch[0], abs=1e-6)
    assert batch.min() < none.min()  # removing tokens of a reversed word does change the output's probability


def test_seq2seq_relevance_order_beats_a_random_order(reverse):
    """On the trained reverse model, removing source tokens most relevant first lowers the written token's
    probability faster than a random order (a behaviour, not a formula: a broken map would not)."""
    pos, rnd = [], []
    for word in ("transformer", "attention", "heads"):
        r = ex.seq2seq_relevance(reverse, word)
        for t in range(len(r.output_tokens) - 1):
            out = ex.seq2seq_perturbation(reverse, r.source_ids, r.decoder_ids, t, {"relevance": r.relevance[t]},
                                          tuple(round(0.1 * i, 1) for i in range(10)))
            pos.append(out["maps"]["relevance"]["pos"])
            rnd.append(out["random"]["auc"])
    assert np.mean(pos) < np.mean(rnd) - 0.1


@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama"])
def test_lm_removed_tokens_equal_eager_with_the_attention_mask(folder, kind):
    """Context tokens removed through the attention mask: the probabilities equal transformers' eager model given the
    same mask; a removed token's id no longer matters; specials and the predicted position are never removed."""
    path, lm = _lm(folder, kind)
    r = ex.lm_relevance(lm, TEXTS[kind])
    removable = ex.lm_removable(lm, r.ids, r.position)
    assert not removable[r.position]
    special = set(lm.tokenizer.all_special_ids)
    assert all(not removable[i] for i, x in enumerate(r.ids) if x in special)
    rng = np.random.default_rng(1)
    removed = (rng.random((6, len(r.ids))) < 0.5) & removable
    removed[0] = False
    ours = ex.lm_removed_probs(lm, r.ids, r.position, r.target, removed)
    assert ours[0] == pytest.approx(r.target_prob, abs=1e-5)
    ref = lms.reference(path, kind, "eager")
    extra = {"use_cache": False} if kind != "bert" else {}
    x = torch.tensor([r.ids]).expand(6, -1)
    with torch.no_grad():
        logits = ref(input_ids=x, attention_mask=torch.as_tensor(~removed).long(), **extra).logits[:, r.position]
    np.testing.assert_allclose(ours, torch.softmax(logits, -1)[:, r.target].numpy(), atol=1e-5)
    other = list(r.ids)
    for j in np.flatnonzero(removed[1]):
        other[j] = (other[j] + 7) % lm.tokenizer.vocab_size if other[j] + 7 not in special else other[j]
    assert ex.lm_removed_probs(lm, other, r.position, r.target, removed[1:2])[0] == pytest.approx(ours[1], abs=1e-5)
    res = ex.lm_perturbation(lm, r, {"relevance": r.relevance}, (0.0, 0.5))
    assert res["removable"] == int(removable.sum()) and set(res["maps"]) == {"relevance"}
