"""Swin Transformer: windows, shifted windows, the cyclic shift and its masks, what each window's heads
attend to, relative position bias, stages and attention distance, on an uploaded or sample image.

Widgets, cached calls and layout only: the numbers come from models.capture.swin / models.capture.vision, the figures
from viz.swin. Chart clicks are read through ui.clicks only. The parts a user changes are st.fragment, so a
selection or a click reruns only its own section; every figure is cached per (run, view, language, presentation).

Sections in the order a lesson explains them (Liu et al., 2021): windows on the image, shifted windows and the
cyclic shift, the masks, attention inside a window, one patch's attention, relative position bias, stages and
patch merging, attention distance, downloads.

Numbering: stages, blocks and heads count from 1 (as the papers); windows, tokens and token rows/columns are
indices from 0.

The view is kept in the URL (ui.link): every control's key is its parameter, with the value as the page counts
it: swin_stage, swin_block, swin_bias_block, swin_patch_stage (counted from 1), swin_head ("mean" or a head
counted from 1), swin_bias_head (from 1), swin_window, swin_mask_window, swin_row, swin_col (indices from 0).
A value that does not fit the model shown gets a notice and the default.
"""
from __future__ import annotations

import streamlit as st

from models.capture import swin
from ui import clicks, common, i18n, link, present
from ui import corpus as ui_corpus
from ui import explain as ux
from ui import vision as uv
from ui.i18n import _
from ui.messages import word
from viz.swin import (
    attention_distance_figure,
    bias_matrix_figure,
    bias_table_figure,
    mask_figure,
    mask_mosaic_figure,
    shift_figure,
    stage_grids_figure,
    window_attention_figure,
    window_heatmap,
    window_partition_figure,
)
from viz.vit import top_k_bars

KEY = "swin"  # widget keys start with this, so they never clash with the ViT page's
HEAD_KEY = "swin_head"  # the head control the benchmark drives (a select_slider, heads counted from 1)
MEAN = "mean"  # the head control's "mean of heads" (as the link writes it)


# ------------------------------------------------------------------------------------------------ names
def stage_name(stage: int) -> str:
    """'stage 1' for the stage index `stage` (counted from 1 on screen)."""
    return _("stage {stage}").format(stage=stage + 1)


def block_name(block) -> str:
    """'stage 1 · block 2', in the reader's language (stages and blocks counted from 1, as the paper)."""
    return _("stage {stage} · block {number}").format(stage=block.stage + 1, number=swin.block_number(block))


def block_label(block) -> str:
    """'stage 1 · block 2 · shifted windows (s = 2)' for menus: the block's name and its kind of windows."""
    if block.shift:
        return _("stage {stage} · block {number} · shifted windows (s = {shift})").format(
            stage=block.stage + 1, number=swin.block_number(block), shift=block.shift)
    return _("stage {stage} · block {number} · regular windows").format(
        stage=block.stage + 1, number=swin.block_number(block))


def stage_label(s_) -> str:
    return _("stage {stage} ({rows}×{cols} tokens, M = {m})").format(
        stage=s_.stage + 1, rows=s_.grid[0], cols=s_.grid[1], m=s_.window_size)


def head_name(head) -> str:
    return _("mean of heads") if head == MEAN else _("head {head}").format(head=head)


# ------------------------------------------------------------------------------------------------ cached figures
# Each a function of (trace, *view), built once per (run, view) and shared read-only (ui.common.cached_figure).
def _stages_fig(t):
    return stage_grids_figure(t.image, t.swin.stages)


def _windows_fig(t, i):
    return window_partition_figure(t.image, swin.all_window_boxes(t.blocks[i]))


def _picker_fig(t, i, win):
    b = t.blocks[i]
    return window_partition_figure(t.image, swin.all_window_boxes(b), highlight=win, height=320,
                                   token_windows=swin.token_window_map(b), patch_px=b.patch_px)


def _regions_before_fig(t, i):
    b = t.blocks[i]
    return shift_figure(t.image, swin.image_region_labels(b), b.window_size, b.patch_px, offset=b.shift)


