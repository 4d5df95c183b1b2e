"""The text pages' section "What the output rests on" (models/capture/explain_text.py): the gradient-weighted
relevance of each source or context token (Chefer, Gur & Wolf 2021) beside the raw cross- or self-attention, and
switching heads off (their output set to zero before W_O, the model rerun) with the importance grid.

Results are cached per page run (run_key) and shared by every session; a long computation with a progress bar runs
outside any cached function (a cached function may not draw) in a slot computed once under its lock (as
ui/explain.py does). Keys: ed_x_* on the encoder–decoder page, lm_x_* on the language-model page. Steps, layers
and heads count from 1 on screen; token positions from 0."""
from __future__ import annotations

import streamlit as st

from models.analysis import relevance as rel
from models.capture import explain_text as et
from models.messages import CodedError
from ui import common, link, present
from ui.explain import long_result  # the one shared slot for long results drawn with a progress bar
from ui.i18n import N_, _
from ui.messages import word
from viz import explain as vx
from viz import explain_text as vxt
from viz import text as vt

MAX_TOKENS = 1024  # every layer's (heads, N, N) maps and their gradients are kept: above this, refused
KIND_NAMES = {"encoder": N_("encoder"), "decoder": N_("decoder"), "cross": N_("cross")}
RELEVANCE_NOTE = N_("Relevance (Chefer et al., 2021): every attention map weighted by its gradient for this output "
                    "token, negatives dropped, heads averaged and accumulated through the encoder, the decoder and "
                    "cross-attention: token-specific, assumes the first-order gradient tells which weights matter.")
CROSS_NOTE = N_("Raw cross-attention: one layer's weights of this output token's query over the source tokens, heads "
                "averaged: assumes that layer's mixing says what the output rests on, and that every head counts "
                "the same.")
LM_RELEVANCE_NOTE = N_("Relevance (Chefer et al., 2021): every layer's attention weighted by its gradient for the "
                       "predicted token, negatives dropped, heads averaged and accumulated: specific to this "
                       "prediction, assumes the first-order gradient tells which weights matter.")
LM_RAW_NOTE = N_("Raw self-attention: one layer's weights of the predicted position over the context, heads "
                 "averaged: assumes that layer's mixing says what the prediction rests on, and that every head "
                 "counts the same.")
LM_ROLLOUT_NOTE = N_("Rollout (Abnar & Zuidema, 2020): every layer's heads averaged, 0.5·A + 0.5·I for the residual, "
                     "multiplied, read at the predicted position: assumes attention alone moves information, split "
                     "evenly.")
LM_FLOW_NOTE = N_("Attention flow (Abnar & Zuidema, 2020): the same layered graph read as a flow network, each token's "
                  "value its maximum flow to the predicted position in the last layer: assumes capacity, not "
                  "products, limits what passes.")
ABLATION_NOTE = N_("Each chosen head's output is set to zero before the output projection W_O, and the model runs "
                   "again on the same input; the weights are not changed.")
VIEWS = {"bars": N_("One output token"), "heatmap": N_("All output tokens")}
FRACTIONS = tuple(round(0.1 * i, 1) for i in range(10))  # tokens removed: 0 %, 10 %, … 90 % of the removable ones
FLOW_AUTO_TOKENS = 130  # attention flow (one maximum flow per token) by itself up to here, as on the ViT page
AUTO_WORK = 1_000_000_000  # parameters × tokens up to which a language model's perturbation test runs by itself
SCORE_TEXT = N_("Perturbation on this input: removing the most relevant tokens first leaves an area of {pos} under "
                "the token's probability (lower is better); least relevant first, {neg} (higher is better).")


def _tall(fig, height: int = 260):
    """A small model's grid (2 layers) drawn tall enough for its colour bar to be read."""
    if (fig.layout.height or 0) < height:
        fig.update_layout(height=height)
    return fig


def _switched_on(key: str) -> bool:
    """The section computes only when asked (a toggle, in the link): the page's other views stay as fast as they
    were, and a large model's backward pass is not run on every new text."""
    return st.toggle(_("Compute relevance and head ablation"), key=key, bind="query-params",
                     help=_("One forward and one backward pass for the relevance, one rerun per set of heads "
                            "switched off, and one per head for the importance grid."))


def _layer_ui(label: str, n_layers: int, key: str) -> int:
    """A layer picker counted from 1, the last layer by default, bound to the link's `key`; returns the index
    from 0."""
    layers = list(range(1, n_layers + 1))
    link.bind(key, key, link.one_of(layers))
    if st.session_state.get(key) not in layers:
        st.session_state[key] = n_layers
    layer = st.selectbox(label, layers, key=key)
    link.publish(**{key: None if layer == n_layers else layer})
    return layer - 1


