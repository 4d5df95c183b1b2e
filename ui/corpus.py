"""Widget groups, cached results and words for the corpus page (views/corpus.py).

The page runs the corpus job's own code (models/corpus): `HeadStats(spec, model=<the cached model>)` on
`corpus.batch(ids)`, batch by batch under a progress bar, then `job.assemble(...)` — the very table the batch job
writes as Parquet. The result is kept as plain data (`Result`: numpy arrays and the Arrow table, read-only) in a
small server-wide store (least recently used dropped first), keyed by model, weights, the corpus's content and the
exclude-sinks option, so that a view change computes nothing and another session asking the same finds it.

The view lives in the URL (ui.link), every parameter prefixed `cp_`: cp_source (run | file), cp_modality (text |
images), cp_model, cp_name (a typed language model), cp_weights (images), cp_corpus, cp_sinks, cp_stat, cp_layer and
cp_head (from 1), cp_first (how many inputs run).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import streamlit as st

from models.analysis import head_stats as hs
from models.messages import CodedError
from ui import link
from ui import messages as ui_messages
from ui.i18n import N_, _

SOURCE_KEY, MODALITY_KEY, MODEL_KEY, NAME_KEY = "cp_source", "cp_modality", "cp_model", "cp_name"
WEIGHTS_KEY, CORPUS_KEY, SINKS_KEY, STAT_KEY = "cp_weights", "cp_corpus", "cp_sinks", "cp_stat"
LAYER_KEY, HEAD_KEY, FIRST_KEY = "cp_layer", "cp_head", "cp_first"
UPLOAD_TEXT_KEY, UPLOAD_ZIP_KEY, UPLOAD_FILE_KEY = "cp_upload_text", "cp_upload_zip", "cp_upload_file"

TEXT_DEFAULT = "sentence-transformers/all-MiniLM-L6-v2"
IMAGE_MODELS = ("vit_demo", "swin_demo")  # bundled demo weights; any timm ViT or Swin name besides
OTHER = "other"
BATCH = 16
PROBE = 4  # inputs timed for the estimate
MAX_LINES, MAX_TEXT_BYTES = 1_000, 500 * 1024
MAX_IMAGES, MAX_ZIP_MB = 200, 50
MAX_PARQUET_MB = 200
STORE_SIZE = 8

SOURCES = {"run": N_("Run a model on a corpus here"), "file": N_("Open a statistics file from the batch job")}
MODALITIES = {"text": N_("Text model"), "images": N_("Image model")}
WEIGHTS = {"pretrained": N_("pretrained (timm, from the Hugging Face Hub)"),
           "random": N_("random (untrained: the mechanics only)")}
CORPORA = {
    "en": N_("bundled: 500 English sentences"),
    "zh": N_("bundled: 200 Chinese sentences"),
    "demo": N_("bundled: 200 held-out inputs of the demo task"),
    "upload": N_("upload a text file (one input per line)"),
    "images": N_("bundled: 4 sample photos and 60 generated shapes"),
    "zip": N_("upload a zip of images"),
}
STATS = {
    "entropy": N_("entropy"),
    "max_weight": N_("max weight"),
    "distance": N_("mean attention distance"),
    "self": N_("self"),
    "prev": N_("previous token"),
    "next": N_("next token"),
    "punct": N_("punctuation"),
    "offset_x": N_("offset x"),
    "offset_y": N_("offset y"),
}
DEFINITIONS = {
    "entropy": N_("Entropy of each query's weights, −Σ w log w, in nats, averaged over the queries: 0 when one key "
                  "takes everything, log N when all N keys share alike."),
    "max_weight": N_("Each query's largest weight (0 to 1), averaged over the queries."),
    "distance:text": N_("Mean attention distance: Σ w·|query position − key position|, in tokens, averaged over the "
                        "queries."),
    "distance:images": N_("Mean attention distance: the weighted distance between the query patch's centre and the "
                          "key patches' centres, in pixels of the model's input crop (patches only, renormalised), "
                          "averaged over the queries; Swin: within each window."),
    "self:text": N_("Weight on the token itself, averaged over the queries."),
    "self:images": N_("Weight on the patch itself, averaged over the queries."),
    "prev": N_("Weight on the previous token, averaged over the queries that have one."),
    "next": N_("Weight on the next token, averaged over the queries that have one."),
    "punct": N_("Weight on punctuation tokens (. , ; ! ? and the like), averaged over the queries."),
    "offset_x": N_("Attention-weighted horizontal offset of the key patches from the query patch, in pixels of the "
                   "model's input crop (right positive), averaged over the queries."),
    "offset_y": N_("Attention-weighted vertical offset of the key patches from the query patch, in pixels of the "
                   "model's input crop (down positive), averaged over the queries."),
    "share": N_("Weight on {token}, averaged over the queries; always on the raw weights, even when BOS-like tokens "
                "are excluded."),
}


# ------------------------------------------------------------------------------------------------ the result
@dataclass
class Result:
    """A statistics table as plain arrays: per statistic the corpus mean, std (layers, heads) — NaN where a layer has
    fewer heads (Swin) — the count, each head's mean profile, and the input rows for the extremes."""

    meta: dict
    stats: list[str]
    layers: int
    heads: int
    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    count: np.ndarray
    profile: np.ndarray  # (layers, heads, P)
    stage: np.ndarray  # (layers,) Swin's stage per block, from 1; 0 otherwise
    rows: dict[str, np.ndarray] = field(repr=False)  # input rows: input_id, input, layer, head, each statistic
    parquet: bytes = field(repr=False, default=b"")

    @property
    def modality(self) -> str:
        return self.meta.get("modality", "text")

    @property
    def model_name(self) -> str:
        return str(self.meta.get("spec", {}).get("model", ""))

    @property
    def weights(self) -> str:
        return str(self.meta.get("spec", {}).get("weights", ""))

    @property
    def kind(self) -> str:
        """"text", "vit" or "swin"."""
        if self.modality == "text":
            return "text"
        return str(self.meta.get("model", {}).get("kind", "vit"))

    def extremes(self, stat: str, layer: int, head: int, k: int = 5) -> tuple[list[tuple], list[tuple]]:
        """The k inputs where `stat` of (layer, head) is highest and the k where lowest: (input_id, input, value)."""
        r = self.rows
        sel = (r["layer"] == layer) & (r["head"] == head)
        vals = r[stat][sel]
        ok = ~np.isnan(vals)
        ids, labels, vals = r["input_id"][sel][ok], r["input"][sel][ok], vals[ok]
        order = np.lexsort((ids, -vals))  # highest first, ties by id
        top = [(int(ids[i]), str(labels[i]), float(vals[i])) for i in order[:k]]
        order = np.lexsort((ids, vals))
        low = [(int(ids[i]), str(labels[i]), float(vals[i])) for i in order[:k]]
        return top, low


