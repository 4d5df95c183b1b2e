"""LanguageTrace: what one run of a language model computed, as plain data plus the capture's records.

Weights are computed when asked, from the records (queries, keys, mask, scale, bias of each layer): no layer's
N × N map is kept. Our demo encoder–decoder's trace is dense-backed (its arrays), with the same methods.
Layers and heads are indices from 0; kinds are "self", or "encoder", "decoder", "cross".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from models.analysis.attention_math import pool_edges
from models.language.capture import Record, allowed_mask, tensor_bytes, weights_of
from models.language.capture import scores as capture_scores
from models.language.model import Token
from models.messages import Notice

CHUNK = 512  # queries per chunk when pooling: peak extra memory O(CHUNK × K)


class NoValues(RuntimeError):
    """head_parts needs a run with keep_values=True."""


@dataclass(eq=False)
class LanguageTrace:
    model_name: str
    family: str
    weights_source: str
    source: Notice | None
    credit: Notice | None
    input_text: str
    output_text: str
    kinds: tuple[str, ...]
    num_heads: int
    num_kv_heads: int
    prompt_length: int
    new_tokens: list[Token]
    step_top_k: list[list[tuple[str, float]]]
    next_top_k: list[tuple[str, float]]
    fillers: dict[int, list[tuple[str, float]]]
    notices: list[Notice]
    token_lists: dict[str, tuple[list[Token], list[Token]]]  # per kind: (query tokens, key tokens)
    records: dict[str, list[Record]] = field(default_factory=dict)  # per kind, per layer
    dense: dict[str, list[np.ndarray]] = field(default_factory=dict)  # dense-backed: per kind (H, Q, K) per layer
    dense_masks: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # dense: per kind, mask parts
    padding: np.ndarray | None = None  # (K,) bool per key of the input side: a real token (not padding)
    keep_values: bool = False

    # -------------------------------------------------------------------------------------------- shapes
    @property
    def steps(self) -> int:
        return len(self.new_tokens)

    @property
    def nbytes(self) -> int:
        held = tensor_bytes([r for recs in self.records.values() for r in recs])
        return held + sum(a.nbytes for arrs in self.dense.values() for a in arrs)

    def _check(self, kind: str, layer: int | None = None) -> None:
        if kind not in self.kinds:
            raise KeyError(f"kind {kind!r} not in this trace; choose one of {self.kinds}")
        if layer is not None and not 0 <= layer < self.num_layers(kind):
            raise IndexError(f"layer {layer} out of range 0..{self.num_layers(kind) - 1} for {kind!r}")

    def num_layers(self, kind: str) -> int:
        if kind in self.dense:
            return len(self.dense[kind])
        return len(self.records.get(kind, []))

    def token_info(self, kind: str) -> tuple[list[Token], list[Token]]:
        self._check(kind)
        q, k = self.token_lists[kind]
        return list(q), list(k)

    def tokens(self, kind: str) -> tuple[list[str], list[str]]:
        q, k = self.token_info(kind)
        return [t.label for t in q], [t.label for t in k]

    def _shape(self, kind: str) -> tuple[int, int]:
        if kind in self.dense:
            return self.dense[kind][0].shape[-2:]
        r = self.records[kind][0]
        return r.query.shape[2], r.key.shape[2]

    # ------------------------------------------------------------------------------------------- weights
    def _w(self, kind: str, layer: int, heads=None, queries=None, keys: int | None = None) -> torch.Tensor:
        """(h, q, K) float32 weights as a tensor (on the records' device); keys: only the first `keys` columns,
        where the caller knows the others are masked for these queries."""
        self._check(kind, layer)
        if kind in self.dense:
            w = torch.from_numpy(np.asarray(self.dense[kind][layer], dtype=np.float32))
            if heads is not None:
                w = w[heads]
            if queries is not None:
                w = w[:, queries]
            return w[..., :keys] if keys is not None else w
        return weights_of(self.records[kind][layer], 0, heads, queries, keys)

    def weights(self, kind: str, layer: int) -> np.ndarray:
        """(heads, Q, K) float32: masked entries exactly 0, rows sum to 1."""
        return self._w(kind, layer).cpu().numpy().astype(np.float32, copy=True)

    def head(self, kind: str, layer: int, head: int) -> np.ndarray:
        return self._w(kind, layer, heads=[head])[0].cpu().numpy().astype(np.float32, copy=True)

    def rows(self, kind: str, layer: int, queries) -> np.ndarray:
        """(heads, len(queries), K): only those query rows are computed."""
        idx = torch.as_tensor(list(queries), dtype=torch.long)
        return self._w(kind, layer, queries=idx).cpu().numpy().astype(np.float32, copy=True)

    def pooled(self, kind: str, layer: int, max_cells: int, heads=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(heads, qg, kg) block means of the weights, with the query and key edges (pool_edges); exactly the
        weights when Q, K ≤ max_cells. Head by head, CHUNK queries at a time; `heads` (indices) computes only those
        (a view of one head costs one head)."""
        self._check(kind, layer)
        q_len, k_len = self._shape(kind)
        qg, kg = min(q_len, max_cells), min(k_len, max_cells)
        q_edges, k_edges = pool_edges(q_len, qg), pool_edges(k_len, kg)
        heads = list(range(self.num_heads)) if heads is None else [int(h) for h in heads]
        if qg == q_len and kg == k_len:
            return self.weights(kind, layer)[heads], q_edges, k_edges
        q_group = torch.as_tensor(np.repeat(np.arange(qg), np.diff(q_edges)), dtype=torch.long)
        k_edges_t = torch.as_tensor(k_edges, dtype=torch.long)
        out = torch.zeros(len(heads), qg, kg, dtype=torch.float64)
        # The plain causal path (SDPA's is_causal, no mask tensor): a chunk's later keys are all masked, skip them.
        causal = kind not in self.dense and self.records[kind][layer].causal
        for i, h in enumerate(heads):
            for start in range(0, q_len, CHUNK):
                stop = min(start + CHUNK, q_len)
                idx = torch.arange(start, stop)
                keys = min(k_len, stop) if causal else None
                w = self._w(kind, layer, heads=[h], queries=idx, keys=keys)[0].cpu()  # (c, keys or K)
                # Sums over each run of keys as differences of a running sum (the runs are contiguous): one pass,
                # where a scatter (index_add_) over c × K cost ten times as much at 4,096 tokens.
                ends = k_edges_t[1:].clamp(max=w.shape[-1])
                running = torch.nn.functional.pad(w.double().cumsum_(-1), (1, 0))
                by_key = running[:, ends] - running[:, k_edges_t[:-1].clamp(max=w.shape[-1])]
                out[i].index_add_(0, q_group[idx], by_key)
        sizes = torch.as_tensor(np.diff(q_edges), dtype=torch.float64)[:, None] * \
            torch.as_tensor(np.diff(k_edges), dtype=torch.float64)[None, :]
        return (out / sizes).numpy().astype(np.float32), q_edges, k_edges

    def overview(self, kind: str, max_cells: int) -> np.ndarray:
        """(layers, heads, qg, kg): every layer pooled as `pooled` does."""
        return np.stack([self.pooled(kind, layer, max_cells)[0] for layer in range(self.num_layers(kind))])

    # --------------------------------------------------------------------------------------------- masks
    def mask(self, kind: str, layer: int = 0) -> np.ndarray:
        """(Q, K) bool: may attend, exactly what the softmax saw in `layer` (every layer of a kind shares one,
        except where a model mixes sliding-window and full layers)."""
        self._check(kind, layer)
        q_len, k_len = self._shape(kind)
        if kind in self.dense:
            parts = self.dense_masks[kind]
            m = np.ones((q_len, k_len), dtype=bool)
            for p in parts.values():
                m &= p
            return m
        m = allowed_mask(self.records[kind][layer], 0)
        return np.ones((q_len, k_len), dtype=bool) if m is None else m.cpu().numpy().astype(bool, copy=True)

    def mask_parts(self, kind: str, layer: int = 0) -> dict[str, np.ndarray]:
        """The parts that apply: "padding", "causal", "sliding_window", each (Q, K) bool (True = may attend)."""
        self._check(kind, layer)
        if kind in self.dense:
            return {k: v.copy() for k, v in self.dense_masks[kind].items()}
        q_len, k_len = self._shape(kind)
        r = self.records[kind][layer]
        parts: dict[str, np.ndarray] = {}
        key_side = self.padding if kind in ("self", "encoder", "cross") else None
        if key_side is not None and len(key_side) == k_len and not key_side.all():
            parts["padding"] = np.broadcast_to(key_side[None, :], (q_len, k_len)).copy()
        causal = kind == "decoder" or (kind == "self" and self.family == "decoder")
        rows = np.arange(q_len)[:, None] + (k_len - q_len)
        cols = np.arange(k_len)[None, :]
        if causal:
            parts["causal"] = cols <= rows
        if r.sliding_window and causal:
            window = parts["causal"] & (rows - cols < r.sliding_window)
            if not np.array_equal(window, parts["causal"]):  # the window cut something
                parts["sliding_window"] = rows - cols < r.sliding_window
        return parts

    # ----------------------------------------------------------------------------------------- steps
    def step_query(self, step: int) -> tuple[str, int]:
        """(kind, query index) of the position whose output chose new token `step` (counted from 1)."""
        if not 1 <= step <= self.steps:
            raise IndexError(f"step {step} out of range 1..{self.steps}")
        if "self" in self.kinds:
            return "self", self.prompt_length + step - 2
        return "decoder", step - 1

    def head_parts(self, kind: str, layer: int, head: int) -> dict:
        """Everything one head computed, for the step-by-step page (needs run(..., keep_values=True))."""
        self._check(kind, layer)
        if kind in self.dense or not self.keep_values:
            raise NoValues("head_parts needs a trace run with keep_values=True")
        r = self.records[kind][layer]
        kv = head // r.repeat
        q = r.query[0, head].float()
        k = r.key[0, kv].float()
        v = r.value[0, kv].float()
        bias = None
        if r.bias is not None:
            b = r.bias[0]
            bias = (b[head] if b.shape[0] > 1 else b[0]).float().expand(q.shape[0], k.shape[0])
        allowed = allowed_mask(r, 0)
        allowed = torch.ones(q.shape[0], k.shape[0], dtype=torch.bool, device=q.device) if allowed is None \
            else allowed
        scores = capture_scores(r, 0, [head])[0]  # q kᵀ·scale + bias (+ an additive mask's values), -inf masked
        w = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)

        def np_(t):
            return None if t is None else t.detach().cpu().numpy().astype(np.float32, copy=True)

        return {
            "q": np_(q), "k": np_(k), "v": np_(v), "scale": r.scale, "bias": np_(bias),
            "mask": allowed.cpu().numpy().astype(bool, copy=True), "scores": np_(scores), "weights": np_(w),
            "output": np_(w @ v), "model_output": np_(r.output[0, :, head]),
        }
