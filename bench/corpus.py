"""The corpus job's figures (issue 15): its throughput beside the bare batched forward, the Ray backend, a plan.

job_ratio: the local job's throughput (inputs per second) ÷ the same model's bare batched forward throughput on the
  same inputs, at batch 32 (goal >= 0.8):
    vit_base_patch16_224 (random weights: timing does not depend on them) on the bundled image corpus's first 64
      images (4 sample photos, 60 generated shapes);
        bare = each image decoded (models.runtime.images.load_image, as the job does), timm's eval transform
               (vision.preprocess), the batch stacked and module(x), the model as loaded (fused attention);
        job  = HeadStats(spec, model=the same loaded model)(corpus.batch(ids)): what run_local does per batch
               (decoding, the transform, the forward keeping every block's q and k, each block's weights formed
               once, every statistic, the Jensen–Shannon rows, the Arrow table);
    a BERT-base-sized encoder (transformers' BertConfig defaults: 12 layers × 12 heads, d = 768, random weights
      saved to a temporary folder with the bundled MiniLM's tokenizer files, loaded by models.language.load) on 64
      texts of exactly 128 tokens ([CLS] and [SEP] included: the bundled English sentences concatenated and cut);
        bare = the texts tokenised as one padded batch and the sub-module the job runs
               (models.corpus.compute.text_body: the encoder without its language-model head) forward on it;
        job  = HeadStats(spec, model=that loaded model)(corpus.batch(ids)).
  Each round runs every batch bare then as the job (alternating, so that contention from other processes on the
  machine hits both), after a warm-up round; medians of the per-batch seconds. Then run_local end to end
  (restart, the model given, progress off: the batches, each written as a Parquet part, the aggregates, the head
  map, the output file), then the bare forward over the whole corpus: run_local_ratio (once each); the output's
  bytes per input.
ray: the bundled all-MiniLM-L6-v2 on the first 200 bundled English sentences at batch 32, run_local (the model
  loaded inside, as the CLI does; before and after Ray, the mean of the two) beside run_ray(num_cpus=2) (a local Ray
  started and stopped inside; its actor count left to run_ray: one on 2 CPUs); wall seconds end to end, Ray's start-
  up (ray.init), inputs per second, and the largest difference between the two outputs' statistics.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import signal
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOAL_RATIO = 0.8
BATCH = 32


def alternate(fns: dict, batches: list[list[int]], rounds: int) -> dict[str, list[float]]:
    """Per-batch seconds of each fn(ids), in turn for every batch (bare, job, steady, bare, …), `rounds` times, after
    a warm-up of the first batch through each."""
    for fn in fns.values():
        fn(batches[0])
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for ids in batches:
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn(ids)
                times[name].append(time.perf_counter() - t0)
    return times


class _Clock:
    """Seconds spent inside named functions during one call: module attributes wrapped for the call only and put back
    in `finally` (the bench's own process; the job looks them up at call time)."""

    def __init__(self, targets: dict):
        self.targets = targets  # label -> (owner, attribute name)
        self.seconds = {k: 0.0 for k in targets}

    def __enter__(self):
        self.saved = {}
        for label, (owner, name) in self.targets.items():
            fn = getattr(owner, name)
            self.saved[label] = (owner, name, fn, name in vars(owner))
            setattr(owner, name, self._timed(label, fn))
        return self

    def _timed(self, label, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - t0
        return wrapper

    def __exit__(self, *exc):
        for owner, name, fn, own in self.saved.values():
            if own:
                setattr(owner, name, fn)
            else:  # an instance's bound method (a module's forward): the class's comes back
                delattr(owner, name)


def breakdown(job, ids, targets: dict) -> dict:
    """One more (untimed for the ratio) call of job(ids), split into the seconds inside each target."""
    with _Clock(targets) as clock:
        t0 = time.perf_counter()
        job(ids)
        total = time.perf_counter() - t0
    out = {k: round(v, 3) for k, v in clock.seconds.items()}
    out["total"] = round(total, 3)
    out["other"] = round(total - sum(clock.seconds.values()), 3)
    return out


def _bytes_of(table) -> int:
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.tell()


def _compare(corpus, spec, hs, steady, bare, batch: int, rounds: int, tmp: pathlib.Path, label: str,
             parts: dict) -> dict:
    """The figures of one model: bare vs the job per batch (alternating; `steady`: the job past the head-map
    inputs), then run_local end to end with `hs` (the job as asked: on this small corpus every input feeds the head
    map) beside the bare forward over the whole corpus."""
    from models.corpus.backends import run_local

    ids = list(range(len(corpus)))
    batches = [ids[i: i + batch] for i in range(0, len(ids), batch)]
    last: dict = {}

    def job(ids):  # past the head-map inputs: what every batch of a large corpus does
        last["table"] = steady(corpus.batch(ids))

    times = alternate({"bare": bare, "job": job}, batches, rounds)
    split = breakdown(job, batches[-1], parts["job"])
    split_bare = breakdown(bare, batches[-1], parts["bare"])
    out = tmp / f"{label}.parquet"
    t0 = time.perf_counter()
    run_local(spec, corpus, out, batch_size=batch, restart=True, progress=False, computer=hs)
    local_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in batches:
        bare(b)
    bare_all_s = time.perf_counter() - t0
    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(corpus)
    steady_bytes = _bytes_of(last["table"])
    return {
        "batch": batch,
        "inputs": n,
        "bare_s_per_batch": round(med["bare"], 3),
        "job_s_per_batch": round(med["job"], 3),
        "bare_inputs_per_s": round(batch / med["bare"], 2),
        "job_inputs_per_s": round(batch / med["job"], 2),
        "ratio": round(med["bare"] / med["job"], 3),  # job's inputs/s ÷ bare's, same inputs and batch
        # the least disturbed batch of each side (other processes share the machine): beside the medians, no goal
        "best_ratio": round(min(times["bare"]) / min(times["job"]), 3),
        "runs_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "job_breakdown_s": split,  # one more batch, where its seconds go (not alternated: a guide, not a figure)
        "bare_breakdown_s": split_bare,
        "run_local_s": round(local_s, 3),
        "run_local_inputs_per_s": round(n / local_s, 2),
        "bare_whole_corpus_s": round(bare_all_s, 3),
        "run_local_ratio": round(bare_all_s / local_s, 3),  # every input here feeds the head map, Parquet written
        "parquet_bytes": out.stat().st_size,
        "parquet_bytes_per_input": round(out.stat().st_size / n),
        "parquet_bytes_per_input_past_head_map": round(steady_bytes / len(batches[-1])),
    }


# ------------------------------------------------------------------------------------------------ images
def vision_ratio(quick: bool, rounds: int, tmp: pathlib.Path) -> dict:
    from models.capture import vision
    from models.corpus import bundled, compute
    from models.corpus.compute import HeadStats, JobSpec
    from models.corpus.job import image_corpus
    from models.runtime import images

    name, batch, n = ("vit_tiny_patch16_224", 4, 8) if quick else ("vit_base_patch16_224", BATCH, 64)
    print(f"corpus job_ratio: {name}, {n} bundled images, batch {batch}", file=sys.stderr)
    full = bundled.images()
    corpus = image_corpus({lab: full._blobs[lab] for lab in full.labels[:n]}, f"<bundled images, first {n}>")
    t0 = time.perf_counter()
    model = vision.load(name, "random")
    load_s = time.perf_counter() - t0
    spec = JobSpec(model=name, modality="images", weights="random")
    hs = HeadStats(spec, model=model)
    steady = HeadStats(dataclasses.replace(spec, head_map_inputs=0), model=model)
    module = model.module

    def bare(ids):
        b = corpus.batch(ids)
        x = torch.cat([vision.preprocess(model, images.load_image(bytes(raw)))[0] for raw in b["bytes"]])
        with torch.inference_mode():
            return module(x)

    parts = {
        "job": {"decode": (images, "load_image"), "preprocess": (vision, "preprocess"),
                # each block's statistics run inside the forward, in the hook that receives its q and k
                "forward_with_statistics": (compute, "capture_queries_keys"),
                "rows": (compute._Rows, "layer"), "arrow_table": (compute._Rows, "table")},
        "bare": {"decode": (images, "load_image"), "preprocess": (vision, "preprocess"),
                 "forward": (module, "forward")},
    }
    row = _compare(corpus, spec, hs, steady, bare, batch, rounds, tmp, name, parts)
    grid = tuple(s // p for s, p in zip(model.data_config["input_size"][1:], vision._patch_size(module)))
    row.update(model_key=name, model=name, weights="random", model_load_s=round(load_s, 2),
               tokens=len(vision.token_labels(module, grid)[0]),
               layers=len(module.blocks), heads=module.blocks[0].attn.num_heads,
               params=sum(p.numel() for p in module.parameters()))
    return row


# ------------------------------------------------------------------------------------------------ text
def texts_of(tok, tokens: int, n: int) -> list[str]:
    """n texts the tokenizer cuts into exactly `tokens` tokens ([CLS] and [SEP] included): the bundled English
    sentences concatenated, cut into pieces of tokens - 2 word pieces, decoded, kept when re-encoding gives back
    exactly `tokens`."""
    from models.corpus.bundled import TEXT

    ids = [i for line in TEXT["en"].read_text(encoding="utf-8").splitlines()
           for i in tok(line, add_special_tokens=False)["input_ids"]]
    out: list[str] = []
    step = tokens - 2
    start = 0
    while len(out) < n and start + step <= len(ids):
        piece = ids[start: start + step]
        start += step
        while piece and piece[0] in tok.all_special_ids:
            piece = piece[1:]
        if tok.convert_ids_to_tokens(piece[0]).startswith("##"):
            continue  # a piece that starts inside a word would re-encode differently
        text = tok.decode(piece, clean_up_tokenization_spaces=False)
        if len(tok(text)["input_ids"]) == tokens:
            out.append(text)
    if len(out) < n:
        raise RuntimeError(f"only {len(out)} texts of {tokens} tokens from the bundled corpus, {n} asked")
    return out


def _bert_folder(where: pathlib.Path, quick: bool) -> pathlib.Path:
    from transformers import BertConfig, BertForMaskedLM

    from models.language.hub import minilm_folder

    src = minilm_folder()
    if src is None:
        raise RuntimeError("the bundled MiniLM is not installed (its tokenizer files are used)")
    config = (BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
              if quick else BertConfig())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        BertForMaskedLM(config).save_pretrained(str(where))
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (src / f).exists():
            shutil.copy(src / f, where / f)
    return where


def text_ratio(quick: bool, rounds: int, tmp: pathlib.Path) -> dict:
    from models import language
    from models.analysis import head_stats
    from models.corpus import compute
    from models.corpus.compute import HeadStats, JobSpec, text_body
    from models.corpus.job import text_corpus
    from models.language import capture
    from models.language import tokens as lm_tokens

    label, tokens, batch, n = ("bert_tiny_64", 64, 4, 8) if quick else ("bert_base_128", 128, BATCH, 64)
    print(f"corpus job_ratio: {label}, {n} texts of {tokens} tokens, batch {batch}", file=sys.stderr)
    folder = _bert_folder(tmp / label, quick)
    lm = language.load(str(folder), "cpu")
    tok = lm.tokenizer
    texts = texts_of(tok, tokens, n)
    corpus = text_corpus("\n".join(texts) + "\n", f"<{n} texts of {tokens} tokens>")
    spec = JobSpec(model=str(folder), modality="text")
    hs = HeadStats(spec, model=lm)
    steady = HeadStats(dataclasses.replace(spec, head_map_inputs=0), model=lm)
    body = text_body(lm)

    def bare(ids):
        b = corpus.batch(ids)
        enc = tok([str(t) for t in b["text"]], padding=True, return_tensors="pt")
        with torch.inference_mode():
            return body(input_ids=enc["input_ids"].to(lm.device), attention_mask=enc["attention_mask"].to(lm.device))

    parts = {
        "job": {"forward_recording": (body, "forward"), "weights_of": (capture, "weights_of"),
                "token_list": (lm_tokens, "token_list"), "stats": (head_stats, "text_stats"),
                "rows": (compute._Rows, "layer"), "arrow_table": (compute._Rows, "table")},
        "bare": {"forward": (body, "forward")},
    }
    row = _compare(corpus, spec, hs, steady, bare, batch, rounds, tmp, label, parts)
    cfg = lm.module.config
    row.update(model_key=label,
               model=f"bert {cfg.num_hidden_layers} layers × {cfg.num_attention_heads} heads, d = {cfg.hidden_size}",
               weights="random", tokens=tokens, layers=cfg.num_hidden_layers, heads=cfg.num_attention_heads,
               params=sum(p.numel() for p in body.parameters()))
    return row


# ------------------------------------------------------------------------------------------------ Ray
def _session_pids(session_dir: str) -> list[int]:
    """Processes still alive whose command line names this Ray session's folder (ours: started by this bench)."""
    pids = []
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if session_dir and session_dir in cmd:
            pids.append(int(p.name))
    return pids


def ray_vs_local(quick: bool, tmp: pathlib.Path) -> dict:
    try:
        import ray
    except ImportError:
        return {"reason": "ray is not installed (pip install 'ray[data]')"}
    from models.corpus.backends import run_local, run_ray
    from models.corpus.compute import JobSpec
    from models.corpus.job import read, text_corpus
    from models.language.hub import MINILM_NAME

    n = 32 if quick else 200
    lines = (ROOT / "assets" / "corpora" / "en.txt").read_text(encoding="utf-8").splitlines()[:n]
    corpus = text_corpus("\n".join(lines) + "\n", f"<bundled English, first {n}>")
    spec = JobSpec(model=MINILM_NAME, modality="text", device="cpu")
    print(f"corpus ray: {MINILM_NAME} on {n} sentences, run_local then run_ray(num_cpus=2)", file=sys.stderr)
    out_local, out_ray = tmp / "local.parquet", tmp / "ray.parquet"
    local_runs: list[float] = []

    def local():  # the model loaded inside, as the CLI does
        t0 = time.perf_counter()
        run_local(spec, corpus, out_local, batch_size=BATCH, restart=True, progress=False)
        local_runs.append(time.perf_counter() - t0)

    local()
    session = ""
    row: dict = {"model": MINILM_NAME, "inputs": n, "batch": BATCH}
    try:
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        init_s = time.perf_counter() - t0
        try:
            session = ray._private.worker._global_node.get_session_dir_path()
        except Exception:  # noqa: BLE001 — only used to find leftovers
            session = ""
        t1 = time.perf_counter()
        run_ray(spec, corpus, out_ray, batch_size=BATCH, restart=True, num_cpus=2)  # joins the Ray started above
        job_s = time.perf_counter() - t1
    except Exception as e:  # noqa: BLE001 — reported, the other parts go on
        row["reason"] = f"{type(e).__name__}: {str(e)[:300]}"
        return row
    finally:
        ray.shutdown()
        time.sleep(1.0)
        left = _session_pids(session)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        row["ray_leftover_processes_killed"] = len(left)
        row["ray_session"] = session
    local()  # once more after Ray: other processes' load on the machine changes over minutes
    local_s = statistics.mean(local_runs)
    row.update(local_s=round(local_s, 2), local_s_runs=[round(t, 2) for t in local_runs],
               local_inputs_per_s=round(n / local_s, 2))
    _, meta = read(out_ray)
    a, _ = read(out_local)
    b, _ = read(out_ray)
    row.update(
        ray_startup_s=round(init_s, 2),
        ray_job_s=round(job_s, 2),
        ray_total_s=round(init_s + job_s, 2),
        ray_inputs_per_s=round(n / (init_s + job_s), 2),
        ray_inputs_per_s_after_startup=round(n / job_s, 2),
        ray_over_local_throughput=round(local_s / (init_s + job_s), 3),
        ray_workers=meta.get("ray_workers", meta.get("extra", {}).get("ray_workers")),
        max_abs_diff_vs_local=_max_diff(a, b),
    )
    return row


def _max_diff(a, b) -> float | None:
    """Largest |local − ray| over the input rows' float statistics, rows matched by (input_id, layer, head)."""
    import pyarrow as pa

    def frame(t):
        t = t.filter(pa.compute.equal(t.column("row"), "input"))
        t = t.sort_by([("input_id", "ascending"), ("layer", "ascending"), ("head", "ascending")])
        return t
    a, b = frame(a), frame(b)
    if a.num_rows != b.num_rows:
        return None
    worst = 0.0
    for name in a.column_names:
        if pa.types.is_floating(a.schema.field(name).type):
            x = np.asarray(a.column(name).to_numpy(zero_copy_only=False), dtype=float)
            y = np.asarray(b.column(name).to_numpy(zero_copy_only=False), dtype=float)
            d = np.abs(x - y)
            d = d[~np.isnan(d)]
            if d.size:
                worst = max(worst, float(d.max()))
    return worst


# ------------------------------------------------------------------------------------------------ the part
def measure(quick: bool, threads: int) -> dict:
    rounds = 1 if quick else 2
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="atlas-bench-corpus-") as tmp:
        tmp = pathlib.Path(tmp)
        out["vision"] = vision_ratio(quick, rounds, tmp)
        out["text"] = text_ratio(quick, rounds, tmp)
        out["ray"] = ray_vs_local(quick, tmp)
    return out



def summary(found: dict) -> dict:
    """The top-level figures of the corpus part (bench/__main__.py puts them beside the others)."""
    rows = {found[k]["model_key"]: found[k] for k in ("vision", "text")}
    ray = found.get("ray") or {}
    keys = ("local_inputs_per_s", "ray_inputs_per_s", "ray_inputs_per_s_after_startup", "ray_startup_s",
            "ray_over_local_throughput", "reason")
    return {
        "corpus_job_ratio": {k: r["ratio"] for k, r in rows.items()},
        "corpus_run_local_ratio": {k: r["run_local_ratio"] for k, r in rows.items()},
        "corpus_seconds_per_batch": {k: {"batch": r["batch"], "bare": r["bare_s_per_batch"],
                                         "job": r["job_s_per_batch"]} for k, r in rows.items()},
        "corpus_ray": {k: ray[k] for k in keys if k in ray},
    }


def goals_met(results: dict) -> dict:
    return {"corpus_job_ratio": all(v >= GOAL_RATIO for v in results["corpus_job_ratio"].values())}


if __name__ == "__main__":
    print(json.dumps(measure("--quick" in sys.argv, 2), indent=1))