def result_of(table: pa.Table, meta: dict, parquet: bytes | None = None) -> Result:
    """The page's arrays from the job's table (the aggregate rows and the input rows)."""
    stats = list(meta.get("stats") or [])
    kinds = table.column("row").to_numpy(zero_copy_only=False)
    agg = table.filter(pa.array(kinds == "aggregate"))
    rows = table.filter(pa.array(kinds == "input"))
    if agg.num_rows == 0:
        raise ValueError("no aggregate rows")
    layer = agg.column("layer").to_numpy().astype(np.int64)
    head = agg.column("head").to_numpy().astype(np.int64)
    L, H = int(layer.max()), int(head.max())
    li, hi = layer - 1, head - 1

    def grid(values) -> np.ndarray:
        out = np.full((L, H), np.nan)
        out[li, hi] = np.asarray(values, dtype=np.float64)
        return out

    def col(t: pa.Table, name: str) -> np.ndarray:
        return np.asarray(t.column(name).to_numpy(zero_copy_only=False), dtype=np.float64) if name in \
            t.column_names else np.full(t.num_rows, np.nan)

    mean = {s: grid(col(agg, s)) for s in stats}
    std = {s: grid(col(agg, s + "_std")) for s in stats}
    count = grid(col(agg, "count"))
    profs = agg.column("profile").to_pylist()
    P = max((len(p) for p in profs if p), default=1)
    profile = np.full((L, H, P), np.nan)
    for a, b, p in zip(li, hi, profs):
        if p:
            profile[a, b] = np.asarray(p, dtype=np.float64)
    stage = np.zeros(L, dtype=np.int64)
    stage[li] = agg.column("stage").to_numpy().astype(np.int64)
    cols = {"input_id": rows.column("input_id").to_numpy().astype(np.int64),
            "input": np.asarray(rows.column("input").to_pylist(), dtype=object),
            "layer": rows.column("layer").to_numpy().astype(np.int64),
            "head": rows.column("head").to_numpy().astype(np.int64)}
    for s in stats:
        cols[s] = col(rows, s)
    for a in [*mean.values(), *std.values(), count, profile, stage, *cols.values()]:
        a.flags.writeable = False  # shared by every session that shows it
    if parquet is None:
        buf = io.BytesIO()
        pq.write_table(table, buf)
        parquet = buf.getvalue()
    return Result(meta, stats, L, H, mean, std, count, profile, stage, cols, parquet)


