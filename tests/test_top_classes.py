"""The top classes carry their class indices: ImageNet names two classes "crane" (134, a bird; 517, a machine) and
two "maillot" (638, 639), so a name alone cannot say which one the model predicted, and the class explained on the
ViT and Swin pages must be the predicted one, not its namesake."""
from __future__ import annotations

import types

import numpy as np
import torch
from PIL import Image

from models.capture import vision
from ui.explain import _top_indices


def test_top_k_keeps_the_index_of_a_repeated_name():
    names = ("crane", "tabby", "crane", "maillot", "maillot")
    logits = torch.tensor([[0.0, 1.0, 3.0, 2.0, 2.5]])
    top, idx = vision._top_k(logits, names, 3)
    assert [c for c, _p in top] == ["crane", "maillot", "maillot"]
    assert idx == [2, 4, 3]  # the second crane (the machine), then both maillots in the order of their logits
    np.testing.assert_allclose([p for _c, p in top], torch.softmax(logits[0], -1).numpy()[[2, 4, 3]], rtol=1e-6)
    trace = types.SimpleNamespace(top_k=top, top_k_indices=idx)
    assert [i for i, _p in _top_indices(list(names), trace)] == [2, 4, 3]
    old = types.SimpleNamespace(top_k=top)  # a trace without indices: names mapped to their first free index
    assert [i for i, _p in _top_indices(list(names), old)] == [0, 3, 4]
    assert vision._top_k(logits, (), 3) == ([], [])


def test_a_run_records_the_indices_of_its_top_classes():
    model = vision.load("vit_demo", "demo")
    image = Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    trace = vision.run(model, image)
    x, _crop = vision.preprocess(model, image)
    with torch.inference_mode():
        probs = torch.softmax(model.module(x)[0].float(), -1).numpy()
    assert trace.top_k_indices == [int(i) for i in np.argsort(-probs)[: len(trace.top_k)]]
    assert [model.class_names[i] for i in trace.top_k_indices] == [c for c, _p in trace.top_k]
