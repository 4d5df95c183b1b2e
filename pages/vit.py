"""Vision Transformer: upload an image and see where every head of a timm ViT looks.

Numbering, as in the papers: layers and heads count from 1; token positions and patch rows and columns
are indices from 0. The head control is `st.select_slider(key="vit_head")` (heads 1…H): the bench times it.

Every figure is built once per run and view and kept (ui.common.cached_figure, keyed by the run key and the
view). The parts that change with a view are fragments with keys; a widget's or a chart click's callback
reruns only the fragments that show what it changed (st.rerun([...]) from a callback): a head change reruns
the large head and the token matrix, not the patch grid, the overview (1.15 MB for vit_base), the rollout or
the rest.
Chart clicks are read in their on_select callbacks through ui.clicks, never from the raw payload.
"""
import numpy as np
import streamlit as st

from models.analysis import attention_math as am
from ui import clicks, common
from ui import vision as uv
from viz import vit as vi

CURATED = [
    "vit_small_patch16_224",
    "vit_base_patch16_224",
    "deit_tiny_patch16_224",
    "deit_small_distilled_patch16_224",
    "vit_small_patch14_reg4_dinov2",
    "vit_tiny_patch16_224",
]
MAX_MATRIX_TOKENS = 256  # token × token matrices larger than this are mean-pooled before they are sent
GRID_KEY = "vit_patch_grid"
OVERVIEW_KEY = "vit_overview"
# fragments, by key: what each one shows
F_GRID, F_OVERVIEW, F_HEADS, F_QUERY, F_MATRIX, F_ROLLOUT = (
    "vit_f_grid", "vit_f_overview", "vit_f_heads", "vit_f_query", "vit_f_matrix", "vit_f_rollout")


@st.cache_resource(max_entries=8, show_spinner=False)
def _attention_form(name: str, weights: str, device: str) -> dict:
    """What a block's attention computes beyond softmax(QKᵀ/√d_k)·V, read from the loaded model's modules:
    d_k and the scale, a relative position bias (BEiT's relative_position_bias_table, timm's RelPos*
    modules), rotary embeddings (EVA's `rope`), q/k normalisation. Empty when it cannot be read."""
    try:
        model = uv.cached_model(name, weights, device).module
        attn = model.blocks[0].attn
    except Exception:
        return {}
    heads = int(getattr(attn, "num_heads", 0) or 0)
    head_dim = getattr(attn, "head_dim", None)
    if head_dim is None and heads and hasattr(getattr(attn, "qkv", None), "out_features"):
        head_dim = attn.qkv.out_features // 3 // heads
    modules = list(model.modules())
    rel_bias = any(getattr(m, "relative_position_bias_table", None) is not None for m in modules) or any(
        type(m).__name__.startswith("RelPos") for m in modules)
    norm = getattr(attn, "q_norm", None)
    return {
        "head_dim": int(head_dim) if head_dim else None,
        "scale": float(attn.scale) if isinstance(getattr(attn, "scale", None), (int, float)) else None,
        "rel_bias": bool(rel_bias),
        "rope": getattr(model, "rope", None) is not None or getattr(attn, "rope", None) is not None,
        "qk_norm": norm is not None and type(norm).__name__ != "Identity",
    }


def _formula_sentence(form: dict) -> str:
    """The attention formula of the loaded model, in words: the plain one plus what this model adds."""
    dk = form.get("head_dim")
    scale = form.get("scale")
    dk_text = f"d_k = {dk} being each head's own dimension" if dk else "d_k being each head's own dimension"
    if dk and scale and abs(scale - dk ** -0.5) > 1e-6:
        dk_text += f" (this model scales by {scale:.4g}, not 1/√d_k)"
    extras = []
    if form.get("qk_norm"):
        extras.append("normalises q and k (a LayerNorm per head) before their product")
    if form.get("rope"):
        extras.append("rotates q and k by each patch's 2-D position before their product (rotary position "
                      "embedding, RoPE, as in EVA-02; prefix tokens are not rotated)")
    if form.get("rel_bias"):
        extras.append("adds a learned relative position bias B to the logits: softmax(QKᵀ/√d_k + B)·V (as BEiT does)")
    text = f"In every block each head computes softmax(QKᵀ/√d_k)·V, {dk_text}"
    if extras:
        text += ". This model also " + "; it also ".join(extras)
    return text


