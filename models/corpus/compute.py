"""The work of the corpus job on one batch: inputs in, one row per (input, layer, head) out, as an Arrow table.

`HeadStats` is a callable class, the shape Ray Data's `map_batches` wants (the model is loaded once per worker, in
`__init__`); the local backend and the page call the very same object, so every backend computes the same numbers.
A batch is a dict of columns: `input_id` (int64) and `text` (str) for text; `input_id`, `path` (str) and `bytes`
(binary) for images. An input that cannot be used (an empty line, a line longer than the model takes, an unreadable
image) becomes one row with `error` set (a message code, models/messages.py) and no statistics: the job counts and
lists them, it never stops for one.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from models.analysis import head_stats as hs
from models.messages import CodedError, Notice

# -------------------------------------------------------------------------------------------------- the job's spec


@dataclass(frozen=True)
class JobSpec:
    """What decides the numbers of a job (written in the output's metadata; a resumed job must match it)."""

    model: str  # a language model name (Hub name, folder, demo:<task>) or a timm name / vision demo name
    modality: str  # "text" or "images"
    weights: str = "pretrained"  # images: pretrained, random, demo or a .safetensors path; text: as the loader finds
    device: str = "cpu"
    exclude_sinks: bool = False
    head_map_inputs: int = 64  # the first inputs (by id) whose attention rows feed the head map
    max_tokens: int = 512  # a text line with more tokens is a bad input (or fewer when the model allows fewer)

    def key(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("device")  # the numbers agree across devices to float rounding; a job may resume elsewhere
        return d


STATS_CHUNK = 8  # images whose weights are computed and reduced together (bench: 8 beats 32 and 2 on a CPU)


class BadInput(CodedError):
    """An input the job skips and lists (codes corpus.*, image.*, lm.*)."""


# -------------------------------------------------------------------------------------------------- the columns
BASE_COLUMNS = ("input_id", "input", "layer", "head", "stage", "tokens", "error", "error_text")


def stat_names(modality: str, specials: list[str], swin: bool = False) -> list[str]:
    stats = list(hs.TEXT_STATS if modality == "text" else hs.IMAGE_STATS)
    return stats + ([] if swin else [hs.SHARE + s for s in specials])


def schema(stats: list[str]) -> pa.Schema:
    fields = [
        pa.field("input_id", pa.int64()),
        pa.field("input", pa.string()),
        pa.field("layer", pa.int32()),  # from 1; 0 on a bad input's row
        pa.field("head", pa.int32()),  # from 1; 0 on a bad input's row
        pa.field("stage", pa.int32()),  # Swin: its stage, from 1; else 0
        pa.field("tokens", pa.int32()),
        pa.field("error", pa.string()),
        pa.field("error_text", pa.string()),
    ]
    fields += [pa.field(s, pa.float64()) for s in stats]
    fields += [pa.field("profile", pa.list_(pa.float32())), pa.field("js", pa.list_(pa.float32()))]
    return pa.schema(fields)


class _Rows:
    """Columns being filled for one batch."""

    def __init__(self, stats: list[str]):
        self.stats = stats
        self.cols: dict[str, list] = {n: [] for n in (*BASE_COLUMNS, *stats, "profile", "js")}

    def bad(self, input_id: int, label: str, err: Exception) -> None:
        code = getattr(err, "code", "corpus.failed")
        text = str(err) if isinstance(err, CodedError) else f"{type(err).__name__}: {err}"
        row = dict(input_id=input_id, input=label, layer=0, head=0, stage=0, tokens=0, error=code, error_text=text)
        for n in self.cols:
            self.cols[n].append(row.get(n))

    def layer(self, input_id: int, label: str, layer: int, stage: int, tokens: int, stats: dict[str, torch.Tensor],
              profile: torch.Tensor, js: np.ndarray | None) -> None:
        heads = profile.shape[0]
        vals = {k: v.detach().cpu().double().numpy() for k, v in stats.items()}
        prof = profile.detach().cpu().float().numpy()
        for h in range(heads):
            c = self.cols
            c["input_id"].append(input_id)
            c["input"].append(label)
            c["layer"].append(layer)
            c["head"].append(h + 1)
            c["stage"].append(stage)
            c["tokens"].append(tokens)
            c["error"].append(None)
            c["error_text"].append(None)
            for s in self.stats:
                v = vals.get(s)
                c[s].append(None if v is None or math.isnan(float(v[h])) else float(v[h]))
            c["profile"].append(prof[h].tolist())
            c["js"].append(None if js is None else js[h].astype(np.float32).tolist())

    def table(self) -> pa.Table:
        return pa.Table.from_pydict(self.cols, schema=schema(self.stats))


# -------------------------------------------------------------------------------------------------- the callable
class HeadStats:
    """Loads the model once (or takes one already loaded: the page's cached model) and computes a batch's rows."""

    def __init__(self, spec: JobSpec | dict, model=None):
        self.spec = spec if isinstance(spec, JobSpec) else JobSpec(**spec)
        self.model = model if model is not None else load_model(self.spec)
        self.swin = self.spec.modality == "images" and getattr(self.model, "kind", None) == "swin"
        self.specials = special_names(self.model, self.spec.modality)
        self.stats = stat_names(self.spec.modality, self.specials, self.swin)

    def __call__(self, batch: dict) -> pa.Table:
        rows = _Rows(self.stats)
        ids = [int(i) for i in np.asarray(batch["input_id"]).tolist()]
        if self.spec.modality == "text":
            self._text(rows, ids, [str(t) for t in batch["text"]])
        else:
            self._images(rows, ids, [str(p) for p in batch["path"]], list(batch["bytes"]))
        return rows.table()

    # ---------------------------------------------------------------------------------------------- text
    def _limit(self) -> int:
        m = getattr(self.model, "max_positions", None)
        return min(self.spec.max_tokens, m) if m else self.spec.max_tokens

    def _text(self, rows: _Rows, ids: list[int], texts: list[str]) -> None:
        from models.language.demo import is_demo

        if is_demo(self.model):
            for i, t in zip(ids, texts):
                self._demo_text(rows, i, t)
            return
        tok = self.model.tokenizer
        ready: list[tuple[int, str, list[int]]] = []
        for i, t in zip(ids, texts):
            t = t.rstrip("\r\n")
            if not t.strip():
                rows.bad(i, t, BadInput("corpus.empty_line"))
                continue
            enc = tok(t, add_special_tokens=True)["input_ids"]
            if len(enc) > self._limit():
                rows.bad(i, t, BadInput("corpus.too_long", n=len(enc), limit=self._limit()))
                continue
            ready.append((i, t, enc))
        if ready:
            try:
                self._text_batch(rows, ready)
            except Exception as e:  # noqa: BLE001 — one input at a time, so that only the culprit is listed
                if len(ready) == 1:
                    rows.bad(ready[0][0], ready[0][1], e)
                else:
                    for r in ready:
                        self._text_batch_safe(rows, r)

    def _text_batch_safe(self, rows: _Rows, r) -> None:
        try:
            self._text_batch(rows, [r])
        except Exception as e:  # noqa: BLE001
            rows.bad(r[0], r[1], e)

    def _text_batch(self, rows: _Rows, ready: list[tuple[int, str, list[int]]]) -> None:
        from models.language.capture import recording, weights_of
        from models.language.tokens import token_list

        lm = self.model
        tok = lm.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        longest = max(len(e) for _, _, e in ready)
        input_ids = torch.full((len(ready), longest), pad, dtype=torch.long)
        mask = torch.zeros((len(ready), longest), dtype=torch.long)
        for b, (_, _, e) in enumerate(ready):
            input_ids[b, : len(e)] = torch.tensor(e)
            mask[b, : len(e)] = 1
        body = text_body(lm)
        with recording(model=lm.module, kinds=lm.details.get("attention_kinds")) as rec, torch.inference_mode():
            body(input_ids=input_ids.to(lm.device), attention_mask=mask.to(lm.device))
        records = [r for r in rec.records if (r.kind or "self") in ("self", "encoder")]
        if not records:
            raise BadInput("corpus.no_attention", model=lm.name)
        for b, (i, t, e) in enumerate(ready):
            n = len(e)
            tokens = token_list(tok, e)
            info = text_tokens(tokens, self.specials)
            ws = [weights_of(r, b)[:, :n, :n] for r in records]  # (heads, n, n) per layer
            w = torch.cat(ws)  # every layer's heads stacked: text_stats works head by head, one call per input
            stats, profile = hs.text_stats(w, info["specials"], info["punct"], info["sinks"], self.spec.exclude_sinks)
            start = 0
            for layer, wl in enumerate(ws):
                part = slice(start, start + wl.shape[0])
                start += wl.shape[0]
                rows.layer(i, t, layer + 1, 0, n, {k: v[part] for k, v in stats.items()}, profile[part], None)
            if i < self.spec.head_map_inputs:
                self._js(rows, [w[:, hs.sample_queries(n)]], len(records))

    def _demo_text(self, rows: _Rows, i: int, t: str) -> None:
        from models.language import run as lm_run

        t = t.rstrip("\r\n")
        if not t.strip():
            rows.bad(i, t, BadInput("corpus.empty_line"))
            return
        try:
            trace = lm_run(self.model, t)
        except Exception as e:  # noqa: BLE001 — listed, the job goes on
            rows.bad(i, t, e)
            return
        src, _ = trace.token_info("encoder")
        info = text_tokens(src, self.specials)
        n = len(src)
        real = np.asarray(trace.padding, dtype=bool) if trace.padding is not None else np.ones(n, dtype=bool)
        keep = np.flatnonzero(real)
        js_rows = []
        layers = trace.num_layers("encoder")
        for layer in range(layers):
            w = torch.as_tensor(trace.weights("encoder", layer))[:, keep][:, :, keep]
            sub = {k: v[keep] for k, v in info["specials"].items()}
            stats, profile = hs.text_stats(w, sub, info["punct"][keep], info["sinks"][keep], self.spec.exclude_sinks)
            rows.layer(i, t, layer + 1, 0, len(keep), stats, profile, None)
            if i < self.spec.head_map_inputs:
                js_rows.append(w[:, hs.sample_queries(len(keep))])
        self._js(rows, js_rows, layers)

    def _js(self, rows: _Rows, js_rows: list[torch.Tensor], layers: int) -> None:
        """Fill the `js` column of the rows just added (one input, every layer): each head's Jensen–Shannon
        distance to every head of the model on this input's sampled queries."""
        if not js_rows:
            return
        d = hs.js_distances(torch.cat(js_rows, 0)).cpu().numpy().astype(np.float32)
        start = len(rows.cols["js"]) - d.shape[0]
        for k in range(d.shape[0]):
            rows.cols["js"][start + k] = d[k].tolist()

    # ---------------------------------------------------------------------------------------------- images
    def _images(self, rows: _Rows, ids: list[int], paths: list[str], data: list) -> None:
        from models.capture import vision
        from models.runtime.images import load_image

        ready: list[tuple[int, str, torch.Tensor]] = []
        for i, p, raw in zip(ids, paths, data):
            try:
                im = load_image(bytes(raw) if raw is not None else b"")
                ready.append((i, p, im))
            except Exception as e:  # noqa: BLE001 — an unreadable image is listed, the job goes on
                rows.bad(i, p, e)
        if not ready:
            return
        if self.model.kind == "vit" and self.model.lazy and len(ready) > 1:
            mark = len(rows.cols["input_id"])
            try:
                xs = torch.cat([vision.preprocess(self.model, im)[0] for _, _, im in ready])
                self._vit_batch(rows, [(i, p) for i, p, _ in ready], xs)
                return
            except Exception:  # noqa: BLE001 — the batch failed as a whole: every image again, alone
                for col in rows.cols.values():
                    del col[mark:]
        for i, p, im in ready:
            try:
                self._one_image(rows, i, p, im)
            except Exception as e:  # noqa: BLE001 — listed, the job goes on
                rows.bad(i, p, e)

    def _vit_batch(self, rows: _Rows, items: list[tuple[int, str]], x: torch.Tensor) -> None:
        from models.capture import vision

        module = self.model.module
        ph, pw = vision._patch_size(module)
        grid = (x.shape[-2] // ph, x.shape[-1] // pw)
        labels, n_prefix = vision.token_labels(module, grid)
        prefix = labels[:n_prefix]
        n = len(labels)
        scales = [float(b.attn.scale) for b in module.blocks]
        js_rows: dict[int, list[torch.Tensor]] = {}
        sample = hs.sample_queries(n)
        heads = [0]

        def on_block(layer: int, q: torch.Tensor, k: torch.Tensor) -> None:
            # Each block's statistics while the forward runs (q and k fresh in cache, never kept), a few images at a
            # time: their (chunk, H, N, N) weights stay in the CPU's cache through the statistics' ~10 passes (the
            # whole batch's 32 × 12 × 197² floats went through memory each time: 2× slower).
            heads[0] = q.shape[1]
            s = scales[layer]
            for c0 in range(0, len(items), STATS_CHUNK):
                c1 = min(c0 + STATS_CHUNK, len(items))
                w = torch.softmax(torch.matmul(q[c0:c1].float() * s, k[c0:c1].float().transpose(-1, -2)), dim=-1)
                stats, profile = hs.image_stats(w, grid, float(ph), prefix, self.spec.exclude_sinks)
                for b in range(c0, c1):
                    i, p = items[b]
                    rows.layer(i, p, layer + 1, 0, n, {kk: v[b - c0] for kk, v in stats.items()}, profile[b - c0],
                               None)
                    if i < self.spec.head_map_inputs:
                        js_rows.setdefault(b, []).append(w[b - c0][:, sample].clone())

        blocks = capture_queries_keys(module, x, on_block)
        # the js column: rows were added layer by layer, input by input within a layer
        for b, parts in js_rows.items():
            d = hs.js_distances(torch.cat(parts, 0)).cpu().numpy().astype(np.float32)
            base = len(rows.cols["js"]) - blocks * len(items) * heads[0]
            for layer in range(blocks):
                start = base + (layer * len(items) + b) * heads[0]
                for h in range(heads[0]):
                    rows.cols["js"][start + h] = d[layer * heads[0] + h].tolist()

    def _one_image(self, rows: _Rows, i: int, p: str, im) -> None:
        from models.capture import vision

        tr = vision.run(self.model, im)
        if tr.kind == "swin":
            from models.capture import swin

            for layer, (a, block) in enumerate(zip(tr.attention, tr.blocks)):
                w = torch.as_tensor(np.asarray(a))
                stats, profile = hs.swin_stats(w, swin.token_positions(block), float(block.patch_px))
                rows.layer(i, p, layer + 1, int(block.stage) + 1, int(w.shape[0] * w.shape[2]), stats, profile,
                           None)
            return
        prefix = list(tr.token_labels[: tr.num_prefix_tokens])
        n = len(tr.token_labels)
        js_rows = []
        sample = hs.sample_queries(n)
        for layer in range(len(tr.attention)):
            w = torch.as_tensor(np.asarray(tr.attention[layer]))
            stats, profile = hs.image_stats(w, tuple(tr.grid), float(tr.patch_size), prefix, self.spec.exclude_sinks)
            rows.layer(i, p, layer + 1, 0, n, stats, profile, None)
            if i < self.spec.head_map_inputs:
                js_rows.append(w[:, sample])
        self._js(rows, js_rows, len(tr.attention))


# -------------------------------------------------------------------------------------------------- helpers
def load_model(spec: JobSpec):
    if spec.modality == "text":
        from models.language import load

        return load(spec.model, spec.device)
    from models.capture import vision

    return vision.load(spec.model, spec.weights, spec.device)


def text_body(lm):
    """The part of a transformers model whose attention the job reads: the encoder of an encoder–decoder, else the
    base model without its language-model head (the head's output is not used)."""
    module = lm.module
    if lm.family == "encoder-decoder":
        return module.get_encoder()
    return getattr(module, "base_model", module)


def special_names(model, modality: str) -> list[str]:
    """The special tokens a share is reported for, in a fixed order (the table's columns)."""
    if modality == "images":
        if getattr(model, "kind", None) == "swin":
            return []
        from models.capture import vision

        labels, n_prefix = vision.token_labels(model.module, (1, 1))
        return list(labels[:n_prefix])
    tok = getattr(model, "tokenizer", None)
    if tok is None:  # our demo: its own markers
        return ["<s>", "</s>"]
    skip = {tok.pad_token, tok.unk_token, tok.mask_token}  # never structural: padding, unknown and masked words
    out = []
    for s in tok.all_special_tokens:
        if s not in skip and s not in out:
            out.append(s)
    return out


def text_tokens(tokens, specials: list[str]) -> dict:
    """Per-position masks for one input's tokens: each special's positions, punctuation, the BOS-like sink."""
    n = len(tokens)
    pieces = [t.piece for t in tokens]
    out = {n_: np.array([p == n_ and t.special for p, t in zip(pieces, tokens)], dtype=bool) for n_ in specials}
    punct = np.array([(not t.special) and hs.is_punctuation(t.label) for t in tokens], dtype=bool)
    sinks = np.zeros(n, dtype=bool)
    if n and tokens[0].special:
        sinks[0] = True
    return {"specials": out, "punct": punct, "sinks": sinks}


def capture_queries_keys(module: torch.nn.Module, x: torch.Tensor, on_block) -> int:
    """A batch through a plain timm ViT (its own fused forward), handing every block's q and k, (B, H, N, d), to
    `on_block(block index, q, k)` as soon as the block has made them (nothing kept): forward hooks on q_norm / k_norm
    for this thread only, removed in `finally` (models/capture/hooks.py). Returns the number of blocks seen."""
    from models.capture.hooks import hooks

    seen = {"q": None, "blocks": 0}

    def on_q(mod, inp, out):
        seen["q"] = out

    def on_k(mod, inp, out):
        on_block(seen["blocks"], seen["q"], out)
        seen["blocks"] += 1
        seen["q"] = None

    with hooks(hold=module) as h, torch.inference_mode():
        for b in module.blocks:
            h.forward(b.attn.q_norm, on_q)
            h.forward(b.attn.k_norm, on_k)
        module(x)
    if seen["blocks"] != len(module.blocks):
        raise BadInput("corpus.capture_count", maps=seen["blocks"], blocks=len(module.blocks))
    return seen["blocks"]


__all__ = ["JobSpec", "HeadStats", "BadInput", "Notice", "schema", "stat_names", "load_model", "special_names"]
