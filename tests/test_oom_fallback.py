"""A CUDA out-of-memory error falls back to the CPU with a notice, on a machine with no GPU too."""
import pytest
import torch
from streamlit.testing.v1 import AppTest


def _script():
    import streamlit as st
    import torch

    from ui.common import on_device_or_cpu

    def run(device):
        if device == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return f"ran on {device}"

    st.write(on_device_or_cpu(run, "cuda"))


def test_out_of_memory_falls_back_to_cpu_with_a_notice():
    at = AppTest.from_function(_script, default_timeout=60).run()
    assert not at.exception
    assert any("ran on cpu" in m.value for m in at.markdown)
    assert any("ran out of memory" in w.value and "CPU" in w.value for w in at.warning)


def test_out_of_memory_on_cpu_is_not_hidden():
    from ui.common import on_device_or_cpu

    def run(device):
        raise torch.OutOfMemoryError("out of memory")

    with pytest.raises(torch.OutOfMemoryError):
        on_device_or_cpu(run, "cpu")


def test_the_pages_runs_go_through_the_fallback(monkeypatch):
    """ui.text.run_model and ui.vision.cached_run rerun on the CPU when the device runs out of memory."""
    import ui.text
    import ui.vision

    calls = []

    def fake_text(task, sentence, pad_to, device, weights="demo"):
        calls.append(device)
        if device == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory")
        return "trace"

    monkeypatch.setattr(ui.text, "_run_model", fake_text)
    assert ui.text.run_model("dates", "1 May 2020", None, "cuda") == "trace"
    assert calls == ["cuda", "cpu"]

    calls.clear()

    def fake_vision(key, name, weights, device, top_k, image, size=None):
        calls.append(device)
        if device == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory")
        return "trace"

    from PIL import Image

    monkeypatch.setattr(ui.vision, "_cached_run", fake_vision)
    assert ui.vision.cached_run(Image.new("RGB", (8, 8)), "vit_demo", "demo", "cuda") == "trace"
    assert calls == ["cuda", "cpu"]
