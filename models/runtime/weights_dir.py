"""Weights files opened by a path typed in the page: only inside the folder the operator named, never elsewhere.

The app is reached by strangers (a class, a public demo). A free path field would let any visitor make the
server open any file and learn from the answer whether it exists. So a typed path is accepted only when the
operator has set a weights folder, ATLAS_WEIGHTS_DIR (off by default: then the page shows no path field),
and only if the file it names, with every symlink and `..` resolved, is a .safetensors file inside that folder.
Every refusal is the same message, which says nothing about the server's file system (not whether the
path exists, is a folder, or lies outside). Uploads do not pass through here.

    folder = weights_dir()                      # None: the feature is off
    path = resolve_weights_path(folder, typed)  # a resolved pathlib.Path inside folder, or WeightsPathError
"""
from __future__ import annotations

import os
import pathlib
from typing import Mapping

from models.messages import CodedError

ENV = "ATLAS_WEIGHTS_DIR"
REFUSED = "weights.refused"  # the one code every refused path gets (ui/words/common.py words it)


class WeightsPathError(CodedError):
    """A typed path that is refused, always with the one code REFUSED: what it says is safe to show to anyone."""


def weights_dir(environ: Mapping[str, str] | None = None) -> pathlib.Path | None:
    """The operator's weights folder, resolved; None when ATLAS_WEIGHTS_DIR is unset, empty or not a folder."""
    raw = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not raw:
        return None
    try:
        folder = pathlib.Path(raw).expanduser().resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    return folder if folder.is_dir() else None


def resolve_weights_path(folder: pathlib.Path | None, typed: str) -> pathlib.Path:
    """The real path of the .safetensors file `typed` names inside `folder` (relative to it, or absolute).

    Symlinks and `..` are resolved first, then the result must lie inside the folder, be a regular file and end in
    .safetensors. Raises WeightsPathError with the one message REFUSED otherwise (also when `folder` is None)."""
    typed = (typed or "").strip()
    if folder is None or not typed or "\x00" in typed:
        raise WeightsPathError("weights.refused")
    try:
        root = pathlib.Path(folder).resolve(strict=True)
        candidate = pathlib.Path(typed)
        if candidate.is_absolute() and not typed.startswith(str(root) + os.sep):
            real = None  # an absolute path elsewhere is refused without being looked at
        else:
            real = (root / candidate).resolve(strict=True)  # follows every symlink and `..`
    except (OSError, RuntimeError, ValueError):  # absent, a symlink loop, a name too long, no permission
        real = None
    if real is None or real == root or not real.is_relative_to(root) or real.suffix.lower() != ".safetensors":
        raise WeightsPathError("weights.refused")
    try:
        if not real.is_file():
            raise WeightsPathError("weights.refused")
    except OSError:
        raise WeightsPathError("weights.refused") from None
    return real
