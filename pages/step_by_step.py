"""One head, step by step: every intermediate of one attention head, from the model's own weights.

Thin: widgets, cached calls, layout. The models come from the app's one bounded model cache (ui.vision.cached_model,
ui.text.load_model); the recomputation is cached per (model, input, layer) for every head at once, and each figure
per view (ui.common.cached_figure), so that a change of head, layer or query token reruns only the walk-through
fragment and mostly re-sends figures already built.
"""
from __future__ import annotations

import math

import streamlit as st

from models.capture import step_by_step as sbs
from models.capture import vision
from models.demo import shapes, text
from models.runtime import images
from ui import text as ui_text
from ui import vision as ui_vision
from ui.common import cached_figure, current_device, weights_badge
from viz import step_by_step as figs

PAGE = "step_by_step"
VIT = "Vision Transformer (ViT)"
FALLBACK_VIT = "vit_tiny_patch16_224"
VISIBLE = {" ": "␣", "\t": "⇥", "\n": "↵", "": "∅"}


def text_model(task: str, device: str):
    """(model, weights, note): the bundled checkpoint from the app's model cache, or random weights with a note
    saying why. No cache of its own."""
    try:
        return ui_text.load_model(task, device), "demo", None
    except text.MissingCheckpoint as e:
        return ui_text.load_model(task, device, "random"), "random", f"{e} Showing random weights instead."


def vit_model(name: str, weights: str, device: str):
    """(model, name, weights, note) from the app's model cache; a missing demo falls back to an untrained ViT with
    a note saying why. No cache of its own."""
    try:
        return ui_vision.cached_model(name, weights, device), name, weights, None
    except vision.WeightsUnavailable as e:
        if weights != "demo":
            raise
        note = f"{e} Showing an untrained {FALLBACK_VIT} instead."
        return ui_vision.cached_model(FALLBACK_VIT, "random", device), FALLBACK_VIT, "random", note


@st.cache_resource(show_spinner="Recomputing the layer…", max_entries=16)
def text_layer(task: str, weights: str, sentence: str, pad_to: int | None, kind: str, layer: int, device: str):
    """(trace, every head's HeadSteps) of one layer; shared read-only. Refusals (NotReproducible) are not cached."""
    model = ui_text.load_model(task, device, weights) if weights != "demo" else ui_text.load_model(task, device)
    trace = text.run(model, sentence, pad_to=pad_to)
    return trace, sbs.text_steps(model, trace, kind, layer, None)


@st.cache_resource(show_spinner="Recomputing the block…", max_entries=16)
def vit_layer(name: str, weights: str, image_key: str, _image, block: int, device: str):
    """Every head's HeadSteps of one block; image_key identifies _image (shape and seed, sample, or upload id)."""
    model = ui_vision.cached_model(name, weights, device)
    pixels, _crop = vision.preprocess(model, _image)
    return sbs.vit_model_steps(model, pixels, block, None)


def token_labels(tokens: list[str]) -> list[str]:
    """Labels a reader can see: a space becomes ␣."""
    return [VISIBLE.get(str(t), str(t)) for t in tokens]


def head_slider(n_heads: int, key: str = "sbs_head") -> int:
    """The head, counted from 1 as the papers do (a slider the keyboard can step); returns the 0-based index."""
    if not 1 <= int(st.session_state.get(key, 1)) <= n_heads:
        st.session_state[key] = 1  # another model with fewer heads
    if n_heads == 1:
        st.caption("Head 1 (this layer has one head)")
        return 0
    return st.select_slider("Head (counted from 1)", list(range(1, n_heads + 1)), key=key) - 1


def text_input_ui(task: str, device: str):
    """The model and its input, outside the walk-through fragment. Returns the arguments of text_layer."""
    info = text.TASKS[task]
    model, weights, note = text_model(task, device)
    if note:
        st.warning(note)
    c1, c2 = st.columns([3, 2])
    with c1:
        sentence = st.text_input(
            f"Input (up to {info.max_input_len} {'characters' if info.tokenization == 'char' else 'words'})",
            value=info.examples[0], key=f"sbs_text_{task}",
        )
    with c2:
        pad = st.slider("Pad the source to N tokens (0 = none)", 0, info.max_input_len + 1, 0, key=f"sbs_pad_{task}",
                        help="Adds <pad> tokens, so that the padding mask has something to hide.")
    return model.transformer.cfg, weights, sentence, pad or None


