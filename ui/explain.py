"""The ViT page's section "What the prediction rests on": raw attention, rollout, attention flow and gradient-weighted
relevance side by side for a chosen class, each scored by the perturbation test on this very image; and switching
heads off (models/analysis/relevance.py, models/capture/explain.py, models/capture/ablation.py)."""
from __future__ import annotations

import threading
import time

import numpy as np
import streamlit as st

from models.analysis import attention_math as am
from models.analysis import relevance as rel
from models.capture import ablation, explain, vision
from ui import common, link, present
from ui import vision as uv
from ui.i18n import N_, _
from ui.messages import word
from viz import explain as vx
from viz import vit as vi

MAX_TOKENS = 1024  # every block's (heads, N, N) maps and their gradients are kept: above this, refused
FLOW_AUTO_TOKENS = 130  # attention flow by itself up to here (ViT-B, 197 tokens: 6–8 s on 2 busy CPU cores: a button)
AUTO_PARAMS = 6_000_000  # perturbation scores and the importance grid by themselves up to ViT-Ti's size; above, buttons
FRACTIONS = tuple(round(0.1 * i, 1) for i in range(10))  # patches removed: 0 %, 10 %, … 90 %
METHODS = {  # key: (name, what it assumes)
    "raw": (N_("Raw attention"), N_("Last layer, CLS's weights, heads averaged: assumes the last mixing step says "
                                    "what the class rests on, and that every head counts the same.")),
    "rollout": (N_("Rollout"), N_("Abnar & Zuidema (2020): every layer's heads averaged, 0.5·A + 0.5·I for the "
                                  "residual, multiplied: assumes attention alone moves information, split evenly.")),
    "flow": (N_("Attention flow"), N_("Abnar & Zuidema (2020): the same graph read as a flow network, each patch's "
                                      "value its maximum flow to CLS: assumes capacity, not products, limits "
                                      "what passes.")),
    "relevance": (N_("Relevance"), N_("Chefer et al. (2021): each layer's attention weighted by its gradient for "
                                      "this class, negatives dropped, accumulated: class-specific, assumes the "
                                      "first-order gradient tells which weights matter.")),
}
EXTRA = {
    "grad_rollout": (N_("Gradient rollout"), N_("Jacob Gildenblat's vit-explain: rollout of (attention × gradient), "
                                                "negatives dropped, 90 % of the smallest weights discarded.")),
    "attn_grad": (N_("Attention × gradient"), N_("The last layer only: CLS's row of (attention × gradient), "
                                                 "negatives dropped, heads averaged.")),
}


@st.cache_resource(max_entries=2, show_spinner=False)  # every block's maps and gradients: ~45 MB for ViT-B
def _gradients(run_key: str, target: int, _model, _x) -> explain.GradCapture:
    return explain.vit_gradients(_model, _x, target)


@st.cache_resource(max_entries=8, show_spinner=False)
def _maps(run_key: str, target: int, _cap: explain.GradCapture) -> dict[str, np.ndarray]:
    """Each method's CLS row over the patches, (rows·cols,)."""
    p = _cap.num_prefix
    att, grads = _cap.attention, _cap.grads
    return {
        "raw": att[-1].mean(0)[0, p:],
        "rollout": am.rollout(att, "mean", 0.0, rows=[0])[0, p:],
        "relevance": rel.chefer_self(att, grads)[0, p:],
        "grad_rollout": rel.grad_rollout(att, grads, discard_ratio=0.9)[p:],
        "attn_grad": rel.attention_x_gradient(att[-1], grads[-1])[p:],
    }


@st.cache_resource(max_entries=16, show_spinner=False)
def _slot(kind: str, *key) -> dict:
    """A place, shared by every session, for one long result computed with a progress bar (a cached function may
    not draw: Streamlit replays what it drew). Computed once under the slot's lock; the cache bounds the slots."""
    return {"lock": threading.Lock(), "value": None}


def _once(slot: dict, compute):
    with slot["lock"]:
        if slot["value"] is None:
            slot["value"] = compute()
        return slot["value"]


def timed(call):
    """`call` as a function that returns (its result, the seconds it took)."""
    def compute():
        t0 = time.perf_counter()
        out = call()
        return out, time.perf_counter() - t0

    return compute


