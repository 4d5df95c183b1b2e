"""Widget groups and helpers every page uses."""
from __future__ import annotations

import os
import sys
from typing import Callable, Hashable, TypeVar

import streamlit as st
import torch

from models.messages import Notice
from models.runtime import device as devices
from models.runtime import memory
from models.runtime.model_cache import ModelCache
from ui import i18n, messages, present
from ui.i18n import _

DEVICE_KEY = "device_choice"
T = TypeVar("T")


def _model_cache_size(default: int = 6) -> int:
    raw = os.environ.get("ATLAS_MODEL_CACHE_SIZE", "").strip()
    if not raw:
        return default
    try:
        size = int(raw)
        if size >= 1:
            return size
    except ValueError:
        pass
    print(f"ATLAS_MODEL_CACHE_SIZE={raw!r} is not a whole number ≥ 1: keeping {default} models", file=sys.stderr)
    return default


# How many loaded models the server keeps, all pages and sessions together: the ONE place this is set.
# The demo models are a few MB each; a vit_base is 350 MB and a vit_large 1.2 GB of float32 parameters, so
# a server with little memory sets ATLAS_MODEL_CACHE_SIZE lower (a page in use keeps its model meanwhile).
MODEL_CACHE_SIZE = _model_cache_size()
_MODELS = ModelCache(MODEL_CACHE_SIZE, on_evict=memory.release_freed_memory)  # a dropped model's memory goes back


def shared_model(kind: str, key: tuple[Hashable, ...], load: Callable[[], T], spinner: str | None = None) -> T:
    """`load()`'s model, kept in the one bounded model cache under (kind, *key) and shared read-only by every
    session (models.runtime.model_cache: least recently used dropped first, thread-safe, errors not cached).

    Every loader of the app goes through this (ui.vision.cached_model, ui.text.load_model), so the number of
    models in memory is MODEL_CACHE_SIZE whichever pages are visited."""

    def load_with_spinner():
        if _in_cached_function():  # the outer cached call shows its own spinner (as st.cache_resource does)
            return load()
        with st.spinner(spinner or _("Loading the model…")):
            return load()

    return _MODELS.get((kind, *key), load_with_spinner)


def _in_cached_function() -> bool:
    try:
        from streamlit.runtime.caching.cache_utils import in_cached_function
    except ImportError:
        return False
    return bool(in_cached_function.get())


def model_cache() -> ModelCache:
    """The cache itself (for tests and the benchmark: its size and keys)."""
    return _MODELS


def device_ui() -> None:
    """Sidebar: the device in use, with an override. Called once by app.py."""
    options = ["auto"] + devices.available()
    choice = st.sidebar.selectbox(
        _("Device"),
        options,
        key=DEVICE_KEY,
        # labels made now, in this run's language: format_func may be called later, outside the run (AppTest)
        format_func={n: _("auto ({device})").format(device=devices.describe(devices.default()))
                     if n == "auto" else devices.describe(n) for n in options}.get,
        help=_("Models run on CUDA when there is a GPU, else on Apple MPS, else on the CPU."),
    )
    st.sidebar.caption(_("Running on **{device}**").format(device=devices.describe(devices.resolve(choice))))


def current_device() -> str:
    """The device name ("cuda", "mps" or "cpu") chosen in the sidebar; part of every cache key."""
    return devices.resolve(st.session_state.get(DEVICE_KEY, "auto")).type


def on_device_or_cpu(call, device: str):
    """`call(device)`; when the GPU runs out of memory, frees its cache and runs `call("cpu")`, with a notice.

    Every page's model run goes through this, so a too-large input on a small GPU still gets an answer.
    """
    try:
        return call(device)
    except torch.OutOfMemoryError:
        if device == "cpu":
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        st.warning(messages.word(Notice("common.out_of_memory", device=device.upper())))
        return call("cpu")


@st.cache_resource(max_entries=512, show_spinner=False)
def _cached_figure(page: str, run_key: str, view: tuple, _build):
    return _build()


def cached_figure(page: str, run_key: str, view: tuple, build):
    """What `build()` returns (a figure, or the data of one) for this page's run and this view, built once and
    shared read-only by every rerun and session: Streamlit only serialises it. `run_key` names the run as its
    own cache does, so a figure is exactly as fresh as the result it is drawn from. st.cache_resource, not
    st.cache_data: that would unpickle a go.Figure through Plotly's validation on every rerun (~10 ms).

    The reader's language and presentation mode are part of the key: a figure's words are in its reader's
    language, and in presentation mode a figure is restyled for a projector (ui.present.restyle)."""
    projecting = present.on()

    def built():
        out = build()
        if projecting and _is_figure(out):
            out = present.restyle(out)
        return out

    return _cached_figure(page, run_key, (*view, "lang", i18n.lang(), "present", projecting), built)


def _is_figure(out) -> bool:
    import plotly.graph_objects as go

    return isinstance(out, go.Figure) or (isinstance(out, dict) and "data" in out and "layout" in out)
