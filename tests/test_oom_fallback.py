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
