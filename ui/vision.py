"""Widget groups and cached calls shared by the ViT and Swin pages.

    name, weights = model_ui(["vit_small_patch16_224", ...], "vit")      # demo weights → name "vit_demo"
    image = image_ui("vit")                                              # PIL RGB image or None
    model = cached_model(name, weights, current_device())                # st.cache_resource: one per process
    trace = cached_run(image, name, weights, current_device())          # st.cache_resource, read-only arrays

Both caches are st.cache_resource: a 518-pixel ViT's attention is hundreds of MB, which st.cache_data
would pickle and copy on every rerun of every session. The cached trace is shared, so its arrays are
made read-only: pages read it and never write to it.
"""
from __future__ import annotations

import hashlib
import io
import pathlib
import re
import tempfile

import numpy as np
import streamlit as st
from PIL import Image

from models.capture import vision
from models.demo import shapes
from models.runtime import images
from models.runtime import weights_dir as weights_folder
from ui import link
from ui.common import on_device_or_cpu, shared_model
from ui.i18n import N_, _
from ui.messages import word
from viz import fast

WEIGHT_CHOICES = ("demo", "pretrained", "random", "file")
WEIGHT_LABELS = {
    "demo": N_("demo (bundled, trained here on synthetic shapes; works offline)"),
    "pretrained": N_("pretrained (timm, downloaded from the Hugging Face Hub once)"),
    "random": N_("random (untrained: the mechanics only)"),
    "file": N_("local .safetensors file"),
}
OTHER = "other timm model…"  # the model picker's option for a name typed in (in the reader's language: OTHER_LABEL)
OTHER_LABEL = N_("other timm model…")
IMAGE_SOURCES = ("sample photo", "generated shape", "upload")
IMAGE_SOURCE_LABELS = {"sample photo": N_("sample photo"), "generated shape": N_("generated shape"),
                       "upload": N_("upload")}
SHAPE_LABELS = {  # models/demo/shapes.py CLASSES, as the demo models name their classes
    "circle": N_("circle"), "square": N_("square"), "triangle": N_("triangle"), "cross": N_("cross"),
    "ring": N_("ring"), "diamond": N_("diamond"),
}
SAMPLE_TITLES = {  # assets/samples/LICENSES.md: file name → subject (the link keeps the file name)
    "astronaut.png": N_("astronaut Eileen Collins"),
    "chelsea.png": N_("Chelsea the cat"),
    "coffee.png": N_("a cup of coffee"),
    "rocket.jpg": N_("Falcon 9 launch carrying DSCOVR"),
}
SAMPLE_CREDITS = {  # file name → (licence, credit), as assets/samples/LICENSES.md gives them
    "chelsea.png": (N_("CC0"), "Stéfan van der Walt"),
    "coffee.png": (N_("CC0"), N_("Rachel Michetti, courtesy of Pikolo Espresso Bar")),
    "astronaut.png": (N_("public domain"), "NASA"),
    "rocket.jpg": (N_("public domain"), "SpaceX"),
}
SHAPE_DEFAULT = "triangle"
UPLOAD_DIR = pathlib.Path(tempfile.gettempdir()) / "attention_atlas_weights"


def class_label(name: str) -> str:
    """A class name as the reader reads it: the demo models' shape classes translated, a model's unnamed classes
    ("class 7") too, others (ImageNet's) as they are."""
    if name in SHAPE_LABELS:
        return _(SHAPE_LABELS[name])
    unnamed = re.fullmatch(r"class (\d+)", name)
    if unnamed:
        return _("class {index}").format(index=unnamed.group(1))
    return name


def sample_files() -> dict[str, pathlib.Path]:
    """file name → path of every bundled sample photo (the link names a sample by its file name)."""
    return {p.name: p for p in images.SAMPLES.values()}


def sample_title(file: str) -> str:
    title = SAMPLE_TITLES.get(file)
    return _(title) if title else pathlib.Path(file).stem


def upload_limit_mb() -> int:
    """Streamlit's upload limit (server.maxUploadSize in .streamlit/config.toml), in MB."""
    try:
        return int(st.get_option("server.maxUploadSize"))
    except Exception:
        return 200


def _linked(param: str, key: str, options) -> None:
    """Before the widget `key`: a link's `param` (one of `options`) becomes its value; a value that does not
    fit says so and leaves the default (ui.link.bind). Options are written into the link as they are, never as
    the reader's language shows them, so a link opens the same view in either language."""
    link.bind(param, key, link.one_of(options))