class Store:
    """A few results, shared by every session of the server: least recently used dropped first; thread-safe."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[tuple, Result] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Result | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: tuple, value: Result) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@st.cache_resource(show_spinner=False)
def store() -> Store:
    return Store(STORE_SIZE)


# ------------------------------------------------------------------------------------------------ words
def stat_label(stat: str) -> str:
    if stat.startswith(hs.SHARE):
        return _("share on {token}").format(token=stat[len(hs.SHARE):])
    return _(STATS[stat]) if stat in STATS else stat


def definition(stat: str, modality: str) -> str:
    if stat.startswith(hs.SHARE):
        return _(DEFINITIONS["share"]).format(token=stat[len(hs.SHARE):])
    key = f"{stat}:{modality}" if f"{stat}:{modality}" in DEFINITIONS else stat
    return _(DEFINITIONS[key]) if key in DEFINITIONS else ""


def unit(stat: str, modality: str) -> str:
    """The unit a statistic is read in (for the colour bar)."""
    if stat == "entropy":
        return _("nats")
    if stat == "distance":
        return _("tokens") if modality == "text" else _("pixels")
    if stat in ("offset_x", "offset_y"):
        return _("pixels")
    return _("weight")


def sentences(*parts: str) -> str:
    """Sentences one after another: a space between them in English, none in Chinese (full-width stops)."""
    from ui.i18n import lang

    return ("" if lang() == "zh" else " ").join(p for p in parts if p)


def code_span(s: str) -> str:
    """Inline code for Markdown (a name, a path, a recorded string), backticks inside kept."""
    return f"`` {s} ``" if "`" in s else f"`{s}`"


def weights_label(result: Result) -> str:
    """The weights of a statistics file, in the reader's language when they are one of the usual sources."""
    from ui import vision as uv

    if result.modality == "images" and result.weights in uv.WEIGHT_LABELS and result.weights != "file":
        return _(uv.WEIGHT_LABELS[result.weights])
    if result.modality == "images":
        return code_span(result.weights)
    return code_span(str(result.meta.get("model", {}).get("weights", result.weights)))


def bad_message(code: str, message: str) -> str:
    """A bad input's message in the reader's language: the code's template, its values read back from the English
    message the job stored (the metadata keeps the words, not the values); the stored message when that fails."""
    template = ui_messages.templates().get(code)
    if template is None:
        return message
    pattern = re.escape(template)
    names = re.findall(r"\\\{(\w+)\\\}", pattern)
    for n in dict.fromkeys(names):
        pattern = pattern.replace(r"\{" + n + r"\}", f"(?P<{n}>.+?)", 1).replace(r"\{" + n + r"\}", f"(?P={n})")
    m = re.fullmatch(pattern, message or "")
    if names and m is None:
        return message
    worded = ui_messages.word(SimpleNamespace(code=code, params=m.groupdict() if m else {}))
    if m is None and message:  # a template without values and a message of its own (an exception's words)
        return sentences(worded, code_span(message[:300]))
    return worded


# ------------------------------------------------------------------------------------------------ the model
@dataclass(frozen=True)
class Choice:
    modality: str  # text | images
    name: str
    weights: str  # images: demo | pretrained | random; text: pretrained (as the loader finds)


def image_names() -> list[str]:
    from models.capture import swin

    vit = ["vit_small_patch16_224", "vit_base_patch16_224", "deit_tiny_patch16_224", "deit_small_distilled_patch16_224",
           "vit_small_patch14_reg4_dinov2", "vit_tiny_patch16_224"]  # the ViT page's list
    return list(dict.fromkeys([*IMAGE_MODELS, *vit, *swin.MODEL_NAMES, OTHER]))