# =========================================================================================== encoder–decoder
@st.cache_resource(max_entries=16, show_spinner=False)
def _seq2seq_relevance(run_key: str, _model, text: str) -> et.Seq2SeqRelevance:
    return et.seq2seq_relevance(_model, text)


@st.cache_resource(max_entries=32, show_spinner=False)
def _seq2seq_ablate(run_key: str, heads: tuple, _model, text: str) -> et.Seq2SeqAblation:
    return et.seq2seq_ablate(_model, text, heads)


@st.cache_resource(max_entries=32, show_spinner=False)
def _seq2seq_scores(run_key: str, step: int, layer: int, _model, _r: et.Seq2SeqRelevance) -> dict:
    """The perturbation test of the relevance and of one layer's cross-attention for output token `step` (from 0),
    with the mean of 3 random orders: a few dozen teacher-forced forwards of a demo model, batched."""
    maps = {"relevance": _r.relevance[step], "raw": _r.cross_layers[layer][step]}
    return et.seq2seq_perturbation(_model, _r.source_ids, _r.decoder_ids, step, maps, FRACTIONS)


def _score_caption(s: dict) -> None:
    st.caption(_(SCORE_TEXT).format(pos=f"{s['pos']:.3f}", neg=f"{s['neg']:.3f}"))


def _curves(prefix: str, run_key: str, key: tuple, scores: dict, names: dict[str, str], how: str) -> None:
    """The positive curves of each map beside the mean random order, and what the areas say."""
    curves = {names[k]: v["pos_curve"] for k, v in scores["maps"].items()}
    curves[_("Random order")] = scores["random"]["curve"]
    st.plotly_chart(common.cached_figure(prefix, run_key, ("curves",) + key, lambda: vx.perturbation_curves(
        FRACTIONS, curves, title=_("Removing the most relevant tokens first"), x_title=_("tokens removed"),
        y_title=_("probability of the token"))), key=f"{prefix}_curves")
    said = _("A random order of the same tokens leaves an area of {auc} (mean of 3 orders).").format(
        auc=f"{scores['random']['auc']:.3f}") + " " + how + " " + _(
        "Tokens with equal values go in a random order; {n} tokens can be removed.").format(n=scores["removable"])
    worse = [names[k] for k, v in scores["maps"].items() if v["pos"] > scores["random"]["auc"]]
    if worse:
        said += " " + _("Worse than a random order on this input: {methods}.").format(methods=_(", ").join(worse))
    present.caption(said)


def _head_label(option: str) -> str:
    kind, rest = option.split(" ", 1)
    return f"{_(KIND_NAMES[kind])} {rest}"


def _parse_head(option: str) -> tuple[str, int, int]:
    kind, rest = option.split(" ", 1)
    layer, head = rest.split(".")
    return kind, int(layer) - 1, int(head) - 1


