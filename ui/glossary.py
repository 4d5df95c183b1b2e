"""The terms of the field, in English and Chinese, with a definition and the page that draws each.

One list serves the glossary page and tests/test_i18n.py, which checks that every catalog entry naming a term
in English uses its Chinese term: 查询, 键, 值, 注意力头… are the same words everywhere in the app.
"""
from __future__ import annotations

from dataclasses import dataclass

from ui.i18n import N_


@dataclass(frozen=True)
class Term:
    en: str
    zh: str
    definition: str  # English, marked for the catalog; shown in the reader's language
    page: str  # where the app draws it
    pattern: str | None = None  # an English regex (word boundaries) whose catalog entries must use `zh`...
    must: str | None = None  # ...or this shorter form of it (头 for 注意力头: "第 3 个头")

    @property
    def required(self) -> str:
        return self.must or self.zh


TERMS = (
    Term("query", "查询", N_(
        "The vector a token uses to ask which tokens to read: q = x·W_Q. Its dot products with every key, divided "
        "by √d_k (d_k is the head's own width), are the scores of its row of the attention matrix."),
        "views/step_by_step.py", r"\bquer(y|ies)\b"),
    Term("key", "键", N_(
        "The vector each token offers to be matched against: k = x·W_K. A query's weight on a key is "
        "softmax(q·k/√d_k) over all keys."), "views/step_by_step.py", r"\bkeys?\b"),
    Term("value", "值", N_(
        "The vector a token passes on when it is attended to: v = x·W_V. A head's output for a query is the "
        "weighted sum of the values, with the query's attention weights."), "views/step_by_step.py", r"\bvalues?\b"),
    Term("attention head", "注意力头", N_(
        "One of the h attention functions a layer runs in parallel, each with its own W_Q, W_K, W_V of width "
        "d_k = d_model / h; their outputs are concatenated and mixed by W_O (Vaswani et al., 2017). Heads count "
        "from 1 here."), "views/encoder_decoder.py", r"\bheads?\b", must="头"),
    Term("layer", "层", N_(
        "One repetition of the stack. A Transformer encoder layer is self-attention and then a position-wise "
        "feed-forward network, each with a residual connection and layer normalisation. Layers count from 1 "
        "here."), "views/encoder_decoder.py", r"\blayers?\b"),
    Term("block", "块", N_(
        "What the ViT and Swin papers and timm call a layer: multi-head self-attention and an MLP, each after a "
        "LayerNorm and with a residual connection. Blocks count from 1 here."), "views/vit.py", r"\bblocks?\b"),
    Term("window", "窗口", N_(
        "Swin computes self-attention only among the M × M patches of one non-overlapping window (M = 7 in "
        "Swin-T), so its cost grows linearly with the image's area (Liu et al., 2021)."), "views/swin.py",
        r"\bwindows?\b"),
    Term("shifted window", "移位窗口", N_(
        "Every second Swin block moves the window partition by ⌊M/2⌋ patches, done as a cyclic shift of the "
        "feature map with a mask, so that information crosses the borders of the previous block's windows."),
        "views/swin.py", r"\bshifted windows?\b"),
    Term("relative position bias", "相对位置偏置", N_(
        "A learned bias added to each Swin head's scores before the softmax, softmax(QKᵀ/√d + B)V, looked up "
        "by the offset between the two patches within a window."), "views/swin.py", r"\brelative position bias"),
    Term("attention rollout", "注意力展开", N_(
        "Abnar & Zuidema (2020): each layer's attention, averaged over heads, is mixed with the identity for the "
        "residual path (0.5·A + 0.5·I) and the layers' matrices are multiplied, estimating how much of each "
        "input token reaches a token at the top. The 0.5 split is an assumption, not something the model "
        "computed."), "views/vit.py", r"\brollout\b"),
    Term("positional encoding", "位置编码", N_(
        "What tells the model where each token is. The Transformer adds fixed sinusoids of different "
        "frequencies to the embeddings; ViT adds learned position embeddings; Swin adds a relative position "
        "bias inside the attention instead."), "views/positional.py", r"\bpositional encodings?\b"),
    Term("mask", "掩码", N_(
        "Scores set to −∞ before the softmax, so that their weights are 0: the padding mask hides padding, the "
        "causal mask hides later tokens from the decoder, and Swin's mask keeps a shifted window from mixing "
        "patches that were not neighbours in the image."), "views/encoder_decoder.py", r"\bmask(s|ed)?\b"),
    Term("cross-attention", "交叉注意力", N_(
        "The decoder's second attention in each layer: its queries come from the decoder, its keys and values "
        "from the encoder's output, so that each output token can look at the input."),
        "views/encoder_decoder.py", r"\bcross-attention\b"),
    Term("self-attention", "自注意力", N_(
        "Attention in which queries, keys and values all come from the same sequence."),
        "views/encoder_decoder.py", r"(?<!-)\bself-attention\b"),
    Term("encoder", "编码器", N_(
        "The stack that reads the whole input at once with self-attention (every token sees every token)."),
        "views/encoder_decoder.py", r"\bencoder\b"),
    Term("decoder", "解码器", N_(
        "The stack that writes the output one token at a time, with masked self-attention over what it has "
        "written and cross-attention over the encoder's output."), "views/encoder_decoder.py", r"\bdecoder\b"),
    Term("patch", "图像块", N_(
        "ViT cuts the image into P × P squares (16 × 16 pixels in ViT-B/16); each is flattened and linearly "
        "projected into one token. Patch rows and columns are indices from 0 here."), "views/vit.py",
        r"\bpatch(es)?\b"),
    Term("token", "词元", N_(
        "One unit of what the model reads: a character or word piece of a text, or a patch of an image; each becomes "
        "one vector. Token positions are indices from 0 here."), "views/encoder_decoder.py", r"\btokens?\b"),
    Term("[CLS] token", "[CLS] 词元", N_(
        "A learned token put before the patches; ViT classifies from its output after the last block."),
        "views/vit.py", None),
    Term("stage", "阶段", N_(
        "Swin groups its blocks into four stages; between two stages, patch merging halves the grid's height "
        "and width and doubles the channels."), "views/swin.py", r"\bstages?\b"),
    Term("softmax", "softmax", N_(
        "softmax(s)_j = exp(s_j) / Σ_k exp(s_k): it turns a row of scores into weights that are positive and "
        "sum to 1."), "views/step_by_step.py", None),
)
