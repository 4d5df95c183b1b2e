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


def summarise(records: list[dict], methods: Sequence[str] = METHODS) -> list[dict]:
    """One row per method: n, mean and standard error of every metric, and the paired comparison with random."""
    rows = []
    for m in methods:
        have = [r for r in records if m in r["metrics"]]
        if not have:
            continue
        row: dict = {"method": m, "images": len(have)}
        worse, worse_sig = [], []
        for metric in METRICS:
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


def markdown(tables: dict[str, list[dict]], counts: dict[str, int] | None = None) -> str:
    """The table: model × method, every metric as mean ± standard error, the number of images, and where the method
    is worse than the random map (* : by more than two standard errors of the paired difference)."""
    arrows = {"box_mass": "↑", "pointing": "↑", "positive_auc": "↓", "negative_auc": "↑"}
    head = ("| model | method | images | " + " | ".join(f"{k} {arrows[k]}" for k in METRICS)
            + " | worse than random on |")
    lines = [head, "|" + "---|" * (len(METRICS) + 4)]
    for model, rows in tables.items():
        for row in rows:
            cells = [f"{row[k]:.3f} ± {row[k + '_se']:.3f}" for k in METRICS]
            worse = ", ".join(f"{k}{'*' if k in row['worse_than_random_beyond_2se'] else ''}"
                              for k in row["worse_than_random"]) or ("—" if row["method"] != "random" else "(baseline)")
            lines.append(f"| {model} | {row['method']} | {row['images']} | " + " | ".join(cells) + f" | {worse} |")
    return "\n".join(lines)
