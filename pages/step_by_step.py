"""One head, step by step: every intermediate of one attention head, from the model's own weights."""
from __future__ import annotations

import math

import streamlit as st

from models.runtime import images
from models.demo import shapes, text
from models.capture import vision
from models.capture import step_by_step as sbs
from ui.common import current_device, weights_badge
from viz import step_by_step as figs

TOLERANCE = 1e-5
VIT = "Vision Transformer (ViT)"
FALLBACK_VIT = "vit_tiny_patch16_224"
VISIBLE = {" ": "␣", "\t": "⇥", "\n": "↵", "": "∅"}


@st.cache_resource(show_spinner="Loading the demo checkpoint…")
def load_text_model(task: str, device: str):
    """(model, note): the bundled checkpoint, or random weights with a note saying why."""
    try:
        return text.load(task, device=device), None
    except text.MissingCheckpoint as e:
        return text.load(task, device=device, weights="random"), f"{e} Showing random weights instead."


@st.cache_data(show_spinner="Recomputing the head…", max_entries=64)
def text_steps(task: str, sentence: str, pad_to: int | None, kind: str, layer: int, head: int, device: str):
    model, _ = load_text_model(task, device)
    trace = text.run(model, sentence, pad_to=pad_to)
    return trace, sbs.text_steps(model, trace, kind, layer, head)


@st.cache_resource(show_spinner="Loading the ViT…")
def load_vit(name: str, weights: str, device: str):
    """(model, note) from models.capture.vision; the demo falls back to random weights with a note saying why."""
    try:
        return vision.load(name, weights=weights, device=device), None
    except vision.WeightsUnavailable as e:
        if weights != "demo":
            raise
        return (vision.load(FALLBACK_VIT, weights="random", device=device),
                f"{e} Showing an untrained {FALLBACK_VIT} instead.")


@st.cache_data(show_spinner="Recomputing the head…", max_entries=32)
def vit_steps(name: str, weights: str, image_key: str, _image, block: int, head: int, device: str):
    """image_key identifies _image (the shape and seed, the sample's name, or the upload's id)."""
    model, _ = load_vit(name, weights, device)
    pixels, _crop = vision.preprocess(model, _image)
    return sbs.vit_model_steps(model, pixels, block, head)


def token_labels(tokens: list[str]) -> list[str]:
    """Labels a reader can see: a space becomes ␣."""
    return [VISIBLE.get(str(t), str(t)) for t in tokens]


def text_ui(task: str, device: str):
    """Input text, attention kind, layer, head → steps."""
    info = text.TASKS[task]
    model, note = load_text_model(task, device)
    if note:
        st.warning(note)
    cfg = model.transformer.cfg
    c1, c2 = st.columns([3, 2])
    with c1:
        sentence = st.text_input(
            f"Input (up to {info.max_input_len} {'characters' if info.tokenization == 'char' else 'words'})",
            value=info.examples[0], key=f"sbs_text_{task}",
        )
    with c2:
        pad = st.slider("Pad the source to N tokens (0 = none)", 0, info.max_input_len + 1, 0, key=f"sbs_pad_{task}",
                        help="Adds <pad> tokens, so that the padding mask has something to hide.")
    c1, c2, c3 = st.columns(3)
    with c1:
        kind = st.selectbox("Attention", sbs.TEXT_KINDS, key="sbs_kind", format_func=lambda k: sbs.KIND_NAMES[k])
    n_layers = cfg.n_encoder_layers if kind == "encoder" else cfg.n_decoder_layers
    with c2:
        layer = st.selectbox("Layer", range(n_layers), key=f"sbs_layer_{task}_{kind}", format_func=lambda l: f"layer {l + 1}")
    with c3:
        head = st.selectbox("Head", range(cfg.n_heads), key=f"sbs_head_{task}", format_func=lambda h: f"head {h + 1}")
    try:
        trace, steps = text_steps(task, sentence, pad or None, kind, layer, head, device)
    except text.EmptyInput as e:
        st.error(str(e))
        st.stop()
    except ValueError as e:
        st.error(f"This input cannot be shown step by step: {e}")
        st.stop()
    for message in trace.messages:
        st.warning(message)
    weights_badge(trace.weights_source)
    st.markdown(f"**Output:** `{trace.output}`")
    return steps


