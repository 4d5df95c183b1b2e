"""Beyond raw attention: relevance maps that follow the model's decision, as pure functions of captured attention
weights and their gradients (numpy or torch in, float64 numpy out). Each says what it assumes:

- chefer_self: gradient-weighted relevance (Chefer, Gur & Wolf 2021, "Generic Attention-model Explainability for
  Interpreting Bi-Modal and Encoder-Decoder Transformers", rules 5–7): R = I; per layer, in forward order,
  R += Ā·R with Ā = mean over heads of (∇A ⊙ A)⁺. Row i of R: how much each input token is relevant to token i's
  output, for the class whose score was differentiated.
- chefer_encoder_decoder: the same paper's encoder–decoder rules (6, 7, 10; eq. 8–9 normalisation): encoder
  self-attention updates R_ss; each decoder block's self-attention updates R_tt and R_ts, its cross-attention adds
  R̄_ttᵀ·Ā_ts·R̄_ss to R_ts, where R̄ = (R − I) with rows normalised, plus I.
- grad_rollout: gradient attention rollout as Gildenblat's vit-explain defines it (github.com/jacobgil/vit-explain,
  MIT): per layer the heads' (A ⊙ ∇A) fused (mean, max or min), negatives set to 0, the smallest `discard_ratio` of
  the entries dropped (never CLS → CLS), then 0.5·fused + 0.5·I rows renormalised, multiplied as rollout.
- attention_x_gradient: the last layer's CLS row of mean over heads of (A ⊙ ∇A)⁺ (the single-layer form of rule 5).
- attention_flow: Abnar & Zuidema (2020): the attention graph (one node per token per layer, edges weighted by
  0.5·A + 0.5·I with rows renormalised, heads averaged) read as a flow network; each input token's value is the
  maximum flow from it to the chosen output token, computed by SciPy's compiled max-flow
  (scipy.sparse.csgraph.maximum_flow, on capacities scaled to integers).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

FLOW_SCALE = 1_000_000  # capacities are weights × this, as int32 (SciPy's max-flow takes integers): 1e-6 resolution


def _np(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def avg_heads(attention, grad) -> np.ndarray:
    """Rule 5: Ā = mean over heads of (∇A ⊙ A)⁺; (heads, Q, K) → (Q, K)."""
    return np.clip(_np(grad) * _np(attention), 0, None).mean(axis=0)


def chefer_self(attentions: Sequence, grads: Sequence) -> np.ndarray:
    """(N, N) relevance R of a self-attention stack (layers in forward order, each (heads, N, N))."""
    if len(attentions) == 0 or len(attentions) != len(grads):
        raise ValueError("one gradient per attention layer, at least one layer")
    n = _np(attentions[0]).shape[-1]
    r = np.eye(n)
    for a, g in zip(attentions, grads):
        r = r + avg_heads(a, g) @ r
    return r


def normalise_residual(r: np.ndarray) -> np.ndarray:
    """Eq. 8–9: R̂ = R − I with each row divided by its sum, then + I (rows with nothing left stay I)."""
    n = r.shape[-1]
    hat = r - np.eye(n)
    s = hat.sum(axis=-1, keepdims=True)
    hat = np.divide(hat, s, out=np.zeros_like(hat), where=s != 0)
    return hat + np.eye(n)


def chefer_encoder_decoder(enc: Sequence, enc_grads: Sequence, dec_self: Sequence, dec_self_grads: Sequence,
                           cross: Sequence, cross_grads: Sequence) -> np.ndarray:
    """(T, S) relevance R_ts of each source token for each target token (rows: the decoder's positions)."""
    s = _np(enc[0]).shape[-1]
    t = _np(dec_self[0]).shape[-1]
    r_ss = np.eye(s)
    for a, g in zip(enc, enc_grads):
        r_ss = r_ss + avg_heads(a, g) @ r_ss
    r_tt = np.eye(t)
    r_ts = np.zeros((t, s))
    for a, g, c, cg in zip(dec_self, dec_self_grads, cross, cross_grads):
        cam = avg_heads(a, g)
        r_tt, r_ts = r_tt + cam @ r_tt, r_ts + cam @ r_ts  # rules 6 and 7, both from the R_tt before this block
        add = normalise_residual(r_tt).T @ avg_heads(c, cg) @ normalise_residual(r_ss)  # rule 10
        r_ts = r_ts + np.nan_to_num(add)
    return r_ts


def _fuse(x: np.ndarray, fusion: str) -> np.ndarray:
    if fusion == "mean":
        return x.mean(axis=0)
    if fusion == "max":
        return x.max(axis=0)
    if fusion == "min":
        return x.min(axis=0)
    raise ValueError(f"fusion must be mean, max or min, not {fusion!r}")


def grad_rollout(attentions: Sequence, grads: Sequence, discard_ratio: float = 0.9, fusion: str = "mean",
                 row: int = 0) -> np.ndarray:
    """(N,) vit-explain's gradient rollout, the row of `row` (CLS: 0)."""
    n = _np(attentions[0]).shape[-1]
    result = np.eye(n)
    for a, g in zip(attentions, grads):
        fused = _fuse(_np(a) * _np(g), fusion)
        fused[fused < 0] = 0
        flat = fused.reshape(-1)
        k = int(flat.size * discard_ratio)
        if k > 0:
            drop = np.argpartition(flat, k - 1)[:k]
            drop = drop[drop != row * n + row]  # vit-explain keeps the CLS → CLS entry
            flat[drop] = 0
        a_ = 0.5 * fused + 0.5 * np.eye(n)
        a_ = a_ / a_.sum(axis=-1, keepdims=True)
        result = a_ @ result
    return result[row]


def attention_x_gradient(attention, grad, row: int = 0) -> np.ndarray:
    """(N,) the last layer's row `row` of mean over heads of (A ⊙ ∇A)⁺."""
    return avg_heads(attention, grad)[row]


def flow_graph(fused: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The layered attention graph of Abnar & Zuidema: node (l, i) = token i after layer l (l = 0: the inputs).
    An edge (l, j) → (l + 1, i) with capacity Ã_l[i, j], Ã_l = 0.5·A_l + 0.5·I rows renormalised.
    Returns (sources, targets, capacities as int32 ×FLOW_SCALE, node count)."""
    n = fused[0].shape[-1]
    src, dst, cap = [], [], []
    for layer, a in enumerate(fused):
        a = 0.5 * _np(a) + 0.5 * np.eye(n)
        a = a / a.sum(axis=-1, keepdims=True)
        i, j = np.nonzero(a > 0)
        src.append(layer * n + j)
        dst.append((layer + 1) * n + i)
        cap.append(np.rint(a[i, j] * FLOW_SCALE).astype(np.int64))
    return (np.concatenate(src), np.concatenate(dst), np.concatenate(cap).astype(np.int32),
            (len(fused) + 1) * n)


def attention_flow(fused: Sequence[np.ndarray], target: int = 0, inputs: Sequence[int] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(N,) for each input token j, the maximum flow from node (0, j) to node (L, target) (float, in units of
    attention weight). `fused`: each layer's heads already averaged, (N, N). `inputs`: only these tokens (the rest
    NaN). `progress(done, total)` is called after each token."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    n = fused[0].shape[-1]
    src, dst, cap, nodes = flow_graph(fused)
    graph = csr_matrix((cap, (src, dst)), shape=(nodes, nodes), dtype=np.int32)
    graph.sum_duplicates()
    sink = len(fused) * n + target
    todo = list(range(n)) if inputs is None else list(inputs)
    out = np.full(n, np.nan)
    for k, j in enumerate(todo):
        out[j] = maximum_flow(graph, j, sink).flow_value / FLOW_SCALE
        if progress is not None:
            progress(k + 1, len(todo))
    return out


def perturbation_order(scores: np.ndarray, most_relevant_first: bool, rng: np.random.Generator | None = None
                       ) -> np.ndarray:
    """Token indices in the order a perturbation test removes them: by score, most relevant first (positive) or
    least relevant first (negative); with `rng` a random order instead (the baseline). Ties keep index order."""
    s = np.asarray(scores, dtype=np.float64)
    if rng is not None:
        return rng.permutation(s.size)
    key = -s if most_relevant_first else s
    return np.argsort(key, kind="stable")


def removal_masks(scores: np.ndarray, most_relevant_first: bool, fractions: Sequence[float],
                  rng: np.random.Generator | None = None, removable: np.ndarray | None = None) -> np.ndarray:
    """(len(fractions), N) bool, True where an input (patch or token) is removed at each fraction: the first
    round(f · M) of the M removable inputs in perturbation_order (most relevant first, least relevant first, or
    random with `rng`). The one removal schedule of every perturbation test, images and text alike; `removable`
    (N,) bool marks the inputs that may go (None: all), the others are never removed and not counted in M."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    idx = np.arange(s.size) if removable is None else np.flatnonzero(np.asarray(removable, dtype=bool).reshape(-1))
    order = idx[perturbation_order(s[idx], most_relevant_first, rng)]
    out = np.zeros((len(fractions), s.size), dtype=bool)
    for k, f in enumerate(fractions):
        out[k, order[: int(round(float(f) * idx.size))]] = True
    return out


def area_under_curve(fractions: Sequence[float], values: Sequence[float]) -> float:
    """Trapezoidal area under a perturbation curve (fractions removed in [0, 1] → the class probability)."""
    x = np.asarray(fractions, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))
