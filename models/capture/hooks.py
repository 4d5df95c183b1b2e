"""The one capture layer: fused attention switched off, forward hooks for one call, a lock per model.

Every capture in models/capture (vision's FX trace and its hook fallback, swin's hooked capture,
step_by_step's recording of one module's call) goes through these pieces, so that one cached model
can serve every browser session at once:

    with unfused(model):                  # model_lock(model) held; every `fused_attn` flag False
        with hooks() as h:                # hooks that exist for this block only
            h.pre(block, on_block)        # (module, args) -> None
            h.pre(block.attn, on_attn, with_kwargs=True)
            h.forward(block.attn.softmax, on_softmax)
            logits = model(x)
    # flags back as they were, hooks removed, lock released: also when the forward raised

- `unfused(model)`: PyTorch's fused attention (SDPA) never forms the weights, so a capture that reads them
  switches every module's `fused_attn` off, and puts each flag back in `finally`. The flags are on the shared
  model, so the whole block holds the model's lock: two captures of one model take turns.
- `model_lock(model)`: one re-entrant lock per model object, kept in a WeakKeyDictionary (nothing is set on
  the module, and the lock goes when the model goes).
- `running()` / `tracing()`: while torch.fx traces a model (once, at load) it replaces
  torch.nn.Module.__call__ for the whole process, so any other thread's forward meanwhile fails
  ("module is not installed as a submodule"). Forwards share `running()`; a trace takes `tracing()`
  alone, after the forwards under way and before the next. `unfused` and `hooks` enter `running()`.
- `hooks()`: forward and forward-pre hooks registered for one block and removed in `finally`. A hook fires
  only for calls made by the thread that opened the block: another session's forward through the same
  modules meanwhile (the FX extractor shares them) is not recorded. `hooks(hold=model)` also holds the
  model's lock, for a capture that must see the model's own (fused) forward, not one switched by another.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import torch

_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


class _Gate:
    """Shared by forwards, held alone by a torch.fx trace (a readers-writer lock; a waiting trace goes first).

    Re-entrant per thread: a forward inside a forward, or one inside the trace's own thread, passes through.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._waiting = 0
        self._local = threading.local()

    @contextmanager
    def shared(self) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        if depth or self._writer == threading.get_ident():
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        with self._cond:
            while self._writer is not None or self._waiting:
                self._cond.wait()
            self._readers += 1
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._writer == me:
            yield
            return
        if getattr(self._local, "depth", 0):
            raise RuntimeError("a torch.fx trace cannot start inside a forward: it would wait for itself")
        with self._cond:
            self._waiting += 1
            try:
                while self._writer is not None or self._readers:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._writer = me
        try:
            yield
        finally:
            with self._cond:
                self._writer = None
                self._cond.notify_all()


_GATE = _Gate()


def running():
    """Hold while a model runs a forward (shared with other forwards; a torch.fx trace waits for it)."""
    return _GATE.shared()


def tracing():
    """Hold while torch.fx traces a model: no forward runs in any thread meanwhile, nor another trace."""
    return _GATE.exclusive()


def model_lock(model: torch.nn.Module) -> threading.RLock:
    """The lock of one model object (re-entrant, so a thread already holding it may nest captures)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


def fused_switches(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The modules of `model` with a `fused_attn` flag (timm's Attention, WindowAttention, …)."""
    return [m for m in model.modules() if hasattr(m, "fused_attn")]


@contextmanager
def unfused(model: torch.nn.Module) -> Iterator[None]:
    """Fused attention off in every module of `model` for the block, each flag restored in `finally`.

    Holds model_lock(model) for the whole block: the flags live on the shared model.
    """
    with running(), model_lock(model):
        saved = [(m, m.fused_attn) for m in fused_switches(model)]
        try:
            for m, _ in saved:
                m.fused_attn = False
            yield
        finally:
            for m, flag in saved:
                m.fused_attn = flag


class Hooks:
    """Hooks registered inside one `hooks()` block; all removed when it ends."""

    def __init__(self) -> None:
        self._thread = threading.get_ident()
        self._handles: list = []

    def _mine(self, fn: Callable) -> Callable:
        """`fn` for calls from the thread that opened the block, nothing for others; its result is dropped,
        so a capture never changes a module's inputs or output."""
        me = self._thread

        def hook(*args):
            if threading.get_ident() == me:
                fn(*args)

        return hook

    def pre(self, module: torch.nn.Module, fn: Callable, with_kwargs: bool = False) -> None:
        """`fn(module, args)` (or `fn(module, args, kwargs)` with_kwargs) before each call of `module`.
        Its return value is ignored: a capture records, it never changes the inputs."""
        self._handles.append(module.register_forward_pre_hook(self._mine(fn), with_kwargs=with_kwargs))

    def forward(self, module: torch.nn.Module, fn: Callable, with_kwargs: bool = False) -> None:
        """`fn(module, args, output)` (or `fn(module, args, kwargs, output)`) after each call of `module`.
        Its return value is ignored: the output goes on unchanged."""
        self._handles.append(module.register_forward_hook(self._mine(fn), with_kwargs=with_kwargs))

    def alter_input(self, module: torch.nn.Module, fn: Callable) -> None:
        """`fn(module, args) -> args` replaces the inputs of `module` for calls from this thread only (another
        session's forward through the same module meanwhile goes on unchanged): the one hook that changes a
        forward, for head ablation (models/capture/ablation.py)."""
        me = self._thread

        def hook(mod, args):
            if threading.get_ident() == me:
                return fn(mod, args)
            return None

        self._handles.append(module.register_forward_pre_hook(hook))

    def remove(self) -> None:
        while self._handles:
            self._handles.pop().remove()


@contextmanager
def hooks(hold: torch.nn.Module | None = None) -> Iterator[Hooks]:
    """Forward (pre)hooks for one call: register them on the yielded `Hooks`; every one is removed in
    `finally`, and each fires only for the thread that opened the block.

    `hold`: a model whose lock is held for the block, for a capture that reads the model's own forward
    as it is (fused attention included): no other capture can switch its flags off meanwhile.
    """
    with running(), model_lock(hold) if hold is not None else nullcontext():
        registered = Hooks()
        try:
            yield registered
        finally:
            registered.remove()
