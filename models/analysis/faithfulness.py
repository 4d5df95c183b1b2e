"""How faithful is each map? The same measurements for every method, on the demo ViT and the demo Swin.

Methods (each a map over the input patches, for the predicted class):
- raw_attention: ViT: the last layer's CLS row, heads averaged. Swin: the last block's weights, heads averaged, each
  token's received weight averaged over the queries (models/capture/explain_swin.py).
- rollout: Abnar & Zuidema (2020), heads averaged, 0.5·A + 0.5·I (models/analysis/attention_math.py; Swin:
  explain_swin.rollout), the CLS row (ViT) or the mean over the last stage's tokens (Swin).
- attention_flow: Abnar & Zuidema (2020), SciPy's max-flow (models/analysis/relevance.py; Swin: explain_swin).
- relevance: Chefer, Gur & Wolf (2021), rule 5/6 (relevance.chefer_self's CLS row; Swin: explain_swin.relevance).
- grad_rollout: Gildenblat's vit-explain gradient rollout (discard ratio 0.9, mean fusion, as its default).
- attention_x_gradient: the last layer's mean over heads of (A ⊙ ∇A)⁺, CLS row (Swin: averaged over queries).
- random: uniform random numbers per patch, drawn afresh for every image: the baseline every metric is held against.

Metrics per image (CLS and other prefix tokens left out: maps are over patches only):
- box_mass: the share of the map's mass inside the object's box (attention_math.mass_inside_box: a patch the box cuts
  counts in part). Random's expected value is the box's share of the image.
- pointing: 1 when the centre of the map's largest patch lies inside the box (pointing game, Zhang et al. 2016,
  without their 15 px tolerance), else 0; where patches tie for the largest value, the share of them inside.
- positive_auc / negative_auc: Chefer et al. (2021) §4: patches set to 0 in the normalised input (the data mean), most
  relevant first (positive: lower area is better) or least relevant first (negative: higher is better), at
  fractions 0, 0.1, …, 0.9 (models/capture/explain.py perturbation_curve, the one function for every map); area by
  the trapezoid rule over the fractions, of the predicted class's probability. Tied scores are removed in a random
  order (drawn per image), not row by row.

"Worse than random" compares a method with the random map on the same images, pairwise: the mean difference in the
worse direction, and whether it exceeds twice its standard error.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

METHODS = ("raw_attention", "rollout", "attention_flow", "relevance", "grad_rollout", "attention_x_gradient",
           "random")
METRICS = ("box_mass", "pointing", "positive_auc", "negative_auc")
HIGHER_IS_BETTER = {"box_mass": True, "pointing": True, "positive_auc": False, "negative_auc": True}
FRACTIONS = tuple(np.round(np.arange(0, 1.0, 0.1), 10))
# Fresh images: make_dataset(n, 64, FRESH_SEED). Training draws make_dataset(batch, 64, s) with s = step (ViT,
# models/demo/train_vit.py: TRAIN_SEED * 1_000_003 + step, TRAIN_SEED = 0, 1,500 steps) or 1 + step (Swin,
# train_swin.py, 2,000 steps); the evaluations use 20_260_001 and 20_211_001. This seed is none of those.
FRESH_SEED = 31_415_926


def pointing_hit(patch_map: np.ndarray, box: Sequence[int], image_hw: tuple[int, int]) -> float:
    """Whether the centre of the map's largest patch lies inside the pixel box (x0, y0, x1, y1; x1, y1 exclusive): 1 or
    0. Where several patches tie for the largest value, the share of them whose centre is inside (the expected hit
    when the tie is broken at random): attention flow saturates, and many patches then carry the same, largest flow."""
    rows, cols = patch_map.shape
    m = np.asarray(patch_map, dtype=np.float64).reshape(-1)
    top = np.flatnonzero(m >= m.max() - 1e-12 * max(1.0, abs(m.max())))
    r, c = np.divmod(top, cols)
    cy, cx = (r + 0.5) * image_hw[0] / rows, (c + 0.5) * image_hw[1] / cols
    x0, y0, x1, y1 = box
    return float(np.mean((x0 <= cx) & (cx < x1) & (y0 <= cy) & (cy < y1)))


def tie_broken(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The scores' ranks (0 = smallest), equal scores put in a random order: the same order as the scores wherever
    they differ, so that the perturbation test does not remove tied patches top row first."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.lexsort((rng.permutation(s.size), s))  # by score, ties by a random key
    ranks = np.empty(s.size)
    ranks[order] = np.arange(s.size)
    return ranks


def perturbation_aucs(model, x: torch.Tensor, patch_map: np.ndarray, target: int,
                      fractions: Sequence[float] = FRACTIONS, rng: np.random.Generator | None = None
                      ) -> tuple[float, float]:
    """(positive AUC, negative AUC) of one map: the one function every method's curves go through. With `rng`, ties
    are broken at random (tie_broken) before the order is taken; without, they keep row-major order."""
    from models.analysis.relevance import area_under_curve
    from models.capture.explain import perturbation_curve

    flat = np.asarray(patch_map, dtype=np.float64).reshape(-1)
    if rng is not None:
        flat = tie_broken(flat, rng)
    pos = perturbation_curve(model, x, flat, target, True, fractions)
    neg = perturbation_curve(model, x, flat, target, False, fractions)
    return area_under_curve(fractions, pos), area_under_curve(fractions, neg)


def token_perturbation(probs_of: Callable[[np.ndarray], np.ndarray], maps: dict[str, np.ndarray],
                       removable: np.ndarray, fractions: Sequence[float] = FRACTIONS, random_orders: int = 3,
                       seed: int = 0) -> dict:
    """The perturbation test on tokens (Chefer et al. 2021, §4, with source or context tokens in place of patches),
    for several maps over the same input, in one batched call: `probs_of(removed)` takes (R, N) bool (True: that
    token removed) and returns the explained token's probability for each row. Each map's tokens are removed by
    relevance.removal_masks, most relevant first and least relevant first (ties in a random order, seed `seed`, as
    tie_broken); the baseline is the mean curve of `random_orders` random orders (seeds seed … seed + k − 1).
    Returns {"fractions", "removable": M, "maps": {name: {"pos", "neg", "pos_curve", "neg_curve"}},
    "random": {"auc", "curve"}}: AUCs by the trapezoid rule over the fractions, of the probability."""
    removed, keys = token_plan(maps, removable, fractions, random_orders, seed)
    return token_results(keys, np.asarray(probs_of(removed)), fractions, int(np.sum(removable)))


def token_plan(maps: dict[str, np.ndarray], removable: np.ndarray, fractions: Sequence[float] = FRACTIONS,
               random_orders: int = 3, seed: int = 0) -> tuple[np.ndarray, list]:
    """The rows token_perturbation asks for: (R, N) removal masks and what each block of len(fractions) rows is
    ((map, most relevant first?) or ("random", k)). Several inputs' plans can go through one forward."""
    from models.analysis.relevance import removal_masks

    removable = np.asarray(removable, dtype=bool)
    n = removable.size
    blocks, keys = [], []
    for name, m in maps.items():
        ranked = tie_broken(np.asarray(m, dtype=np.float64).reshape(-1), np.random.default_rng(seed))
        if ranked.size != n:
            raise ValueError(f"map {name!r} has {ranked.size} values for {n} tokens")
        for first in (True, False):
            blocks.append(removal_masks(ranked, first, fractions, removable=removable))
            keys.append((name, first))
    for k in range(random_orders):
        blocks.append(removal_masks(np.zeros(n), True, fractions, np.random.default_rng(seed + k), removable))
        keys.append(("random", k))
    return (np.concatenate(blocks) if blocks else np.zeros((0, n), dtype=bool)), keys


