"""Heads across a corpus: what each head does over many inputs, as Clark et al. (2019) and the ViT paper measured it.

A model and a corpus (bundled, uploaded, or a statistics file from the batch job, python -m models.corpus): the
corpus job's own code runs here batch by batch (ui.corpus.run), or the file is read; then a layers × heads grid of
one statistic's corpus mean (click a cell to pick a head), the head map (MDS of Jensen–Shannon distances), the
picked head's mean pattern and the inputs where its statistic is highest and lowest (each opens on its model's page),
mean attention distance against depth, and the inputs that could not be used. The view is in the URL (cp_*).
"""
import json

import numpy as np
import streamlit as st

from ui import clicks, common, link
from ui import corpus as ui
from ui.i18n import _, ngettext
from viz import corpus as vc

st.title(_("Heads across a corpus"))
st.markdown(_(
    "One input shows one pattern; what a head *does* shows only across many. Clark et al. (2019) measured BERT's "
    "heads over 1,000 text segments — attention to [CLS], [SEP] and punctuation, to the previous and next token, "
    "entropy, and a map of heads placed by how alike they attend; Dosovitskiy et al. (2021, Fig. 7) plotted the mean "
    "attention distance of every ViT head over 128 images. This page computes those statistics for every head over "
    "a corpus, with the same code as the batch job."
))

device = common.current_device()
link.bind(ui.SOURCE_KEY, ui.SOURCE_KEY, link.one_of(ui.SOURCES))
source = st.radio(_("Statistics"), list(ui.SOURCES), key=ui.SOURCE_KEY, format_func=lambda s: _(ui.SOURCES[s]),
                  horizontal=True)
link.publish(**{ui.SOURCE_KEY: None if source == "run" else source})

if source == "run":
    st.subheader(_("1 · Model and corpus"))
    choice = ui.model_ui()
    model = ui.load_or_stop(choice, device)
    ui.weights_note(choice, model)
    picked = ui.corpus_ui(choice, model)
    if picked is None:
        ui.sinks_ui(choice.modality)
        st.stop()
    picked = ui.first_ui(picked)
    exclude = ui.sinks_ui(choice.modality)
    spec = ui.spec_of(choice, model, exclude, device)
    key = ui.result_key(choice, model, picked, exclude)
    result = ui.store().get(key)
    if result is None:
        n = len(picked.corpus)
        seconds = ui.guarded(lambda: ui.estimate(key, model, spec, picked.corpus))
        said = ngettext("Run on {n} input (about {seconds:.0f} s)", "Run on {n} inputs (about {seconds:.0f} s)",
                        n).format(n=f"{n:,}", seconds=max(1.0, seconds))
        st.caption(_("The estimate is the time of the first {k} inputs, scaled to the corpus. The result is kept, so "
                     "changing the view computes nothing.").format(k=min(ui.PROBE, n)))
        slot = st.empty()
        if not slot.button(said, key="cp_run", type="primary", icon=":material/play_arrow:"):
            st.stop()
        slot.empty()
        table = ui.guarded(lambda: ui.run(model, spec, picked.corpus))
        meta = json.loads(table.schema.metadata[b"atlas"].decode("utf-8"))
        if not meta.get("good_inputs"):
            st.error(_("No input of the corpus could be run: see their messages below."))
            for b in meta.get("bad_inputs", []):
                st.markdown("- " + ui.bad_message(b["error"], b["message"]))
            st.stop()
        result = ui.result_of(table, meta)
        ui.store().put(key, result)
else:
    st.subheader(_("1 · A statistics file"))
    got = ui.file_ui()
    if got is None:
        st.stop()
    key, result = got

meta = result.meta
modality = result.modality
run_key = json.dumps(key)
if source == "file":
    st.info(_("Model **{model}**, weights: {weights}. Corpus {corpus}.").format(
        model=result.model_name, weights=ui.weights_label(result), corpus=f"`{meta.get('corpus', '')}`"))
    recorded = str(meta.get("model", {}).get("weights", ""))
    if recorded:
        st.caption(_("The weights as the file records them: {source}").format(source=ui.code_span(recorded)))
    if result.weights == "random":
        st.warning(_("Random weights attend arbitrarily: their statistics describe no learned behaviour."))
bad = meta.get("bad_inputs", [])
st.success(_("{good} of {n} inputs ran ({bad} could not be used, listed at the end), in {seconds:.1f} s; "
             "{layers} layers × {heads} heads.").format(
    good=f"{meta.get('good_inputs', 0):,}", n=f"{meta.get('inputs', 0):,}", bad=len(bad),
    seconds=float(meta.get("seconds", 0.0)), layers=result.layers, heads=result.heads))
