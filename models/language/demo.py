"""Our own demo encoder–decoder ("demo:reverse", "demo:dates", "demo:translate", models/demo/text.py) as a
LanguageModel: `run` wraps its TextTrace into a dense-backed LanguageTrace."""
from __future__ import annotations

import torch

from models.language.model import LanguageModel
from models.messages import Notice

PREFIX = "demo:"


def is_demo(model: LanguageModel) -> bool:
    from models.demo.text import TextModel

    return isinstance(model.module, TextModel)


def load_demo(task: str, device: str | torch.device = "cpu") -> LanguageModel:
    """The bundled checkpoint of `task` ("reverse", "dates", "translate"; a "demo:" prefix is accepted)."""
    from models.demo import text

    task = task[len(PREFIX):] if task.startswith(PREFIX) else task
    tm = text.load(task, device=device)
    cfg = tm.transformer.cfg
    layers = {"encoder": cfg.n_encoder_layers, "decoder": cfg.n_decoder_layers, "cross": cfg.n_decoder_layers}
    return LanguageModel(
        name=PREFIX + task,
        family="encoder-decoder",
        head="seq2seq-lm",
        module=tm,
        tokenizer=None,
        source=Notice("lm.source_demo", task=task),
        weights_source=tm.weights_source,
        num_params=sum(p.numel() for p in tm.transformer.parameters()),
        num_layers=layers,
        num_heads=cfg.n_heads,
        num_kv_heads=cfg.n_heads,
        head_dim=cfg.d_k,
        max_positions=cfg.max_len,
        device=tm.device,
        details={"model_type": "demo", "architecture": "Transformer", "task": task},
    )