def token_results(keys: list, probs: np.ndarray, fractions: Sequence[float], removable: int) -> dict:
    """token_perturbation's result from a plan's keys and the probabilities of its rows."""
    from models.analysis.relevance import area_under_curve

    f = len(fractions)
    curves = {key: np.asarray(probs[i * f: (i + 1) * f], dtype=np.float64) for i, key in enumerate(keys)}
    out: dict = {"fractions": list(fractions), "removable": removable, "maps": {}}
    for name in dict.fromkeys(k[0] for k in keys if k[0] != "random"):
        pos, neg = curves[(name, True)], curves[(name, False)]
        out["maps"][name] = {"pos": area_under_curve(fractions, pos), "neg": area_under_curve(fractions, neg),
                             "pos_curve": pos, "neg_curve": neg}
    randoms = [c for k, c in curves.items() if k[0] == "random"]
    if randoms:
        mean = np.mean(randoms, axis=0)
        out["random"] = {"auc": area_under_curve(fractions, mean), "curve": mean}
    return out


def vit_maps(model, x: torch.Tensor, methods: Sequence[str], rng: np.random.Generator
             ) -> tuple[dict[str, np.ndarray], int, dict[str, float]]:
    """Every asked method's (rows, cols) patch map for a plain timm ViT, the predicted class, seconds per method."""
    from models.analysis import attention_math
    from models.analysis import relevance as rel
    from models.capture.explain import vit_gradients

    t0 = time.perf_counter()
    cap = vit_gradients(model, x)
    capture_s = time.perf_counter() - t0
    p, grid = cap.num_prefix, cap.grid
    fns: dict[str, Callable[[], np.ndarray]] = {
        "raw_attention": lambda: cap.attention[-1].mean(axis=0)[0, p:],
        "rollout": lambda: attention_math.rollout(cap.attention, rows=[0])[0, p:],
        "attention_flow": lambda: rel.attention_flow([a.mean(axis=0) for a in cap.attention], target=0,
                                                     inputs=range(p, cap.attention[0].shape[-1]))[p:],
        "relevance": lambda: rel.chefer_self(cap.attention, cap.grads)[0, p:],
        "grad_rollout": lambda: rel.grad_rollout(cap.attention, cap.grads)[p:],
        "attention_x_gradient": lambda: rel.attention_x_gradient(cap.attention[-1], cap.grads[-1])[p:],
        "random": lambda: rng.random(grid[0] * grid[1]),
    }
    return _finish(fns, methods, grid, capture_s, cap.target)