def seq2seq_section(model, text: str, run_key: str) -> None:
    """The encoder–decoder page's section: `model` is the page's TextModel, `text` its input (read without the
    page's padding option: relevance follows the model's own unpadded input)."""
    if not _switched_on("ed_x_on"):
        return
    try:
        with st.spinner(_("One forward and one backward pass…")):
            r = _seq2seq_relevance(run_key, model, text)
    except CodedError as e:
        st.info(word(e))
        return
    src = list(r.source_tokens)
    out = list(r.output_tokens)
    n_layers = len(r.cross_layers)
    options = [str(i) for i in range(len(out))]
    # a select shows plain text: the token as it is (Plotly's escaping is for figures only)
    labels = {str(i): _("step {step}: {token}").format(step=i + 1, token=t) for i, t in enumerate(out)}
    link.bind("ed_x_token", "ed_x_token", link.one_of(options))
    if st.session_state.get("ed_x_token") not in options:
        st.session_state["ed_x_token"] = options[0]
    link.bind("ed_x_view", "ed_x_view", link.one_of(list(VIEWS)))
    view_names = {k: _(v) for k, v in VIEWS.items()}
    c1, c2, c3 = st.columns(3)
    with c1:
        view = st.radio(_("Show"), list(VIEWS), key="ed_x_view", horizontal=True, format_func=view_names.get)
    with c2:
        chosen = st.selectbox(_("Output token (steps from 1)"), options, key="ed_x_token", format_func=labels.get,
                              disabled=view == "heatmap")
    with c3:
        layer = _layer_ui(_("Cross-attention layer (from 1)"), n_layers, "ed_x_layer")
    link.publish(ed_x_token=None if chosen == options[0] else chosen, ed_x_view=None if view == "bars" else view)
    t = int(chosen)
    cross = r.cross_layers[layer]
    cross_title = _("Cross-attention · layer {layer}, heads averaged").format(layer=layer + 1)
    left, right = st.columns(2)
    scores = _seq2seq_scores(run_key, t, layer, model, r) if view == "bars" and len(src) > 1 else None
    if view == "bars":
        with left:
            st.plotly_chart(common.cached_figure("ed_x", run_key, ("rel", t), lambda: vxt.token_bars(
                r.relevance[t], src, value_label=_("relevance"),
                title=_("Relevance for step {step} ({token})").format(
                    step=t + 1, token=vt.visible_tokens([out[t]])[0]))),
                key="ed_x_rel")
            st.caption(_(RELEVANCE_NOTE))
            if scores:
                _score_caption(scores["maps"]["relevance"])
        with right:
            st.plotly_chart(common.cached_figure("ed_x", run_key, ("cross", t, layer), lambda: vxt.token_bars(
                cross[t], src, value_label=_("weight"), title=cross_title)), key="ed_x_cross")
            st.caption(_(CROSS_NOTE))
            if scores:
                _score_caption(scores["maps"]["raw"])
        st.caption(_("Probability of this output token: {p:.3f}.").format(p=r.token_probs[t]))
        if scores:
            _curves("ed_x", run_key, (t, layer), scores, {
                "relevance": _("Relevance"), "raw": _("Cross-attention · layer {layer}").format(layer=layer + 1)},
                _("A source token is removed by writing <pad> in its place, which the model masks out of every "
                  "attention (its position stays, so the others keep theirs); </s> stays. The probability is the "
                  "token's, teacher-forced after the same earlier output (Chefer et al., 2021, §4, on tokens)."))
    else:
        rows, cols = _("output token"), _("source token")
        with left:
            st.plotly_chart(common.cached_figure("ed_x", run_key, ("rel map",), lambda: vxt.token_heatmap(
                r.relevance, out, src, title=_("Relevance of each source token for each output token"),
                value_label=_("relevance"), row_title=rows, col_title=cols)), key="ed_x_rel_map")
            st.caption(_(RELEVANCE_NOTE))
        with right:
            st.plotly_chart(common.cached_figure("ed_x", run_key, ("cross map", layer), lambda: vxt.token_heatmap(
                cross, out, src, title=cross_title, value_label=_("weight"), row_title=rows, col_title=cols)),
                key="ed_x_cross_map")
            st.caption(_(CROSS_NOTE))
    present.caption(_("Output token at step k is written by decoder position k − 1 (positions from 0); the source "
                      "tokens are the model's input without padding, </s> included."))
    _seq2seq_ablation(model, text, run_key, r)


