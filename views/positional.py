"""Positional encodings: the sinusoids of the encoder–decoder, a ViT's learned table, Swin's relative bias.

Thin: widgets, cached calls, layout. Models come from the app's one bounded model cache (ui.vision.cached_model);
each tab is an st.fragment, so a change in one reruns that tab only, and figures are cached per view
(ui.common.cached_figure). Positions, patch rows and columns are indices from 0; stages, blocks and heads count
from 1.

The view is in the URL (ui.link): the section, pe_len, d_model, the chosen dimensions and start positions, each
section's model and the small map clicked on the ViT grid (`pe_vit_patch=row,column`, indices from 0). Choices the
page shows in the reader's language are kept by internal name, never by label (`pe_tab=vit`, `pe_vit_which=timm`,
`pe_swin_block=1.2` for stage 1 · block 2), so that a link opens the same view in either language. A link's value
that does not fit is reported once, when the link is opened, and the default is shown.
"""
from __future__ import annotations

import streamlit as st

from models.analysis import positional
from models.capture import vision
from ui import clicks, i18n, link, present
from ui.common import cached_figure, current_device
from ui.i18n import N_, _
from ui.messages import word
from ui.vision import cached_model, weights_badge
from viz import positional as figs

PAGE = "positional"

DEMO = {"vit": ("vit_demo", "vit_tiny_patch16_224"), "swin": ("swin_demo", "swin_tiny_patch4_window7_224")}
LINK_CHECKED = "_pe_link_checked"  # session state: the link this session opened has been checked
D_MODELS = [16, 32, 64, 128, 256, 512, 768, 1024]
WHICH = {"demo": N_("demo"), "timm": N_("timm model")}
WEIGHTS = {"pretrained": N_("pretrained"), "random": N_("random")}
SECTIONS = {  # the lesson's order: sinusoids and their distance-only similarity, then ViT's table, then Swin's bias
    "sin": N_("Sinusoidal (encoder–decoder)"),
    "vit": N_("Learned (ViT)"),
    "swin": N_("Relative bias (Swin)"),
}
TAB_KEY = "pe_tab"  # the open section, by internal name in the URL
VIT_CELL = "pe_vit_cell"  # session state: the small map chosen on the ViT grid, (row, column)


shown_name = i18n.labels


def checked(param: str, parse):
    """ui.link.check on the run that opens a link; later runs have nothing to check."""
    return link.check_once(param, parse, LINK_CHECKED)


def check(param: str, options):
    """checked() for a bound widget whose URL value is one of its options as they are (numbers)."""
    return checked(param, link.one_of(options))


linked = link.linked


def block_id(table) -> str:
    """A Swin block as the link names it: `stage.block`, both counted from 1 (`pe_swin_block=1.2`)."""
    return f"{table.stage + 1}.{table.block + 1}"


def open_section(labels: dict[str, str]) -> str:
    """Before the tabs: the internal name of the section to open. A link's `pe_tab` (`sin`, `vit`, `swin`) opens
    its section, a name the page does not have gives a notice and the first section; otherwise the section open
    in this session stays open, also when its label is of the other language (the reader switched language).
    Session state holds the open tab's label (st.tabs with a key and on_change="rerun"); the tabs' identity
    includes their labels and `default`, so the tabs open `default`, the section's label in this language."""
    name = link.check(TAB_KEY, link.one_of(labels)) if link.incoming(TAB_KEY) is not None else None
    if name is None:
        shown = st.session_state.get(TAB_KEY)
        names = {i18n.translations(lang).gettext(label): n for lang in i18n.LANGS for n, label in SECTIONS.items()}
        name = names.get(shown, "sin") if shown is not None else st.query_params.get(TAB_KEY, "sin")
        name = name if name in labels else "sin"
    return name


def cell(raw: str) -> tuple[int, int]:
    """`row,column` (indices from 0) from a link; checked against the grid where it is used."""
    parts = raw.split(",")
    if len(parts) != 2:
        raise link.Invalid(raw)
    r, c = (int(x) for x in parts)
    if r < 0 or c < 0:
        raise link.Invalid(raw)
    return r, c


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
        note = _("{reason} Showing an untrained {model} instead.").format(reason=word(e), model=fallback)
        return cached_model(fallback, "random", device), fallback, "random", note


