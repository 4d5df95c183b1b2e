"""Train or score a bundled demo checkpoint: `python -m models.demo.train <task> [--evaluate]`.

Tasks: reverse, dates, translate (the encoder–decoder page; models.demo.train_text), vit (models.demo.train_vit),
swin (models.demo.train_swin). Every run generates its own data from a fixed seed; `--evaluate` scores the
bundled checkpoint on 1,000 fresh held-out examples and prints `exact_match: <fraction>` last.
"""
from __future__ import annotations

import importlib
import sys

MODULES = {
    "reverse": "models.demo.train_text",
    "dates": "models.demo.train_text",
    "translate": "models.demo.train_text",
    "vit": "models.demo.train_vit",
    "swin": "models.demo.train_swin",
}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in MODULES:
        sys.exit(f"usage: python -m models.demo.train {{{','.join(MODULES)}}} [options]; "
                 "--help after the task for its options")
    # Imported lazily: the vision trainers need timm, the text ones do not.
    module = importlib.import_module(MODULES[argv[0]])
    raise SystemExit(module.main(argv if MODULES[argv[0]] == "models.demo.train_text" else argv[1:]))


if __name__ == "__main__":
    main()