st.title("Vision Transformer")

c_model, c_image = st.columns(2)
with c_model:
    name, weights = uv.model_ui(CURATED, "vit")
with c_image:
    image = uv.image_ui("vit")

trace, weights, device = uv.traced_input(name, weights, image, "vit", "vit_small_patch16_224")
run_key = uv.run_key(image, name, weights, device)  # image_key is remembered for a loaded image


def _cached(key: str, view: tuple, build):
    """A figure (or the pooled token matrix) of this run and view, built once (ui.common.cached_figure)."""
    return common.cached_figure("vit", key, view, build)


P = trace.num_prefix_tokens
prefix = list(trace.token_labels[:P])
rows, cols = trace.grid
patch_px = float(trace.patch_size)
n_tokens = len(trace.token_labels)
n_layers = len(trace.attention)
n_heads = trace.attention[0].shape[0]
has_cls = "CLS" in prefix
cfg = trace.extras.get("data_config", {})
form = _attention_form(name, weights, device)

prefix_text = (
    f"This model's sequence starts with {P} prefix token{'s' if P != 1 else ''} ({', '.join(prefix)}), then the "
    f"{rows * cols} patches row by row"
    if P
    else f"This model has no prefix token: its {rows * cols} tokens are the patches, row by row"
)
st.markdown(
    "A ViT (Dosovitskiy et al., 2021) cuts the image into square patches, embeds each as a token, prepends a "
    "learned **CLS** token (distilled DeiT models, Touvron et al. 2021, also a distillation token **DIST**; models "
    "with registers, Darcet et al. 2023, register tokens **REG**), adds position embeddings and runs a Transformer "
    f"encoder. {prefix_text}. {_formula_sentence(form)}. Below are those softmax weights, as the model computed "
    "them on your image. Layers and heads count from 1; token positions and patch rows and columns are indices "
    "from 0."
)

common.weights_badge(trace.weights_source)
if weights == "demo":
    st.info(
        "The demo ViT was trained only on synthetic shapes ("
        + ", ".join(uv.cached_model(name, weights, device).class_names)
        + "). On a photo its predictions are shape classes and its attention seeks shape-like blobs; pick "
        "*generated shape* as the image to see it on what it knows."
    )
notes = uv.image_notes(image)
if notes:
    st.caption("Image converted: " + "; ".join(notes) + ".")

# ------------------------------------------------------------------------------------- view state
# A new model or image may have fewer layers, heads or patches: bring every view back into range first.
if st.session_state.get("vit_q_row", rows) >= rows or st.session_state.get("vit_q_col", cols) >= cols:
    st.session_state["vit_q_row"], st.session_state["vit_q_col"] = rows // 2, cols // 2
if st.session_state.get("vit_layer") not in range(1, n_layers + 1):  # a new model: its last layer
    st.session_state["vit_layer"] = n_layers
if st.session_state.get("vit_head") not in range(1, n_heads + 1):
    st.session_state["vit_head"] = 1
for _key in ("vit_q_row", "vit_q_col", "vit_layer", "vit_head"):
    # Written back as state on every full run: a widget whose range changed (another model) is a new widget to
    # Streamlit, which would otherwise start it again at its first value instead of keeping the view.
    st.session_state[_key] = int(st.session_state[_key])


def _layer() -> int:
    return int(st.session_state["vit_layer"])


def _head() -> int:
    return int(st.session_state["vit_head"])


def _query() -> tuple[int, int]:
    return int(st.session_state["vit_q_row"]), int(st.session_state["vit_q_col"])


