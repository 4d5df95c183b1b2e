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
        if any(pattern.search(i) for i in ids) and not all(term.required in s for s in strings if s):
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


def test_every_code_models_use_has_a_template_with_its_fields():
    import pathlib
    import string

    from ui.messages import templates

    root = pathlib.Path(__file__).resolve().parent.parent / "models"
    call = re.compile(r"(?:Notice|Error|Input|Checkpoint|Refused|Unsupported)\(\s*\"([a-z_]+\.[a-z0-9_]+)\"([^)]*)\)")
    table = templates()
    missing = []
    for path in root.rglob("*.py"):
        if path.name == "messages.py":  # its docstring shows the call style
            continue
        for code, args in call.findall(path.read_text()):
            if code not in table:
                missing.append((path.name, code))
                continue
            given = set(re.findall(r"(\w+)\s*=", args))
            fields = {f for _, f, _, _ in string.Formatter().parse(table[code]) if f}
            if "**" not in args:
                assert fields <= given, (code, fields - given)
    assert not missing, missing
