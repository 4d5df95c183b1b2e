"""Messages from models/ to the reader, as codes with parameters: models/ never words a sentence.

A model module returns `Notice("vision.resized", width=…, height=…)` in a result's notices, or raises an
exception that carries a code (`CodedError` or a subclass: `raise EmptyInput("text.empty_input")`). The app
words it in the reader's language (ui.messages.word), from the templates in ui/words/. tests/test_i18n.py checks
that every code used in models/ has a template, and that every template's fields are the parameters given.

Codes are "<area>.<name>"; parameters are plain values (numbers, strings, lists of strings).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Notice:
    """Something the reader should know about a result (not an error)."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def __init__(self, code: str, **params: Any):
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "params", dict(params))

    def __str__(self) -> str:  # logs and the command line; the app words it with ui.messages.word
        from_english = _english(self.code, self.params)
        return from_english if from_english is not None else f"{self.code} {self.params}"


class CodedError(ValueError):
    """An error the reader sees: a code and its parameters. Subclasses keep their own types (except clauses)."""

    def __init__(self, code: str, **params: Any):
        self.code = code
        self.params = dict(params)
        super().__init__(code)

    def __str__(self) -> str:
        from_english = _english(self.code, self.params)
        return from_english if from_english is not None else f"{self.code} {self.params}"


def _english(code: str, params: dict) -> str | None:
    """The English wording (for logs, the command line and tracebacks), from the same templates."""
    try:
        from ui.messages import english
    except ImportError:  # models/ used without ui/
        return None
    return english(code, params)
