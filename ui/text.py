"""Cached loaders, widget groups, words and downloads for the encoder–decoder page.

Every word the page shows is here or in views/encoder_decoder.py, through `_()`: the demo tasks' own texts
(models/demo/text.py) are English, so their display names, descriptions and training data are repeated here,
marked for the catalog (TASK_TITLES, TASK_DESCRIPTIONS, TRAINED_ON; tests/test_i18n_text.py checks that the
copies still say what the tasks say). Notes and reasons from the model are codes (models.messages), worded by
`word` in the reader's language, with the user's own text shown as code.

Widgets keep the view in the URL (ui.link): their keys are the parameters' names (`ed_task`, `ed_text_<task>`,
`ed_pad_to`, `ed_layer` or `ed_enc_layer`/`ed_dec_layer`, `ed_head`, `ed_view`, `ed_step`), and `link.check`
says on the page when a link's value does not fit before Streamlit drops it.
"""
from __future__ import annotations

import io
import json

import numpy as np
import streamlit as st

from models.demo import text
from models.messages import Notice
from ui import link, present
from ui import messages as ui_messages
from ui.common import on_device_or_cpu
from ui.i18n import N_, _
from viz import text as vt

TASK_KEY = "ed_task"
PAD_KEY = "ed_pad_to"
VIEW_KEY = "ed_view"

# The tasks as readers see them; the URL and the code keep the internal names.
TASK_TITLES = {
    "reverse": N_("Reverse the text"),
    "dates": N_("Dates → ISO 8601"),
    "translate": N_("English → Zerin (a toy verb-final language)"),
}
# The tasks' descriptions, as models/demo/text.py writes them, with data (examples, tokens) as code.
TASK_DESCRIPTIONS = {
    "reverse": N_(
        "Writes the typed text backwards, character by character. Any printable ASCII character works "
        "(letters, digits, punctuation, space), and so do Chinese: the 3,500 characters of the first level of "
        "the Table of General Standard Chinese Characters and full-width punctuation, alone or mixed with "
        "ASCII; other characters are read as `<unk>` and come out as `\ufffd`. Cross-attention should run "
        "along the anti-diagonal: output character t looks at input character n − t."
    ),
    "dates": N_(
        "Reads a date written by a person, in English or Chinese, in many styles (`21 Nov 2026`, "
        "`November 21st, 2026`, `the 21st of November 2026`, `Saturday, 21 November 2026`, `11/21/26`, "
        "`21.11.2026`, `2026/11/21`, `2026年11月21日`, `二〇二六年十一月二十一日`, ...) and writes it as "
        "`YYYY-MM-DD`. Dates from 1900 to 2099; slashes with the year last are month/day/year (US), dots "
        "are day.month.year; two-digit years follow the POSIX rule of Python's strptime: 69–99 → 1969–1999, "
        "00–68 → 2000–2068. Case is ignored (the input is lower-cased)."
    ),
    "translate": N_(
        "Translates simple English sentences into Zerin, a made-up language generated from a grammar and "
        "the lexicon below. Zerin puts the verb last (subject `ga`, object `o`, verb), the noun first in its "
        "phrase (noun, adjectives mirrored, determiner), postpositions after their noun phrase, and "
        "relative clauses before the noun they describe; the past tense is the particle `ta` after the "
        "verb. So cross-attention shows a reordering, not a diagonal. Words outside the lexicon are "
        "read as `<unk>`; the input is lower-cased."
    ),
}
TRAINED_ON = {
    "reverse": N_(
        "text of 1 to 32 characters, a third printable ASCII, a third Chinese (the 3,500 characters of level 1 "
        "of the Table of General Standard Chinese Characters, full-width punctuation), a third the two mixed: "
        "random characters, word-like text and repeats, a few with one or two other characters, which it "
        "learned to write as `\ufffd`"
    ),
    "dates": N_(
        "real calendar days from 1900 to 2099 written in twelve English and Chinese styles, always with the "
        "right weekday when one is given"
    ),
    "translate": N_(
        "sentences generated from one small grammar and the lexicon: subject, verb, object, prepositional "
        "phrases and 'that' clauses, a few made-up words as adjectives and nouns"
    ),
}
WEEKDAY_NAMES = {
    "Monday": N_("Monday"), "Tuesday": N_("Tuesday"), "Wednesday": N_("Wednesday"), "Thursday": N_("Thursday"),
    "Friday": N_("Friday"), "Saturday": N_("Saturday"), "Sunday": N_("Sunday"),
}
PARTS_OF_SPEECH = {
    "determiner": N_("determiner"), "noun": N_("noun"), "adjective": N_("adjective"),
    "verb (transitive)": N_("verb (transitive)"), "verb (transitive, past)": N_("verb (transitive, past)"),
    "verb (intransitive)": N_("verb (intransitive)"), "verb (intransitive, past)": N_("verb (intransitive, past)"),
    "preposition → postposition": N_("preposition → postposition"),
    "relative pronoun → clause-final particle": N_("relative pronoun → clause-final particle"),
    "full stop": N_("full stop"),
    "particle: subject marker": N_("particle: subject marker"),
    "particle: object marker": N_("particle: object marker"),
    "particle: past tense": N_("particle: past tense"),
}
# The parameters of text.* codes that hold the user's text or the model's tokens: shown as code (never read as
# Markdown, and never taken for a sentence left in English).
DATA_FIELDS = {"text", "written", "right", "output", "fits", "word", "words", "tokens", "token", "determiners",
               "path", "command"}