def model_ui() -> Choice:
    """The model: a text model (any name the language page accepts) or an image model (the demos with their
    weights, any timm ViT or Swin name with pretrained or random weights)."""
    link.bind(MODALITY_KEY, MODALITY_KEY, link.one_of(MODALITIES))
    modality = st.radio(_("Model"), list(MODALITIES), key=MODALITY_KEY, format_func=lambda m: _(MODALITIES[m]),
                        horizontal=True)
    link.publish(**{MODALITY_KEY: None if modality == "text" else modality})
    if modality == "text":
        from ui import language as ui_lang

        names = ui_lang.model_names()
        if TEXT_DEFAULT not in names:
            names.insert(0, TEXT_DEFAULT)
        _model_link(names)
        if st.session_state.get(MODEL_KEY) not in names:
            st.session_state[MODEL_KEY] = TEXT_DEFAULT
        left, right = st.columns([3, 2])
        with left:
            chosen = st.selectbox(_("Language model"), names, key=MODEL_KEY, format_func=ui_lang.model_label)
        link.publish(**{MODEL_KEY: None if chosen == TEXT_DEFAULT else chosen})
        with right:
            link.check(NAME_KEY, link.text(200))
            typed = st.text_input(_("…or any Hugging Face model"), key=NAME_KEY, bind="query-params", max_chars=200,
                                  placeholder="google-bert/bert-base-uncased")
        return Choice("text", (typed or "").strip() or chosen, "pretrained")
    names = image_names()
    _model_link(names)
    if st.session_state.get(MODEL_KEY) not in names:
        st.session_state[MODEL_KEY] = IMAGE_MODELS[0]
    left, right = st.columns([3, 2])
    with left:
        chosen = st.selectbox(_("Image model"), names, key=MODEL_KEY,
                              format_func=lambda n: _("other timm ViT or Swin model…") if n == OTHER else n)
        name = chosen
        if chosen == OTHER:
            name = st.text_input(_("timm model name"), key=NAME_KEY, bind="query-params", max_chars=200,
                                 placeholder="vit_base_patch16_224").strip()
    link.publish(**{MODEL_KEY: None if chosen == IMAGE_MODELS[0] else chosen})
    with right:
        if chosen in IMAGE_MODELS:
            st.caption(_("Weights: demo (bundled, trained here on synthetic shapes; works offline)."))
            weights = "demo"
            link.forget(WEIGHTS_KEY)
        else:
            link.bind(WEIGHTS_KEY, WEIGHTS_KEY, link.one_of(WEIGHTS))
            weights = st.radio(_("Weights"), list(WEIGHTS), key=WEIGHTS_KEY, format_func=lambda w: _(WEIGHTS[w]))
            link.publish(**{WEIGHTS_KEY: weights})
    return Choice("images", name, weights)


def _model_link(names: list[str]) -> None:
    """A link's cp_model: one of the names offered (else a notice and the default)."""
    raw = link.incoming(MODEL_KEY)
    if raw is None:
        return
    if raw in names:
        st.session_state[MODEL_KEY] = raw
    else:
        link.notice(MODEL_KEY, raw)
    link._published()[MODEL_KEY] = raw


def load_or_stop(choice: Choice, device: str):
    """The cached model, or a plain message and the page stopped."""
    if choice.modality == "text":
        from ui import language as ui_lang

        return ui_lang.load_or_stop(choice.name, device)
    from ui import vision as uv

    if not choice.name:
        st.info(_("Type a timm model name."))
        st.stop()
    try:
        model = uv.cached_model(choice.name, choice.weights, device)
    except CodedError as err:
        st.error(ui_messages.word(err))
        if choice.weights == "pretrained":
            st.caption(_("Without the Hugging Face Hub, choose random weights to see the mechanics."))
        st.stop()
    if model.kind not in ("vit", "swin"):
        st.error(_("{model} is neither a ViT nor a Swin Transformer: this page reads the attention of those two "
                   "families.").format(model=choice.name))
        st.stop()
    return model


def weights_note(choice: Choice, model) -> None:
    """Which weights are in use, always on screen; random weights' attention means nothing."""
    if choice.modality == "text":
        from ui import language as ui_lang

        ui_lang.weights_badge(model)
        if str(getattr(model, "weights_source", "")).startswith("random"):
            st.warning(_("Random weights attend arbitrarily: their statistics describe no learned behaviour."))
        return
    from ui import vision as uv

    uv.weights_badge(model)
    if choice.weights == "random":
        st.warning(_("Random weights attend arbitrarily: their statistics describe no learned behaviour."))


# ------------------------------------------------------------------------------------------------ the corpus
@dataclass
class Picked:
    corpus: object  # models.corpus.job.Corpus
    key: str  # the corpus's content, for the result's key