def model_ui(curated_names: list[str], key_prefix: str, demo_name: str | None = None,
             family: str | None = None) -> tuple[str, str]:
    """Model name and weights source, chosen by the user: (name, weights).

    `weights` is "demo", "pretrained", "random" or the path of a .safetensors file. With demo weights
    the name is the bundled demo model, `demo_name` (default f"{key_prefix}_demo"). Otherwise the name
    comes from `curated_names` or a free text field for any timm model name.

    The link keeps both: `<prefix>_weights` (demo, pretrained, random, file: a file is not in the link) and
    `<prefix>_model` (any timm name of the page's family, `family`, default `key_prefix`; another name in a link
    gives a notice and the first curated model).
    """
    demo_name = demo_name or f"{key_prefix}_demo"
    family = family or key_prefix
    has_demo = demo_name in vision.demo_names()
    choices = [c for c in WEIGHT_CHOICES if c != "demo" or has_demo]
    w_key, m_key, o_key = f"{key_prefix}_weights", f"{key_prefix}_model", f"{key_prefix}_model_other"
    _linked(w_key, w_key, choices)
    source = st.radio(
        _("Weights"), choices, key=w_key, format_func=lambda c: _(WEIGHT_LABELS[c]),
        help=_("Where the model's parameters come from. The source in use is always shown above the results."),
    )
    link.publish(**{w_key: source})
    if source == "demo":
        link.forget(m_key)
        st.caption(_("Model: **{name}**, a small timm model bundled with the app (models/demo/weights/).").format(
            name=demo_name))
        return demo_name, "demo"
    options = list(curated_names) + [OTHER]
    raw = link.incoming(m_key)
    if raw is not None:
        if raw in curated_names:
            st.session_state[m_key] = raw
        elif raw and raw != OTHER and _family_of(raw) == family:
            st.session_state[m_key], st.session_state[o_key] = OTHER, raw
        else:
            st.warning(_("The link's model {name} is not a model this page can show, so {default} is shown "
                         "instead.").format(name=raw[:60], default=curated_names[0]))
            st.session_state[m_key] = curated_names[0]
        link.publish(**{m_key: raw})  # seen: written back below as the model in use
    picked = st.selectbox(_("Model"), options, key=m_key, format_func=lambda n: _(OTHER_LABEL) if n == OTHER else n)
    name = picked
    if picked == OTHER:
        name = st.text_input(
            _("timm model name"), key=o_key, placeholder=curated_names[0] if curated_names else "",
            help=_("Any name from timm.list_models(), optionally with a pretrained tag (name.tag)."),
        ).strip()
    link.publish(**{m_key: name or None})
    if source == "file":
        return name, _weights_file_ui(key_prefix)
    return name, source


def _family_of(name: str) -> str | None:
    try:
        return vision.family(name.strip())
    except Exception:  # a name timm cannot even split
        return None


def _weights_file_ui(key_prefix: str) -> str:
    upload = st.file_uploader(
        _("Weights (.safetensors, up to {limit} MB)").format(limit=upload_limit_mb()), type=["safetensors"],
        key=f"{key_prefix}_weights_file",
    )
    folder = weights_folder.weights_dir()  # None unless the operator set ATLAS_WEIGHTS_DIR: then no path field
    typed = ""
    if folder is not None:
        typed = st.text_input(
            _("…or a .safetensors file in the server's weights folder"), key=f"{key_prefix}_weights_path",
            placeholder="my_vit.safetensors",
            help=_("A file name relative to the weights folder the server's operator set (ATLAS_WEIGHTS_DIR); "
                   "files elsewhere on the server cannot be opened."),
        ).strip()
    if upload is not None:
        data = upload.getvalue()
        UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
        target = UPLOAD_DIR / f"{hashlib.sha256(data).hexdigest()[:16]}_{pathlib.Path(upload.name).name}"
        if not target.exists():
            target.write_bytes(data)
        return str(target)
    if not typed:
        return ""
    try:
        return str(weights_folder.resolve_weights_path(folder, typed))
    except weights_folder.WeightsPathError as e:
        st.error(word(e))
        st.stop()


