"""Encoder–decoder: type a sentence and see what every head of a from-scratch Transformer attends to.

Every figure is built once per input and view and kept (ui.common.cached_figure, keyed by the inputs of the run
and the view): a rerun after another layer, head or step builds only the figures it has not shown before. The
layer, head and tab controls live in a fragment (st.fragment), the decoding step in one inside it, so a change
of view reruns only the part of the page it changes.
"""
import streamlit as st

from models.demo import text
from ui import common
from ui import text as ui
from viz import lines
from viz import text as vt

st.title("Encoder–decoder attention")
st.markdown(
    "The Transformer of *Attention Is All You Need* (Vaswani et al., 2017), written from scratch and trained on "
    "small demo tasks. The **encoder** reads your input with self-attention; the **decoder** writes the output one "
    "token at a time (greedy decoding), with masked self-attention over what it has written so far and "
    "**cross-attention** over the encoder's output."
)

task, sentence, pad_to = ui.input_ui()
device = common.current_device()

if not sentence.strip():
    st.warning("The input is empty: type some text, or pick an example.")
    st.stop()
model, weights = ui.model_or_fallback(task, device)
try:
    trace = ui.run_model(task, sentence, pad_to, device, weights)
except text.EmptyInput as err:
    st.warning(str(err))
    st.stop()

common.weights_badge(trace.weights_source)
ui.show_messages(trace)

st.subheader("Output")
st.code(trace.output, language=None)
ui.show_assessment(trace)

info = text.TASKS[task]
if task == "translate":
    with st.expander("Zerin, the toy language: lexicon and vocabularies"):
        ui.vocabulary_ui(model)

src, tgt, out = (vt.visible_tokens(t) for t in (trace.source_tokens, trace.target_tokens, trace.output_tokens))
n_heads = trace.encoder_attention[0].shape[0]
st.caption(ui.dimensions_caption(model))

run_key = "\x1f".join(map(str, (task, sentence, pad_to, device, weights)))  # as ui.run_model caches the trace


def figure(*view, build):
    """A figure of this input and view, built once and shared read-only (ui.common.cached_figure): the
    overviews and masks once per input, a layer, head or step revisited not at all."""
    return common.cached_figure("encoder_decoder", run_key, view, build)


TABS = ["One head", "All heads of a layer", "Layers × heads", "Head view", "Masks", "Step by step", "Download"]


@st.fragment
def step_view(dec_layer: int) -> None:
    """The decoding step and its figures: a step change reruns only this."""
    dec, cross = trace.decoder_attention[dec_layer], trace.cross_attention[dec_layer]
    step = ui.step_ui(len(trace.output_tokens))
    st.markdown(ui.step_caption(trace, step, info.tokenization))
    left, right = st.columns([1, 2])
    with left:
        st.plotly_chart(figure("top k", step, build=lambda: vt.top_k_figure(
            trace.step_top_k[step], title=f"Step {step + 1}: the next token, top 5")), key="ed_step_topk")
        st.markdown(ui.RESPONSIBLY)
    with right:
        st.plotly_chart(figure("step", "dec", dec_layer, step, build=lambda: vt.step_figure(
            dec, step, tgt, tgt, causal=True,
            title=f"Decoder self-attention at step {step + 1} · layer {dec_layer + 1}")), key="ed_step_dec")
        st.plotly_chart(figure("step", "cross", dec_layer, step, build=lambda: vt.step_figure(
            cross, step, tgt, src, title=f"Cross-attention at step {step + 1} · layer {dec_layer + 1}")),
            key="ed_step_cross")
    st.caption(
        "Steps count from 1; token positions (the numbers before each token in hover) are indices from 0. One "
        "forward pass over the decoder input gives every step at once: the causal mask makes row t exactly what "
        "the decoder computed when it produced output token t + 1 (step t + 1)."
    )