def _unmarked(s: str) -> str:
    return s.replace("`", "")


def task_title(task: str) -> str:
    return _(TASK_TITLES[task]) if task in TASK_TITLES else text.TASKS[task].title


def _task_text(table: dict[str, str], task: str, english: str) -> str:
    """The reader's words for a task's text, when the copy here still says what the task says; else the
    task's own (English) text, so that a changed task never shows a stale translation."""
    copy = table.get(task)
    if copy is not None and " ".join(_unmarked(copy).split()) == " ".join(english.split()):
        return _(copy)
    return english


def task_description(task: str) -> str:
    return _task_text(TASK_DESCRIPTIONS, task, text.TASKS[task].description)


def trained_on(task: str) -> str:
    return _task_text(TRAINED_ON, task, text.TASKS[task].trained_on)


def word(item) -> str:
    """A Notice or CodedError of the text demo, in the reader's language (Markdown): the user's text and the
    model's tokens as code, weekday names translated."""
    params = dict(getattr(item, "params", {}))
    for name, value in params.items():
        if name in DATA_FIELDS:
            value = ", ".join(value) if isinstance(value, (list, tuple)) else str(value)
            params[name] = _code(value)
        elif name in ("actual", "given") and value in WEEKDAY_NAMES:
            params[name] = _(WEEKDAY_NAMES[value])
    if getattr(item, "code", None) is None:
        return ui_messages.word(item)
    return ui_messages.word(Notice(item.code, **params))


def linked_radio(label: str, options: list[str], key: str, **kwargs) -> str:
    """A radio kept in the URL under `key` by its option's internal name (Streamlit's own binding would write the
    label, which is in the reader's language): a link's value is taken before the radio is drawn (a value that
    does not fit is said), the value in use is published after; the first option is left out of the URL."""
    link.bind(key, key, link.one_of(options))
    value = st.radio(label, options, key=key, **kwargs)
    link.publish(**{key: None if value == options[0] else value})
    return value


def text_key(task: str) -> str:
    """Session key (and URL parameter) of the text box of `task`: each task keeps its own sentence."""
    return f"ed_text_{task}"


def load_model(task: str, device: str, weights: str = "demo"):
    """One read-only model per (task, device, weights), shared by every session, in the one bounded model
    cache (ui.common.shared_model); errors (a missing checkpoint) are not cached."""
    from ui.common import shared_model

    return shared_model("text", (task, device, weights), lambda: text.load(task, device=device, weights=weights),
                        spinner=_("Loading the model…"))


@st.cache_data(show_spinner=False, max_entries=256)
def _run_model(task: str, sentence: str, pad_to: int | None, device: str, weights: str = "demo"):
    return text.run(load_model(task, device, weights), sentence, pad_to=pad_to)


def run_model(task: str, sentence: str, pad_to: int | None, device: str, weights: str = "demo"):
    """Greedy decoding and every attention map of it, cached per (task, sentence, padding, device, weights).

    A CUDA out-of-memory error reruns it on the CPU, with a notice (ui.common.on_device_or_cpu)."""
    with st.spinner(_("Decoding…")):
        return on_device_or_cpu(lambda d: _run_model(task, sentence, pad_to, d, weights), device)


