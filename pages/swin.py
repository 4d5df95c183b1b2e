"""Swin Transformer: windows, shifted windows, the cyclic shift and its masks, what each window's heads
attend to, relative position bias and attention distance, on an uploaded or sample image.

Widgets, cached calls and layout only: the numbers come from models.capture.swin / models.capture.vision, the figures
from viz.swin. Chart clicks are read through ui.clicks only. The parts a user changes are st.fragment, so a
selection or a click reruns only its own section; every figure is cached per (run, view).

Numbering: stages, blocks and heads count from 1 (as the papers); windows, tokens and token rows/columns are
indices from 0.
"""
from __future__ import annotations

import streamlit as st

from models.capture import swin
from ui import clicks, common
from ui import vision as uv
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
MEAN = "mean of heads"


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
                       title=f"window {win}: mask added to its {m * m} × {m * m} logits")


def _mosaic_fig(t, i, win):
    return mask_mosaic_figure(t.swin.attn_mask[i], swin.window_count(t.blocks[i])[1], highlight=win,
                              title=f"all windows as on the rolled map (window {win} in red)")


def _head_fig(t, i, win, head):
    return window_heatmap(t.attention[i][win, head], swin.token_labels(t.blocks[i], win), title=f"head {head + 1}")


def _query_fig(t, i, row, col, head, tag):
    info = t.blocks[i]
    w_idx, weights, positions = swin.query_attention(t.attention[i], info, row, col, head)
    return window_attention_figure(t.image, weights, positions, info.patch_px, info.grid,
                                   swin.window_boxes(info, w_idx), (row, col),
                                   title=f"{swin.block_name(info)} ({tag}), window {w_idx}")


def _bias_table_fig(t, bb, bh):
    return bias_table_figure(t.swin.bias_table[bb][bh], title=f"B̂: {swin.block_name(t.blocks[bb])}, head {bh + 1}",
                             diverging=t.swin.version == 1 or t.swin.implementation == "SwinTransformerV2Cr")


def _bias_matrix_fig(t, bb, bh):
    mb = t.blocks[bb].window_size
    m_labels = [f"({i // mb},{i % mb})" for i in range(mb * mb)]
    return bias_matrix_figure(t.swin.bias[bb][bh], m_labels, title="expanded B (window positions)",
                              diverging=t.swin.version == 1 or t.swin.implementation == "SwinTransformerV2Cr")


def _distance_fig(t):
    return attention_distance_figure(swin.mean_distances(t.attention, t.blocks), [swin.block_name(b) for b in t.blocks],
                                     [b.stage for b in t.blocks], [b.shift for b in t.blocks])


_FIXED = {f.__name__: f for f in (_stages_fig, _windows_fig, _picker_fig, _regions_before_fig, _regions_after_fig,
                                  _mask_fig, _mosaic_fig, _head_fig, _query_fig, _bias_table_fig, _bias_matrix_fig,
                                  _distance_fig)}


def fixed(trace, run_key: str, name: str, *view):
    """_FIXED[name](trace, *view), built once per (run, view) and shared read-only (ui.common.cached_figure)."""
    return common.cached_figure("swin", run_key, (name, *view), lambda: _FIXED[name](trace, *view))


def _pick(key: str, options: list, default=None):
    """The value held under `key`, kept valid for the current options (new image, model, block) and written
    back before its widget is drawn, so every selector shows the current model's option, never a stale one."""
    value = st.session_state.get(key, default)
    if value not in options:
        value = default if default in options else options[0]
    st.session_state[key] = value
    return value


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


st.title("Swin Transformer: windows and shifted windows")
st.markdown(
    "Swin (Liu et al., 2021) computes self-attention only **inside non-overlapping M × M windows** of the "
    "token grid, so its cost grows linearly with the image instead of quadratically. Every second block "
    "**shifts the windows by ⌊M/2⌋ tokens**, so that information crosses the previous windows' borders, and "
    "every stage after the first starts with **patch merging**, which halves the grid: a hierarchy like a CNN's. "
    "Everything below is computed by the model on your image."
)

c_model, c_image = st.columns(2)
with c_model:
    name, weights = uv.model_ui(list(swin.MODEL_NAMES), KEY)
with c_image:
    image = uv.image_ui(KEY)

