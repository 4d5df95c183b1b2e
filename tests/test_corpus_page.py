"""The corpus page, headless (AppTest): the bundled MiniLM on a small corpus (the bundled sentences replaced by five
lines, one of them empty, so that the run takes a second), its grid against the batch job's Parquet written by the
local backend on the same lines, a Parquet upload round trip, bad uploads' messages, links to the model's page, the
page in Chinese, and one input's numbers: the ViT page's mean attention distance for vit_demo on a bundled shape
against the job's row for that shape. Real clicks on the charts are in tests/test_browser_corpus.py."""
from __future__ import annotations

import base64
import io
import json
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP

PAGE = "views/corpus.py"
SMALL = ("The cat sat on the mat.\n"
         "Hello, world! How are you today?\n"
         "\n"
         "A longer sentence, with two commas, about nothing in particular.\n"
         "She read the book; he wrote the letter.\n")
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def arr(value) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(value, dtype=float)


def specs(at) -> dict[str, dict]:
    return {c.proto.id.split("-", 2)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


@pytest.fixture
def small_bundled(monkeypatch):
    """The bundled English corpus replaced by SMALL (and the page's cache of it emptied), for a quick run."""
    from models.corpus import bundled, job
    from ui import corpus as ui

    monkeypatch.setattr(bundled, "text", lambda lang: job.text_corpus(SMALL, f"<small {lang}>"))
    ui._bundled_text.clear()
    yield
    ui._bundled_text.clear()


@pytest.fixture(scope="module")
def job_parquet(tmp_path_factory):
    """The batch job's output for SMALL (local backend, batches as large as the page's: padding a sentence to a
    longer neighbour's length moves float32 sums by ~1e-7), and its table."""
    from models.corpus import backends, job
    from models.corpus.compute import JobSpec
    from ui.corpus import BATCH

    out = tmp_path_factory.mktemp("job") / "stats.parquet"
    corpus = job.text_corpus(SMALL, "<small en>")
    backends.run_local(JobSpec(model=MINILM, modality="text"), corpus, out, batch_size=BATCH, progress=False)
    return out.read_bytes(), pq.read_table(out)


def aggregate_grid(table: pa.Table, stat: str) -> np.ndarray:
    agg = table.filter(pa.compute.equal(table.column("row"), "aggregate"))
    layer = agg.column("layer").to_numpy()
    head = agg.column("head").to_numpy()
    out = np.full((layer.max(), head.max()), np.nan)
    out[layer - 1, head - 1] = agg.column(stat).to_numpy()
    return out


def open_page(lang: str = "en", **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = lang
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def run_small(lang: str = "en", **params) -> AppTest:
    """The page on the small corpus, run (or found: the result is kept server-wide, so a later test of this process
    finds it without a Run button)."""
    from ui.i18n import use

    at = open_page(lang, **params)
    buttons = [b for b in at.button if b.key == "cp_run"]
    if buttons:
        if lang == "en":
            assert buttons[0].label.startswith("Run on 5 inputs (about ")
        with use(lang):  # AppTest calls the widgets' format_func here, outside the page's session
            buttons[0].click().run()
    assert not at.exception, at.exception
    assert at.get("plotly_chart"), texts(at.error) + texts(at.info)
    return at


def test_small_corpus_runs_and_its_grid_is_the_batch_jobs_aggregates(small_bundled, job_parquet):
    _, table = job_parquet
    at = run_small()
    assert "4 of 5 inputs ran (1 could not be used" in texts(at.success)
    assert "6 layers × 12 heads" in texts(at.success)
    grid = specs(at)["cp_grid"]["data"][0]
    np.testing.assert_allclose(arr(grid["z"]), aggregate_grid(table, "entropy"), rtol=1e-9, atol=1e-12)
    # another statistic: the page's grid is the job's again
    at.selectbox(key="cp_stat").set_value("prev").run()
    np.testing.assert_allclose(arr(specs(at)["cp_grid"]["data"][0]["z"]), aggregate_grid(table, "prev"), atol=1e-12)
    assert at.query_params["cp_stat"] == "prev"
    # the picked head (layer 2, head 3, from 1): its value and the inputs where it is highest and lowest
    at.number_input(key="cp_layer").set_value(2).run()
    at.number_input(key="cp_head").set_value(3).run()
    # (cp_layer and cp_head are bound by Streamlit: the browser writes them, tests/test_browser_corpus.py reads them)
    rows = table.filter(pa.compute.equal(table.column("row"), "input")).to_pandas()
    mine = rows[(rows["layer"] == 2) & (rows["head"] == 3)].sort_values("prev", ascending=False)
    said = texts(at.markdown)
    assert f"mean {mine.prev.mean():.4f}, standard deviation {mine.prev.std(ddof=0):.4f} over 4 inputs" in said
    links = [p.proto for p in at.get("page_link")]
    assert len(links) == 8  # 4 good inputs, highest and lowest
    top = links[0]
    assert top.label.startswith(f"{mine.prev.iloc[0]:.4f} · input {mine.input_id.iloc[0]}: ")
    assert top.page == "language" and "lm_text=" in top.query_string and "lm_model=sentence-transformers" in \
        top.query_string
    # the empty line, worded
    assert "input 2 (empty): An empty line: nothing to run." in said
    # what "Download the statistics (Parquet)" serves is the job's format: read back, the same aggregates
    from models.corpus import job
    from ui import corpus as ui

    kept = [r for r in ui.store()._items.values() if r.meta.get("corpus") == "<small en>"]
    assert len(kept) == 1
    back, meta = job.read(kept[0].parquet)
    assert meta["backend"] == "page" and meta["stats"] == kept[0].stats and meta["good_inputs"] == 4
    for stat in kept[0].stats:
        np.testing.assert_allclose(aggregate_grid(back, stat), aggregate_grid(table, stat), atol=1e-12)
    # the picked cell is outlined
    rect = specs(at)["cp_grid"]["layout"]["shapes"][0]
    assert ((rect["x0"] + rect["x1"]) / 2, (rect["y0"] + rect["y1"]) / 2) == (3, 2)


def test_the_head_map_has_every_head_and_says_how_many_inputs_fed_it(small_bundled):
    """(A click on it, and on the grid, is a real click in tests/test_browser_corpus.py: AppTest sends no selection.)"""
    at = run_small()
    hm = specs(at)["cp_map"]["data"][0]
    heads = arr(hm["customdata"]).astype(int)
    assert {tuple(h) for h in heads} == {(la, he) for la in range(1, 7) for he in range(1, 13)}
    np.testing.assert_array_equal(arr(hm["marker"]["color"]), heads[:, 0])  # coloured by layer
    assert "Clark et al. 2019, Fig. 6), averaged over the first 4 inputs" in texts(at.caption)
    at.number_input(key="cp_layer").set_value(5).run()
    ring = specs(at)["cp_map"]["data"][1]
    assert list(ring["customdata"][0]) == [5, 1]  # the picked head is outlined on the map too
    assert any(h.value == "4 · Layer 5, head 1" for h in at.subheader)


def test_parquet_upload_round_trip(job_parquet):
    data, table = job_parquet
    at = open_page(cp_source="file")
    at.file_uploader(key="cp_upload_file").set_value(("stats.parquet", data, "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    assert f"Model **{MINILM}**" in texts(at.info)
    for stat in ("entropy", "share:[CLS]"):
        at.selectbox(key="cp_stat").set_value(stat).run()
        np.testing.assert_allclose(arr(specs(at)["cp_grid"]["data"][0]["z"]), aggregate_grid(table, stat),
                                   atol=1e-12)
    assert "input 2 (empty): An empty line: nothing to run." in texts(at.markdown)
    assert at.get("page_link"), "a text file's lines open on the language page"


def test_bad_uploads_get_a_clear_message(tmp_path):
    at = open_page(cp_source="file")
    at.file_uploader(key="cp_upload_file").set_value(("notes.parquet", b"hello", "application/octet-stream")).run()
    assert "notes.parquet is not a Parquet file." in texts(at.error)
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2, 3]}), buf)
    at.file_uploader(key="cp_upload_file").set_value(("other.parquet", buf.getvalue(), "application/x")).run()
    assert "other.parquet is a Parquet file, but not one the batch job wrote" in texts(at.error)
    assert not at.exception

    at = open_page(cp_corpus="upload")
    many = "\n".join(f"line {i}" for i in range(1_001)) + "\n"
    at.file_uploader(key="cp_upload_text").set_value(("many.txt", many.encode(), "text/plain")).run()
    assert "The file has 1,001 lines, more than the 1,000 this page takes" in texts(at.error)
    at.file_uploader(key="cp_upload_text").set_value(("latin.txt", "café".encode("latin-1"), "text/plain")).run()
    assert "The file is not UTF-8 text." in texts(at.error)

    at = open_page(cp_modality="images", cp_corpus="zip")
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("readme.txt", "no images here")
    at.file_uploader(key="cp_upload_zip").set_value(("none.zip", z.getvalue(), "application/zip")).run()
    assert "The zip holds no images" in texts(at.error)
    at.file_uploader(key="cp_upload_zip").set_value(("fake.zip", b"PK nope", "application/zip")).run()
    assert "The file is not a zip archive." in texts(at.error)
    assert not at.exception