@st.cache_data(show_spinner=False, max_entries=16)
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
    c1, c2, c3 = st.columns([2, 3, 2]) if not present.on() else (st.container(),) * 3
    with c1:
        which_key, weights_key = f"{key}_which", f"{key}_weights"
        linked(which_key, WHICH)
        which = st.radio(_("Model"), list(WHICH), horizontal=True, key=which_key, format_func=shown_name(WHICH),
                         help=_("The bundled {demo} (trained here on synthetic shapes), or any timm model by "
                                "name.").format(demo=demo))
        link.publish(**{which_key: which})
    name, weights = demo, "demo"
    if which == "timm":
        with c2:
            name = st.text_input(_("timm name"), example, key=f"{key}_name", bind="query-params").strip()
        with c3:
            linked(weights_key, WEIGHTS)
            weights = st.radio(_("Weights"), list(WEIGHTS), horizontal=True, key=weights_key,
                               format_func=shown_name(WEIGHTS),
                               help=_("Pretrained weights come from the Hugging Face Hub (or its local cache)."))
            link.publish(**{weights_key: weights})
    else:
        link.forget(weights_key)
    if not name:
        st.warning(_("Type a timm model name, for example {example}.").format(example=example))
        return None, name, weights
    try:
        model, name, weights, note = load_vision(name, weights, current_device())
    except vision.VisionError as e:  # a coded message, worded for the reader; never a traceback
        st.error(word(e))
        return None, name, weights
    if note:
        st.warning(note)
    weights_badge(model)
    return model, name, weights