def image_ui(key_prefix: str, demo_size: int = 64) -> Image.Image | None:
    """An RGB image from a sample photo, a generated shape or an upload; None (with a message) if unusable.

    The returned image's info["notes"] lists conversions (EXIF rotation, CMYK, alpha…) for a caption.

    The link keeps the image as `<prefix>_image`: a sample's file name ("astronaut.png"), "shape" (with
    `<prefix>_shape` and `<prefix>_seed`) or "upload" (an upload is never in a link: opening one says that the
    image must be uploaded again).
    """
    p = key_prefix
    src_key, sample_key, shape_key, seed_key = f"{p}_image_source", f"{p}_sample", f"{p}_shape", f"{p}_shape_seed"
    files = sample_files()
    st.session_state.setdefault(shape_key, SHAPE_DEFAULT)
    raw = link.incoming(f"{p}_image")
    if raw is not None:
        if raw in files:
            st.session_state[src_key], st.session_state[sample_key] = "sample photo", raw
        elif raw in ("shape", "upload"):
            st.session_state[src_key] = "generated shape" if raw == "shape" else "upload"
        else:
            link.notice(f"{p}_image", raw)
        link.publish(**{f"{p}_image": raw})
    link.bind(f"{p}_shape", shape_key, link.one_of(shapes.CLASSES))
    link.bind(f"{p}_seed", seed_key, link.whole(0, 10_000))
    if st.session_state.get(sample_key) not in files:
        st.session_state.pop(sample_key, None)
    source = st.radio(_("Image"), IMAGE_SOURCES, key=src_key, horizontal=True,
                      format_func=lambda s: _(IMAGE_SOURCE_LABELS[s]))
    if source == "sample photo":
        file = st.selectbox(_("Sample photo"), list(files), key=sample_key, format_func=sample_title)
        link.publish(**{f"{p}_image": file, f"{p}_shape": None, f"{p}_seed": None})
        with st.expander(_("Sample photo credits")):
            st.markdown(samples_credits())
        path = files[file]
        return _load(path, f"sample:{path}")
    if source == "generated shape":
        c1, c2 = st.columns(2)
        shape = c1.selectbox(_("Shape"), shapes.CLASSES, key=shape_key, format_func=class_label)
        seed = c2.number_input(_("Seed"), 0, 10_000, key=seed_key)
        link.publish(**{f"{p}_image": "shape", f"{p}_shape": shape, f"{p}_seed": int(seed)})
        st.caption(_("Drawn by models/demo/shapes.py like the demo models' training images, enlarged 4× for "
                     "display."))
        return shapes.sample_image(shape, size=demo_size, seed=int(seed))
    link.publish(**{f"{p}_image": "upload", f"{p}_shape": None, f"{p}_seed": None})
    upload = st.file_uploader(
        _("Upload an image (PNG, JPEG, WebP, BMP, GIF, TIFF; up to {limit} MB)").format(limit=upload_limit_mb()),
        type=images.UPLOAD_TYPES,
        key=f"{p}_image",
    )
    if upload is None:
        if raw == "upload":
            st.info(_("This link was made with an uploaded image, which links do not carry: upload the image "
                      "again to see the same view."))
        else:
            st.info(_("Choose an image file to upload."))
        return None
    upload_id = getattr(upload, "file_id", "") or hashlib.sha256(upload.getvalue()).hexdigest()
    return _load(upload, f"upload:{upload_id}:{upload.name}:{upload.size}")


def samples_credits() -> str:
    """The sample photos' attribution (assets/samples/LICENSES.md) as a table in the reader's language."""
    rows = [
        "| " + " | ".join((_("file"), _("subject"), _("licence"), _("credit"))) + " |",
        "| --- | --- | --- | --- |",
    ]
    for file in sample_files():
        licence, credit = SAMPLE_CREDITS.get(file, ("", ""))
        rows.append(f"| {file} | {sample_title(file)} | {_(licence)} | {_(credit)} |")
    rows.append("")
    rows.append(_("These are the sample images distributed with scikit-image (`skimage/data`)."))
    return "\n".join(rows)


def _load(data, key: str) -> Image.Image | None:
    try:
        return _cached_image(key, data)
    except images.ImageError as e:
        st.error(_("This image cannot be used: {reason}").format(reason=word(e)))
        return None


@st.cache_resource(max_entries=4, ttl=3600, show_spinner=False)
def _cached_image(key: str, _data) -> Image.Image:
    """images.load_image, once per sample path or upload (Streamlit gives each upload its own file_id): a
    rerun after a view change neither decodes the file again nor hashes its pixels (image_key is kept with
    it). Shared read-only: nothing writes to a loaded image. Refused images raise and are not cached."""
    image = images.load_image(_data)
    _KEYS.keep(image, _content_key(image))  # nothing modifies a cached load: its key holds while it lives
    return image


def image_notes(image: Image.Image) -> list[str]:
    """What load_image converted (for a caption), in the reader's language."""
    return [word(n) for n in image.info.get("notes", [])]


