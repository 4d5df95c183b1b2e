"""Vision Transformer: upload an image and see where every head of a timm ViT looks.

Numbering, as in the papers: layers and heads count from 1; token positions and patch rows and columns
are indices from 0. The head control is `st.select_slider(key="vit_head")` (heads 1…H): the bench times it.

Laid out for a lesson: the image and its patches, one head's attention, every head (of a layer, then of the
model), where one patch looks, rollout, mean attention distance, then the predictions and the downloads.
Every word is in the reader's language (ui.i18n). The view is in the URL (ui.link): the model and weights and
the image (ui.vision), then vit_layer, vit_head (from 1), vit_q_row, vit_q_col (the query patch, from 0),
vit_fusion, vit_discard and vit_rollout_from; a link's value that does not fit says so and the default is shown.
In presentation mode (ui.present) each section's controls stand beside its main figure.

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
from models.analysis import streaming
from models.capture import vision
from ui import clicks, common, link, present
from ui import corpus as ui_corpus
from ui import explain as ux
from ui import vision as uv
from ui.i18n import N_, _, ngettext
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
AUTO_ROLLOUT_TOKENS = 2048  # above this, a rollout other than the default one is computed when asked (a button)
EXPORT_MAPS_MAX_BYTES = 1_000_000_000  # above this, the download holds queries and keys, not every map
GRID_KEY = "vit_patch_grid"
OVERVIEW_KEY = "vit_overview"
# fragments, by key: what each one shows
F_GRID, F_OVERVIEW, F_HEADS, F_LAYER, F_QUERY, F_MATRIX, F_ROLLOUT = (
    "vit_f_grid", "vit_f_overview", "vit_f_heads", "vit_f_layer", "vit_f_query", "vit_f_matrix", "vit_f_rollout")
FUSION_LABELS = {"mean": N_("mean"), "max": N_("max"), "min": N_("min")}
ROLLOUT_FROM = ("cls", "patch")
ROLLOUT_FROM_LABELS = {"cls": N_("CLS"), "patch": N_("the query patch")}
DISCARDS = tuple(round(0.05 * i, 2) for i in range(20))  # the discard ratio's steps, 0 … 0.95


@st.cache_resource(max_entries=8, show_spinner=False)
def _attention_form(name: str, weights: str, device: str, size: int | None = None) -> dict:
    """What a block's attention computes beyond softmax(QKᵀ/√d_k)·V, read from the loaded model's modules:
    d_k and the scale, a relative position bias (BEiT's relative_position_bias_table, timm's RelPos*
    modules), rotary embeddings (EVA's `rope`), q/k normalisation. Empty when it cannot be read."""
    try:
        model = uv.cached_model(name, weights, device, size).module  # the model shown, not another size of it
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


def _formula_sentences(form: dict) -> list[str]:
    """The attention formula of the loaded model, in words: the plain one, then one sentence for each thing
    this model adds."""
    dk = form.get("head_dim")
    scale = form.get("scale")
    if dk and scale and abs(scale - dk ** -0.5) > 1e-6:
        first = _("In every block each head computes softmax(QKᵀ/√d_k)·V, d_k = {dk} being each head's own "
                  "dimension (this model scales by {scale}, not 1/√d_k).").format(dk=dk, scale=f"{scale:.4g}")
    elif dk:
        first = _("In every block each head computes softmax(QKᵀ/√d_k)·V, d_k = {dk} being each head's own "
                  "dimension.").format(dk=dk)
    else:
        first = _("In every block each head computes softmax(QKᵀ/√d_k)·V, d_k being each head's own dimension.")
    out = [first]
    if form.get("qk_norm"):
        out.append(_("This model also normalises q and k (a LayerNorm per head) before their product."))
    if form.get("rope"):
        out.append(_("This model also rotates q and k by each patch's 2-D position before their product (rotary "
                     "position embedding, RoPE, as in EVA-02; prefix tokens are not rotated)."))
    if form.get("rel_bias"):
        out.append(_("This model also adds a learned relative position bias B to the logits: "
                     "softmax(QKᵀ/√d_k + B)·V (as BEiT does)."))
    return out


st.title(_("Vision Transformer"))
st.markdown(_(
    "A ViT (Dosovitskiy et al., 2021) cuts the image into square patches, embeds each as a token, prepends a "
    "learned **CLS** token (distilled DeiT models, Touvron et al. 2021, also a distillation token **DIST**; models "
    "with registers, Darcet et al. 2023, register tokens **REG**), adds position embeddings and runs a Transformer "
    "encoder. This page shows its softmax weights, as the model computed them on your image, in the order of a "
    "lesson: the patches, one head, every head, one patch, rollout through all layers, distances, predictions."
))

def _gflop(flops: float) -> str:
    """Billions of floating-point operations, as many digits as tell sizes apart."""
    g = flops / 1e9
    return f"{g:,.0f}" if g >= 10 else f"{g:.1f}" if g >= 0.1 else f"{g:.2f}"


def _size_parser(sizes):
    def parse(raw: str) -> int:
        value = int(raw)
        if value not in sizes:
            raise link.Invalid(raw)
        return value
    return parse


def size_ui(name: str, weights: str) -> int | None:
    """The input size the model runs at (px), for models built at another size than their own (timm resamples the
    position embeddings); with what it costs, said before it runs. None: the model's own size."""
    geo = vision.geometry(name) if weights in ("pretrained", "random") else None
    if not geo or len(geo["sizes"]) < 2:
        link.forget("vit_size")
        return None
    sizes, native = list(geo["sizes"]), geo["img_size"]
    if st.session_state.get("vit_size_model") != name:  # another model: its own size (a link's size comes next)
        st.session_state["vit_size_model"], st.session_state["vit_size"] = name, native
    link.bind("vit_size", "vit_size", _size_parser(sizes))
    if st.session_state.get("vit_size") not in sizes:
        st.session_state["vit_size"] = native

    def label(px: int) -> str:
        c = vision.cost(geo, px)
        text = _("{size} px: {grid}×{grid} patches, {tokens} tokens").format(
            size=px, grid=c["grid"], tokens=f"{c['tokens']:,}")
        return text + (_(" (the model's own)") if px == native else "")

    size = st.selectbox(_("Image size the model runs at"), sizes, key="vit_size", format_func=label)
    link.publish(vit_size=size if size != native else None)
    c = vision.cost(geo, size)
    said = _("{tokens} tokens in {layers} layers × {heads} heads. The page keeps each layer's queries and keys "
             "({kept} MB) and computes weights when a view shows them; every map at once would take {maps} MB. "
             "Computing every weight once is about {gflop} GFLOP.").format(
        tokens=f"{c['tokens']:,}", layers=geo["depth"], heads=geo["heads"], kept=f"{c['kept_bytes'] / 1e6:,.0f}",
        maps=f"{c['maps_bytes'] / 1e6:,.0f}", gflop=_gflop(c["weights_flops"]))
    if size != native and weights == "pretrained":
        said += " " + _("The model was trained at {native} px: timm resamples its position embeddings (bicubic) to "
                        "the {grid}×{grid} grid when it builds it at {size} px.").format(
            native=native, grid=c["grid"], size=size)
    elif size != native:
        said += " " + _("Its own size is {native} px; random weights are drawn for the {grid}×{grid} grid "
                        "directly.").format(native=native, grid=c["grid"])
    st.caption(said)
    return None if size == native else int(size)


c_model, c_image = st.columns(2)
with c_model:
    name, weights = uv.model_ui(CURATED, "vit")
    size = size_ui(name, weights)
with c_image:
    image = uv.image_ui("vit")

trace, weights, device = uv.traced_input(name, weights, image, "vit", "vit_small_patch16_224", size=size)
run_key = uv.run_key(image, name, weights, device, size)  # image_key is remembered for a loaded image
att = trace.attention  # a BlockAttention: weights computed from each layer's queries and keys when shown


def _cached(key: str, view: tuple, build):
    """A figure (or the pooled token matrix) of this run and view, built once (ui.common.cached_figure)."""
    return common.cached_figure("vit", key, view, build)


P = trace.num_prefix_tokens
prefix = list(trace.token_labels[:P])
prefix_names = ", ".join(prefix)
rows, cols = trace.grid
patch_px = float(trace.patch_size)
n_tokens = len(trace.token_labels)
n_layers = len(att)
n_heads = att.num_heads
has_cls = "CLS" in prefix
cfg = trace.extras.get("data_config", {})
form = _attention_form(name, weights, device, size)

uv.weights_badge(trace)
if weights == "demo":
    st.info(
        _("The demo ViT was trained only on synthetic shapes ({classes}). On a photo its predictions are shape "
          "classes and its attention seeks shape-like blobs; pick *generated shape* as the image to see it on what "
          "it knows.").format(classes=_(", ").join(uv.class_label(c) for c in uv.cached_model(name, weights,
                                                                                              device).class_names))
    )
notes = uv.image_notes(image)
if notes:
    st.caption(_("Image converted: {notes}.").format(notes=_("; ").join(notes)))

if P:
    prefix_text = ngettext(
        "This model's sequence starts with {n} prefix token ({names}), then the {patches} patches row by row.",
        "This model's sequence starts with {n} prefix tokens ({names}), then the {patches} patches row by row.",
        P,
    ).format(n=P, names=prefix_names, patches=rows * cols)
else:
    prefix_text = _("This model has no prefix token: its {patches} tokens are the patches, row by row.").format(
        patches=rows * cols)
present.explain(" ".join([prefix_text, *_formula_sentences(form), _(
    "Layers and heads count from 1; token positions and patch rows and columns are indices from 0.")]),
    label=_("This model's tokens and attention formula"))

def _discard(raw: str) -> float:
    """A link's discard ratio: one of the slider's steps."""
    value = round(float(raw), 2)
    if value not in DISCARDS:
        raise link.Invalid(raw)
    return value


# ------------------------------------------------------------------------------------- view state
# A link's layer, head, query patch and rollout settings first (ui.link: a value that does not fit says so);
# then a new model or image may have fewer layers, heads or patches: bring every view back into range.
link.bind("vit_layer", "vit_layer", link.whole(1, n_layers))
link.bind("vit_head", "vit_head", link.whole(1, n_heads))
link.bind("vit_q_row", "vit_q_row", link.whole(0, rows - 1))
link.bind("vit_q_col", "vit_q_col", link.whole(0, cols - 1))
link.bind("vit_fusion", "vit_fusion", link.one_of(am.HEAD_FUSIONS))
link.bind("vit_discard", "vit_discard", _discard)
link.bind("vit_rollout_from", "vit_rollout_from", link.one_of(ROLLOUT_FROM if has_cls else ("patch",)))
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
if st.session_state.get("vit_rollout_from") not in (ROLLOUT_FROM if has_cls else ("patch",)):
    st.session_state["vit_rollout_from"] = "cls" if has_cls else "patch"


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
    # the query view and the layer's heads show one layer
    st.rerun([F_HEADS, F_MATRIX] + ([F_LAYER, F_QUERY] if _layer() != before else []))


def _on_layer() -> None:
    st.rerun([F_HEADS, F_LAYER, F_QUERY, F_MATRIX])


def _on_head() -> None:
    st.rerun([F_HEADS, F_MATRIX])


def _on_query() -> None:
    st.rerun([F_GRID, F_QUERY, F_ROLLOUT])


def _controls(n: int):
    """n columns for a section's controls side by side; stacked in the narrow controls column when projecting."""
    if present.on():
        box = st.container()
        return [box] * n
    return st.columns(n)


@st.cache_resource(max_entries=4, show_spinner=False)
def _summary(key: str, _trace) -> streaming.Summary:
    """Every weight of the run, computed once and reduced (models/analysis/streaming.py): pooled matrices, the
    overview's tiles, mean distances; shared read-only by every session showing this run."""
    return streaming.summary(_trace.attention, _trace.grid, _trace.num_prefix_tokens, float(_trace.patch_size),
                             MAX_MATRIX_TOKENS, vi.OVERVIEW_TILE)


def summary() -> streaming.Summary:
    with st.spinner(_("Computing every weight once ({tokens} tokens, {layers} layers × {heads} heads)…").format(
            tokens=f"{n_tokens:,}", layers=n_layers, heads=n_heads)):
        return _summary(run_key, trace)


def _patch_rows(weights: np.ndarray) -> np.ndarray:
    """(heads, N) weights of one query → (heads, rows, cols) over the patches (prefix keys left out)."""
    return np.ascontiguousarray(weights[:, P:]).reshape(weights.shape[0], rows, cols)


def _maps(layer: int) -> tuple[np.ndarray, str]:
    """Every head's map over the patches in `layer`: CLS → patches (one row of each head: N·d work), or (no CLS)
    the mean attention received (from the summary)."""
    if has_cls:
        return _cached(run_key, ("cls_maps", layer), lambda: _patch_rows(att.rows(layer - 1, 0))), "cls"
    return summary().received[layer - 1], "mean"


# ---------------------------------------------------------------------------- 1. the image and its patches
@st.fragment(key=F_GRID)
def grid_view() -> None:
    with st.container(key="vit_box_grid"):  # .st-key-vit_box_grid: what the browser tests read
        q_row, q_col = _query()
        st.plotly_chart(
            _cached(run_key, ("grid", q_row, q_col),
                    lambda: vi.patch_grid(trace.image, trace.grid, patch_px, P, selected=(q_row, q_col))),
            on_select=_on_grid_click, selection_mode="points", key=GRID_KEY,
        )
        st.caption(_("Chosen query: patch (row {row}, column {col}), token {token} (outlined).").format(
            row=q_row, col=q_col, token=P + q_row * cols + q_col))


st.subheader(_("1. The image and its patches"))
h, w = trace.image.shape[:2]
crop_pct = cfg.get("crop_pct", 1.0) or 1.0
c1, c2 = st.columns([3, 2])
with c1:
    grid_view()
with c2:
    present.explain(
        _("The exact {w}×{h} crop the model receives, from timm's data config: shorter side resized to {short} px "
          "(`{interpolation}`), centre crop {w}×{h}, then normalised with mean {mean} and std {std}.").format(
            w=w, h=h, short=int(h / crop_pct), interpolation=cfg.get("interpolation", "?"),
            mean=tuple(round(m, 3) for m in cfg.get("mean", ())), std=tuple(round(s, 3) for s in cfg.get("std", ())))
        + " "
        + (ngettext(
            "{rows}×{cols} = {patches} patch tokens of {size}×{size} px, after {n} prefix token ({names}): {tokens} "
            "tokens, indexed from 0.",
            "{rows}×{cols} = {patches} patch tokens of {size}×{size} px, after {n} prefix tokens ({names}): {tokens} "
            "tokens, indexed from 0.", P) if P else
           _("{rows}×{cols} = {patches} patch tokens of {size}×{size} px: {tokens} tokens, indexed from 0.")).format(
            rows=rows, cols=cols, patches=rows * cols, size=trace.patch_size, n=P, names=prefix_names,
            tokens=n_tokens)
        + " "
        + _("Patch (row, column) counts from 0 at the top left; hover a patch for its token index, click one to "
            "make it the query of section 4."),
        label=_("What the model receives"),
    )


# ---------------------------------------------------------------------------- 2. one head
@st.fragment(key=F_HEADS)
def heads_view() -> None:
    with st.container(key="vit_box_heads"):  # .st-key-vit_box_heads: what the browser tests read
        controls, figure = present.layout()
        with controls:
            c1, c2 = _controls(2)
            layer = c1.select_slider(_("Layer"), list(range(1, n_layers + 1)), key="vit_layer", on_change=_on_layer)
            head = c2.select_slider(_("Head"), list(range(1, n_heads + 1)), key="vit_head", on_change=_on_head)
            link.publish(vit_layer=layer, vit_head=head)
        maps, what = _maps(layer)
        with figure:
            if what == "cls":
                title = _("Layer {layer}, head {head}: CLS → patches").format(layer=layer, head=head)
                text = _("Where the **CLS** token (token 0) looks in layer {layer}, head {head}: its attention weights "
                         "over the {patches} patches (hover for the weights). The weights it gives the prefix tokens "
                         "({names}) are not drawn, so the map's sum can be below 1.").format(
                    layer=layer, head=head, patches=rows * cols, names=prefix_names)
            else:
                title = _("Layer {layer}, head {head}: mean attention received").format(layer=layer, head=head)
                text = _("This model has no CLS token (it pools the patch tokens), so the map shows the attention each "
                         "patch receives from head {head}, averaged over all patch queries, in layer {layer}.").format(
                    layer=layer, head=head)
            st.plotly_chart(
                _cached(run_key, ("head", layer, head), lambda: vi.attention_overlay(
                    trace.image, maps[head - 1], patch_px, P, title=title)),
                key="vit_head_large",
            )
            present.caption(text)


st.subheader(_("2. One head's attention"))
heads_view()


@st.fragment(key=F_MATRIX)
def matrix_view() -> None:
    with st.container(key="vit_box_matrix"):  # .st-key-vit_box_matrix: what the browser tests read
        layer, head = _layer(), _head()
        labels = list(trace.token_labels)
        if n_tokens > MAX_MATRIX_TOKENS:  # every head's pooled matrix comes from the one pass over every weight
            summ = summary()
            factor = summ.factor
            matrix = summ.pooled[layer - 1, head - 1]
            labels = prefix + [f"r{a}-{b - 1},c{c}-{d - 1}" for a, b, c, d in summ.spans]
            runs = set()
            for n, g in ((rows, -(-rows // factor)), (cols, -(-cols // factor))):
                runs |= set(np.diff(am.pool_edges(n, g)).tolist())
            side = f"{min(runs)}" if len(runs) == 1 else f"{min(runs)}–{max(runs)}"
            st.warning(_(
                "{n} tokens make a {n}×{n} matrix, too large to send to the browser: shown pooled to {m}×{m}. The "
                "{rows}×{cols} patches are grouped into squares of {side} × {side} patches (rows and columns cut into "
                "runs of near-equal length, none thinner at the edge); each cell is the mean of the weights from the "
                "queries of one square to the keys of another, so a cell reads like one weight and attention spread "
                "evenly stays even. Prefix tokens are kept as they are. Rows no longer sum to 1: a cell times the "
                "number of patches in its key square is the share that square receives. Labels r a-b, c c-d give "
                "the patch rows and columns of a square (from 0)."
            ).format(n=n_tokens, m=len(labels), rows=rows, cols=cols, side=side))
        st.plotly_chart(
            _cached(run_key, ("matrix", layer, head), lambda: vi.token_matrix(
                matrix if n_tokens > MAX_MATRIX_TOKENS else att.rows(layer - 1, slice(None), heads=[head - 1])[0],
                labels, title=_("Layer {layer}, head {head}: queries (rows) × keys (columns)").format(
                    layer=layer, head=head))),
            key="vit_matrix",
        )
        present.caption(
            _("Rows are queries, columns keys, in sequence order and indexed from 0: the prefix tokens ({names}) "
              "first, then the patches row by row, each labelled (row, column) from 0.").format(names=prefix_names)
            if P else
            _("Rows are queries, columns keys, in sequence order and indexed from 0: the patches row by row, each "
              "labelled (row, column) from 0.")
        )


with st.expander(_("The full token × token matrix of this head"), expanded=not present.on()):
    matrix_view()


# ---------------------------------------------------------------------------- 3. every head
@st.fragment(key=F_LAYER)
def layer_view() -> None:
    with st.container(key="vit_box_layer"):
        layer = _layer()
        maps, what = _maps(layer)
        if what == "cls":
            present.caption(_(
                "Where the **CLS** token looks in layer {layer}, one panel per head, each on its own colour scale "
                "(hover for the weights)."
            ).format(layer=layer))
        else:
            present.caption(_(
                "The attention each patch receives, averaged over all patch queries, in layer {layer}: one panel "
                "per head, each on its own colour scale."
            ).format(layer=layer))
        st.plotly_chart(
            _cached(run_key, ("heads", layer), lambda: vi.head_grid(trace.image, maps, patch_px, P)),
            key="vit_head_grid",
        )


@st.cache_resource(max_entries=8, show_spinner=False)
def _overview(key: str, _summ: streaming.Summary, tokens: int) -> dict:
    """The tiled overview image of a run, shared read-only: every overview figure refers to one string. Its
    tiles are the block means of the summary (plain means over runs of consecutive tokens)."""
    return vi.overview_tiles(list(_summ.overview), sizes=(tokens, tokens))


@st.fragment(key=F_OVERVIEW)
def overview_view() -> None:
    with st.container(key="vit_box_overview"):  # .st-key-vit_box_overview: what the browser tests read
        tiles = _overview(run_key, summary(), n_tokens)
        st.plotly_chart(  # no outline of the layer and head shown: it would resend the image on every change
            _cached(run_key, ("overview",), lambda: vi.layer_head_overview(
                tiles, selected=None,
                title=_("Every layer × head: {layers} × {heads} maps of {n}×{n} weights").format(
                    layers=n_layers, heads=n_heads, n=n_tokens),
            )),
            on_select=_on_overview_click, selection_mode="points", key=OVERVIEW_KEY,
        )
        present.caption(
            (_("Rows are layers, columns heads, both counted from 1; each tile is that head's whole token × token "
               "matrix (queries down, keys across, each shown as {tile}×{tile} averages), on its own colour scale "
               "from 0 to its largest weight, so every head's pattern shows.") if tiles["tile"] < n_tokens else
             _("Rows are layers, columns heads, both counted from 1; each tile is that head's whole token × token "
               "matrix (queries down, keys across), on its own colour scale from 0 to its largest weight, so every "
               "head's pattern shows.")).format(tile=tiles["tile"])
            + " "
            + _("Sent as one image; hover a tile for its largest weight and click it to show that layer and head in "
                "section 2, where its weights are drawn exactly.")
        )


st.subheader(_("3. Every head"))
st.markdown(_("Each head of a layer attends in its own way: the heads of the layer chosen above side by side, then "
              "every head of every layer at a glance."))
layer_view()
overview_view()


# ---------------------------------------------------------------------------- 4. one patch
@st.fragment(key=F_QUERY)
def query_view() -> None:
    with st.container(key="vit_box_query"):  # .st-key-vit_box_query: what the browser tests read
        layer = _layer()
        controls, figure = present.layout()
        with controls:
            c1, c2 = _controls(2)
            q_row = c1.slider(_("Query patch row (from 0)"), 0, max(rows - 1, 1), key="vit_q_row",
                              on_change=_on_query, disabled=rows == 1)
            q_col = c2.slider(_("Query patch column (from 0)"), 0, max(cols - 1, 1), key="vit_q_col",
                              on_change=_on_query, disabled=cols == 1)
            link.publish(vit_q_row=q_row, vit_q_col=q_col)
        q_token = P + q_row * cols + q_col
        with figure:
            st.markdown(_(
                "Patch (row {row}, column {col}), token {token}, as the query in layer {layer}: its weights over "
                "every patch, per head (outlined: the patch itself). Click a patch in the grid of section 1, or use "
                "the sliders."
            ).format(row=q_row, col=q_col, token=q_token, layer=layer))
            st.plotly_chart(
                _cached(run_key, ("query", layer, q_row, q_col), lambda: vi.head_grid(
                    trace.image, _patch_rows(att.rows(layer - 1, q_token)), patch_px, P, mark=(q_row, q_col))),
                key="vit_query_grid",
            )


st.subheader(_("4. Where one patch looks"))
query_view()


# ---------------------------------------------------------------------------- 5. rollout
@st.cache_data(max_entries=16, show_spinner=False)
def _rollout(key: str, fusion: str, discard: float, row: int, _attention) -> tuple[np.ndarray, float]:
    """Rollout of one row (models/analysis/streaming.rollout_rows) and the seconds it took."""
    rolled, seconds = streaming.rollout_rows(_attention, fusion, discard, rows=[row])
    return rolled[0], seconds


ROLLED = "vit_rolled"  # session state: the rollouts this session asked for on a large input (run key, settings)


@st.fragment(key=F_ROLLOUT)
def rollout_view() -> None:
    with st.container(key="vit_box_rollout"):  # .st-key-vit_box_rollout: what the browser tests read
        q_row, q_col = _query()
        q_token = P + q_row * cols + q_col
        controls, figure = present.layout()
        with controls:
            c1, c2, c3 = _controls(3)
            fusion = c1.radio(_("Head fusion"), am.HEAD_FUSIONS, horizontal=True, key="vit_fusion",
                              format_func=lambda f: _(FUSION_LABELS[f]))
            discard = c2.slider(_("Discard ratio"), 0.0, 0.95, step=0.05, key="vit_discard")
            origins = ROLLOUT_FROM if has_cls else ("patch",)
            origin = c3.radio(_("From"), origins, horizontal=True, key="vit_rollout_from",
                              format_func=lambda o: _(ROLLOUT_FROM_LABELS[o]))
            link.publish(vit_fusion=fusion, vit_discard=f"{discard:g}", vit_rollout_from=origin)
        if origin == "cls":
            row, mark = 0, None
            title = ngettext("Rollout from CLS, {n} layer", "Rollout from CLS, {n} layers", n_layers)
        else:
            row, mark = q_token, (q_row, q_col)
            title = ngettext("Rollout from patch ({row}, {col}), {n} layer", "Rollout from patch ({row}, {col}), {n} "
                             "layers", n_layers)
        title = title.format(n=n_layers, row=q_row, col=q_col)
        wanted = (run_key, fusion, float(discard), row)
        default = (fusion, float(discard), origin) == ("mean", 0.0, "cls")
        asked = st.session_state.setdefault(ROLLED, [])
        if n_tokens > AUTO_ROLLOUT_TOKENS and not default and wanted not in asked:
            with figure:
                st.info(_("At {tokens} tokens a rollout streams every weight of every layer (about {gflop} GFLOP, "
                          "several seconds on a CPU), so it is computed when you ask: the default one (from CLS, "
                          "mean fusion, no discard) is computed by itself.").format(
                    tokens=f"{n_tokens:,}", gflop=_gflop(_flops())))
                if st.button(_("Compute this rollout"), key="vit_rollout_go"):
                    asked.append(wanted)
                    del asked[:-8]
                    st.rerun(scope="fragment")
            return
        with st.spinner(_("Rolling out through {n} layers…").format(n=n_layers)):
            rolled, seconds = _rollout(run_key, fusion, float(discard), row, att)
        with figure:
            st.plotly_chart(
                _cached(run_key, ("rollout", fusion, float(discard), origin, mark), lambda: vi.attention_overlay(
                    trace.image, rolled[P:].reshape(trace.grid), patch_px, P, label=_("rollout"),
                    title=title,  # short: the column is narrow
                    mark=mark,
                )),
                key="vit_rollout",
            )
            said = _("{title}: {fusion} head fusion, discard ratio {discard}.").format(
                title=title, fusion=_(FUSION_LABELS[fusion]), discard=f"{discard:.2f}")
            if P:
                said += " " + _("Share of the rolled-out attention on the prefix tokens (not drawn): {share}.").format(
                    share=f"{float(rolled[:P].sum()):.1%}")
            said += " " + (_(
                "Computed for this row only: a row vector multiplied through the {n} layers' fused matrices, last to "
                "first, each built from the layer's queries and keys {chunk} rows at a time and never kept whole "
                "({seconds:.1f} s).") if discard == 0 else _(
                "Computed for this row only: a row vector multiplied through the {n} layers' fused matrices, last to "
                "first; the discard ratio needs each layer's smallest weights, so each layer's fused {tokens}×{tokens} "
                "matrix is built whole, one layer at a time ({seconds:.1f} s).")).format(
                n=n_layers, chunk=f"{att.chunk_rows():,}", tokens=f"{n_tokens:,}", seconds=seconds)
            present.caption(said)


def _flops() -> float:
    """Floating-point work of computing every weight of the run once: 2·N²·d_k per head and layer."""
    d = int(att.queries_keys(0)[0].shape[-1]) if att.lazy else int(form.get("head_dim") or 64)
    return float(n_layers * n_heads * n_tokens ** 2 * 2 * d)


st.subheader(_("5. Attention rollout"))
present.explain(_(
    "Attention rollout (Abnar & Zuidema, 2020) follows attention through all layers: each layer's heads are "
    "averaged, the identity is added for the residual connection (0.5·A + 0.5·I, rows renormalised) and the "
    "layers are multiplied, first to last. *Max* and *min* head fusion and the *discard ratio* (which first "
    "zeroes that fraction of each layer's weakest fused weights) are not in the paper: they come from Jacob "
    "Gildenblat's `vit-explain`."
))
rollout_view()
present.explain(_(
    "**Reading attention responsibly.** Attention weights show where a token's new value is mixed from, not why "
    "the model decided what it did. They leave out the size of the value vectors each weight multiplies, the "
    "output projection W_O and the MLPs. Rollout's equal split between attention and the residual path "
    "(0.5·A + 0.5·I) is an assumption, not something the model computes; gradient-weighted methods (Chefer et al., "
    "2021) exist because of these limits."
), label=_("Reading attention responsibly"))


# ---------------------------------------------------------------------------- 6. mean distance
st.subheader(_("6. Mean attention distance"))
summ = summary()
dist = summ.distance
st.plotly_chart(
    _cached(run_key, ("distance",), lambda: vi.distance_scatter(dist, image_px=float(max(trace.image.shape[:2])))),
    key="vit_distance",
)
ui_corpus.corpus_link(name, weights, "vit_corpus_link")
present.caption(_(
    "For every head (layers and heads from 1): the pixel distance between each patch query and the patches it "
    "attends to, weighted by the attention weights (renormalised over the patches) and averaged over the queries. "
    "Dosovitskiy et al. (2021, Fig. 7 right) plot this over 128 images; here it is this image alone. In trained "
    "ViTs some heads look far even in the first layers while others stay local, and distances grow with depth."
))
if att.lazy:
    present.caption(_(
        "Sections 3 and 6 and the token matrix need every weight: they were computed once from each layer's queries "
        "and keys, {chunk} query rows at a time, and reduced as they went (no {tokens}×{tokens} map kept), in "
        "{seconds:.1f} s."
    ).format(chunk=f"{att.chunk_rows():,}", tokens=f"{n_tokens:,}", seconds=summ.seconds))

# ---------------------------------------------------------------------------- 7. predictions and downloads
st.subheader(_("7. Predictions and downloads"))
if trace.top_k:
    st.plotly_chart(
        _cached(run_key, ("top_k",), lambda: vi.top_k_bars([(uv.class_label(c), p) for c, p in trace.top_k],
                                                           title=_("Top-5 predictions"))),
        key="vit_topk")
    present.caption(_("Softmax probabilities of the model's own classifier output."))
else:
    st.info(_("This model has no classifier (num_classes = 0): there are no predictions to show."))

values = vi.export_size(trace)
c1, c2 = st.columns(2)
if not att.lazy or values * 4 <= EXPORT_MAPS_MAX_BYTES:
    with c1:
        st.download_button(
            _("Download attention (.npz, {size} MB before compression)").format(size=f"{values * 4 / 1e6:.1f}"),
            lambda: vi.export_npz(trace), file_name=f"attention_{trace.model_name}.npz",
            mime="application/octet-stream", key="vit_dl_npz", on_click="ignore",
        )
    with c2:
        if values <= vi.JSON_MAX_VALUES:
            st.download_button(
                _("Download attention (.json)"), lambda: vi.export_json(trace),
                file_name=f"attention_{trace.model_name}.json", mime="application/json", key="vit_dl_json",
                on_click="ignore",
            )
        else:
            st.caption(_("JSON is offered up to {limit} weights; this model has {n}: use the NPZ file.").format(
                limit=f"{vi.JSON_MAX_VALUES:,}", n=f"{values:,}"))
    present.caption(_(
        "Every layer's weights as the model computed them (float32): attention_layer1 … attention_layer{n} in the "
        "NPZ, layer1 … in the JSON, each (heads, queries, keys), with the token labels in sequence order, the model "
        "name, the weights source, the patch grid, the patch size and the number of prefix tokens (the NPZ also "
        "holds the input crop)."
    ).format(n=n_layers))
else:
    with c1:
        st.download_button(
            _("Download queries and keys (.npz, {size} MB before compression)").format(
                size=f"{(att.nbytes + n_layers * n_heads * n_tokens * 4) / 1e6:.1f}"),
            lambda: vi.export_queries_keys_npz(trace), file_name=f"attention_{trace.model_name}_qk.npz",
            mime="application/octet-stream", key="vit_dl_qk", on_click="ignore",
        )
    present.caption(_(
        "Every map of this run would be {size} GB, so the NPZ holds what they are computed from: query_layer1 … "
        "query_layer{n} and key_layer1 … (heads, tokens, d_k, float32, as the model computed them, after any q/k "
        "normalisation), `scale`, and cls_layer1 … (heads, tokens): the CLS token's weights (token 0's if there is "
        "no CLS). Every weight of layer l is softmax(query_layerl · scale[l] @ key_layerlᵀ) over the keys. With the "
        "token labels, the model name, the weights source, the patch grid, the patch size, the number of prefix "
        "tokens and the input crop."
    ).format(size=f"{values * 4 / 1e9:.1f}", n=n_layers))


# ---------------------------------------------------------------------------- 8. what the prediction rests on
st.subheader(_("8. What the prediction rests on"))
present.explain(_(
    "Raw attention weights are not explanations (section 5). Four ways to trace the class back to the patches, side "
    "by side, each with the assumption it makes, and a number that says how well it follows the model on this "
    "image: the perturbation test of Chefer et al. (2021, §4) removes the patches in the map's order and watches the "
    "class's probability fall. Switching heads off shows what the model does without them."
), label=_("What the prediction rests on"))
ux.vit_section(trace, name, weights, device, size, image, run_key)
