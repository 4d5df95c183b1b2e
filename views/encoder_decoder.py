"""Encoder–decoder: type a sentence and see what every head of a from-scratch Transformer attends to.

Laid out for a lesson, in the order a teacher explains it: the input, then the encoder's self-attention, the
masks, the decoder's masked self-attention, cross-attention, decoding step by step, and an overview of every
layer and head with the downloads. The input is at the top; the other parts are tabs, in that order.

Every figure is built once per input and view and kept (ui.common.cached_figure, keyed by the inputs of the run,
the view, the reader's language and presentation mode): a rerun after another layer, head or step builds only
the figures it has not shown before. The layer, head, view and tab controls live in a fragment (st.fragment),
the decoding step in one inside it, so a change of view reruns only the part of the page it changes. The tabs
are lazy (on_change="rerun"): only the open one runs, so only its figures are built and sent.

The view is in the URL (ui.link): the widgets are bound to their keys, and the open tab is published as
`ed_tab` (its internal name, not its label, so that a link works in either language).
"""
import streamlit as st

from models.demo import text
from ui import common, link, present
from ui import explain_text as ux
from ui import text as ui
from ui.i18n import N_, _
from viz import lines
from viz import text as vt

st.title(_("Encoder–decoder attention"))
st.markdown(_(
    "The Transformer of *Attention Is All You Need* (Vaswani et al., 2017), written from scratch and trained on "
    "small demo tasks. Type an input, then follow the tabs from left to right: what the encoder reads, what the "
    "masks hide, what the decoder reads, what it takes from the input, and how it writes the output."
))
present.explain(_(
    "The **encoder** reads your input with self-attention; the **decoder** writes the output one token at a time "
    "(greedy decoding), with masked self-attention over what it has written so far and **cross-attention** over "
    "the encoder's output."
))

st.subheader(_("1 · Input"))
task, sentence, pad_to = ui.input_ui()
device = common.current_device()

if not sentence.strip():
    st.warning(_("The input is empty: type some text, or pick an example."))
    st.stop()
model, weights = ui.model_or_fallback(task, device)
try:
    trace = ui.run_model(task, sentence, pad_to, device, weights)
except text.EmptyInput as err:
    st.warning(ui.word(err))
    st.stop()

ui.weights_badge(model, weights)
ui.show_messages(trace)

st.markdown("**" + _("Output") + "**")
st.code(trace.output, language=None)
ui.show_assessment(trace)

info = text.TASKS[task]
if task == "translate":
    with st.expander(_("Zerin, the toy language: lexicon and vocabularies")):
        ui.vocabulary_ui(model)

src, tgt, out = (vt.visible_tokens(t) for t in (trace.source_tokens, trace.target_tokens, trace.output_tokens))
n_heads = trace.encoder_attention[0].shape[0]
present.caption(ui.dimensions_caption(model))

run_key = "\x1f".join(map(str, (task, sentence, pad_to, device, weights)))  # as ui.run_model caches the trace


def figure(*view, build):
    """A figure of this input and view, built once and shared read-only (ui.common.cached_figure): the
    overviews and masks once per input, a layer, head or step revisited not at all."""
    return common.cached_figure("encoder_decoder", run_key, view, build)


# The tabs in the order of the lesson: internal name (in the URL) -> label.
SECTIONS = {
    "encoder": N_("2 · Encoder self-attention"),
    "masks": N_("3 · Masks"),
    "decoder": N_("4 · Decoder self-attention"),
    "cross": N_("5 · Cross-attention"),
    "steps": N_("6 · Decoding step by step"),
    "overview": N_("7 · Overview & download"),
}
TAB_KEY = "ed_tab"


def section_labels() -> dict[str, str]:
    return {name: _(label) for name, label in SECTIONS.items()}


