"""The translation catalog: extract the app's strings, update locale/zh_CN/LC_MESSAGES/messages.po, check it.

    python -m scripts.i18n update   # extract (babel.cfg) and merge into messages.po, keeping every translation
    python -m scripts.i18n check    # what tests/test_i18n.py asserts: exit 1 when code and catalog disagree

This is `pybabel extract -F babel.cfg -k N_ -k ngettext:1,2` followed by `pybabel update --no-fuzzy-matching`,
done with Babel's API, so that translations written in parts (`*.po` beside messages.po, one per area while a
change is under way) are folded into the one catalog, and obsolete entries are dropped, not kept as `#~`.
"""
from __future__ import annotations

import pathlib
import sys

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = pathlib.Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
LOCALE = "zh_CN"
FOLDER = ROOT / "locale" / LOCALE / "LC_MESSAGES"
CATALOG = FOLDER / "messages.po"


def extract() -> Catalog:
    """Every message the code marks, as pybabel extract finds it."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    template = Catalog(project="Attention Atlas", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",),
        strip_comment_tags=True,
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def read(path: pathlib.Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=LOCALE)


def translations() -> dict:
    """msgid -> msgstr of every translated, non-fuzzy entry in messages.po and its parts (a part wins)."""
    out = {}
    for path in sorted(FOLDER.glob("*.po"), key=lambda p: p.name != "messages.po"):
        for m in read(path):
            if m.id and _filled(m.string) and not m.fuzzy:
                out[m.id] = m.string
    return out


def _filled(string) -> bool:
    return all(string) if isinstance(string, tuple) else bool(string)


def update(fold: bool = False) -> Catalog:
    """messages.po = the extracted messages, each with its translation where one exists."""
    template = extract()
    known = translations()
    catalog = Catalog(locale=LOCALE, project="Attention Atlas", fuzzy=False)
    catalog.language_team = "Attention Atlas"
    for m in template:
        if not m.id:
            continue
        string = known.get(m.id)
        if isinstance(m.id, tuple) and string is not None and not isinstance(string, tuple):
            string = (string,)
        catalog.add(m.id, string, m.locations, auto_comments=m.auto_comments, context=m.context)
    FOLDER.mkdir(parents=True, exist_ok=True)
    with CATALOG.open("wb") as f:
        write_po(f, catalog, width=120, sort_output=False, omit_header=False, include_previous=False)
    if fold:
        for path in FOLDER.glob("*.po"):
            if path.name != "messages.po":
                path.unlink()
    return catalog


def check() -> dict[str, list[str]]:
    """What is wrong between the code and the catalog: messages the catalog lacks, entries the code no longer
    has, and entries whose Chinese is missing or fuzzy."""
    template = extract()
    wanted = {m.id for m in template if m.id}
    have = {}
    for path in sorted(FOLDER.glob("*.po")):
        for m in read(path):
            if m.id:
                have.setdefault(m.id, []).append(m)
    missing = sorted(str(i) for i in wanted - set(have))
    obsolete = sorted(str(i) for i in set(have) - wanted)
    untranslated = sorted(
        str(i) for i in wanted & set(have)
        if not any(_filled(m.string) and not m.fuzzy for m in have[i])
    )
    return {"missing": missing, "obsolete": obsolete, "untranslated": untranslated}


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "update":
        catalog = update(fold="--fold" in argv)
        print(f"{CATALOG.relative_to(ROOT)}: {len(catalog)} messages")
        return 0
    problems = check()
    for name, items in problems.items():
        print(f"{name}: {len(items)}")
        for item in items[:50]:
            print("   ", item[:100].replace("\n", " "))
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