def model_or_fallback(task: str, device: str) -> tuple[object, str]:
    """The task's demo checkpoint; if it is missing, says so on screen and falls back to random weights.

    Returns (model, weights) with weights "demo" or "random", to pass on to run_model.
    """
    try:
        return load_model(task, device, "demo"), "demo"
    except text.MissingCheckpoint as err:
        st.error(_("{problem} Showing an untrained model instead.").format(problem=word(err)))
        return load_model(task, device, "random"), "random"


def weights_badge(model, weights: str) -> None:
    """Says on screen which weights are in use: attention from random weights means nothing."""
    if weights == "random":
        st.warning(_("Weights: **random weights (untrained, seed 0)**. Random weights attend arbitrarily; use them "
                     "only to inspect the mechanics."))
        return
    score = model.metadata.get("exact_match")
    if score is None:
        st.info(_("Weights: **demo checkpoint '{task}'**").format(task=model.task))
    else:
        st.info(_("Weights: **demo checkpoint '{task}' (exact match {score:.3f} on {n:,} held-out examples)**").format(
            task=model.task, score=score, n=model.metadata.get("eval_examples", 1000)))


def show_messages(trace) -> None:
    """Notes on the input (padding, how an ambiguous date is read) as info."""
    for message in trace.messages:
        st.info(word(message))


def confidence_text(trace) -> str:
    """The model's own confidence: the lowest probability it gave a token it wrote, and which token and step."""
    token = vt.visible_tokens([trace.output_tokens[trace.confidence_step]], escape=False)[0]
    return _(
        "**Confidence {confidence:.2f}**: the lowest probability the model gave a token it wrote ({token} at step "
        "{step} of {steps}). It measures how sure the model was, not whether it is right: a model can be sure and "
        "wrong on inputs unlike its training data."
    ).format(confidence=trace.confidence, token=_code(token), step=trace.confidence_step + 1,
             steps=len(trace.output_tokens))


def assessment_text(trace) -> str | None:
    """Why the input or the output lies outside what the model was trained on, as one Markdown message."""
    if not trace.outside:
        return None
    reasons = "\n".join("- " + word(r) for r in trace.outside)
    lead = _("**Outside what this model was trained on**, so do not trust this output. It was trained on "
             "{trained_on}.").format(trained_on=trained_on(trace.task))
    return lead + "\n\n" + reasons


def show_assessment(trace) -> None:
    """The confidence, always; a warning with the reasons when the input is outside the training data."""
    message = assessment_text(trace)
    if message:
        st.warning(message)
    st.caption(confidence_text(trace))


def dimensions_caption(model) -> str:
    """The model's sizes in the paper's terms: h heads, each in d_k = d_model / h dimensions."""
    cfg = model.transformer.cfg
    return _(
        "This model: {encoder_layers} encoder and {decoder_layers} decoder layers, h = {heads} heads per attention "
        "layer, d_model = {d_model}. Each head projects queries, keys and values to d_k = d_model / h = {d_k} "
        "dimensions and computes softmax(QKᵀ / √d_k) V with √d_k = {sqrt_d_k:.2f}; the heads' outputs are "
        "concatenated and mixed by W_O."
    ).format(encoder_layers=cfg.n_encoder_layers, decoder_layers=cfg.n_decoder_layers, heads=cfg.n_heads,
             d_model=cfg.d_model, d_k=cfg.d_k, sqrt_d_k=cfg.d_k ** 0.5)


def vocabulary_ui(model) -> None:
    """The lexicon of the toy language (English, target word, part of speech) and both vocabularies."""
    if model.info.lexicon:
        english, zerin, pos = _("English"), _("Zerin"), _("part of speech")
        st.dataframe(
            [{english: en or "—", zerin: zr, pos: _(PARTS_OF_SPEECH[p]) if p in PARTS_OF_SPEECH else p}
             for en, zr, p in model.info.lexicon],
            hide_index=True, height=300,
        )
    vocab = text.vocabulary(model)
    st.markdown(_("**Source vocabulary** ({n} tokens): {tokens}").format(
        n=len(vocab["source"]), tokens=" ".join(_code(t) for t in vocab["source"])))
    st.markdown(_("**Target vocabulary** ({n} tokens): {tokens}").format(
        n=len(vocab["target"]), tokens=" ".join(_code(t) for t in vocab["target"])))