def corpus_ui(choice: Choice, model) -> Picked | None:
    """The corpus for this model: bundled, or an upload within the limits stated. None (with a message) when there
    is none yet."""
    from models.corpus import job
    from models.language.demo import is_demo

    if choice.modality == "text":
        options = ["demo", "upload"] if is_demo(model) else ["en", "zh", "upload"]
    else:
        options = ["images", "zip"]
    link.bind(CORPUS_KEY, CORPUS_KEY, link.one_of(CORPORA))
    if st.session_state.get(CORPUS_KEY) not in options:
        st.session_state[CORPUS_KEY] = options[0]
    picked = st.radio(_("Corpus"), options, key=CORPUS_KEY, format_func=lambda c: _(CORPORA[c]))
    link.publish(**{CORPUS_KEY: None if picked == options[0] else picked})
    if picked in ("en", "zh"):
        st.caption(_("Sentences written for the project, varied in length and topic; public domain (CC0), see "
                     "assets/corpora/README.md."))
        c = _bundled_text(picked)
        return Picked(c, f"bundled:{picked}:{job.corpus_fingerprint(c)}")
    if picked == "demo":
        task = model.name.split(":", 1)[1]
        st.caption(_("Inputs of the demo task never seen in training (its vocabulary is the task's own)."))
        c = _demo_corpus(task)
        return Picked(c, f"demo:{task}:{job.corpus_fingerprint(c)}")
    if picked == "images":
        st.caption(_("The 4 sample photos of the vision pages and 60 generated shapes (6 classes in turn, seeds 0 to "
                     "59), each drawn at 64 px and enlarged 4 times, as the vision pages draw them."))
        c = _bundled_images()
        return Picked(c, "bundled:images:" + job.corpus_fingerprint(c))
    if picked == "upload":
        up = st.file_uploader(_("A UTF-8 text file, one input per line (up to {lines:,} lines and {kb} KB)").format(
            lines=MAX_LINES, kb=MAX_TEXT_BYTES // 1024), type=["txt"], key=UPLOAD_TEXT_KEY)
        if up is None:
            st.info(_("Upload a text file to run the model on it. An uploaded corpus is not kept in the page's link."))
            return None
        data = up.getvalue()
        if len(data) > MAX_TEXT_BYTES:
            st.error(_("The file is {kb:,} KB, more than the {limit} KB this page takes.").format(
                kb=len(data) // 1024, limit=MAX_TEXT_BYTES // 1024))
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            st.error(_("The file is not UTF-8 text."))
            return None
        c = job.text_corpus(text, up.name)
        if len(c) == 0:
            st.error(_("The file has no lines."))
            return None
        if len(c) > MAX_LINES:
            st.error(_("The file has {n:,} lines, more than the {limit:,} this page takes; the batch job (python -m "
                       "models.corpus) takes any number.").format(n=len(c), limit=MAX_LINES))
            return None
        return Picked(c, "upload:" + hashlib.sha256(data).hexdigest()[:16])
    up = st.file_uploader(_("A zip of images (PNG, JPEG…; up to {n} images and {mb} MB)").format(
        n=MAX_IMAGES, mb=MAX_ZIP_MB), type=["zip"], key=UPLOAD_ZIP_KEY, max_upload_size=MAX_ZIP_MB)
    if up is None:
        st.info(_("Upload a zip of images to run the model on them. An uploaded corpus is not kept in the page's "
                  "link."))
        return None
    data = up.getvalue()
    try:
        c = job.zip_corpus(data, up.name, max_files=MAX_IMAGES, max_bytes=MAX_ZIP_MB * 2**20)
    except job.JobError as err:
        st.error(_zip_error(str(err)))
        return None
    return Picked(c, "zip:" + hashlib.sha256(data).hexdigest()[:16])


def _zip_error(message: str) -> str:
    if message.startswith("not a zip"):
        return _("The file is not a zip archive.")
    if message.startswith("no images"):
        return _("The zip holds no images (PNG, JPEG, BMP, GIF, WebP or TIFF).")
    m = re.match(r"(\d+) images in the zip", message)
    if m:
        return _("The zip holds {n} images, more than the {limit} this page takes.").format(n=m.group(1),
                                                                                           limit=MAX_IMAGES)
    return _("The zip's images take more than {mb} MB.").format(mb=MAX_ZIP_MB)


@st.cache_resource(show_spinner=False, max_entries=2)
def _bundled_text(lang: str):
    from models.corpus import bundled

    return bundled.text(lang)


@st.cache_resource(show_spinner=False, max_entries=3)
def _demo_corpus(task: str):
    from models.corpus import bundled

    return bundled.demo_task(task)


@st.cache_resource(show_spinner=False, max_entries=1)
def _bundled_images():
    from models.corpus import bundled

    return bundled.images()


def first_ui(picked: Picked) -> Picked:
    """How many inputs to run: the first N of the corpus (all by default; in the URL as cp_first when fewer)."""
    n = len(picked.corpus)
    if n <= 1:
        return picked
    link.check(FIRST_KEY, link.whole(1, n))
    # another corpus: "all of them" stays all of them, and a number past its end becomes all of them
    shown, before = st.session_state.get(FIRST_KEY), st.session_state.get("_cp_first_of")
    if shown is not None and (shown > n or shown == before):
        st.session_state[FIRST_KEY] = n
    st.session_state["_cp_first_of"] = n
    first = int(st.number_input(_("Inputs to run: the first N of the corpus"), 1, n, n, key=FIRST_KEY,
                                bind="query-params",
                                help=_("Fewer inputs run sooner; the statistics are then over those inputs only.")))
    if first >= n:
        return picked
    c = picked.corpus
    subset = dataclasses.replace(c, labels=c.labels[:first], _lines=c._lines[:first])
    return Picked(subset, f"{picked.key}:first{first}")


def sinks_ui(modality: str) -> bool:
    link.check(SINKS_KEY, link.one_of(["true", "false"]))
    exclude = st.checkbox(_("Exclude BOS-like tokens before the statistics"), key=SINKS_KEY, bind="query-params")
    st.caption(_("Removes the keys that soak up attention — a text's first token when it is special ([CLS], <s>, "
                 "BOS), an image's prefix tokens (CLS, DIST, registers) — and renormalises each query's weights "
                 "before the other statistics, since a head that dumps its attention there otherwise looks "
                 "positional; the shares of special tokens stay on the raw weights."))
    return exclude


# ------------------------------------------------------------------------------------------------ running
def spec_of(choice: Choice, model, exclude: bool, device: str):
    from models.corpus.compute import JobSpec

    name = model.name if choice.modality == "text" else choice.name
    return JobSpec(model=name, modality=choice.modality, weights=choice.weights, device=device, exclude_sinks=exclude)


def result_key(choice: Choice, model, picked: Picked, exclude: bool) -> tuple:
    name = model.name if choice.modality == "text" else choice.name
    return ("run", choice.modality, name, choice.weights, picked.key, bool(exclude))


@st.cache_data(show_spinner=False, max_entries=32)
def _probe(key: tuple, _model, _spec, _corpus) -> float:
    """Seconds per input on the first few inputs (the estimate beside the Run button)."""
    from models.corpus.compute import HeadStats

    ids = list(range(min(PROBE, len(_corpus))))
    h = HeadStats(_spec, model=_model)
    t0 = time.perf_counter()
    h(_corpus.batch(ids))
    return (time.perf_counter() - t0) / max(len(ids), 1)


def estimate(key: tuple, model, spec, corpus) -> float:
    with st.spinner(_("Timing the model on {n} inputs…").format(n=min(PROBE, len(corpus)))):
        return _probe(key, model, spec, corpus) * len(corpus)


def guarded(call):
    """`call()`, or a plain message and the page stopped when the job cannot run this model at all (its inputs'
    own failures are listed by the job, not raised)."""
    try:
        return call()
    except CodedError as err:
        st.error(ui_messages.word(err))
    except Exception as err:  # noqa: BLE001 — a model the job cannot read: said, never a traceback
        st.error(_("The corpus job cannot run this model: {reason}").format(
            reason=code_span(f"{type(err).__name__}: {err}"[:300])))
    st.stop()


def run(model, spec, corpus) -> pa.Table:
    """The corpus job on this page: batch by batch under a progress bar, then the job's own assembled table."""
    from models.corpus import job
    from models.corpus.compute import HeadStats

    h = HeadStats(spec, model=model)
    n = len(corpus)
    bar = st.progress(0.0, text=_("0 of {n} inputs").format(n=f"{n:,}"))
    tables = []
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        ids = list(range(start, min(n, start + BATCH)))
        tables.append(h(corpus.batch(ids)))
        done = ids[-1] + 1
        elapsed = time.perf_counter() - t0
        rate = done / max(elapsed, 1e-9)
        bar.progress(done / n, text=_("{done} of {n} inputs · {rate:.1f} per second · about {left:.0f} s left").format(
            done=f"{done:,}", n=f"{n:,}", rate=rate, left=(n - done) / rate))
    table = job.assemble(tables, h, corpus, "page", time.perf_counter() - t0)
    bar.empty()
    return table


# ------------------------------------------------------------------------------------------------ a Parquet file
def file_ui() -> tuple[tuple, Result] | None:
    """A statistics file written by the batch job: its model and corpus come from its metadata."""
    from models.corpus import job

    up = st.file_uploader(_("A statistics file written by the batch job (python -m models.corpus; Parquet, up to "
                            "{mb} MB)").format(mb=MAX_PARQUET_MB), type=["parquet"], key=UPLOAD_FILE_KEY,
                          max_upload_size=MAX_PARQUET_MB)
    if up is None:
        st.info(_("Upload the .parquet file the batch job wrote: the page shows it at once, with the model and the "
                  "corpus recorded in it."))
        return None
    data = up.getvalue()
    key = ("file", hashlib.sha256(data).hexdigest())
    found = store().get(key)
    if found is not None:
        return key, found
    try:
        table, meta = job.read(data)
        result = result_of(table, meta, parquet=data)
    except job.JobError as err:
        if str(err).startswith("not a Parquet file"):
            st.error(_("{name} is not a Parquet file.").format(name=up.name))
        else:
            st.error(_("{name} is a Parquet file, but not one the batch job wrote (it has no statistics metadata)."
                       ).format(name=up.name))
        return None
    except (KeyError, ValueError, TypeError, pa.ArrowInvalid):
        st.error(_("{name} holds no per-head statistics the page can read (no aggregate rows).").format(name=up.name))
        return None
    store().put(key, result)
    return key, result


# ------------------------------------------------------------------------------------------------ links
def input_label(label: str) -> str:
    """A bundled image's name as the reader reads it ("shape:ring:5" → a generated ring, seed 5); others as they
    are (a text line, a file's path)."""
    kind, _sep, rest = label.partition(":")
    if kind == "shape" and rest.count(":") == 1:
        from ui import vision as uv

        cls, seed = rest.split(":")
        return _("generated {shape}, seed {seed}").format(shape=uv.class_label(cls), seed=seed)
    if kind == "sample" and rest:
        from ui import vision as uv

        return _("sample photo: {title}").format(title=uv.sample_title(rest))
    return label


def input_link(result: Result, label: str) -> tuple[str, dict] | None:
    """(page, query parameters) that open one input on its model's page, or None when a link cannot name it."""
    from models.corpus import bundled

    if result.kind == "text":
        if len(label) > link.MAX_TEXT or not label.strip():
            return None
        from ui import language as ui_lang

        name = result.model_name
        params = {"lm_text": label}
        if name in ui_lang.model_names():
            params["lm_model"] = name
        else:
            params["lm_name"] = name
        return "views/language.py", params
    page = "vit" if result.kind == "vit" else "swin"
    where = bundled.link_params(label, page)
    if where is None:
        return None
    params = {f"{page}_weights": result.weights}
    if result.weights != "demo":
        params[f"{page}_model"] = result.model_name
    elif result.model_name != f"{page}_demo":
        return None
    params.update(where)
    return f"views/{page}.py", params


def corpus_link(name: str, weights: str, key: str) -> None:
    """Under a single-image distance plot (the ViT and Swin pages): a button that opens this page with the same model
    and weights (its address: cp_modality, cp_model, cp_weights), on the bundled images. Nothing for a weights file
    (an address cannot carry it). A button rather than st.page_link: a link's address would show the parameters'
    English values (images, random) on a page in Chinese."""
    if weights not in ("demo", "pretrained", "random"):
        return
    params = {MODALITY_KEY: "images"}
    if name in image_names():
        params[MODEL_KEY] = name
    else:
        params[MODEL_KEY], params[NAME_KEY] = OTHER, name
    if weights != "demo":
        params[WEIGHTS_KEY] = weights
    if st.button(_("The same plot over a corpus: every head's mean and spread on many images"), key=key,
                 icon=":material/query_stats:", type="tertiary"):
        st.switch_page("views/corpus.py", query_params=params)
