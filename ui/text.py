"""Cached loaders, widget groups and downloads for the encoder–decoder page."""
from __future__ import annotations

import io
import json

import numpy as np
import streamlit as st

from models.demo import text
from ui.common import on_device_or_cpu
from viz import text as vt

TASK_KEY = "ed_task"
PAD_KEY = "ed_pad_to"


def text_key(task: str) -> str:
    """Session key of the text box of `task`: each task keeps its own sentence."""
    return f"ed_text_{task}"


def load_model(task: str, device: str, weights: str = "demo"):
    """One read-only model per (task, device, weights), shared by every session, in the one bounded model
    cache (ui.common.shared_model); errors (a missing checkpoint) are not cached."""
    from ui.common import shared_model

    return shared_model("text", (task, device, weights), lambda: text.load(task, device=device, weights=weights))


@st.cache_data(show_spinner="Decoding…", max_entries=256)
def _run_model(task: str, sentence: str, pad_to: int | None, device: str, weights: str = "demo"):
    return text.run(load_model(task, device, weights), sentence, pad_to=pad_to)


def run_model(task: str, sentence: str, pad_to: int | None, device: str, weights: str = "demo"):
    """Greedy decoding and every attention map of it, cached per (task, sentence, padding, device, weights).

    A CUDA out-of-memory error reruns it on the CPU, with a notice (ui.common.on_device_or_cpu)."""
    return on_device_or_cpu(lambda d: _run_model(task, sentence, pad_to, d, weights), device)


def model_or_fallback(task: str, device: str) -> tuple[object, str]:
    """The task's demo checkpoint; if it is missing, says so on screen and falls back to random weights.

    Returns (model, weights) with weights "demo" or "random", to pass on to run_model.
    """
    try:
        return load_model(task, device, "demo"), "demo"
    except text.MissingCheckpoint as err:
        st.error(f"{err} Showing an untrained model instead.")
        return load_model(task, device, "random"), "random"


def show_messages(trace) -> None:
    """Notes on the input (padding, how an ambiguous date is read) as info."""
    for message in trace.messages:
        st.info(message)


def confidence_text(trace) -> str:
    """The model's own confidence: the lowest probability it gave a token it wrote, and which token and step."""
    token = vt.visible_tokens([trace.output_tokens[trace.confidence_step]], escape=False)[0]
    return (
        f"**Confidence {trace.confidence:.2f}**: the lowest probability the model gave a token it wrote "
        f"({_code(token)} at step {trace.confidence_step + 1} of {len(trace.output_tokens)}). It measures how sure "
        "the model was, not whether it is right: a model can be sure and wrong on inputs unlike its training data."
    )


def assessment_text(trace) -> str | None:
    """Why the input or the output lies outside what the model was trained on, as one Markdown message."""
    if not trace.outside:
        return None
    info = text.TASKS[trace.task]
    reasons = "\n".join(f"- {_escape(r)}" for r in trace.outside)
    return (f"**Outside what this model was trained on**, so do not trust this output. It was trained on "
            f"{info.trained_on}.\n\n{reasons}")


def show_assessment(trace) -> None:
    """The confidence, always; a warning with the reasons when the input is outside the training data."""
    message = assessment_text(trace)
    if message:
        st.warning(message)
    st.caption(confidence_text(trace))


def _escape(s: str) -> str:
    """Plain text for Markdown: no emphasis, code or HTML from what the user typed."""
    for ch in "\\`*_[]<>#|~$":
        s = s.replace(ch, "\\" + ch)
    return s


def dimensions_caption(model) -> str:
    """The model's sizes in the paper's terms: h heads, each in d_k = d_model / h dimensions."""
    cfg = model.transformer.cfg
    return (
        f"This model: {cfg.n_encoder_layers} encoder and {cfg.n_decoder_layers} decoder layers, h = {cfg.n_heads} "
        f"heads per attention layer, d_model = {cfg.d_model}. Each head projects queries, keys and values to "
        f"d_k = d_model / h = {cfg.d_k} dimensions and computes softmax(QKᵀ / √d_k) V with √d_k = "
        f"{cfg.d_k ** 0.5:.2f}; the heads' outputs are concatenated and mixed by W_O."
    )