trace, weights, device = uv.traced_input(name, weights, image, "swin", "swin_tiny_patch4_window7_224")
if trace.kind != "swin" or trace.swin is None:
    st.warning(f"{trace.model_name} is not a Swin Transformer: open the Vision Transformer page for it.")
    st.stop()

common.weights_badge(trace.weights_source)
RUN_KEY = uv.run_key(image, name, weights, device)
if weights == "demo":
    st.info(
        "The demo Swin was trained only on synthetic shapes ("
        + ", ".join(uv.cached_model(name, weights, device).class_names)
        + "): on a photo its prediction means nothing, but its windows, masks and attention are real. "
        "Choose *generated shape* to see it on what it knows."
    )
for note in trace.extras.get("image_notes", []):
    st.caption(f"Image: {note}.")
details = trace.swin
blocks = trace.blocks
version = details.version
CR = details.implementation == "SwinTransformerV2Cr"
SQUASH = "timm uses the MLP's output as is" if CR else "timm squashes the output to 16·sigmoid(·)"
if version == 2:
    st.info(
        "This is a **Swin V2** model (Liu et al., 2022)"
        + (", in timm's separate implementation SwinTransformerV2Cr" if CR else "")
        + ". Its windows, shifts and masks are those of Swin V1; three things differ. Its attention logits are "
        "**scaled cosine** similarities, Sim(q, k) = cos(q, k)/τ + B, with a learned τ per head and layer (instead "
        "of QKᵀ/√d). Its relative position bias B is not a learned table: a small MLP maps log-spaced relative "
        f"coordinates to it ({SQUASH}); that is what the bias figures show. And its blocks are **residual "
        "post-norm**, x + LN(attention(x)), where Swin V1 is pre-norm, x + attention(LN(x))."
    )

crop = trace.image
left, right = st.columns([2, 1])
with left:
    st.subheader("The input crop and the model's prediction")
    st.image(crop, width=min(320, max(160, crop.shape[1])))
    st.caption(
        f"{trace.model_name} sees this {crop.shape[1]}×{crop.shape[0]} px crop (after timm's resize and centre "
        f"crop), cut into {trace.patch_size}×{trace.patch_size} px patches."
    )
with right:
    st.subheader("Top-5 predictions")
    if trace.top_k:
        st.plotly_chart(top_k_bars(trace.top_k), key=f"{KEY}_top5", width="stretch")
    else:
        st.caption("This model has no classifier head.")

# ------------------------------------------------------------------------------------------------ stages
st.header("1 · Stages: the patch grid, halved by patch merging")
stages = details.stages
st.markdown(
    "Patch embedding cuts the crop into patches of "
    f"{trace.patch_size}×{trace.patch_size} px. Each later stage begins with **patch merging**: each 2 × 2 group "
    "of neighbouring tokens is concatenated (4C channels) and projected by a linear layer to 2C, so the grid "
    "halves and the channels double. Every block of a stage is "
    + ("pre-norm, x + attention(LN(x)), then x + MLP(LN(x)) (Swin V1). "
       if version == 1 else "residual post-norm, x + LN(attention(x)), then x + LN(MLP(x)) (Swin V2). ")
    + "Red lines: the M × M attention windows of each stage, "
    + ", ".join(f"{s_.grid[0]}×{s_.grid[1]}" for s_ in stages)
    + " tokens here."
)
st.plotly_chart(fixed(trace, RUN_KEY, "_stages_fig"), key=f"{KEY}_stages", width="stretch")


