"""ui.clicks on the payloads a real browser sends (tests/fixtures/), and on what a page must shrug off."""
import json
import pathlib

from ui.clicks import clicked, custom_ints

FIXTURES = pathlib.Path(__file__).parent / "fixtures"

# As Chromium sent it for a scatter point whose customdata was a 2-D numpy array (as documented for this project's
# Streamlit 1.67 / Chromium, 2026-12-01; tests/fixtures/ holds captured ones).
TYPED_ARRAY = {"selection": {"points": [{"curve_number": 0, "point_number": 2, "point_index": 2, "x": 2, "y": 2,
                                         "customdata": {"0": 2, "1": 12}}],
                             "point_indices": [2], "box": [], "lasso": []}}


def test_typed_array_customdata_comes_back_in_order():
    click = clicked(TYPED_ARRAY)
    assert click.custom == (2, 12) and click.index == 2 and click.curve == 0
    assert custom_ints(TYPED_ARRAY, 2) == (2, 12)


def test_keys_past_nine_sort_as_numbers():
    event = {"selection": {"points": [{"customdata": {str(i): i for i in range(12)}}]}}
    assert clicked(event).custom == tuple(range(12))


def test_lists_scalars_and_nothing():
    assert custom_ints({"selection": {"points": [{"customdata": [3, 4, 5]}]}}, 2) == (3, 4)
    assert clicked({"selection": {"points": [{"customdata": 7}]}}).custom == (7,)
    assert clicked({"selection": {"points": [], "box": [], "lasso": []}}) is None
    assert clicked(None) is None and clicked({}) is None
    assert custom_ints({"selection": {"points": [{"customdata": {"0": "a"}}]}}, 1) is None
    assert custom_ints(TYPED_ARRAY, 3) is None


def test_every_captured_browser_payload_is_read():
    captured = sorted(FIXTURES.glob("chromium_*.json"))
    assert captured, f"no payload captured from Chromium in {FIXTURES} (chromium_<what>.json)"
    for path in captured:
        payload = json.loads(path.read_text())
        click = clicked(payload["event"])
        assert click is not None, path.name
        assert list(click.custom) == payload["expected_custom"], path.name


def test_the_vit_pages_captured_clicks_give_its_patch_and_its_layer_and_head():
    """What the ViT page's callbacks read from Chromium's payloads: patch (row, col) from 0, layer and head from 1."""
    grid = json.loads((FIXTURES / "chromium_vit_patch_grid.json").read_text())["event"]
    assert custom_ints(grid, 3) == (2, 5, 22)  # patch (2, 5) of an 8 × 8 grid after CLS: token 1 + 2·8 + 5
    overview = json.loads((FIXTURES / "chromium_vit_overview.json").read_text())["event"]
    assert custom_ints(overview, 2) == (2, 3)
    try:  # the raw payload is a dict keyed "0", "1", …: indexing it as a list is what raised in Chromium
        grid["selection"]["points"][0]["customdata"][0]
    except KeyError:
        pass
    else:
        raise AssertionError("the captured payload should be a typed array (a dict), as Chromium sends it")