def _on_grid_click() -> None:
    """A click on the patch grid picks that patch as the query (customdata: row, col, token)."""
    pick = clicks.custom_ints(st.session_state.get(GRID_KEY), 2)
    if pick is not None:
        st.session_state["vit_q_row"] = min(max(pick[0], 0), rows - 1)
        st.session_state["vit_q_col"] = min(max(pick[1], 0), cols - 1)
    st.rerun([F_GRID, F_QUERY, F_ROLLOUT])


def _on_overview_click() -> None:
    """A click on a tile of the overview picks that layer and head (customdata: layer, head, both from 1).

    The overview does not rerun on a view change (it would send its whole image again: 1.15 MB for vit_base),
    so Plotly keeps its last selected tile, and a second click on that tile arrives as an empty selection
    (Plotly's toggle): it means that tile again."""
    pick = clicks.custom_ints(st.session_state.get(OVERVIEW_KEY), 2)
    last = st.session_state.get("vit_overview_pick")
    if pick is not None:
        st.session_state["vit_overview_pick"] = (run_key, pick)
    elif last is not None and last[0] == run_key:
        pick = last[1]
    before = _layer()
    if pick is not None:
        st.session_state["vit_layer"] = min(max(pick[0], 1), n_layers)
        st.session_state["vit_head"] = min(max(pick[1], 1), n_heads)
    st.rerun([F_HEADS, F_MATRIX] + ([F_QUERY] if _layer() != before else []))  # the query view shows one layer


def _on_layer() -> None:
    st.rerun([F_HEADS, F_QUERY, F_MATRIX])


def _on_head() -> None:
    st.rerun([F_HEADS, F_MATRIX])


def _on_query() -> None:
    st.rerun([F_GRID, F_QUERY, F_ROLLOUT])


# -------------------------------------------------------------------------------- what the model sees
@st.fragment(key=F_GRID)
def grid_view() -> None:
    with st.container(key="vit_box_grid"):  # .st-key-vit_box_grid: what the browser tests read
        q_row, q_col = _query()
        st.plotly_chart(
            _cached(run_key, ("grid", q_row, q_col),
                    lambda: vi.patch_grid(trace.image, trace.grid, patch_px, P, selected=(q_row, q_col))),
            on_select=_on_grid_click, selection_mode="points", key=GRID_KEY,
        )
        st.caption(f"Chosen query: patch (row {q_row}, column {q_col}), token {P + q_row * cols + q_col} (outlined).")


st.subheader("What the model sees")
c1, c2 = st.columns([3, 2])
with c1:
    grid_view()
    h, w = trace.image.shape[:2]
    crop_pct = cfg.get("crop_pct", 1.0) or 1.0
    st.caption(
        f"The exact {w}×{h} crop the model receives, from timm's data config: shorter side resized to "
        f"{int(h / crop_pct)} px ({cfg.get('interpolation', '?')}), centre crop {w}×{h}, then normalised with mean "
        f"{tuple(round(m, 3) for m in cfg.get('mean', ()))} and std {tuple(round(s, 3) for s in cfg.get('std', ()))}. "
        f"{rows}×{cols} = {rows * cols} patch tokens of {trace.patch_size}×{trace.patch_size} px"
        + (f", after {P} prefix token{'s' if P > 1 else ''} ({', '.join(prefix)})" if P else "")
        + f": {n_tokens} tokens, indexed from 0. Patch (row, column) counts from 0 at the top left; hover a patch "
        "for its token index, click one to make it the query below."
    )
with c2:
    if trace.top_k:
        st.plotly_chart(_cached(run_key, ("top_k",), lambda: vi.top_k_bars(trace.top_k, title="Top-5 predictions")),
                        key="vit_topk")
        st.caption("Softmax probabilities of the model's own classifier output.")
    else:
        st.info("This model has no classification head (num_classes = 0): there are no predictions to show.")


# ------------------------------------------------------------------------------------ layer × head overview
@st.cache_resource(max_entries=8, show_spinner=False)
def _overview(key: str, _attention) -> dict:
    """The tiled overview image of a run, shared read-only: every overview figure refers to one string."""
    return vi.overview_tiles(_attention)