# ------------------------------------------------------------------------------------------------ windows, shift
def windows_and_shift(trace, run_key: str) -> None:
    """Sections 2 and 3: a change of stage reruns the page (rare); the masks' window is a fragment of its own."""
    blocks, stages = trace.blocks, trace.swin.stages
    st.header("2 · Regular and shifted windows")
    labels = [f"stage {s_.stage + 1} ({s_.grid[0]}×{s_.grid[1]} tokens, M = {s_.window_size})" for s_ in stages]
    _pick(f"{KEY}_stage", labels)
    label = st.selectbox("Stage", labels, key=f"{KEY}_stage")
    stage = stages[labels.index(label)].stage
    reg_i, shf_i = swin.stage_pair(blocks, stage)
    reg, shf = blocks[reg_i], (blocks[shf_i] if shf_i is not None else None)
    m = reg.window_size
    st.markdown(
        f"{swin.block_name(reg)} attends inside a regular partition of **{m} × {m}-token windows** "
        f"({m * reg.patch_px:g} px squares here). "
        + (
            f"The next block, {swin.block_name(shf)}, moves the partition by **⌊M/2⌋ = {shf.shift} tokens** down "
            "and right: its windows straddle the old borders. Windows at the edge now wrap round the image (drawn "
            "as pieces of one colour with one number): that is what the cyclic shift below does. Windows are "
            "numbered from 0, row by row."
            if shf is not None
            else "This stage has no shifted block: its grid is a single window (timm then leaves the shift out)."
        )
    )
    cols = st.columns(2)
    with cols[0]:
        st.markdown(f"**{swin.block_name(reg)}: regular windows**")
        st.plotly_chart(fixed(trace, run_key, "_windows_fig", reg_i), key=f"{KEY}_regular_windows", width="stretch")
    with cols[1]:
        if shf is not None:
            st.markdown(f"**{swin.block_name(shf)}: windows shifted by {shf.shift}**")
            st.plotly_chart(fixed(trace, run_key, "_windows_fig", shf_i), key=f"{KEY}_shifted_windows", width="stretch")

    st.header("3 · The cyclic shift, step by step")
    if shf is None:
        st.caption("Pick a stage with a shifted block to see the cyclic shift.")
        return
    s = shf.shift
    st.markdown(
        "Shifting the partition itself would give more windows, some smaller than M × M, at the edges. Instead "
        f"Swin **rolls the feature map** by s = ⌊M/2⌋ = {s} tokens up and left (`torch.roll(x, (−{s}, −{s}))`) and "
        "partitions the rolled map into regular windows again: same number of windows, same M² tokens each. "
        "The windows along the bottom and right edge of the rolled map now hold tokens that were **not neighbours** "
        "in the image (Fig. 4 of the paper). Labelling the rolled map in up to 9 regions, 0–8, as the authors' code "
        "does, tells them apart: inside a window, a query may only attend to keys of its own region: Swin adds "
        "**−100** to the other logits before the softmax (e⁻¹⁰⁰ ≈ 0), then rolls the result back."
    )
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**① The shifted windows on the image**, with the regions the roll will bring together")
        st.plotly_chart(fixed(trace, run_key, "_regions_before_fig", shf_i), key=f"{KEY}_regions_before",
                        width="stretch")
    with c2:
        st.markdown(f"**② Rolled by {s} tokens ({s * shf.patch_px:g} px) up and left**, then cut into regular M × M "
                    "windows")
        st.plotly_chart(fixed(trace, run_key, "_regions_after_fig", shf_i), key=f"{KEY}_regions_after",
                        width="stretch")
    shift_masks(trace, run_key, shf_i)


@st.fragment
def shift_masks(trace, run_key: str, shf_i: int) -> None:
    """③ of section 3: one window's mask and the mosaic of all of them (a click there selects a window)."""
    shf = trace.blocks[shf_i]
    n_windows = trace.attention[shf_i].shape[0]
    window_ids = list(range(n_windows))
    win = _pick(f"{KEY}_mask_window", window_ids, default=n_windows - 1)
    used = trace.swin.attn_mask[shf_i]
    st.markdown(f"**③ Each window's mask** in {swin.block_name(shf)} (rows: queries, columns: keys, dark: −100; "
                "tokens named by their (row, col) on the token grid, indices from 0, and their region r0–r8)")
    c1, c2 = st.columns(2)
    with c1:
        win = st.selectbox("Window of the shifted block (index from 0; or click one in the mosaic)", window_ids,
                           key=f"{KEY}_mask_window")
        if used is not None:
            st.plotly_chart(fixed(trace, run_key, "_mask_fig", shf_i, win), key=f"{KEY}_mask", width="stretch")
    with c2:
        if used is not None:
            st.plotly_chart(
                fixed(trace, run_key, "_mosaic_fig", shf_i, win), key=f"{KEY}_mask_pick", width="stretch",
                on_select=lambda: _on_window_click(f"{KEY}_mask_pick", f"{KEY}_mask_window", n_windows),
                selection_mode="points",
            )
        same = swin.mask_matches(shf, used)
        st.caption(
            ("✔ " if same else "✘ ")
            + "The masks shown are the ones timm's block used in this forward pass; they "
            + ("are identical to" if same else "DIFFER from")
            + " the masks built from the region labels above. Only windows along the bottom and right edges "
            "mix regions; the others need no mask."
        )