def test_an_uploaded_text_runs_and_its_lines_open_on_the_language_page():
    at = open_page(cp_corpus="upload")
    at.file_uploader(key="cp_upload_text").set_value(("two.txt", b"One line.\nAnother, longer line.\n",
                                                       "text/plain")).run()
    at.button(key="cp_run").click().run()
    assert not at.exception, at.exception
    assert "2 of 2 inputs ran" in texts(at.success)
    links = [p.proto for p in at.get("page_link")]
    assert links and all(p.page == "language" for p in links)  # a line travels in the link as lm_text


def test_chinese_has_no_untranslated_string(small_bundled):
    import re

    from tests.i18n_scan import english_words
    from tests.test_language_page import _names

    at = run_small("zh")
    # names: the language models offered (and their authors), a format, the divergence's authors, symbols; data: the
    # corpus's sentences (links and the list of bad inputs show them)
    names = _names() | {"Parquet", "Jensen", "Shannon", "dx", "dy", "zip"} | set(re.findall(r"[A-Za-z]{2,}", SMALL))
    left = english_words(at, extra=names)
    assert left == [], "\n".join(map(str, left))
    assert any("语料库" in h.value for h in at.title)


@pytest.mark.slow
def test_image_models_vit_and_swin_demo_on_the_bundled_images():
    at = open_page(cp_modality="images")
    assert "Weights: **demo (vit_demo" in texts(at.info)
    at.button(key="cp_run").click().run()
    assert "64 of 64 inputs ran" in texts(at.success) and "4 layers × 4 heads" in texts(at.success)
    figs = specs(at)
    assert figs["cp_profile"]["data"][0]["type"] == "heatmap" and len(arr(figs["cp_profile"]["data"][0]["x"])) == 7
    assert figs["cp_depth"]["layout"]["yaxis"]["title"]["text"] == "mean attention distance (pixels)"
    link = at.get("page_link")[0].proto
    assert link.page == "vit" and "vit_weights=demo" in link.query_string and "vit_image=" in link.query_string
    at.selectbox(key="cp_model").set_value("swin_demo").run()
    at.button(key="cp_run").click().run()
    assert not at.exception, at.exception
    assert "No head map for a Swin Transformer" in texts(at.info)
    assert "cp_map" not in specs(at)
    assert at.get("page_link")[0].proto.page == "swin"