def _use_example(task: str, example_key: str) -> None:
    example = st.session_state.get(example_key)
    if example:
        st.session_state[text_key(task)] = example


def input_ui() -> tuple[str, str, int | None]:
    """Task, example and text box, and the padding option, each kept in the URL. Returns (task, sentence,
    pad_to or None)."""
    tasks = list(text.TASKS)
    task = linked_radio(
        _("Task"), tasks, key=TASK_KEY, horizontal=True, format_func=task_title,
        help=_("Each task has its own small Transformer, trained from scratch on data generated for it."),
    )
    info = text.TASKS[task]
    present.caption(task_description(task))
    key = text_key(task)
    link.check(key, link.text())
    if key not in st.session_state and key not in st.query_params:
        st.session_state[key] = info.examples[0]
    col_text, col_example = st.columns([3, 2])
    example_key = f"ed_example_{task}"
    with col_example:
        st.selectbox(
            _("Examples"), info.examples, index=None, key=example_key, placeholder=_("pick an example input"),
            on_change=_use_example, args=(task, example_key),
        )
    with col_text:
        label = (_("Input (up to {n} characters)") if info.tokenization == "char"
                 else _("Input (up to {n} words)")).format(n=info.max_input_len)
        # At most link.MAX_TEXT characters: the text box is bound to the URL, and a link must stay a link.
        sentence = st.text_input(label, key=key, bind="query-params", max_chars=link.MAX_TEXT)
    longest = int(info.config.get("max_len", info.max_input_len + 1))
    link.check(PAD_KEY, link.whole(0, longest))
    pad = st.slider(
        _("Pad the source to N tokens (0 = no padding)"), 0, longest, 0, key=PAD_KEY, bind="query-params",
        help=_("Appends `<pad>` tokens to the encoder input, so the padding mask has something to hide. "
               "The real tokens' outputs do not change: every attention gives the padding weight exactly 0."),
    )
    return task, sentence or "", (pad or None)


def _counted_from_1(label: str, n: int, key: str, help: str | None = None) -> int:
    """A select slider over 1..n (as the papers count layers and heads), kept in the URL under `key`; returns the
    0-based index."""
    options = list(range(1, n + 1))
    link.check(key, link.whole(1, n))
    if key in st.session_state and st.session_state[key] not in options:  # another task with fewer layers or heads
        st.session_state.pop(key, None)
    return st.select_slider(label, options=options, key=key, help=help, bind="query-params") - 1


def layer_head_ui(n_encoder: int, n_decoder: int, n_heads: int, columns: bool = True) -> tuple[int, int, int]:
    """Layer and head selectors, counted from 1 on screen. Returns 0-based (encoder layer, decoder layer, head).

    The head is a select slider with the key "ed_head" (the benchmark presses ArrowRight on it). columns=False
    puts them one under the other (presentation mode: the controls' column is narrow)."""
    n_cols = 3 if n_encoder != n_decoder else 2
    cols = st.columns(n_cols) if columns else [st.container() for _ in range(n_cols)]
    if n_encoder == n_decoder:
        with cols[0]:
            enc_layer = dec_layer = _counted_from_1(_("Layer"), n_encoder, "ed_layer",
                                                    help=_("Layers count from 1, the first reading the input."))
        head_col = cols[1]
    else:
        with cols[0]:
            enc_layer = _counted_from_1(_("Encoder layer"), n_encoder, "ed_enc_layer")
        with cols[1]:
            dec_layer = _counted_from_1(_("Decoder layer"), n_decoder, "ed_dec_layer")
        head_col = cols[2]
    with head_col:
        head = _counted_from_1(_("Head"), n_heads, "ed_head", help=_("Heads count from 1."))
    return enc_layer, dec_layer, head


# The views of one attention (encoder self-attention, decoder self-attention, cross-attention).
VIEWS = {
    "head": N_("One head"),
    "layer": N_("All heads of a layer"),
    "lines": N_("Head view"),
}


def view_ui() -> str:
    """Which view of an attention the sections draw: one head, all heads of the layer, or the head view."""
    return linked_radio(_("View"), list(VIEWS), key=VIEW_KEY, format_func=lambda v: _(VIEWS[v]), horizontal=True,
                        help=_("For the encoder, decoder and cross-attention sections."))