def _regions_after_fig(t, i):
    b = t.blocks[i]
    return shift_figure(swin.rolled_image(t.image, b), swin.rolled_region_labels(b), b.window_size, b.patch_px)


def _mask_fig(t, i, win):
    b, m = t.blocks[i], t.blocks[i].window_size
    return mask_figure(t.swin.attn_mask[i][win], swin.token_labels(b, win), swin.window_regions(b, win),
                       title=_("window {window}: mask added to its {n} × {n} logits").format(window=win, n=m * m))


def _mosaic_fig(t, i, win):
    return mask_mosaic_figure(t.swin.attn_mask[i], swin.window_count(t.blocks[i])[1], highlight=win,
                              title=_("all windows as on the rolled map (window {window} in red)").format(window=win))


def _head_fig(t, i, win, head):
    return window_heatmap(t.attention[i][win, head], swin.token_labels(t.blocks[i], win),
                          title=_("head {head}").format(head=head + 1))


def _query_fig(t, i, row, col, head, tag):
    info = t.blocks[i]
    w_idx, weights, positions = swin.query_attention(t.attention[i], info, row, col, head)
    title = (_("{name} (shifted), window {window}") if tag == "shifted"
             else _("{name} (regular), window {window}")).format(name=block_name(info), window=w_idx)
    return window_attention_figure(t.image, weights, positions, info.patch_px, info.grid,
                                   swin.window_boxes(info, w_idx), (row, col), title=title)


def _diverging(t) -> bool:
    return t.swin.version == 1 or t.swin.implementation == "SwinTransformerV2Cr"


def _bias_table_fig(t, bb, bh):
    title = _("B̂: {name}, head {head}").format(name=block_name(t.blocks[bb]), head=bh + 1)
    return bias_table_figure(t.swin.bias_table[bb][bh], title=title, diverging=_diverging(t))


def _bias_matrix_fig(t, bb, bh):
    mb = t.blocks[bb].window_size
    m_labels = [f"({i // mb},{i % mb})" for i in range(mb * mb)]
    return bias_matrix_figure(t.swin.bias[bb][bh], m_labels, title=_("expanded B (window positions)"),
                              diverging=_diverging(t))


def _distance_fig(t):
    return attention_distance_figure(swin.mean_distances(t.attention, t.blocks), [block_name(b) for b in t.blocks],
                                     [b.stage for b in t.blocks], [b.shift for b in t.blocks])


_FIXED = {f.__name__: f for f in (_stages_fig, _windows_fig, _picker_fig, _regions_before_fig, _regions_after_fig,
                                  _mask_fig, _mosaic_fig, _head_fig, _query_fig, _bias_table_fig, _bias_matrix_fig,
                                  _distance_fig)}


def fixed(trace, run_key: str, name: str, *view):
    """_FIXED[name](trace, *view), built once per (run, view) and shared read-only (ui.common.cached_figure)."""
    return common.cached_figure("swin", run_key, (name, *view), lambda: _FIXED[name](trace, *view))


# ------------------------------------------------------------------------------------------------ state and link
def _pick(key: str, options: list, default=None):
    """The value held under `key`, kept valid for the current options (new image, model, block) and written
    back before its widget is drawn, so every selector shows the current model's option, never a stale one."""
    value = st.session_state.get(key, default)
    if value not in options:
        value = default if default in options else options[0]
    st.session_state[key] = value
    return value


def _linked(key: str, options: list, default=None, parse=None, to_state=None):
    """`_pick` for a control whose value the URL keeps under its key: a link's new value is taken first
    (ui.link.bind: `parse` reads it as the page counts, and rejects a value this model has not, with a notice; the
    default stays), then kept valid. After the widget, `_publish` writes the value shown back to the URL."""
    link.bind(key, key, parse or link.one_of(options), to_state)
    return _pick(key, options, default)


def _publish(key: str, value, to_link=str) -> None:
    link.publish(**{key: to_link(value)})


def _from_one(i: int) -> str:
    """A block or stage index as the link writes it: counted from 1."""
    return str(i + 1)