@pytest.mark.slow
def test_the_vit_pages_distance_for_one_bundled_shape_equals_the_jobs_row():
    """vit_demo on the generated triangle of seed 2: the ViT page's mean attention distance per head (its section 6)
    against the corpus job's rows for that same image, computed here with the job's code."""
    from models.capture import vision
    from models.corpus import bundled
    from models.corpus.compute import HeadStats, JobSpec

    corpus = bundled.images(shapes=3)
    i = corpus.labels.index("shape:triangle:2")
    hs = HeadStats(JobSpec(model="vit_demo", modality="images", weights="demo"),
                   model=vision.load("vit_demo", "demo", "cpu"))
    rows = hs(corpus.batch([i])).to_pandas()
    job = np.zeros((rows["layer"].max(), rows["head"].max()))
    job[rows["layer"] - 1, rows["head"] - 1] = rows["distance"]

    params = bundled.link_params("shape:triangle:2", "vit")
    at = AppTest.from_file(APP, default_timeout=300)
    for k, v in {"vit_weights": "demo", **params}.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("views/vit.py").run()
    assert not at.exception, at.exception
    fig = specs(at)["vit_distance"]
    page = np.stack([arr(t["y"]) for t in fig["data"]], axis=1)  # one trace per head, y per layer
    np.testing.assert_allclose(page, job, rtol=1e-5, atol=1e-4)  # pixels: float32 sums either way
    # under the plot: the same over a corpus, with the same model and weights
    at.button(key="vit_corpus_link").click().run()
    assert not at.exception, at.exception
    assert [t.value for t in at.main.title] == ["Heads across a corpus"]
    assert at.radio(key="cp_modality").value == "images" and at.selectbox(key="cp_model").value == "vit_demo"
    assert "Weights: **demo (vit_demo" in texts(at.info)