def swin_maps(model, x: torch.Tensor, methods: Sequence[str], rng: np.random.Generator
              ) -> tuple[dict[str, np.ndarray], int, dict[str, float]]:
    """The same for a timm Swin (models/capture/explain_swin.py)."""
    from models.capture import explain_swin as es

    t0 = time.perf_counter()
    cap = es.swin_gradients(model, x)
    capture_s = time.perf_counter() - t0
    a, g, b = cap.attention, cap.grads, cap.blocks
    fns: dict[str, Callable[[], np.ndarray]] = {
        "raw_attention": lambda: es.raw_attention(a, b),
        "rollout": lambda: es.rollout(a, b),
        "attention_flow": lambda: es.attention_flow(a, b),
        "relevance": lambda: es.relevance(a, g, b),
        "grad_rollout": lambda: es.grad_rollout(a, g, b),
        "attention_x_gradient": lambda: es.attention_x_gradient(a, g, b),
        "random": lambda: rng.random(cap.grid[0] * cap.grid[1]),
    }
    return _finish(fns, methods, cap.grid, capture_s, cap.target)


def _finish(fns, methods, grid, capture_s, target):
    maps, seconds = {}, {"gradient_capture": capture_s}
    for m in methods:
        t0 = time.perf_counter()
        maps[m] = np.asarray(fns[m](), dtype=np.float64).reshape(grid)
        seconds[m] = time.perf_counter() - t0
    return maps, target, seconds