def _seq2seq_ablation(model, text: str, run_key: str, r: et.Seq2SeqRelevance) -> None:
    st.markdown("**" + _("Switch heads off") + "**")
    cfg = model.transformer.cfg
    counts = {"encoder": cfg.n_encoder_layers, "decoder": cfg.n_decoder_layers, "cross": cfg.n_decoder_layers}
    options = [f"{k} {layer + 1}.{h + 1}" for k in et.KINDS for layer in range(counts[k]) for h in range(cfg.n_heads)]
    names = {o: _head_label(o) for o in options}  # worded now, in this run's language
    chosen = st.multiselect(_("Heads to switch off (kind, layer.head, from 1)"), options, key="ed_x_off",
                            format_func=names.get, placeholder=_("pick heads"))
    if chosen:
        heads = tuple(sorted(_parse_head(c) for c in chosen))
        a = _seq2seq_ablate(run_key, heads, model, text)
        c1, c2 = st.columns(2)
        with c1:
            st.markdown(_("As computed:"))
            st.code(a.base_output, language=None)
        with c2:
            st.markdown(_("With {n} heads off:").format(n=len(heads)))
            st.code(a.output, language=None)
        c1, c2 = st.columns(2)
        c1.plotly_chart(common.cached_figure("ed_x", run_key, ("before", heads), lambda: vxt.output_probabilities(
            a.base_tokens, a.base_probs, title=_("As computed"), name=_("every head on"),
            compare=a.base_token_probs_ablated, compare_name=_("the same tokens, heads off"))),
            key="ed_x_before")
        c2.plotly_chart(common.cached_figure("ed_x", run_key, ("after", heads), lambda: vxt.output_probabilities(
            a.output_tokens, a.token_probs, title=_("With {n} heads off").format(n=len(heads)))),
            key="ed_x_after")
        present.caption(_(ABLATION_NOTE) + " " + _("Left: the model's own output, each token's probability with "
                                                    "every head on and, teacher-forced, with the chosen heads off; "
                                                    "right: what greedy decoding writes with them off."))
    imp, seconds = long_result(("ed_importance", run_key), _("Switching each head off in turn…"),
                               _("Switching each head off in turn: {done} of {total}"),
                               lambda progress: et.seq2seq_importance(model, text, progress=progress))
    cols = st.columns(len(et.KINDS))
    for col, kind in zip(cols, et.KINDS):
        drop = (imp.base[None, None, :] - imp.probs[kind]).mean(axis=-1)
        with col:
            st.plotly_chart(common.cached_figure("ed_x", run_key, ("importance", kind), lambda d=drop, k=kind: (
                _tall(vx.importance_grid(d, title=_("Heads: {kind}").format(kind=_(KIND_NAMES[k])))))),
                key=f"ed_x_importance_{kind}")
    total = sum(v.shape[0] * v.shape[1] for v in imp.probs.values())
    present.caption(_("Each cell: the drop in the probability of the model's own output tokens (teacher-forced), "
                      "averaged over the {t} output tokens, when that head alone is switched off. {n} reruns in "
                      "{seconds:.1f} s.").format(t=len(imp.base), n=total, seconds=seconds))


# ============================================================================================ language models
@st.cache_resource(max_entries=16, show_spinner=False)
def _lm_relevance(run_key: str, mask_index: int, _lm, text: str) -> et.LMRelevance:
    return et.lm_relevance(_lm, text, mask_index)


@st.cache_resource(max_entries=32, show_spinner=False)
def _lm_scores(run_key: str, mask_index: int, layer: int, _lm, _r: et.LMRelevance) -> dict:
    """The perturbation test of the relevance and of one layer's raw row, with the mean of 3 random orders."""
    return et.lm_perturbation(_lm, _r, {"relevance": _r.relevance, "raw": _r.raw_layers[layer]}, FRACTIONS)


@st.cache_resource(max_entries=16, show_spinner=False)
def _lm_rollout(run_key: str, mask_index: int, _r: et.LMRelevance):
    from models.analysis import attention_math as am

    return am.rollout(_r.attention, rows=[_r.position])[0]


@st.cache_resource(max_entries=32, show_spinner=False)
def _lm_more_scores(run_key: str, mask_index: int, method: str, _lm, _r: et.LMRelevance, _map) -> dict:
    return et.lm_perturbation(_lm, _r, {method: _map}, FRACTIONS)


def _lm_more(lm, run_key: str, mask_index: int, r: et.LMRelevance, score: bool) -> None:
    """Rollout and attention flow to the predicted position (the "chosen query" of Abnar & Zuidema), with their
    perturbation scores when the others have them; flow on a button above FLOW_AUTO_TOKENS."""
    n = len(r.tokens)
    with st.expander(_("More methods: rollout, attention flow")):
        maps = {"rollout": _lm_rollout(run_key, mask_index, r)}
        flow_key = (run_key, mask_index)
        if n <= FLOW_AUTO_TOKENS or st.session_state.get("lm_x_flow") == flow_key:
            maps["flow"], flow_s = long_result(
                ("lm_flow", run_key, mask_index), _("Attention flow: one maximum flow per token…"),
                _("Attention flow: {done} of {total} tokens"),
                lambda progress: rel.attention_flow([a.mean(0) for a in r.attention], target=r.position,
                                                    progress=progress))
        cols = st.columns(2)
        for col, (key, title, note) in zip(cols, (("rollout", _("Rollout"), LM_ROLLOUT_NOTE),
                                                  ("flow", _("Attention flow"), LM_FLOW_NOTE))):
            with col:
                if key not in maps:
                    st.markdown(f"**{title}**")
                    st.caption(_(note))
                    st.info(_("{n} maximum flows over a graph of {layers} × {tokens} nodes: several seconds or "
                              "more, so it waits to be asked.").format(n=n, layers=len(r.attention) + 1, tokens=n))
                    if st.button(_("Compute attention flow"), key="lm_x_flow_go"):
                        st.session_state["lm_x_flow"] = flow_key
                        st.rerun()
                    continue
                st.plotly_chart(common.cached_figure("lm_x", run_key, (key, mask_index), lambda m=maps[key], t=title: (
                    vxt.token_bars(m, r.tokens, value_label=_("value"), highlight=r.position, title=t))),
                    key=f"lm_x_{key}")
                st.caption(_(note))
                if score:
                    _score_caption(_lm_more_scores(run_key, mask_index, key, lm, r, maps[key])["maps"][key])
        if "flow" in maps:
            present.caption(_("Attention flow took {seconds:.1f} s ({n} maximum flows, SciPy).").format(
                seconds=flow_s, n=n))