def test_a_batch_jobs_image_folder_file_words_its_bad_image_and_says_why_there_is_no_link(tmp_path):
    """The batch job on a folder (two photos and a file that is not an image): the page shows the file at once, the
    bad image with its message in the reader's language, and says that images outside the bundled ones have no
    link."""
    from models.corpus import backends, job
    from models.corpus.compute import JobSpec
    from tests.conftest import SAMPLES
    from ui.i18n import use

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("chelsea.png", "coffee.png"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    (folder / "broken.png").write_text("not an image")
    out = tmp_path / "stats.parquet"
    backends.run_local(JobSpec(model="vit_demo", modality="images", weights="demo"), job.open_corpus(folder), out,
                       progress=False)
    for lang, bad, nolink in (
            ("en", "input 0 (`broken.png`): This file is not an image that can be read",
             "Only the bundled images open by a link"),
            ("zh", "输入 0（`broken.png`）：", "只有随附的图像能通过链接打开")):
        at = open_page(lang, cp_source="file")
        with use(lang):
            at.file_uploader(key="cp_upload_file").set_value(("stats.parquet", out.read_bytes(), "x")).run()
        assert not at.exception, at.exception
        assert bad in texts(at.markdown)
        assert nolink in texts(at.caption) and not at.get("page_link")
        assert "cp_map" in specs(at) and specs(at)["cp_profile"]["data"][0]["type"] == "heatmap"


def test_a_bad_inputs_message_is_worded_with_its_values_in_either_language():
    """The file keeps a bad input's code and its English message: the values are read back for the template."""
    from ui.corpus import bad_message
    from ui.i18n import _, use
    from ui.words.corpus import TEMPLATES

    msg = "600 tokens, more than the 512 this job takes for this model."
    with use("en"):
        assert bad_message("corpus.too_long", msg) == msg
    with use("zh"):
        zh = _(TEMPLATES["corpus.too_long"]).format(n="600", limit="512")
        assert zh != msg and "600" in zh and "512" in zh and "词元" in zh
        assert bad_message("corpus.too_long", msg) == zh
        assert bad_message("corpus.empty_line", "An empty line: nothing to run.") == _(TEMPLATES["corpus.empty_line"])
        # a message that does not fit its template (an exception's own words) is shown as it is
        assert bad_message("corpus.too_long", "RuntimeError: boom") == "RuntimeError: boom"
        assert bad_message("no.such_code", "as stored") == "as stored"
        # an exception that is not one of ours: the worded code, and its own words as code
        assert bad_message("corpus.failed", "TypeError: boom") == _(TEMPLATES["corpus.failed"]) + "`TypeError: boom`"


def test_a_model_the_job_cannot_run_gets_a_message_not_a_traceback(monkeypatch):
    from models.corpus import compute

    def broken(self, spec, model=None):
        raise RuntimeError("no attention here")

    monkeypatch.setattr(compute.HeadStats, "__init__", broken)
    at = open_page(cp_corpus="upload")
    at.file_uploader(key="cp_upload_text").set_value(("odd.txt", b"A line never run elsewhere.\n", "text/plain")).run()
    if [b for b in at.button if b.key == "cp_run"]:
        at.button(key="cp_run").click().run()
    assert not at.exception, at.exception
    assert "The corpus job cannot run this model: `RuntimeError: no attention here`" in texts(at.error)


def test_the_first_n_inputs_only(small_bundled):
    at = open_page()
    at.number_input(key="cp_first").set_value(3).run()
    assert [b.label for b in at.button if b.key == "cp_run"][0].startswith("Run on 3 inputs (about ")
    at.button(key="cp_run").click().run()
    assert not at.exception, at.exception
    assert "2 of 3 inputs ran (1 could not be used" in texts(at.success)  # lines 0 and 1, and the empty line 2
    assert {int(p.proto.label.split("input ")[1].split(":")[0]) for p in at.get("page_link")} == {0, 1}
    # another corpus: a number past its end becomes all of it; "all" stays all
    at.number_input(key="cp_first").set_value(5).run()
    at.radio(key="cp_modality").set_value("images").run()
    assert at.number_input(key="cp_first").value == 64
    at.radio(key="cp_modality").set_value("text").run()
    assert at.number_input(key="cp_first").value == 5