def vit_input_ui(device: str):
    """Model and image, outside the walk-through fragment. Returns (model, name, weights, image, image key)."""
    c1, c2, c3 = st.columns([2, 3, 2])
    with c1:
        which = st.radio("ViT", ["demo", "timm model"], horizontal=True, key="sbs_vit_which",
                         help="The bundled demo ViT (trained here on shapes), or any timm ViT by name.")
    name, weights = "vit_demo", "demo"
    if which == "timm model":
        with c2:
            name = st.text_input("timm name", "vit_base_patch16_224", key="sbs_vit_name").strip()
        with c3:
            weights = st.radio("Weights", ["pretrained", "random"], horizontal=True, key="sbs_vit_weights",
                               help="Pretrained weights come from the Hugging Face Hub (or its local cache).")
        if not name:
            st.warning("Type a timm ViT name, for example vit_base_patch16_224.")
            st.stop()
    try:
        if which == "timm model":
            vision.require_family(name, "vit")
        model, name, weights, note = vit_model(name, weights, device)
        sbs.vit_blocks(model)
    except sbs.NotReproducible as e:  # the model adds to the logits what the walk-through does not redo
        st.error(f"This model cannot be shown step by step. {e}")
        st.stop()
    except (vision.VisionError, ValueError) as e:  # messages written for the page; never a traceback
        st.error(str(e))
        st.stop()
    if note:
        st.warning(note)
    source = st.radio("Image", ["generated shape", "sample photo", "upload"], horizontal=True, key="sbs_image_source",
                      help="The demo ViT was trained on generated shapes; photos work, but mean little to it.")
    if source == "generated shape":
        c1, c2 = st.columns(2)
        with c1:
            shape = st.selectbox("Shape", shapes.CLASSES, index=2, key="sbs_shape")
        with c2:
            seed = st.number_input("Seed", 0, 10_000, 0, key="sbs_seed")
        image, key = shapes.sample_image(shape, seed=int(seed)), f"shape:{shape}:{int(seed)}"
    elif source == "sample photo":
        sample = st.selectbox("Sample", list(images.SAMPLES), key="sbs_sample")
        image, key = images.load_image(images.SAMPLES[sample]), f"sample:{sample}"
    else:
        upload = st.file_uploader("Image file", type=images.UPLOAD_TYPES, key="sbs_upload")
        if upload is None:
            st.info("Upload an image to continue.")
            st.stop()
        try:
            image = images.load_image(upload)
        except images.ImageError as e:
            st.error(str(e))
            st.stop()
        key = f"upload:{upload.name}:{upload.size}:{upload.file_id}"
    st.image(image, caption="input", width=160)
    return model, name, weights, image, key


st.title("One head, step by step")
st.caption(
    "Every number below is what the model computes: its own weights, its own input to the layer, and the "
    "arithmetic of *Attention Is All You Need* (Vaswani et al., 2017, §3.2) redone one step at a time. "
    "The recomputation is checked against the model's own output first; if it does not reproduce it, no steps are "
    "shown. Layers, blocks and heads count from 1; token positions, dimensions and matrix rows and columns are "
    "indices from 0."
)
device = current_device()
model_choice = st.radio(
    "Model", list(text.TASKS) + [VIT], horizontal=True, key="sbs_model",
    format_func=lambda m: f"encoder–decoder: {m}" if m in text.TASKS else m,
    help="The encoder–decoder demo tasks (trained from scratch) or a Vision Transformer from timm.",
)
family = "text" if model_choice in text.TASKS else "vit"
if family == "text":
    cfg, text_weights, sentence, pad_to = text_input_ui(model_choice, device)
    run_key = f"text|{model_choice}|{text_weights}|{sentence!r}|{pad_to}|{device}"
else:
    vit, vit_name, vit_weights, image, image_key = vit_input_ui(device)
    run_key = f"vit|{vit_name}|{vit_weights}|{image_key}|{device}"


PARTS = {  # about four charts a view: a head change redraws each of them in the browser (~50-60 ms a chart)
    "1–2: X and the head's weights": range(1, 3),
    "3–4: Q, K, V → scores": range(3, 5),
    "5–7: scale, mask, softmax": range(5, 8),
    "8–11: output and check": range(8, 12),
    "all eleven steps": range(1, 12),
}