def vit_ui(device: str):
    """Model, image input, block, head → steps."""
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
    try:
        model, note = load_vit(name, weights, device)
        sbs.vit_blocks(model.module)
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
    blocks = sbs.vit_blocks(model.module)
    c1, c2 = st.columns(2)
    with c1:
        block = st.selectbox("Block", range(len(blocks)), key="sbs_block", format_func=lambda l: f"block {l + 1}")
    with c2:
        head = st.selectbox("Head", range(int(blocks[0].attn.num_heads)), key="sbs_vit_head",
                            format_func=lambda h: f"head {h + 1}")
    try:
        steps = vit_steps(name, weights, key, image, block, head, device)
    except (ValueError, RuntimeError) as e:
        st.error(f"This model cannot be shown step by step: {e}")
        st.stop()
    weights_badge(model.weights_source)
    st.image(image, caption="input", width=160)
    return steps


st.title("One head, step by step")
st.caption(
    "Every number below is what the model computes: its own weights, its own input to the layer, and the "
    "arithmetic of *Attention Is All You Need* (Vaswani et al., 2017, §3.2) redone one step at a time. "
    "At the end the recomputation is checked against the model's own output."
)
device = current_device()
model_choice = st.radio(
    "Model", list(text.TASKS) + [VIT], horizontal=True, key="sbs_model",
    format_func=lambda m: f"encoder–decoder: {m}" if m in text.TASKS else m,
    help="The encoder–decoder demo tasks (trained from scratch) or the bundled demo Vision Transformer.",
)
family = "text" if model_choice in text.TASKS else "vit"
steps = text_ui(model_choice, device) if family == "text" else vit_ui(device)
head = steps.head
q_labels, k_labels = token_labels(steps.query_labels), token_labels(steps.key_labels)
query = st.selectbox(
    "Query token (highlighted throughout)", range(len(q_labels)),
    index=min(3, len(q_labels) - 1) if family == "text" else 0, key=f"sbs_query_{model_choice}",
    format_func=lambda i: f"{i}: {q_labels[i]}", help="Its row is boxed in every matrix whose rows are queries.",
)
T_q, T_k, d_model, d_k, h = len(q_labels), len(k_labels), steps.d_model, steps.d_k, steps.n_heads

# ---------------------------------------------------------------------------------------------- check
ok = steps.max_abs_diff < TOLERANCE
c1, c2 = st.columns([1, 3])
with c1:
    st.metric("max |recomputed − model|", f"{steps.max_abs_diff:.2e}")
with c2:
    (st.success if ok else st.error)(
        f"Recomputing Concat(head₁…head{h}) W_O + b_O from the intermediates below gives the model's own output of "
        f"this attention sub-layer ({sbs.KIND_NAMES[steps.kind]}, layer {steps.layer + 1}) to within "
        f"{steps.max_abs_diff:.1e} (float32; tolerance {TOLERANCE:.0e})."
        + ("" if ok else " **They differ: the steps below do not reproduce the model.**")
    )

dims = dk_dims = None  # plain dimension indices: numbered axes, hover says "dimension 5"


def step(number: int, title: str, formula: str, shape: str, words: str, *figures) -> None:
    """One step: formula, shape and plain words beside its heatmap; several heatmaps go in a row beneath."""
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
        x_words = (f"Each row is one decoder input token (<s> and the output so far, shifted right): {where}.")
    else:
        x_words = ("Queries come from the decoder: its vectors after this layer's masked self-attention "
                   "sub-layer, LayerNorm(x + SelfAttention(x)). Keys and values come from the encoder's final "
                   "output (the memory), shown on the right: every decoder position can look at every source token.")
else:
    x_words = ("ViT prepends a learnable [class] token to the patch embeddings and adds learned position "
               "embeddings: z₀ = [x_class; x¹E; …; xᴺE] + E_pos (Dosovitskiy et al. 2021, eq. 1). Blocks are "
               "pre-norm, z′ = MSA(LN(z)) + z (eq. 2), so the attention's input X is the block's LayerNorm of "
               "the residual stream. Row 0 is CLS, then the patches in reading order.")
x_figs = [figs.matrix_heatmap(steps.x_query, "X (queries)" if steps.kind == "cross" else "X", q_labels, dims,
                              "token", "dimension", highlight=query)]