def vocabulary_ui(model) -> None:
    """The lexicon of the toy language (English, target word, part of speech) and both vocabularies."""
    if model.info.lexicon:
        st.dataframe(
            [{"English": en or "—", "Zerin": zr, "part of speech": pos} for en, zr, pos in model.info.lexicon],
            hide_index=True, height=300,
        )
    vocab = text.vocabulary(model)
    st.markdown(f"**Source vocabulary** ({len(vocab['source'])} tokens): "
                + " ".join(_code(t) for t in vocab["source"]))
    st.markdown(f"**Target vocabulary** ({len(vocab['target'])} tokens): "
                + " ".join(_code(t) for t in vocab["target"]))


def _use_example(task: str, example_key: str) -> None:
    example = st.session_state.get(example_key)
    if example:
        st.session_state[text_key(task)] = example


def input_ui() -> tuple[str, str, int | None]:
    """Task, example and text box, and the padding option. Returns (task, sentence, pad_to or None)."""
    tasks = list(text.TASKS)
    task = st.radio(
        "Task", tasks, key=TASK_KEY, horizontal=True,
        format_func=lambda t: text.TASKS[t].title,
        help="Each task has its own small Transformer, trained from scratch on data generated for it.",
    )
    info = text.TASKS[task]
    st.caption(info.description)
    if text_key(task) not in st.session_state:
        st.session_state[text_key(task)] = info.examples[0]
    col_text, col_example = st.columns([3, 2])
    example_key = f"ed_example_{task}"
    with col_example:
        st.selectbox(
            "Examples", info.examples, index=None, key=example_key, placeholder="pick an example input",
            on_change=_use_example, args=(task, example_key),
        )
    with col_text:
        sentence = st.text_input(
            f"Input (up to {info.max_input_len} {'characters' if info.tokenization == 'char' else 'words'})",
            key=text_key(task),
        )
    pad = st.slider(
        "Pad the source to N tokens (0 = no padding)", 0, int(info.config.get("max_len", info.max_input_len + 1)), 0,
        key=PAD_KEY,
        help="Appends <pad> tokens to the encoder input, so the padding mask has something to hide. "
        "The real tokens' outputs do not change: every attention gives the padding weight exactly 0.",
    )
    return task, sentence, (pad or None)


def _counted_from_1(label: str, n: int, key: str, help: str | None = None) -> int:
    """A select slider over 1..n (as the papers count layers and heads); returns the 0-based index."""
    options = list(range(1, n + 1))
    if st.session_state.get(key) not in options:  # another task or model with fewer layers or heads
        st.session_state.pop(key, None)
    return st.select_slider(label, options=options, key=key, help=help) - 1


def layer_head_ui(n_encoder: int, n_decoder: int, n_heads: int) -> tuple[int, int, int]:
    """Layer and head selectors, counted from 1 on screen. Returns 0-based (encoder layer, decoder layer, head).

    The head is a select slider with the key "ed_head" (the benchmark presses ArrowRight on it)."""
    cols = st.columns(3 if n_encoder != n_decoder else 2)
    if n_encoder == n_decoder:
        with cols[0]:
            enc_layer = dec_layer = _counted_from_1("Layer", n_encoder, "ed_layer",
                                                    help="Layers count from 1, the first reading the input.")
        head_col = cols[1]
    else:
        with cols[0]:
            enc_layer = _counted_from_1("Encoder layer", n_encoder, "ed_enc_layer")
        with cols[1]:
            dec_layer = _counted_from_1("Decoder layer", n_decoder, "ed_dec_layer")
        head_col = cols[2]
    with head_col:
        head = _counted_from_1("Head", n_heads, "ed_head", help="Heads count from 1.")
    return enc_layer, dec_layer, head


POSITIONS = "Token positions are indices from 0: hover shows each as *index: token*."

RESPONSIBLY = (
    "**Reading attention responsibly.** A weight says where a position mixes information *from*, not *why* the "
    "model wrote a word. It leaves out the value vectors' norms (a large weight on a small value vector moves "
    "little; Kobayashi et al., 2020), the output projection W_O that mixes the heads, the residual connections and "
    "the feed-forward layers. Different weights can give the same output (Jain & Wallace, 2019), so treat a "
    "bright cell as a hint to test, not as an explanation."
)


KIND_TITLES = {
    "encoder": "Encoder self-attention",
    "decoder": "Decoder masked self-attention",
    "cross": "Cross-attention",
}


