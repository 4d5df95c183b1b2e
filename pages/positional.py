"""Positional encodings: the sinusoids of the encoder–decoder, a ViT's learned table, Swin's relative bias.

Thin: widgets, cached calls, layout. Models come from the app's one bounded model cache (ui.vision.cached_model);
each tab is an st.fragment, so a change in one reruns that tab only, and figures are cached per view
(ui.common.cached_figure). Positions, patch rows and columns are indices from 0; stages, blocks and heads count
from 1.
"""
from __future__ import annotations

import streamlit as st

from models.analysis import positional
from models.capture import vision
from ui import clicks
from ui.common import cached_figure, current_device, weights_badge
from ui.vision import cached_model
from viz import positional as figs

PAGE = "positional"

DEMO = {"vit": ("vit_demo", "vit_tiny_patch16_224"), "swin": ("swin_demo", "swin_tiny_patch4_window7_224")}


@st.cache_data(max_entries=32)
def sinusoids(length: int, d_model: int, positions: tuple[int, ...], max_offset: int):
    pe = positional.sinusoidal_table(length, d_model)
    offsets, curves = positional.similarity_by_offset(pe, list(positions), max_offset)
    return pe, positional.wavelengths(d_model), positional.dot_similarity(pe), offsets, curves


def load_vision(name: str, weights: str, device: str):
    """(model, name, weights, note) from the app's model cache; a missing demo falls back to random weights of its
    architecture, with a note saying why. No cache of its own."""
    try:
        return cached_model(name, weights, device), name, weights, None
    except vision.WeightsUnavailable as e:
        fallback = {demo: arch for demo, arch in DEMO.values()}.get(name)
        if weights != "demo" or fallback is None:
            raise
        note = f"{e} Showing an untrained {fallback} instead."
        return cached_model(fallback, "random", device), fallback, "random", note


@st.cache_data(show_spinner="Comparing position embeddings…", max_entries=16)
def vit_grid(name: str, weights: str, device: str):
    model = cached_model(name, weights, device).module
    emb = positional.vit_position_embeddings(model)
    return emb, positional.cosine_similarity_grid(emb.patch, emb.grid)


@st.cache_data(max_entries=16)
def swin_tables(name: str, weights: str, device: str):
    model = cached_model(name, weights, device).module
    return positional.swin_bias_tables(model)



def model_ui(family: str, key: str):
    """Demo or a timm model by name → (model, name, weights), or stops the page section with a message."""
    demo, example = DEMO[family]
    c1, c2, c3 = st.columns([2, 3, 2])
    with c1:
        which = st.radio("Model", ["demo", "timm model"], horizontal=True, key=f"{key}_which",
                         help=f"The bundled {demo} (trained here on synthetic shapes), or any timm model by name.")
    name, weights = demo, "demo"
    if which == "timm model":
        with c2:
            name = st.text_input("timm name", example, key=f"{key}_name").strip()
        with c3:
            weights = st.radio("Weights", ["pretrained", "random"], horizontal=True, key=f"{key}_weights",
                               help="Pretrained weights come from the Hugging Face Hub (or its local cache).")
    if not name:
        st.warning(f"Type a timm model name, for example {example}.")
        return None, name, weights
    try:
        model, name, weights, note = load_vision(name, weights, current_device())
    except vision.VisionError as e:  # written for the page; never a traceback
        st.error(str(e))
        return None, name, weights
    if note:
        st.warning(note)
    weights_badge(model.weights_source)
    return model, name, weights


