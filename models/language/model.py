"""The plain types shared by the language-model modules: a loaded model and one token as the page shows it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from models.messages import Notice

FAMILIES = ("encoder", "decoder", "encoder-decoder")
HEADS = ("masked-lm", "causal-lm", "seq2seq-lm")


@dataclass(frozen=True, eq=False)
class LanguageModel:
    """A text model ready to run: eval mode, gradients off, never changed after load (one cached model serves
    every session at once).

    For a transformers model, `module` is its PreTrainedModel loaded with attn_implementation="atlas"
    (models/language/capture.py: the fused SDPA kernel computes the outputs, and a call under `recording()`
    keeps what each layer's softmax needs). For our own demo ("demo:reverse"), `module` is the
    models.demo.text.TextModel and `tokenizer` is None.
    """

    name: str  # as asked: a Hub name, a local folder, "demo:<task>", or the bundled MiniLM's Hub name
    family: str  # one of FAMILIES
    head: str | None  # one of HEADS, or None: the base model only (its checkpoint has no LM head)
    module: Any
    tokenizer: Any
    source: Notice  # where the weights come from, for the page to word ("lm.source_*" codes)
    weights_source: str  # the same in English (downloads, logs)
    num_params: int
    num_layers: dict[str, int]  # per attention kind: {"self": 12} or {"encoder": 6, "decoder": 6, "cross": 6}
    num_heads: int  # query heads per layer
    num_kv_heads: int  # key/value heads (fewer with grouped-query attention)
    head_dim: int
    max_positions: int | None  # the longest input its position embeddings allow; None: no limit (T5, rotary)
    device: torch.device
    credit: Notice | None = None  # model, authors and licence, where the page shows the model
    details: dict = field(default_factory=dict)  # model_type, architecture class, sliding window, ...


@dataclass(frozen=True)
class Token:
    """One position of a sequence as the tokenizer cut it."""

    id: int  # the tokenizer's id (-1 where a demo token has none)
    piece: str  # as the tokenizer cut it ("Ġcat", "##ing", "▁the", "[CLS]")
    label: str  # readable: word-start markers removed, a continuing sub-word piece marked "##", bytes shown
    special: bool  # a special token ([CLS], [SEP], <s>, </s>, BOS, <pad>, [MASK])
    continuation: bool  # a sub-word piece that continues the previous token's word