@st.fragment
def step_view(dec_layer: int) -> None:
    """The decoding step and its figures: a step change reruns only this."""
    dec, cross = trace.decoder_attention[dec_layer], trace.cross_attention[dec_layer]
    step = ui.step_ui(len(trace.output_tokens))
    st.markdown(ui.step_caption(trace, step, info.tokenization))
    left, right = st.columns([1, 2])
    with left:
        st.plotly_chart(figure("top k", step, build=lambda: vt.top_k_figure(
            trace.step_top_k[step], title=_("Step {step}: the next token, top 5").format(step=step + 1))),
            key="ed_step_topk")
    with right:
        st.plotly_chart(figure("step", "dec", dec_layer, step, build=lambda: vt.step_figure(
            dec, step, tgt, tgt, causal=True,
            title=_("Decoder self-attention at step {step} · layer {layer}").format(
                step=step + 1, layer=dec_layer + 1))), key="ed_step_dec")
        st.plotly_chart(figure("step", "cross", dec_layer, step, build=lambda: vt.step_figure(
            cross, step, tgt, src, title=_("Cross-attention at step {step} · layer {layer}").format(
                step=step + 1, layer=dec_layer + 1))), key="ed_step_cross")
    present.explain(_(
        "Steps count from 1; token positions (the numbers before each token in hover) are indices from 0. One "
        "forward pass over the decoder input gives every step at once: the causal mask makes row t exactly what "
        "the decoder computed when it produced output token t + 1 (step t + 1)."
    ))
    present.explain(_(ui.RESPONSIBLY), label=_("Reading attention responsibly"))


def attention_section(kind: str, view: str, layer: int, head: int) -> None:
    """One attention (encoder, decoder or cross) in the chosen view: one head, all heads of the layer, or the
    head view."""
    weights, queries, keys, name = {
        "encoder": (trace.encoder_attention[layer], src, src, "enc"),
        "decoder": (trace.decoder_attention[layer], tgt, tgt, "dec"),
        "cross": (trace.cross_attention[layer], tgt, src, "cross"),
    }[kind]
    what = _(ui.KIND_TITLES[kind])
    if view == "head":
        title = _("{attention} · layer {layer}, head {head}").format(attention=what, layer=layer + 1, head=head + 1)
        st.plotly_chart(figure("one", name, layer, head, build=lambda: vt.head_matrix(
            weights[head], queries, keys, title=title)), key=f"ed_one_{name}")
        present.explain(_(
            "Each row is a query token; its weights over the key tokens sum to 1. Hover a cell for the query "
            "token, the key token and the weight."
        ) + " " + _(ui.POSITIONS))
    elif view == "layer":
        st.plotly_chart(figure("grid", name, layer, build=lambda: vt.head_grid(
            weights, queries, keys, title=_("{attention} · layer {layer}").format(attention=what, layer=layer + 1))),
            key=f"ed_grid_{name}")
        present.explain(_("Every head of the chosen layer at once, on one colour scale.") + " " + _(ui.POSITIONS))
    else:
        heads = ui.heads_ui(n_heads)
        st.plotly_chart(figure("head view", kind, layer, tuple(heads), build=lambda: lines.head_view(
            weights, queries, keys, heads=heads,
            title=_("Head view: {attention} · layer {layer}").format(attention=what, layer=layer + 1),
            query_title=_("decoder (query)") if kind != "encoder" else _("query"),
            key_title=_("encoder (key)") if kind == "cross" else _("key"))), key="ed_head_view")
        present.explain(_(
            "Lines run from each query token (left) to the key tokens (right) it attends to; width and opacity "
            "grow with the weight, and each head has its colour. Click a head in the legend to hide it; hover a "
            "token for its strongest links (index: token, indices from 0)."
        ))


ABOUT = {
    "encoder": N_(
        "**Encoder self-attention**: every input token (query) against every input token (key); `<pad>` keys get "
        "weight exactly 0."
    ),
    "decoder": N_(
        "**Decoder masked self-attention**: the decoder's input is `<s>` followed by the output so far. It is "
        "masked, so position t sees only positions ≤ t: the upper triangle is exactly 0."
    ),
    "cross": N_(
        "**Cross-attention**: queries come from the decoder (rows), keys and values from the encoder's output "
        "(columns): the row of decoder position t shows which input tokens it looked at when it produced the next "
        "output token."
    ),
}

MASK_NAMES = {"enc": N_("Encoder"), "dec": N_("Decoder"), "cross": N_("Cross-attention")}