POSITIONS = N_("Token positions are indices from 0: hover shows each as *index: token*.")

RESPONSIBLY = N_(
    "**Reading attention responsibly.** A weight says where a position mixes information *from*, not *why* the "
    "model wrote a word. It leaves out the value vectors' norms (a large weight on a small value vector moves "
    "little; Kobayashi et al., 2020), the output projection W_O that mixes the heads, the residual connections and "
    "the feed-forward layers. Different weights can give the same output (Jain & Wallace, 2019), so treat a "
    "bright cell as a hint to test, not as an explanation."
)


KIND_TITLES = {
    "encoder": N_("Encoder self-attention"),
    "decoder": N_("Decoder masked self-attention"),
    "cross": N_("Cross-attention"),
}


HEADS_KEY = "ed_hv_heads"


def _head_list(n_heads: int):
    """A parser of a link's heads, "1,3" (counted from 1, as shown) -> [0, 2]."""

    def parse(raw: str) -> list[int]:
        heads = sorted({link.whole(1, n_heads)(part) - 1 for part in raw.split(",")})
        if not heads:
            raise link.Invalid(raw)
        return heads

    return parse


def heads_ui(n_heads: int) -> list[int]:
    """Which heads the head view draws (all by default), kept in the URL as `ed_hv_heads=1,3` (counted from 1;
    left out when all are drawn). Returns 0-based heads."""
    options = list(range(n_heads))
    link.bind(HEADS_KEY, HEADS_KEY, _head_list(n_heads))
    chosen = st.session_state.get(HEADS_KEY)
    if not isinstance(chosen, list) or not set(chosen) <= set(options):  # first time, or another model's heads
        st.session_state[HEADS_KEY] = options
    heads = sorted(st.multiselect(_("Heads"), options, key=HEADS_KEY,
                                  format_func=lambda h: _("head {head}").format(head=h + 1)))
    link.publish(**{HEADS_KEY: None if heads == options or not heads else ",".join(str(h + 1) for h in heads)})
    return heads


def step_ui(n_steps: int) -> int:
    """The decoding step to show (0-based decoder position), kept in the URL as `ed_step` (counted from 1)."""
    if n_steps <= 1:
        st.caption(_("The model produced a single token, so there is one step."))
        return 0
    link.check("ed_step", link.whole(1, n_steps))
    if st.session_state.get("ed_step", 1) > n_steps:  # a shorter output than the last one
        st.session_state.pop("ed_step", None)
    return st.slider(_("Decoding step"), 1, n_steps, 1, key="ed_step", bind="query-params",
                     help=_("Steps count from 1. Step k: what the decoder attended to when it produced "
                            "output token k.")) - 1


def _code(s: str) -> str:
    return f"`` {s} ``" if "`" in s else f"`{s}`"


def step_caption(trace, step: int, tokenization: str) -> str:
    """Step `step` in words: what the decoder has read, what it wrote, and with what probability."""
    joiner = "" if tokenization == "char" else " "
    read = " ".join(_code(t) for t in vt.visible_tokens(trace.target_tokens[: step + 1], escape=False))
    so_far = joiner.join(trace.output_tokens[:step])
    token, prob = trace.output_tokens[step], dict(trace.step_top_k[step]).get(trace.output_tokens[step])
    written = _code(vt.visible_tokens([token], escape=False)[0])
    values = dict(step=step + 1, steps=len(trace.output_tokens), read=read, position=step, token=written,
                  output=_code(so_far) if so_far else _("(nothing yet)"))
    if prob is None:
        return _(
            "**Step {step} of {steps}.** The decoder reads {read} (its position {position}, counted from 0, is the "
            "query) and writes {token}. Output so far: {output}."
        ).format(**values)
    return _(
        "**Step {step} of {steps}.** The decoder reads {read} (its position {position}, counted from 0, is the "
        "query) and writes {token} (probability {probability:.3f}). Output so far: {output}."
    ).format(probability=prob, **values)