def head_view_ui(n_heads: int) -> tuple[str, list[int]]:
    """Which attention the head view draws, and which heads (all by default). Returns (kind, 0-based heads)."""
    c1, c2 = st.columns([2, 3])
    with c1:
        kind = st.radio("Attention", list(KIND_TITLES), format_func=KIND_TITLES.get, key="ed_hv_kind",
                        horizontal=True)
    with c2:
        heads = st.multiselect("Heads", list(range(n_heads)), default=list(range(n_heads)), key="ed_hv_heads",
                               format_func=lambda h: f"head {h + 1}")
    return kind, sorted(heads)


def step_ui(n_steps: int) -> int:
    """The decoding step to show (0-based decoder position)."""
    if n_steps <= 1:
        st.caption("The model produced a single token, so there is one step.")
        return 0
    if st.session_state.get("ed_step", 1) > n_steps:  # a shorter output than the last one
        st.session_state.pop("ed_step", None)
    return st.slider("Decoding step", 1, n_steps, 1, key="ed_step",
                     help="Steps count from 1. Step k: what the decoder attended to when it produced "
                          "output token k.") - 1


def _code(s: str) -> str:
    return f"`` {s} ``" if "`" in s else f"`{s}`"


def step_caption(trace, step: int, tokenization: str) -> str:
    """Step `step` in words: what the decoder has read, what it wrote, and with what probability."""
    joiner = "" if tokenization == "char" else " "
    read = " ".join(_code(t) for t in vt.visible_tokens(trace.target_tokens[: step + 1], escape=False))
    so_far = joiner.join(trace.output_tokens[:step])
    token, prob = trace.output_tokens[step], dict(trace.step_top_k[step]).get(trace.output_tokens[step])
    prob_text = f" (probability {prob:.3f})" if prob is not None else ""
    return (
        f"**Step {step + 1} of {len(trace.output_tokens)}.** The decoder reads {read} (its position {step}, counted "
        f"from 0, is the query) and writes {_code(vt.visible_tokens([token], escape=False)[0])}{prob_text}. "
        "Output so far: "
        f"{_code(so_far) if so_far else '(nothing yet)'}."
    )


def masks_explanation(trace) -> str:
    """What the masks do here: the number of <pad> tokens, and the rule each mask enforces."""
    n_pad = int((~np.asarray(trace.source_mask, dtype=bool)).sum())
    pad = (
        f"The source holds **{n_pad} <pad> token{'s' if n_pad != 1 else ''}**: no query, in the encoder or in "
        "cross-attention, may attend to them, so their columns of the attention are exactly 0."
        if n_pad
        else "The source has no padding now: set *Pad the source to N tokens* above to add some and watch their "
        "columns go to 0."
    )
    return (
        "A mask sets the scores of forbidden (query, key) pairs to −∞ before the softmax, which turns them into "
        f"weights of exactly 0. {pad} The causal mask lets decoder position t see only positions ≤ t, so the "
        "decoder cannot look at the tokens it has not written yet."
    )


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


def export_npz(trace) -> bytes:
    """Every attention array of the trace, the masks and the tokens, as one .npz file."""
    buf = io.BytesIO()
    labels = {k: np.asarray(v, dtype=str) for k, v in _labels(trace).items()}
    np.savez_compressed(buf, **_arrays(trace), **labels)
    return buf.getvalue()


def export_json(trace) -> str:
    """The same content as JSON: tokens and each array as nested lists (axes: heads, queries, keys)."""
    doc = _labels(trace)
    doc["axes"] = {"attention": ["head", "query", "key"], "source_mask": ["source position"],
                   "causal_mask": ["query", "key"]}
    doc["arrays"] = {k: v.tolist() for k, v in _arrays(trace).items()}
    return json.dumps(doc, ensure_ascii=False)


def downloads_ui(trace, task: str) -> None:
    """Download buttons for the attention shown: NPZ (arrays) and JSON (tokens + arrays as lists)."""
    c1, c2 = st.columns(2)
    with c1:
        st.download_button("Download attention (.npz)", export_npz(trace), file_name=f"attention_{task}.npz",
                           mime="application/octet-stream", key="ed_dl_npz")
    with c2:
        st.download_button("Download attention (.json)", export_json(trace), file_name=f"attention_{task}.json",
                           mime="application/json", key="ed_dl_json")
