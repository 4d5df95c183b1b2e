"""Vision Transformer: upload an image and see where every head of a timm ViT looks.

Every figure is built once per run and view and kept (st.cache_resource, keyed by the run key and the
view): a rerun after another layer, head or query builds only the figures it has not shown before,
and Streamlit serialises the rest as they are.
"""
import numpy as np
import streamlit as st

from models.analysis import attention_math as am
from models.capture import vision
from ui import common
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
MAX_MATRIX_TOKENS = 256  # token × token matrices larger than this are block-averaged before they are sent
GRID_KEY = "vit_patch_grid"
OVERVIEW_KEY = "vit_overview"

st.title("Vision Transformer")
st.markdown(
    "A ViT (Dosovitskiy et al., 2021) cuts the image into P×P patches, embeds each as a token, prepends a "
    "learned **CLS** token (DeiT adds a distillation token **DIST**, some models *register* tokens **REG**), adds "
    "position embeddings and runs a Transformer encoder. In every block each head computes "
    "softmax(QKᵀ/√d_k)·V, d_k being that head's own dimension: below are those softmax weights, as the model "
    "computed them on your image."
)

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


common.weights_badge(trace.weights_source)
if weights == "demo":
    st.info(
        "The demo ViT was trained only on synthetic shapes (" + ", ".join(uv.cached_model(name, weights, device).class_names)
        + "). On a photo its predictions are shape classes and its attention seeks shape-like blobs; pick "
        "*generated shape* as the image to see it on what it knows."
    )
notes = uv.image_notes(image)
if notes:
    st.caption("Image converted: " + "; ".join(notes) + ".")

P = trace.num_prefix_tokens
rows, cols = trace.grid
patch_px = float(trace.patch_size)
n_tokens = len(trace.token_labels)
n_layers = len(trace.attention)
n_heads = trace.attention[0].shape[0]
has_cls = "CLS" in trace.token_labels[:P]
cfg = trace.extras.get("data_config", {})

