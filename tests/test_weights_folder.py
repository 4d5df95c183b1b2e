"""A weights path typed in the page opens only files inside the operator's weights folder (ATLAS_WEIGHTS_DIR, off by
default), whatever `..` or symlinks it contains, and every refusal says the same thing: nothing about the server."""
from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest

from models.runtime.weights_dir import ENV, REFUSED, WeightsPathError, resolve_weights_path, weights_dir
from tests.conftest import APP
from ui.messages import english

REFUSED_WORDS = english(REFUSED, {})


@pytest.fixture
def layout(tmp_path):
    """tmp/weights/{good.safetensors, sub/deep.safetensors, notes.txt, links...}, tmp/outside/secret.safetensors."""
    folder = tmp_path / "weights"
    (folder / "sub").mkdir(parents=True)
    (folder / "good.safetensors").write_bytes(b"x")
    (folder / "sub" / "deep.safetensors").write_bytes(b"x")
    (folder / "notes.txt").write_text("x")
    (folder / "tricky.safetensors").mkdir()  # a folder with the right suffix
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.safetensors").write_bytes(b"x")
    (folder / "link_out.safetensors").symlink_to(outside / "secret.safetensors")
    (folder / "dir_out").symlink_to(outside)
    (folder / "link_in.safetensors").symlink_to(folder / "sub" / "deep.safetensors")
    (folder / "txt_as.safetensors").symlink_to(folder / "notes.txt")
    (folder / "loop.safetensors").symlink_to(folder / "loop.safetensors")
    return folder.resolve(), outside.resolve()


def test_files_inside_the_folder_are_resolved(layout):
    folder, _ = layout
    assert resolve_weights_path(folder, "good.safetensors") == folder / "good.safetensors"
    assert resolve_weights_path(folder, " sub/deep.safetensors ") == folder / "sub" / "deep.safetensors"
    assert resolve_weights_path(folder, "sub/../good.safetensors") == folder / "good.safetensors"
    assert resolve_weights_path(folder, str(folder / "good.safetensors")) == folder / "good.safetensors"
    # a symlink that stays inside is followed to its real path
    assert resolve_weights_path(folder, "link_in.safetensors") == folder / "sub" / "deep.safetensors"


@pytest.mark.parametrize("typed", [
    "../outside/secret.safetensors",  # `..` out of the folder
    "sub/../../outside/secret.safetensors",
    "link_out.safetensors",  # a symlink out of the folder
    "dir_out/secret.safetensors",  # through a symlinked folder out of it
    "{outside}/secret.safetensors",  # an absolute path elsewhere
    "/etc/passwd", "/etc/shadow", "/root/.ssh/id_rsa", "~/.bashrc", "/proc/self/environ",
    "absent.safetensors",  # absent
    "notes.txt", "txt_as.safetensors",  # not a .safetensors file (also behind a symlink)
    "tricky.safetensors", ".", "", "   ", "sub",  # folders, nothing
    "loop.safetensors",  # a symlink loop
    "bad\x00name.safetensors", "a" * 5000 + ".safetensors",  # a NUL byte, a name too long
])
def test_everything_else_is_refused_with_one_message(layout, typed):
    folder, outside = layout
    with pytest.raises(WeightsPathError) as err:
        resolve_weights_path(folder, typed.format(outside=outside))
    # the same code and words for all: no hint whether a path exists or where it lies
    assert err.value.code == REFUSED and err.value.params == {}
    assert str(err.value) == REFUSED_WORDS
    assert str(folder) not in str(err.value) and "outside" not in str(err.value)


def test_off_by_default_and_when_the_folder_is_absent(tmp_path, layout):
    folder, _ = layout
    assert weights_dir({}) is None
    assert weights_dir({ENV: ""}) is None
    assert weights_dir({ENV: str(tmp_path / "no_such_folder")}) is None
    assert weights_dir({ENV: str(folder / "good.safetensors")}) is None  # a file, not a folder
    assert weights_dir({ENV: str(folder)}) == folder
    with pytest.raises(WeightsPathError):
        resolve_weights_path(None, "good.safetensors")  # off: nothing is opened by path


def _file_weights_page():
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/vit.py").run()
    at.radio(key="vit_weights").set_value("file").run()
    return at


def test_the_page_shows_no_path_field_when_no_folder_is_set(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    at = _file_weights_page()
    assert not at.exception
    assert not [t for t in at.text_input if t.key == "vit_weights_path"]
    assert any("Upload a .safetensors file" in w.value for w in at.warning)


@pytest.mark.slow
def test_the_page_refuses_paths_outside_and_loads_a_file_inside(monkeypatch, layout):
    import timm
    from safetensors.torch import save_file

    folder, outside = layout
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "tiny.safetensors"))
    monkeypatch.setenv(ENV, str(folder))
    at = _file_weights_page()
    at.selectbox(key="vit_model").set_value("other timm model…").run()
    at.text_input(key="vit_model_other").set_value("vit_tiny_patch16_224").run()
    for typed in ("/etc/passwd", "../outside/secret.safetensors", "link_out.safetensors", "absent.safetensors"):
        at.text_input(key="vit_weights_path").set_value(typed).run()
        assert not at.exception, typed
        assert [e.value for e in at.error] == [REFUSED_WORDS], typed
        assert not at.get("plotly_chart"), typed
    at.text_input(key="vit_weights_path").set_value("tiny.safetensors").run()
    assert not at.exception and not at.error
    assert any("tiny.safetensors" in i.value for i in at.info), "the weights badge names the file in use"
    assert at.get("plotly_chart")
    assert os.environ[ENV] == str(folder)
