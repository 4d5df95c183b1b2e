"""Translations: the catalog and the code agree, every Chinese entry is there, and the terms are consistent."""
import re

import pytest

from scripts import i18n as catalog_tool
from ui import i18n
from ui.glossary import TERMS


def test_catalog_and_code_agree_and_every_chinese_entry_is_there():
    problems = catalog_tool.check()
    assert problems == {"missing": [], "obsolete": [], "untranslated": []}


def _entries():
    return [(m.id, m.string) for path in catalog_tool.FOLDER.glob("*.po") for m in catalog_tool.read(path) if m.id]


@pytest.mark.parametrize("term", [t for t in TERMS if t.pattern], ids=lambda t: t.en)
def test_a_term_is_translated_the_same_way_everywhere(term):
    pattern = re.compile(term.pattern, re.IGNORECASE)
    wrong = []
    for msgid, msgstr in _entries():
        ids = msgid if isinstance(msgid, tuple) else (msgid,)
        strings = msgstr if isinstance(msgstr, tuple) else (msgstr,)
        words = [re.sub(r"\{[^}]*\}|`[^`]*`|%\{[^}]*\}", " ", i) for i in ids]  # fields and code are not words
        if any(pattern.search(w) for w in words) and not all(term.required in s for s in strings if s):
            wrong.append((ids[0][:80], strings[0][:80]))
    assert not wrong, f"{term.en} should be {term.required} in: {wrong[:10]}"


def test_gettext_runs_through_babel_catalog():
    with i18n.use("zh"):
        assert i18n._("Glossary") == "术语表"
        assert i18n._("a string nobody translated") == "a string nobody translated"
    with i18n.use("en"):
        assert i18n._("Glossary") == "Glossary"


def test_browser_language():
    assert i18n.browser_lang("zh-CN") == "zh"
    assert i18n.browser_lang("zh-Hant-TW") == "zh"
    assert i18n.browser_lang("en-GB") == "en"
    assert i18n.browser_lang(None) == "en"


def _coded_calls(root):
    """(file, code, keyword names or None when **kwargs) of every call in models/ whose first argument is a code
    literal like "area.name" made by a class (Notice(...), raise SomeError(...)), read with ast."""
    import ast

    out = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            first = node.args[0]
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if callee[:1].isupper() and literal and re.fullmatch(r"[a-z_]+\.[a-z0-9_]+", first.value):
                names = None if any(k.arg is None for k in node.keywords) else {k.arg for k in node.keywords}
                out.append((path.name, first.value, names))
    return out


def test_every_code_models_use_has_a_template_with_its_fields():
    import pathlib
    import string

    from ui.messages import templates

    root = pathlib.Path(__file__).resolve().parent.parent / "models"
    table = templates()
    calls = _coded_calls(root)
    assert len(calls) > 30  # the reader-facing messages of models/ are codes
    missing = [(f, c) for f, c, _ in calls if c not in table]
    assert not missing, missing
    for file, code, names in calls:
        fields = {f for _, f, _, _ in string.Formatter().parse(table[code]) if f}
        if names is not None:
            assert fields <= names, (file, code, fields - names)