def weights_badge(model_or_trace) -> None:
    """Says on screen which weights are in use (a VisionModel's or a VisionTrace's), in the reader's language:
    attention from random weights means nothing."""
    notice = getattr(model_or_trace, "source_notice", None)
    if notice is None:
        notice = getattr(model_or_trace, "extras", {}).get("source_notice")
    source = word(notice) if notice is not None else model_or_trace.weights_source
    if model_or_trace.weights_source.startswith("random"):
        st.warning(_("Weights: **{source}**. Random weights attend arbitrarily; use them only to inspect the "
                     "mechanics.").format(source=source))
    else:
        st.info(_("Weights: **{source}**").format(source=source))


_KEYS = fast.KeptKeys()  # image_key of the cached loads


def run_key(image: Image.Image, name: str, weights: str, device: str, size: int | None = None) -> str:
    """The key of one run, as cached_run keys it: the image's content, the model, its weights, the device and the
    input size it was built for (None: its own)."""
    return f"{image_key(image)}|{name}|{weights}|{device}" + (f"|{size}" if size else "")


def image_key(image: Image.Image) -> str:
    """A content hash of a PIL image (mode, size, pixels): the cache key of a run.

    The images image_ui loads are shared read-only (st.cache_resource), and their key is computed once,
    when they are loaded: a rerun does not hash a 16 MP upload again (about 0.1 s)."""
    return _KEYS.get(image) or _content_key(image)


def _content_key(image: Image.Image) -> str:
    h = hashlib.sha256()
    h.update(f"{image.mode}{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def cached_model(name: str, weights: str, device: str, size: int | None = None):
    """vision.load, once per (name, weights, device, size) for the whole server, in the one bounded model cache
    (ui.common.shared_model); errors are not cached. `size`: the square input size (px) to build the model at
    (timm resamples its position embeddings); None: the model's own."""
    extra = {"img_size": int(size)} if size else {}
    return shared_model("vision", (name, weights, device) + ((int(size),) if size else ()),
                        lambda: vision.load(name, weights, device, **extra), spinner=_("Loading the model…"))


@st.cache_resource(max_entries=6, show_spinner=False)
def _cached_run(key: str, name: str, weights: str, device: str, top_k: int, _image: Image.Image,
                size: int | None = None):
    trace = vision.run(cached_model(name, weights, device, size), _image, top_k=top_k)
    arrays = [trace.image] + ([] if getattr(trace.attention, "lazy", None) is not None else list(trace.attention))
    for a in arrays:  # a BlockAttention is read-only already; Swin's window maps are a list of arrays
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return trace


def cached_run(image: Image.Image, name: str, weights: str, device: str, top_k: int = 5, size: int | None = None):
    """vision.run on the cached model, cached by image content + model + weights + device + size (read-only trace).

    A CUDA out-of-memory error reruns it on the CPU, with a notice (ui.common.on_device_or_cpu)."""
    key = image_key(image)
    with st.spinner(_("Running the model…")):
        return on_device_or_cpu(lambda d: _cached_run(key, name, weights, d, top_k, image, size), device)


def traced_input(name: str, weights: str, image: Image.Image | None, family: str, example: str,
                 size: int | None = None):
    """The checks and the run both vision pages make: a message and st.stop() for whatever cannot run.

    Returns (trace, weights actually used, device). Pretrained weights that cannot be had (no Hub) fall
    back to random weights of the same model, with a message saying so.
    """
    from ui import common

    if not name:
        st.warning(_("Type a timm model name, for example {example}.").format(example=example))
        st.stop()
    if weights not in vision.WEIGHT_SOURCES and not weights:
        if weights_folder.weights_dir() is None:
            st.warning(_("Upload a .safetensors file."))
        else:
            st.warning(_("Upload a .safetensors file or name one in the server's weights folder."))
        st.stop()
    if image is None:
        st.stop()
    try:
        vision.require_family(name, family)
    except vision.VisionError as e:
        st.error(word(e))
        st.stop()

    device = common.current_device()
    try:
        cached_model(name, weights, device, size)
    except vision.WeightsUnavailable as e:
        st.error(word(e))
        if weights != "pretrained" or isinstance(e, vision.UnknownTag):  # random is for "no Hub", not for a typo
            st.stop()
        st.warning(
            _("Showing **random** weights of {name} instead, so that the page still works: choose *demo* weights "
              "(trained here) or a local .safetensors file for attention that means something.").format(name=name)
        )
        weights = "random"
    except vision.VisionError as e:
        st.error(word(e))
        st.stop()
    try:
        trace = cached_run(image, name, weights, device, size=size)
    except vision.VisionError as e:
        st.error(word(e))
        st.stop()
    except Exception as e:  # a model that fails on this input (memory, an odd architecture): a message, not a traceback
        st.error(_("{name} failed on this image: {error}").format(name=name, error=f"{type(e).__name__}: {e}"))
        st.stop()
    return trace, weights, device


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()
