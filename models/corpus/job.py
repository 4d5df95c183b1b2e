"""The corpus job: read a corpus, compute every head's statistics batch by batch (here, or on Ray Data), keep each
batch as a Parquet part as soon as it is done (an interrupted job resumes where it stopped), then assemble one
Parquet file: one row per (input, layer, head), the aggregates (mean, standard deviation, count per layer and head),
and in its metadata the model, weights, preprocessing, versions, options, the bad inputs and the head map.

Layout of an output `stats.parquet`:
- column `row`: "input" (one input, one layer, one head) or "aggregate" (one layer and head over the corpus);
- input rows: input_id (from 0: the line's index in a text file, the file's index in sorted order in a folder),
  input (the line, or the image's path in the corpus), layer and head (from 1), stage (Swin, from 1), tokens, every
  statistic (models/analysis/head_stats.py), profile (the head's pattern by relative position), js (for the first
  `head_map_inputs` inputs: the head's Jensen–Shannon distance to every head, in (layer, head) order);
- aggregate rows: the statistics' means over the corpus's good inputs, `<stat>_std` (population standard deviation),
  `count`, and the mean profile;
- metadata key b"atlas": JSON (see `metadata`).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import platform
import time
import zipfile
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from models.corpus.compute import HeadStats, JobSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
META_KEY = b"atlas"
FORMAT = 1


class JobError(Exception):
    """A job that cannot start (a missing corpus, an output written by other arguments): a plain message."""


# -------------------------------------------------------------------------------------------------- the corpus
@dataclass
class Corpus:
    """What a job reads: text lines or images, each with its id (from 0) and a label (the line, or the path)."""

    path: str
    modality: str  # "text" or "images"
    labels: list[str]  # per id
    _zip: str | None = None
    _folder: str | None = None
    _lines: list[str] = field(default_factory=list)
    _blobs: dict[str, bytes] | None = None  # images held in memory (an upload, the bundled corpus)

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, ids: list[int]) -> dict:
        """The columns HeadStats reads for these ids."""
        if self.modality == "text":
            return {"input_id": np.asarray(ids, dtype=np.int64), "text": [self._lines[i] for i in ids]}
        return {"input_id": np.asarray(ids, dtype=np.int64), "path": [self.labels[i] for i in ids],
                "bytes": [self._read(self.labels[i]) for i in ids]}

    def _read(self, name: str) -> bytes | None:
        if self._blobs is not None:
            return self._blobs.get(name)
        try:
            if self._zip is not None:
                with zipfile.ZipFile(self._zip) as z:
                    return z.read(name)
            return (pathlib.Path(self._folder) / name).read_bytes()
        except (OSError, KeyError, zipfile.BadZipFile):
            return None  # HeadStats lists it as unreadable


def open_corpus(path: str | os.PathLike, lines: list[str] | None = None) -> Corpus:
    """A text file (one input per line, UTF-8), a folder of images (sorted, recursively) or a zip of images."""
    p = pathlib.Path(path)
    if lines is not None:
        return Corpus(str(p), "text", list(lines), _lines=list(lines))
    if p.is_dir():
        names = sorted(str(f.relative_to(p)) for f in p.rglob("*")
                       if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not names:
            raise JobError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {p}")
        return Corpus(str(p.resolve()), "images", names, _folder=str(p))
    if not p.is_file():
        raise JobError(f"no such corpus: {p}")
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            names = sorted(n for n in z.namelist() if pathlib.PurePosixPath(n).suffix.lower() in IMAGE_SUFFIXES
                           and not n.startswith("__MACOSX/"))
        if not names:
            raise JobError(f"no images in the zip {p}")
        return Corpus(str(p.resolve()), "images", names, _zip=str(p))
    text = p.read_bytes().decode("utf-8", errors="replace")
    got = text.split("\n")
    if got and got[-1] == "":
        got = got[:-1]  # the newline that ends the file ends the last line
    got = [g.rstrip("\r") for g in got]
    return Corpus(str(p.resolve()), "text", got, _lines=got)


def text_corpus(text: str, path: str = "<text>") -> Corpus:
    """A corpus from text held in memory (an upload): one input per line, as `open_corpus` reads a file."""
    got = text.split("\n")
    if got and got[-1] == "":
        got = got[:-1]
    got = [g.rstrip("\r") for g in got]
    return Corpus(path, "text", got, _lines=got)


def image_corpus(blobs: dict[str, bytes], path: str = "<images>") -> Corpus:
    """A corpus of images held in memory, in the order given: name → the file's bytes."""
    return Corpus(path, "images", list(blobs), _blobs=dict(blobs))