@st.fragment
def sinusoidal_section() -> None:
    st.markdown(
        "The Transformer has no recurrence and no convolution, so it is told each token's position by adding a "
        "vector to the token's embedding (Vaswani et al. 2017, §3.5). Each dimension is a sinusoid of the "
        "position; the wavelengths form a geometric progression from 2π to 10000·2π."
    )
    st.latex(r"PE_{(pos,\,2i)} = \sin\!\left(\frac{pos}{10000^{2i/d_{model}}}\right),\qquad "
             r"PE_{(pos,\,2i+1)} = \cos\!\left(\frac{pos}{10000^{2i/d_{model}}}\right)")
    c1, c2 = st.columns(2)
    with c1:
        d_model = st.select_slider("d_model", [16, 32, 64, 128, 256, 512, 768, 1024], value=128, key="pe_d",
                                   help="128 is the width of the encoder–decoder demo models; "
                                        "512 the paper's base model.")
    with c2:
        length = st.slider("Positions", 8, 512, 100, step=4, key="pe_len")
    default_dims = sorted({0, 1, d_model // 8, d_model // 4, d_model // 2})
    dims = st.multiselect("Dimensions to draw as curves", list(range(d_model)), default=default_dims, key="pe_dims",
                          help="Even dimensions are sines, odd ones cosines of the same frequency.")
    positions = st.multiselect("Start positions p for the similarity by offset", list(range(length)),
                               default=[0, length // 4, length // 2], key="pe_positions")
    max_offset = max(1, length // 2)
    positions = [p for p in positions if p < length]  # a shorter table drops start positions beyond it
    pe, wl, sim, offsets, curves = sinusoids(length, d_model, tuple(positions), max_offset)
    run = f"sin|{length}|{d_model}"

    def fig(name, build, *view):
        return cached_figure(PAGE, run, (name, *view), build)

    st.caption(
        "Computed by `models.network.transformer.sinusoidal_encoding`: the very function that fills the "
        "encoder–decoder models' positional-encoding buffer, which they add to the token embeddings × √d_model."
    )
    st.plotly_chart(fig("heat", lambda: figs.encoding_heatmap(pe, f"PE for {length} positions (from 0) × {d_model} "
                                                                "dimensions")), key="pe_heat")
    c1, c2 = st.columns([3, 2])
    with c1:
        if dims:
            st.plotly_chart(fig("curves", lambda: figs.encoding_curves(pe, dims, wl), tuple(dims)), key="pe_curves")
        else:
            st.info("Pick some dimensions to draw them as curves.")
    with c2:
        st.plotly_chart(cached_figure(PAGE, f"wl|{d_model}", ("wl",), lambda: figs.wavelength_plot(wl)),
                        key="pe_wavelengths")
        st.caption(f"Dimension 0 and 1 repeat every 2π ≈ 6.28 positions; the last pair every "
                   f"{wl[-1]:,.0f} positions, far longer than any sentence: together they give each position a "
                   "unique code, fast dimensions telling neighbours apart, slow ones giving the coarse place.")
    st.markdown(
        "**Similarity between positions.** Since sin a·sin b + cos a·cos b = cos(a − b), the dot product of two "
        "encodings is PE(p)·PE(q) = Σᵢ cos((p − q)·ωᵢ), with ωᵢ = 1/10000^(2i/d_model): it depends only on the "
        "distance p − q, not on where the pair sits. Every diagonal of the matrix below is constant, and the "
        "curves on the right, one per start position, lie on top of each other. The authors chose sinusoids "
        "because PE(pos + k) is a linear function (a rotation of each sin/cos pair) of PE(pos), which they "
        "hypothesised would let the model attend by relative position."
    )
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(fig("sim", lambda: figs.similarity_heatmap(sim, "PE · PEᵀ (positions from 0)")), key="pe_sim")
    with c2:
        if positions:
            st.plotly_chart(fig("offsets", lambda: figs.offset_curves(offsets, curves), tuple(positions)),
                            key="pe_offsets")
        else:
            st.info("Pick some start positions.")


@st.fragment
def vit_section() -> None:
    st.markdown(
        "ViT cuts the image into patches and *learns* one position vector per patch (and one for the CLS token), "
        "added to the patch embeddings: z₀ = [x_class; x¹E; …; xᴺE] + E_pos (Dosovitskiy et al. 2021, eq. 1). "
        "The table is 1-D: nothing tells the model that the patches form a grid. Below, each small map is one "
        "patch position, showing the cosine similarity of its embedding with every other position's, laid out "
        "like the patch grid (the paper's Fig. 7, centre). Trained models learn the image's 2-D layout: nearby "
        "patches have similar embeddings, and patches in the same row or column resemble each other."
    )
    model, name, weights = model_ui("vit", "pe_vit")
    if model is None:
        return
    try:
        emb, grid = vit_grid(name, weights, current_device())
    except ValueError as e:
        st.error(f"{name}: {e}. This view needs a ViT with learned absolute position embeddings.")
        return
    rows, cols = emb.grid
    prefix = (f"The prefix token(s) {', '.join(emb.prefix_labels)} have their own entries in the table (not drawn)."
              if len(emb.prefix) else "This model's prefix tokens get no position embedding (`no_embed_class`).")
    st.caption(f"{rows} × {cols} patch positions (rows and columns are indices from 0), "
               f"{emb.patch.shape[1]}-dimensional embeddings. {prefix} "
               "Random weights give noise; the structure comes from training and grows with it (the paper's "
               "figure is a ViT-L/32 pretrained on a large dataset; the small demo, trained briefly on 64-px shapes, "
               "shows a weaker layout).")
    run = f"vit|{name}|{weights}|{current_device()}"
    st.caption("Click a small map to see it enlarged below.")
    event = st.plotly_chart(
        cached_figure(PAGE, run, ("grid",), lambda: figs.position_similarity_grid(
            grid, f"Position embedding similarity ({rows}×{cols} small maps)")),
        key="pe_vit_grid", on_select="rerun", selection_mode="points",
    )
    cell = clicks.custom_ints(event, 2)  # (row, column) of the small map clicked
    if cell is not None and not (0 <= cell[0] < rows and 0 <= cell[1] < cols):
        cell = None
    r, c = cell if cell is not None else ((rows - 1) // 2, (cols - 1) // 2)
    if cell is None:
        st.caption(f"Showing the centre patch, row {r}, column {c}; click a small map above to choose another.")
    st.plotly_chart(cached_figure(PAGE, run, ("patch", r, c), lambda: figs.patch_similarity_map(
        grid, r, c, f"Patch at row {r}, column {c} (indices from 0): cosine similarity with every position")),
        key="pe_vit_patch")


@st.fragment
def swin_section() -> None:
    st.markdown(
        "Swin gives position the other way: no absolute embedding is added (in its default configuration); "
        "inside each M × M window every head adds a learned bias to its attention logits, chosen by the "
        "relative position of query and key: Attention(Q, K, V) = SoftMax(QKᵀ/√d + B)V (Liu et al. 2021, "
        "§3.2). Offsets along each axis lie in [−M + 1, M − 1], so B is read from a table B̂ of (2M − 1) × "
        "(2M − 1) values per head, drawn below: the centre is a token attending to itself."
    )
    model, name, weights = model_ui("swin", "pe_swin")
    if model is None:
        return
    try:
        tables = swin_tables(name, weights, current_device())
    except ValueError as e:
        st.error(f"{name}: {e}. Swin V2 replaces the table by a small network over log-spaced offsets; "
                 "the Swin page draws its bias.")
        return
    c1, c2 = st.columns(2)
    with c1:
        index = st.selectbox(
            "Block", range(len(tables)), key="pe_swin_block",
            format_func=lambda i: f"stage {tables[i].stage + 1} · block {tables[i].block + 1}"
            + (" (shifted windows)" if tables[i].shift else ""),
        )
    table = tables[index]
    with c2:
        head = st.selectbox("Head", range(table.table.shape[0]), key="pe_swin_head",
                            format_func=lambda h: f"head {h + 1}")
    m = table.window[0]
    st.plotly_chart(figs.bias_table_heatmap(
        table.table[head], f"Relative position bias B̂, stage {table.stage + 1} · block {table.block + 1}, head "
        f"{head + 1} ({2 * m - 1}×{2 * m - 1}, window {m}×{m})"), key="pe_swin_table")
    st.page_link("pages/swin.py", label="See the windows, the shift and every head's attention on the Swin page",
                 icon=":material/grid_view:")


st.title("Positional encodings")
st.caption("Attention itself is blind to order: permute the tokens and each token's output is permuted the same way. "
           "Position has to be given. Three ways models do it, with their real numbers.")
tab_sin, tab_vit, tab_swin = st.tabs(["Sinusoidal (encoder–decoder)", "Learned (ViT)", "Relative bias (Swin)"])
with tab_sin:
    sinusoidal_section()
with tab_vit:
    vit_section()
with tab_swin:
    swin_section()