def masks_explanation(trace) -> str:
    """What the masks do here: the number of <pad> tokens, and the rule each mask enforces."""
    n_pad = int((~np.asarray(trace.source_mask, dtype=bool)).sum())
    if n_pad == 1:
        pad = _("The source holds **1 `<pad>` token**: no query, in the encoder or in cross-attention, may attend "
                "to it, so its column of the attention is exactly 0.")
    elif n_pad:
        pad = _("The source holds **{n} `<pad>` tokens**: no query, in the encoder or in cross-attention, may "
                "attend to them, so their columns of the attention are exactly 0.").format(n=n_pad)
    else:
        pad = _("The source has no padding now: set *Pad the source to N tokens* above to add some and watch their "
                "columns go to 0.")
    rule = _("A mask sets the scores of forbidden (query, key) pairs to −∞ before the softmax, which turns them into "
             "weights of exactly 0.")
    causal = _("The causal mask lets decoder position t see only positions ≤ t, so the decoder cannot look at the "
               "tokens it has not written yet.")
    return "\n\n".join((rule, pad, causal))


def _arrays(trace) -> dict[str, np.ndarray]:
    arrays = {}
    for kind in ("encoder_attention", "decoder_attention", "cross_attention"):
        for layer, w in enumerate(getattr(trace, kind)):
            arrays[f"{kind}_layer{layer + 1}"] = np.asarray(w, dtype=np.float32)
    arrays["source_mask"] = np.asarray(trace.source_mask, dtype=bool)
    arrays["causal_mask"] = np.asarray(trace.causal_mask, dtype=bool)
    return arrays


def _labels(trace) -> dict:
    return {
        "source_tokens": list(trace.source_tokens),
        "target_tokens": list(trace.target_tokens),
        "output_tokens": list(trace.output_tokens),
        "output": trace.output,
        "weights_source": trace.weights_source,
    }


# What each field of a download holds, in the reader's language (the field names stay as they are: code reads them).
FIELD_DESCRIPTIONS = {
    "source_tokens": N_("the encoder's input tokens, </s> and any <pad> included (index from 0)"),
    "target_tokens": N_("the decoder's input tokens: <s>, then the output shifted right (index from 0)"),
    "output_tokens": N_("the token the decoder wrote at each position (ends with </s> when decoding ended)"),
    "output": N_("the decoded text, without </s>"),
    "weights_source": N_("the weights the model ran with"),
    "encoder_attention_layerN": N_("encoder self-attention of layer N (counted from 1): axes head, query, key"),
    "decoder_attention_layerN": N_(
        "decoder masked self-attention of layer N (counted from 1): axes head, query, key; the upper triangle is 0"
    ),
    "cross_attention_layerN": N_(
        "cross-attention of layer N (counted from 1): axes head, query (decoder position), key (encoder position)"
    ),
    "source_mask": N_("padding mask: true for a real source token, false for <pad>"),
    "causal_mask": N_("causal mask (query, key): true where the decoder may attend"),
}


def field_descriptions() -> dict[str, str]:
    return {name: _(description) for name, description in FIELD_DESCRIPTIONS.items()}


def export_npz(trace) -> bytes:
    """Every attention array of the trace, the masks and the tokens, as one .npz file, with `fields`: what each
    array holds, in the reader's language (JSON)."""
    buf = io.BytesIO()
    labels = {k: np.asarray(v, dtype=str) for k, v in _labels(trace).items()}
    fields = np.asarray(json.dumps(field_descriptions(), ensure_ascii=False))
    np.savez_compressed(buf, **_arrays(trace), **labels, fields=fields)
    return buf.getvalue()


def export_json(trace) -> str:
    """The same content as JSON: tokens and each array as nested lists (axes: heads, queries, keys), and `fields`:
    what each one holds, in the reader's language."""
    doc = _labels(trace)
    doc["axes"] = {"attention": ["head", "query", "key"], "source_mask": ["source position"],
                   "causal_mask": ["query", "key"]}
    doc["fields"] = field_descriptions()
    doc["arrays"] = {k: v.tolist() for k, v in _arrays(trace).items()}
    return json.dumps(doc, ensure_ascii=False)


def downloads_ui(trace, task: str) -> None:
    """Download buttons for the attention shown: NPZ (arrays) and JSON (tokens + arrays as lists)."""
    c1, c2 = st.columns(2)
    with c1:
        st.download_button(_("Download attention (.npz)"), export_npz(trace), file_name=f"attention_{task}.npz",
                           mime="application/octet-stream", key="ed_dl_npz")
    with c2:
        st.download_button(_("Download attention (.json)"), export_json(trace), file_name=f"attention_{task}.json",
                           mime="application/json", key="ed_dl_json")