def zip_corpus(data: bytes, path: str = "<zip>", max_files: int | None = None, max_bytes: int | None = None
               ) -> Corpus:
    """The images of a zip held in memory (sorted by name); JobError past the limits or without images."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise JobError("not a zip file") from None
    with z:
        infos = sorted((i for i in z.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
                        and pathlib.PurePosixPath(i.filename).suffix.lower() in IMAGE_SUFFIXES),
                       key=lambda i: i.filename)
        if not infos:
            raise JobError("no images in the zip")
        if max_files is not None and len(infos) > max_files:
            raise JobError(f"{len(infos)} images in the zip, more than {max_files}")
        total = sum(i.file_size for i in infos)
        if max_bytes is not None and total > max_bytes:
            raise JobError(f"{total / 2**20:.0f} MB of images in the zip, more than {max_bytes / 2**20:.0f} MB")
        return image_corpus({i.filename: z.read(i) for i in infos}, path)


def corpus_fingerprint(c: Corpus) -> str:
    h = hashlib.sha256()
    for label in c.labels:
        h.update(label.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:16]


# -------------------------------------------------------------------------------------------------- parts
def parts_dir(out: str | os.PathLike) -> pathlib.Path:
    return pathlib.Path(str(out) + ".parts")


def _job_file(out) -> pathlib.Path:
    return parts_dir(out) / "job.json"


def check_resume(out, spec: JobSpec, corpus: Corpus, restart: bool = False) -> None:
    """Refuse to mix two jobs' rows: the parts folder (and a finished output) must come from these same arguments."""
    key = {"spec": spec.key(), "corpus": corpus_fingerprint(corpus)}
    pdir, out = parts_dir(out), pathlib.Path(out)
    if restart:
        for f in pdir.glob("*"):
            f.unlink()
        if out.exists():
            out.unlink()
    found = None
    if _job_file(out).exists():
        found = json.loads(_job_file(out).read_text())
    elif out.exists():
        meta = read_metadata(out)
        found = {"spec": meta.get("spec"), "corpus": meta.get("corpus_fingerprint")}
    if found is not None and found != key:
        raise JobError(f"{out} (or {pdir}) holds a job run with other arguments or another corpus; "
                       "pass --restart to replace it, or choose another --out")
    pdir.mkdir(parents=True, exist_ok=True)
    _job_file(out).write_text(json.dumps(key, sort_keys=True))


def done_ids(out) -> set[int]:
    """Inputs already written: in the parts folder, and in a finished output of the same job."""
    done: set[int] = set()
    for t in _read_parts(out):
        done.update(t.column("input_id").to_pylist())
    out = pathlib.Path(out)
    if out.exists():
        t = pq.read_table(out, columns=["input_id", "row"])
        ids = t.filter(pa.compute.equal(t.column("row"), "input")).column("input_id")
        done.update(ids.to_pylist())
    return done


def _read_parts(out) -> list[pa.Table]:
    tables = []
    for f in sorted(parts_dir(out).glob("*.parquet")):
        try:
            tables.append(pq.read_table(f))
        except (OSError, pa.ArrowInvalid):  # a part cut short by the interruption: its inputs are done again
            f.unlink(missing_ok=True)
    return tables


def write_part(out, table: pa.Table) -> None:
    ids = table.column("input_id").to_pylist()
    if not ids:
        return
    name = f"part-{min(ids):09d}-{max(ids):09d}-{os.getpid()}-{time.monotonic_ns()}.parquet"
    tmp = parts_dir(out) / (name + ".tmp")
    pq.write_table(table, tmp)
    tmp.rename(parts_dir(out) / name)  # atomic: a part is there whole or not at all


# -------------------------------------------------------------------------------------------------- assembling
def aggregates(rows: pa.Table, stats: list[str]) -> pa.Table:
    """Mean, population standard deviation and count per (layer, head) over the good input rows, and the mean
    profile. A statistic that is undefined on an input (NaN stored as null) is left out of that head's figures."""
    import pandas as pd

    df = rows.select(["layer", "head", "stage", *stats]).to_pandas()
    g = df.groupby(["layer", "head"], sort=True)
    mean = g[stats].mean()
    std = g[stats].std(ddof=0)
    count = g.size()
    stage = g["stage"].first()
    prof = _mean_profiles(rows)
    out = pd.DataFrame({"layer": [k[0] for k in mean.index], "head": [k[1] for k in mean.index]})
    out["stage"] = stage.values
    for s in stats:
        out[s] = mean[s].values
        out[s + "_std"] = std[s].values
    out["count"] = count.values
    out["profile"] = [prof.get(k) for k in mean.index]
    return pa.Table.from_pandas(out, preserve_index=False)


