"""The app shell: the router, the home page, the device sidebar."""
from streamlit.testing.v1 import AppTest

from models.runtime import device
from tests.conftest import APP


def test_home_page_runs_without_exception():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert any("Attention Atlas" in t.value for t in at.title)
    assert any("Running on" in c.value for c in at.sidebar.caption)


def test_home_page_says_how_to_read_attention():
    """Attention is where information is mixed from, not why; value norms (Kobayashi et al. 2020), W_O and MLPs are
    left out; rollout's equal residual split is an assumption (Abnar & Zuidema 2020)."""
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert any("Reading attention responsibly" in s.value for s in at.subheader)
    note = " ".join(m.value for m in at.markdown)
    for words in ("not **why**", "Kobayashi et al., 2020", "W_O", "MLPs", "Abnar & Zuidema, 2020", "assumption",
                  "count from 1", "indices from 0"):
        assert words in note, words


def test_device_order_and_fallback():
    names = device.available()
    assert names[-1] == "cpu"
    assert device.default() == names[0]
    assert device.resolve("auto").type == names[0]
    # An absent device never raises: it falls back to the CPU.
    assert device.resolve("no-such-device").type == "cpu"