@st.fragment(key=F_OVERVIEW)
def overview_view() -> None:
    with st.container(key="vit_box_overview"):  # .st-key-vit_box_overview: what the browser tests read
        tiles = _overview(run_key, trace.attention)
        st.plotly_chart(  # no outline of the layer and head shown below: it would resend the image on every change
            _cached(run_key, ("overview",), lambda: vi.layer_head_overview(
                tiles, selected=None,
                title=f"Every layer × head: {n_layers} × {n_heads} maps of {n_tokens}×{n_tokens} weights",
            )),
            on_select=_on_overview_click, selection_mode="points", key=OVERVIEW_KEY,
        )
        shown = f", each shown as {tiles['tile']}×{tiles['tile']} averages" if tiles["tile"] < n_tokens else ""
        st.caption(
            "Rows are layers, columns heads, both counted from 1; each tile is that head's whole token × token matrix "
            f"(queries down, keys across{shown}), on its own colour scale from 0 to its largest weight, so every "
            "head's pattern shows. Sent as one image; hover a tile for its largest weight and click it to show that "
            "layer and head in the sections below, where its weights are drawn exactly."
        )


st.subheader("Every layer and head at a glance")
overview_view()


# ------------------------------------------------------------------------------------ layer and head
@st.fragment(key=F_HEADS)
def heads_view() -> None:
    with st.container(key="vit_box_heads"):  # .st-key-vit_box_heads: what the browser tests read
        c1, c2 = st.columns(2)
        layer = c1.select_slider("Layer", list(range(1, n_layers + 1)), key="vit_layer", on_change=_on_layer)
        head = c2.select_slider("Head (shown large)", list(range(1, n_heads + 1)), key="vit_head", on_change=_on_head)
        att = trace.attention[layer - 1]
        if has_cls:
            maps = _cached(run_key, ("cls_maps", layer), lambda: am.query_maps(att, 0, trace.grid, P))
            what = "CLS → patches"
            st.markdown(
                f"Where the **CLS** token (token 0) looks in layer {layer}: its attention weights over the "
                f"{rows * cols} patches, one panel per head, each on its own colour scale (hover for the weights). The "
                f"weights a head gives the prefix tokens ({', '.join(prefix)}) are not drawn, so a panel's sum can be "
                "below 1."
            )
        else:
            maps = _cached(run_key, ("mean_maps", layer), lambda: am.mean_query_maps(att, trace.grid, P))
            what = "mean attention received"
            st.markdown(
                f"This model has no CLS token (it pools the patch tokens), so each panel shows the attention each "
                f"patch receives, averaged over all patch queries, in layer {layer}."
            )
        st.plotly_chart(
            _cached(run_key, ("heads", layer), lambda: vi.head_grid(trace.image, maps, patch_px, P, label="weight")),
            key="vit_head_grid",
        )
        st.plotly_chart(
            _cached(run_key, ("head", layer, head), lambda: vi.attention_overlay(
                trace.image, maps[head - 1], patch_px, P, title=f"Layer {layer}, head {head}: {what}")),
            key="vit_head_large",
        )


st.subheader("Every head of one layer")
heads_view()


# ------------------------------------------------------------------------------------ patch queries
@st.fragment(key=F_QUERY)
def query_view() -> None:
    with st.container(key="vit_box_query"):  # .st-key-vit_box_query: what the browser tests read
        layer = _layer()
        c1, c2 = st.columns(2)
        q_row = c1.slider("Query patch row (from 0)", 0, max(rows - 1, 1), key="vit_q_row", on_change=_on_query,
                          disabled=rows == 1)
        q_col = c2.slider("Query patch column (from 0)", 0, max(cols - 1, 1), key="vit_q_col", on_change=_on_query,
                          disabled=cols == 1)
        q_token = P + q_row * cols + q_col
        st.markdown(
            f"Patch (row {q_row}, column {q_col}), token {q_token}, as the query in layer {layer}: its weights over "
            "every patch, per head (outlined: the patch itself). Click a patch in the grid above, or use the sliders."
        )
        st.plotly_chart(
            _cached(run_key, ("query", layer, q_row, q_col), lambda: vi.head_grid(
                trace.image, am.query_maps(trace.attention[layer - 1], q_token, trace.grid, P), patch_px, P,
                mark=(q_row, q_col))),
            key="vit_query_grid",
        )