def long_result(slot: tuple, start: str, step: str, work):
    """(work(progress), the seconds it took), computed once in the shared slot `slot` (kind, *key) under a progress
    bar: `start` until the first step, then `step` with {done} and {total} as work calls progress(done, total). The
    bar is removed afterwards, also when work raises."""
    bar = st.progress(0.0, text=start)
    try:
        return _once(_slot(*slot), timed(lambda: work(
            lambda d, t: bar.progress(d / t, text=step.format(done=d, total=t)))))
    finally:
        bar.empty()


def _vit_flow(cap: explain.GradCapture, progress) -> np.ndarray:
    """Attention flow from every patch to CLS (the prefix tokens left out)."""
    p, n = cap.num_prefix, cap.attention[0].shape[-1]
    fused = [a.mean(0) for a in cap.attention]
    return rel.attention_flow(fused, target=0, inputs=range(p, n), progress=progress)[p:]


@st.cache_resource(max_entries=32, show_spinner=False)
def _scores(run_key: str, target: int, method: str, _model, _x, _scores_map) -> dict:
    """Positive and negative perturbation AUCs of one map, and their curves. Patches with equal values go in a random
    order (seed 0; models/analysis/faithfulness.tie_broken), as in the benchmark: attention flow ties many patches at
    1, and row order would remove the top rows first."""
    from models.analysis.faithfulness import tie_broken

    ranked = tie_broken(np.asarray(_scores_map), np.random.default_rng(0))
    pos = explain.perturbation_curve(_model, _x, ranked, target, True, FRACTIONS)
    neg = explain.perturbation_curve(_model, _x, ranked, target, False, FRACTIONS)
    return {"pos": rel.area_under_curve(FRACTIONS, pos), "neg": rel.area_under_curve(FRACTIONS, neg),
            "pos_curve": pos, "neg_curve": neg}


@st.cache_resource(max_entries=8, show_spinner=False)
def _random(run_key: str, target: int, _model, _x, n_patches: int) -> dict:
    """The random-order baseline: the mean curve over 3 random orders (seeds 0, 1, 2)."""
    curves = [explain.perturbation_curve(_model, _x, np.zeros(n_patches), target, True, FRACTIONS,
                                         rng=np.random.default_rng(s)) for s in range(3)]
    mean = np.mean(curves, axis=0)
    return {"auc": rel.area_under_curve(FRACTIONS, mean), "curve": mean}


def _params(model) -> int:
    return sum(p.numel() for p in model.module.parameters())


def _asked(key: str, run_key: str, model) -> bool:
    """Small models (≤ AUTO_PARAMS) go ahead by themselves; a larger one's forward and backward pass (and the memory
    its autograd graph takes) waits for a button, once per image and model."""
    if _params(model) <= AUTO_PARAMS or st.session_state.get(key) == run_key:
        return True
    st.info(_("For this model the section needs one more forward and a backward pass through every layer, so it "
              "waits to be asked."))
    if st.button(_("Trace the prediction back"), key=key + "_button"):
        st.session_state[key] = run_key
        st.rerun()
    return False


def _top_indices(names: list[str], trace) -> list[tuple[int, float]]:
    """(class index, probability) of the trace's top classes, in their order: the indices the run recorded (a
    name the classifier has twice, ImageNet's "crane" or "maillot", is then still the right class); for a trace
    without them, a name's first index not taken yet."""
    if len(getattr(trace, "top_k_indices", [])) == len(trace.top_k):
        return [(int(i), float(p)) for i, (_c, p) in zip(trace.top_k_indices, trace.top_k)]
    out: list[tuple[int, float]] = []
    taken: set[int] = set()
    for c, p in trace.top_k:
        i = next((j for j, n in enumerate(names) if n == c and j not in taken), None)
        if i is not None:
            out.append((i, float(p)))
            taken.add(i)
    return out


def _class_picker(prefix: str, trace, names: list[str], run_key: str) -> int:
    """The select "Class to explain" over every class of the classifier (key `{prefix}_class`, also the link's
    parameter, a class index from 0): the top classes first, in their order and with their probabilities, then the
    rest by class index. The default is the predicted class; another image or model starts again from its predicted
    class, unless a link names one. Returns the class index."""
    key = f"{prefix}_class"
    top = _top_indices(names, trace)
    prob = dict(top)
    options = [str(i) for i, _p in top] + [str(i) for i in range(len(names)) if i not in prob]
    if st.session_state.get(key + "_run") != run_key or st.session_state.get(key) not in options:
        st.session_state[key] = options[0]  # another image or model: its predicted class (a link may change it)
        st.session_state[key + "_run"] = run_key
    link.bind(key, key, link.one_of(options))

    def label(i: str) -> str:
        name = uv.class_label(names[int(i)])
        if int(i) not in prob:
            return name
        return _("{label} · {percent:.1f} %").format(label=name, percent=100 * prob[int(i)])

    target = st.selectbox(_("Class to explain"), options, key=key, format_func=label)
    link.publish(**{key: None if target == options[0] else target})
    return int(target)