def _on_window_click(chart_key: str, state_key: str, n_windows: int) -> None:
    """A click on a window chart (window picker, mask mosaic) selects that window; read through ui.clicks."""
    got = clicks.custom_ints(st.session_state.get(chart_key), 1)
    if got is not None and 0 <= got[0] < n_windows:
        st.session_state[state_key] = got[0]


def _on_patch_click(chart_key: str, grid: tuple[int, int]) -> None:
    """A click on a patch of the query figures moves the query to it (row, col: indices from 0)."""
    got = clicks.custom_ints(st.session_state.get(chart_key), 2)
    if got is not None and 0 <= got[0] < grid[0] and 0 <= got[1] < grid[1]:
        st.session_state[f"{KEY}_row"], st.session_state[f"{KEY}_col"] = got


def _chart(fig, key: str, **more) -> None:
    st.plotly_chart(fig, key=key, width="stretch", **more)


# ------------------------------------------------------------------------------------------------ lead, inputs
st.title(_("Swin Transformer: windows and shifted windows"))
st.markdown(_(
    "Swin (Liu et al., 2021) computes self-attention only **inside non-overlapping M × M windows** of the token "
    "grid, so its cost grows linearly with the image. Every second block **shifts the windows by ⌊M/2⌋ tokens**, "
    "so that information crosses the windows' borders; every stage after the first begins with **patch merging**."
))
present.explain(_(
    "The sections follow a lesson: the windows on the image, the shifted windows and the cyclic shift that "
    "computes them, the masks the shift needs, the attention inside one window, the relative position bias, and "
    "the stages that patch merging builds. Everything below is computed by the model on your image."
))

c_model, c_image = st.columns(2)
with c_model:
    name, weights = uv.model_ui(list(swin.MODEL_NAMES), KEY)
with c_image:
    image = uv.image_ui(KEY)

trace, weights, device = uv.traced_input(name, weights, image, "swin", "swin_tiny_patch4_window7_224")
if trace.kind != "swin" or trace.swin is None:
    st.warning(_("{model} is not a Swin Transformer: open the Vision Transformer page for it.").format(
        model=trace.model_name))
    st.stop()

uv.weights_badge(trace)
RUN_KEY = uv.run_key(image, name, weights, device)
if weights == "demo":
    st.info(_(
        "The demo Swin was trained only on synthetic shapes ({classes}): on a photo its prediction means nothing, "
        "but its windows, masks and attention are real. Choose a generated shape as the image to see it on what "
        "it knows."
    ).format(classes=_(", ").join(uv.class_label(c) for c in uv.cached_model(name, weights, device).class_names)))
for note in trace.extras.get("image_notes", []):
    st.caption(_("Image: {note}.").format(note=word(note)))
details = trace.swin
blocks = trace.blocks
version = details.version
CR = details.implementation == "SwinTransformerV2Cr"
if version == 2:
    st.info(_(
        "This is a **Swin V2** model (Liu et al., 2022), in timm's separate implementation SwinTransformerV2Cr. "
        "Its windows, shifts and masks are those of Swin V1; three things differ. Its attention logits are "
        "**scaled cosine** similarities, Sim(q, k) = cos(q, k)/τ + B, with a learned τ per head and layer (instead "
        "of QKᵀ/√d). Its relative position bias B is not a learned table: a small MLP maps log-spaced relative "
        "coordinates to it (timm uses the MLP's output as is); that is what the bias figures show. And its blocks "
        "are **residual post-norm**, x + LN(attention(x)), where Swin V1 is pre-norm, x + attention(LN(x))."
    ) if CR else _(
        "This is a **Swin V2** model (Liu et al., 2022). Its windows, shifts and masks are those of Swin V1; three "
        "things differ. Its attention logits are **scaled cosine** similarities, Sim(q, k) = cos(q, k)/τ + B, with "
        "a learned τ per head and layer (instead of QKᵀ/√d). Its relative position bias B is not a learned table: "
        "a small MLP maps log-spaced relative coordinates to it (timm squashes the output to 16·sigmoid(·)); that "
        "is what the bias figures show. And its blocks are **residual post-norm**, x + LN(attention(x)), where "
        "Swin V1 is pre-norm, x + attention(LN(x))."
    ))

