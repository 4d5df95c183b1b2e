"""Cached loaders, widget groups, words and downloads for the language-model page (views/language.py).

The model is loaded once per (name, device) into the one bounded model cache (ui.common.shared_model) and shared
by every session; a run is cached per (model, text digest, new tokens, device) with st.cache_resource (a trace
keeps the captured queries and keys, never pickled) and few entries, since a long input's records weigh hundreds
of MB. Widgets keep the view in the URL (ui.link): their keys are the parameters' names (`lm_model`, `lm_name`,
`lm_text`, `lm_new`, `lm_kind`, `lm_layer`, `lm_head`, `lm_view`, `lm_step`, `lm_hide`).
"""
from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import streamlit as st

from models.analysis import attention_math as am
from models.messages import CodedError
from ui import link
from ui import messages as ui_messages
from ui.common import on_device_or_cpu, shared_model
from ui.i18n import N_, _

MODEL_KEY, NAME_KEY, TEXT_KEY = "lm_model", "lm_name", "lm_text"
NEW_KEY, KIND_KEY, VIEW_KEY, HIDE_KEY = "lm_new", "lm_kind", "lm_view", "lm_hide"
LAYER_KEY, HEAD_KEY, STEP_KEY = "lm_layer", "lm_head", "lm_step"
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEMOS = ("demo:reverse", "demo:dates", "demo:translate")
MAX_CELLS = 192  # positions per axis of a matrix sent whole; longer ones are pooled into this many blocks
GRID_CELLS = 96  # per head in the grid of a layer's heads
TILE_CELLS = 32  # per tile of the layers × heads overview
MAX_LINES_TOKENS = 96  # the head view draws at most this many positions (a window of the sequence)
MAX_UPLOAD_BYTES = 512 * 1024
MAX_INPUT_CHARS = 200_000  # the text box; a model reads at most its own longest input (said when cut)

KINDS = {
    "self": N_("Self-attention"),
    "encoder": N_("Encoder self-attention"),
    "decoder": N_("Decoder masked self-attention"),
    "cross": N_("Cross-attention"),
}
FAMILY_NAMES = {
    "encoder": N_("encoder-only"),
    "decoder": N_("decoder-only"),
    "encoder-decoder": N_("encoder–decoder"),
}
VIEWS = {"head": N_("One head"), "layer": N_("All heads of a layer"), "lines": N_("Head view")}
EXAMPLES = {
    "encoder": ("The cat sat on the mat because it was tired.",
                "The capital of France is [MASK].",
                "She went to the bank to deposit her paycheck, then sat on the river bank."),
    "decoder": ("The cat sat on the mat because it was tired.",
                "Once upon a time, there was a little girl who",
                "The capital of France is"),
    "encoder-decoder": ("The cat sat on the mat because it was tired.",
                        "translate English to German: The house is wonderful.",
                        "I would like a cup of tea, please."),
}


def word(item) -> str:
    """A Notice or CodedError in the reader's language; the demo's notes show the user's text and the model's
    tokens as code, as the encoder–decoder page does (ui.text.word)."""
    if str(getattr(item, "code", "")).startswith("text."):
        from ui import text as ui_text

        return ui_text.word(item)
    return ui_messages.word(item)


def _code(s: str) -> str:
    return f"`` {s} ``" if "`" in s else f"`{s}`"


# ------------------------------------------------------------------------------------------------ the model
def model_names() -> list[str]:
    """The names the page offers: the curated list, models in the local Hugging Face cache, our demos."""
    from models.language import hub

    names = [entry.name for entry in hub.CURATED]
    try:
        names += hub.cached_models()
    except Exception:  # a broken cache folder must not take the page down; it just lists nothing more
        pass
    return list(dict.fromkeys(names + list(DEMOS)))


def model_label(name: str) -> str:
    from models.language import hub

    for entry in hub.CURATED:
        if entry.name == name:
            return _("{name} — {what}").format(name=name, what=word(entry.about))
    if name.startswith("demo:"):
        return _("{name} — our encoder–decoder, trained here").format(name=name)
    return name


