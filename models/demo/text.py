"""The demo text tasks of the encoder–decoder page: their data, vocabularies, load(task) and run(model, text).

Each task is a small sequence-to-sequence problem whose attention means something on screen:
`reverse` (cross-attention runs along the anti-diagonal), `dates` (each output digit looks at the characters
that carry it, whatever the style) and `translate` (a toy language with its own word order, so that the
alignment between source and target is not monotonic).

`run` returns plain data (numpy arrays and labels): one cached model serves every session and nothing is
stored on it.
"""
from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import pathlib
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from safetensors.torch import load_file

from models.capture.hooks import running
from models.demo import WEIGHTS_DIR
from models.messages import CodedError, Notice
from models.network.transformer import Transformer, TransformerConfig, make_model
from models.runtime import device as devices

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
PAD, BOS, EOS, UNK = range(4)
REPLACEMENT = "\ufffd"  # how an unknown character is written in a character-level output string


# --------------------------------------------------------------------------------------------------- tasks
@dataclass(frozen=True, eq=False)
class TextTask:
    """One demo task, everything about it in one place: what it reads and writes, how its input is read, the
    data it was trained on, and how to tell an input it never saw the like of. Registered once in TASKS."""

    name: str
    title: str
    description: str  # what the task is, shown on the page
    trained_on: str  # what its training data were, in plain words (said when an input falls outside them)
    examples: tuple[str, ...]  # example inputs for the page
    max_input_len: int  # tokens (characters or words) the model reads; longer input is truncated
    max_output_len: int  # tokens greedy decoding may produce, </s> included
    tokenization: str  # "char" or "word"
    source_symbols: tuple[str, ...]  # the source vocabulary after the specials
    target_symbols: tuple[str, ...]  # the target vocabulary after the specials
    sampler: Callable[[random.Random], tuple[str, str, str | None]]  # (input, expected output, held-out key)
    longest_trained: int  # the longest input (in tokens) its sampler can produce
    lowercase: bool = True  # normalisation: lower-cased and spaces collapsed, or only stripped
    check_format: Callable[[str, list[str]], "FormatCheck"] | None = None  # is the input a form it was trained on?
    check_output: Callable[[list[str]], Notice | None] | None = None  # is the output of the form it learned to write?
    lexicon: tuple[tuple[str, str, str], ...] = ()  # translate: (English, target word, part of speech)
    config: dict = field(default_factory=dict)  # the Transformer's size for this task (TransformerConfig fields)

    @property
    def unit(self) -> str:
        return "characters" if self.tokenization == "char" else "words"

    @property
    def source_vocab(self) -> list[str]:
        return SPECIALS + list(self.source_symbols)

    @property
    def target_vocab(self) -> list[str]:
        return SPECIALS + list(self.target_symbols)

    def normalize(self, text: str) -> str:
        """What the model reads of `text`: stripped; lower-cased with spaces collapsed when `lowercase`."""
        return " ".join(text.lower().split()) if self.lowercase else text.strip()

    def tokenize(self, text: str) -> list[str]:
        """Source tokens of normalized text: characters, or words and punctuation marks."""
        return _WORD.findall(text) if self.tokenization == "word" else list(text)

    def target_tokens(self, text: str) -> list[str]:
        """Target tokens of an output string, the inverse of `detokenize`."""
        if self.tokenization == "word":
            return text.split()
        return ["<unk>" if c == REPLACEMENT else c for c in text]

    def detokenize(self, tokens: list[str]) -> str:
        if self.tokenization == "word":
            return " ".join(tokens)
        return "".join(REPLACEMENT if t == "<unk>" else t for t in tokens)


TaskInfo = TextTask  # the former name

TASKS: dict[str, TextTask] = {}


def register(task: TextTask) -> TextTask:
    """Add a task to TASKS (once: a second task of the same name is an error)."""
    if task.name in TASKS:
        raise ValueError(f"a task named {task.name!r} is already registered")
    TASKS[task.name] = task
    return task


def task_of(task: "str | TextTask") -> TextTask:
    return task if isinstance(task, TextTask) else TASKS[task]


@dataclass(frozen=True)
class FormatCheck:
    """Whether an input is of a form the task's data sampler generates: `outside` is the reason when it is not
    (a Notice the page words); `note` an aside worth saying either way (e.g. how an ambiguous date is read)."""

    outside: Notice | None = None
    note: Notice | None = None


# The toy translation: English → "Zerin", a made-up verb-final language. Word for word, with its own order.
DETERMINERS = {"the": "ka", "a": "na", "an": "na", "this": "pe", "my": "mo"}
NOUNS = {
    "dog": "wubo", "cat": "misa", "bird": "tiku", "child": "nene", "teacher": "dalo", "farmer": "kopa",
    "king": "reju", "queen": "reja", "girl": "lina", "boy": "tamo", "horse": "hiba", "fox": "rusi",
    "owl": "huhu", "apple": "mela", "ball": "bolo", "book": "libu", "house": "kasa", "tree": "rupa",
    "river": "sungo", "garden": "jarda", "table": "meso", "box": "kesi", "chair": "sela", "car": "voko",
}
ADJECTIVES = {
    "big": "gora", "small": "piti", "red": "roda", "blue": "lazu", "old": "vega", "young": "nova",
    "happy": "feli", "sad": "trista", "quick": "rapa", "lazy": "pigra", "green": "vera", "tall": "alta",
}
# English present (3rd person singular), past → Zerin stem; the past adds the particle "ta" after the verb.
TRANSITIVE = {
    ("sees", "saw"): "mira", ("chases", "chased"): "kasu", ("likes", "liked"): "ama",
    ("helps", "helped"): "huta", ("finds", "found"): "trova", ("follows", "followed"): "segi",
    ("calls", "called"): "voka", ("pushes", "pushed"): "puza", ("carries", "carried"): "porta",
    ("watches", "watched"): "gaza",
}
INTRANSITIVE = {
    ("sleeps", "slept"): "dormi", ("runs", "ran"): "kuri", ("sings", "sang"): "kanta",
    ("waits", "waited"): "atendi", ("laughs", "laughed"): "rida", ("dances", "danced"): "balu",
}
PREPOSITIONS = {"in": "ni", "on": "ue", "near": "soba", "under": "sita", "behind": "ushi", "with": "to"}
PARTICLES = {"ga": "subject marker", "o": "object marker", "ta": "past tense", "ke": "relative clause ('that')"}


