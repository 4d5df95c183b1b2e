"""Shared test set-up: CPU only, deterministic, few threads (CI has 2 cores)."""
import os
import pathlib

import pytest

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "assets" / "samples"
APP = str(ROOT / "app.py")  # AppTest resolves relative paths against the calling file


def pytest_collection_modifyitems(items):
    """Real-browser tests start a server and Chromium: they belong to the full run, not the `-m "not slow"` loop."""
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def root() -> pathlib.Path:
    return ROOT


@pytest.fixture(scope="session")
def samples() -> pathlib.Path:
    return SAMPLES


# The real-browser fixtures (one streamlit server and one Chromium for the whole run; a fresh page per test).
from tests.browser import browser, page, server  # noqa: E402,F401
