"""Words the codes that models/ raise or return (models.messages) in the reader's language."""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from ui import words
from ui.i18n import _, use

_TEMPLATES: dict[str, str] = {}


def templates() -> dict[str, str]:
    """Every code's English template (ui/words/*.py), loaded once."""
    if not _TEMPLATES:
        merged = {}
        for info in pkgutil.iter_modules(words.__path__):
            module = importlib.import_module(f"ui.words.{info.name}")
            for code, template in getattr(module, "TEMPLATES", {}).items():
                if code in merged and merged[code] != template:
                    raise ValueError(f"two templates for {code!r}")
                merged[code] = template
        _TEMPLATES.update(merged)
    return _TEMPLATES


def word(item: Any) -> str:
    """A Notice, a CodedError (anything with .code and .params) or a plain message, in the reader's language.
    An unknown code is shown as it is rather than hidden."""
    code = getattr(item, "code", None)
    if code is None:
        return _(str(item))
    template = templates().get(code)
    if template is None:
        return f"{code} {getattr(item, 'params', {})}"
    params = {k: _value(v) for k, v in getattr(item, "params", {}).items()}
    try:
        return _(template).format(**params)
    except (KeyError, IndexError, ValueError):
        return template.format_map(_Missing(params))


def english(code: str, params: dict) -> str | None:
    template = templates().get(code)
    if template is None:
        return None
    with use("en"):
        return template.format_map(_Missing({k: _value(v) for k, v in params.items()}))


def _value(v: Any) -> Any:
    if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        return ", ".join(v)
    return v


class _Missing(dict):
    def __missing__(self, key):
        return "{" + key + "}"
