"""Language models as the pages see them: Hugging Face transformers models and our own demo encoder–decoder,
behind one API (docs/ARCHITECTURE.md):

    from models import language
    model = language.load("gpt2")                 # Hub name, local folder, or "demo:reverse" for ours
    trace = language.run(model, "The cat sat on the mat", max_new_tokens=0)
    trace.kinds                                   # ("self",) | ("encoder", "decoder", "cross")
    trace.tokens(kind)                            # (query labels, key labels) for that kind
    trace.weights(kind, layer)                    # float32 (heads, queries, keys); layers count from 0 here
    trace.num_layers(kind), trace.num_heads

Files: model.py (the plain types), hub.py (load: names, sizes, the bundled MiniLM, the local cache),
capture.py (the registered attention function that records each layer's softmax inputs for one call),
trace.py (LanguageTrace: weights computed when asked), run.py (run: forward, generation, predictions),
tokens.py (readable token labels).
"""
from __future__ import annotations

from models.language.model import FAMILIES, HEADS, LanguageModel, Token

__all__ = ["FAMILIES", "HEADS", "LanguageModel", "Token", "load", "run", "LanguageTrace"]


# Bound eagerly: importing the submodules run.py and hub.py sets the package attributes `run` and `hub` to the
# modules, so a lazy lookup would hand out the module `run` instead of the function once anything imported it.
from models.language.hub import load  # noqa: E402
from models.language.run import run  # noqa: E402
from models.language.trace import LanguageTrace  # noqa: E402