def _lm_work(lm, n_tokens: int) -> int:
    return sum(p.numel() for p in lm.module.parameters()) * n_tokens


@st.cache_resource(max_entries=32, show_spinner=False)
def _lm_ablate(run_key: str, mask_index: int, heads: tuple, _lm, text: str) -> et.LMAblation:
    return et.lm_ablate(_lm, text, heads, mask_index)


def _ids(lm, text: str) -> list[int]:
    from models.language.run import _encode

    return _encode(lm, text)[0]


def _mask_count(lm, text: str) -> int:
    mask_id = getattr(lm.tokenizer, "mask_token_id", None)
    if mask_id is None:
        return 0
    return sum(1 for i in _ids(lm, text) if i == mask_id)


def lm_section(lm, text: str, run_key: str) -> None:
    """The language-model page's section: a masked LM's [MASK] filler or a causal LM's next token after the text."""
    mask_index = 0
    try:
        et._check_lm(lm)  # a family or model these methods do not cover: its coded message, before anything else
        if not _switched_on("lm_x_on"):
            return
        if lm.family == "encoder":
            n_masks = _mask_count(lm, text)
            if n_masks > 1:
                options = list(range(n_masks))
                link.bind("lm_x_mask", "lm_x_mask", link.one_of([str(i + 1) for i in options]),
                          to_state=lambda v: int(v) - 1)
                if st.session_state.get("lm_x_mask") not in options:
                    st.session_state["lm_x_mask"] = 0
                mask_index = st.selectbox(_("Mask to explain (from 1)"), options, key="lm_x_mask",
                                          format_func=lambda i: str(i + 1))
                link.publish(lm_x_mask=None if mask_index == 0 else mask_index + 1)
        n_tokens = len(_ids(lm, text))
        if n_tokens > MAX_TOKENS:
            st.info(_("At {tokens} tokens every layer's maps and their gradients would be kept whole; relevance is "
                      "offered up to {limit} tokens.").format(tokens=f"{n_tokens:,}", limit=f"{MAX_TOKENS:,}"))
            return
        with st.spinner(_("One forward and one backward pass…")):
            r = _lm_relevance(run_key, mask_index, lm, text)
    except CodedError as e:
        lead = _("Relevance needs a prediction to explain.") + " " if getattr(e, "code", "") in (
            "explain_text.no_mask",) else ""
        st.info(lead + word(e))
        return
    n_layers = len(r.raw_layers)
    if r.prediction == "masked":
        st.markdown(_("Explained: the filler of the mask at position {position}, {token} (probability {p:.3f}).")
                    .format(position=r.position, token=f"`{r.target_label}`", p=r.top[0][1]))
    else:
        st.markdown(_("Explained: the next token after the text, {token} (probability {p:.3f}), predicted at "
                      "position {position}.").format(position=r.position, token=f"`{r.target_label}`",
                                                      p=r.top[0][1]))
    layer = _layer_ui(_("Self-attention layer (from 1)"), n_layers, "lm_x_layer")
    score_key = (run_key, mask_index)
    want = _lm_work(lm, len(r.tokens)) <= AUTO_WORK or st.session_state.get("lm_x_scores") == score_key
    scores = None
    if want and et.lm_removable(lm, r.ids, r.position).any():
        try:
            with st.spinner(_("Removing tokens and rerunning the model…")):
                scores = _lm_scores(run_key, mask_index, layer, lm, r)
        except CodedError as e:
            st.info(word(e))
    left, right = st.columns(2)
    with left:
        st.plotly_chart(common.cached_figure("lm_x", run_key, ("rel", mask_index), lambda: vxt.token_bars(
            r.relevance, r.tokens, value_label=_("relevance"), highlight=r.position,
            title=_("Relevance for “{token}”").format(token=vt.visible_tokens([r.target_label])[0]))), key="lm_x_rel")
        st.caption(_(LM_RELEVANCE_NOTE))
        if scores:
            _score_caption(scores["maps"]["relevance"])
    with right:
        st.plotly_chart(common.cached_figure("lm_x", run_key, ("raw", mask_index, layer), lambda: vxt.token_bars(
            r.raw_layers[layer], r.tokens, value_label=_("weight"), highlight=r.position,
            title=_("Self-attention of position {position} · layer {layer}, heads averaged").format(
                position=r.position, layer=layer + 1))), key="lm_x_raw")
        st.caption(_(LM_RAW_NOTE))
        if scores:
            _score_caption(scores["maps"]["raw"])
    present.caption(_("Positions are indices from 0; the predicted position is drawn in orange: its relevance "
                      "includes the 1 that R starts from (the identity, for the residual connection)."))
    if scores:
        _curves("lm_x", run_key, (mask_index, layer), scores, {
            "relevance": _("Relevance"), "raw": _("Self-attention · layer {layer}").format(layer=layer + 1)},
            _("A context token is removed through the attention mask: no position reads it in any layer, and the "
              "others keep their positions. Special tokens and the predicted position stay. The probability is the "
              "explained token's (Chefer et al., 2021, §4, on tokens)."))
    elif not want:
        st.info(_("The perturbation test reruns the model {n} times; for this model and text it waits to be "
                  "asked.").format(n=7 * len(FRACTIONS)))
        if st.button(_("Measure faithfulness on this input"), key="lm_x_scores_go"):
            st.session_state["lm_x_scores"] = score_key
            st.rerun()
    _lm_more(lm, run_key, mask_index, r, scores is not None)
    _lm_ablation(lm, text, run_key, mask_index, r)