crop = trace.image
with st.expander(_("The input crop and the model's prediction"), expanded=not present.on()):
    left, right = st.columns([2, 1])
    with left:
        st.image(crop, width=min(320, max(160, crop.shape[1])))
        st.caption(_(
            "{model} sees this {width}×{height} px crop (after timm's resize and centre crop), cut into "
            "{patch}×{patch} px patches."
        ).format(model=trace.model_name, width=crop.shape[1], height=crop.shape[0], patch=trace.patch_size))
    with right:
        st.markdown(_("**Top-5 predictions**"))
        if trace.top_k:
            _chart(present.styled(top_k_bars([(uv.class_label(c), p) for c, p in trace.top_k])), f"{KEY}_top5")
        else:
            st.caption(_("This model has no classifier head."))


# ------------------------------------------------------------------------------------------------ windows, shift
def windows_and_shift(trace, run_key: str) -> None:
    """Sections 1 to 3: a change of stage reruns the page (rare); the masks' window is a fragment of its own."""
    blocks, stages = trace.blocks, trace.swin.stages
    st.header(_("1 · Regular windows on the image"))
    stage_ids = [s_.stage for s_ in stages]
    by_stage = {s_.stage: s_ for s_ in stages}
    ctl, fig = present.layout()
    with ctl:
        _linked(f"{KEY}_stage", stage_ids, parse=link.whole(1, len(stage_ids)), to_state=lambda v: stage_ids[v - 1])
        stage = st.selectbox(_("Stage"), stage_ids, key=f"{KEY}_stage", format_func=lambda i: stage_label(by_stage[i]))
        _publish(f"{KEY}_stage", stage, _from_one)
    reg_i, shf_i = swin.stage_pair(blocks, stage)
    reg, shf = blocks[reg_i], (blocks[shf_i] if shf_i is not None else None)
    m = reg.window_size
    with ctl:
        present.explain(_(
            "{name} attends inside a regular partition of **{m} × {m}-token windows** ({px} px squares here): "
            "each token attends only to the {n} tokens of its own window, never across a border. Windows are "
            "numbered from 0, row by row."
        ).format(name=block_name(reg), m=m, px=f"{m * reg.patch_px:g}", n=m * m))
    with fig:
        st.markdown(_("**{name}: regular windows**").format(name=block_name(reg)))
        _chart(fixed(trace, run_key, "_windows_fig", reg_i), f"{KEY}_regular_windows")

    st.header(_("2 · Shifted windows and the cyclic shift"))
    if shf is None:
        st.caption(_("This stage has no shifted block: its grid is a single window (timm then leaves the shift out). "
                     "Pick another stage to see the shifted windows."))
        return
    s = shf.shift
    ctl, fig = present.layout()
    with ctl:
        present.explain(_(
            "The next block, {name}, moves the partition by **⌊M/2⌋ = {shift} tokens** down and right: its windows "
            "straddle the old borders, so information crosses them. Windows at the edge now wrap round the image "
            "(drawn as pieces of one colour with one number): that is what the cyclic shift below does."
        ).format(name=block_name(shf), shift=s))
    with fig:
        st.markdown(_("**{name}: windows shifted by {shift}**").format(name=block_name(shf), shift=s))
        _chart(fixed(trace, run_key, "_windows_fig", shf_i), f"{KEY}_shifted_windows")
    present.explain(_(
        "Shifting the partition itself would give more windows, some smaller than M × M, at the edges. Instead "
        "Swin **rolls the feature map** by s = ⌊M/2⌋ = {shift} tokens up and left (`torch.roll(x, (−{shift}, "
        "−{shift}))`) and partitions the rolled map into regular windows again: the same number of windows, the "
        "same M² tokens each. The windows along the bottom and right edges of the rolled map now hold tokens that "
        "were **not neighbours** in the image (Fig. 4 of the paper). After the attention, the result is rolled "
        "back."
    ).format(shift=s))
    c1, c2 = st.columns(2)
    with c1:
        st.markdown(_("**① The shifted windows on the image**, with the regions the roll will bring together"))
        _chart(fixed(trace, run_key, "_regions_before_fig", shf_i), f"{KEY}_regions_before")
    with c2:
        st.markdown(_("**② Rolled by {shift} tokens ({px} px) up and left**, then cut into regular M × M windows")
                    .format(shift=s, px=f"{s * shf.patch_px:g}"))
        _chart(fixed(trace, run_key, "_regions_after_fig", shf_i), f"{KEY}_regions_after")
    shift_masks(trace, run_key, shf_i)


