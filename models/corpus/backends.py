"""Where the batches run: here, one after another (`run_local`), or on Ray Data (`run_ray`): the same `HeadStats`
callable either way, so both write the same rows."""
from __future__ import annotations

import dataclasses
import pathlib
import sys
import time

from models.corpus.compute import HeadStats, JobSpec
from models.corpus.job import Corpus, JobError, check_resume, done_bad_ids, done_ids, finish, parts_dir, write_part


def _todo(out, corpus: Corpus) -> list[int]:
    done = done_ids(out) | done_bad_ids(out)
    return [i for i in range(len(corpus)) if i not in done]


def run_local(spec: JobSpec, corpus: Corpus, out, batch_size: int = 32, restart: bool = False,
              progress: bool = True, computer: HeadStats | None = None, stop_after: int | None = None):
    """Batches in corpus order, each written as a part when done; then the output. `stop_after` (tests, the
    benchmark): stop after that many batches as an interruption would, leaving the parts."""
    from tqdm import tqdm

    check_resume(out, spec, corpus, restart)
    todo = _todo(out, corpus)
    hs = computer or HeadStats(spec)
    t0 = time.perf_counter()
    bar = tqdm(total=len(corpus), initial=len(corpus) - len(todo), unit="input", desc="heads", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        for n, start in enumerate(range(0, len(todo), batch_size)):
            if stop_after is not None and n >= stop_after:
                return None
            ids = todo[start: start + batch_size]
            write_part(out, hs(corpus.batch(ids)))
            bar.update(len(ids))
    finally:
        bar.close()
    return finish(out, hs, corpus, "local", time.perf_counter() - t0)


def run_ray(spec: JobSpec, corpus: Corpus, out, batch_size: int = 32, address: str | None = None,
            restart: bool = False, workers: int | None = None, num_cpus: int | None = None):
    """The job on Ray Data: the inputs → `map_batches(HeadStats)` (one model per worker actor; a GPU per worker when
    the cluster has GPUs) → `write_parquet` into the parts folder; the driver then assembles the output as the local
    backend does. Without `address` a local Ray starts (and stops) here; with it, the job joins that cluster.

    Text lines are read here and handed out with `ray.data.from_items` (a line's number is its id, which
    `read_text` does not keep); a folder of images is read by the workers with `read_binary_files` (the bytes are
    decoded in HeadStats, so an unreadable image is listed instead of failing the read as `read_images` would)."""
    import ray

    if corpus.modality == "images" and corpus._folder is None:
        raise JobError("--backend ray reads a folder of images (the workers read the files): unzip the corpus first")
    check_resume(out, spec, corpus, restart)
    todo = _todo(out, corpus)
    t0 = time.perf_counter()
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - t0
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        if workers is None:
            # one actor per GPU; on CPUs leave one for the read tasks (every CPU held by actors stalls the reads)
            workers = gpus if gpus else max(1, cpus - 1)
        # Batches in corpus order, as the local backend makes them: a batched forward rounds an input's numbers
        # according to its batch-mates (a few 1e-7), so the same batches give the same numbers to the bit.
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        spec_kw = dataclasses.asdict(spec)
        if gpus:
            spec_kw["device"] = "cuda"
        if corpus.modality == "text":
            ds = ray.data.from_items([{"input_id": i, "text": corpus._lines[i]} for i in todo])
        else:
            root = pathlib.Path(corpus._folder).resolve()
            index = {name: i for i, name in enumerate(corpus.labels)}
            files = [str(root / corpus.labels[i]) for i in todo]
            ds = ray.data.read_binary_files(files, include_paths=True) if files else None
            if ds is not None:
                ds = ds.map(_with_id, fn_kwargs={"root": str(root), "index": index})
        if todo and ds is not None:
            ds = ds.map_batches(
                HeadStats, fn_constructor_kwargs={"spec": spec_kw}, batch_size=batch_size, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=workers), num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1)
            ds.write_parquet(str(parts_dir(out)))
        extra = {"ray_startup_seconds": round(startup, 3), "ray_workers": workers, "ray_gpus": gpus}
        return finish(out, HeadStats(spec), corpus, "ray", time.perf_counter() - t0, extra)
    finally:
        if started_here:
            ray.shutdown()


def _with_id(row: dict, root: str, index: dict) -> dict:
    rel = str(pathlib.Path(row["path"]).resolve().relative_to(root)) if row["path"].startswith("/") else row["path"]
    return {"input_id": index[rel], "path": rel, "bytes": row["bytes"]}
