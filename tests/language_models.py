"""Small random-weight models of each family, built from transformers' config classes into a folder with a
tokenizer (a WordPiece vocabulary written here), for the capture tests and others. Offline; seconds each."""
from __future__ import annotations

import pathlib

import torch

WORDS = ("the cat sat on mat dog ran a to in and is was it of he she they we you big small red blue green "
         "house tree car book read write see saw go went come came day night sun moon star sky sea").split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4: pad 0, cls 2 (bos), sep 3 (eos)
VOCAB = list(dict.fromkeys(SPECIALS + WORDS + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
                           + list("abcdefghijklmnopqrstuvwxyz.,!?")))

FAMILIES = ("bert", "roberta", "distilbert", "gpt2", "llama", "qwen2", "mistral", "t5", "bart", "marian")
SLIDING_WINDOW = 4


def _config(kind: str):
    from transformers import AutoConfig

    v = len(VOCAB)
    ids = dict(pad_token_id=0, bos_token_id=2, eos_token_id=3)
    small = dict(vocab_size=v, **ids)
    if kind == "bert":
        return AutoConfig.for_model("bert", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=128, max_position_embeddings=128, **small)
    if kind == "roberta":
        return AutoConfig.for_model("roberta", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=128, max_position_embeddings=130, **small)
    if kind == "distilbert":
        return AutoConfig.for_model("distilbert", dim=64, n_layers=2, n_heads=4, hidden_dim=128,
                                    max_position_embeddings=128, **small)
    if kind == "gpt2":
        return AutoConfig.for_model("gpt2", n_embd=64, n_layer=2, n_head=4, n_positions=128, **small)
    if kind in ("llama", "qwen2", "mistral"):
        extra = {"sliding_window": SLIDING_WINDOW} if kind == "mistral" else {}
        if kind == "qwen2":
            extra = {"use_sliding_window": False}
        return AutoConfig.for_model(kind, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=2, intermediate_size=128, max_position_embeddings=256,
                                    **small, **extra)
    if kind == "t5":
        return AutoConfig.for_model("t5", d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2,
                                    num_heads=4, relative_attention_num_buckets=8, decoder_start_token_id=0,
                                    vocab_size=v, pad_token_id=0, eos_token_id=3)
    if kind in ("bart", "marian"):
        return AutoConfig.for_model(kind, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                    decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                                    max_position_embeddings=128, decoder_start_token_id=2, forced_eos_token_id=None,
                                    **small)
    raise ValueError(kind)


def _model_class(kind: str):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM

    if kind in ("bert", "roberta", "distilbert"):
        return AutoModelForMaskedLM
    if kind in ("t5", "bart", "marian"):
        return AutoModelForSeq2SeqLM
    return AutoModelForCausalLM


def write_tokenizer(folder: pathlib.Path):
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)  # transformers 5: vocab=, not vocab_file=
    tok.save_pretrained(str(folder))
    return tok


def build(kind: str, folder: pathlib.Path, seed: int = 0, bare: bool = False) -> pathlib.Path:
    """Save a random `kind` model (with its LM head; bare=True: the base model only) and a tokenizer in
    folder/kind; returns that folder."""
    from transformers import AutoModel

    out = pathlib.Path(folder) / (kind + ("-bare" if bare else ""))
    if (out / "config.json").exists():
        return out
    cfg = _config(kind)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = (AutoModel if bare else _model_class(kind)).from_config(cfg)
        # random but not tiny: the attention maps differ from uniform
        for p in model.parameters():
            if p.dim() >= 2:
                torch.nn.init.normal_(p, std=0.2)
    model.eval()
    model.save_pretrained(str(out))
    write_tokenizer(out)
    return out


def reference(folder: pathlib.Path, kind: str, attn: str = "eager", bare: bool = False):
    """The same saved weights loaded by transformers with attn_implementation `attn` (the reference)."""
    from transformers import AutoModel

    cls = AutoModel if bare else _model_class(kind)
    return cls.from_pretrained(str(folder), attn_implementation=attn).eval()


def gpt2_long(folder: pathlib.Path, n_positions: int = 4096, layers: int = 12, heads: int = 12, d: int = 768):
    """A GPT-2-sized random model with long positions (memory tests)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    out = pathlib.Path(folder) / f"gpt2-{layers}x{heads}x{d}-{n_positions}"
    if (out / "config.json").exists():
        return out
    cfg = AutoConfig.for_model("gpt2", n_embd=d, n_layer=layers, n_head=heads, n_positions=n_positions,
                               vocab_size=len(VOCAB), pad_token_id=0, bos_token_id=2, eos_token_id=3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(cfg).save_pretrained(str(out))
    write_tokenizer(out)
    return out