def step(shown: range, number: int, title: str, formula: str, shape: str, words: str, *figures) -> None:
    """One step: formula, shape and plain words beside its heatmap; several heatmaps go in a row beneath.
    `figures` are thunks (cached_figure calls): only the steps on show build or send their figures."""
    if number not in shown:
        return
    figures = [f() for f in figures]
    st.divider()
    if len(figures) == 1:
        left, right = st.columns([2, 3])
        with left:
            st.subheader(f"{number}. {title}")
            st.latex(formula)
            st.caption(f"shape: {shape}")
            st.markdown(words)
        with right:
            st.plotly_chart(figures[0], key=f"sbs_fig_{number}")
        return
    st.subheader(f"{number}. {title}")
    left, right = st.columns([2, 3])
    with left:
        st.latex(formula)
        st.caption(f"shape: {shape}")
    with right:
        st.markdown(words)
    for i, (col, fig) in enumerate(zip(st.columns(len(figures)), figures)):
        with col:
            st.plotly_chart(fig, key=f"sbs_fig_{number}_{i}")


@st.fragment
def walkthrough() -> None:
    """Layer, head and query token, and the ten steps: a change here reruns only this fragment."""
    part = st.segmented_control(
        "Steps to show", list(PARTS), default=list(PARTS)[0], key="sbs_part",
        help="A few steps at a time keep a change of head or token quick; every step is recomputed either way.",
    ) or list(PARTS)[0]
    if family == "text":
        c1, c2, c3 = st.columns(3)
        with c1:
            kind = st.selectbox("Attention", sbs.TEXT_KINDS, key="sbs_kind", format_func=lambda k: sbs.KIND_NAMES[k])
        n_layers = cfg.n_encoder_layers if kind == "encoder" else cfg.n_decoder_layers
        with c2:
            layer = st.selectbox("Layer", range(n_layers), key=f"sbs_layer_{model_choice}_{kind}",
                                 format_func=lambda i: f"layer {i + 1}")
        with c3:
            head = head_slider(cfg.n_heads)
        try:
            trace, all_heads = text_layer(model_choice, text_weights, sentence, pad_to, kind, layer, device)
        except text.EmptyInput as e:
            st.error(str(e))
            return
        except sbs.NotReproducible as e:
            st.error(f"This head cannot be shown step by step. {e}")
            return
        except ValueError as e:
            st.error(f"This input cannot be shown step by step: {e}")
            return
        for message in trace.messages:
            st.warning(message)
        weights_badge(trace.weights_source)
        st.markdown(f"**Output:** `{trace.output}`")
    else:
        blocks = sbs.vit_blocks(vit)
        c1, c2 = st.columns(2)
        with c1:
            layer = st.selectbox("Block", range(len(blocks)), key="sbs_block", format_func=lambda i: f"block {i + 1}")
        with c2:
            head = head_slider(int(blocks[0].attn.num_heads))
        try:
            all_heads = vit_layer(vit_name, vit_weights, image_key, image, layer, device)
        except sbs.NotReproducible as e:
            st.error(f"This model cannot be shown step by step. {e}")
            return
        except (ValueError, RuntimeError) as e:
            st.error(f"This model cannot be shown step by step: {e}")
            return
        weights_badge(vit.weights_source)
        kind = "vit"
    steps = all_heads[head]
    q_labels, k_labels = token_labels(steps.query_labels), token_labels(steps.key_labels)
    query = st.selectbox(
        "Query token (highlighted throughout; positions are indices from 0)", range(len(q_labels)),
        index=min(3, len(q_labels) - 1) if family == "text" else 0, key=f"sbs_query_{model_choice}",
        format_func=lambda i: f"{i}: {q_labels[i]}", help="Its row is boxed in every matrix whose rows are queries.",
    )
    query = min(int(query), len(q_labels) - 1)
    render(steps, kind, layer, head, query, q_labels, k_labels, PARTS[part])