if steps.kind == "cross":
    x_figs.append(figs.matrix_heatmap(steps.x_key, "memory (keys, values)", k_labels, dims, "token", "dimension"))
step(1, "The layer's input X",
     r"X \in \mathbb{R}^{T \times d_{model}}" if steps.kind != "cross"
     else r"X_{dec} \in \mathbb{R}^{T \times d_{model}},\quad M_{enc} \in \mathbb{R}^{S \times d_{model}}",
     f"{T_q} × {d_model}" + (f" and {T_k} × {d_model}" if steps.kind == "cross" else ""), x_words, *x_figs)

# 2. W_Q, W_K, W_V
proj_words = (f"Head {head + 1} of {h} has its own projections into a {d_k}-dimensional subspace: "
              f"d_k = d_model / h = {d_model} / {h} = {d_k} (§3.2.2). "
              + ("In the code they are rows "
                 f"{head * d_k}…{(head + 1) * d_k - 1} of the layer's d_model × d_model linear maps w_q, w_k, w_v "
                 "(with biases), shown transposed so that Q = X W_Q." if family == "text" else
                 "In timm one linear layer `qkv` (d → 3·h·d_k) computes Q, K and V of every head at once "
                 "(U_qkv in the paper's Appendix A); these are this head's slices of it, transposed."))
step(2, "This head's W_Q, W_K, W_V",
     r"W^Q_h,\; W^K_h,\; W^V_h \in \mathbb{R}^{d_{model} \times d_k}", f"{d_model} × {d_k} each", proj_words,
     *(figs.matrix_heatmap(w, name, dims, dk_dims, "input dim", "head dim", height=520)
       for w, name in ((steps.w_q, "W_Q"), (steps.w_k, "W_K"), (steps.w_v, "W_V"))))

# 3. Q, K, V
qkv_words = ("Every token is projected three ways. A query row says what its token is looking for, a key row "
             "what its token offers to be matched against, a value row what it passes on when attended to.")
if steps.notes and family == "vit":
    qkv_words += " " + " ".join(steps.notes)
kx = "M_{enc}" if steps.kind == "cross" else "X"
step(3, "Queries, keys, values",
     rf"\begin{{aligned}} Q &= X W^Q_h + b^Q_h \\ K &= {kx} W^K_h + b^K_h \\ V &= {kx} W^V_h + b^V_h \end{{aligned}}",
     f"Q {T_q} × {d_k}, K and V {T_k} × {d_k}", qkv_words,
     figs.matrix_heatmap(steps.q, "Q", q_labels, dk_dims, "query", "head dim", highlight=query),
     figs.matrix_heatmap(steps.k, "K", k_labels, dk_dims, "key", "head dim"),
     figs.matrix_heatmap(steps.v, "V", k_labels, dk_dims, "key", "head dim"))

# 4. Q Kᵀ
step(4, "Scores: every query against every key", r"S = Q K^\top,\quad S_{ij} = q_i \cdot k_j", f"{T_q} × {T_k}",
     "The dot product of query i with key j: large when they point the same way. Row i holds how well "
     "token i's query matches every key.",
     figs.matrix_heatmap(steps.scores, "Q Kᵀ", q_labels, k_labels, "query", "key", highlight=query))

# 5. ÷ √d_k
step(5, "Scaling by √d_k", rf"\frac{{Q K^\top}}{{\sqrt{{d_k}}}},\quad \sqrt{{{d_k}}} \approx {math.sqrt(d_k):.4f}",
     f"{T_q} × {T_k}",
     f"If the components of q and k were independent with mean 0 and variance 1, q · k would have variance "
     f"d_k. Large scores push the softmax into regions with tiny gradients, so the paper divides by √d_k "
     f"(§3.2.1), with d_k = {d_k} the dimension of this head, not d_model.",
     figs.matrix_heatmap(steps.scaled, "Q Kᵀ / √d_k", q_labels, k_labels, "query", "key", highlight=query),
     figs.query_row_bars(steps.scaled[query], k_labels, f"row of query {query}: {q_labels[query]}", "scaled score"))

# 6. mask
if steps.mask is None:
    st.divider()
    st.subheader("6. Mask")
    st.markdown("No mask: in ViT every token (CLS and every patch) may attend to every token, itself included, "
                "so S′ = Q Kᵀ / √d_k goes to the softmax as it is.")
