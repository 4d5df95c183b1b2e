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
import tempfile

import numpy as np
import streamlit as st
from PIL import Image

from models.capture import vision
from models.demo import shapes
from models.runtime import images
from models.runtime import weights_dir as weights_folder
from ui.common import on_device_or_cpu, shared_model
from viz import fast

WEIGHT_CHOICES = ("demo", "pretrained", "random", "file")
WEIGHT_LABELS = {
    "demo": "demo (bundled, trained here on synthetic shapes; works offline)",
    "pretrained": "pretrained (timm, downloaded from the Hugging Face Hub once)",
    "random": "random (untrained: the mechanics only)",
    "file": "local .safetensors file",
}
OTHER = "other timm model…"
UPLOAD_DIR = pathlib.Path(tempfile.gettempdir()) / "attention_atlas_weights"


def upload_limit_mb() -> int:
    """Streamlit's upload limit (server.maxUploadSize in .streamlit/config.toml), in MB."""
    try:
        return int(st.get_option("server.maxUploadSize"))
    except Exception:
        return 200


def model_ui(curated_names: list[str], key_prefix: str, demo_name: str | None = None) -> tuple[str, str]:
    """Model name and weights source, chosen by the user: (name, weights).

    `weights` is "demo", "pretrained", "random" or the path of a .safetensors file. With demo weights
    the name is the bundled demo model, `demo_name` (default f"{key_prefix}_demo"). Otherwise the name
    comes from `curated_names` or a free text field for any timm model name.
    """
    demo_name = demo_name or f"{key_prefix}_demo"
    has_demo = demo_name in vision.demo_names()
    choices = [c for c in WEIGHT_CHOICES if c != "demo" or has_demo]
    source = st.radio(
        "Weights", choices, key=f"{key_prefix}_weights", format_func=WEIGHT_LABELS.get,
        help="Where the model's parameters come from. The source in use is always shown above the results.",
    )
    if source == "demo":
        st.caption(f"Model: **{demo_name}**, a small timm model bundled with the app (models/demo/weights/).")
        return demo_name, "demo"
    options = list(curated_names) + [OTHER]
    picked = st.selectbox("Model", options, key=f"{key_prefix}_model")
    name = picked
    if picked == OTHER:
        name = st.text_input(
            "timm model name", key=f"{key_prefix}_model_other", placeholder=curated_names[0] if curated_names else "",
            help="Any name from timm.list_models(), optionally with a pretrained tag (name.tag).",
        ).strip()
    if source == "file":
        return name, _weights_file_ui(key_prefix)
    return name, source