windows_and_shift(trace, RUN_KEY)


# ------------------------------------------------------------------------------------------------ per window
@st.fragment
def window_and_heads(trace, run_key: str) -> None:
    blocks, version = trace.blocks, trace.swin.version
    st.header("4 · Inside one window: every head's M² × M² attention")
    block_ids = list(range(len(blocks)))
    _pick(f"{KEY}_block", block_ids, default=0)
    b = st.selectbox("Block", block_ids, format_func=lambda i: swin.block_label(blocks[i]), key=f"{KEY}_block")
    blk = blocks[b]
    att = trace.attention[b]
    window_ids = list(range(att.shape[0]))
    _pick(f"{KEY}_window", window_ids, default=0)
    c1, c2 = st.columns([1, 2])
    with c1:
        win = st.selectbox("Window (index from 0; or click one on the image)", window_ids, key=f"{KEY}_window")
        st.plotly_chart(
            fixed(trace, run_key, "_picker_fig", b, win), key=f"{KEY}_window_pick", width="stretch",
            on_select=lambda: _on_window_click(f"{KEY}_window_pick", f"{KEY}_window", len(window_ids)),
            selection_mode="points",
        )
        st.caption(f"Selected: **window {win}** of {swin.block_name(blk)} (red).")
    with c2:
        st.markdown(
            f"Each head of {swin.block_name(blk)} computes softmax("
            + ("QKᵀ/√d" if version == 1 else "cos(q, k)/τ")
            + " + B"
            + (" + mask" if blk.shift else "")
            + f") over the {blk.window_size ** 2} tokens of the window"
            + (", d = its own head dimension" if version == 1 else ", τ = the head's learned temperature")
            + ". Rows are queries, columns keys, both labelled by their (row, col) on the token grid (indices "
            "from 0); every row sums to 1."
            + (" In a shifted block, masked pairs get ≈ 0." if blk.shift else "")
        )
    head_cols = st.columns(min(2, blk.num_heads))
    for head in range(blk.num_heads):
        with head_cols[head % len(head_cols)]:
            st.plotly_chart(fixed(trace, run_key, "_head_fig", b, win, head), key=f"{KEY}_head_{head}",
                            width="stretch")


window_and_heads(trace, RUN_KEY)


