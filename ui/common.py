"""Widget groups and helpers every page uses."""
from __future__ import annotations

import streamlit as st
import torch

from models.runtime import device as devices

DEVICE_KEY = "device_choice"


def device_ui() -> None:
    """Sidebar: the device in use, with an override. Called once by app.py."""
    options = ["auto"] + devices.available()
    choice = st.sidebar.selectbox(
        "Device",
        options,
        key=DEVICE_KEY,
        format_func=lambda n: f"auto ({devices.describe(devices.default())})" if n == "auto" else devices.describe(n),
        help="Models run on CUDA when there is a GPU, else on Apple MPS, else on the CPU.",
    )
    st.sidebar.caption(f"Running on **{devices.describe(devices.resolve(choice))}**")


def current_device() -> str:
    """The device name ("cuda", "mps" or "cpu") chosen in the sidebar; part of every cache key."""
    return devices.resolve(st.session_state.get(DEVICE_KEY, "auto")).type


def weights_badge(source: str) -> None:
    """Says on screen which weights are in use: attention from random weights means nothing."""
    if source.startswith("random"):
        st.warning(f"Weights: **{source}**. Random weights attend arbitrarily; use them only to inspect the mechanics.")
    else:
        st.info(f"Weights: **{source}**")


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
        st.warning(f"The {device.upper()} device ran out of memory for this input, so it ran on the CPU instead (slower).")
        return call("cpu")


@st.cache_resource(max_entries=512, show_spinner=False)
def _cached_figure(page: str, run_key: str, view: tuple, _build):
    return _build()


def cached_figure(page: str, run_key: str, view: tuple, build):
    """What `build()` returns (a figure, or the data of one) for this page's run and this view, built once and
    shared read-only by every rerun and session: Streamlit only serialises it. `run_key` names the run as its
    own cache does, so a figure is exactly as fresh as the result it is drawn from. st.cache_resource, not
    st.cache_data: that would unpickle a go.Figure through Plotly's validation on every rerun (~10 ms)."""
    return _cached_figure(page, run_key, view, build)