@st.fragment
def shift_masks(trace, run_key: str, shf_i: int) -> None:
    """Section 3: one window's mask and the mosaic of all of them (a click there selects a window)."""
    st.header(_("3 · Masks for the cyclic shift"))
    shf = trace.blocks[shf_i]
    n_windows = trace.attention[shf_i].shape[0]
    window_ids = list(range(n_windows))
    used = trace.swin.attn_mask[shf_i]
    present.explain(_(
        "Labelling the rolled map in up to 9 regions, 0–8, as the authors' code does, tells apart the tokens that "
        "were not neighbours: inside a window, a query may only attend to keys of its own region. Swin adds "
        "**−100** to the other logits before the softmax (e⁻¹⁰⁰ ≈ 0). Each window's mask in {name}: rows are "
        "queries, columns keys, dark is −100; tokens are named by their (row, col) on the token grid, indices "
        "from 0, and their region r0–r8."
    ).format(name=block_name(shf)))
    ctl, fig = present.layout()
    with ctl:
        _linked(f"{KEY}_mask_window", window_ids, default=n_windows - 1, parse=link.whole(0, n_windows - 1))
        win = st.selectbox(_("Window of the shifted block (index from 0; or click one in the mosaic)"), window_ids,
                           key=f"{KEY}_mask_window")
        _publish(f"{KEY}_mask_window", win)
        same = swin.mask_matches(shf, used)
        st.caption(_(
            "✔ The masks shown are the ones timm's block used in this forward pass; they are identical to the masks "
            "built from the region labels. Only windows along the bottom and right edges mix regions; the others "
            "need no mask."
        ) if same else _(
            "✘ The masks shown are the ones timm's block used in this forward pass; they DIFFER from the masks "
            "built from the region labels. Only windows along the bottom and right edges mix regions; the others "
            "need no mask."
        ))
    if used is None:
        return
    with fig:
        c1, c2 = st.columns(2)
        with c1:
            _chart(fixed(trace, run_key, "_mosaic_fig", shf_i, win), f"{KEY}_mask_pick",
                   on_select=lambda: _on_window_click(f"{KEY}_mask_pick", f"{KEY}_mask_window", n_windows),
                   selection_mode="points")
        with c2:
            _chart(fixed(trace, run_key, "_mask_fig", shf_i, win), f"{KEY}_mask")


windows_and_shift(trace, RUN_KEY)


# ------------------------------------------------------------------------------------------------ per window
def _window_text(version: int, shifted: bool) -> str:
    if version == 1:
        return _(
            "Each head of {name} computes softmax(QKᵀ/√d + B + mask) over the {n} tokens of the window, d = its "
            "own head dimension. Rows are queries, columns keys, both labelled by their (row, col) on the token "
            "grid (indices from 0); every row sums to 1. In a shifted block, masked pairs get ≈ 0."
        ) if shifted else _(
            "Each head of {name} computes softmax(QKᵀ/√d + B) over the {n} tokens of the window, d = its own head "
            "dimension. Rows are queries, columns keys, both labelled by their (row, col) on the token grid (indices "
            "from 0); every row sums to 1."
        )
    return _(
        "Each head of {name} computes softmax(cos(q, k)/τ + B + mask) over the {n} tokens of the window, τ = the "
        "head's learned temperature. Rows are queries, columns keys, both labelled by their (row, col) on the "
        "token grid (indices from 0); every row sums to 1. In a shifted block, masked pairs get ≈ 0."
    ) if shifted else _(
        "Each head of {name} computes softmax(cos(q, k)/τ + B) over the {n} tokens of the window, τ = the head's "
        "learned temperature. Rows are queries, columns keys, both labelled by their (row, col) on the token grid "
        "(indices from 0); every row sums to 1."
    )