else:
    why = {
        "encoder": "Padding keys (<pad>) get −∞, so no real token attends to them.",
        "decoder": "Keys after the query get −∞ (the causal mask): position t cannot see the tokens it has "
                   "to predict, which keeps decoding auto-regressive (§3.2.3). <pad> keys, if any, are masked too.",
        "cross": "Padding keys of the source get −∞; every decoder position may see every real source token.",
    }[steps.kind]
    step(6, "The mask: −∞ before the softmax",
         r"S'_{ij} = \frac{S_{ij}}{\sqrt{d_k}} + M_{ij},\quad M_{ij} = \begin{cases} 0 & \text{may attend} \\ -\infty "
         r"& \text{masked} \end{cases}", f"{T_q} × {T_k}",
         f"{why} Adding −∞ rather than multiplying by 0 afterwards makes exp(−∞) = 0, so masked keys get weight "
         "exactly 0 and the remaining weights still sum to 1. Masked cells are dark and marked −∞.",
         figs.mask_heatmap(steps.mask, q_labels, k_labels, "M", highlight=query),
         figs.matrix_heatmap(steps.masked, "S′ (masked scores)", q_labels, k_labels, "query", "key", highlight=query))

# 7. softmax
step(7, "Softmax over the keys",
     r"A = \mathrm{softmax}(S'),\quad A_{ij} = \frac{e^{S'_{ij}}}{\sum_{j'} e^{S'_{ij'}}}", f"{T_q} × {T_k}",
     "Each row becomes weights ≥ 0 that sum to 1: how much query i takes from each key. These are the "
     "attention maps the other pages draw.",
     figs.weights_heatmap(steps.weights, q_labels, k_labels, f"A (head {head + 1})", highlight=query),
     figs.query_row_bars(steps.weights[query], k_labels, f"row of query {query}: {q_labels[query]}", "weight"))

# 8. A V
step(8, "Weights × values", r"\mathrm{head}_h = A V", f"{T_q} × {d_k}",
     "Each output row is the weighted average of the value rows, with that query's attention weights.",
     figs.matrix_heatmap(steps.head_output, f"head {head + 1} = A V", q_labels, dk_dims, "query", "head dim",
                         highlight=query))

# 9. concat
concat_fig = figs.matrix_heatmap(steps.concat, "Concat(head₁…headₕ)", q_labels, None, "query", "column",
                                 highlight=query)
figs.highlight_columns(concat_fig, head * d_k, (head + 1) * d_k, T_q)
step(9, "Concatenate every head", r"\mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)", f"{T_q} × {h * d_k}",
     f"The {h} heads ran in parallel, each in its own {d_k}-dimensional subspace. Their outputs are laid side "
     f"by side; head {head + 1}'s columns ({head * d_k}…{(head + 1) * d_k - 1}) are boxed. All heads here were "
     "recomputed the same way as this one.", concat_fig)

# 10. W_O and output
out_name = "MultiHead(Q, K, V)" if family == "text" else "MSA(X)"
step(10, "Mix the heads with W_O",
     r"\begin{aligned} \mathrm{MultiHead} &= \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\, W^O"
     r" + b^O \\ W^O &\in \mathbb{R}^{h d_k \times d_{model}} \end{aligned}", f"W_O {h * d_k} × {d_model}, output {T_q} × {d_model}",
     "W_O lets every output dimension draw on every head. This is the attention sub-layer's output, "
     + ("before the residual connection and LayerNorm: LayerNorm(x + MultiHead(x))." if family == "text" else
        "before the residual connection: z′ = MSA(LN(z)) + z (timm's `proj`)."),
     figs.matrix_heatmap(steps.w_o, "W_O", None, dims, "concat column", "output dim", height=520),
     figs.matrix_heatmap(steps.output, out_name + " (recomputed)", q_labels, dims, "query", "dimension",
                         highlight=query))

st.divider()
st.subheader("11. The check")
st.markdown(
    f"The model's own forward pass returned this sub-layer's output (captured by a hook for this call only). "
    f"Largest difference from the recomputation above: **{steps.max_abs_diff:.2e}**"
    + (f"; attention weights: **{steps.weights_diff:.2e}**." if steps.weights_diff is not None else ".")
)
st.plotly_chart(figs.matrix_heatmap(steps.difference, "recomputed − model", q_labels, dims,
                                    "query", "dimension"), key="sbs_fig_diff")