def _lm_ablation(lm, text: str, run_key: str, mask_index: int, r: et.LMRelevance) -> None:
    st.markdown("**" + _("Switch heads off") + "**")
    n_layers = len(r.raw_layers)
    options = [f"{layer + 1}.{h + 1}" for layer in range(n_layers) for h in range(lm.num_heads)]
    chosen = st.multiselect(_("Heads to switch off (layer.head, from 1)"), options, key="lm_x_off",
                            placeholder=_("pick heads"))
    if chosen:
        heads = tuple(sorted((int(c.split(".")[0]) - 1, int(c.split(".")[1]) - 1) for c in chosen))
        try:
            a = _lm_ablate(run_key, mask_index, heads, lm, text)
        except CodedError as e:
            st.info(word(e))
            return
        c1, c2 = st.columns(2)
        c1.plotly_chart(common.cached_figure("lm_x", run_key, ("before", mask_index), lambda: vt.top_k_figure(
            a.base_top, title=_("As computed"))), key="lm_x_before")
        c2.plotly_chart(common.cached_figure("lm_x", run_key, ("after", mask_index, heads), lambda: vt.top_k_figure(
            a.top, title=_("With {n} heads off").format(n=len(heads)))), key="lm_x_after")
        present.caption(_(ABLATION_NOTE) + " " + _("The model's own prediction, {token}: {before:.3f} with every "
                                                    "head on, {after:.3f} with the chosen heads off.").format(
            token=f"`{a.target_label}`", before=a.base_prob, after=a.prob))
    key = (run_key, mask_index)
    n = len(options)
    if st.session_state.get("lm_x_importance") != key:
        st.caption(_("The importance grid reruns the model {n} times (once per head, 16 per batch).").format(n=n))
        if st.button(_("Compute the importance of every head"), key="lm_x_importance_go"):
            st.session_state["lm_x_importance"] = key
            st.rerun()
        return
    try:
        imp, seconds = long_result(("lm_importance", run_key, mask_index), _("Switching each head off in turn…"),
                                   _("Switching each head off in turn: {done} of {total}"),
                                   lambda progress: et.lm_importance(lm, text, mask_index, progress=progress))
    except CodedError as e:
        st.info(word(e))
        return
    st.plotly_chart(common.cached_figure("lm_x", run_key, ("importance", mask_index), lambda: _tall(vx.importance_grid(
        imp.base - imp.probs, title=_("Drop in the probability of “{token}” with each head off").format(
            token=vt.visible_tokens([imp.target_label])[0])))), key="lm_x_importance_grid")
    present.caption(_("Each cell: the prediction's probability ({base}) minus its probability with that head alone "
                      "switched off. {n} reruns in {seconds:.1f} s.").format(base=f"{imp.base:.1%}", n=n,
                                                                              seconds=seconds))