@st.fragment
def window_and_heads(trace, run_key: str) -> None:
    blocks, version = trace.blocks, trace.swin.version
    st.header(_("4 · Inside one window: every head's M² × M² attention"))
    block_ids = list(range(len(blocks)))
    ctl, fig = present.layout()
    with ctl:
        _linked(f"{KEY}_block", block_ids, default=0, parse=link.whole(1, len(blocks)), to_state=lambda v: v - 1)
        b = st.selectbox(_("Block"), block_ids, format_func=lambda i: block_label(blocks[i]), key=f"{KEY}_block")
        _publish(f"{KEY}_block", b, _from_one)
        blk = blocks[b]
        att = trace.attention[b]
        window_ids = list(range(att.shape[0]))
        _linked(f"{KEY}_window", window_ids, default=0, parse=link.whole(0, len(window_ids) - 1))
        win = st.selectbox(_("Window (index from 0; or click one on the image)"), window_ids, key=f"{KEY}_window")
        _publish(f"{KEY}_window", win)
        _chart(fixed(trace, run_key, "_picker_fig", b, win), f"{KEY}_window_pick",
               on_select=lambda: _on_window_click(f"{KEY}_window_pick", f"{KEY}_window", len(window_ids)),
               selection_mode="points")
        st.caption(_("Selected: **window {window}** of {name} (red).").format(window=win, name=block_name(blk)))
    with fig:
        present.explain(_window_text(version, bool(blk.shift)).format(name=block_name(blk), n=blk.window_size ** 2))
        head_cols = st.columns(min(2, blk.num_heads))
        for head in range(blk.num_heads):
            with head_cols[head % len(head_cols)]:
                _chart(fixed(trace, run_key, "_head_fig", b, win, head), f"{KEY}_head_{head}")


window_and_heads(trace, RUN_KEY)


