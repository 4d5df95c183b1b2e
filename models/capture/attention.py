"""A ViT run's attention, kept as each block's queries and keys: weights computed when a view asks for them.

At 1,036 px a DINOv2 ViT-S/14 has 5,481 tokens: its 12 × 6 maps of 5,481² float32 weights would take 8.6 GB,
while the queries and keys they come from take 200 MB. So a plain timm ViT's run keeps, per block, q and k as
timm's own attention module saw them (after its q/k normalisation, before the scale) and the module's scale;
a view computes softmax(q·scale @ kᵀ) for the rows it shows, exactly as timm's unfused path does
(`q = q * scale; attn = q @ k.transpose(-2, -1); attn.softmax(-1)`). A view that needs every weight of a block
(pooled matrices, the overview, mean attention distance, rollout) streams them in chunks of query rows:
memory grows with N·d, not heads·N².

`BlockAttention` is a read-only Sequence of blocks: `att[i]` is block i's (heads, N, N) float32 array (computed
in full: for small inputs, tests and exports), `att.rows(i, tokens)` a few rows, `att.chunks(i)` the whole block
chunk by chunk. Dense-backed instances (Swin's windows aside, models whose attention timm's FX graph returns as
maps: rotary, relative position bias) offer the same methods over their arrays. Blocks, heads and tokens are
indices from 0 here; pages add 1 to blocks and heads.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

CHUNK_CELLS = 2_000_000  # weights per chunk of a streamed block (heads × rows × N): about 8 MB of float32


class BlockAttention(Sequence):
    """Every block's attention of one run: (heads, N, N) per block, rows = queries, each row sums to 1."""

    def __init__(self, queries: list[torch.Tensor] | None = None, keys: list[torch.Tensor] | None = None,
                 scales: list[float] | None = None, dense: list[np.ndarray] | None = None):
        if dense is not None:
            self._dense = [np.asarray(a, dtype=np.float32) for a in dense]
            for a in self._dense:
                a.flags.writeable = False
            self._q = self._k = None
            self._scales = None
            first = self._dense[0] if self._dense else np.zeros((0, 0, 0), np.float32)
            self.num_heads, self.num_tokens = int(first.shape[0]), int(first.shape[-1])
        else:
            if not queries or len(queries) != len(keys) or len(queries) != len(scales):
                raise ValueError("one query, key and scale per block")
            self._dense = None
            self._q, self._k, self._scales = list(queries), list(keys), [float(s) for s in scales]
            self.num_heads, self.num_tokens = int(queries[0].shape[0]), int(queries[0].shape[1])

    @classmethod
    def from_dense(cls, maps: list[np.ndarray]) -> BlockAttention:
        return cls(dense=maps)

    # ------------------------------------------------------------------------------------------- facts
    @property
    def lazy(self) -> bool:
        """Whether weights are computed when asked (True) or were kept as maps (False)."""
        return self._dense is None

    @property
    def nbytes(self) -> int:
        """What the run keeps: queries and keys, or the maps."""
        if self._dense is not None:
            return int(sum(a.nbytes for a in self._dense))
        return int(sum(t.numel() * t.element_size() for t in self._q + self._k))

    @property
    def map_bytes(self) -> int:
        """What every block's maps would take as float32 (what a lazy run does not keep)."""
        return len(self) * self.num_heads * self.num_tokens ** 2 * 4

    @property
    def shape(self) -> tuple[int, int, int]:
        """(heads, N, N) of each block."""
        return (self.num_heads, self.num_tokens, self.num_tokens)

    def __len__(self) -> int:
        return len(self._dense) if self._dense is not None else len(self._q)

    def __getitem__(self, block):
        if isinstance(block, slice):
            return [self[i] for i in range(*block.indices(len(self)))]
        block = range(len(self))[block]  # negative indices, IndexError
        if self._dense is not None:
            return self._dense[block]
        return self.rows(block, slice(None))

    def queries_keys(self, block: int) -> tuple[torch.Tensor, torch.Tensor, float]:
        """(q (heads, N, d), k (heads, N, d), scale) of a lazy block, as the model computed them."""
        if self._dense is not None:
            raise ValueError("a dense-backed run keeps maps, not queries and keys")
        return self._q[block], self._k[block], self._scales[block]

    # ------------------------------------------------------------------------------------------- weights
    def _weights(self, block: int, rows, heads=None) -> torch.Tensor:
        q, k, scale = self._q[block], self._k[block], self._scales[block]
        if heads is not None:
            q, k = q[heads], k[heads]
        q = q[:, rows]
        with torch.inference_mode():
            return ((q * scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # timm's unfused path, op for op

    def tensor_rows(self, block: int, start: int, stop: int) -> torch.Tensor:
        """Every head's weights of the queries start:stop: (heads, stop - start, N) float32 torch tensor (on the
        model's device for a lazy run): what models/analysis/streaming.py reduces without leaving torch."""
        if self._dense is not None:
            return torch.from_numpy(np.array(self._dense[block][:, start:stop], dtype=np.float32))
        return self._weights(block, slice(start, stop)).float()

    def rows(self, block: int, tokens, heads=None) -> np.ndarray:
        """(heads, len(tokens), N) float32: the weights of some query tokens (a list, slice or int → (heads, N)).
        A row costs N·d per head: a patch's attention at 5,481 tokens takes milliseconds."""
        single = isinstance(tokens, (int, np.integer))
        sel = [int(tokens)] if single else tokens
        if self._dense is not None:
            a = self._dense[block] if heads is None else self._dense[block][heads]
            out = a[:, sel]
        else:
            out = self._weights(block, sel, heads).float().cpu().numpy()
        return out[:, 0] if single else out

    def chunk_rows(self, heads: int | None = None) -> int:
        """Query rows per chunk so that a chunk holds about CHUNK_CELLS weights."""
        h = self.num_heads if heads is None else heads
        return max(1, CHUNK_CELLS // max(1, h * self.num_tokens))

    def chunks(self, block: int, heads=None, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(first query, weights (heads, c, N) float32) over every query of a block, c rows at a time: the whole
        block without ever holding it (a lazy run) or as views of its map (dense)."""
        n = self.num_tokens
        count = self.num_heads if heads is None else np.atleast_1d(np.arange(self.num_heads)[heads]).size
        step = rows or self.chunk_rows(count)
        for start in range(0, n, step):
            stop = min(n, start + step)
            if self._dense is not None:
                a = self._dense[block] if heads is None else self._dense[block][heads]
                yield start, a[:, start:stop]
            else:
                yield start, self._weights(block, slice(start, stop), heads).float().cpu().numpy()

    def to_dense(self) -> list[np.ndarray]:
        """Every block's maps: (heads, N, N) float32 each (all of them in memory: small inputs only)."""
        return [self[i] for i in range(len(self))]


def as_block_attention(attention) -> BlockAttention:
    """A BlockAttention for a list of (heads, N, N) arrays, or the object itself."""
    return attention if isinstance(attention, BlockAttention) else BlockAttention.from_dense(list(attention))
