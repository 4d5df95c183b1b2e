"""Language models: every head of a Hugging Face transformers model (BERT, GPT-2, T5, Marian, Llama…) or of our
own encoder–decoder, on the user's text, at any length.

The trace keeps each layer's queries and keys (models/language/capture.py), and a view computes the weights it
draws when it is shown: one head, the heads of a layer, the head view, the masks, one decoding step, the layers ×
heads overview. Matrices longer than ui.language.MAX_CELLS are pooled into blocks (plain means) and say so. Every
figure is cached per run and view (ui.common.cached_figure); the view controls live in a fragment, so a layer or
head change reruns only them. The view is in the URL (ui.language: lm_* keys).
"""
import hashlib

import streamlit as st

from models.analysis import attention_math as am
from models.messages import CodedError
from ui import clicks, common, link, present
from ui import explain_text as ux
from ui import language as ui
from ui.i18n import N_, _, ngettext
from viz import language as vl
from viz import lines
from viz import text as vt
from viz import vit as vi

st.title(_("Language models"))
st.markdown(_(
    "Every head of a real language model from Hugging Face transformers — BERT and its family, GPT-2 and today's "
    "decoder-only models, T5, BART and Marian translation models — or of our own encoder–decoder, on your text. "
    "The weights are the model's own, computed by its own forward pass."
))
present.explain(_(
    "An **encoder** (BERT) lets every token attend to every token; a **decoder** (GPT-2, Llama) is causal: a "
    "token attends only to itself and the tokens before it. An **encoder–decoder** (T5, BART, Marian) adds "
    "**cross-attention**: the decoder's tokens attend to the encoder's output. Each head computes "
    "softmax(QKᵀ / √d_k) over the keys, with d_k its own dimension (Vaswani et al., 2017)."
))

st.subheader(_("1 · Model and input"))
device = common.current_device()
name = ui.model_ui()
model = ui.load_or_stop(name, device)
ui.weights_badge(model)
present.caption(ui.dimensions_caption(model))
text = ui.input_ui(model)
new_tokens = ui.new_tokens_ui(model)
pad_to = ui.pad_ui(model)
if not text.strip():
    st.warning(_("The input is empty: type some text, or pick an example."))
    st.stop()
try:
    trace = ui.run_model(name, text, new_tokens, device, pad_to)
except CodedError as err:
    st.warning(ui.word(err))
    st.stop()
for notice in trace.notices:
    st.info(ui.word(notice))

run_key = "\x1f".join(map(str, (name, hashlib.sha256(text.encode()).hexdigest(), new_tokens, pad_to, device)))


def figure(*view, build):
    return common.cached_figure("language", run_key, view, build)


# ------------------------------------------------------------------------------------------------ predictions
st.subheader(_("2 · What the model predicts"))
if trace.fillers:
    cols = st.columns(min(3, len(trace.fillers)))
    for i, (position, top) in enumerate(sorted(trace.fillers.items())):
        with cols[i % len(cols)]:
            st.plotly_chart(figure("fill", position, build=lambda top=top, position=position: vt.top_k_figure(
                top, title=_("Mask at position {position}: top 5").format(position=position))),
                key=f"lm_fill_{position}")
    st.caption(_("Positions are indices from 0."))
elif trace.steps:
    st.markdown("**" + _("Output") + "**")
    written = trace.output_text if trace.output_text.strip() else " ".join(t.label for t in trace.new_tokens)
    st.code(written, language=None)
    st.caption(ngettext("Greedy decoding: at each step the most probable token; {steps} new token.",
                        "Greedy decoding: at each step the most probable token; {steps} new tokens.",
                        trace.steps).format(steps=trace.steps))
if trace.next_top_k:
    st.plotly_chart(figure("next", build=lambda: vt.top_k_figure(
        trace.next_top_k, title=_("The next token after the whole text: top 5"))), key="lm_next")
if not (trace.fillers or trace.steps or trace.next_top_k):
    st.caption(_("This model shows no predictions here (see the note above); its attention is the model's own."))

SECTIONS = {
    "attention": N_("3 · Attention"),
    "masks": N_("4 · Masks"),
    "steps": N_("5 · Decoding step by step"),
    "overview": N_("6 · Overview & download"),
}
TAB_KEY = "lm_tab"