# ------------------------------------------------------------------------------------------------ one patch
@st.fragment
def one_patch(trace, run_key: str) -> None:
    blocks, stages = trace.blocks, trace.swin.stages
    st.header(_("5 · One patch's attention inside its window, regular vs shifted"))
    stage_ids = [s_.stage for s_ in stages]
    by_stage = {s_.stage: s_ for s_ in stages}
    ctl, fig = present.layout()
    with ctl:
        _linked(f"{KEY}_patch_stage", stage_ids, parse=link.whole(1, len(stage_ids)),
                to_state=lambda v: stage_ids[v - 1])
        stage = st.selectbox(_("Stage"), stage_ids, key=f"{KEY}_patch_stage",
                             format_func=lambda i: stage_label(by_stage[i]))
        _publish(f"{KEY}_patch_stage", stage, _from_one)
        reg_i, shf_i = swin.stage_pair(blocks, stage)
        blk = blocks[reg_i]
        gh, gw = blk.grid
        row_key, col_key = f"{KEY}_row", f"{KEY}_col"
        _linked(row_key, list(range(gh)), default=gh // 2, parse=link.whole(0, gh - 1))
        _linked(col_key, list(range(gw)), default=gw // 2, parse=link.whole(0, gw - 1))
        row = st.slider(_("Patch row (index from 0)"), 0, gh - 1, key=row_key)
        col = st.slider(_("Patch column (index from 0)"), 0, gw - 1, key=col_key)
        _publish(row_key, row)
        _publish(col_key, col)
        heads = [MEAN] + list(range(1, blk.num_heads + 1))
        _linked(HEAD_KEY, heads, default=MEAN)
        head = st.select_slider(_("Head"), heads, key=HEAD_KEY, format_func=head_name)
        _publish(HEAD_KEY, head)
    head_arg = None if head == MEAN else int(head) - 1
    with fig:
        st.caption(_(
            "Query: the patch at row {row}, column {col} (indices from 0) of stage {stage}, whose tokens are {px} px "
            "squares; {which}. The ringed patch is the query; colour is its attention weight on each key of its "
            "window (outlined). Click a patch on either image to move the query."
        ).format(row=row, col=col, stage=blk.stage + 1, px=f"{blk.patch_px:g}", which=head_name(head)))
        cols = st.columns(2)
        for col_ui, bi, tag in ((cols[0], reg_i, "regular"), (cols[1], shf_i, "shifted")):
            if bi is None:
                continue
            with col_ui:
                chart = f"{KEY}_patch_{tag}"
                _chart(fixed(trace, run_key, "_query_fig", bi, row, col, head_arg, tag), chart,
                       on_select=lambda chart=chart, grid=blocks[bi].grid: _on_patch_click(chart, grid),
                       selection_mode="points")


one_patch(trace, RUN_KEY)


# ------------------------------------------------------------------------------------------------ bias
def _bias_text(details, bb: int, bh: int, m: int) -> str:
    k = 2 * m - 1
    if details.version == 1:
        return _(
            "Each head learns a table B̂ of (2M − 1) × (2M − 1) = {k} × {k} numbers, one per relative offset (Δrow, "
            "Δcol) between a query and a key in a window. It expands into the M² × M² bias B[i, j] = B̂[Δrow + M − 1, "
            "Δcol + M − 1] that is added to QKᵀ/√d before the softmax, the same in every window."
        ).format(k=k)
    inv_tau = float(details.logit_scale[bb][bh])
    fields = dict(k=k, inv_tau=f"{inv_tau:.2f}", tau=f"{1 / inv_tau:.4f}")
    if details.implementation == "SwinTransformerV2Cr":
        return _(
            "Swin V2 computes the (2M − 1) × (2M − 1) = {k} × {k} table with a small MLP of the log-spaced offsets "
            "(timm uses the MLP's output as is), so it can be evaluated for window sizes it was not trained on. It "
            "expands into the M² × M² bias B added to the scaled cosine logits cos(q, k)/τ. For this head 1/τ = "
            "**{inv_tau}** (timm's logit scale, exp(min(logit_scale, ln 100)), so 1/τ ≤ 100 and τ ≥ 0.01; here "
            "τ = {tau})."
        ).format(**fields)
    return _(
        "Swin V2 computes the (2M − 1) × (2M − 1) = {k} × {k} table with a small MLP of the log-spaced offsets "
        "(timm squashes the output to 16·sigmoid(·)), so it can be evaluated for window sizes it was not trained "
        "on. It expands into the M² × M² bias B added to the scaled cosine logits cos(q, k)/τ. For this head 1/τ = "
        "**{inv_tau}** (timm's logit scale, exp(min(logit_scale, ln 100)), so 1/τ ≤ 100 and τ ≥ 0.01; here "
        "τ = {tau})."
    ).format(**fields)


@st.fragment
def position_bias(trace, run_key: str) -> None:
    blocks, details = trace.blocks, trace.swin
    st.header(_("6 · Relative position bias"))
    block_ids = list(range(len(blocks)))
    ctl, fig = present.layout()
    with ctl:
        _linked(f"{KEY}_bias_block", block_ids, default=0, parse=link.whole(1, len(blocks)),
                to_state=lambda v: v - 1)
        bb = st.selectbox(_("Block"), block_ids, format_func=lambda i: block_label(blocks[i]),
                          key=f"{KEY}_bias_block")
        _publish(f"{KEY}_bias_block", bb, _from_one)
        head_ids = list(range(1, blocks[bb].num_heads + 1))
        _linked(f"{KEY}_bias_head", head_ids, default=1)
        bh = st.selectbox(_("Head"), head_ids, format_func=head_name, key=f"{KEY}_bias_head")
        _publish(f"{KEY}_bias_head", bh)
        bh -= 1
    with fig:
        present.explain(_bias_text(details, bb, bh, blocks[bb].window_size))
        c1, c2 = st.columns(2)
        with c1:
            _chart(fixed(trace, run_key, "_bias_table_fig", bb, bh), f"{KEY}_bias_table")
        with c2:
            _chart(fixed(trace, run_key, "_bias_matrix_fig", bb, bh), f"{KEY}_bias_matrix")


position_bias(trace, RUN_KEY)

# ------------------------------------------------------------------------------------------------ stages
st.header(_("7 · Stages: the patch grid, halved by patch merging"))
stages = details.stages
grids = ", ".join(f"{s_.grid[0]}×{s_.grid[1]}" for s_ in stages)
present.explain((_(
    "Patch embedding cuts the crop into patches of {patch}×{patch} px. Each later stage begins with **patch "
    "merging**: each 2 × 2 group of neighbouring tokens is concatenated (4C channels) and projected by a linear "
    "layer to 2C, so the grid halves and the channels double, a hierarchy like a CNN's. Every block of a stage is "
    "pre-norm, x + attention(LN(x)), then x + MLP(LN(x)) (Swin V1). Red lines: the M × M attention windows of each "
    "stage, {grids} tokens here."
) if version == 1 else _(
    "Patch embedding cuts the crop into patches of {patch}×{patch} px. Each later stage begins with **patch "
    "merging**: each 2 × 2 group of neighbouring tokens is concatenated (4C channels) and projected by a linear "
    "layer to 2C, so the grid halves and the channels double, a hierarchy like a CNN's. Every block of a stage is "
    "residual post-norm, x + LN(attention(x)), then x + LN(MLP(x)) (Swin V2). Red lines: the M × M attention "
    "windows of each stage, {grids} tokens here."
)).format(patch=trace.patch_size, grids=grids))
_chart(fixed(trace, RUN_KEY, "_stages_fig"), f"{KEY}_stages")

# ------------------------------------------------------------------------------------------------ distance
st.header(_("8 · Mean attention distance per head, against depth"))
present.explain(_(
    "For each query, the attention-weighted distance (in pixels of the input crop) to the keys it attends to, "
    "averaged over all queries (Dosovitskiy et al., 2021). A window caps it: tokens grow 2× per stage, so the "
    "reachable distance grows with depth even though every window has M × M tokens."
))
_chart(fixed(trace, RUN_KEY, "_distance_fig"), f"{KEY}_distance")
ui_corpus.corpus_link(name, weights, f"{KEY}_corpus_link")
present.caption(_("One dot per head; colour: stage; hollow dots: blocks with shifted windows; blocks counted from 1 "
                  "along the axis."))

# ------------------------------------------------------------------------------------------------ downloads
st.header(_("9 · Download the attention"))
st.markdown(_(
    "Every block's window attention (windows × heads × M² × M²), the masks the shifted blocks added, the relative "
    "position bias (table and expanded), the logit scale 1/τ of Swin V2, each window's token positions and the "
    "model's name and weights source, with a description of every array: NPZ for NumPy, JSON for anything."
))
LANG = i18n.lang()


def _export(fn):
    """The download's bytes, its descriptions in the reader's language (Streamlit may build it outside the run)."""
    def build():
        with i18n.use(LANG):
            return fn(trace, word)
    return build


c1, c2 = st.columns(2)
stem = f"swin_attention_{trace.model_name}".replace("/", "_")
with c1:
    st.download_button(_("Download attention (.npz)"), _export(swin.export_npz), file_name=f"{stem}.npz",
                       mime="application/octet-stream", key=f"{KEY}_dl_npz", on_click="ignore")
with c2:
    st.download_button(_("Download attention (.json)"), _export(swin.export_json), file_name=f"{stem}.json",
                       mime="application/json", key=f"{KEY}_dl_json", on_click="ignore")


st.header(_("10 · What the prediction rests on"))
present.explain(_(
    "Raw attention weights are not explanations. Four ways to trace the class back to the patches, each with the "
    "assumption it makes and its perturbation score on this image (Chefer et al., 2021, §4: remove the patches in "
    "the map's order and watch the class's probability fall). Swin's windows are put back on the image grid, the "
    "cyclic shift undone, and patch merging carried by giving each merged token's four patches a quarter."
), label=_("What the prediction rests on"))
ux.swin_section(trace, name, weights, device, image, RUN_KEY)