def model_ui() -> str:
    """The model: a list (curated, cached, demos) and a field for any Hub name or allowed folder, which wins when
    filled. Both are in the URL."""
    from models.language import hub

    names = model_names()
    # By name through link.bind/publish: a selectbox bound by Streamlit would write its (translated) label.
    link.bind(MODEL_KEY, MODEL_KEY, link.one_of(names))
    if st.session_state.get(MODEL_KEY) not in names:
        st.session_state[MODEL_KEY] = DEFAULT_MODEL if DEFAULT_MODEL in names else names[0]
    left, right = st.columns([3, 2])
    with left:
        chosen = st.selectbox(_("Model"), names, key=MODEL_KEY, format_func=model_label,
                              help=_("Models in the local cache load without the network; the others download "
                                     "from the Hugging Face Hub once."))
        st.caption(word(hub.describe_limit()))
    link.publish(**{MODEL_KEY: None if chosen == DEFAULT_MODEL else chosen})
    with right:
        link.check(NAME_KEY, link.text(200))
        typed = st.text_input(_("…or any Hugging Face model"), key=NAME_KEY, bind="query-params", max_chars=200,
                              placeholder="openai-community/gpt2",
                              help=_("A Hub name such as `owner/name`. Its size is read from the Hub before "
                                     "anything is downloaded; models above the server's limit are refused."))
    return (typed or "").strip() or chosen


def load_model(name: str, device: str):
    """One read-only model per (name, device), shared by every session (ui.common.shared_model); errors are not
    cached, so a model refused now may be tried again."""
    from models import language

    return shared_model("language", (name, device), lambda: language.load(name, device, folders="weights_dir"),
                        spinner=_("Loading {name}…").format(name=name))


def load_or_stop(name: str, device: str):
    """The model, or a plain message on the page and the page stopped: unknown names, models too large for the
    server, gated models, no network, models whose attention cannot be captured faithfully."""
    try:
        return load_model(name, device)
    except CodedError as err:
        st.error(word(err))
    except (OSError, ValueError, KeyError, ImportError) as err:  # transformers' own errors on odd checkpoints
        st.error(_("This model could not be loaded: {reason}").format(reason=_code(str(err)[:300])))
    st.stop()


def weights_badge(model) -> None:
    """Which weights are in use, and the model's credit and licence, always on screen."""
    st.info(_("Weights: **{source}**").format(source=word(model.source)))
    if model.credit is not None:
        st.caption(word(model.credit))