def _maps_and_scores(prefix: str, methods: dict, maps: dict, trace, model, x, run_key: str, target: int,
                     grid: tuple[int, int], num_prefix: int, flow: tuple[int, int, int], flow_s: float | None,
                     flow_key: tuple) -> None:
    """The four maps side by side (two by two when projecting), each with its note and its perturbation scores on
    this image; the attention flow's button in its slot when it waits to be asked, its time when computed; the
    curves against a random order and the "worse than random" sentence, or the button that asks for them. Shared by
    the ViT and Swin sections; widget and figure keys start with `prefix` ("vit_x", "swin_x").

    `maps`: method key → scores over the patches (rows·cols, row-major; "flow" absent while it waits). `flow`: (number
    of maximum flows, layers of its graph, nodes per layer), for the sentence that asks for it."""
    asked = st.session_state.get(f"{prefix}_asked", [])
    score_key = (f"{prefix}_scores", run_key, target)
    want_scores = _params(model) <= AUTO_PARAMS or score_key in asked
    patch_px = float(trace.patch_size)

    def scores(key: str) -> dict:
        return _scores(run_key, target, key, model, x, np.asarray(maps[key]).reshape(-1))

    cols = [c for _row in range(2) for c in st.columns(2)] if present.on() else st.columns(4)
    for col, key in zip(cols, methods):
        title, note = methods[key]
        with col:
            if key not in maps:
                st.markdown(f"**{_(title)}**")
                st.caption(_(note))
                st.info(_("{n} maximum flows over a graph of {layers} × {tokens} nodes: several seconds or more, so "
                          "it waits to be asked.").format(n=flow[0], layers=flow[1], tokens=flow[2]))
                if st.button(_("Compute attention flow"), key=f"{prefix}_flow_go"):
                    st.session_state.setdefault(f"{prefix}_asked", []).append(flow_key)
                    st.rerun()
                continue
            st.plotly_chart(common.cached_figure(prefix, run_key, (key, target), lambda m=maps[key], t=title: (
                vi.attention_overlay(trace.image, np.asarray(m).reshape(grid), patch_px, num_prefix, title=_(t),
                                     label=_("value"), height=300))), key=f"{prefix}_map_{key}")
            st.caption(_(note))
            if want_scores:
                s = scores(key)
                st.caption(_("Perturbation on this image: removing the most relevant patches first leaves an area "
                             "of {pos} under the class's probability (lower is better); least relevant first, "
                             "{neg} (higher is better).").format(pos=f"{s['pos']:.3f}", neg=f"{s['neg']:.3f}"))
    if "flow" in maps:
        present.caption(_("Attention flow took {seconds:.1f} s ({n} maximum flows, SciPy).").format(
            seconds=flow_s, n=flow[0]))
    if want_scores:
        base = _random(run_key, target, model, x, grid[0] * grid[1])
        curves = {_(methods[k][0]): scores(k)["pos_curve"] for k in methods if k in maps}
        curves[_("Random order")] = base["curve"]
        st.plotly_chart(common.cached_figure(prefix, run_key, ("curves", target, tuple(maps)), lambda: (
            vx.perturbation_curves(FRACTIONS, curves, title=_("Removing the most relevant patches first")))),
            key=f"{prefix}_curves")
        worse = [_(methods[k][0]) for k in methods if k in maps and scores(k)["pos"] > base["auc"]]
        said = _("A random order of the same patches leaves an area of {auc} (mean of 3 orders). Patches are removed "
                 "by setting their pixels to 0 in the normalised input (the dataset's mean colour), as Chefer et al. "
                 "(2021, §4) do; patches with equal values go in a random order.").format(auc=f"{base['auc']:.3f}")
        if worse:
            said += " " + _("Worse than a random order on this image: {methods}.").format(methods=_(", ").join(worse))
        present.caption(said)
    else:
        st.info(_("The perturbation test reruns the model {n} times per method; for this model it waits to be "
                  "asked.").format(n=2 * len(FRACTIONS)))
        if st.button(_("Measure faithfulness on this image"), key=f"{prefix}_scores_go"):
            st.session_state.setdefault(f"{prefix}_asked", []).append(score_key)
            st.rerun()