@st.fragment
def sinusoidal_section() -> None:
    present.explain(_(
        "The Transformer has no recurrence and no convolution, so it is told each token's position by adding a "
        "vector to the token's embedding (Vaswani et al. 2017, §3.5). Each dimension is a sinusoid of the "
        "position; the wavelengths form a geometric progression from 2π to 10000·2π."
    ))
    st.latex(r"PE_{(pos,\,2i)} = \sin\!\left(\frac{pos}{10000^{2i/d_{model}}}\right),\qquad "
             r"PE_{(pos,\,2i+1)} = \cos\!\left(\frac{pos}{10000^{2i/d_{model}}}\right)")
    controls, main = present.layout()
    with controls:
        c1, c2 = st.columns(2) if not present.on() else (st.container(),) * 2
        with c1:
            check("pe_d", D_MODELS)
            d_model = st.select_slider("d_model", D_MODELS, value=128, key="pe_d", bind="query-params",
                                       help=_("128 is the width of the encoder–decoder demo models; 512 the paper's "
                                              "base model."))
        with c2:
            checked("pe_len", link.whole(8, 512))
            length = st.slider(_("Positions"), 8, 512, 100, step=4, key="pe_len", bind="query-params")
        default_dims = sorted({0, 1, d_model // 8, d_model // 4, d_model // 2})
        dims = st.multiselect(_("Dimensions to draw as curves"), list(range(d_model)), default=default_dims,
                              key="pe_dims", bind="query-params",
                              help=_("Even dimensions are sines, odd ones cosines of the same frequency."))
        positions = st.multiselect(_("Start positions p for the similarity by offset"), list(range(length)),
                                   default=[0, length // 4, length // 2], key="pe_positions", bind="query-params")
    max_offset = max(1, length // 2)
    positions = [p for p in positions if p < length]  # a shorter table drops start positions beyond it
    pe, wl, sim, offsets, curves = sinusoids(length, d_model, tuple(positions), max_offset)
    run = f"sin|{length}|{d_model}"

    def fig(name, build, *view):
        return cached_figure(PAGE, run, (name, *view), build)

    with main:
        present.caption(_(
            "Computed by `models.network.transformer.sinusoidal_encoding`: the very function that fills the "
            "encoder–decoder models' positional-encoding buffer, which they add to the token embeddings × √d_model."
        ))
        title = _("PE for {length} positions (from 0) × {d_model} dimensions").format(length=length, d_model=d_model)
        st.plotly_chart(fig("heat", lambda: figs.encoding_heatmap(pe, title)), key="pe_heat")
    c1, c2 = st.columns([3, 2])
    with c1:
        if dims:
            st.plotly_chart(fig("curves", lambda: figs.encoding_curves(pe, dims, wl), tuple(dims)), key="pe_curves")
        else:
            st.info(_("Pick some dimensions to draw them as curves."))
    with c2:
        st.plotly_chart(cached_figure(PAGE, f"wl|{d_model}", ("wl",), lambda: figs.wavelength_plot(wl)),
                        key="pe_wavelengths")
        present.caption(_(
            "Dimension 0 and 1 repeat every 2π ≈ 6.28 positions; the last pair every {longest} positions, far longer "
            "than any sentence: together they give each position a unique code, fast dimensions telling neighbours "
            "apart, slow ones giving the coarse place."
        ).format(longest=f"{wl[-1]:,.0f}"))
    st.subheader(_("Similarity between positions"))
    present.explain(_(
        "Since sin a·sin b + cos a·cos b = cos(a − b), the dot product of two encodings is "
        "PE(p)·PE(q) = Σᵢ cos((p − q)·ωᵢ), with ωᵢ = 1/10000^(2i/d_model): it depends only on the distance p − q, "
        "not on where the pair sits. Every diagonal of the matrix below is constant, and the curves on the right, "
        "one per start position, lie on top of each other. The authors chose sinusoids because PE(pos + k) is a "
        "linear function (a rotation of each sin/cos pair) of PE(pos), which they hypothesised would let the model "
        "attend by relative position."
    ))
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(fig("sim", lambda: figs.similarity_heatmap(sim, _("PE · PEᵀ (positions from 0)"))),
                        key="pe_sim")
    with c2:
        if positions:
            st.plotly_chart(fig("offsets", lambda: figs.offset_curves(offsets, curves), tuple(positions)),
                            key="pe_offsets")
        else:
            st.info(_("Pick some start positions."))


@st.fragment
def vit_section() -> None:
    present.explain(_(
        "ViT cuts the image into patches and *learns* one position vector per patch (and one for the CLS token), "
        "added to the patch embeddings: z₀ = [x_class; x¹E; …; xᴺE] + E_pos (Dosovitskiy et al. 2021, eq. 1). "
        "The table is 1-D: nothing tells the model that the patches form a grid. Below, each small map is one "
        "patch position, showing the cosine similarity of its embedding with every other position's, laid out "
        "like the patch grid (the paper's Fig. 7, centre). Trained models learn the image's 2-D layout: nearby "
        "patches have similar embeddings, and patches in the same row or column resemble each other."
    ))
    controls, main = present.layout()
    with controls:
        model, name, weights = model_ui("vit", "pe_vit")
    if model is None:
        return
    try:
        with st.spinner(_("Comparing position embeddings…")):
            emb, grid = vit_grid(name, weights, current_device())
    except ValueError as e:
        st.error(_("{model}: {reason} This view needs a ViT with learned absolute position embeddings.").format(
            model=name, reason=word(e)))
        return
    rows, cols = emb.grid
    if len(emb.prefix):
        prefix = _("The prefix token(s) {tokens} have their own entries in the table (not drawn).").format(
            tokens=", ".join(emb.prefix_labels))
    else:
        prefix = _("This model's prefix tokens get no position embedding (`no_embed_class`).")
    with controls:
        present.caption(_(
            "{rows} × {cols} patch positions (rows and columns are indices from 0), {dim}-dimensional embeddings. "
            "{prefix} Random weights give noise; the structure comes from training and grows with it (the paper's "
            "figure is a ViT-L/32 pretrained on a large dataset; the small demo, trained briefly on 64-px shapes, "
            "shows a weaker layout)."
        ).format(rows=rows, cols=cols, dim=emb.patch.shape[1], prefix=prefix))
        st.caption(_("Click a small map to see it enlarged below."))
    run = f"vit|{name}|{weights}|{current_device()}"
    from_link = link.bind("pe_vit_patch", VIT_CELL, cell)  # a link's small map, before the click is read
    with main:
        title = _("Position embedding similarity ({rows}×{cols} small maps)").format(rows=rows, cols=cols)
        event = st.plotly_chart(
            cached_figure(PAGE, run, ("grid",), lambda: figs.position_similarity_grid(grid, title)),
            key="pe_vit_grid", on_select="rerun", selection_mode="points",
        )
    clicked = clicks.custom_ints(event, 2)  # (row, column) of the small map clicked
    if clicked is not None and clicked != st.session_state.get("_pe_vit_last_click"):
        st.session_state["_pe_vit_last_click"] = clicked
        st.session_state[VIT_CELL] = tuple(clicked)
    chosen = st.session_state.get(VIT_CELL)
    if chosen is not None and not (0 <= chosen[0] < rows and 0 <= chosen[1] < cols):
        if from_link:  # another model's small map, chosen in this session, is dropped without a word
            st.warning(_("The small map at row {row}, column {col} is outside this model's {rows} × {cols} grid, so "
                         "the centre patch is shown instead.").format(row=chosen[0], col=chosen[1], rows=rows,
                                                                      cols=cols))
        st.session_state[VIT_CELL] = chosen = None
    r, c = chosen if chosen is not None else ((rows - 1) // 2, (cols - 1) // 2)
    link.publish(pe_vit_patch=f"{r},{c}" if chosen is not None else None)
    with main:
        if chosen is None:
            present.caption(_("Showing the centre patch, row {row}, column {col}; click a small map above to choose "
                              "another.").format(row=r, col=c))
        title = _("Patch at row {row}, column {col} (indices from 0): cosine similarity with every position").format(
            row=r, col=c)
        st.plotly_chart(cached_figure(PAGE, run, ("patch", r, c), lambda: figs.patch_similarity_map(grid, r, c, title)),
                        key="pe_vit_patch")


def block_label(tables):
    def label(i: int) -> str:
        t = tables[i]
        text = _("stage {stage} · block {block}").format(stage=t.stage + 1, block=t.block + 1)
        return text + (_(" (shifted windows)") if t.shift else "")

    return label


@st.fragment
def swin_section() -> None:
    present.explain(_(
        "Swin gives position the other way: no absolute embedding is added (in its default configuration); "
        "inside each M × M window every head adds a learned bias to its attention logits, chosen by the "
        "relative position of query and key: Attention(Q, K, V) = SoftMax(QKᵀ/√d + B)V (Liu et al. 2021, "
        "§3.2). Offsets along each axis lie in [−M + 1, M − 1], so B is read from a table B̂ of (2M − 1) × "
        "(2M − 1) values per head, drawn below: the centre is a token attending to itself."
    ))
    controls, main = present.layout()
    with controls:
        model, name, weights = model_ui("swin", "pe_swin")
    if model is None:
        return
    try:
        tables = swin_tables(name, weights, current_device())
    except ValueError as e:
        st.error(_("{model}: {reason} Swin V2 replaces the table by a small network over log-spaced offsets; "
                   "the Swin page draws its bias.").format(model=name, reason=word(e)))
        return
    with controls:
        c1, c2 = st.columns(2) if not present.on() else (st.container(),) * 2
        with c1:
            ids = [block_id(t) for t in tables]
            linked("pe_swin_block", ids, to_state=ids.index)
            if st.session_state.get("pe_swin_block") not in range(len(tables)):
                st.session_state["pe_swin_block"] = 0  # another model with fewer blocks
            index = st.selectbox(_("Block"), range(len(tables)), key="pe_swin_block", format_func=block_label(tables))
            link.publish(pe_swin_block=ids[index])
        table = tables[index]
        n_heads = table.table.shape[0]
        with c2:
            checked("pe_swin_head", link.whole(1, n_heads))
            if not 1 <= int(st.session_state.get("pe_swin_head", 1)) <= n_heads:
                st.session_state["pe_swin_head"] = 1  # another block with fewer heads
            head = st.selectbox(_("Head (counted from 1)"), range(1, n_heads + 1), key="pe_swin_head",
                                bind="query-params") - 1
    m = table.window[0]
    title = _("Relative position bias B̂, stage {stage} · block {block}, head {head} ({size}×{size}, window "
              "{m}×{m})").format(stage=table.stage + 1, block=table.block + 1, head=head + 1, size=2 * m - 1, m=m)
    with main:
        st.plotly_chart(present.styled(figs.bias_table_heatmap(table.table[head], title)), key="pe_swin_table")
        st.page_link("views/swin.py", label=_("See the windows, the shift and every head's attention on the Swin page"),
                     icon=":material/grid_view:")


st.title(_("Positional encodings"))
st.markdown(_(
    "Attention itself is blind to order: permute the tokens and each token's output is permuted the same way. "
    "Position has to be given. Three ways models do it, with their real numbers."
))
labels = {name: _(label) for name, label in SECTIONS.items()}
tab_sin, tab_vit, tab_swin = st.tabs(list(labels.values()), key=TAB_KEY, on_change="rerun",
                                     default=labels[open_section(labels)])
link.publish(**{TAB_KEY: next(name for name, tab in zip(labels, (tab_sin, tab_vit, tab_swin)) if tab.open)})
with tab_sin:
    sinusoidal_section()
with tab_vit:
    vit_section()
with tab_swin:
    swin_section()
st.session_state[LINK_CHECKED] = True