def _lexicon() -> tuple[tuple[str, str, str], ...]:
    rows = [(en, zr, "determiner") for en, zr in DETERMINERS.items()]
    rows += [(en, zr, "noun") for en, zr in NOUNS.items()]
    rows += [(en, zr, "adjective") for en, zr in ADJECTIVES.items()]
    for (pres, past), zr in TRANSITIVE.items():
        rows += [(pres, zr, "verb (transitive)"), (past, f"{zr} ta", "verb (transitive, past)")]
    for (pres, past), zr in INTRANSITIVE.items():
        rows += [(pres, zr, "verb (intransitive)"), (past, f"{zr} ta", "verb (intransitive, past)")]
    rows += [(en, zr, "preposition → postposition") for en, zr in PREPOSITIONS.items()]
    rows += [("that", "ke", "relative pronoun → clause-final particle"), (".", ".", "full stop")]
    rows += [("", zr, f"particle: {what}") for zr, what in PARTICLES.items() if zr != "ke"]
    return tuple(rows)


MONTHS = [calendar.month_name[m].lower() for m in range(1, 13)]
MONTH_ABBR = [calendar.month_abbr[m].lower() for m in range(1, 13)]
WEEKDAYS = [calendar.day_name[d].lower() for d in range(7)]  # Monday first, as date.weekday()
WEEKDAY_ABBR = [calendar.day_abbr[d].lower() for d in range(7)]
CN_DIGITS = "〇一二三四五六七八九"
CN_WEEKDAYS = ["一", "二", "三", "四", "五", "六", "日"]
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2099, 12, 31)
TWO_DIGIT_YEARS = "two-digit years follow the POSIX rule of Python's strptime: 69–99 → 1969–1999, 00–68 → 2000–2068"

_DATE_CHARS = sorted(
    set(" ,./-'" + string.digits + "".join(MONTHS + WEEKDAYS) + "stndrdthof" + "年月日星期天" + CN_DIGITS + "十")
)
_REVERSE_CHARS = [chr(c) for c in range(32, 127)]  # printable ASCII: letters, digits, punctuation, space


def _words(*tables) -> list[str]:
    out = []
    for table in tables:
        for key in table:
            out += list(key) if isinstance(key, tuple) else [key]
    return out


_TRANSLATE_SOURCE = _words(DETERMINERS, NOUNS, ADJECTIVES, TRANSITIVE, INTRANSITIVE, PREPOSITIONS) + ["that", "."]
_TRANSLATE_TARGET = sorted(
    set(DETERMINERS.values()) | set(NOUNS.values()) | set(ADJECTIVES.values()) | set(TRANSITIVE.values())
    | set(INTRANSITIVE.values()) | set(PREPOSITIONS.values()) | set(PARTICLES)
) + ["."]

# ----------------------------------------------------------------------------------------------- the model
class EmptyInput(CodedError):
    """The input has nothing to read (code text.empty_input; ui.messages.word words it for the reader)."""


class MissingCheckpoint(CodedError, FileNotFoundError):
    """No bundled checkpoint for the task (code text.missing_checkpoint, with the path and how to train one)."""


@dataclass(frozen=True, eq=False)
class TextModel:
    """A Transformer ready for one task: eval mode, gradients off, never changed after load."""

    task: str
    info: TextTask
    transformer: Transformer
    source_vocab: list[str]
    target_vocab: list[str]
    metadata: dict  # the checkpoint's JSON (config, vocabularies, seed, steps, measured exact match...)
    weights_source: str  # said on screen
    device: torch.device

    @property
    def source_index(self) -> dict[str, int]:
        return {tok: i for i, tok in enumerate(self.source_vocab)}


@dataclass
class TextTrace:
    """Everything the page draws for one input, as numpy arrays and labels."""

    task: str
    input_text: str
    output: str  # the decoded text, without </s>
    source_tokens: list[str]  # labels of the encoder positions (</s> and any <pad> included)
    target_tokens: list[str]  # labels of the decoder input positions: <s> then the output shifted right
    output_tokens: list[str]  # the token produced at each decoder position (ends with </s> when decoding ended)
    encoder_attention: list[np.ndarray]  # per layer (heads, S, S)
    decoder_attention: list[np.ndarray]  # per layer (heads, T, T), upper triangle exactly 0
    cross_attention: list[np.ndarray]  # per layer (heads, T, S)
    source_mask: np.ndarray  # (S,) bool, True = real token
    causal_mask: np.ndarray  # (T, T) bool, True = may attend
    step_top_k: list[list[tuple[str, float]]]  # per decoder position, the 5 most probable tokens
    truncated: bool
    unknown: list[str]  # characters or words outside the vocabulary, first appearance first (escaped, cut at 40)
    messages: list[Notice]  # notes for the user (padding, how an ambiguous input is read), worded by the app
    weights_source: str
    token_probs: list[float] = field(default_factory=list)  # the probability of each output token, as written
    confidence: float = 1.0  # the lowest of token_probs: how sure the model was of its least sure token
    confidence_step: int = 0  # where that was: an index into output_tokens (step confidence_step + 1)
    outside: list[Notice] = field(default_factory=list)  # why the input or output is outside its training data


LOW_CONFIDENCE = 0.5  # below even odds for its least sure token; on held-out data 99 % of inputs stay above 0.9


