"""models/capture/hooks.py, the one capture layer: fused attention off and back, hooks for one call, a lock per model.

Held to behaviour: every flag is back and every hook gone after an exception, captures of one model take turns,
another thread's forward is not recorded, a hook never changes what the module returns, and nothing is left on
the module (no attribute, no hook, no lock that outlives it).
"""
from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest
import timm
import torch

from models.capture import hooks as capture


def _vit():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                                 num_classes=5).eval()


def _flags(model):
    return [m.fused_attn for m in capture.fused_switches(model)]


def _hook_count(model):
    """Hooks registered on any module (a with_kwargs hook is also marked in the *_with_kwargs tables)."""
    count = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    marks = sum(len(m._forward_hooks_with_kwargs) + len(m._forward_pre_hooks_with_kwargs) for m in model.modules())
    return count if count else count + marks


def test_unfused_switches_every_flag_off_and_restores_each_as_it_was():
    model = _vit()
    switches = capture.fused_switches(model)
    assert len(switches) == 2  # one timm Attention per block
    switches[0].fused_attn = False  # a mixed starting state must come back exactly
    before = _flags(model)
    with capture.unfused(model):
        assert _flags(model) == [False, False]
    assert _flags(model) == before


def test_unfused_restores_the_flags_after_an_exception():
    model = _vit()
    before = _flags(model)
    assert any(before), "timm builds these with fused attention on"
    with pytest.raises(ZeroDivisionError), capture.unfused(model):
        assert not any(_flags(model))
        _ = 1 / 0
    assert _flags(model) == before
    assert capture.model_lock(model).acquire(blocking=False), "the lock is released after an exception"
    capture.model_lock(model).release()


def test_hooks_are_removed_after_an_exception():
    model = _vit()
    seen = []
    with pytest.raises(RuntimeError, match="boom"), capture.hooks() as h:
        h.forward(model.blocks[0].attn, lambda mod, args, out: seen.append(out.shape))
        h.pre(model.blocks[1], lambda mod, args: seen.append("pre"))
        h.pre(model.blocks[1].attn, lambda mod, args, kwargs: seen.append("kw"), with_kwargs=True)
        assert _hook_count(model) == 3
        with torch.inference_mode():
            model(torch.randn(1, 3, 32, 32))
        raise RuntimeError("boom")
    assert _hook_count(model) == 0
    assert seen == [torch.Size([1, 17, 192]), "pre", "kw"]


def test_a_hook_records_and_never_changes_the_output():
    model = _vit()
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        plain = model(x)
        with capture.hooks() as h:
            h.forward(model.blocks[0].attn, lambda mod, args, out: torch.zeros_like(out))  # a return value is dropped
            h.pre(model.blocks[1], lambda mod, args: (torch.zeros_like(args[0]),))
            hooked = model(x)
    torch.testing.assert_close(hooked, plain, atol=0, rtol=0)


def test_hooks_record_only_the_calls_of_the_thread_that_opened_them():
    model = _vit()
    x = torch.randn(1, 3, 32, 32)
    mine, others = [], []
    opened, done = threading.Event(), threading.Event()

    def other_session():
        opened.wait(10)
        with torch.inference_mode():
            others.append(model(x))  # the same shared module, another thread, while the hooks are registered
        done.set()

    t = threading.Thread(target=other_session)
    t.start()
    with capture.hooks() as h:
        h.forward(model.blocks[0].attn, lambda mod, args, out: mine.append(threading.get_ident()))
        opened.set()
        assert done.wait(30)
        with torch.inference_mode():
            model(x)
    t.join()
    assert mine == [threading.get_ident()] and len(others) == 1


def test_captures_of_one_model_take_turns_and_other_models_do_not_wait():
    model, other = _vit(), _vit()
    inside, overlaps, order = [0], [], []
    guard = threading.Lock()

    def capture_once(m, tag):
        with capture.unfused(m):
            with guard:
                inside[0] += 1
                overlaps.append(inside[0])
                order.append(tag)
            time.sleep(0.05)
            assert not any(_flags(m))  # nobody restored the flags under us
            with guard:
                inside[0] -= 1

    threads = [threading.Thread(target=capture_once, args=(model, i)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(overlaps) == 1 and len(order) == 6, "two captures of one model ran at once"
    assert any(_flags(model))

    with capture.unfused(model):  # holding one model's lock does not block another model
        free = threading.Thread(target=capture_once, args=(other, "other"))
        free.start()
        free.join(10)
        assert not free.is_alive()
    assert capture.model_lock(model) is capture.model_lock(model)
    assert capture.model_lock(model) is not capture.model_lock(other)
    with capture.unfused(model), capture.unfused(model):  # re-entrant in one thread
        pass


def test_nothing_is_left_on_the_module():
    model = _vit()
    attrs = {m: set(vars(m)) for m in model.modules()}
    before = _flags(model)
    x = torch.randn(1, 3, 32, 32)
    with capture.unfused(model), capture.hooks() as h, torch.inference_mode():
        h.forward(model.blocks[0].attn, lambda mod, args, out: None)
        model(x)
    assert {m: set(vars(m)) for m in model.modules()} == attrs
    assert _hook_count(model) == 0 and _flags(model) == before
    assert model in capture._LOCKS
    ref = weakref.ref(model)
    del model, attrs, h
    gc.collect()
    assert ref() is None, "the lock table must not keep a model alive"
    assert len([m for m in capture._LOCKS.keys() if m is ref()]) == 0


def test_hooks_can_hold_the_model_so_no_capture_switches_its_flags_meanwhile():
    """hooks(hold=model): a capture that reads the model's own forward sees its flags as loaded, even while
    another thread waits to switch them off."""
    model = _vit()
    before = _flags(model)
    started, seen = threading.Event(), []

    def switcher():
        started.set()
        with capture.unfused(model):
            seen.append(("switched", _flags(model)))

    with capture.hooks(hold=model) as h:
        h.forward(model.blocks[0].attn, lambda mod, args, out: seen.append(("forward", _flags(model))))
        t = threading.Thread(target=switcher)
        t.start()
        started.wait(10)
        time.sleep(0.05)
        with torch.inference_mode():
            model(torch.randn(1, 3, 32, 32))
    t.join(10)
    assert seen == [("forward", before), ("switched", [False, False])]
    assert _flags(model) == before and _hook_count(model) == 0


def test_a_trace_waits_for_the_forwards_under_way_and_the_next_wait_for_it():
    events, lock = [], threading.Lock()

    def log(what):
        with lock:
            events.append(what)

    forward_in, trace_waiting = threading.Event(), threading.Event()

    def forward():
        with capture.running():
            log("forward in")
            forward_in.set()
            trace_waiting.wait(10)
            time.sleep(0.1)
            with capture.running():  # re-entrant: a forward inside a forward passes while a trace waits
                log("nested")
            log("forward out")

    def trace():
        forward_in.wait(10)
        trace_waiting.set()
        with capture.tracing():
            log("trace in")
            with capture.running(), capture.tracing():  # the tracing thread itself may run and re-enter
                pass
            time.sleep(0.1)
            log("trace out")

    def late_forward():
        trace_waiting.wait(10)
        time.sleep(0.05)  # arrives while the trace waits: a waiting trace goes first
        with capture.running():
            log("late forward")

    threads = [threading.Thread(target=f) for f in (forward, trace, late_forward)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert events == ["forward in", "nested", "forward out", "trace in", "trace out", "late forward"]
    with capture.running(), pytest.raises(RuntimeError, match="inside a forward"):
        with capture.tracing():
            pass