def vit_section(trace, name: str, weights: str, device: str, size: int | None, image, run_key: str) -> None:
    """Section 8 of the ViT page."""
    n_tokens = len(trace.token_labels)
    P = trace.num_prefix_tokens
    if not trace.top_k:
        st.info(_("This model has no classifier: there is no class whose evidence could be traced."))
        return
    if "CLS" not in trace.token_labels[:P]:
        st.info(_("These methods follow the CLS token, which this model does not have."))
        return
    if n_tokens > MAX_TOKENS:
        st.info(_("At {tokens} tokens every layer's maps and their gradients would be kept whole; these methods are "
                  "offered up to {limit} tokens.").format(tokens=f"{n_tokens:,}", limit=f"{MAX_TOKENS:,}"))
        return
    model = uv.cached_model(name, weights, device, size)
    x, _crop = vision.preprocess(model, image)
    names = list(model.class_names)
    target = _class_picker("vit_x", trace, names, run_key)
    if not _asked("vit_x_go", run_key, model):
        return
    try:
        with st.spinner(_("One forward and one backward pass…")):
            cap = _gradients(run_key, target, model, x)
    except explain.ExplainError as e:
        st.warning(word(e))
        return
    maps = dict(_maps(run_key, target, cap))
    grid = tuple(cap.grid)
    patch_px = float(trace.patch_size)
    flow_key = ("vit_x_flow", run_key)
    flow_s = None
    if n_tokens <= FLOW_AUTO_TOKENS or flow_key in st.session_state.get("vit_x_asked", []):
        maps["flow"], flow_s = long_result(("flow", run_key), _("Attention flow: one maximum flow per patch…"),
                                           _("Attention flow: {done} of {total} patches"),
                                           lambda progress: _vit_flow(cap, progress))
    _maps_and_scores("vit_x", METHODS, maps, trace, model, x, run_key, target, grid, P,
                     (n_tokens - P, len(cap.attention) + 1, n_tokens), flow_s, flow_key)
    with st.expander(_("More methods: gradient rollout, attention × gradient")):
        cols = st.columns(2)
        for col, key in zip(cols, EXTRA):
            title, note = EXTRA[key]
            with col:
                st.plotly_chart(common.cached_figure("vit_x", run_key, (key, target), lambda m=maps[key], t=title: (
                    vi.attention_overlay(trace.image, np.asarray(m).reshape(grid), patch_px, P, title=_(t),
                                         label=_("value"), height=300))), key=f"vit_x_map_{key}")
                st.caption(_(note))
    ablation_view(trace, model, x, target, names, run_key)


def ablation_view(trace, model, x, target: int, names: list[str], run_key: str) -> None:
    st.markdown("**" + _("Switch heads off") + "**")
    blocks = model.module.blocks
    options = [f"{layer + 1}.{head + 1}" for layer, b in enumerate(blocks) for head in range(b.attn.num_heads)]
    chosen = st.multiselect(_("Heads to switch off (layer.head, from 1)"), options, key="vit_x_off",
                            placeholder=_("pick heads"))
    if chosen:
        heads = [(int(c.split(".")[0]) - 1, int(c.split(".")[1]) - 1) for c in chosen]
        probs = ablation.ablate(model, x, heads)
        order = np.argsort(-probs)[:5]
        c1, c2 = st.columns(2)
        c1.plotly_chart(common.cached_figure("vit_x", run_key, ("before",), lambda: vi.top_k_bars(
            [(uv.class_label(c), p) for c, p in trace.top_k], title=_("As computed"))), key="vit_x_before")
        c2.plotly_chart(common.cached_figure("vit_x", run_key, ("after", tuple(sorted(heads))), lambda: vi.top_k_bars(
            [(uv.class_label(names[i]), float(probs[i])) for i in order],
            title=_("With {n} heads off").format(n=len(heads)))), key="vit_x_after")
        present.caption(_("Each chosen head's output is set to zero before the output projection W_O, and the model "
                          "runs again on the same image; the weights are not changed."))
    go = _params(model) <= AUTO_PARAMS or st.session_state.get("vit_x_importance") == run_key
    n = len(options)
    if not go:
        st.caption(_("The importance grid reruns the model {n} times (once per head, 16 per batch).").format(n=n))
        if st.button(_("Compute the importance of every head"), key="vit_x_importance_go"):
            st.session_state["vit_x_importance"] = run_key
            st.rerun()
        return
    grid, seconds = long_result(("importance", run_key, target), _("Switching each head off in turn…"),
                                _("Switching each head off in turn: {done} of {total}"),
                                lambda progress: ablation.importance(model, x, target, batch=16, progress=progress))
    base = float(ablation.ablate(model, x, [])[target])
    st.plotly_chart(common.cached_figure("vit_x", run_key, ("importance", target), lambda: vx.importance_grid(
        base - grid, title=_("Drop in the class's probability with each head off"))), key="vit_x_importance_grid")
    present.caption(_("Each cell: the class's probability ({base}) minus its probability with that head alone "
                      "switched off. {n} reruns in {seconds:.1f} s.").format(base=f"{base:.1%}", n=n,
                                                                              seconds=seconds))