def load(task: str, device: str | torch.device = "cpu", weights: str = "demo") -> TextModel:
    """A model for `task`. weights: "demo" (the bundled checkpoint), "random" (untrained, seed 0, for
    inspecting the mechanics) or a path to a .safetensors file with its .json beside it."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    info = TASKS[task]
    dev = devices.resolve(device) if isinstance(device, str) else torch.device(device)
    if weights == "random":
        src_vocab, tgt_vocab = info.source_vocab, info.target_vocab
        cfg = TransformerConfig(src_vocab=len(src_vocab), tgt_vocab=len(tgt_vocab), pad_id=PAD, **info.config)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = make_model(cfg)
        meta = {"task": task, "config": cfg.to_dict(), "source_vocab": src_vocab, "target_vocab": tgt_vocab}
        source = "random weights (untrained, seed 0)"
    else:
        path = WEIGHTS_DIR / f"{task}.safetensors" if weights == "demo" else pathlib.Path(weights)
        meta_path = path.with_suffix(".json")
        if not path.exists() or not meta_path.exists():
            where, command = str(path), f"python -m models.demo.train {task}"
            raise MissingCheckpoint("text.missing_checkpoint", path=where, command=command)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("task") != task:
            raise ValueError(f"{meta_path.name} is a checkpoint for {meta.get('task')!r}, not {task!r}")
        src_vocab, tgt_vocab = list(meta["source_vocab"]), list(meta["target_vocab"])
        model = Transformer(TransformerConfig(**meta["config"]))
        model.load_state_dict(load_file(str(path), device="cpu"), strict=True)
        score = meta.get("exact_match")
        if weights == "demo":
            source = f"demo checkpoint '{task}'"
        else:
            source = f"file {path.name}"
        if score is not None:
            source += f" (exact match {score:.3f} on {meta.get('eval_examples', 1000):,} held-out examples)"
    model.eval().requires_grad_(False).to(dev)
    return TextModel(task, info, model, src_vocab, tgt_vocab, meta, source, dev)


def vocabulary(model: TextModel) -> dict[str, list[str]]:
    """The tokens the model knows, specials first: {"source": [...], "target": [...]}."""
    return {"source": list(model.source_vocab), "target": list(model.target_vocab)}


# ------------------------------------------------------------------------------------------ tokenization
_WORD = re.compile(r"\w+|[^\w\s]")


def normalize(task: "str | TextTask", text: str) -> str:
    """What the model reads of `text` (TextTask.normalize)."""
    return task_of(task).normalize(text)


def tokenize(task: "str | TextTask", text: str) -> list[str]:
    """Source tokens of normalized text: characters, or words and punctuation marks."""
    return task_of(task).tokenize(text)


def target_tokens(task: "str | TextTask", text: str) -> list[str]:
    """Target tokens of an output string, the inverse of `detokenize`."""
    return task_of(task).target_tokens(text)


def detokenize(task: "str | TextTask", tokens: list[str]) -> str:
    return task_of(task).detokenize(tokens)


def _source_vocab(task: "str | TextTask") -> list[str]:
    return task_of(task).source_vocab


def _target_vocab(task: "str | TextTask") -> list[str]:
    return task_of(task).target_vocab


def _shown(token: str, limit: int = 40) -> str:
    """An unknown character or word as the user can read it: control characters escaped, long words cut."""
    token = token if token.isprintable() else repr(token)[1:-1]
    return token if len(token) <= limit else token[:limit] + "…"


def encode(model: TextModel, text: str) -> tuple[list[int], list[str], bool, list[str], list[str]]:
    """text → (source ids ending with </s>, their labels, truncated, unknown tokens, messages).

    Raises EmptyInput for empty or whitespace-only text.
    """
    return _encode(model.info, model.source_index, text)


def _encode(info: TaskInfo, index: dict[str, int], text: str):
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise EmptyInput("text.empty_input")
    messages = []
    # Read at most a generous prefix first, so that a huge paste costs nothing.
    limit = info.max_input_len * (1 if info.tokenization == "char" else 64) + 1
    head = text if len(text) <= 4 * limit else text[: 4 * limit]
    tokens = tokenize(info.name, normalize(info.name, head))
    truncated = len(tokens) > info.max_input_len or len(head) < len(text)
    if truncated:
        if info.tokenization == "char":
            n = len(text) if len(head) < len(text) else len(tokens)
            messages.append(Notice("text.too_long_chars", n=n, limit=info.max_input_len))
        elif len(head) < len(text):
            n = len(text)
            messages.append(Notice("text.too_long_paste", n=n, limit=info.max_input_len))
        else:
            n = len(tokens)
            messages.append(Notice("text.too_long_words", n=n, limit=info.max_input_len))
        tokens = tokens[: info.max_input_len]
    unknown = list(dict.fromkeys(_shown(t) for t in tokens if t not in index))
    if unknown:
        listed = ", ".join(f"'{t}'" for t in unknown[:20]) + (" ..." if len(unknown) > 20 else "")
        messages.append(Notice("text.unknown", tokens=listed))
    ids = [index.get(t, UNK) for t in tokens] + [EOS]
    labels = [t if t in index else "<unk>" for t in tokens] + ["</s>"]
    return ids, labels, truncated, unknown, messages


def decode_batch(model: TextModel, texts: list[str], batch_size: int = 250) -> list[str]:
    """Greedy outputs for many inputs at once, in their order (padded batches of similar lengths; padding
    never changes a real token's output)."""
    encoded = [encode(model, t)[0] for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in chunk)
        rows = [encoded[i] + [PAD] * (width - len(encoded[i])) for i in chunk]
        with torch.inference_mode():
            src = torch.tensor(rows, dtype=torch.long, device=model.device)
            ys = model.transformer.greedy_decode(src, BOS, EOS, model.info.max_output_len).cpu().tolist()
        for i, row in zip(chunk, ys):
            out = []
            for token in row[1:]:
                if token in (EOS, PAD):
                    break
                out.append(model.target_vocab[token])
            outputs[i] = detokenize(model.task, out)
    return outputs


def run(model: TextModel, text: str, pad_to: int | None = None) -> TextTrace:
    """Greedy decoding of `text`, with every attention weight of one forward pass over <s> + the output.

    By causality, row t of the decoder and cross attention is exactly what the decoder computed when it
    produced output token t. pad_to pads the source with <pad> up to that length, to show the padding mask.
    """
    ids, labels, truncated, unknown, messages = encode(model, text)
    tf, cfg = model.transformer, model.transformer.cfg
    if pad_to is not None and pad_to > len(ids):
        if pad_to > cfg.max_len:
            messages.append(Notice("text.padding_limited", max_len=cfg.max_len))
            pad_to = cfg.max_len
        labels += ["<pad>"] * (pad_to - len(ids))
        ids += [PAD] * (pad_to - len(ids))
    with running(), torch.inference_mode():  # not while torch.fx traces a vision model (models/capture/hooks.py)
        src = torch.tensor([ids], dtype=torch.long, device=model.device)
        ys = tf.greedy_decode(src, BOS, EOS, model.info.max_output_len)[0].tolist()  # <s> t1 ... tn
        out_ids = ys[1:]
        logits, att = tf(src, torch.tensor([ys[:-1]], dtype=torch.long, device=model.device))
        probs = logits[0].float().softmax(-1)  # (T, V)
        top_p, top_i = probs.topk(min(5, probs.size(-1)), dim=-1)
        top_p, top_i = top_p.cpu().tolist(), top_i.cpu().tolist()
        enc = [w[0].float().cpu().numpy() for w in att.encoder]
        dec = [w[0].float().cpu().numpy() for w in att.decoder]
        cross = [w[0].float().cpu().numpy() for w in att.cross]
        token_probs = probs[torch.arange(len(out_ids), device=probs.device), torch.tensor(out_ids, device=probs.device)]
        token_probs = token_probs.cpu().tolist()
    vocab = model.target_vocab
    output_tokens = [vocab[i] for i in out_ids]
    words = [t for t in output_tokens if t != "</s>"]
    t = len(ys) - 1
    weakest = min(range(len(token_probs)), key=token_probs.__getitem__)
    # The notes on length and vocabulary said by encode are reasons too: they go with the others.
    messages, said = [m for m in messages if m.code not in _REASON_CODES], [
        m for m in messages if m.code in _REASON_CODES]
    outside, note = assess(model.info, text, words, ended=bool(out_ids) and out_ids[-1] == EOS,
                           confidence=(token_probs[weakest], weakest, output_tokens[weakest]))
    if note:
        messages.append(note)
    return TextTrace(
        task=model.task,
        input_text=text,
        output=detokenize(model.task, words),
        source_tokens=labels,
        target_tokens=[vocab[i] for i in ys[:-1]],
        output_tokens=output_tokens,
        encoder_attention=enc,
        decoder_attention=dec,
        cross_attention=cross,
        source_mask=np.asarray([i != PAD for i in ids], dtype=bool),
        causal_mask=np.tril(np.ones((t, t), dtype=bool)),
        step_top_k=[[(vocab[i], float(p)) for i, p in zip(ii, pp)] for ii, pp in zip(top_i, top_p)],
        truncated=truncated,
        unknown=unknown,
        messages=messages,
        weights_source=model.weights_source,
        token_probs=token_probs,
        confidence=token_probs[weakest],
        confidence_step=weakest,
        outside=said + outside,
    )


_REASON_CODES = {"text.too_long_chars", "text.too_long_words", "text.too_long_paste", "text.unknown"}


def assess(task: "str | TextTask", text: str, output: list[str], ended: bool,
           confidence: tuple[float, int, str] | None = None) -> tuple[list[Notice], Notice | None]:
    """Why this input or the model's output lies outside what the task was trained on, as Notices, and a
    note worth saying either way. output: the written tokens without </s>; ended: whether it wrote </s>;
    confidence: (lowest token probability, its 0-based step, the token). Length and vocabulary are said by
    `encode`; this adds the form of the input, the length, the end token, the form of the output and the
    confidence."""
    task = task_of(task)
    reasons, note = [], None
    normalized = task.normalize(text)
    tokens = task.tokenize(normalized)
    if task.longest_trained < len(tokens) <= task.max_input_len:
        n, longest = len(tokens), task.longest_trained
        if task.tokenization == "char":
            reasons.append(Notice("text.longer_than_trained_chars", n=n, longest=longest))
        else:
            reasons.append(Notice("text.longer_than_trained_words", n=n, longest=longest))
    if task.check_format is not None and len(tokens) <= task.max_input_len:
        check = task.check_format(normalized, tokens)
        if check.outside:
            reasons.append(check.outside)
        note = check.note
    if not ended:
        n = len(output)
        reasons.append(Notice("text.no_end", n=n))
    elif task.check_output is not None:
        wrong = task.check_output(output)
        if wrong:
            reasons.append(wrong)
    if confidence is not None and confidence[0] < LOW_CONFIDENCE:
        p, step, token = confidence
        reasons.append(Notice("text.low_confidence", token=token, step=step + 1, p=p))
    return reasons, note


# ------------------------------------------------------------------------------------------------- data
# Every example is (what a person types, the exact output string expected). Training and evaluation draw
# from the same generators with different seeds; for dates and translate a stable hash also sets one in
# ten calendar days / sentences aside, so that held-out examples are never seen in training.
TRAIN, HELDOUT = "train", "heldout"


def _held_out(task: str, key: str) -> bool:
    digest = hashlib.blake2b(f"{task}:{key}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10 == 0


def examples(task: str, n: int, seed: int, split: str = TRAIN) -> list[tuple[str, str]]:
    """n (input, expected output) pairs of `task`, reproducible from `seed`, from the given split."""
    if split not in (TRAIN, HELDOUT):
        raise ValueError(f"split must be {TRAIN!r} or {HELDOUT!r}")
    rng, out = random.Random(f"{task}/{seed}/{split}"), []
    while len(out) < n:
        source, target, key = TASKS[task].sampler(rng)
        if key is None or _held_out(task, key) == (split == HELDOUT):
            out.append((source, target))
    return out


# reverse ------------------------------------------------------------------------------------------------
# Chinese: the 3,500 characters of level 1 of the Table of General Standard Chinese Characters (2013), in the
# table's order, and the full-width punctuation Chinese text is written with (typed "你好，世界!" has a "，").
_GSCC_PATH = pathlib.Path(__file__).resolve().parent / "data" / "gscc_level1.txt"
GSCC_LEVEL1 = [line.strip() for line in _GSCC_PATH.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
_CN_PUNCTUATION = list("，。、；：？！“”‘’（）《》【】…—·")
_REVERSE_CN = GSCC_LEVEL1 + _CN_PUNCTUATION
# Outside the vocabulary, for the <unk> path: level-2 and traditional characters, kana, accented Latin, emoji.
_OUTSIDE = ["é", "ü", "ñ", "ß", "€", "乂", "亍", "們", "這", "學", "の", "😀", "«", "Ω", "\t"]
_SYLLABLES = ["th", "e", "an", "re", "on", "at", "en", "nd", "ti", "es", "or", "te", "of", "ed", "is", "it", "al",
              "ar", "st", "to", "nt", "ng", "se", "ha", "a", "i", "o", "u", "y", "ck", "ll", "ee", "oo", "ss"]
REVERSE_KINDS = ("ascii", "chinese", "mixed")


def _ascii_word(rng: random.Random) -> str:
    """A word-like run of printable ASCII: syllables (maybe capitalised), a number or punctuation."""
    kind = rng.random()
    if kind < 0.75:
        w = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4)))
        return w.capitalize() if rng.random() < 0.2 else w.upper() if rng.random() < 0.05 else w
    if kind < 0.9:
        return str(rng.randint(0, 10 ** rng.randint(1, 5)))
    return rng.choice(string.punctuation) * rng.randint(1, 2)