def render(steps, kind: str, layer: int, head: int, query: int, q_labels: list[str], k_labels: list[str],
           shown: range) -> None:
    T_q, T_k, d_model, d_k, h = len(q_labels), len(k_labels), steps.d_model, steps.d_k, steps.n_heads

    def fig(name: str, build, per_head: bool = True, per_query: bool = False):
        view = (kind, layer, head if per_head else None, query if per_query else None, name)
        return lambda: cached_figure(PAGE, run_key, view, build)

    # ------------------------------------------------------------------------------------------ check
    c1, c2 = st.columns([1, 3])
    with c1:
        st.metric("max |recomputed − model|", f"{steps.max_abs_diff:.2e}")
    with c2:
        st.success(
            f"Recomputing Concat(head₁…head{h}) W_O + b_O from the intermediates below gives the model's own output "
            f"of this attention sub-layer ({sbs.KIND_NAMES[steps.kind]}, {'layer' if family == 'text' else 'block'} "
            f"{steps.layer + 1}) to within {steps.max_abs_diff:.1e} (float32; tolerance {steps.tol:.1e} = "
            f"{sbs.tolerance_text()})."
            + (" The LayerScale γ ⊙ output is checked against the block's own too." if steps.layer_scale is not None
               else "")
        )

    # 1. X
    if family == "text":
        if steps.kind == "encoder":
            where = ("the token embeddings × √d_model plus the sinusoidal positional encoding (§3.4–3.5)"
                     if steps.layer == 0 else f"the output of encoder layer {steps.layer}, which ends in LayerNorm")
            x_words = (f"Each row is one source token's {d_model}-dimensional vector as it enters this layer: {where}. "
                       "The paper's layers are post-norm: each sub-layer's output is LayerNorm(x + Sublayer(x)), so X "
                       "is already normalised (except in layer 1).")
        elif steps.kind == "decoder":
            where = ("the target embeddings × √d_model plus the positional encoding" if steps.layer == 0
                     else f"the output of decoder layer {steps.layer}")
            x_words = f"Each row is one decoder input token (<s> and the output so far, shifted right): {where}."
        else:
            x_words = ("Queries come from the decoder: its vectors after this layer's masked self-attention "
                       "sub-layer, LayerNorm(x + SelfAttention(x)). Keys and values come from the encoder's final "
                       "output (the memory), shown on the right: every decoder position can look at every source "
                       "token.")
    else:
        prefix = [t for t in q_labels if not t.startswith("(")]
        x_words = ("ViT prepends a learnable [class] token to the patch embeddings and adds learned position "
                   "embeddings: z₀ = [x_class; x¹E; …; xᴺE] + E_pos (Dosovitskiy et al. 2021, eq. 1). Blocks are "
                   "pre-norm, z′_ℓ = MSA(LN(z_ℓ₋₁)) + z_ℓ₋₁ (eq. 2), so the attention's input X is the block's "
                   f"LayerNorm of the residual stream. Rows 0…{len(prefix) - 1} are {', '.join(prefix)}, then the "
                   "patches in reading order, labelled (row, column) with indices from 0.")
    x_figs = [fig("x", lambda: figs.matrix_heatmap(steps.x_query, "X (queries)" if steps.kind == "cross" else "X",
                                                   q_labels, None, "token", "dimension", highlight=query),
                  per_head=False, per_query=True)]
    if steps.kind == "cross":
        x_figs.append(fig("memory", lambda: figs.matrix_heatmap(steps.x_key, "memory (keys, values)", k_labels, None,
                                                                "token", "dimension"), per_head=False))
    step(shown, 1, "The layer's input X",
         r"X \in \mathbb{R}^{T \times d_{model}}" if steps.kind != "cross"
         else r"X_{dec} \in \mathbb{R}^{T \times d_{model}},\quad M_{enc} \in \mathbb{R}^{S \times d_{model}}",
         f"{T_q} × {d_model}" + (f" and {T_k} × {d_model}" if steps.kind == "cross" else ""), x_words, *x_figs)

    # 2. W_Q, W_K, W_V
    proj_words = (f"Head {head + 1} of {h} has its own projections into a {d_k}-dimensional subspace: "
                  f"d_k = d_model / h = {d_model} / {h} = {d_k} (§3.2.2). "
                  + ("In the code they are rows "
                     f"{head * d_k}…{(head + 1) * d_k - 1} (indices from 0) of the layer's d_model × d_model linear "
                     "maps w_q, w_k, w_v (with biases), shown transposed so that Q = X W_Q." if family == "text" else
                     "In timm one linear layer `qkv` (d → 3·h·d_k) computes Q, K and V of every head at once "
                     "(U_qkv in the paper's Appendix A); these are this head's slices of it, transposed."))
    step(shown, 2, "This head's W_Q, W_K, W_V",
         r"W^Q_h,\; W^K_h,\; W^V_h \in \mathbb{R}^{d_{model} \times d_k}", f"{d_model} × {d_k} each", proj_words,
         *(fig(name, lambda w=w, name=name: figs.matrix_heatmap(w, name, None, None, "input dim", "head dim",
                                                                height=520))
           for w, name in ((steps.w_q, "W_Q"), (steps.w_k, "W_K"), (steps.w_v, "W_V"))))

    # 3. Q, K, V
    qkv_words = ("Every token is projected three ways. A query row says what its token is looking for, a key row "
                 "what its token offers to be matched against, a value row what it passes on when attended to.")
    if steps.notes and family == "vit":
        qkv_words += " " + " ".join(n for n in steps.notes if "LayerScale" not in n)
    kx = "M_{enc}" if steps.kind == "cross" else "X"
    step(shown, 3, "Queries, keys, values",
         rf"\begin{{aligned}} Q &= X W^Q_h + b^Q_h \\ K &= {kx} W^K_h + b^K_h \\ V &= {kx} W^V_h + b^V_h "
         r"\end{aligned}",
         f"Q {T_q} × {d_k}, K and V {T_k} × {d_k}", qkv_words,
         fig("q", lambda: figs.matrix_heatmap(steps.q, "Q", q_labels, None, "query", "head dim", highlight=query),
             per_query=True),
         fig("k", lambda: figs.matrix_heatmap(steps.k, "K", k_labels, None, "key", "head dim")),
         fig("v", lambda: figs.matrix_heatmap(steps.v, "V", k_labels, None, "key", "head dim")))

    # 4. Q Kᵀ
    step(shown, 4, "Scores: every query against every key", r"S = Q K^\top,\quad S_{ij} = q_i \cdot k_j",
         f"{T_q} × {T_k}",
         "The dot product of query i with key j: large when they point the same way. Row i holds how well "
         "token i's query matches every key.",
         fig("scores", lambda: figs.matrix_heatmap(steps.scores, "Q Kᵀ", q_labels, k_labels, "query", "key",
                                                   highlight=query), per_query=True))

    # 5. ÷ √d_k
    step(shown, 5, "Scaling by √d_k",
         rf"\frac{{Q K^\top}}{{\sqrt{{d_k}}}},\quad \sqrt{{{d_k}}} \approx {math.sqrt(d_k):.4f}", f"{T_q} × {T_k}",
         f"If the components of q and k were independent with mean 0 and variance 1, q · k would have variance "
         f"d_k. Large scores push the softmax into regions with tiny gradients, so the paper divides by √d_k "
         f"(§3.2.1), with d_k = {d_k} the dimension of this head, not d_model.",
         fig("scaled", lambda: figs.matrix_heatmap(steps.scaled, "Q Kᵀ / √d_k", q_labels, k_labels, "query", "key",
                                                   highlight=query), per_query=True),
         fig("scaled_row", lambda: figs.query_row_bars(steps.scaled[query], k_labels,
                                                       f"row of query {query}: {q_labels[query]}", "scaled score"),
             per_query=True))

    # 6. mask
    if steps.mask is None and 6 in shown:
        st.divider()
        st.subheader("6. Mask")
        st.markdown("No mask, and nothing else added: in ViT every token (the prefix tokens and every patch) may "
                    "attend to every token, itself included, so S′ = Q Kᵀ / √d_k goes to the softmax as it is. "
                    "(Models that add a relative position bias, as BEiT, or rotate q and k, as EVA-02, are refused "
                    "by this page: softmax(QKᵀ/√d_k)·V is not their whole computation.)")
    elif steps.mask is not None:
        why = {
            "encoder": "Padding keys (<pad>) get −∞, so no real token attends to them.",
            "decoder": "Keys after the query get −∞ (the causal mask): position t cannot see the tokens it has "
                       "to predict, which keeps decoding auto-regressive (§3.2.3). <pad> keys, if any, are masked "
                       "too.",
            "cross": "Padding keys of the source get −∞; every decoder position may see every real source token.",
        }[steps.kind]
        step(shown, 6, "The mask: −∞ before the softmax",
             r"S'_{ij} = \frac{S_{ij}}{\sqrt{d_k}} + M_{ij},\quad M_{ij} = \begin{cases} 0 & \text{may attend} \\ "
             r"-\infty & \text{masked} \end{cases}", f"{T_q} × {T_k}",
             f"{why} Adding −∞ rather than multiplying by 0 afterwards makes exp(−∞) = 0, so masked keys get weight "
             "exactly 0 and the remaining weights still sum to 1. Masked cells are dark and marked −∞. Nothing else "
             "is added to the scores in this model (no position bias: position entered once, with the embeddings).",
             fig("mask", lambda: figs.mask_heatmap(steps.mask, q_labels, k_labels, "M", highlight=query),
                 per_head=False, per_query=True),
             fig("masked", lambda: figs.matrix_heatmap(steps.masked, "S′ (masked scores)", q_labels, k_labels,
                                                       "query", "key", highlight=query), per_query=True))

    # 7. softmax
    step(shown, 7, "Softmax over the keys",
         r"A = \mathrm{softmax}(S'),\quad A_{ij} = \frac{e^{S'_{ij}}}{\sum_{j'} e^{S'_{ij'}}}", f"{T_q} × {T_k}",
         "Each row becomes weights ≥ 0 that sum to 1: how much query i takes from each key. These are the "
         "attention maps the other pages draw.",
         fig("weights", lambda: figs.weights_heatmap(steps.weights, q_labels, k_labels, f"A (head {head + 1})",
                                                     highlight=query), per_query=True),
         fig("weights_row", lambda: figs.query_row_bars(steps.weights[query], k_labels,
                                                        f"row of query {query}: {q_labels[query]}", "weight"),
             per_query=True))

    # 8. A V
    step(shown, 8, "Weights × values", r"\mathrm{head}_h = A V", f"{T_q} × {d_k}",
         "Each output row is the weighted average of the value rows, with that query's attention weights.",
         fig("head_output", lambda: figs.matrix_heatmap(steps.head_output, f"head {head + 1} = A V", q_labels, None,
                                                        "query", "head dim", highlight=query), per_query=True))

    # 9. concat
    def concat_figure():
        f = figs.matrix_heatmap(steps.concat, "Concat(head₁…headₕ)", q_labels, None, "query", "column",
                                highlight=query)
        return figs.highlight_columns(f, head * d_k, (head + 1) * d_k, T_q)

    step(shown, 9, "Concatenate every head", r"\mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)",
         f"{T_q} × {h * d_k}",
         f"The {h} heads ran in parallel, each in its own {d_k}-dimensional subspace. Their outputs are laid side "
         f"by side; head {head + 1}'s columns ({head * d_k}…{(head + 1) * d_k - 1}, indices from 0) are boxed. All "
         "heads here were recomputed the same way as this one.", fig("concat", concat_figure, per_query=True))

    # 10. W_O and output
    out_name = "MultiHead(Q, K, V)" if family == "text" else "MSA(X)"
    if family == "text":
        residual = "before the residual connection and LayerNorm: LayerNorm(x + MultiHead(x))."
    elif steps.layer_scale is not None:
        residual = ("before the residual connection. This block has LayerScale (CaiT, Touvron et al. 2021; also "
                    "DINOv2): it adds γ ⊙ MSA(LN(z)) to the stream, z′ = z + γ ⊙ MSA(LN(z)), with a learned "
                    "per-dimension γ (timm's `ls1`); γ ⊙ output is drawn last and checked too.")
    else:
        residual = "before the residual connection: z′ = MSA(LN(z)) + z (timm's `proj`)."
    out_figs = [fig("w_o", lambda: figs.matrix_heatmap(steps.w_o, "W_O", None, None, "concat column", "output dim",
                                                       height=520), per_head=False),
                fig("output", lambda: figs.matrix_heatmap(steps.output, out_name + " (recomputed)", q_labels, None,
                                                          "query", "dimension", highlight=query),
                    per_head=False, per_query=True)]
    if steps.layer_scale is not None:
        out_figs.append(fig("scaled_output", lambda: figs.matrix_heatmap(
            steps.scaled_output, "γ ⊙ " + out_name, q_labels, None, "query", "dimension", highlight=query),
            per_head=False, per_query=True))
    step(shown, 10, "Mix the heads with W_O",
         r"\begin{aligned} \mathrm{MultiHead} &= \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\, W^O"
         r" + b^O \\ W^O &\in \mathbb{R}^{h d_k \times d_{model}} \end{aligned}",
         f"W_O {h * d_k} × {d_model}, output {T_q} × {d_model}",
         "W_O lets every output dimension draw on every head. This is the attention sub-layer's output, " + residual,
         *out_figs)

    if 11 not in shown:
        return
    st.divider()
    st.subheader("11. The check")
    st.markdown(
        f"The model's own forward pass returned this sub-layer's output (captured by a hook for this call only). "
        f"Largest difference from the recomputation above: **{steps.max_abs_diff:.2e}** (tolerance "
        f"{steps.tol:.1e})"
        + (f"; attention weights: **{steps.weights_diff:.2e}**." if steps.weights_diff is not None else ".")
    )
    st.plotly_chart(fig("difference", lambda: figs.matrix_heatmap(steps.difference, "recomputed − model", q_labels,
                                                                  None, "query", "dimension"), per_head=False)(),
                    key="sbs_fig_diff")


walkthrough()