def labels(tokens) -> list[str]:
    """Token labels as Plotly draws them (a space visible, <s> escaped)."""
    return vt.visible_tokens([t.label for t in tokens])


def titled(kind: str, layer: int, head: int | None = None) -> str:
    what = _(ui.KINDS[kind])
    if head is None:
        return _("{attention} · layer {layer}").format(attention=what, layer=layer + 1)
    return _("{attention} · layer {layer}, head {head}").format(attention=what, layer=layer + 1, head=head + 1)


def attention_section(kind: str, view: str, layer: int, head: int, hide: bool) -> None:
    if view == "head":
        pooled, qe, ke, qt, kt = ui.matrices(trace, kind, layer, ui.MAX_CELLS, hide, heads=[head])
        st.plotly_chart(figure("one", kind, layer, head, hide, build=lambda: vl.pooled_matrix(
            pooled[0], qe, ke, labels(qt), labels(kt), title=titled(kind, layer, head), query_ids=ui.ids(qt),
            key_ids=ui.ids(kt))), key="lm_one")
        note = ui.pooled_note(len(qt), len(kt), qe, ke)
        present.explain(_("Each row is a query token; its weights over the key tokens sum to 1. Token positions are "
                          "indices from 0: hover shows each as *index: token*.") + (" " + note if note else ""))
    elif view == "layer":
        pooled, qe, ke, qt, kt = ui.matrices(trace, kind, layer, ui.GRID_CELLS, hide)
        st.plotly_chart(figure("grid", kind, layer, hide, build=lambda: vl.pooled_head_grid(
            pooled, qe, ke, labels(qt), labels(kt), title=titled(kind, layer), query_ids=ui.ids(qt),
            key_ids=ui.ids(kt))), key="lm_grid")
        note = ui.pooled_note(len(qt), len(kt), qe, ke)
        lead = _("Every head of the chosen layer at once, on one colour scale.")
        present.explain(lead + (" " + note if note else ""))
    else:
        q_tokens, k_tokens = trace.token_info(kind)
        n = max(len(q_tokens), len(k_tokens))
        start = 0
        if n > ui.MAX_LINES_TOKENS:
            link.check("lm_from", link.whole(0, n - 1))
            start = st.number_input(_("Head view from position (index from 0)"), 0, n - 1, 0, key="lm_from",
                                    bind="query-params")
            st.caption(_("The head view draws {n} positions at a time, from the position chosen; lines to keys "
                         "outside them are not drawn.").format(n=ui.MAX_LINES_TOKENS))
        qs = list(range(start, min(len(q_tokens), start + ui.MAX_LINES_TOKENS)))
        ks = list(range(start if kind != "cross" else 0, min(len(k_tokens), (start if kind != "cross" else 0)
                                                            + ui.MAX_LINES_TOKENS)))
        if not qs:
            st.caption(_("No query positions from there."))
            return
        weights = trace.rows(kind, layer, qs)[:, :, ks[0]: ks[-1] + 1]
        ql = [q_tokens[i].label for i in qs]
        kl = [k_tokens[i].label for i in ks]
        st.plotly_chart(figure("lines", kind, layer, start, build=lambda: lines.head_view(
            weights, vt.visible_tokens(ql), vt.visible_tokens(kl),
            title=_("Head view: {attention} · layer {layer}").format(attention=_(ui.KINDS[kind]), layer=layer + 1),
            query_title=_("decoder (query)") if kind == "cross" else _("query"),
            key_title=_("encoder (key)") if kind == "cross" else _("key"))), key="lm_lines")
        present.explain(_(
            "Lines run from each query token (left) to the key tokens (right) it attends to; width and opacity grow "
            "with the weight, and each head has its colour. Click a head in the legend to hide it."
        ))