def _chinese_run(rng: random.Random, length: int) -> str:
    """Text-like Chinese: words of 1 to 4 characters drawn uniformly from the 3,500 (so that every character is
    seen about as often), now and then a full-width punctuation mark."""
    out = ""
    while len(out) < length:
        out += "".join(rng.choice(GSCC_LEVEL1) for _ in range(rng.choice((1, 2, 2, 2, 3, 4))))
        if rng.random() < 0.15:
            out += rng.choice(_CN_PUNCTUATION)
    return out[:length]


def _reverse_ascii(rng: random.Random, length: int) -> list[str]:
    style = rng.random()
    if style < 0.45:  # any printable ASCII character, uniformly
        return [rng.choice(_REVERSE_CHARS) for _ in range(length)]
    if style < 0.85:  # text-like: words, capitals, digits, punctuation
        words = []
        while sum(len(w) + 1 for w in words) < length:
            words.append(_ascii_word(rng) + (rng.choice(",.;:!?") if rng.random() < 0.1 else ""))
        return list(" ".join(words)[:length])
    # few distinct characters, many repeats: position, not content, must decide
    alphabet = rng.sample(_REVERSE_CHARS, rng.randint(1, 3))
    return [rng.choice(alphabet) for _ in range(length)]


def _reverse_chinese(rng: random.Random, length: int) -> list[str]:
    style = rng.random()
    if style < 0.4:  # any of the 3,500 characters and the punctuation, uniformly
        return [rng.choice(_REVERSE_CN) for _ in range(length)]
    if style < 0.85:  # text-like runs
        return list(_chinese_run(rng, length))
    alphabet = rng.sample(GSCC_LEVEL1, rng.randint(1, 3))  # few distinct characters, many repeats
    return [rng.choice(alphabet) for _ in range(length)]