if meta.get("exclude_sinks"):
    st.caption(_("BOS-like tokens were excluded before the statistics (the shares stay on the raw weights)."))
st.download_button(_("Download the statistics (Parquet)"), result.parquet, file_name="stats.parquet",
                   mime="application/vnd.apache.parquet", key="cp_download", icon=":material/download:",
                   on_click="ignore")
st.caption(_("One row per input, layer and head, then the aggregates (row = \"aggregate\": mean, std and count per "
             "layer and head), the model, weights and options in the file's metadata: the batch job's format."))


def figure(*view, build):
    return common.cached_figure("corpus", run_key, view, build)


# ------------------------------------------------------------------------------------------------ the view
L, H = result.layers, result.heads


def _heads_in(layer: int) -> int:
    return int(np.count_nonzero(~np.isnan(result.count[layer - 1])))


def _pick(event_key: str) -> None:
    """A click on the grid or the head map picks that head (customdata: layer, head from 1)."""
    got = clicks.custom_ints(st.session_state.get(event_key), 2)
    if got is None:
        return
    layer, head = got
    if 1 <= layer <= L and 1 <= head <= H and not np.isnan(result.count[layer - 1, head - 1]):
        st.session_state[ui.LAYER_KEY] = layer
        st.session_state[ui.HEAD_KEY] = head


st.subheader(_("2 · Every head, one statistic"))
link.bind(ui.STAT_KEY, ui.STAT_KEY, link.one_of(result.stats))
if st.session_state.get(ui.STAT_KEY) not in result.stats:
    st.session_state[ui.STAT_KEY] = result.stats[0]
c_stat, c_layer, c_head = st.columns([3, 1, 1])
with c_stat:
    stat = st.selectbox(_("Statistic"), result.stats, key=ui.STAT_KEY, format_func=ui.stat_label)
link.publish(**{ui.STAT_KEY: None if stat == result.stats[0] else stat})
with c_layer:
    link.check(ui.LAYER_KEY, link.whole(1, L))
    layer = int(st.number_input(_("Layer"), 1, L, 1, key=ui.LAYER_KEY, bind="query-params",
                                help=_("Layers count from 1.")))
with c_head:
    link.check(ui.HEAD_KEY, link.whole(1, H))
    head = int(st.number_input(_("Head"), 1, H, 1, key=ui.HEAD_KEY, bind="query-params",
                               help=_("Heads count from 1.")))
if np.isnan(result.count[layer - 1, head - 1]):
    st.warning(_("Layer {layer} has {n} heads: head {n} is shown.").format(layer=layer, n=_heads_in(layer)))
    head = _heads_in(layer)
st.caption(ui.definition(stat, modality))
unit = ui.unit(stat, modality)
st.plotly_chart(figure("grid", stat, layer, head, build=lambda: vc.stat_grid(
    result.mean[stat], selected=(layer, head), colorbar=unit,
    title=_("{stat}: corpus mean per layer and head").format(stat=ui.stat_label(stat)))),
    key="cp_grid", on_select=lambda: _pick("cp_grid"), selection_mode="points")
st.caption(ui.sentences(_("Rows: layers, columns: heads, both counted from 1; the outlined cell is the picked head. "
                          "Click a cell to pick that head."), _(
    "Swin: the rows are the blocks of every stage in order, and each stage has its own number of heads (blank cells: "
    "heads a block does not have).") if result.kind == "swin" else ""))

# ------------------------------------------------------------------------------------------------ head map
st.subheader(_("3 · The head map"))
hm = meta.get("head_map")
if hm and len(hm.get("heads", [])) >= 3:
    st.plotly_chart(figure("map", layer, head, build=lambda: vc.head_map(
        hm["heads"], np.asarray(hm["xy"]), selected=(layer, head),
        title=_("Heads placed by how alike they attend"))), key="cp_map", on_select=lambda: _pick("cp_map"),
        selection_mode="points")
    st.caption(ngettext(
        "Each dot is a head, coloured by its layer; two heads are close when their attention on the same tokens is "
        "alike: multidimensional scaling of the Jensen–Shannon distances between their attention rows (Clark et al. "
        "2019, Fig. 6), averaged over the first {n} input. Click a dot to pick that head.",
        "Each dot is a head, coloured by its layer; two heads are close when their attention on the same tokens is "
        "alike: multidimensional scaling of the Jensen–Shannon distances between their attention rows (Clark et al. "
        "2019, Fig. 6), averaged over the first {n} inputs. Click a dot to pick that head.",
        int(hm.get("inputs", 0))).format(n=int(hm.get("inputs", 0))))
elif result.kind == "swin":
    st.info(_("No head map for a Swin Transformer: heads of different stages attend within different windows over "
              "different token grids, so their attention rows are not over the same tokens and cannot be compared."))