st.subheader("Where one patch looks")
query_view()


# ------------------------------------------------------------------------------------ token matrix
@st.fragment(key=F_MATRIX)
def matrix_view() -> None:
    with st.container(key="vit_box_matrix"):  # .st-key-vit_box_matrix: what the browser tests read
        layer, head = _layer(), _head()
        att = trace.attention[layer - 1]
        matrix = att[head - 1]  # the selected head in full precision, unless there are too many tokens to send
        labels = list(trace.token_labels)
        if n_tokens > MAX_MATRIX_TOKENS:
            factor = am.pool_factor(trace.grid, P, MAX_MATRIX_TOKENS)

            def _pooled():
                pooled, spans = am.pool_mean(att[head - 1], trace.grid, P, factor)
                return pooled, prefix + [f"r{a}-{b - 1},c{c}-{d - 1}" for a, b, c, d in spans]

            matrix, labels = _cached(run_key, ("pooled", layer, head, factor), _pooled)
            runs = set()
            for n, g in ((rows, -(-rows // factor)), (cols, -(-cols // factor))):
                runs |= set(np.diff(am.pool_edges(n, g)).tolist())
            side = f"{min(runs)}" if len(runs) == 1 else f"{min(runs)}–{max(runs)}"
            st.warning(
                f"{n_tokens} tokens make a {n_tokens}×{n_tokens} matrix, too large to send to the browser: shown "
                f"pooled to {len(labels)}×{len(labels)}. The {rows}×{cols} patches are grouped into squares of {side} "
                f"× {side} patches (rows and columns cut into runs of near-equal length, none thinner at the edge); "
                "each cell is the mean of the weights from the queries of one square to the keys of another, so a cell "
                "reads like one weight and attention spread evenly stays even. Prefix tokens are kept as they are. "
                "Rows no longer sum to 1: a cell times the number of patches in its key square is the share that "
                "square receives. Labels r a-b, c c-d give the patch rows and columns of a square (from 0)."
            )
        st.plotly_chart(
            _cached(run_key, ("matrix", layer, head), lambda: vi.token_matrix(
                matrix, labels, title=f"Layer {layer}, head {head}: queries (rows) × keys (columns)")),
            key="vit_matrix",
        )
        st.caption(
            "Rows are queries, columns keys, in sequence order and indexed from 0: "
            + (f"the prefix tokens ({', '.join(prefix)}) first, then " if P else "")
            + "the patches row by row, each labelled (row, column) from 0."
        )


st.subheader("The full token × token matrix")
matrix_view()


# ------------------------------------------------------------------------------------ rollout
@st.cache_data(max_entries=16, show_spinner=False)
def _rollout(key: str, fusion: str, discard: float, row: int, _attention) -> np.ndarray:
    return am.rollout(_attention, fusion, discard, rows=[row])[0]


@st.fragment(key=F_ROLLOUT)
def rollout_view() -> None:
    with st.container(key="vit_box_rollout"):  # .st-key-vit_box_rollout: what the browser tests read
        q_row, q_col = _query()
        q_token = P + q_row * cols + q_col
        c1, c2, c3 = st.columns(3)
        fusion = c1.radio("Head fusion", am.HEAD_FUSIONS, horizontal=True, key="vit_fusion")
        discard = c2.slider("Discard ratio", 0.0, 0.95, 0.0, 0.05, key="vit_discard")
        query_options = (["CLS"] if has_cls else []) + ["the query patch"]
        rollout_from = c3.radio("From", query_options, horizontal=True, key="vit_rollout_from")
        rollout_query = "CLS" if rollout_from == "CLS" else f"patch ({q_row}, {q_col})"
        row = 0 if rollout_from == "CLS" else q_token
        rolled = _rollout(run_key, fusion, float(discard), row, trace.attention)
        c_fig, c_note = st.columns([3, 2])
        with c_fig:
            st.plotly_chart(
                _cached(run_key, ("rollout", fusion, float(discard), rollout_query), lambda: vi.attention_overlay(
                    trace.image, rolled[P:].reshape(trace.grid), patch_px, P, label="rollout",
                    title=f"Rollout from {rollout_query}, {n_layers} layers",  # short: the column is narrow
                    mark=None if rollout_query == "CLS" else (q_row, q_col),
                )),
                key="vit_rollout",
            )
            st.caption(
                f"Rollout from {rollout_query} through all {n_layers} layers, {fusion} head fusion, discard ratio "
                f"{discard:.2f}." + (f" Share of the rolled-out attention on the prefix tokens (not drawn): "
                                     f"{float(rolled[:P].sum()):.1%}." if P else ""))
        with c_note:
            st.markdown(
                "**Reading attention responsibly.** Attention weights show where a token's new value is mixed "
                "from, not why the model decided what it did. They leave out the size of the value vectors each "
                "weight multiplies, the output projection W_O and the MLPs. Rollout's equal split between attention "
                "and the residual path (0.5·A + 0.5·I) is an assumption, not something the model computes; "
                "gradient-weighted methods (Chefer et al., 2021) exist because of these limits."
            )


st.subheader("Attention rollout")
st.markdown(
    "Attention rollout (Abnar & Zuidema, 2020) follows attention through all layers: each layer's heads are "
    "averaged, the identity is added for the residual connection (0.5·A + 0.5·I, rows renormalised) and the "
    "layers are multiplied, first to last. *Max* and *min* head fusion and the *discard ratio* (which first "
    "zeroes that fraction of each layer's weakest fused weights) are not in the paper: they come from Jacob "
    "Gildenblat's vit-explain."
)
rollout_view()


# ------------------------------------------------------------------------------------ mean distance
@st.cache_data(max_entries=8, show_spinner=False)
def _distances(key: str, _trace) -> np.ndarray:
    return np.stack(
        [am.mean_attention_distance(a, _trace.grid, float(_trace.patch_size), _trace.num_prefix_tokens)
         for a in _trace.attention]
    )


st.subheader("Mean attention distance")
dist = _distances(run_key, trace)
st.plotly_chart(
    _cached(run_key, ("distance",), lambda: vi.distance_scatter(dist, image_px=float(max(trace.image.shape[:2])))),
    key="vit_distance",
)
st.caption(
    "For every head (layers and heads from 1): the pixel distance between each patch query and the patches it "
    "attends to, weighted by the attention weights (renormalised over the patches) and averaged over the queries. "
    "Dosovitskiy et al. (2021, Fig. 7 right) plot this over 128 images; here it is this image alone. In trained "
    "ViTs some heads look far even in the first layers while others stay local, and distances grow with depth."
)

# ------------------------------------------------------------------------------------ downloads
st.subheader("Download the attention")
values = vi.export_size(trace)
c1, c2 = st.columns(2)
with c1:
    st.download_button(
        f"Download attention (.npz, {values * 4 / 1e6:.1f} MB before compression)", lambda: vi.export_npz(trace),
        file_name=f"attention_{trace.model_name}.npz", mime="application/octet-stream", key="vit_dl_npz",
        on_click="ignore",
    )
with c2:
    if values <= vi.JSON_MAX_VALUES:
        st.download_button(
            "Download attention (.json)", lambda: vi.export_json(trace), file_name=f"attention_{trace.model_name}.json",
            mime="application/json", key="vit_dl_json", on_click="ignore",
        )
    else:
        st.caption(
            f"JSON is offered up to {vi.JSON_MAX_VALUES:,} weights; this model has {values:,}: use the NPZ file."
        )
st.caption(
    f"Every layer's weights as the model computed them (float32): attention_layer1 … attention_layer{n_layers} in the "
    "NPZ, layer1 … in the JSON, each (heads, queries, keys), with the token labels in sequence order, the model name, "
    "the weights source, the patch grid, the patch size and the number of prefix tokens (the NPZ also holds the "
    "input crop)."
)