def _reverse_mixed(rng: random.Random, length: int) -> list[str]:
    """Chinese with ASCII words, digits and punctuation, as students type: "注意力 is all you need 2017"."""
    while True:
        parts, chinese = [], rng.random() < 0.5
        while sum(map(len, parts)) < length:
            if chinese:
                parts.append(_chinese_run(rng, rng.randint(1, 8)))
            else:
                parts.append(" ".join(_ascii_word(rng) for _ in range(rng.choice((1, 1, 1, 2, 3)))))
            chinese = not chinese
            if rng.random() < 0.5:
                parts.append(rng.choice((" ", " ", " ", ", ", ": ", "：", "，", "-")))
        chars = list("".join(parts)[:length])
        if length < 2 or (any(c in _REVERSE_CN_SET for c in chars) and any(c in _REVERSE_SET for c in chars)):
            return chars


def reverse_kind(text: str) -> str:
    """"ascii", "chinese" or "mixed": which of the reverse task's two alphabets `text` uses (a string of
    neither, only characters outside the vocabulary, counts as ascii)."""
    has_cn = any(c in _REVERSE_CN_SET for c in text)
    has_ascii = any(c in _REVERSE_SET for c in text)
    return "mixed" if has_cn and has_ascii else "chinese" if has_cn else "ascii"


def _reverse_sample(rng: random.Random) -> tuple[str, str, None]:
    limit = 32  # the task's max_input_len
    while True:
        # P(length) ∝ length: every (length, position) pair is seen about equally often, long inputs included.
        length = rng.choices(range(1, limit + 1), weights=range(1, limit + 1))[0]
        kind = rng.random()  # a third each: ASCII, Chinese, the two mixed
        sampler = _reverse_ascii if kind < 1 / 3 else _reverse_chinese if kind < 2 / 3 else _reverse_mixed
        chars = sampler(rng, length)
        if rng.random() < 0.15:  # a few characters outside the vocabulary
            for _ in range(rng.randint(1, 2)):
                chars[rng.randrange(len(chars))] = rng.choice(_OUTSIDE)
        text = "".join(chars).strip()
        if text:
            return text, "".join(c if c in _REVERSE_VOCAB_SET else REPLACEMENT for c in reversed(text)), None


_REVERSE_SET = set(_REVERSE_CHARS)
_REVERSE_CN_SET = set(_REVERSE_CN)
_REVERSE_VOCAB_SET = _REVERSE_SET | _REVERSE_CN_SET
assert len(GSCC_LEVEL1) == 3500 and not _REVERSE_SET & _REVERSE_CN_SET and not _REVERSE_VOCAB_SET & set(_OUTSIDE)


# dates --------------------------------------------------------------------------------------------------
def _ordinal(d: int) -> str:
    suffix = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suffix}"