else:
    st.info(_("No head map: it needs at least 3 heads and one input whose attention rows were kept."))

# ------------------------------------------------------------------------------------------------ the picked head
st.subheader(_("4 · Layer {layer}, head {head}").format(layer=layer, head=head))
value = result.mean[stat][layer - 1, head - 1]
spread = result.std[stat][layer - 1, head - 1]
count = int(result.count[layer - 1, head - 1])
st.markdown(_("**{stat}**: mean {value:.4f}, standard deviation {std:.4f} over {count} inputs ({unit}).").format(
    stat=ui.stat_label(stat), value=value, std=spread, count=count, unit=unit)
    if not np.isnan(value) else _("**{stat}** is undefined for this head on every input.").format(
    stat=ui.stat_label(stat)))
c_prof, c_ext = st.columns([2, 3])
with c_prof:
    prof = result.profile[layer - 1, head - 1]
    if modality == "text":
        st.plotly_chart(figure("profile", layer, head, build=lambda: vc.profile_bars(
            prof, title=_("Mean weight by relative position"))), key="cp_profile")
        st.caption(_("The head's mean weight on the token at each offset from the query (−8 to +8 tokens; 0 is the "
                     "query itself), over every query of every input."))
    else:
        st.plotly_chart(figure("profile", layer, head, build=lambda: vc.profile_grid(
            prof, title=_("Mean weight by patch offset"))), key="cp_profile")
        st.caption(_("The head's mean weight on the patch at each offset (rows and columns −3 to +3) from the query "
                     "patch, outlined at (0, 0); right and down are positive. Swin: within each window."))
top, low = result.extremes(stat, layer, head)


def _extreme_list(items: list[tuple]) -> int:
    """Each input with its value and a link that opens it on its model's page; returns how many have no link."""
    unlinked = 0
    for input_id, label, v in items:
        where = ui.input_link(result, label)
        shown = ui.input_label(label) if modality != "text" else label
        shown = shown if len(shown) <= 90 else shown[:89] + "…"
        text = _("{value:.4f} · input {id}: {input}").format(value=v, id=input_id, input=shown)
        if where is None:
            unlinked += 1
            st.markdown("- " + text.replace("`", "'"))
        else:
            page, params = where
            st.page_link(page, label=text, query_params=params, icon=":material/open_in_new:")
    return unlinked


with c_ext:
    st.markdown("**" + _("Highest {stat}").format(stat=ui.stat_label(stat)) + "**")
    unlinked = _extreme_list(top)
    st.markdown("**" + _("Lowest {stat}").format(stat=ui.stat_label(stat)) + "**")
    unlinked += _extreme_list(low)
    shown_inputs = len(top) + len(low)
    said = [_("Inputs count from 0.")]
    if unlinked < shown_inputs:
        said.append(_("Each link opens that input on its model's page."))
    if unlinked and modality == "text":
        said.append(_("A line longer than {n:,} characters does not fit in a link.").format(n=link.MAX_TEXT))
    elif unlinked:
        said.append(_("Only the bundled images open by a link; upload the others on the model's page."))
    st.caption(ui.sentences(*said))

# ------------------------------------------------------------------------------------------------ distance
st.subheader(_("5 · Mean attention distance against depth"))
if "distance" in result.stats:
    dist_unit = _("mean attention distance (tokens)") if modality == "text" else _(
        "mean attention distance (pixels)")
    st.plotly_chart(figure("depth", layer, head, build=lambda: vc.distance_depth(
        result.mean["distance"], result.std["distance"], dist_unit, selected=(layer, head))), key="cp_depth")
    st.caption(ui.sentences(
        _("One dot per head at its layer (spread a little sideways), its corpus mean; the bars: its standard "
          "deviation over the corpus. Dosovitskiy et al. (2021, Fig. 7) drew this over 128 images: in trained "
          "ViTs some heads attend far already in the lowest layers while others stay local, and the distance "
          "grows with depth."),
        _("Measured in pixels of the model's input crop.") if modality != "text" else ""))

# ------------------------------------------------------------------------------------------------ bad inputs
st.subheader(_("6 · Inputs that could not be used"))
if not bad:
    st.caption(_("None: every input ran."))
else:
    st.caption(ngettext("{n} input was left out of every figure above:", "{n} inputs were left out of every figure "
                        "above:", len(bad)).format(n=len(bad)))
    for b in bad[:200]:
        shown = str(b.get("input", ""))
        shown = shown if len(shown) <= 80 else shown[:79] + "…"
        st.markdown("- " + _("input {id} ({input}): {message}").format(
            id=b["input_id"], input=f"`{shown}`" if shown.strip() else _("empty"),
            message=ui.bad_message(b["error"], b["message"])))