def masks_section(kind: str, layer: int, head: int) -> None:
    q_tokens, k_tokens = trace.token_info(kind)
    ql, kl = labels(q_tokens), labels(k_tokens)
    parts = trace.mask_parts(kind, layer)
    st.markdown(_("A mask sets the scores of forbidden (query, key) pairs to −∞ before the softmax, which turns "
                  "them into weights of exactly 0."))
    if not parts:
        st.caption(_("Nothing is masked here: every query may attend to every key."))
    names = {"padding": _("Padding mask"), "causal": _("Causal mask"), "sliding_window": _("Sliding-window mask")}
    qe, ke = am.block_edges(len(ql), ui.MAX_CELLS), am.block_edges(len(kl), ui.MAX_CELLS)
    left, right = st.columns(2)
    with left:
        for part, allowed in parts.items():
            shown = allowed if not vl.is_pooled(qe) and not vl.is_pooled(ke) else am.block_means(allowed, qe, ke)
            st.plotly_chart(figure("mask", kind, part, build=lambda shown=shown, part=part: vl.pooled_mask(
                shown, qe, ke, ql, kl, title=names.get(part, part), query_ids=ui.ids(q_tokens),
                key_ids=ui.ids(k_tokens))), key=f"lm_mask_{part}")
    with right:
        pooled, pqe, pke, pqt, pkt = ui.matrices(trace, kind, layer, ui.MAX_CELLS, False, heads=[head])
        st.plotly_chart(figure("one", kind, layer, head, False, build=lambda: vl.pooled_matrix(
            pooled[0], pqe, pke, labels(pqt), labels(pkt), title=titled(kind, layer, head), query_ids=ui.ids(pqt),
            key_ids=ui.ids(pkt))), key="lm_masked")
    if "sliding_window" in parts:
        st.caption(_("Sliding-window attention: each token attends only to the most recent tokens within the "
                     "model's window, itself included."))


@st.fragment
def step_view(layer: int) -> None:
    steps = trace.steps
    link.check(ui.STEP_KEY, link.whole(1, steps))
    if st.session_state.get(ui.STEP_KEY, 1) > steps:
        st.session_state.pop(ui.STEP_KEY, None)
    step = 1 if steps == 1 else st.slider(_("Decoding step"), 1, steps, 1, key=ui.STEP_KEY, bind="query-params",
                                          help=_("Steps count from 1. Step k: what the model attended to when it "
                                                 "chose new token k."))
    kind, query = trace.step_query(step)
    q_tokens, k_tokens = trace.token_info(kind)
    chosen = trace.new_tokens[step - 1]
    probability = dict(trace.step_top_k[step - 1]).get(chosen.label)
    st.markdown(_("**Step {step} of {steps}.** The query is position {position} ({token}, index from 0); the model "
                  "chose {new}.").format(step=step, steps=steps, position=query,
                                         token=ui._code(q_tokens[query].label), new=ui._code(chosen.label))
                + ("" if probability is None else " " + _("Probability {p:.3f}.").format(p=probability)))
    left, right = st.columns([1, 2])
    with left:
        st.plotly_chart(figure("step top", step, build=lambda: vt.top_k_figure(
            trace.step_top_k[step - 1], title=_("Step {step}: the next token, top 5").format(step=step))),
            key="lm_step_topk")
    with right:
        n_keys = query + 1 if kind in ("self", "decoder") and trace.family != "encoder" else len(k_tokens)
        rows = trace.rows(kind, layer, [query])[:, 0, :n_keys]
        st.plotly_chart(figure("step", kind, layer, step, build=lambda: vl.step_rows(
            rows, query, vt.visible_tokens([q_tokens[query].label])[0],
            labels(k_tokens[:n_keys]), key_ids=ui.ids(k_tokens[:n_keys]),
            title=_("{attention} at step {step} · layer {layer}").format(
                attention=_(ui.KINDS[kind]), step=step, layer=layer + 1))), key="lm_step_rows")
        if "cross" in trace.kinds:
            cross_q = query
            src = trace.token_info("cross")[1]
            crow = trace.rows("cross", min(layer, trace.num_layers("cross") - 1), [cross_q])[:, 0, :]
            st.plotly_chart(figure("step", "cross", layer, step, build=lambda: vl.step_rows(
                crow, cross_q, vt.visible_tokens([q_tokens[cross_q].label])[0],
                labels(src), key_ids=ui.ids(src),
                title=_("{attention} at step {step} · layer {layer}").format(
                    attention=_(ui.KINDS["cross"]), step=step, layer=layer + 1))), key="lm_step_cross")
    present.explain(_(
        "One forward pass over the text and the new tokens gives every step at once: with the causal mask, the row "
        "of a position is exactly what the model computed there when it chose the next token."
    ))


OVERVIEW_KEY = "lm_overview"