@st.fragment
def views() -> None:
    """Layer, head and the tabs: a change of layer, head or tab reruns only this part of the page."""
    enc_layer, dec_layer, head = ui.layer_head_ui(len(trace.encoder_attention), len(trace.decoder_attention), n_heads)
    enc = trace.encoder_attention[enc_layer]  # (heads, S, S)
    dec = trace.decoder_attention[dec_layer]  # (heads, T, T)
    cross = trace.cross_attention[dec_layer]  # (heads, T, S)
    enc_title = f"Encoder self-attention · layer {enc_layer + 1}, head {head + 1}"
    dec_title = f"Decoder masked self-attention · layer {dec_layer + 1}, head {head + 1}"
    cross_title = f"Cross-attention · layer {dec_layer + 1}, head {head + 1}"

    # Lazy tabs: only the open tab runs, so only its figures are built and sent.
    tabs = st.tabs(TABS, key="ed_tab", on_change="rerun")

    if tabs[0].open:
        with tabs[0]:
            st.markdown(
                "Each row is a query token; its weights over the key tokens sum to 1. Hover a cell for the query "
                "token, the key token and the weight. " + ui.POSITIONS
            )
            c1, c2 = st.columns(2)
            with c1:
                st.plotly_chart(figure("one", "enc", enc_layer, head,
                                       build=lambda: vt.head_matrix(enc[head], src, src, title=enc_title)),
                                key="ed_one_enc")
            with c2:
                st.plotly_chart(figure("one", "dec", dec_layer, head,
                                       build=lambda: vt.head_matrix(dec[head], tgt, tgt, title=dec_title)),
                                key="ed_one_dec")
            c1, c2 = st.columns(2)
            with c1:
                st.plotly_chart(figure("one", "cross", dec_layer, head,
                                       build=lambda: vt.head_matrix(cross[head], tgt, src, title=cross_title)),
                                key="ed_one_cross")
            with c2:
                st.markdown(ui.RESPONSIBLY)
            st.markdown(
                "**Encoder self-attention**: every input token (query) against every input token (key); "
                "`<pad>` keys get weight exactly 0. "
                "**Decoder masked self-attention**: the decoder's input is `<s>` followed by the output so far. It "
                "is masked, so position t sees only positions ≤ t: the upper triangle is exactly 0. "
                "**Cross-attention**: queries come from the decoder (rows), keys and values from the encoder's "
                "output (columns): the row of decoder position t shows which input tokens it looked at when it "
                "produced the next output token."
            )

    if tabs[1].open:
        with tabs[1]:
            st.markdown("Every head of the chosen layer at once, on one colour scale. " + ui.POSITIONS)
            st.plotly_chart(figure("grid", "enc", enc_layer, build=lambda: vt.head_grid(
                enc, src, src, title=f"Encoder self-attention · layer {enc_layer + 1}")), key="ed_grid_enc")
            st.plotly_chart(figure("grid", "dec", dec_layer, build=lambda: vt.head_grid(
                dec, tgt, tgt, title=f"Decoder masked self-attention · layer {dec_layer + 1}")), key="ed_grid_dec")
            st.plotly_chart(figure("grid", "cross", dec_layer, build=lambda: vt.head_grid(
                cross, tgt, src, title=f"Cross-attention · layer {dec_layer + 1}")), key="ed_grid_cross")

    if tabs[2].open:
        with tabs[2]:
            st.markdown("Every layer (rows) and head (columns), counted from 1: hover a cell for its layer, head, "
                        "tokens (index: token, indices from 0) and weight.")
            st.plotly_chart(figure("overview", "enc", build=lambda: vt.overview_grid(
                trace.encoder_attention, src, src, title="Encoder self-attention")), key="ed_overview_enc")
            st.plotly_chart(figure("overview", "dec", build=lambda: vt.overview_grid(
                trace.decoder_attention, tgt, tgt, title="Decoder masked self-attention")), key="ed_overview_dec")
            st.plotly_chart(figure("overview", "cross", build=lambda: vt.overview_grid(
                trace.cross_attention, tgt, src, title="Cross-attention")), key="ed_overview_cross")

    if tabs[3].open:
        with tabs[3]:
            kind, heads = ui.head_view_ui(n_heads)
            weights, queries, keys, layer = {
                "encoder": (enc, src, src, enc_layer),
                "decoder": (dec, tgt, tgt, dec_layer),
                "cross": (cross, tgt, src, dec_layer),
            }[kind]
            st.markdown(
                "Lines run from each query token (left) to the key tokens (right) it attends to; width and opacity "
                "grow with the weight, and each head has its colour. Click a head in the legend to hide it; hover a "
                "token for its strongest links (index: token, indices from 0)."
            )
            st.plotly_chart(
                figure("head view", kind, layer, tuple(heads), build=lambda: lines.head_view(
                    weights, queries, keys, heads=heads, title=f"Head view: {ui.KIND_TITLES[kind]} · layer {layer + 1}",
                    query_title="decoder (query)" if kind != "encoder" else "query",
                    key_title="encoder (key)" if kind == "cross" else "key")),
                key="ed_head_view",
            )
            if kind == "cross":
                st.markdown(ui.RESPONSIBLY)

    if tabs[4].open:
        with tabs[4]:
            st.markdown(ui.masks_explanation(trace))
            # Each mask, and beside it the chosen head's attention, as in "One head".
            pairs = [
                ("enc", lambda: vt.padding_mask_figure(trace.source_mask, src, src,
                                                       title="Padding mask (encoder self-attention)"),
                 enc_layer, lambda: vt.head_matrix(enc[head], src, src, title=enc_title)),
                ("dec", lambda: vt.mask_heatmap(trace.causal_mask, tgt, tgt,
                                                title="Causal mask (decoder self-attention)"),
                 dec_layer, lambda: vt.head_matrix(dec[head], tgt, tgt, title=dec_title)),
                ("cross", lambda: vt.padding_mask_figure(trace.source_mask, tgt, src,
                                                         title="Padding mask (cross-attention)"),
                 dec_layer, lambda: vt.head_matrix(cross[head], tgt, src, title=cross_title)),
            ]
            for name, mask_fig, attn_layer, attn_fig in pairs:
                left, right = st.columns(2)
                with left:
                    st.plotly_chart(figure("mask", name, build=mask_fig), key=f"ed_mask_{name}")
                with right:
                    st.plotly_chart(figure("one", name, attn_layer, head, build=attn_fig), key=f"ed_masked_{name}")

    if tabs[5].open:
        with tabs[5]:
            step_view(dec_layer)

    if tabs[6].open:
        with tabs[6]:
            st.markdown("Every attention array of this input (all layers and heads), the masks and the tokens.")
            ui.downloads_ui(trace, task)


views()