def _mean_profiles(rows: pa.Table) -> dict[tuple[int, int], list[float]]:
    """Each (layer, head)'s mean profile over the inputs, NaN offsets (no such neighbour) left out: vectorised over
    the list column (50,000 images × 144 heads is 7.2 million rows)."""
    col = rows.column("profile").combine_chunks()
    if rows.num_rows == 0 or col.null_count == rows.num_rows:
        return {}
    lengths = pa.compute.list_value_length(col).to_numpy(zero_copy_only=False)
    width = int(np.nanmax(lengths))
    ok_rows = lengths == width
    values = pa.compute.list_flatten(col).to_numpy(zero_copy_only=False).astype(np.float64)
    starts = np.concatenate([[0], np.cumsum(np.nan_to_num(lengths, nan=0).astype(np.int64))[:-1]])
    idx = starts[ok_rows][:, None] + np.arange(width)[None, :]
    prof = values[idx]  # (good rows, width)
    keys = np.stack([rows.column("layer").to_numpy()[ok_rows], rows.column("head").to_numpy()[ok_rows]], 1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    ok = ~np.isnan(prof)
    sums = np.zeros((len(uniq), width))
    counts = np.zeros((len(uniq), width))
    np.add.at(sums, inverse.reshape(-1), np.where(ok, prof, 0.0))
    np.add.at(counts, inverse.reshape(-1), ok)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)
    return {(int(k[0]), int(k[1])): means[i].tolist() for i, k in enumerate(uniq)}


def head_map_from_rows(rows: pa.Table) -> dict | None:
    """The mean Jensen–Shannon distance between every two heads over the inputs that carry one, and their 2-D map."""
    from models.analysis.head_stats import head_map

    t = rows.filter(pa.compute.invert(pa.compute.is_null(rows.column("js"))))
    if t.num_rows == 0:
        return None
    layer = t.column("layer").to_numpy()
    head = t.column("head").to_numpy()
    keys = sorted(set(zip(layer.tolist(), head.tolist())))
    index = {k: i for i, k in enumerate(keys)}
    n = len(keys)
    total = np.zeros((n, n))
    count = np.zeros(n)
    for l_, h_, js in zip(layer.tolist(), head.tolist(), t.column("js").to_pylist()):
        if len(js) != n:
            continue
        total[index[(l_, h_)]] += np.asarray(js, dtype=np.float64)
        count[index[(l_, h_)]] += 1
    d = total / np.maximum(count, 1)[:, None]
    d = (d + d.T) / 2
    xy = head_map(d)
    return {"heads": [list(k) for k in keys], "inputs": int(count.max()) if n else 0,
            "distances": np.round(d, 6).tolist(), "xy": np.round(xy, 6).tolist()}


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for p in ("torch", "timm", "transformers", "numpy", "pyarrow", "scikit-learn", "ray"):
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            pass
    return out


def describe_model(hs: HeadStats) -> dict:
    m = hs.model
    if hs.spec.modality == "text":
        return {"name": m.name, "family": m.family, "weights": m.weights_source, "layers": m.num_layers,
                "heads": m.num_heads, "preprocessing": {"tokenizer": type(m.tokenizer).__name__ if m.tokenizer
                                                        else "demo", "special_tokens": "added by the tokenizer",
                                                        "max_tokens": hs._limit()}}
    cfg = dict(m.data_config)
    return {"name": m.name, "arch": m.arch, "kind": m.kind, "weights": m.weights_source,
            "preprocessing": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}}


