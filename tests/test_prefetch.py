"""python -m models.runtime.prefetch: offline (no Hub here) it fails with a clear message, never a traceback."""
from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading

import pytest

from models.runtime import prefetch
from tests.conftest import ROOT


def _run(*names, endpoint, tmp_path):
    env = dict(os.environ, HF_ENDPOINT=endpoint, HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="0")
    return subprocess.run([sys.executable, "-m", "models.runtime.prefetch", *names], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_offline_the_command_says_the_hub_cannot_be_reached_and_names_hf_endpoint(tmp_path):
    proc = _run("vit_base_patch16_224", "swin_tiny_patch4_window7_224", endpoint="http://127.0.0.1:9",
                tmp_path=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "Cannot reach the Hugging Face Hub at http://127.0.0.1:9" in proc.stderr and "HF_ENDPOINT" in proc.stderr
    assert not (tmp_path / "hub").exists() or not any((tmp_path / "hub").rglob("*.safetensors"))


def test_offline_in_process_too(monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert prefetch.main(["vit_tiny_patch16_224"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Cannot reach the Hugging Face Hub at http://127.0.0.1:9") and "HF_ENDPOINT" in err


def test_names_are_checked_before_the_network(monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert prefetch.main(["vit_bse_patch16_224", "vit_demo"]) == 1
    err = capsys.readouterr().err
    assert "'vit_bse_patch16_224' is not a timm model name. Did you mean vit_base_patch16_224" in err
    assert "'vit_demo' is a bundled demo model" in err
    assert "Cannot reach" not in err  # nothing left to download: the network is not tried


def test_the_file_it_fetches_is_the_safetensors_timm_loads():
    assert prefetch.hub_file("vit_base_patch16_224") == (
        "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k", "model.safetensors", None)
    assert prefetch.hub_file("swin_tiny_patch4_window7_224.ms_in1k")[0] == "timm/swin_tiny_patch4_window7_224.ms_in1k"


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # a mirror that has nothing
        self.send_response(404)
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def empty_mirror():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_mirror_without_the_file_gets_a_message_too(monkeypatch, capsys, empty_mirror):
    monkeypatch.setenv("HF_ENDPOINT", empty_mirror)
    assert prefetch.main(["vit_tiny_patch16_224"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vit_tiny_patch16_224: ") and empty_mirror in err and "Traceback" not in err, err