# ------------------------------------------------------------------------------------------------ one patch
@st.fragment
def one_patch(trace, run_key: str) -> None:
    blocks, stages = trace.blocks, trace.swin.stages
    st.header("5 · One patch's attention inside its window, regular vs shifted")
    labels = [f"stage {s_.stage + 1} ({s_.grid[0]}×{s_.grid[1]} tokens, M = {s_.window_size})" for s_ in stages]
    _pick(f"{KEY}_patch_stage", labels)
    c0, c1, c2, c3 = st.columns(4)
    stage = stages[labels.index(c0.selectbox("Stage", labels, key=f"{KEY}_patch_stage"))].stage
    reg_i, shf_i = swin.stage_pair(blocks, stage)
    blk = blocks[reg_i]
    gh, gw = blk.grid
    row_key, col_key = f"{KEY}_row", f"{KEY}_col"
    st.session_state[row_key] = min(int(st.session_state.get(row_key, gh // 2)), gh - 1)
    st.session_state[col_key] = min(int(st.session_state.get(col_key, gw // 2)), gw - 1)
    row = c1.slider("Patch row (index from 0)", 0, gh - 1, key=row_key)
    col = c2.slider("Patch column (index from 0)", 0, gw - 1, key=col_key)
    heads = [MEAN] + list(range(1, blk.num_heads + 1))
    _pick(HEAD_KEY, heads, default=MEAN)
    head = c3.select_slider("Head", heads, key=HEAD_KEY, format_func=lambda h: h if isinstance(h, str) else f"head {h}")
    head_arg = None if isinstance(head, str) else int(head) - 1
    st.caption(
        f"Query: the patch at row {row}, column {col} (indices from 0) of stage {blk.stage + 1}, whose tokens are "
        f"{blk.patch_px:g} px squares; {head if isinstance(head, str) else f'head {head}'}. The ringed patch is the "
        "query; colour is its attention weight on each key of its window (outlined). Click a patch on either image "
        "to move the query."
    )
    cols = st.columns(2)
    for col_ui, bi, tag in ((cols[0], reg_i, "regular"), (cols[1], shf_i, "shifted")):
        if bi is None:
            continue
        with col_ui:
            chart = f"{KEY}_patch_{tag}"
            st.plotly_chart(
                fixed(trace, run_key, "_query_fig", bi, row, col, head_arg, tag), key=chart, width="stretch",
                on_select=lambda chart=chart, grid=blocks[bi].grid: _on_patch_click(chart, grid),
                selection_mode="points",
            )


one_patch(trace, RUN_KEY)


# ------------------------------------------------------------------------------------------------ bias
@st.fragment
def position_bias(trace, run_key: str) -> None:
    blocks, details = trace.blocks, trace.swin
    st.header("6 · Relative position bias")
    block_ids = list(range(len(blocks)))
    _pick(f"{KEY}_bias_block", block_ids, default=0)
    c1, c2 = st.columns(2)
    bb = c1.selectbox("Block", block_ids, format_func=lambda i: swin.block_label(blocks[i]), key=f"{KEY}_bias_block")
    head_ids = list(range(1, blocks[bb].num_heads + 1))
    _pick(f"{KEY}_bias_head", head_ids, default=1)
    bh = c2.selectbox("Head", head_ids, format_func=lambda h: f"head {h}", key=f"{KEY}_bias_head") - 1
    mb = blocks[bb].window_size
    if details.version == 1:
        st.markdown(
            f"Each head learns a table B̂ of (2M − 1) × (2M − 1) = {2 * mb - 1} × {2 * mb - 1} numbers, one per "
            "relative offset (Δrow, Δcol) between a query and a key in a window. It expands into the M² × M² bias "
            "B[i, j] = B̂[Δrow + M − 1, Δcol + M − 1] that is added to QKᵀ/√d before the softmax, the same in every "
            "window."
        )
    else:
        inv_tau = float(details.logit_scale[bb][bh])
        st.markdown(
            f"Swin V2 computes the (2M − 1) × (2M − 1) = {2 * mb - 1} × {2 * mb - 1} table with a small MLP of the "
            f"log-spaced offsets ({SQUASH}), so it can be evaluated for window sizes it was not "
            "trained on. It expands into the M² × M² bias B added to the scaled cosine logits cos(q, k)/τ. "
            f"For this head 1/τ = **{inv_tau:.2f}** (timm's logit scale, exp(min(logit_scale, ln 100)), so 1/τ ≤ 100 "
            f"and τ ≥ 0.01; here τ = {1 / inv_tau:.4f})."
        )
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(fixed(trace, run_key, "_bias_table_fig", bb, bh), key=f"{KEY}_bias_table", width="stretch")
    with c2:
        st.plotly_chart(fixed(trace, run_key, "_bias_matrix_fig", bb, bh), key=f"{KEY}_bias_matrix", width="stretch")


position_bias(trace, RUN_KEY)

# ------------------------------------------------------------------------------------------------ distance
st.header("7 · Mean attention distance per head, against depth")
st.markdown(
    "For each query, the attention-weighted distance (in pixels of the input crop) to the keys it attends to, "
    "averaged over all queries (Dosovitskiy et al., 2021). A window caps it: tokens grow "
    "2× per stage, so the reachable distance grows with depth even though every window has M × M tokens."
)
st.plotly_chart(fixed(trace, RUN_KEY, "_distance_fig"), key=f"{KEY}_distance", width="stretch")
st.caption("One dot per head; colour: stage; hollow dots: blocks with shifted windows; blocks counted from 1 "
           "along the axis.")

# ------------------------------------------------------------------------------------------------ downloads
st.header("8 · Download the attention")
st.markdown(
    "Every block's window attention (windows × heads × M² × M²), the masks the shifted blocks added, the relative "
    "position bias (table and expanded)"
    + (", the logit scale 1/τ" if version == 2 else "")
    + ", each window's token positions and the model's name and weights source: NPZ for NumPy, JSON for anything."
)
c1, c2 = st.columns(2)
stem = f"swin_attention_{trace.model_name}".replace("/", "_")
with c1:
    st.download_button("Download attention (.npz)", lambda: swin.export_npz(trace), file_name=f"{stem}.npz",
                       mime="application/octet-stream", key=f"{KEY}_dl_npz", on_click="ignore")
with c2:
    st.download_button("Download attention (.json)", lambda: swin.export_json(trace), file_name=f"{stem}.json",
                       mime="application/json", key=f"{KEY}_dl_json", on_click="ignore")
