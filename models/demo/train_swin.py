"""Train and evaluate the bundled demo Swin: a small timm SwinTransformer that classifies the shape in
the generated shapes-on-clutter images (models/demo/shapes.py), so that the Swin page has a trained model
offline.

    python -m models.demo.train_swin              # train 2,000 steps (about 13 min on one idle CPU core), save
    python -m models.demo.train_swin --evaluate   # accuracy on 1,000 fresh images; last line "accuracy: 0.9xx"

The architecture is timm's own SwinTransformer built by `timm.create_model` with small settings:
64 px input, 4 px patches (16 x 16 tokens), windows of M = 4 tokens, shift 2 in every second block,
three stages (16 x 16 -> 8 x 8 -> 4 x 4). The checkpoint is models/demo/weights/swin_demo.safetensors
plus swin_demo.json (timm architecture + create_model kwargs, class names, data config, metrics).
Training images are drawn fresh for every step from seeds that the evaluation never uses.
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from models.demo import WEIGHTS_DIR, shapes
from models.runtime import device as devices

NAME = "swin_demo"
ARCHITECTURE = "swin_tiny_patch4_window7_224"  # timm entry point; the kwargs below override its sizes
IMG_SIZE = 64
MODEL_KWARGS = dict(
    img_size=IMG_SIZE,
    patch_size=4,  # 16 x 16 token grid
    window_size=4,  # M = 4: 16 windows in stage 0, shift 2 in blocks 1 of each stage
    embed_dim=32,
    depths=(2, 2, 2),  # stage grids 16, 8, 4; the last stage is one window (no shift needed)
    num_heads=(2, 4, 8),  # head dim 16 everywhere
    mlp_ratio=2.0,  # half the paper's 4: a third less compute per step on a CPU
    num_classes=len(shapes.CLASSES),
)
# What timm's transforms need to feed the model: stored as the checkpoint's pretrained_cfg_overlay, so
# that models.capture.vision resolves the same data config as for any pretrained timm model.
PRETRAINED_CFG_OVERLAY = dict(
    input_size=(3, IMG_SIZE, IMG_SIZE),
    crop_pct=1.0,  # a photo is resized (shorter side to 64) and centre-cropped, nothing more
    interpolation="bicubic",
    mean=(0.5, 0.5, 0.5),
    std=(0.25, 0.25, 0.25),
    num_classes=len(shapes.CLASSES),
)
EVAL_SEED = 20_211_001  # evaluation images; training seeds are 1 + step, far below it
EVAL_IMAGES = 1000


def build(**overrides) -> torch.nn.Module:
    """The demo architecture, randomly initialised (timm.create_model, no download)."""
    import timm

    kwargs = dict(MODEL_KWARGS, **overrides)
    return timm.create_model(ARCHITECTURE, pretrained=False, **kwargs)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(n, H, W, 3) uint8 -> (n, 3, H, W) float32, normalised with the mean and std of the data config."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(PRETRAINED_CFG_OVERLAY["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(PRETRAINED_CFG_OVERLAY["std"]).view(1, 3, 1, 1)
    return (x - mean) / std


def paths(weights_dir: pathlib.Path = WEIGHTS_DIR) -> tuple[pathlib.Path, pathlib.Path]:
    return weights_dir / f"{NAME}.safetensors", weights_dir / f"{NAME}.json"


def load_demo(weights_dir: pathlib.Path = WEIGHTS_DIR) -> tuple[torch.nn.Module, dict]:
    """The bundled checkpoint as a timm model in eval mode, and its JSON metadata."""
    import timm
    from safetensors.torch import load_file

    weights, meta_path = paths(weights_dir)
    meta = json.loads(meta_path.read_text())
    model = timm.create_model(meta["arch"], pretrained=False, **meta["kwargs"])  # exactly what was saved
    model.load_state_dict(load_file(str(weights)))
    return model.eval(), meta


@torch.inference_mode()
def evaluate(model: torch.nn.Module, n: int = EVAL_IMAGES, seed: int = EVAL_SEED, device="cpu") -> float:
    """Accuracy on n fresh generated images (a seed no training step uses)."""
    model.eval()
    images, labels, _ = shapes.make_dataset(n, IMG_SIZE, seed)
    correct = 0
    for i in range(0, n, 100):
        x = to_tensor(images[i : i + 100]).to(device)
        correct += int((model(x).argmax(-1).cpu() == torch.from_numpy(labels[i : i + 100])).sum())
    return correct / n


def train(
    steps: int,
    batch: int,
    lr: float,
    device: torch.device,
    seed: int = 0,
    log_every: int = 50,
) -> torch.nn.Module:
    """AdamW with warm-up and cosine decay on fresh images every step; horizontal flips (the classes are
    mirror-symmetric)."""
    torch.manual_seed(seed)
    model = build(drop_path_rate=0.05).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "relative_position_bias_table" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim > 1 and "relative_position_bias_table" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    warmup = max(1, steps // 20)

    def schedule(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    gen = torch.Generator().manual_seed(seed)
    start, running = time.time(), []
    model.train()
    for step in range(steps):
        images, labels, _ = shapes.make_dataset(batch, IMG_SIZE, seed=1 + step + seed * 1_000_000)
        x, y = to_tensor(images), torch.from_numpy(labels)
        flip = torch.rand(batch, generator=gen) < 0.5
        x[flip] = x[flip].flip(-1)
        loss = F.cross_entropy(model(x.to(device)), y.to(device), label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == steps:
            print(f"step {step + 1}/{steps}  loss {np.mean(running):.3f}  {time.time() - start:.0f}s", flush=True)
            running = []
    return model.eval()


def save(model: torch.nn.Module, accuracy: float, seconds: float, args, weights_dir: pathlib.Path = WEIGHTS_DIR):
    from safetensors.torch import save_file

    weights, meta_path = paths(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights), metadata={"format": "pt", "architecture": ARCHITECTURE})
    meta = {  # the format models.capture.vision.load reads for every bundled demo (see models/demo/train_vit.py)
        "name": NAME,
        "arch": ARCHITECTURE,
        "kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in MODEL_KWARGS.items()},
        "pretrained_cfg_overlay": {
            k: list(v) if isinstance(v, tuple) else v for k, v in PRETRAINED_CFG_OVERLAY.items()
        },
        "class_names": list(shapes.CLASSES),
        "task": "classify the shape in a synthetic image (models/demo/shapes.py); colour, size and position are random",
        "training": {
            "steps": args.steps,
            "batch": args.batch,
            "lr": args.lr,
            "seed": args.seed,
            "seconds": round(seconds, 1),
            "threads": args.threads,
            "optimizer": "AdamW, warm-up then cosine schedule, label smoothing 0.1, horizontal flips",
        },
        "metrics": {"accuracy": accuracy, "eval_images": EVAL_IMAGES, "eval_seed": EVAL_SEED},
        "command": "python -m models.demo.train swin",
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.demo.train_swin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluate", action="store_true", help="evaluate the bundled checkpoint instead of training")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: CI has two cores)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    parser.add_argument("--out", type=pathlib.Path, default=WEIGHTS_DIR, help="folder for the checkpoint")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = devices.resolve(args.device)

    if args.evaluate:
        weights, _ = paths(args.out)
        if not weights.is_file():
            print(f"no checkpoint at {weights}: run `python -m models.demo.train_swin` first", file=sys.stderr)
            return 1
        model, meta = load_demo(args.out)
        print(f"{NAME}: {ARCHITECTURE} {meta['kwargs']}, on {devices.describe(device)}")
        print(f"accuracy: {evaluate(model.to(device), device=device):.4f}")
        return 0

    print(f"training {NAME} on {devices.describe(device)} for {args.steps} steps of {args.batch}", flush=True)
    start = time.time()
    model = train(args.steps, args.batch, args.lr, device, seed=args.seed)
    seconds = time.time() - start
    accuracy = evaluate(model, device=device)
    save(model.cpu(), accuracy, seconds, args, args.out)
    print(f"wrote {paths(args.out)[0]} ({seconds:.0f}s of training)")
    print(f"accuracy: {accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
