"""Weights load only from safetensors: a pickle that would run code is refused, whatever its name."""
from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

from models.capture import vision
from models.demo import text

MARKER = "atlas_pickle_ran"


class _Exploit:
    """Unpickling this calls os.system-like code: here, it only sets an environment variable."""

    def __reduce__(self):
        return (exec, (f"import os; os.environ['{MARKER.upper()}'] = '1'",))


@pytest.fixture
def exploit_bytes(monkeypatch):
    monkeypatch.delenv(MARKER.upper(), raising=False)
    return pickle.dumps({"state_dict": _Exploit()})


@pytest.mark.parametrize("filename", ["weights.pth", "weights.bin", "weights.pt", "weights.safetensors"])
def test_vision_refuses_pickles_without_running_them(tmp_path, exploit_bytes, filename):
    path = tmp_path / filename
    path.write_bytes(exploit_bytes)
    with pytest.raises(vision.VisionError) as err:
        vision.load("vit_tiny_patch16_224", str(path))
    assert str(err.value), "the refusal carries a message for the page"
    import os

    assert MARKER.upper() not in os.environ, "the pickle's code ran"


def test_text_refuses_a_pickle_named_safetensors(tmp_path, exploit_bytes):
    import json
    import os

    path = tmp_path / "dates.safetensors"
    path.write_bytes(exploit_bytes)
    meta = text.load("dates", weights="random").metadata  # a valid sidecar, so only the tensors are at fault
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(Exception) as err:
        text.load("dates", weights=str(path))
    assert not isinstance(err.value, (SystemExit, KeyboardInterrupt))
    assert MARKER.upper() not in os.environ, "the pickle's code ran"


def test_vision_names_the_keys_and_shapes_that_do_not_fit(tmp_path):
    model = vision.load("vit_tiny_patch16_224", "random")
    state = {k: v.clone().contiguous() for k, v in model.module.state_dict().items()}
    state["head.bias"] = torch.zeros(7)  # wrong shape beside head.weight (1000, 192)
    state.pop("cls_token")
    state["extra.tensor"] = torch.zeros(1)
    path = tmp_path / "odd.safetensors"
    save_file(state, str(path))
    with pytest.raises(vision.WeightsMismatch) as err:
        vision.load("vit_tiny_patch16_224", str(path))
    message = str(err.value)
    assert "cls_token" in message and "extra.tensor" in message and "head.bias" in message


def test_a_sidecar_cannot_point_the_loader_at_a_pickle(tmp_path, exploit_bytes):
    """A .safetensors file's sidecar JSON gives settings (sizes, input size, crop, mean/std), never where weights
    come from: a "file"/"url" in its pretrained_cfg_overlay is dropped, and the pickle it names is never opened."""
    import json
    import os
    import shutil

    from models.demo import WEIGHTS_DIR

    pickle_path = tmp_path / "evil.pth"
    pickle_path.write_bytes(exploit_bytes)
    target = tmp_path / "shapes.safetensors"
    shutil.copy(WEIGHTS_DIR / "vit_demo.safetensors", target)
    meta = json.loads((WEIGHTS_DIR / "vit_demo.json").read_text())
    overlay = {**meta["pretrained_cfg_overlay"], "file": str(pickle_path), "url": pickle_path.as_uri()}
    target.with_suffix(".json").write_text(json.dumps({**meta, "pretrained_cfg_overlay": overlay}))
    model = vision.load("vit_tiny_patch16_224", str(target))
    assert MARKER.upper() not in os.environ, "the pickle's code ran"
    assert model.weights_source.startswith("file: shapes.safetensors")
    assert str(pickle_path) not in str(model.module.pretrained_cfg)
