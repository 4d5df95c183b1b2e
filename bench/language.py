"""The language models' figures (issue 13): capture cost, the 4,096-token page path, its view changes, cold start.

capture_cost: for a BERT-base-sized encoder (BertConfig defaults) at 512 tokens and a GPT-2-sized decoder
  (GPT2Config defaults) at 1,024 tokens, random weights saved once to a temporary folder and loaded three ways:
    bare  = transformers' own forward with attn_implementation="sdpa" (the fused kernel, no weights formed);
    ours  = models.language.capture.from_pretrained ("atlas": the same fused kernel computes the outputs) with the
            forward under capture.recording(), as language.run makes it: every weight can be shown afterwards;
    eager = transformers' attn_implementation="eager" with output_attentions=True (the anchor: every weight formed).
  Inputs are random ids, the same for all; torch.inference_mode; each of ours, eager and run alternates with the
  bare forward in a pair of its own (bench.capture.alternate) after a warm-up; medians. run =
  language.run(model, text, max_new_tokens=0) on a text of as many tokens (tokenising, the recording forward,
  predictions, token labels) over the bare forward: informative, not the goal.
page_4096: the language page (AppTest, in a child process) with a GPT-2-sized random model (12 layers × 12 heads,
  d = 768, n_positions = 4,096; tests.language_models.gpt2_long) in ATLAS_WEIGHTS_DIR, its name typed in lm_name and
  a 4,096-token text in lm_text: peak resident memory of the child (VmHWM: its own address space's peak; Linux
  carries a parent's ru_maxrss over into a child across exec, so a child started by a big bench process would report
  the parent's peak), with the peak after each step, the charts drawn, errors, the bytes the page sends on its
  default tab and view (bench.pages.page_bytes), and the server's side of a head or layer change (rerun_ms: median
  AppTest rerun of the whole script after setting lm_head or lm_layer; the browser reruns the fragment only).
view_change_4096: Chromium against a server with that ATLAS_WEIGHTS_DIR: open /language, fill the model name and
  the text, wait idle, one warm-up change, then the median of ArrowRight presses on the head slider (lm_head) and
  on the layer slider (lm_layer), timed by bench.browser's helper (key press to idle and two frames painted);
  with the medians of its two parts from the page's own stamps (server_ms: script running; paint_ms: idle to the
  second frame painted).
first_minilm_figure_s: a fresh server process to the first Plotly chart drawn on /language (the default model is
  the bundled all-MiniLM-L6-v2), as bench.browser.measure does for its page.
"""
from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOAL_CAPTURE = 1.10
GOAL_RSS_MB = 2500
GOAL_BYTES = 5_000_000
GOAL_VIEW_MS = 300
GOAL_FIRST_S = 10


def _configs(quick: bool):
    """(name, config, tokens) of the two capture models: the issue's sizes, or tiny stand-ins with --quick."""
    from transformers import BertConfig, GPT2Config

    if quick:
        return [
            ("bert_tiny_64", BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=128, vocab_size=1000), 64),
            ("gpt2_tiny_64", GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=1000), 64),
        ]
    return [("bert_base_512", BertConfig(), 512), ("gpt2_1024", GPT2Config(), 1024)]


