"""Models of Attention Atlas: each returns attention as plain data (see docs/ARCHITECTURE.md).

The package holds five kinds of thing, each in its folder:

    network/   the encoder–decoder Transformer, written from scratch (Vaswani et al., 2017)
    capture/   attention captured from models as data: timm ViT and Swin, one head recomputed step by step
    analysis/  pure numpy on captured attention: rollout, distances, pooling, positional encodings
    demo/      the bundled demo tasks with their data, training code and weights
    runtime/   plumbing: device choice, memory, safe image loading

The notebook API stays where users look for it: ``from models import vision`` (load, run, the trace) and
``from models import text`` (the demo text tasks) and ``from models import language`` (transformers language
models and the demo, one API). They are imported on first use, so importing ``models``
costs nothing.
"""
from __future__ import annotations

import importlib

_PUBLIC = {"vision": "models.capture.vision", "text": "models.demo.text", "language": "models.language"}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return importlib.import_module(_PUBLIC[name])
    raise AttributeError(f"module 'models' has no attribute {name!r}")
