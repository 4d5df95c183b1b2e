"""Hostile and unusual text on the encoder–decoder page: a message where needed, never a traceback."""
import pytest
from streamlit.testing.v1 import AppTest

from models.demo import text
from tests.conftest import APP

HOSTILE = {
    "empty": "",
    "whitespace": " \t\n  ",
    "huge": "attention " * 10_000,  # 100,000 characters
    "emoji": "cats 😺 and dogs 🐶",
    "cjk": "注意力就是你所需要的",
    "rtl": "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \u202eevil\u202c",
    "control": "a\x01b\x07c\x1bd\x7f",
    "nul": "nul\x00byte\x00",
}


@pytest.mark.parametrize("task", ["reverse", "translate"])
def test_hostile_text_never_raises(task):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("views/encoder_decoder.py").run()
    at.radio[0].set_value(task).run()
    for label, value in HOSTILE.items():
        at.text_input(key=f"ed_text_{task}").set_value(value).run()
        assert not at.exception, f"{label}: {at.exception}"
        shown = [m.value for m in list(at.warning) + list(at.info) + list(at.error)]
        if label in ("empty", "whitespace"):
            assert shown, f"{label}: no message"
        if label == "huge":
            assert any("too long" in m for m in shown), shown


@pytest.mark.parametrize("value", list(HOSTILE.values())[2:])
def test_hostile_text_through_the_api(value):
    trace = text.run(text.load("reverse"), value)
    assert trace.encoder_attention[0].shape[-1] == len(trace.source_tokens)