def _text_of(n_tokens: int) -> str:
    """A text our word tokenizer cuts into exactly n_tokens ([CLS] + one token per word + [SEP])."""
    from tests.language_models import WORDS

    n = max(n_tokens - 2, 1)
    return " ".join((list(WORDS) * (n // len(WORDS) + 1))[:n])


def capture_one(name: str, config, tokens: int, repeats: int, folder: pathlib.Path) -> dict:
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    from bench.capture import alternate
    from models import language
    from models.language import capture
    from models.messages import Notice
    from tests.language_models import write_tokenizer

    decoder = config.model_type == "gpt2"
    cls = AutoModelForCausalLM if decoder else AutoModelForMaskedLM
    where = folder / name
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cls.from_config(config).save_pretrained(str(where))
    write_tokenizer(where)
    bare = cls.from_pretrained(str(where), attn_implementation="sdpa").eval()
    eager = cls.from_pretrained(str(where), attn_implementation="eager").eval()
    lm = capture.from_pretrained(where, name=name, source=Notice("lm.source_folder", path=name),
                                 weights_source="random weights (bench)", local_files_only=True)
    ours = lm.module
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(5, config.vocab_size, (1, tokens), generator=gen)
    kw = {"use_cache": False} if decoder else {}
    kinds = lm.details.get("attention_kinds")
    text = _text_of(tokens)

    def recorded():
        with capture.recording(model=ours, kinds=kinds) as rec:
            out = ours(input_ids=ids, **kw)
        return out, rec

    with torch.inference_mode():  # the three give the same model: outputs and weights checked once, untimed
        ref = bare(input_ids=ids, **kw).logits
        out, rec = recorded()
        anchor = eager(input_ids=ids, output_attentions=True, **kw)
        logits_err = (out.logits - ref).abs().max().item()
        weights_err = max((capture.weights_of(r) - a[0]).abs().max().item()
                          for r, a in zip(rec.records, anchor.attentions))
        layers = len(rec.records)
        record_mb = rec.nbytes / 2**20
        del out, rec, anchor, ref
    n_run = len(language.run(lm, text, max_new_tokens=0).tokens("self")[0])
    forward = {
        "bare": lambda: bare(input_ids=ids, **kw),
        "ours": recorded,
        "eager": lambda: eager(input_ids=ids, output_attentions=True, **kw),
        "run": lambda: language.run(lm, text, max_new_tokens=0),
    }
    # Each compared run alternates with the bare forward in a pair of its own: a run that frees much memory (eager's
    # maps, a trace) does not then slow whatever comes next in the other's place.
    med = {}
    for other in ("ours", "eager", "run"):
        pair = alternate({"bare": forward["bare"], other: forward[other]}, repeats, "cpu", warmup=1)
        med[other], med[f"bare_{other}"] = pair[other], pair["bare"]
    med["bare"] = med["bare_ours"]
    return {
        "model": f"{config.model_type} {getattr(config, 'num_hidden_layers', None)} layers × "
                 f"{getattr(config, 'num_attention_heads', None)} heads, d = {getattr(config, 'hidden_size', None)}",
        "tokens": tokens,
        "run_tokens": n_run,
        "layers_recorded": layers,
        "record_mb": round(record_mb, 1),
        "bare_ms": round(med["bare"] * 1e3, 1),
        "ours_ms": round(med["ours"] * 1e3, 1),
        "eager_output_attentions_ms": round(med["eager"] * 1e3, 1),
        "run_ms": round(med["run"] * 1e3, 1),
        "ratio": round(med["ours"] / med["bare"], 3),
        "eager_ratio": round(med["eager"] / med["bare_eager"], 3),
        "run_ratio": round(med["run"] / med["bare_run"], 3),
        "bare_ms_beside_eager_and_run": [round(med["bare_eager"] * 1e3, 1), round(med["bare_run"] * 1e3, 1)],
        "logits_max_abs_diff_vs_sdpa": logits_err,
        "weights_max_abs_diff_vs_eager": weights_err,
        "repeats": repeats,
    }


def capture_cost(quick: bool) -> dict:
    repeats = 3 if quick else 11
    out = {}
    with tempfile.TemporaryDirectory(prefix="atlas-bench-lm-") as tmp:
        for name, config, tokens in _configs(quick):
            print(f"language capture_cost: {name} at {tokens} tokens", file=sys.stderr)
            out[name] = capture_one(name, config, tokens, repeats, pathlib.Path(tmp))
    return out


# ------------------------------------------------------------------------------------------------ the page path
CHILD = r"""
import json, resource, sys, time
from bench.pages import hwm_mb
import torch
torch.set_num_threads(int(sys.argv[4]))
from streamlit.testing.v1 import AppTest
from bench.pages import page_bytes
t0 = time.perf_counter()
at = AppTest.from_file(sys.argv[1], default_timeout=900).run()
at.switch_page("views/language.py").run()
opened = time.perf_counter() - t0
steps = {"default_page_minilm": hwm_mb()}
at.text_input(key="lm_name").set_value(sys.argv[2]).run()
steps["model_loaded_default_text"] = hwm_mb()
text = open(sys.argv[3], encoding="utf-8").read()
t1 = time.perf_counter()
at.text_area(key="lm_text").set_value(text).run()
ran = time.perf_counter() - t1
errors = [e.message for e in at.exception] + [e.value for e in at.error]
sizes = page_bytes(at)  # the default tab and view, before any change
peak = hwm_mb()
reruns = {}  # the server's side of a view change: AppTest reruns the whole script (the browser, the fragment only)
for key in ("lm_head", "lm_layer"):
    times = []
    n = len(at.select_slider(key=key).options)
    for i in range(int(sys.argv[5])):
        at.select_slider(key=key).set_value(1 + (i * 5 + 1) % n)
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
    reruns[key] = round(sorted(times)[len(times) // 2] * 1e3, 1)
errors += [e.message for e in at.exception]
print(json.dumps({
    "peak_rss_mb": peak if peak is not None else round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "peak_rss_from": "VmHWM" if peak is not None else "ru_maxrss",
    "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "peak_rss_mb_after": steps,
    "page": sizes,
    "rerun_ms": reruns,
    "notices": [i.value[:160] for i in at.info],
    "warnings": [w.value[:160] for w in at.warning],
    "errors": errors,
    "open_default_s": round(opened, 2),
    "text_to_figures_s": round(ran, 2),
}))
"""


def _long_model(weights: pathlib.Path, quick: bool) -> pathlib.Path:
    from tests.language_models import gpt2_long

    if quick:
        return gpt2_long(weights, n_positions=256, layers=2, heads=4, d=64)
    return gpt2_long(weights)


def page_path(weights: pathlib.Path, folder: pathlib.Path, tokens: int, threads: int, reruns: int) -> dict:
    print(f"language page_4096: AppTest child, {folder.name} at {tokens} tokens", file=sys.stderr)
    text_file = weights / f"text-{tokens}.txt"
    text_file.write_text(_text_of(tokens), encoding="utf-8")
    env = dict(os.environ, ATLAS_WEIGHTS_DIR=str(weights), CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT / "app.py"), folder.name, str(text_file), str(threads), str(reruns)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    out = {"model": folder.name, "tokens": tokens}
    if proc.returncode != 0 or not lines:
        out.update(peak_rss_mb=None, page_bytes=None, reason=proc.stderr[-800:])
        return out
    found = json.loads(lines[-1])
    out.update(found)
    out["page_bytes"] = found["page"]["total_bytes"]
    out["charts"] = found["page"]["charts"]
    if found["errors"]:
        out["reason"] = "the page showed errors: " + "; ".join(found["errors"])[:300]
    return out


def view_changes(weights: pathlib.Path, folder: pathlib.Path, tokens: int, repeats: int,
                 timeout_s: float = 600.0) -> dict:
    """{"lm_head": row, "lm_layer": row} as bench.browser reports a page's control, or a reason."""
    from bench import browser

    out: dict = {"model": folder.name, "tokens": tokens}
    if not browser.missing():
        print(f"language view_change: Chromium, {folder.name} at {tokens} tokens", file=sys.stderr)
    timeout_ms = timeout_s * 1000

    def measure_page(page, url: str) -> None:
        browser._open(page, url, "language")
        name = page.locator(".st-key-lm_name input").first
        name.fill(folder.name)
        name.press("Enter")
        browser._wait_idle(page)
        box = page.locator(".st-key-lm_text textarea").first
        box.fill(_text_of(tokens))
        t1 = time.perf_counter()
        box.press("Control+Enter")
        page.wait_for_timeout(500)
        browser._wait_idle(page)
        page.wait_for_selector(browser.FIGURE)
        out["text_to_idle_s"] = round(time.perf_counter() - t1, 2)
        browser._check_no_exception(page)
        page.evaluate(browser.OBSERVER_JS)
        for key in ("lm_head", "lm_layer"):
            found = browser._slider(page, key).count() > 0
            t0 = page.evaluate("() => performance.now()")
            out[key] = browser._row(page, key, found, browser._slider_changes, repeats, timeout_ms)
            out[key].update(_split(page.evaluate("() => window.__atlasStates"), t0))

    return browser.with_page(out, measure_page, "cpu", env={"ATLAS_WEIGHTS_DIR": str(weights)}, timeout_s=timeout_s)


def _split(states: list[dict], t0: float) -> dict:
    """Where a change's time goes, from the page's own script-state stamps (the warm-up change left out): the
    script running (server_ms: the fragment's rerun, from the first 'running' to 'notRunning', the
    deltas arriving meanwhile) and after it (paint_ms: 'notRunning' to the second animation frame)."""
    server, paint = [], []
    run = idle = None
    for e in (e for e in states if e["t"] >= t0):
        if e["state"] == "running" and run is None:
            run = e["t"]
        elif e["state"] == "notRunning" and run is not None and idle is None:
            idle = e["t"]
        elif e["state"] == "painted" and idle is not None:
            server.append(idle - run)
            paint.append(e["t"] - idle)
            run = idle = None
    server, paint = server[1:], paint[1:]
    return {"server_ms_median": round(statistics.median(server), 1) if server else None,
            "paint_ms_median": round(statistics.median(paint), 1) if paint else None}


def first_minilm_figure(timeout_s: float = 120.0) -> dict:
    from bench import browser

    return browser.measure("cpu", timeout_s, slug="language")


def measure(quick: bool, threads: int) -> dict:
    """Every language figure; with --quick small stand-ins (no cold start) that keep the harness working."""
    out: dict = {"capture": capture_cost(quick)}
    tokens = 256 if quick else 4096
    with tempfile.TemporaryDirectory(prefix="atlas-bench-lm-weights-") as tmp:
        weights = pathlib.Path(tmp)
        folder = _long_model(weights, quick)
        out["page"] = page_path(weights, folder, tokens, threads, reruns=3 if quick else 7)
        out["view_change"] = view_changes(weights, folder, tokens, repeats=2 if quick else 9)
    if quick:
        out["first_figure"] = {"first_figure_s": None, "reason": "not measured with --quick (a cold start)"}
    else:
        out["first_figure"] = first_minilm_figure()
    return out


def summary(found: dict) -> dict:
    """The top-level figures of the language part (bench/__main__.py puts them beside the others)."""
    cap = found["capture"]
    views = found.get("view_change") or {}
    view_ms = {k: (views.get(k) or {}).get("median_ms") for k in ("lm_head", "lm_layer")}
    return {
        "lm_capture_ratio": {name: row["ratio"] for name, row in cap.items()},
        "lm_eager_ratio": {name: row["eager_ratio"] for name, row in cap.items()},
        "lm_run_ratio": {name: row["run_ratio"] for name, row in cap.items()},
        "lm_peak_rss_mb": found["page"].get("peak_rss_mb"),
        "lm_page_bytes": found["page"].get("page_bytes"),
        "lm_view_change_ms": view_ms,
        "lm_first_figure_s": found["first_figure"].get("first_figure_s"),
    }


def goals_met(results: dict) -> dict:
    met = {}
    if results.get("lm_capture_ratio"):
        met["lm_capture_ratio"] = all(v <= GOAL_CAPTURE for v in results["lm_capture_ratio"].values())
    if "lm_peak_rss_mb" in results:
        v = results["lm_peak_rss_mb"]
        met["lm_peak_rss_mb"] = v is not None and v <= GOAL_RSS_MB
    if "lm_page_bytes" in results:
        v = results["lm_page_bytes"]
        met["lm_page_bytes"] = v is not None and v <= GOAL_BYTES
    if results.get("lm_view_change_ms"):
        met["lm_view_change_ms"] = all(v is not None and v <= GOAL_VIEW_MS
                                       for v in results["lm_view_change_ms"].values())
    if results.get("lm_first_figure_s") is not None:
        met["lm_first_figure_s"] = results["lm_first_figure_s"] <= GOAL_FIRST_S
    return met