def _cn_number(n: int) -> str:
    """1..31 in Chinese numerals: 十 = 10, 十一 = 11, 二十 = 20, 二十一 = 21."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else "十" if tens == 1 else CN_DIGITS[tens] + "十"
    return head + (CN_DIGITS[ones] if ones else "") if n >= 10 else CN_DIGITS[n]


def _date_text(rng: random.Random, day: dt.date, style: int) -> str:
    y, m, d = day.year, day.month, day.day
    wd = day.weekday()

    def case(word: str) -> str:
        r = rng.random()
        return word.capitalize() if r < 0.6 else word if r < 0.85 else word.upper()

    def month(abbr_ok: bool = True) -> str:
        if abbr_ok and rng.random() < 0.5:
            name = "sept" if m == 9 and rng.random() < 0.3 else MONTH_ABBR[m - 1]
            return case(name) + ("." if rng.random() < 0.25 and name != "may" else "")
        return case(MONTHS[m - 1])

    def weekday() -> str:
        return case(WEEKDAY_ABBR[wd]) if rng.random() < 0.4 else case(WEEKDAYS[wd])

    def num(n: int) -> str:
        return f"{n:02d}" if rng.random() < 0.4 else str(n)

    yy = f"{y % 100:02d}"
    comma = "," if rng.random() < 0.8 else ""
    if style == 0:
        return f"{num(d)} {month()} {y}"
    if style == 1:
        return f"{month()} {_ordinal(d) if rng.random() < 0.4 else d}{comma} {y}"
    if style == 2:
        return rng.choice([f"{month()} {d}, '{yy}", f"{d} {month()} '{yy}"])
    if style == 3:
        return f"{num(m)}/{num(d)}/{rng.choice([yy, str(y)])}"
    if style == 4:
        return f"{num(d)}.{num(m)}.{rng.choice([yy, str(y), str(y)])}"
    if style == 5:
        return rng.choice([f"{y}/{num(m)}/{num(d)}", f"{y}-{m:02d}-{d:02d}", f"{y}-{m:02d}-{d:02d}",
                           f"{y}{m:02d}{d:02d}"])
    if style == 6:
        return rng.choice([
            f"{weekday()}, {num(d)} {month()} {y}",
            f"{weekday()} {d} {month()} {y}",
            f"{weekday()}, {month()} {_ordinal(d) if rng.random() < 0.5 else d}{comma} {y}",
        ])
    if style == 7:
        the = case("the") + " " if rng.random() < 0.7 else ""
        return rng.choice([f"{the}{_ordinal(d)} of {month(False)}{comma} {y}", f"{_ordinal(d)} {month()} {y}"])
    if style == 8:
        return f"{num(d)}-{month()}-{rng.choice([yy, str(y)])}".replace(".-", "-")
    sp = " " if rng.random() < 0.15 else ""
    week = ""
    if rng.random() < 0.3:
        week = ((" " if rng.random() < 0.5 else "") + "星期"
                + ("天" if wd == 6 and rng.random() < 0.5 else CN_WEEKDAYS[wd]))
    if style == 9:
        return f"{y}{sp}年{sp}{num(m)}{sp}月{sp}{num(d)}{sp}日{week}"
    if style == 10:
        return f"{yy}年{m}月{d}日{week}"
    year = "".join(CN_DIGITS[int(c)] for c in str(y))
    return f"{year}年{_cn_number(m)}月{_cn_number(d)}日{week}"


_DATE_STYLE_WEIGHTS = [10, 12, 6, 10, 8, 10, 10, 8, 5, 12, 3, 6]
_TWO_DIGIT = (dt.date(1969, 1, 1).toordinal(), dt.date(2068, 12, 31).toordinal())


def _dates_sample(rng: random.Random) -> tuple[str, str, str]:
    style = rng.choices(range(len(_DATE_STYLE_WEIGHTS)), _DATE_STYLE_WEIGHTS)[0]
    lo, hi = FIRST_DATE.toordinal(), LAST_DATE.toordinal()
    text = None
    while text is None:
        day = dt.date.fromordinal(rng.randint(lo, hi))
        text = _date_text(rng, day, style)
        if "'" in text or re.search(r"(^|[^\d])\d\d($|年)", text) and not re.search(r"\d{4}", text):
            if not _TWO_DIGIT[0] <= day.toordinal() <= _TWO_DIGIT[1]:
                text = None  # a two-digit year outside 1969–2068 would read as another century
    return text, day.isoformat(), day.isoformat()


# translate ----------------------------------------------------------------------------------------------
_VOWELS = "aeiou"
_SOURCE_WORDS = set(_TRANSLATE_SOURCE)


def _pseudo_word(rng: random.Random) -> str:
    while True:
        w = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 8)))
        if w not in _SOURCE_WORDS:
            return w


def _noun_phrase(rng: random.Random, max_adj: int, p_unk: float = 0.03) -> tuple[list[str], list[str]]:
    """English: det adj* noun. Zerin mirrors it: noun adj* det (the adjectives in reverse order)."""
    det = rng.choice(["the", "the", "a", "this", "my"])
    adjs = rng.sample(sorted(ADJECTIVES), rng.randint(0, max_adj))
    noun = rng.choice(sorted(NOUNS))
    en_words, zr_words = [], []
    for w, table in [(a, ADJECTIVES) for a in adjs] + [(noun, NOUNS)]:
        if rng.random() < p_unk:
            en_words.append(_pseudo_word(rng)), zr_words.append("<unk>")
        else:
            en_words.append(w), zr_words.append(table[w])
    if det == "a" and en_words[0][0] in _VOWELS:
        det = "an"
    return [det] + en_words, zr_words[::-1][:1] + zr_words[:-1][::-1] + [DETERMINERS[det]]


def _verb(rng: random.Random, table: dict) -> tuple[str, list[str]]:
    (present, past), stem = rng.choice(sorted(table.items()))
    return (past, [stem, "ta"]) if rng.random() < 0.5 else (present, [stem])


def _relative_clause(rng: random.Random) -> tuple[list[str], list[str]]:
    """'that' verb object → Zerin object o verb (ta) ke, placed before the noun it describes."""
    verb, zr_verb = _verb(rng, TRANSITIVE)
    obj_en, obj_zr = _noun_phrase(rng, 1)
    return ["that", verb] + obj_en, obj_zr + ["o"] + zr_verb + ["ke"]


def _prepositional(rng: random.Random) -> tuple[list[str], list[str]]:
    """preposition + noun phrase → noun phrase + postposition."""
    prep = rng.choice(sorted(PREPOSITIONS))
    np_en, np_zr = _noun_phrase(rng, 1)
    return [prep] + np_en, np_zr + [PREPOSITIONS[prep]]


def _translate_sample(rng: random.Random) -> tuple[str, str, str]:
    subj_en, subj_zr = _noun_phrase(rng, 2)
    r = rng.random()
    if r < 0.2:  # the subject gets a prepositional phrase: "the cat on the table"
        mod_en, mod_zr = _prepositional(rng)
        subj_en, subj_zr = subj_en + mod_en, mod_zr + subj_zr
    elif r < 0.4:  # or a relative clause: "the dog that chased a cat"
        mod_en, mod_zr = _relative_clause(rng)
        subj_en, subj_zr = subj_en + mod_en, mod_zr + subj_zr
    en, zr = list(subj_en), subj_zr + ["ga"]
    adverbial = rng.random() < 0.35
    if rng.random() < 0.65:
        verb, zr_verb = _verb(rng, TRANSITIVE)
        obj_en, obj_zr = _noun_phrase(rng, 2)
        if rng.random() < 0.25:  # a relative clause on the object; then no adverbial, which would be ambiguous
            mod_en, mod_zr = _relative_clause(rng)
            obj_en, obj_zr, adverbial = obj_en + mod_en, mod_zr + obj_zr, False
        en += [verb] + obj_en
        zr += obj_zr + ["o"]
    else:
        verb, zr_verb = _verb(rng, INTRANSITIVE)
        en.append(verb)
        adverbial = rng.random() < 0.5
    if adverbial:
        pp_en, pp_zr = _prepositional(rng)
        en += pp_en
        zr += pp_zr
    zr += zr_verb
    sentence = " ".join(en)
    if rng.random() < 0.5:
        sentence, zr = sentence + ".", zr + ["."]
    return sentence, " ".join(zr), sentence



# ------------------------------------------------------------------------- what the samplers generate
# Each task's data sampler writes its inputs in a few forms only. These recognisers accept exactly those forms
# (tests/test_text.py runs them over thousands of sampled inputs), so an input they reject is one the model
# never saw the like of in training, and the reason can be said in plain words.

_MONTH_NUMBER = {name: i + 1 for i, name in enumerate(MONTHS)} | {a: i + 1 for i, a in enumerate(MONTH_ABBR)}
_MONTH_NUMBER["sept"] = 9
_WEEKDAY_NUMBER = {name: i for i, name in enumerate(WEEKDAYS)} | {a: i for i, a in enumerate(WEEKDAY_ABBR)}
_CN_VALUE = {_cn_number(n): n for n in range(1, 32)}
_ABBR = "|".join(sorted({a for a in MONTH_ABBR if a != "may"} | {"sept"}, key=len, reverse=True))
_FULL = "|".join(MONTHS)
_MON = rf"(?P<mon>(?:{_ABBR})\.?|{_FULL})"  # an abbreviation, maybe with a full stop (never "may."), or the name
_MON_FULL = rf"(?P<mon>{_FULL})"
_MON_NO_DOT = rf"(?P<mon>{_ABBR}|{_FULL})"
_WD = "(?P<wd>" + "|".join(WEEKDAYS + WEEKDAY_ABBR) + ")"
_D = r"(?P<d>\d\d|[1-9])"  # the day as 21, 05 or 5
_D_PLAIN = r"(?P<d>[1-9]\d?)"  # the day as 21 or 5 (never 05)
_D_ORD = r"(?P<d>[1-9]\d?)(?P<suffix>st|nd|rd|th)"
_D_MAYBE_ORD = r"(?P<d>[1-9]\d?)(?P<suffix>st|nd|rd|th)?"
_M = r"(?P<m>\d\d|[1-9])"
_Y = r"(?:(?P<y>\d{4})|(?P<yy>\d\d))"
_Y4 = r"(?P<y>\d{4})"
_WEEK = r"(?P<week> ?星期[一二三四五六日天])?"
_CN = "[〇一二三四五六七八九十]"
_DATE_FORMS = [re.compile(f"^{p}$") for p in (
    rf"{_D} {_MON} {_Y4}",
    rf"{_MON} {_D_MAYBE_ORD},? {_Y4}",
    rf"{_MON} {_D_PLAIN}, '(?P<yy>\d\d)",
    rf"{_D_PLAIN} {_MON} '(?P<yy>\d\d)",
    rf"{_M}/{_D}/{_Y}",  # month/day/year: the only slash order with the year last
    rf"{_D}\.{_M}\.{_Y}",  # day.month.year
    rf"{_Y4}/{_M}/{_D}",
    rf"{_Y4}-(?P<m>\d\d)-(?P<d>\d\d)",
    rf"{_Y4}(?P<m>\d\d)(?P<d>\d\d)",
    rf"{_WD}, {_D} {_MON} {_Y4}",
    rf"{_WD} {_D_PLAIN} {_MON} {_Y4}",
    rf"{_WD}, {_MON} {_D_MAYBE_ORD},? {_Y4}",
    rf"(?:the )?{_D_ORD} of {_MON_FULL},? {_Y4}",
    rf"{_D_ORD} {_MON} {_Y4}",
    rf"{_D}-{_MON_NO_DOT}-{_Y}",
    rf"{_Y4}(?P<sp> ?)年(?P=sp){_M}(?P=sp)月(?P=sp){_D}(?P=sp)日{_WEEK}",
    rf"(?P<yy>\d\d)年(?P<m>[1-9]\d?)月{_D_PLAIN}日{_WEEK}",
    rf"(?P<cy>[〇一二三四五六七八九]{{4}})年(?P<cm>{_CN}{{1,3}})月(?P<cd>{_CN}{{1,3}})日{_WEEK}",
)]
_SLASHES_YEAR_LAST = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}|\d\d)$")


def _two_digit_year(yy: str) -> int:
    n = int(yy)
    return 2000 + n if n <= 68 else 1900 + n


def _date_of(match: re.Match) -> tuple[dt.date | None, Notice | None]:
    """The date a matched form writes, or None and why it is not one the sampler would write."""
    g = match.groupdict()
    if g.get("cy"):
        year = int("".join(str(CN_DIGITS.index(c)) for c in g["cy"]))
        month, day = _CN_VALUE.get(g["cm"]), _CN_VALUE.get(g["cd"])
        if month is None or day is None:
            return None, Notice("text.date_cn_numerals", text=match.string)
    else:
        year = int(g["y"]) if g.get("y") else _two_digit_year(g["yy"])
        month = _MONTH_NUMBER[g["mon"].rstrip(".")] if g.get("mon") else int(g["m"])
        day = int(g["d"])
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None, Notice("text.date_not_real", text=match.string, month=month, day=day)
    if not FIRST_DATE <= date <= LAST_DATE:
        return None, Notice("text.date_year_range", text=match.string, year=year)
    if g.get("suffix") and g["suffix"] != _ordinal(day)[-2:]:
        written = f"{day}{g['suffix']}"
        return None, Notice("text.date_ordinal", text=match.string, written=written,
                            right=_ordinal(day))
    weekday = None
    if g.get("wd"):
        weekday = _WEEKDAY_NUMBER[g["wd"]]
    elif g.get("week"):
        mark = g["week"][-1]
        if mark == "天" and date.weekday() != 6:
            return None, Notice("text.date_sunday", text=match.string)
        weekday = 6 if mark == "天" else CN_WEEKDAYS.index(mark)
    if weekday is not None and weekday != date.weekday():
        actual, given = WEEKDAYS[date.weekday()].capitalize(), WEEKDAYS[weekday].capitalize()
        return None, Notice("text.date_weekday", text=match.string, **_date_params(date), actual=actual, given=given)
    return date, None


def _date_params(date: dt.date) -> dict:
    """A date as the templates write it: day, month (number and English name) and year."""
    return dict(day=date.day, month=date.month, month_name=MONTHS[date.month - 1].capitalize(), year=date.year)


def _dates_format(text: str, tokens: list[str]) -> FormatCheck:
    slashes = _SLASHES_YEAR_LAST.match(text)
    if slashes and 12 < int(slashes[1]) <= 31 and 1 <= int(slashes[2]) <= 12:
        a, b, y = slashes.groups()
        return FormatCheck(Notice("text.date_day_first_slashes", text=text, a=a, b=b, y=y))
    reasons = []
    for form in _DATE_FORMS:
        match = form.match(text)
        if match is None:
            continue
        date, reason = _date_of(match)
        if date is None:
            reasons.append(reason)
            continue
        note = None
        g = match.groupdict()
        if (g.get("m") and g.get("d") and not g.get("mon")
                and int(g["m"]) <= 12 and int(g["d"]) <= 12 and g["m"] != g["d"]):
            if "/" in text and not text[:4].isdigit():
                note = Notice("text.date_read_as_mdy", **_date_params(date))
            elif "." in text:
                note = Notice("text.date_read_as_dmy", **_date_params(date))
            else:
                note = Notice("text.date_read_as_ymd", **_date_params(date))
        return FormatCheck(None, note)
    if reasons:
        return FormatCheck(reasons[0])
    return FormatCheck(Notice("text.date_unknown_form", text=text))


def _dates_output(tokens: list[str]) -> Notice | None:
    out = "".join(tokens)
    try:
        ok = re.fullmatch(r"\d{4}-\d\d-\d\d", out) and FIRST_DATE <= dt.date.fromisoformat(out) <= LAST_DATE
    except ValueError:
        ok = False
    return None if ok else Notice("text.date_output", output=out)


_VERBS_T = {form for forms in TRANSITIVE for form in forms}
_VERBS_I = {form for forms in INTRANSITIVE for form in forms}


def _translate_format(text: str, tokens: list[str]) -> FormatCheck:
    """Parse the words with the grammar of _translate_sample; words outside the lexicon may stand where the
    sampler puts its made-up words (adjectives and nouns), as in training."""
    n, reached = len(tokens), [0]

    def at(i: int, ok) -> bool:
        if i < n and ok(tokens[i]):
            reached[0] = max(reached[0], i + 1)
            return True
        return False

    def made_up(w: str) -> bool:
        return w not in _SOURCE_WORDS and w.isalpha()

    def noun_phrase(i: int, max_adj: int) -> set[int]:
        ends = set()
        if not at(i, lambda w: w in DETERMINERS):
            return ends
        det, k, adjectives = tokens[i], i + 1, []
        while True:
            if at(k, lambda w: w in NOUNS or made_up(w)):
                first = tokens[i + 1]
                if det not in ("a", "an") or (det == "an") == (first[0] in _VOWELS):
                    ends.add(k + 1)
            if len(adjectives) >= max_adj or not at(
                    k, lambda w: (w in ADJECTIVES and w not in adjectives) or made_up(w)):
                return ends
            adjectives.append(tokens[k])
            k += 1

    def prepositional(i: int) -> set[int]:
        return noun_phrase(i + 1, 1) if at(i, lambda w: w in PREPOSITIONS) else set()

    def relative(i: int) -> set[int]:
        if at(i, lambda w: w == "that") and at(i + 1, lambda w: w in _VERBS_T):
            return noun_phrase(i + 2, 1)
        return set()

    finals = set()
    for subject in noun_phrase(0, 2):
        for verb in {subject} | prepositional(subject) | relative(subject):
            if at(verb, lambda w: w in _VERBS_T):
                for obj in noun_phrase(verb + 1, 2):
                    finals |= {obj} | prepositional(obj) | relative(obj)
            if at(verb, lambda w: w in _VERBS_I):
                finals |= {verb + 1} | prepositional(verb + 1)
    if any(f == n or (f == n - 1 and tokens[f] == ".") for f in finals):
        return FormatCheck()
    far = reached[0]
    if 0 < far < n:
        fits, word = " ".join(tokens[:far]), tokens[far]
        return FormatCheck(Notice("text.grammar_breaks", fits=fits, word=word))
    if far == 0:
        determiners = list(DETERMINERS)
        return FormatCheck(Notice("text.grammar_start", determiners=determiners))
    return FormatCheck(Notice("text.grammar_incomplete"))


def _repeats(tokens: list[str]) -> Notice | None:
    """A run of two or more words written twice in a row: valid Zerin never does this; a looping decoder does."""
    for size in range(2, len(tokens) // 2 + 1):
        for i in range(len(tokens) - 2 * size + 1):
            if tokens[i : i + size] == tokens[i + size : i + 2 * size]:
                words = " ".join(tokens[i : i + size])
                return Notice("text.repeats", words=words)
    return None


# -------------------------------------------------------------------------------------------- the tasks
# Small enough to train in minutes on one CPU thread. No dropout: the data are generated afresh for every
# batch, so there is nothing to overfit, and the attention maps come out cleaner.
_SMALL = dict(d_model=128, n_heads=4, n_encoder_layers=2, n_decoder_layers=2, d_ff=256, dropout=0.0, max_len=64)

register(TextTask(
    name="reverse",
    title="Reverse the text",
    description=(
        "Writes the typed text backwards, character by character. Any printable ASCII character works "
        "(letters, digits, punctuation, space), and so do Chinese: the 3,500 characters of the first level of "
        "the Table of General Standard Chinese Characters and full-width punctuation, alone or mixed with "
        f"ASCII; other characters are read as <unk> and come out as {REPLACEMENT}. Cross-attention should run "
        "along the anti-diagonal: output character t looks at input character n − t."
    ),
    examples=("Attention is all you need!", "注意力机制", "你好，世界!", "Transformer 模型 2017", "Hello, world",
              "注意力 is all you need 2017", "stressed desserts", "12345 abcde", "A man, a plan."),
    max_input_len=32,
    max_output_len=33,
    tokenization="char",
    trained_on=("text of 1 to 32 characters, a third printable ASCII, a third Chinese (the 3,500 characters of "
                "level 1 of the Table of General Standard Chinese Characters, full-width punctuation), a third "
                "the two mixed: random characters, word-like text and repeats, a few with one or two other "
                "characters, which it learned to write as \ufffd"),
    source_symbols=tuple(_REVERSE_CHARS + _REVERSE_CN),
    target_symbols=tuple(_REVERSE_CHARS + _REVERSE_CN),
    sampler=_reverse_sample,
    longest_trained=32,
    lowercase=False,
    # One vocabulary of 3,600 symbols read and written: tied embeddings (Vaswani et al. 2017, section 3.4)
    # make copying a character one vector, whichever character it is.
    config=dict(_SMALL, tie_embeddings=True),
))

register(TextTask(
    name="dates",
    title="Dates → ISO 8601",
    description=(
        "Reads a date written by a person, in English or Chinese, in many styles (21 Nov 2026, "
        "November 21st, 2026, the 21st of November 2026, Saturday, 21 November 2026, 11/21/26, "
        "21.11.2026, 2026/11/21, 2026年11月21日, 二〇二六年十一月二十一日, ...) and writes it as "
        "YYYY-MM-DD. Dates from 1900 to 2099; slashes with the year last are month/day/year (US), dots "
        f"are day.month.year; {TWO_DIGIT_YEARS}. Case is ignored (the input is lower-cased)."
    ),
    examples=(
        "21 Nov 2026", "November 21st, 2026", "2026年11月21日", "11/21/26", "21.11.2026",
        "Saturday, 21 November 2026", "the 3rd of March 1999", "Nov. 21, '26", "二〇二六年十一月二十一日",
    ),
    max_input_len=40,
    max_output_len=11,
    tokenization="char",
    trained_on=("real calendar days from 1900 to 2099 written in twelve English and Chinese styles, always with the "
                "right weekday when one is given"),
    source_symbols=tuple(_DATE_CHARS),
    target_symbols=tuple(string.digits + "-"),
    sampler=_dates_sample,
    longest_trained=31,  # "wednesday, september 30th, 2026"
    check_format=_dates_format,
    check_output=_dates_output,
    config=dict(_SMALL),
))

register(TextTask(
    name="translate",
    title="English → Zerin (a toy verb-final language)",
    description=(
        "Translates simple English sentences into Zerin, a made-up language generated from a grammar and "
        "the lexicon below. Zerin puts the verb last (subject ga, object o, verb), the noun first in its "
        "phrase (noun, adjectives mirrored, determiner), postpositions after their noun phrase, and "
        "relative clauses before the noun they describe; the past tense is the particle ta after the "
        "verb. So cross-attention shows a reordering, not a diagonal. Words outside the lexicon are "
        "read as <unk>; the input is lower-cased."
    ),
    examples=(
        "The big dog chased a small cat.",
        "my old teacher that found the red ball sleeps.",
        "a happy girl in the garden watches the tall horse",
        "the quick fox carried an apple near the river.",
        "this king calls the owl that saw my green book",
    ),
    max_input_len=24,
    max_output_len=40,
    tokenization="word",
    trained_on=("sentences generated from one small grammar and the lexicon: subject, verb, object, prepositional "
                "phrases and 'that' clauses, a few made-up words as adjectives and nouns"),
    source_symbols=tuple(_TRANSLATE_SOURCE),
    target_symbols=tuple(_TRANSLATE_TARGET),
    sampler=_translate_sample,
    longest_trained=20,  # subject with a 'that' clause, verb, object with one
    check_format=_translate_format,
    check_output=_repeats,
    lexicon=_lexicon(),
    config=dict(_SMALL),
))