def _weights_file_ui(key_prefix: str) -> str:
    upload = st.file_uploader(
        f"Weights (.safetensors, up to {upload_limit_mb()} MB)", type=["safetensors"], key=f"{key_prefix}_weights_file"
    )
    folder = weights_folder.weights_dir()  # None unless the operator set ATLAS_WEIGHTS_DIR: then no path field
    typed = ""
    if folder is not None:
        typed = st.text_input(
            "…or a .safetensors file in the server's weights folder", key=f"{key_prefix}_weights_path",
            placeholder="my_vit.safetensors",
            help="A file name relative to the weights folder the server's operator set (ATLAS_WEIGHTS_DIR); "
            "files elsewhere on the server cannot be opened.",
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
        st.error(str(e))
        st.stop()


def image_ui(key_prefix: str, demo_size: int = 64) -> Image.Image | None:
    """An RGB image from a sample photo, a generated shape or an upload; None (with a message) if unusable.

    The returned image's info["notes"] lists conversions (EXIF rotation, CMYK, alpha…) for a caption.
    """
    sources = ["sample photo", "generated shape", "upload"]
    source = st.radio("Image", sources, key=f"{key_prefix}_image_source", horizontal=True)
    if source == "sample photo":
        name = st.selectbox("Sample photo", list(images.SAMPLES), key=f"{key_prefix}_sample")
        with st.expander("Sample photo credits"):
            st.markdown(images.samples_attribution())
        path = images.SAMPLES[name]
        return _load(path, f"sample:{path}")
    if source == "generated shape":
        c1, c2 = st.columns(2)
        shape = c1.selectbox("Shape", shapes.CLASSES, index=2, key=f"{key_prefix}_shape")
        seed = c2.number_input("Seed", 0, 10_000, 0, key=f"{key_prefix}_shape_seed")
        st.caption("Drawn by models/demo/shapes.py like the demo models' training images, enlarged 4× for display.")
        return shapes.sample_image(shape, size=demo_size, seed=int(seed))
    upload = st.file_uploader(
        f"Upload an image (PNG, JPEG, WebP, BMP, GIF, TIFF; up to {upload_limit_mb()} MB)",
        type=images.UPLOAD_TYPES,
        key=f"{key_prefix}_image",
    )
    if upload is None:
        st.info("Choose an image file to upload.")
        return None
    upload_id = getattr(upload, "file_id", "") or hashlib.sha256(upload.getvalue()).hexdigest()
    return _load(upload, f"upload:{upload_id}:{upload.name}:{upload.size}")


def _load(data, key: str) -> Image.Image | None:
    try:
        return _cached_image(key, data)
    except images.ImageError as e:
        st.error(f"This image cannot be used: {e}")
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
    """What load_image converted (for a caption)."""
    return list(image.info.get("notes", []))


_KEYS = fast.KeptKeys()  # image_key of the cached loads


def run_key(image: Image.Image, name: str, weights: str, device: str) -> str:
    """The key of one run, as cached_run keys it: the image's content, the model, its weights, the device."""
    return f"{image_key(image)}|{name}|{weights}|{device}"


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


def cached_model(name: str, weights: str, device: str):
    """vision.load, once per (name, weights, device) for the whole server, in the one bounded model cache
    (ui.common.shared_model); errors are not cached."""
    return shared_model("vision", (name, weights, device), lambda: vision.load(name, weights, device))


@st.cache_resource(max_entries=6, show_spinner="Running the model…")
def _cached_run(key: str, name: str, weights: str, device: str, top_k: int, _image: Image.Image):
    trace = vision.run(cached_model(name, weights, device), _image, top_k=top_k)
    for a in list(trace.attention) + [trace.image]:
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return trace


def cached_run(image: Image.Image, name: str, weights: str, device: str, top_k: int = 5):
    """vision.run on the cached model, cached by image content + model + weights + device (read-only trace).

    A CUDA out-of-memory error reruns it on the CPU, with a notice (ui.common.on_device_or_cpu)."""
    key = image_key(image)
    return on_device_or_cpu(lambda d: _cached_run(key, name, weights, d, top_k, image), device)


def traced_input(name: str, weights: str, image: Image.Image | None, family: str, example: str):
    """The checks and the run both vision pages make: a message and st.stop() for whatever cannot run.

    Returns (trace, weights actually used, device). Pretrained weights that cannot be had (no Hub) fall
    back to random weights of the same model, with a message saying so.
    """
    from ui import common

    if not name:
        st.warning(f"Type a timm model name, for example {example}.")
        st.stop()
    if weights not in vision.WEIGHT_SOURCES and not weights:
        if weights_folder.weights_dir() is None:
            st.warning("Upload a .safetensors file.")
        else:
            st.warning("Upload a .safetensors file or name one in the server's weights folder.")
        st.stop()
    if image is None:
        st.stop()
    try:
        vision.require_family(name, family)
    except vision.VisionError as e:
        st.error(str(e))
        st.stop()

    device = common.current_device()
    try:
        cached_model(name, weights, device)
    except vision.WeightsUnavailable as e:
        st.error(str(e))
        if weights != "pretrained" or isinstance(e, vision.UnknownTag):  # random is for "no Hub", not for a typo
            st.stop()
        st.warning(
            f"Showing **random** weights of {name} instead, so that the page still works: choose *demo* weights "
            "(trained here) or a local .safetensors file for attention that means something."
        )
        weights = "random"
    except vision.VisionError as e:
        st.error(str(e))
        st.stop()
    try:
        trace = cached_run(image, name, weights, device)
    except vision.VisionError as e:
        st.error(str(e))
        st.stop()
    except Exception as e:  # a model that fails on this input (memory, an odd architecture): a message, not a traceback
        st.error(f"{name} failed on this image: {type(e).__name__}: {e}")
        st.stop()
    return trace, weights, device


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()
