"""The one bounded model cache (models.runtime.model_cache, set up in ui.common): bounded, least recently used
dropped first, errors not cached, one load per key under concurrent sessions, every loader of the app in it."""
from __future__ import annotations

import threading
import time

import pytest

from models.runtime.model_cache import ModelCache


def test_keeps_at_most_size_models_dropping_the_least_recently_used():
    cache = ModelCache(2)
    loads = []

    def loader(name):
        def load():
            loads.append(name)
            return object()
        return load

    a = cache.get("a", loader("a"))
    cache.get("b", loader("b"))
    assert cache.get("a", loader("a")) is a  # a hit: the same object, shared
    cache.get("c", loader("c"))  # b is the least recently used now
    assert cache.keys() == ["a", "c"] and len(cache) == 2
    cache.get("b", loader("b"))
    assert loads == ["a", "b", "c", "b"]
    assert cache.keys() == ["c", "b"]


def test_errors_are_not_cached():
    cache = ModelCache(2)
    calls = []

    def failing():
        calls.append(1)
        raise OSError("no such checkpoint")

    for _ in range(2):
        with pytest.raises(OSError):
            cache.get("x", failing)
    assert len(calls) == 2 and "x" not in cache and len(cache) == 0
    assert cache.get("x", lambda: "loaded") == "loaded"


def test_one_load_per_key_when_sessions_ask_at_once():
    cache = ModelCache(3)
    started = []
    gate = threading.Event()

    def slow_load():
        started.append(threading.get_ident())
        gate.wait(5)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("m", slow_load))) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    other = cache.get("other", lambda: "not blocked")  # another model is not held up by the slow load
    gate.set()
    for t in threads:
        t.join(10)
    assert other == "not blocked"
    assert len(started) == 1, "the same model was loaded more than once"
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_size_must_be_positive():
    with pytest.raises(ValueError):
        ModelCache(0)


def test_size_is_set_in_one_place_from_the_environment(monkeypatch):
    from ui import common

    monkeypatch.setenv("ATLAS_MODEL_CACHE_SIZE", "3")
    assert common._model_cache_size() == 3
    for bad in ("0", "-2", "lots", "2.5"):
        monkeypatch.setenv("ATLAS_MODEL_CACHE_SIZE", bad)
        assert common._model_cache_size(default=6) == 6
    monkeypatch.delenv("ATLAS_MODEL_CACHE_SIZE")
    assert common._model_cache_size(default=6) == 6
    assert common.model_cache().size == common.MODEL_CACHE_SIZE


def test_vision_and_text_loaders_share_the_one_cache():
    from ui import common, text, vision

    cache = common.model_cache()
    cache.clear()
    model = vision.cached_model("vit_demo", "demo", "cpu")
    assert vision.cached_model("vit_demo", "demo", "cpu") is model
    demo = text.load_model("reverse", "cpu")
    assert text.load_model("reverse", "cpu") is demo
    assert set(cache.keys()) == {("vision", "vit_demo", "demo", "cpu"), ("text", "reverse", "cpu", "demo")}
    with pytest.raises(Exception):
        vision.cached_model("no_such_model_anywhere", "random", "cpu")
    assert len(cache) == 2, "a failed load was cached"


def test_a_load_that_drops_models_calls_on_evict_once_the_reference_is_gone():
    import gc
    import weakref

    class Model:
        pass

    seen = []
    cache = ModelCache(1, on_evict=lambda: seen.append(gc.collect() >= 0 and ref() is None))
    first = cache.get("a", Model)
    ref = weakref.ref(first)
    del first
    cache.get("b", Model)
    assert seen == [True], "the dropped model was still referenced when on_evict ran"
    cache.get("b", Model)
    assert seen == [True], "a hit drops nothing"
