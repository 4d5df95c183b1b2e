"""Where models run: CUDA when there is one, else Apple MPS, else the CPU, with an override."""
from __future__ import annotations

import torch


def available() -> list[str]:
    """Devices this machine can use, best first."""
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    names.append("cpu")
    return names


def default() -> str:
    """The best device available: CUDA, then MPS, then CPU."""
    return available()[0]


def resolve(name: str | None = None) -> torch.device:
    """A torch.device for `name` ("auto" or None picks the default); unknown or absent devices fall back to CPU."""
    if name in (None, "", "auto"):
        return torch.device(default())
    if name not in available():
        return torch.device("cpu")
    return torch.device(name)


def describe(dev: torch.device | str) -> str:
    """A human label such as 'CUDA (NVIDIA H100)' or 'CPU'."""
    dev = torch.device(dev)
    if dev.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(dev)})"
    if dev.type == "mps":
        return "Apple MPS"
    return "CPU"