def evaluate(model, kind: str, images: np.ndarray, labels: np.ndarray, boxes: np.ndarray,
             methods: Sequence[str] = METHODS, flow_images: int | None = None, seed: int = 0,
             progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """One record per image: {"label", "predicted", "metrics": {method: {metric: value}}, "seconds": {...}}.
    `kind`: "vit" or "swin". attention_flow runs on the first `flow_images` images only (None: all)."""
    from PIL import Image

    from models.analysis.attention_math import mass_inside_box
    from models.capture import vision

    maker = {"vit": vit_maps, "swin": swin_maps}[kind]
    rng = np.random.default_rng(seed)
    out = []
    for k, (img, label, box) in enumerate(zip(images, labels, boxes)):
        x, crop = vision.preprocess(model, Image.fromarray(img))
        if crop.shape[:2] != img.shape[:2]:
            raise ValueError("the demo images must reach the model at their own size (boxes are in its pixels)")
        todo = [m for m in methods if m != "attention_flow" or flow_images is None or k < flow_images]
        maps, target, seconds = maker(model, x, todo, rng)
        metrics = {}
        for m, pm in maps.items():
            t0 = time.perf_counter()
            pos, neg = perturbation_aucs(model, x, pm, target, rng=rng)
            seconds[f"{m}_perturbation"] = time.perf_counter() - t0
            metrics[m] = {"box_mass": mass_inside_box(pm, tuple(int(v) for v in box), img.shape[:2]),
                          "pointing": pointing_hit(pm, box, img.shape[:2]),
                          "positive_auc": pos, "negative_auc": neg}
        out.append({"label": int(label), "predicted": int(target), "metrics": metrics, "seconds": seconds})
        if progress is not None:
            progress(k + 1, len(images))
    return out


TEXT_METHODS = ("raw_cross_last", "raw_cross_mean", "relevance", "attention_x_gradient", "random")
LM_METHODS = ("raw_attention", "rollout", "relevance", "attention_x_gradient", "random")
TEXT_METRICS = ("positive_auc", "negative_auc")


def _token_records(keys, probs, fractions, removable, methods) -> dict:
    res = token_results(keys, probs, fractions, removable)
    metrics = {m: {"positive_auc": v["pos"], "negative_auc": v["neg"]} for m, v in res["maps"].items()}
    if "random" in methods:  # the random map: one random order read forwards (positive), another (negative)
        from models.analysis.relevance import area_under_curve

        rnd = [k for k in keys if k[0] == "random"]
        f = len(fractions)
        pos, neg = (probs[keys.index(k) * f: (keys.index(k) + 1) * f] for k in rnd[:2])
        metrics["random"] = {"positive_auc": area_under_curve(fractions, pos),
                             "negative_auc": area_under_curve(fractions, neg)}
    return metrics


def seq2seq_evaluate(model, texts: Sequence[str], methods: Sequence[str] = TEXT_METHODS, seed: int = 0,
                     progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """The perturbation test on source tokens for our encoder–decoder: one record per (input, output token) of the
    greedy output, for the token the model wrote (its teacher-forced probability as source tokens are removed,
    models/capture/explain_text.seq2seq_removed_probs: a removed token becomes <pad>, which every attention masks
    out; </s> stays). Maps, each the row of that output token over the source tokens:
    raw_cross_last: the last decoder layer's cross-attention, heads averaged; raw_cross_mean: the mean over decoder
    layers; relevance: Chefer et al. (2021)'s encoder–decoder rules; attention_x_gradient: the last cross layer's
    (A ⊙ ∇A)⁺, heads averaged; random: two random orders (positive, negative). All of one input's rows in one
    batched call."""
    from models.capture import explain_text as et

    out = []
    for k, text in enumerate(texts):
        t0 = time.perf_counter()
        r = et.seq2seq_relevance(model, text)
        capture_s = time.perf_counter() - t0
        removable = et.seq2seq_removable(r.source_ids)
        if removable.sum() == 0:
            continue
        plans, steps = [], []
        cross_mean = np.mean(r.cross_layers, axis=0)  # (T, S): the decoder layers' mean, once per input
        for t in range(len(r.output_tokens)):
            rows = {"raw_cross_last": r.cross_last[t], "raw_cross_mean": cross_mean[t],
                    "relevance": r.relevance[t], "attention_x_gradient": r.attn_x_grad[t]}
            masks, keys = token_plan({m: rows[m] for m in methods if m != "random"}, removable, FRACTIONS,
                                     2 if "random" in methods else 0, seed + 1_000 * k + t)
            plans.append((masks, keys))
            steps += [t] * len(masks)
        t1 = time.perf_counter()
        probs = et.seq2seq_removed_probs(model, r.source_ids, r.decoder_ids, steps,
                                         np.concatenate([m for m, _ in plans]))
        per = (time.perf_counter() - t1) / max(len(plans), 1)
        a = 0
        for t, (masks, keys) in enumerate(plans):
            metrics = _token_records(keys, probs[a: a + len(masks)], FRACTIONS, int(removable.sum()), methods)
            a += len(masks)
            out.append({"input": k, "step": t, "token": r.output_tokens[t], "metrics": metrics,
                        "seconds": {"gradient_capture": capture_s, "perturbation": per}})
        if progress is not None:
            progress(k + 1, len(texts))
    return out


def lm_evaluate(lm, texts: Sequence[str], methods: Sequence[str] = LM_METHODS, seed: int = 0,
                progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """The same test on a transformers language model's prediction for each text (a masked LM: the first [MASK]'s
    filler; a causal LM: the next token after the text), context tokens removed through the attention mask
    (explain_text.lm_removed_probs; special tokens and the predicted position stay). Maps, the predicted
    position's row: raw_attention (last layer, heads averaged), rollout (Abnar & Zuidema, 0.5·A + 0.5·I),
    relevance (Chefer et al. 2021), attention_x_gradient (last layer's (A ⊙ ∇A)⁺), random (two random orders).
    Texts the model cannot explain (no [MASK], too long) are skipped and counted in the records' absence."""
    from models.analysis import attention_math
    from models.analysis.relevance import attention_x_gradient
    from models.capture import explain_text as et
    from models.messages import CodedError

    out = []
    for k, text in enumerate(texts):
        try:
            r = et.lm_relevance(lm, text)
        except CodedError:
            continue
        removable = et.lm_removable(lm, r.ids, r.position)
        if removable.sum() == 0:
            continue
        p = r.position
        fns = {"raw_attention": lambda: r.raw_last,
               "rollout": lambda: attention_math.rollout(r.attention, rows=[p])[0],
               "relevance": lambda: r.relevance,
               "attention_x_gradient": lambda: attention_x_gradient(r.attention[-1], r.grads[-1], row=p)}
        maps = {m: fns[m]() for m in methods if m != "random"}
        masks, keys = token_plan(maps, removable, FRACTIONS, 2 if "random" in methods else 0, seed + k)
        probs = et.lm_removed_probs(lm, r.ids, p, r.target, masks)
        out.append({"input": k, "token": r.target_label, "seconds": {},
                    "metrics": _token_records(keys, probs, FRACTIONS, int(removable.sum()), methods)})
        if progress is not None:
            progress(k + 1, len(texts))
    return out


def summarise(records: list[dict], methods: Sequence[str] = METHODS, metrics: Sequence[str] = METRICS,
              unit: str = "images") -> list[dict]:
    """One row per method: n (under `unit`), mean and standard error of every metric, and the paired comparison with
    random."""
    rows = []
    for m in methods:
        have = [r for r in records if m in r["metrics"]]
        if not have:
            continue
        row: dict = {"method": m, unit: len(have)}
        worse, worse_sig = [], []
        for metric in metrics:
            v = np.array([r["metrics"][m][metric] for r in have])
            row[metric] = float(v.mean())
            row[f"{metric}_se"] = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
            if m != "random":
                paired = [(r["metrics"][m][metric], r["metrics"]["random"][metric]) for r in have
                          if "random" in r["metrics"]]
                if paired:
                    d = np.array([a - b for a, b in paired])
                    if not HIGHER_IS_BETTER[metric]:
                        d = -d  # d > 0: better than random
                    mean = float(d.mean())
                    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("inf")
                    row[f"{metric}_vs_random"] = mean
                    row[f"{metric}_vs_random_se"] = se
                    if mean < 0:
                        worse.append(metric)
                        if mean < -2 * se:
                            worse_sig.append(metric)
        row["worse_than_random"] = worse
        row["worse_than_random_beyond_2se"] = worse_sig
        sec = [r["seconds"].get(m) for r in have if m in r["seconds"]]
        row["seconds_per_map"] = float(np.median(sec)) if sec else None
        rows.append(row)
    return rows


def accuracy(records: list[dict]) -> float:
    return float(np.mean([r["label"] == r["predicted"] for r in records])) if records else float("nan")


def markdown(tables: dict[str, list[dict]], counts: dict[str, int] | None = None, metrics: Sequence[str] = METRICS,
             unit: str = "images") -> str:
    """The table: model × method, every metric as mean ± standard error, the number of images, and where the method
    is worse than the random map (* : by more than two standard errors of the paired difference)."""
    arrows = {"box_mass": "↑", "pointing": "↑", "positive_auc": "↓", "negative_auc": "↑"}
    head = (f"| model | method | {unit} | " + " | ".join(f"{k} {arrows[k]}" for k in metrics)
            + " | worse than random on |")
    lines = [head, "|" + "---|" * (len(metrics) + 4)]
    for model, rows in tables.items():
        for row in rows:
            cells = [f"{row[k]:.3f} ± {row[k + '_se']:.3f}" for k in metrics]
            worse = ", ".join(f"{k}{'*' if k in row['worse_than_random_beyond_2se'] else ''}"
                              for k in row["worse_than_random"]) or ("—" if row["method"] != "random" else "(baseline)")
            lines.append(f"| {model} | {row['method']} | {row[unit]} | " + " | ".join(cells) + f" | {worse} |")
    return "\n".join(lines)