def masks_section(enc_layer: int, dec_layer: int, head: int) -> None:
    """Each mask, and beside it the chosen head's attention, whose masked cells are exactly 0."""
    present.explain(ui.masks_explanation(trace))
    enc, dec, cross = (trace.encoder_attention[enc_layer], trace.decoder_attention[dec_layer],
                       trace.cross_attention[dec_layer])

    def one(kind, layer):
        return _("{attention} · layer {layer}, head {head}").format(
            attention=_(ui.KIND_TITLES[kind]), layer=layer + 1, head=head + 1)

    pairs = [
        ("enc", lambda: vt.padding_mask_figure(trace.source_mask, src, src,
                                               title=_("Padding mask (encoder self-attention)")),
         enc_layer, lambda: vt.head_matrix(enc[head], src, src, title=one("encoder", enc_layer))),
        ("dec", lambda: vt.mask_heatmap(trace.causal_mask, tgt, tgt, title=_("Causal mask (decoder self-attention)")),
         dec_layer, lambda: vt.head_matrix(dec[head], tgt, tgt, title=one("decoder", dec_layer))),
        ("cross", lambda: vt.padding_mask_figure(trace.source_mask, tgt, src,
                                                 title=_("Padding mask (cross-attention)")),
         dec_layer, lambda: vt.head_matrix(cross[head], tgt, src, title=one("cross", dec_layer))),
    ]
    if present.on():  # one pair per screen
        chosen = ui.linked_radio(_("Mask"), list(MASK_NAMES), key="ed_mask", horizontal=True,
                                 format_func=lambda m: _(MASK_NAMES[m]))
        pairs = [p for p in pairs if p[0] == chosen]
    for name, mask_fig, attn_layer, attn_fig in pairs:
        left, right = st.columns(2)
        with left:
            st.plotly_chart(figure("mask", name, build=mask_fig), key=f"ed_mask_{name}")
        with right:
            st.plotly_chart(figure("one", name, attn_layer, head, build=attn_fig), key=f"ed_masked_{name}")


def overview_section() -> None:
    st.markdown(_("Every layer (rows) and head (columns), counted from 1: hover a cell for its layer, head, "
                  "tokens (index: token, indices from 0) and weight."))
    st.plotly_chart(figure("overview", "enc", build=lambda: vt.overview_grid(
        trace.encoder_attention, src, src, title=_("Encoder self-attention"))), key="ed_overview_enc")
    st.plotly_chart(figure("overview", "dec", build=lambda: vt.overview_grid(
        trace.decoder_attention, tgt, tgt, title=_("Decoder masked self-attention"))), key="ed_overview_dec")
    st.plotly_chart(figure("overview", "cross", build=lambda: vt.overview_grid(
        trace.cross_attention, tgt, src, title=_("Cross-attention"))), key="ed_overview_cross")
    st.markdown(_("Every attention array of this input (all layers and heads), the masks and the tokens."))
    ui.downloads_ui(trace, task)


@st.fragment
def views() -> None:
    """Layer, head, view and the tabs: a change of any reruns only this part of the page."""
    controls, main = present.layout()
    with controls:
        enc_layer, dec_layer, head = ui.layer_head_ui(
            len(trace.encoder_attention), len(trace.decoder_attention), n_heads, columns=not present.on())
        view = ui.view_ui()
    with main:
        labels = section_labels()
        link.restore_tab(TAB_KEY, labels)
        # Lazy tabs: only the open tab runs, so only its figures are built and sent.
        tabs = dict(zip(labels, st.tabs(list(labels.values()), key=TAB_KEY, on_change="rerun")))
        opened = next((name for name, tab in tabs.items() if tab.open), "encoder")
        link.publish(**{TAB_KEY: None if opened == "encoder" else opened})
        for kind, layer in (("encoder", enc_layer), ("decoder", dec_layer), ("cross", dec_layer)):
            if tabs[kind].open:
                with tabs[kind]:
                    present.explain(_(ABOUT[kind]))
                    attention_section(kind, view, layer, head)
                    if kind == "cross":
                        present.explain(_(ui.RESPONSIBLY), label=_("Reading attention responsibly"))
        if not (view == "lines" and opened in ("encoder", "decoder", "cross")):
            link.forget(ui.HEADS_KEY)  # the head view is not shown: its heads go back to all
        if tabs["masks"].open:
            with tabs["masks"]:
                masks_section(enc_layer, dec_layer, head)
        if tabs["steps"].open:
            with tabs["steps"]:
                step_view(dec_layer)
        if tabs["overview"].open:
            with tabs["overview"]:
                overview_section()


views()

st.subheader(_("8 · What the output rests on"))
present.explain(_(
    "Raw attention weights are not explanations. For a chosen output token: the relevance of each source token "
    "(Chefer et al., 2021, with their encoder–decoder rules) beside the raw cross-attention; then switch heads off "
    "and see what the model writes without them."
))
ux.seq2seq_section(model, sentence, run_key)
