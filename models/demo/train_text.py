"""Train and score the bundled text demo checkpoints: `python -m models.demo.train <reverse|dates|translate>`.

Data are generated on the fly (models.demo.text.examples), so a run needs nothing but this repository and is
reproducible: fixed seeds, one CPU thread by default. Teacher forcing on padded batches, Adam with
β = (0.9, 0.98), ε = 1e-9 as in the paper, linear warm-up then cosine decay of the learning rate.
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import random
import shlex
import time

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from models.demo import text
from models.network.transformer import TransformerConfig, make_model

TRAIN_SEED = 0  # the training stream and the initial weights
EVAL_SEED = 1  # the 1,000 held-out examples that --evaluate and the checkpoint's JSON score
EVAL_EXAMPLES = 1000

# Per task: steps and batch size, sized to train in a few minutes on one CPU thread.
SCHEDULES = {
    "reverse": dict(steps=10000, batch_size=64, lr=1e-3, warmup=400),  # 3,600 symbols: more steps than ASCII
    "dates": dict(steps=2000, batch_size=64, lr=1e-3, warmup=200),
    "translate": dict(steps=2000, batch_size=64, lr=1e-3, warmup=200),
}


def batch_tensors(task: str, pairs: list[tuple[str, str]], src_index: dict, tgt_index: dict):
    """(input, output) strings → padded source ids, decoder input ids (<s> + y) and labels (y + </s>)."""
    spec = text.TASKS[task]
    src = [text._encode(spec, src_index, s)[0] for s, _ in pairs]
    tgt = [[tgt_index[t] for t in spec.target_tokens(y)] for _, y in pairs]
    s_len, t_len = max(map(len, src)), max(map(len, tgt)) + 1
    src_ids = torch.tensor([r + [text.PAD] * (s_len - len(r)) for r in src])
    dec_in = torch.tensor([[text.BOS] + r + [text.PAD] * (t_len - 1 - len(r)) for r in tgt])
    labels = torch.tensor([r + [text.EOS] + [text.PAD] * (t_len - 1 - len(r)) for r in tgt])
    return src_ids, dec_in, labels


def length_buckets(
    pairs: list[tuple[str, str]], batch_size: int, seed: int, pool: int = 32
) -> list[list[tuple[str, str]]]:
    """Batches of similar lengths, so that little compute goes to padding: every `pool` batches' worth of
    examples is sorted by length and cut into batches, and the batches are shuffled (reproducibly)."""
    rng, batches = random.Random(seed), []
    for start in range(0, len(pairs), pool * batch_size):
        chunk = sorted(pairs[start : start + pool * batch_size], key=lambda p: (len(p[0]), len(p[1])))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def exact_match(model: text.TextModel, pairs: list[tuple[str, str]]) -> float:
    """Fraction of inputs whose greedy output equals the expected string exactly."""
    outputs = text.decode_batch(model, [s for s, _ in pairs])
    return sum(o == y for o, (_, y) in zip(outputs, pairs)) / len(pairs)


def exact_match_by_kind(model: text.TextModel, pairs: list[tuple[str, str]]) -> dict[str, dict]:
    """reverse: the exact match of the ASCII, Chinese and mixed inputs among `pairs` apart,
    {kind: {"exact_match": fraction, "examples": count}}."""
    outputs = text.decode_batch(model, [s for s, _ in pairs])
    scores: dict[str, list[bool]] = {kind: [] for kind in text.REVERSE_KINDS}
    for o, (s, y) in zip(outputs, pairs):
        scores[text.reverse_kind(s)].append(o == y)
    return {kind: {"exact_match": sum(hits) / max(1, len(hits)), "examples": len(hits)}
            for kind, hits in scores.items()}


def held_out(task: str, n: int = EVAL_EXAMPLES, seed: int = EVAL_SEED) -> list[tuple[str, str]]:
    return text.examples(task, n, seed, text.HELDOUT)


def train(
    task: str, steps: int, batch_size: int, lr: float, warmup: int, seed: int, out_dir: pathlib.Path,
    overrides: dict | None = None, probe: int = 0, command: str | None = None,
) -> dict:
    info = text.TASKS[task]  # the TextTask: vocabularies, sampler, model size
    src_vocab, tgt_vocab = info.source_vocab, info.target_vocab
    src_index = {t: i for i, t in enumerate(src_vocab)}
    tgt_index = {t: i for i, t in enumerate(tgt_vocab)}
    cfg = TransformerConfig(src_vocab=len(src_vocab), tgt_vocab=len(tgt_vocab), pad_id=text.PAD,
                            **{**info.config, **(overrides or {})})
    torch.manual_seed(seed)
    model = make_model(cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    batches = length_buckets(text.examples(task, steps * batch_size, seed, text.TRAIN), batch_size, seed)
    started, cpu_started, running = time.perf_counter(), time.process_time(), None
    for step, pairs in enumerate(batches):
        src, dec_in, labels = batch_tensors(task, pairs, src_index, tgt_index)
        logits, _ = model(src, dec_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=text.PAD)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {running:.4f}  lr {lr_at(step):.2e}  {time.perf_counter() - started:6.1f}s",
                  flush=True)
        if probe and step % probe == probe - 1:
            model.eval()
            probed = text.TextModel(task, info, model, src_vocab, tgt_vocab, {}, "", torch.device("cpu"))
            print(f"step {step:5d}  exact match on 200 held-out examples: "
                  f"{exact_match(probed, held_out(task, 200)):.3f}", flush=True)
            model.train()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started

    model.eval()
    meta = {
        "task": task,
        "config": cfg.to_dict(),
        "source_vocab": src_vocab,
        "target_vocab": tgt_vocab,
        "seed": seed,
        "steps": steps,
        "batch_size": batch_size,
        "optimizer": f"Adam(betas=(0.9, 0.98), eps=1e-9), lr {lr} with {warmup} warm-up steps then cosine decay",
        "training_seconds": round(seconds, 1),  # wall clock, on a machine possibly shared with other work
        "training_cpu_seconds": round(cpu_seconds, 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "command": command or f"python -m models.demo.train {task}",
    }
    scored = text.TextModel(task, info, model.requires_grad_(False), src_vocab, tgt_vocab, meta, "just trained",
                            torch.device("cpu"))
    meta["exact_match"] = exact_match(scored, held_out(task))
    meta["eval_examples"] = EVAL_EXAMPLES
    meta["eval_seed"] = EVAL_SEED
    if task == "reverse":
        meta["exact_match_by_kind"] = exact_match_by_kind(scored, held_out(task))
    out_dir.mkdir(parents=True, exist_ok=True)
    state = model.unique_state_dict()  # tied embeddings: the shared matrix once
    save_file(state, str(out_dir / f"{task}.safetensors"), metadata={"task": task})
    (out_dir / f"{task}.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.demo.train", description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(text.TASKS))
    parser.add_argument("--evaluate", action="store_true",
                        help="score the bundled checkpoint on 1,000 fresh held-out examples")
    parser.add_argument("--weights", default="demo", help="with --evaluate: 'demo' or a .safetensors path")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: the CI machine has 2 cores)")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--d-model", type=int, help="override the task's model width (experiments)")
    parser.add_argument("--layers", type=int, help="override the number of encoder and decoder layers (experiments)")
    parser.add_argument("--probe", type=int, default=0,
                        help="every N steps, print the exact match on 200 held-out examples")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--out", type=pathlib.Path, default=text.WEIGHTS_DIR, help="where the checkpoint is written")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)

    if args.evaluate:
        model = text.load(args.task, device="cpu", weights=args.weights)
        pairs = held_out(args.task)
        outputs = text.decode_batch(model, [s for s, _ in pairs])
        wrong = [(s, y, o) for o, (s, y) in zip(outputs, pairs) if o != y]
        for s, y, o in wrong[:5]:
            print(f"wrong: {s!r} -> {o!r} (expected {y!r})")
        print(f"{args.task}: {model.weights_source}; {len(pairs)} held-out examples (seed {EVAL_SEED})")
        print(f"exact_match: {1 - len(wrong) / len(pairs):.4f}")
        if args.task == "reverse":
            for kind, score in exact_match_by_kind(model, pairs).items():
                print(f"  {kind}: {score['exact_match']:.4f} on {score['examples']}")
        return

    schedule = dict(SCHEDULES[args.task])
    for key in ("steps", "batch_size", "lr", "warmup"):
        if getattr(args, key) is not None:
            schedule[key] = getattr(args, key)
    overrides = {"d_model": args.d_model} if args.d_model else {}
    if args.layers:
        overrides.update(n_encoder_layers=args.layers, n_decoder_layers=args.layers)
    # As run, options included, less --out: where the files went changes nothing in them.
    kept = [a for i, a in enumerate(argv) if a != "--out" and not (i and argv[i - 1] == "--out")
            and not a.startswith("--out=")]
    command = shlex.join(["python", "-m", "models.demo.train", *kept])
    meta = train(args.task, seed=args.seed, out_dir=args.out, overrides=overrides, probe=args.probe,
                 command=command, **schedule)
    print(f"wrote {args.out / args.task}.safetensors and .json in {meta['training_seconds']:.0f}s of training")
    print(f"exact_match: {meta['exact_match']:.4f}")