def assemble(tables: list[pa.Table], hs: HeadStats, corpus: Corpus, backend: str, seconds: float,
             extra: dict | None = None) -> pa.Table:
    """Every part's rows (duplicates from a resumed batch dropped), the aggregates and the metadata: one table."""
    if tables:
        rows = pa.concat_tables(tables)
    else:
        from models.corpus.compute import _Rows

        rows = _Rows(hs.stats).table()
    rows = _dedupe(rows)
    bad = rows.filter(pa.compute.invert(pa.compute.is_null(rows.column("error"))))
    good = rows.filter(pa.compute.is_null(rows.column("error")))
    good = good.sort_by([("input_id", "ascending"), ("layer", "ascending"), ("head", "ascending")])
    agg = aggregates(good, hs.stats) if good.num_rows else None
    n_good = len(set(good.column("input_id").to_pylist()))
    meta = {
        "format": FORMAT,
        "spec": hs.spec.key(),
        "model": describe_model(hs),
        "corpus": corpus.path,
        "corpus_fingerprint": corpus_fingerprint(corpus),
        "modality": corpus.modality,
        "inputs": len(corpus),
        "good_inputs": n_good,
        "bad_inputs": [{"input_id": int(i), "input": s, "error": e, "message": m} for i, s, e, m in zip(
            bad.column("input_id").to_pylist(), bad.column("input").to_pylist(), bad.column("error").to_pylist(),
            bad.column("error_text").to_pylist())],
        "stats": hs.stats,
        "specials": hs.specials,
        "exclude_sinks": hs.spec.exclude_sinks,
        "head_map": head_map_from_rows(good),
        "backend": backend,
        "seconds": round(seconds, 3),
        "versions": versions(),
        "device": hs.spec.device,
        **(extra or {}),
    }
    good = good.append_column("row", pa.array(["input"] * good.num_rows, pa.string()))
    if agg is not None:
        agg_full = _like(agg, good.schema)
        table = pa.concat_tables([good, agg_full], promote_options="default")
    else:
        table = good
    md = dict(table.schema.metadata or {})
    md[META_KEY] = json.dumps(meta, ensure_ascii=False).encode("utf-8")
    return table.replace_schema_metadata(md)


def _like(agg: pa.Table, schema: pa.Schema) -> pa.Table:
    """Aggregate rows with the input rows' columns (nulls where they do not apply) and their own `_std`, `count`."""
    n = agg.num_rows
    cols = {}
    for f in schema:
        if f.name in agg.column_names:
            cols[f.name] = agg.column(f.name).cast(f.type)
        elif f.name == "row":
            cols[f.name] = pa.array(["aggregate"] * n, pa.string())
        else:
            cols[f.name] = pa.nulls(n, f.type)
    for name in agg.column_names:
        if name not in cols:
            cols[name] = agg.column(name)
    return pa.table(cols)


def _dedupe(rows: pa.Table) -> pa.Table:
    """One row per (input, layer, head): a batch redone after an interruption may have been written twice."""
    if rows.num_rows == 0:
        return rows
    ids = rows.column("input_id").to_numpy()
    layer = rows.column("layer").to_numpy()
    head = rows.column("head").to_numpy()
    key = np.stack([ids, layer, head], 1)
    _, first = np.unique(key, axis=0, return_index=True)
    return rows.take(pa.array(np.sort(first)))


def read_metadata(path) -> dict:
    md = pq.read_schema(path).metadata or {}
    if META_KEY not in md:
        raise JobError(f"{path} is not a statistics file written by this job (no '{META_KEY.decode()}' metadata)")
    return json.loads(md[META_KEY].decode("utf-8"))


def read(path_or_bytes) -> tuple[pa.Table, dict]:
    """A statistics file: (its table, its metadata)."""
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, (bytes, bytearray)) else path_or_bytes
    try:
        table = pq.read_table(src)
    except (OSError, pa.ArrowInvalid) as e:
        raise JobError(f"not a Parquet file: {e}") from None
    md = table.schema.metadata or {}
    if META_KEY not in md:
        raise JobError("not a statistics file written by this job")
    return table, json.loads(md[META_KEY].decode("utf-8"))


def finish(out, hs: HeadStats, corpus: Corpus, backend: str, seconds: float, extra: dict | None = None) -> pa.Table:
    """Assemble every part (and a previous output's input rows) into `out`, then remove the parts."""
    tables = _read_parts(out)
    outp = pathlib.Path(out)
    if outp.exists():
        old = pq.read_table(outp)
        old = old.filter(pa.compute.equal(old.column("row"), "input")).drop_columns(["row"])
        tables.append(old.select([c for c in tables[0].column_names] if tables else old.column_names))
    bad_old = read_metadata(outp).get("bad_inputs", []) if outp.exists() else []
    if bad_old:
        from models.corpus.compute import _Rows

        r = _Rows(hs.stats)
        for b in bad_old:
            r.bad(b["input_id"], b["input"], _Stored(b["error"], b["message"]))
        tables.append(r.table())
    tables = [t.cast(tables[0].schema) if t.schema != tables[0].schema else t for t in tables]
    table = assemble(tables, hs, corpus, backend, seconds, extra)
    tmp = outp.with_name(outp.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(outp)
    for f in parts_dir(out).glob("*"):
        f.unlink()
    parts_dir(out).rmdir()
    return table


class _Stored(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def done_bad_ids(out) -> set[int]:
    outp = pathlib.Path(out)
    if not outp.exists():
        return set()
    return {int(b["input_id"]) for b in read_metadata(outp).get("bad_inputs", [])}