# ------------------------------------------------------------------------------------------------ Swin
SWIN_FLOW_AUTO_PATCHES = 1024  # Swin's windows keep its flow graph sparse: the demo's 256 patches take 0.2 s
SWIN_METHODS = {  # key: (name, what it assumes); every map is on stage 1's patch grid (models/capture/explain_swin.py)
    "raw": (N_("Raw attention"), N_("Last block: the weight each token receives, heads and queries averaged (Swin "
                                    "has no CLS: its classifier averages the last stage's tokens), spread back over "
                                    "the patches each merged token covers.")),
    "rollout": (N_("Rollout"), N_("Every block's window attention on the image grid, 0.5·A + 0.5·I, multiplied; "
                                  "carried across patch merging by giving each of a merged token's 4 sources a "
                                  "quarter: assumes attention alone moves information.")),
    "flow": (N_("Attention flow"), N_("Abnar & Zuidema (2020) on the same layered graph (merging edges carry a "
                                      "quarter each), to the averaged last stage: assumes capacity limits what "
                                      "passes.")),
    "relevance": (N_("Relevance"), N_("Chefer et al. (2021)'s rule applied block by block to the window attention "
                                      "weighted by its gradient for this class, carried across patch merging as "
                                      "rollout is (an extension: the paper does not cover Swin).")),
}


@st.cache_resource(max_entries=2, show_spinner=False)
def _swin_gradients(run_key: str, target: int, _model, _x):
    from models.capture import explain_swin

    return explain_swin.swin_gradients(_model, _x, target)


@st.cache_resource(max_entries=8, show_spinner=False)
def _swin_maps(run_key: str, target: int, _cap) -> dict[str, np.ndarray]:
    from models.capture import explain_swin as es

    a, g, b = _cap.attention, _cap.grads, _cap.blocks
    return {"raw": es.raw_attention(a, b), "rollout": es.rollout(a, b), "relevance": es.relevance(a, g, b)}


def swin_section(trace, name: str, weights: str, device: str, image, run_key: str) -> None:
    """The Swin page's section "What the prediction rests on"."""
    if not trace.top_k:
        st.info(_("This model has no classifier: there is no class whose evidence could be traced."))
        return
    model = uv.cached_model(name, weights, device)
    x, _crop = vision.preprocess(model, image)
    names = list(model.class_names)
    target = _class_picker("swin_x", trace, names, run_key)
    if not _asked("swin_x_go", run_key, model):
        return
    try:
        with st.spinner(_("One forward and one backward pass…")):
            cap = _swin_gradients(run_key, target, model, x)
    except explain.ExplainError as e:
        st.warning(word(e))
        return
    maps = dict(_swin_maps(run_key, target, cap))
    rows, cols = cap.grid
    flow_key = ("swin_x_flow", run_key)
    flow_s = None
    if rows * cols <= SWIN_FLOW_AUTO_PATCHES or flow_key in st.session_state.get("swin_x_asked", []):
        from models.capture import explain_swin as es

        maps["flow"], flow_s = long_result(("swin_flow", run_key), _("Attention flow: one maximum flow per patch…"),
                                           _("Attention flow: {done} of {total} patches"),
                                           lambda progress: es.attention_flow(cap.attention, cap.blocks,
                                                                              progress=progress))
    _maps_and_scores("swin_x", SWIN_METHODS, maps, trace, model, x, run_key, target, (rows, cols), 0,
                     (rows * cols, len(cap.blocks) + 1, rows * cols), flow_s, flow_key)
