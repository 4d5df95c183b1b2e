"""Checks every dict-built figure must pass (tests/test_figures_*.py)."""
import json

import orjson
import plotly.io as pio

from viz import fast


def _json(fig) -> dict:
    return json.loads(pio.to_json(fig))


def assert_valid_and_sends_what_validation_would(fig) -> None:
    """Plotly's full validation accepts the figure (ValueError otherwise), and the JSON is the same."""
    assert _json(fig) == _json(fast.validated(fig))


def assert_serialises_without_the_slow_fallback(fig) -> None:
    """plotly.io.to_json tries orjson on the figure's dict first and walks it in Python only on a TypeError."""
    orjson.dumps(fig.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