def dimensions_caption(model) -> str:
    layers = ", ".join(
        _("{kind}: {n}").format(kind=_(KINDS[k]), n=n) for k, n in model.num_layers.items()
    )
    text = _(
        "This model ({family}, {params:,} parameters): layers per attention — {layers}; {heads} heads per layer, "
        "each in d_k = {d_k} dimensions."
    ).format(family=_(FAMILY_NAMES.get(model.family, model.family)), params=model.num_params, layers=layers,
             heads=model.num_heads, d_k=model.head_dim)
    if model.num_kv_heads != model.num_heads:
        text += " " + _(
            "Grouped-query attention: {kv} key/value heads, each shared by {group} query heads."
        ).format(kv=model.num_kv_heads, group=model.num_heads // max(model.num_kv_heads, 1))
    return text


# ------------------------------------------------------------------------------------------------ the input
def _use_example(key: str) -> None:
    example = st.session_state.get(key)
    if example:
        st.session_state[TEXT_KEY] = example


def input_ui(model) -> str:
    """The text box (in the URL, up to link.MAX_TEXT characters), examples for this kind of model, and a .txt
    upload for longer texts (not put in links)."""
    if model.tokenizer is None:  # our demo: its task's own examples
        from models.demo import text as demo_text

        examples = list(demo_text.TASKS[model.name.split(":", 1)[1]].examples)
    else:
        examples = list(EXAMPLES.get(model.family, EXAMPLES["encoder"]))
    mask = getattr(model.tokenizer, "mask_token", None) if model.tokenizer is not None else None
    if model.head == "masked-lm" and mask:
        examples = [e.replace("[MASK]", mask) for e in examples]
    else:
        examples = [e for e in examples if "[MASK]" not in e]
    # The text box is not bound by Streamlit (a long text would not fit in a link): a link's text (up to
    # link.MAX_TEXT characters) is taken in before the box, and the text in use is published after it when short.
    link.bind(TEXT_KEY, TEXT_KEY, link.text())
    if TEXT_KEY not in st.session_state:
        st.session_state[TEXT_KEY] = examples[0]
    left, right = st.columns([3, 2])
    with right:
        st.selectbox(_("Examples"), examples, index=None, key="lm_example", placeholder=_("pick an example input"),
                     on_change=_use_example, args=("lm_example",))
        upload = st.file_uploader(_("…or a .txt file (up to 512 KB; not kept in links)"), type=["txt"],
                                  key="lm_upload")
    with left:
        typed = st.text_area(_("Input text"), key=TEXT_KEY, max_chars=MAX_INPUT_CHARS, height=110)
    typed = typed or ""
    link.publish(**{TEXT_KEY: typed if len(typed) <= link.MAX_TEXT else None})
    if len(typed) > link.MAX_TEXT:
        st.caption(_("A text longer than {n:,} characters is not kept in the page's link.").format(n=link.MAX_TEXT))
    if model.head == "masked-lm" and mask:
        st.caption(_("Write {mask} where the model should guess a word: it shows its top 5 for each.").format(
            mask=_code(mask)))
    if upload is not None:
        data = upload.getvalue()
        if len(data) > MAX_UPLOAD_BYTES:
            st.warning(_("The file is larger than 512 KB, so the text box is used instead."))
        else:
            try:
                st.caption(_("Reading the uploaded file {name}.").format(name=_code(upload.name)))
                return data.decode("utf-8")
            except UnicodeDecodeError:
                st.warning(_("The file is not UTF-8 text, so the text box is used instead."))
    return typed or ""


def new_tokens_ui(model) -> int:
    """How many tokens to generate greedily (decoder-only: default 20; encoder–decoder: at most, default 40)."""
    if model.family == "encoder" or model.head is None:
        return 0
    default = 20 if model.family == "decoder" else 40
    link.check(NEW_KEY, link.whole(0, 200))
    label = _("New tokens (greedy decoding)") if model.family == "decoder" else _(
        "Output tokens at most (greedy decoding, stops at the end token)")
    return st.slider(label, 0 if model.family == "decoder" else 1, 200, default, key=NEW_KEY, bind="query-params")


PAD_KEY = "lm_pad"


def pad_ui(model) -> int | None:
    """Encoder-only models: pad the input with the tokenizer's pad token to N positions, so that the padding mask
    has something to hide (as a batch pads a shorter input). Returns N, or None for no padding."""
    if model.family != "encoder" or model.tokenizer is None or model.tokenizer.pad_token_id is None:
        return None
    longest = min(model.max_positions or 512, 512)
    link.check(PAD_KEY, link.whole(0, longest))
    pad = st.slider(_("Pad the input to N tokens (0 = no padding)"), 0, longest, 0, key=PAD_KEY, bind="query-params",
                    help=_("Appends the pad token with attention mask 0, as a batch pads a shorter input: no query "
                           "may attend to it, so its column of every head is exactly 0, and the real tokens' weights "
                           "do not change."))
    return pad or None


@st.cache_resource(show_spinner=False, max_entries=4)  # a 4,096-token GPT-2 trace holds ~300 MB
def _run(name: str, digest: str, text: str, new_tokens: int, device: str, pad_to: int | None = None):
    from models import language

    return language.run(load_model(name, device), text, max_new_tokens=new_tokens, pad_to=pad_to)


def run_model(name: str, text: str, new_tokens: int, device: str, pad_to: int | None = None):
    """The trace of this text, cached per (model, text digest, new tokens, padding, device): a view change reruns
    nothing. A CUDA out-of-memory error reruns it on the CPU, with a notice."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with st.spinner(_("Running the model…")):
        return on_device_or_cpu(lambda d: _run(name, digest, text, new_tokens, d, pad_to), device)


# ------------------------------------------------------------------------------------------------ the views
def counted_from_1(label: str, n: int, key: str, help: str | None = None) -> int:
    """A select slider over 1..n kept in the URL under `key`; returns the 0-based index."""
    options = list(range(1, n + 1))
    link.check(key, link.whole(1, n))
    if key in st.session_state and st.session_state[key] not in options:
        st.session_state.pop(key, None)
    if n == 1:
        st.caption(_("{label}: 1 (the only one)").format(label=label))
        return 0
    return st.select_slider(label, options=options, key=key, help=help, bind="query-params") - 1


def linked_radio(label: str, options: list[str], names: dict[str, str], key: str, **kwargs) -> str:
    """A radio kept in the URL under `key` by its option's internal name (not its translated label)."""
    link.bind(key, key, link.one_of(options))
    if st.session_state.get(key) not in options:
        st.session_state.pop(key, None)
    value = st.radio(label, options, key=key, format_func=lambda o: _(names[o]), **kwargs)
    link.publish(**{key: None if value == options[0] else value})
    return value


def hidden_positions(tokens) -> np.ndarray:
    return np.asarray([not t.special for t in tokens], dtype=bool)


def shown_labels(tokens, hide: bool) -> list[str]:
    return [t.label for t in tokens if not (hide and t.special)]


def ids(tokens) -> list[int] | None:
    """The tokenizer's ids of tokens, for hover; None for our demo's tokens (they have none)."""
    out = [t.id for t in tokens]
    return None if any(i < 0 for i in out) else out


def matrices(trace, kind: str, layer: int, max_cells: int, hide: bool, heads=None):
    """What a view draws of one layer: (weights (heads, Q', K'), query edges, key edges, query tokens, key tokens),
    pooled into at most max_cells blocks per axis; with hide, special tokens left out and rows renormalised.
    heads: only those (a one-head view computes one head)."""
    q_tokens, k_tokens = trace.token_info(kind)
    if not hide or not any(t.special for t in q_tokens + k_tokens):
        pooled, q_edges, k_edges = trace.pooled(kind, layer, max_cells, heads=heads)
        return pooled, q_edges, k_edges, q_tokens, k_tokens
    keep_q, keep_k = np.flatnonzero(hidden_positions(q_tokens)), np.flatnonzero(hidden_positions(k_tokens))
    q_edges, k_edges = am.block_edges(len(keep_q), max_cells), am.block_edges(len(keep_k), max_cells)
    chosen = range(trace.num_heads) if heads is None else heads
    blocks = [am.block_means(am.without_positions(trace.head(kind, layer, h), keep_q, keep_k), q_edges, k_edges)
              for h in chosen]
    return np.stack(blocks), q_edges, k_edges, [q_tokens[i] for i in keep_q], [k_tokens[i] for i in keep_k]


def special_note(trace, kind: str) -> str | None:
    q_tokens, k_tokens = trace.token_info(kind)
    specials = list(dict.fromkeys(t.label for t in q_tokens + k_tokens if t.special))
    if not specials:
        return None
    return _("Special tokens here: {tokens}. Hiding them leaves them out of both axes and renormalises every row "
             "over the tokens kept, since they absorb much of the attention (Clark et al., 2019).").format(
        tokens=", ".join(_code(s) for s in specials))


def pooled_note(n_q: int, n_k: int, q_edges, k_edges) -> str | None:
    if len(q_edges) - 1 == n_q and len(k_edges) - 1 == n_k:
        return None
    return _(
        "{n_q:,} × {n_k:,} weights are too many to send whole, so each cell is the plain mean of a block of "
        "consecutive queries and keys ({q_blocks} × {k_blocks} blocks of near-equal size, indices from 0, both ends "
        "included in hover). Nothing is resampled or invented; the step view and the downloads have every weight."
    ).format(n_q=n_q, n_k=n_k, q_blocks=len(q_edges) - 1, k_blocks=len(k_edges) - 1)


# ------------------------------------------------------------------------------------------------ downloads
FIELD_DESCRIPTIONS = {
    "tokens_<kind>": N_("the query and key tokens of that attention, readable (index from 0)"),
    "token_ids_<kind>": N_("the tokenizer's ids of those tokens"),
    "<kind>_layerN": N_("attention of layer N (counted from 1) of that kind: axes head, query, key"),
    "mask_<kind>": N_("(query, key) true where the query may attend: padding, causal and sliding-window masks"),
    "model": N_("the model's name"),
    "weights_source": N_("the weights the model ran with"),
}


def field_descriptions() -> dict[str, str]:
    return {name: _(d) for name, d in FIELD_DESCRIPTIONS.items()}


def _arrays(trace, layers: dict[str, list[int]]) -> dict[str, np.ndarray]:
    arrays = {}
    for kind, chosen in layers.items():
        for layer in chosen:
            arrays[f"{kind}_layer{layer + 1}"] = np.asarray(trace.weights(kind, layer), dtype=np.float32)
        arrays[f"mask_{kind}"] = np.asarray(trace.mask(kind), dtype=bool)
        q, k = trace.token_info(kind)
        arrays[f"token_ids_{kind}"] = np.asarray([t.id for t in k], dtype=np.int64)
    return arrays


def export_npz(trace, layers: dict[str, list[int]], fields: dict[str, str]) -> bytes:
    """The weights of `layers` ({kind: [layer, ...]}), masks, tokens and ids as one .npz, with `fields`: what each
    array holds (in the reader's language, made in the page's run: this may run on another thread)."""
    buf = io.BytesIO()
    labels = {f"tokens_{kind}": np.asarray([t.label for t in trace.token_info(kind)[1]], dtype=str)
              for kind in layers}
    np.savez_compressed(buf, **_arrays(trace, layers), **labels, model=np.asarray(trace.model_name),
                        weights_source=np.asarray(trace.weights_source),
                        fields=np.asarray(json.dumps(fields, ensure_ascii=False)))
    return buf.getvalue()


def export_json(trace, layers: dict[str, list[int]], fields: dict[str, str]) -> str:
    doc = {"model": trace.model_name, "weights_source": trace.weights_source, "fields": fields,
           "axes": {"attention": ["head", "query", "key"], "mask": ["query", "key"]},
           "tokens": {kind: [t.label for t in trace.token_info(kind)[1]] for kind in layers},
           "arrays": {k: v.tolist() for k, v in _arrays(trace, layers).items()}}
    return json.dumps(doc, ensure_ascii=False)


def downloads_ui(trace, kind: str, layer: int) -> None:
    """The weights shown, as NPZ and JSON: every layer when the sequence is short, else the layer on screen
    (a 4,096-token layer is 800 MB of float32 per kind)."""
    q, k = trace.tokens(kind)
    every = len(q) * len(k) * trace.num_heads * trace.num_layers(kind) * 4 <= 64 * 2**20
    layers = {kind: list(range(trace.num_layers(kind))) if every else [layer]}
    if not every:
        st.caption(_("This sequence is long, so the downloads hold the layer on screen (layer {layer}), every head "
                     "and every weight of it.").format(layer=layer + 1))
    base = trace.model_name.replace("/", "_").replace(":", "_")
    fields = field_descriptions()
    c1, c2 = st.columns(2)
    with c1:
        st.download_button(_("Download attention (.npz)"), lambda: export_npz(trace, layers, fields),
                           file_name=f"attention_{base}_{kind}.npz", mime="application/octet-stream",
                           key="lm_dl_npz", on_click="ignore")
    with c2:
        if len(q) * len(k) * trace.num_heads * len(layers[kind]) <= 4 * 2**20:
            st.download_button(_("Download attention (.json)"), lambda: export_json(trace, layers, fields),
                               file_name=f"attention_{base}_{kind}.json", mime="application/json", key="lm_dl_json",
                               on_click="ignore")
        else:
            st.caption(_("JSON is offered up to 4 million weights; use the .npz file for this one."))
