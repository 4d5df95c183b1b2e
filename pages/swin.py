"""Swin Transformer: windows, shifted windows, the cyclic shift and its masks, what each window's heads
attend to, relative position bias and attention distance, on an uploaded or sample image.

Widgets, cached calls and layout only: the numbers come from models.capture.swin / models.capture.vision, the figures
from viz.swin and viz.heatmaps.
"""
from __future__ import annotations

import streamlit as st

from models.capture import swin, vision
from ui import common
from ui import vision as uv
from viz.vit import top_k_bars
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

KEY = "swin"  # widget keys start with this, so they never clash with the ViT page's


# ------------------------------------------------------------------------------------------------ cached figures
# Figures that depend on the run and a few view arguments only (not on the block, window or query the user is
# looking at), each a function of (trace, *view). Built once per (run, view) and shared read-only.
def _stages_fig(t):
    return stage_grids_figure(t.image, t.extras["stages"])


def _windows_fig(t, i):
    return window_partition_figure(t.image, swin.all_window_boxes(t.blocks[i]))


def _regions_before_fig(t, i):
    b = t.blocks[i]
    return shift_figure(t.image, swin.image_region_labels(b), b.window_size, b.patch_px, offset=b.shift)


def _regions_after_fig(t, i):
    b = t.blocks[i]
    return shift_figure(swin.rolled_image(t.image, b), swin.rolled_region_labels(b), b.window_size, b.patch_px)


def _mask_fig(t, i, win):
    b, m = t.blocks[i], t.blocks[i].window_size
    return mask_figure(t.extras["attn_mask"][i][win], swin.token_labels(b, win), swin.window_regions(b, win),
                       title=f"window {win}: mask added to its {m * m} × {m * m} logits")


def _mosaic_fig(t, i):
    return mask_mosaic_figure(t.extras["attn_mask"][i], swin.window_count(t.blocks[i])[1],
                              title="all windows, laid out as on the rolled map")


def _bias_table_fig(t, bb, bh):
    return bias_table_figure(t.extras["bias_table"][bb][bh], title=f"B̂: block {bb}, head {bh}",
                             diverging=t.extras.get("version", 1) == 1)


def _bias_matrix_fig(t, bb, bh):
    mb = t.blocks[bb].window_size
    m_labels = [f"({i // mb},{i % mb})" for i in range(mb * mb)]
    return bias_matrix_figure(t.extras["bias"][bb][bh], m_labels, title="expanded B (window positions)",
                              diverging=t.extras.get("version", 1) == 1)


def _distance_fig(t):
    return attention_distance_figure(swin.mean_distances(t.attention, t.blocks), [b_.name for b_ in t.blocks],
                                     [b_.stage for b_ in t.blocks], [b_.shift for b_ in t.blocks])


_FIXED = {f.__name__: f for f in (_stages_fig, _windows_fig, _regions_before_fig, _regions_after_fig, _mask_fig,
                                  _mosaic_fig, _bias_table_fig, _bias_matrix_fig, _distance_fig)}


def fixed(name: str, *view):
    """_FIXED[name](trace, *view), built once per (run, view) and shared read-only (ui.common.cached_figure)."""
    return common.cached_figure("swin", RUN_KEY, (name, *view), lambda: _FIXED[name](trace, *view))


def _selected(event, field: str = "customdata"):
    """The customdata of the first point selected in a plotly chart event (a dict under AppTest), or None."""
    try:
        points = event["selection"]["points"] if isinstance(event, dict) else event.selection.points
    except (AttributeError, KeyError, TypeError):
        return None
    for p in points or []:
        value = p.get(field) if isinstance(p, dict) else getattr(p, field, None)
        if value is not None:
            return value
    return None


def _pick(key: str, options: list, default=None):
    """A value held in session state under `key`, kept valid when the options change (new image, model)."""
    value = st.session_state.get(key, default)
    if value not in options:
        value = default if default in options else options[0]
    st.session_state[key] = value
    return value


