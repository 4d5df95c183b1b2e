"""One bounded, thread-safe cache of loaded models, shared by every session of the server.

    cache = ModelCache(size=6)
    model = cache.get(("vision", name, weights, device), lambda: vision.load(name, weights, device))

- Bounded: at most `size` models are kept; loading one more drops the least recently used. The cache only
  drops its own reference, so a model still in use by a running session lives until that run ends.
- Thread-safe: Streamlit runs each session's script in its own thread. The table is guarded by one lock;
  a model is loaded by one thread at a time per key (the others wait for it and share the result), while
  different models may load at the same time.
- Errors are not cached: a load that raises stores nothing, and the next call tries again.
- Shared read-only: every caller gets the same object. Callers run it and never modify it (no training,
  no attribute or hook left on it); the pages only read.

No Streamlit here (ui.common wraps it with a spinner and sets the size), so it is tested on its own.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")


class ModelCache:
    def __init__(self, size: int, on_evict: Callable[[], None] | None = None):
        """`on_evict()` runs after a load that dropped models, outside the lock (ui.common hands the memory back)."""
        if int(size) < 1:
            raise ValueError(f"a model cache holds at least one model, not {size}")
        self.size = int(size)
        self._on_evict = on_evict
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}  # one lock per key being loaded

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The model cached under `key`, or `load()`'s result, stored (evicting the least recently used)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one load per key; another thread asking for the same model waits here
            with self._lock:
                if key in self._items:  # loaded by the thread we waited for
                    self._items.move_to_end(key)
                    return self._items[key]
            try:
                value = load()  # outside the table's lock: other models stay available meanwhile
            except BaseException:
                with self._lock:
                    self._forget_loading(key, key_lock)
                raise
            evicted = []
            with self._lock:
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    evicted.append(self._items.popitem(last=False))
                self._forget_loading(key, key_lock)
            if evicted and self._on_evict is not None:
                del evicted  # the cache's last references, before the callback frees memory
                self._on_evict()
            return value

    def _forget_loading(self, key: Hashable, key_lock: threading.Lock) -> None:
        if self._loading.get(key) is key_lock:
            del self._loading[key]

    def keys(self) -> list:
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