def _on_overview_click() -> None:
    """A click on a tile opens that layer and head in the one-head view of the attention tab (viz.vit's overview:
    an invisible marker per tile carries its layer and head)."""
    pick = clicks.custom_ints(st.session_state.get(OVERVIEW_KEY), 2)  # (layer, head), both from 1
    if pick is None:
        return
    layer, head = pick[0] - 1, pick[1] - 1
    kind = st.session_state.get(ui.KIND_KEY, trace.kinds[0])
    kind = kind if kind in trace.kinds else trace.kinds[0]
    if 0 <= layer < trace.num_layers(kind) and 0 <= head < trace.num_heads:
        st.session_state[ui.LAYER_KEY] = layer + 1
        st.session_state[ui.HEAD_KEY] = head + 1
        st.session_state[ui.VIEW_KEY] = "head"
        st.session_state[TAB_KEY] = _(SECTIONS["attention"])


def overview_section(kind: str, layer: int, head: int) -> None:
    q, k = trace.tokens(kind)
    qe, ke = am.block_edges(len(q), ui.TILE_CELLS), am.block_edges(len(k), ui.TILE_CELLS)  # as trace.pooled cuts
    tiles = figure("overview tiles", kind, build=lambda: vi.overview_tiles(
        list(trace.overview(kind, ui.TILE_CELLS)), sizes=(len(q), len(k))))
    st.markdown(_("Every layer (rows) and head (columns), counted from 1, each head on its own colour scale (0 to "
                  "its largest weight): hover a tile for its layer, head and largest weight; click it to open that "
                  "head."))
    st.plotly_chart(figure("overview", kind, layer, head, build=lambda: vi.layer_head_overview(
        tiles, selected=(layer, head), title=_(ui.KINDS[kind]))), key=OVERVIEW_KEY,
        on_select=_on_overview_click, selection_mode="points")
    note = ui.pooled_note(len(q), len(k), qe, ke)
    if note:
        st.caption(note)
    ui.downloads_ui(trace, kind, layer)


@st.fragment
def views() -> None:
    controls, main = present.layout()
    with controls:
        kinds = list(trace.kinds)
        kind = kinds[0] if len(kinds) == 1 else ui.linked_radio(_("Attention"), kinds, ui.KINDS, ui.KIND_KEY,
                                                                horizontal=True)
        cols = st.columns(2) if not present.on() else [st.container(), st.container()]
        with cols[0]:
            layer = ui.counted_from_1(_("Layer"), trace.num_layers(kind), ui.LAYER_KEY,
                                      help=_("Layers count from 1, the first reading the embeddings."))
        with cols[1]:
            head = ui.counted_from_1(_("Head"), trace.num_heads, ui.HEAD_KEY, help=_("Heads count from 1."))
        view = ui.linked_radio(_("View"), list(ui.VIEWS), ui.VIEWS, ui.VIEW_KEY, horizontal=True)
        hide = st.toggle(_("Hide special tokens"), key=ui.HIDE_KEY, bind="query-params",
                         help=_("Leaves out [CLS], [SEP], <s>, </s>, BOS and the like, and renormalises each row."))
        note = ui.special_note(trace, kind)
        if note:
            st.caption(note)
    with main:
        labels = {name: _(label) for name, label in SECTIONS.items() if name != "steps" or trace.steps}
        link.restore_tab(TAB_KEY, labels)
        tabs = dict(zip(labels, st.tabs(list(labels.values()), key=TAB_KEY, on_change="rerun")))
        opened = next((n for n, tab in tabs.items() if tab.open), "attention")
        link.publish(**{TAB_KEY: None if opened == "attention" else opened})
        if tabs["attention"].open:
            with tabs["attention"]:
                attention_section(kind, view, layer, head, hide)
        if tabs["masks"].open:
            with tabs["masks"]:
                masks_section(kind, layer, head)
        if "steps" in tabs and tabs["steps"].open:
            with tabs["steps"]:
                step_layer = min(layer, trace.num_layers(trace.step_query(1)[0]) - 1)
                step_view(step_layer)
        if tabs["overview"].open:
            with tabs["overview"]:
                overview_section(kind, layer, head)


views()

st.subheader(_("7 · What the prediction rests on"))
present.explain(_(
    "Raw attention weights are not explanations. For a masked language model's [MASK] filler, or a causal model's "
    "next token after the text: the relevance of each context token (Chefer et al., 2021) beside the raw "
    "self-attention of the predicted position; then switch heads off and see the new top 5."
))
ux.lm_section(model, text, run_key)