def _chart_pick(chart_key: str, state_key: str, options: list, convert=int) -> None:
    """A selection made on a chart writes the matching selectbox's value (before it is drawn)."""
    value = _selected(st.session_state.get(chart_key))
    if value is None:
        return
    try:
        value = convert(value[0] if isinstance(value, (list, tuple)) and convert is int else value)
    except (TypeError, ValueError):
        return
    if value in options and st.session_state.get(f"{chart_key}__seen") != value:
        st.session_state[state_key] = value
        st.session_state[f"{chart_key}__seen"] = value


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
if trace.kind != "swin":
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
ex = trace.extras
blocks = trace.blocks
version = ex.get("version", 1)
if version == 2:
    st.info(
        "This is a **Swin V2** model (Liu et al., 2022). Its windows, shifts and masks are those of Swin V1, but "
        "its attention logits are **cosine similarities** cos(q, k) scaled by a learned per-head temperature "
        "(instead of QKᵀ/√d), and its relative position bias is not a learned table: a small MLP maps "
        "log-spaced relative coordinates to a bias, squashed to 16·sigmoid(·). That MLP output is what the bias "
        "figures show."
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
stages = ex["stages"]
st.markdown(
    "Patch embedding cuts the crop into patches of "
    f"{trace.patch_size}×{trace.patch_size} px. Each later stage begins with **patch merging**: each 2 × 2 group "
    "of neighbouring tokens is concatenated (4C channels) and projected by a linear layer to 2C, so the grid "
    "halves and the channels double. Red lines: the M × M attention windows of each stage, "
    + ", ".join(f"{s['grid'][0]}×{s['grid'][1]}" for s in stages)
    + " tokens here."
)
st.plotly_chart(fixed("_stages_fig"), key=f"{KEY}_stages", width="stretch")

# ------------------------------------------------------------------------------------------------ windows
st.header("2 · Regular and shifted windows")
stage_ids = [s["stage"] for s in stages]
stage = st.selectbox(
    "Stage", stage_ids, format_func=lambda s: f"stage {s + 1} ({stages[stage_ids.index(s)]['grid'][0]}×"
    f"{stages[stage_ids.index(s)]['grid'][1]} tokens, M = {stages[stage_ids.index(s)]['window_size']})",
    key=f"{KEY}_stage",
)
reg_i, shf_i = swin.stage_pair(blocks, stage)
reg, shf = blocks[reg_i], (blocks[shf_i] if shf_i is not None else None)
m = reg.window_size
st.markdown(
    f"Block {reg_i} attends inside a regular partition of **{m} × {m}-token windows** "
    f"({m * reg.patch_px:g} px squares here). "
    + (
        f"The next block, {shf_i}, moves the partition by **⌊M/2⌋ = {shf.shift} tokens** down and right: its "
        "windows straddle the old borders. Windows at the edge now wrap round the image (drawn as pieces of one "
        "colour with one number): that is what the cyclic shift below does."
        if shf is not None
        else "This stage has no shifted block: its grid is a single window (timm then leaves the shift out)."
    )
)
cols = st.columns(2)
with cols[0]:
    st.markdown(f"**Block {reg_i}: regular windows**")
    st.plotly_chart(fixed("_windows_fig", reg_i), key=f"{KEY}_regular_windows", width="stretch")
with cols[1]:
    if shf is not None:
        st.markdown(f"**Block {shf_i}: windows shifted by {shf.shift}**")
        st.plotly_chart(fixed("_windows_fig", shf_i), key=f"{KEY}_shifted_windows", width="stretch")

# ------------------------------------------------------------------------------------------------ shift
st.header("3 · The cyclic shift, step by step")
if shf is None:
    st.caption("Pick a stage with a shifted block to see the cyclic shift.")
else:
    s = shf.shift
    st.markdown(
        f"Shifting the partition itself would give more windows, some smaller than M × M, at the edges. Instead Swin **rolls the feature "
        f"map** by s = ⌊M/2⌋ = {s} tokens up and left (`torch.roll(x, (−{s}, −{s}))`) and partitions the rolled map "
        "into regular windows again: same number of windows, same M² tokens each. "
        "The windows along the bottom and right edge of the rolled map now hold tokens that were **not neighbours** "
        "in the image (Fig. 4 of the paper). Labelling the rolled map in up to 9 regions, 0–8, as the authors' code "
        "does, tells them apart: inside a "
        "window, a query may only attend to keys of its own region: Swin adds **−100** to the other logits "
        "before the softmax (e⁻¹⁰⁰ ≈ 0), then rolls the result back."
    )
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**① The shifted windows on the image**, with the regions the roll will bring together")
        st.plotly_chart(fixed("_regions_before_fig", shf_i), key=f"{KEY}_regions_before", width="stretch")
    with c2:
        st.markdown(f"**② Rolled by {s} tokens ({s * shf.patch_px:g} px) up and left**, then cut into regular M × M windows")
        st.plotly_chart(fixed("_regions_after_fig", shf_i), key=f"{KEY}_regions_after", width="stretch")
    n_windows = trace.attention[shf_i].shape[0]
    window_ids = list(range(n_windows))
    _chart_pick(f"{KEY}_mask_pick", f"{KEY}_mask_window", window_ids)
    _pick(f"{KEY}_mask_window", window_ids, default=n_windows - 1)
    used = ex["attn_mask"][shf_i]
    st.markdown("**③ Each window's mask** (rows: queries, columns: keys, dark: −100)")
    c1, c2 = st.columns(2)
    with c1:
        win = st.selectbox("Window of the shifted block", window_ids, key=f"{KEY}_mask_window")
        st.plotly_chart(fixed("_mask_fig", shf_i, win), key=f"{KEY}_mask", width="stretch")
    with c2:
        st.plotly_chart(
            fixed("_mosaic_fig", shf_i),
            key=f"{KEY}_mask_pick", on_select="rerun", selection_mode="points", width="stretch",
        )
        same = swin.mask_matches(shf, used)
        st.caption(
            ("✔ " if same else "✘ ")
            + "The masks shown are the ones timm's block used in this forward pass; they "
            + ("are identical to" if same else "DIFFER from")
            + " the masks built from the region labels above. Only windows along the bottom and right edges "
            "mix regions; the others need no mask."
        )

# ------------------------------------------------------------------------------------------------ per window
st.header("4 · Inside one window: every head's M² × M² attention")
block_ids = list(range(len(blocks)))
b = st.selectbox("Block", block_ids, format_func=lambda i: f"{i}: {swin.block_label(blocks[i])}", key=f"{KEY}_block")
blk = blocks[b]
att = trace.attention[b]
window_ids = list(range(att.shape[0]))
_chart_pick(f"{KEY}_window_pick", f"{KEY}_window", window_ids)
_pick(f"{KEY}_window", window_ids, default=0)
c1, c2 = st.columns([1, 2])
with c1:
    win = st.selectbox("Window (or click one on the image)", window_ids, key=f"{KEY}_window")
    st.plotly_chart(
        window_partition_figure(crop, swin.all_window_boxes(blk), highlight=win, height=320),
        key=f"{KEY}_window_pick", on_select="rerun", selection_mode="points", width="stretch",
    )
with c2:
    st.markdown(
        f"Each head of block {b} computes softmax("
        + ("QKᵀ/√d" if version == 1 else "τ·cos(q, k)")
        + " + B"
        + (" + mask" if blk.shift else "")
        + f") over the {blk.window_size ** 2} tokens of the window"
        + (", d = its own head dimension" if version == 1 else ", τ = the head's learned temperature")
        + ". Rows are queries, "
        "columns keys, both labelled by their (row, col) on the token grid; every row sums to 1."
        + (" In a shifted block, masked pairs get ≈ 0." if blk.shift else "")
    )
labels_w = swin.token_labels(blk, win)
head_cols = st.columns(min(2, blk.num_heads))
for head in range(blk.num_heads):
    with head_cols[head % len(head_cols)]:
        st.plotly_chart(
            window_heatmap(att[win, head], labels_w, title=f"head {head}"),
            key=f"{KEY}_head_{head}", width="stretch",
        )

# ------------------------------------------------------------------------------------------------ one patch
st.header("5 · One patch's attention inside its window, regular vs shifted")
reg_i, shf_i = swin.stage_pair(blocks, blk.stage)
gh, gw = blk.grid
row_key, col_key = f"{KEY}_row", f"{KEY}_col"
for chart in (f"{KEY}_patch_regular", f"{KEY}_patch_shifted"):
    picked = _selected(st.session_state.get(chart))
    if picked is not None and st.session_state.get(f"{chart}__seen") != list(picked):
        st.session_state[f"{chart}__seen"] = list(picked)
        st.session_state[row_key], st.session_state[col_key] = int(picked[0]), int(picked[1])
st.session_state[row_key] = min(int(st.session_state.get(row_key, gh // 2)), gh - 1)
st.session_state[col_key] = min(int(st.session_state.get(col_key, gw // 2)), gw - 1)
c1, c2, c3 = st.columns(3)
row = c1.slider("Patch row", 0, gh - 1, key=row_key)
col = c2.slider("Patch column", 0, gw - 1, key=col_key)
heads = ["mean of heads"] + list(range(blk.num_heads))
head = c3.selectbox("Head", heads, key=f"{KEY}_patch_head",
                    format_func=lambda h: h if isinstance(h, str) else f"head {h}")
head_arg = None if isinstance(head, str) else int(head)
st.caption(
    f"Stage {blk.stage + 1} tokens are {blk.patch_px:g} px squares. The ringed patch is the query; colour is its "
    "attention weight on each key of its window (outlined). Click a patch on either image to move the query."
)
cols = st.columns(2)
for col_ui, bi, tag in ((cols[0], reg_i, "regular"), (cols[1], shf_i, "shifted")):
    if bi is None:
        continue
    info = blocks[bi]
    w_idx, weights, positions = swin.query_attention(trace.attention[bi], info, row, col, head_arg)
    with col_ui:
        st.plotly_chart(
            window_attention_figure(crop, weights, positions, info.patch_px, info.grid, swin.window_boxes(info, w_idx),
                                    (row, col), title=f"block {bi} ({tag}), window {w_idx}"),
            key=f"{KEY}_patch_{tag}", on_select="rerun", selection_mode="points", width="stretch",
        )

# ------------------------------------------------------------------------------------------------ bias
st.header("6 · Relative position bias")
c1, c2 = st.columns(2)
bb = c1.selectbox("Block", block_ids, format_func=lambda i: f"{i}: {swin.block_label(blocks[i])}", key=f"{KEY}_bias_block")
bh = c2.selectbox("Head", list(range(blocks[bb].num_heads)), key=f"{KEY}_bias_head")
mb = blocks[bb].window_size
if version == 1:
    st.markdown(
        f"Each head learns a table B̂ of (2M − 1) × (2M − 1) = {2 * mb - 1} × {2 * mb - 1} numbers, one per relative "
        "offset (Δrow, Δcol) between a query and a key in a window. It expands into the M² × M² bias "
        "B[i, j] = B̂[Δrow + M − 1, Δcol + M − 1] that is added to QKᵀ/√d before the softmax, the same in every window."
    )
else:
    st.markdown(
        f"Swin V2 computes the (2M − 1) × (2M − 1) = {2 * mb - 1} × {2 * mb - 1} table with a small MLP of the "
        "log-spaced offsets, 16·sigmoid(MLP(Δ)), so it can be evaluated for window sizes it was not trained on. "
        f"It expands into the M² × M² bias added to the scaled cosine logits (this head's temperature: "
        f"{float(ex['logit_scale'][bb][bh]):.2f})."
    )
c1, c2 = st.columns(2)
with c1:
    st.plotly_chart(fixed("_bias_table_fig", bb, bh), key=f"{KEY}_bias_table", width="stretch")
with c2:
    st.plotly_chart(fixed("_bias_matrix_fig", bb, bh), key=f"{KEY}_bias_matrix", width="stretch")

# ------------------------------------------------------------------------------------------------ distance
st.header("7 · Mean attention distance per head, against depth")
st.markdown(
    "For each query, the attention-weighted distance (in pixels of the input crop) to the keys it attends to, "
    "averaged over all queries (Dosovitskiy et al., 2021). A window caps it: tokens grow "
    "2× per stage, so the reachable distance grows with depth even though every window has M × M tokens."
)
st.plotly_chart(fixed("_distance_fig"), key=f"{KEY}_distance", width="stretch")
st.caption("One dot per head; colour: stage; hollow dots: blocks with shifted windows.")