# ------------------------------------------------------------------------------------- query selection
default_q = (rows // 2, cols // 2)
for key, limit, default in (("vit_q_row", rows, default_q[0]), ("vit_q_col", cols, default_q[1])):
    if key not in st.session_state or st.session_state[key] >= limit:
        st.session_state[key] = default
try:  # a click on the patch grid (a plain dict in the widget's state): the newest pick wins over the sliders
    points = st.session_state[GRID_KEY]["selection"]["points"]
except (KeyError, TypeError):
    points = []
if points:
    custom = points[0].get("customdata")
    if custom is not None and len(custom) >= 2 and st.session_state.get("vit_last_pick") != list(custom):
        st.session_state["vit_last_pick"] = list(custom)
        st.session_state["vit_q_row"] = int(min(custom[0], rows - 1))
        st.session_state["vit_q_col"] = int(min(custom[1], cols - 1))
try:  # a click on the layer × head overview picks that layer and head (read before their widgets exist)
    picked = st.session_state[OVERVIEW_KEY]["selection"]["points"]
except (KeyError, TypeError):
    picked = []
if picked:
    custom = picked[0].get("customdata")
    if custom is not None and len(custom) >= 2 and st.session_state.get("vit_last_overview_pick") != list(custom[:2]):
        st.session_state["vit_last_overview_pick"] = list(custom[:2])
        st.session_state["vit_layer"] = int(min(max(custom[0], 1), n_layers))
        st.session_state["vit_head"] = int(min(max(custom[1], 0), n_heads - 1))
q_row = int(st.session_state.get("vit_q_row", default_q[0]))
q_col = int(st.session_state.get("vit_q_col", default_q[1]))

# -------------------------------------------------------------------------------- what the model sees
st.subheader("What the model sees")
c1, c2 = st.columns([3, 2])
with c1:
    st.plotly_chart(
        _cached(run_key, ("grid", q_row, q_col),
                lambda: vi.patch_grid(trace.image, trace.grid, patch_px, P, selected=(q_row, q_col))),
        on_select="rerun", selection_mode="points", key=GRID_KEY,
    )
    h, w = trace.image.shape[:2]
    crop_pct = cfg.get("crop_pct", 1.0) or 1.0
    st.caption(
        f"The exact {w}×{h} crop the model receives, from timm's data config: shorter side resized to "
        f"{int(h / crop_pct)} px ({cfg.get('interpolation', '?')}), centre crop {w}×{h}, then normalised with mean "
        f"{tuple(round(m, 3) for m in cfg.get('mean', ()))} and std {tuple(round(s, 3) for s in cfg.get('std', ()))}. "
        f"{rows}×{cols} = {rows * cols} patch tokens of {trace.patch_size}×{trace.patch_size} px"
        + (f", after {P} prefix token{'s' if P > 1 else ''} ({', '.join(trace.token_labels[:P])})" if P else "")
        + f": {n_tokens} tokens. Hover a patch for its token index; click one to choose it below."
    )
with c2:
    if trace.top_k:
        st.plotly_chart(_cached(run_key, ("top_k",), lambda: vi.top_k_bars(trace.top_k, title="Top-5 predictions")),
                        key="vit_topk")
        st.caption("Softmax probabilities of the model's own classifier output.")
    else:
        st.info("This model has no classification head (num_classes = 0): there are no predictions to show.")

# ------------------------------------------------------------------------------------ layer × head overview
st.subheader("Every layer and head at a glance")
overview_box = st.container()  # filled once the layer and head below are known, to outline them

# ------------------------------------------------------------------------------------ layer and head
st.subheader("Every head of one layer")
c1, c2 = st.columns(2)
if "vit_layer" not in st.session_state or st.session_state["vit_layer"] > n_layers:  # a new model: its last layer
    st.session_state["vit_layer"] = n_layers
if st.session_state.get("vit_head", 0) >= n_heads:
    st.session_state["vit_head"] = 0
layer = c1.slider("Layer", 1, n_layers, key="vit_layer") - 1
head = c2.selectbox("Head (shown large)", list(range(n_heads)), key="vit_head", format_func=lambda i: f"head {i}")
att = trace.attention[layer]  # (heads, N, N)
if has_cls:
    maps = am.query_maps(att, 0, trace.grid, P)
    what = "CLS → patches"
    st.markdown(
        f"Where the **CLS** token looks in layer {layer + 1}: its attention weights over the {rows * cols} patches, "
        "one panel per head, each on its own colour scale (hover for the weights). The weights a head gives "
        "the prefix tokens are not drawn, so a panel's sum can be below 1."
    )
else:
    maps = am.mean_query_maps(att, trace.grid, P)
    what = "mean attention received"
    st.markdown(
        f"This model has no CLS token (it pools the patch tokens), so each panel shows the attention each patch "
        f"receives, averaged over all patch queries, in layer {layer + 1}."
    )
st.plotly_chart(_cached(run_key, ("heads", layer), lambda: vi.head_grid(trace.image, maps, patch_px, P, label="weight")),
                key="vit_head_grid")
st.plotly_chart(
    _cached(run_key, ("head", layer, head), lambda: vi.attention_overlay(
        trace.image, maps[head], patch_px, P, title=f"Layer {layer + 1}, head {head}: {what}")),
    key="vit_head_large",
)


@st.cache_resource(max_entries=8, show_spinner=False)
def _overview(key: str, _attention) -> dict:
    """The tiled overview image of a run, shared read-only: every overview figure refers to one string."""
    return vi.overview_tiles(_attention)


with overview_box:
    tiles = _overview(run_key, trace.attention)
    shown = f", each shown as {tiles['tile']}×{tiles['tile']} averages" if tiles["tile"] < n_tokens else ""
    st.plotly_chart(
        _cached(run_key, ("overview", layer, head), lambda: vi.layer_head_overview(
            tiles, selected=(layer, head),
            title=f"Every layer × head: {n_layers} × {n_heads} maps of {n_tokens}×{n_tokens} weights",
        )),
        on_select="rerun", selection_mode="points", key=OVERVIEW_KEY,
    )
    st.caption(
        f"Rows are layers, columns heads; each tile is that head's whole token × token matrix (queries down, "
        f"keys across{shown}), on its own colour scale from 0 to its largest weight, so every head's pattern shows. "
        "Sent as one image; hover a tile for its largest weight and click it to show that layer and head below "
        "(outlined), where the selected head's weights are drawn exactly."
    )

# ------------------------------------------------------------------------------------ patch queries
st.subheader("Where one patch looks")
c1, c2 = st.columns(2)
q_row = c1.slider("Query patch row", 0, rows - 1, key="vit_q_row")
q_col = c2.slider("Query patch column", 0, cols - 1, key="vit_q_col")
q_token = P + q_row * cols + q_col
st.markdown(
    f"Patch ({q_row}, {q_col}), token {q_token}, as the query in layer {layer + 1}: its weights over every patch, "
    "per head (outlined: the patch itself). Click a patch in the grid above, or use the sliders."
)
st.plotly_chart(
    _cached(run_key, ("query", layer, q_row, q_col), lambda: vi.head_grid(
        trace.image, am.query_maps(att, q_token, trace.grid, P), patch_px, P, mark=(q_row, q_col))),
    key="vit_query_grid",
)

# ------------------------------------------------------------------------------------ token matrix
st.subheader("The full token × token matrix")
matrix = att[head]  # the selected head in full precision, unless there are too many tokens to send
labels = list(trace.token_labels)
if n_tokens > MAX_MATRIX_TOKENS:
    factor = am.pool_factor(trace.grid, P, MAX_MATRIX_TOKENS)

    def _pooled():
        pooled, spans = am.pool_tokens(att[head], trace.grid, P, factor)
        return pooled, labels[:P] + [f"r{a}-{b - 1},c{c}-{d - 1}" for a, b, c, d in spans]

    matrix, labels = _cached(run_key, ("pooled", layer, head, factor), _pooled)
    st.warning(
        f"{n_tokens} tokens make a {n_tokens}×{n_tokens} matrix, too large to send to the browser: shown "
        f"block-averaged over {factor}×{factor} patch squares ({len(labels)}×{len(labels)}). Query rows are averaged "
        "within a square and key columns summed, so rows still sum to 1; prefix tokens are kept as they are."
    )
st.plotly_chart(
    _cached(run_key, ("matrix", layer, head), lambda: vi.token_matrix(
        matrix, labels, title=f"Layer {layer + 1}, head {head}: queries (rows) × keys (columns)")),
    key="vit_matrix",
)
st.caption(f"Rows are queries, columns keys; prefix tokens ({', '.join(labels[:P]) or 'none'}) come first.")


# ------------------------------------------------------------------------------------ rollout
@st.cache_data(max_entries=16, show_spinner=False)
def _rollout(key: str, fusion: str, discard: float, row: int, _attention) -> np.ndarray:
    return am.rollout(_attention, fusion, discard, rows=[row])[0]


@st.cache_data(max_entries=8, show_spinner=False)
def _distances(key: str, _trace) -> np.ndarray:
    return np.stack(
        [am.mean_attention_distance(a, _trace.grid, float(_trace.patch_size), _trace.num_prefix_tokens)
         for a in _trace.attention]
    )


st.subheader("Attention rollout")
st.markdown(
    "Attention rollout (Abnar & Zuidema, 2020) follows attention through all layers: each layer's heads are "
    "fused, the identity is added for the residual connection (0.5·A + 0.5·I, rows renormalised) and the "
    "layers are multiplied, first to last. *Discard ratio* first zeroes that fraction of each layer's weakest "
    "fused weights."
)
c1, c2, c3 = st.columns(3)
fusion = c1.radio("Head fusion", am.HEAD_FUSIONS, horizontal=True, key="vit_fusion")
discard = c2.slider("Discard ratio", 0.0, 0.95, 0.0, 0.05, key="vit_discard")
query_options = (["CLS"] if has_cls else []) + ["the query patch"]
rollout_from = c3.radio("From", query_options, horizontal=True, key="vit_rollout_from")
rollout_query = "CLS" if rollout_from == "CLS" else f"patch ({q_row}, {q_col})"
row = 0 if rollout_from == "CLS" else q_token
rolled = _rollout(run_key, fusion, float(discard), row, trace.attention)
st.plotly_chart(
    _cached(run_key, ("rollout", fusion, float(discard), rollout_query), lambda: vi.attention_overlay(
        trace.image, rolled[P:].reshape(trace.grid), patch_px, P, label="rollout",
        title=f"Rollout from {rollout_query} through {n_layers} layers ({fusion} fusion, discard {discard:.2f})",
        mark=None if rollout_query == "CLS" else (q_row, q_col),
    )),
    key="vit_rollout",
)
if P:
    st.caption(f"Share of the rolled-out attention on the prefix tokens (not drawn): {float(rolled[:P].sum()):.1%}.")

# ------------------------------------------------------------------------------------ mean distance
st.subheader("Mean attention distance")
dist = _distances(run_key, trace)
st.plotly_chart(_cached(run_key, ("distance",), lambda: vi.distance_scatter(dist, image_px=float(max(trace.image.shape[:2])))),
                key="vit_distance")
st.caption(
    "For every head: the pixel distance between each patch query and the patches it attends to, weighted by "
    "the attention weights (renormalised over the patches) and averaged over the queries. Dosovitskiy et al. "
    "(2021, Fig. 7 right) plot this over 128 images; here it is this image alone. In trained ViTs some heads "
    "look far even in the first layers while others stay local, and distances grow with depth."
)
