"""Train and evaluate the bundled demo ViT: a small timm VisionTransformer that classifies shapes.

    python -m models.demo.train_vit              # train (about 5 minutes on one CPU core), then evaluate
    python -m models.demo.train_vit --evaluate   # evaluate the bundled checkpoint;
                                                 # the last line is `accuracy: <fraction>`

The model is created with `timm.create_model("vit_tiny_patch16_224", img_size=64, patch_size=8, ...)`,
so the app runs it through the very code path of every other timm ViT. The data come from
models/demo/shapes.py, drawn fresh for every batch (the model never sees an image twice), so a high score
on 1,000 further fresh images means it learnt shapes, not examples. The class is the shape alone,
which is why its attention settles on the object: that is what the app shows offline.
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import time

import numpy as np
import torch
import torch.nn.functional as F

from models.demo import WEIGHTS_DIR, shapes

NAME = "vit_demo"
ARCH = "vit_tiny_patch16_224"  # a timm registry name; the kwargs below override its size
IMAGE_SIZE = 64
KWARGS = dict(
    img_size=IMAGE_SIZE,  # 64 px images
    patch_size=8,  # an 8 x 8 grid of patches: 64 patch tokens + CLS
    embed_dim=96,  # small enough for a CPU, 4 heads of d_k = 24
    depth=4,
    num_heads=4,
    mlp_ratio=2.0,
    num_classes=len(shapes.CLASSES),
)
MEAN = (0.5, 0.5, 0.5)  # timm's ViT normalisation: pixels to [-1, 1]
STD = (0.5, 0.5, 0.5)
PRETRAINED_CFG_OVERLAY = dict(
    input_size=(3, IMAGE_SIZE, IMAGE_SIZE),
    crop_pct=1.0,  # a photo is resized (shorter side to 64) and centre-cropped, nothing more
    interpolation="bicubic",
    mean=MEAN,
    std=STD,
    num_classes=len(shapes.CLASSES),
)
TRAIN_SEED = 0  # batches are drawn with seeds TRAIN_SEED * 1_000_003 + step
EVAL_SEED = 2026_0001  # evaluation images come from a seed no training batch uses


def create_model() -> torch.nn.Module:
    import timm

    return timm.create_model(ARCH, pretrained=False, **KWARGS)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(n, H, W, 3) uint8 → (n, 3, H, W) float32 normalised as timm's data config says."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def evaluate(model: torch.nn.Module, n: int = 1000, seed: int = EVAL_SEED, batch: int = 250) -> float:
    """Accuracy on `n` fresh images drawn with `seed`."""
    images, labels, _ = shapes.make_dataset(n, IMAGE_SIZE, seed)
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, n, batch):
            logits = model(to_tensor(images[i : i + batch]))
            correct += int((logits.argmax(-1) == torch.from_numpy(labels[i : i + batch])).sum())
    return correct / n


def train(steps: int, batch: int, lr: float, seed: int, log_every: int = 50) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(seed)
    model = create_model()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos_embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "pos_embed" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
    )
    start = time.time()
    model.train()
    running = None
    for step in range(steps):
        images, labels, _ = shapes.make_dataset(batch, IMAGE_SIZE, seed * 1_000_003 + step)
        logits = model(to_tensor(images))
        loss = F.cross_entropy(logits, torch.from_numpy(labels), label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        value = loss.item()
        running = value if running is None else 0.95 * running + 0.05 * value
        if (step + 1) % log_every == 0 or step + 1 == steps:
            print(f"step {step + 1}/{steps}  loss {running:.3f}  {time.time() - start:.0f}s", flush=True)
    return model, dict(steps=steps, batch=batch, lr=lr, seconds=round(time.time() - start, 1))


def save(model: torch.nn.Module, info: dict, out_dir: pathlib.Path) -> None:
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / f"{NAME}.safetensors"), metadata={"arch": ARCH})
    (out_dir / f"{NAME}.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def load_bundled(out_dir: pathlib.Path = WEIGHTS_DIR) -> torch.nn.Module:
    from safetensors.torch import load_file

    model = create_model()
    model.load_state_dict(load_file(str(out_dir / f"{NAME}.safetensors")))
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.demo.train_vit", description=__doc__.split("\n")[0])
    parser.add_argument("--evaluate", action="store_true", help="only evaluate the saved checkpoint")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the CI machine has 2 cores)")
    parser.add_argument("--out", type=pathlib.Path, default=WEIGHTS_DIR, help="folder for vit_demo.safetensors/.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.evaluate:
        model, run = train(args.steps, args.batch, args.lr, args.seed)
        accuracy = evaluate(model)
        info = dict(
            name=NAME,
            arch=ARCH,
            kwargs=KWARGS,
            pretrained_cfg_overlay=PRETRAINED_CFG_OVERLAY,
            class_names=shapes.CLASSES,
            task="classify the shape in a synthetic image (models/demo/shapes.py); colour and position are random",
            training=dict(run, seed=args.seed, threads=args.threads,
                          optimizer="AdamW, cosine schedule, label smoothing 0.05"),
            metrics=dict(accuracy=accuracy, eval_images=1000, eval_seed=EVAL_SEED),
            command="python -m models.demo.train vit",
        )
        save(model, info, args.out)
        print(f"saved {args.out / (NAME + '.safetensors')}")
    model = load_bundled(args.out)
    accuracy = evaluate(model)
    print(f"accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
