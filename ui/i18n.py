"""Two languages, the gettext way: `_("English text")` is the text in the reader's language.

The messages live in gettext catalogs, `locale/<locale>/LC_MESSAGES/messages.po`, which Babel reads
(`babel.messages.pofile.read_po`) and compiles in memory into a standard `gettext.GNUTranslations` once per
process, so there is no compiled .mo file to keep in step with the .po. `pybabel extract` finds every string
marked with `_`, `N_` or `ngettext` (babel.cfg; `python -m scripts.i18n` updates the catalog), and
tests/test_i18n.py fails when the code and the catalog disagree or a Chinese entry is missing or fuzzy.

The language of a session is chosen once per run (`ui.i18n.choose`, called by app.py): the link's `?lang=`,
else the sidebar's choice, else the browser's preferred language on a first visit, else English. Code that
runs outside Streamlit (tests, the benchmark) sets it with `use(lang)`.

Rules for strings (docs/ARCHITECTURE.md, "Translations"):
- a message with values is one template with named fields: `_("Layer {layer}, head {head}").format(...)`,
  never an f-string (a translator must see the whole sentence, and may reorder the fields);
- strings defined at import time (tab names, option labels) are marked with `N_` and translated where shown;
- models/ never words a message for the reader: they raise or return a code with parameters
  (models.messages), and ui.messages words it.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext
import io
import pathlib

LANGS = ("en", "zh")
NAMES = {"en": "English", "zh": "中文"}
LOCALES = {"zh": "zh_CN"}  # the catalog of each language that has one (English is the source language)
LOCALE_DIR = pathlib.Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
SESSION_KEY = "lang"
DEFAULT = "en"

_fallback: contextvars.ContextVar[str] = contextvars.ContextVar("atlas_lang", default=DEFAULT)


@functools.lru_cache(maxsize=None)
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of `lang` (read-only, built once per process), or NullTranslations for English."""
    locale = LOCALES.get(lang)
    if locale is None:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    catalog = None
    for po in sorted(folder.glob("*.po")):  # messages.po (and, while a change is being written, its parts)
        with po.open("rb") as f:
            part = read_po(f, locale=locale, domain=DOMAIN)
        if catalog is None:
            catalog = part
        else:
            for message in part:
                if message.id and message.string and not message.fuzzy:
                    if message.id in catalog:  # Babel's setitem would keep the older (perhaps empty) string
                        catalog.delete(message.id)
                    catalog[message.id] = message
    if catalog is None:
        return gettext.NullTranslations()
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def _session_lang() -> str | None:
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
    except ImportError:  # pragma: no cover - older Streamlit
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return None
    try:
        value = ctx.session_state[SESSION_KEY]
    except (KeyError, AttributeError):
        return None
    return value if value in LANGS else None


def lang() -> str:
    """The reader's language: the session's in a Streamlit run, else the one `use()` set (English by default)."""
    return _session_lang() or _fallback.get()


@contextlib.contextmanager
def use(language: str):
    """Words everything inside in `language` when no Streamlit session says otherwise (tests, the benchmark)."""
    if language not in LANGS:
        raise ValueError(f"unknown language {language!r}; known: {LANGS}")
    token = _fallback.set(language)
    try:
        yield
    finally:
        _fallback.reset(token)


def _(message: str) -> str:
    """`message` in the reader's language."""
    if not message:
        return message
    return translations(lang()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for `n`, in the reader's language (Chinese has one form)."""
    return translations(lang()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks `message` for the catalog without translating it now: a string made at import time, translated
    with `_()` where it is shown."""
    return message


def labels(names: dict[str, str]):
    """A format_func for options whose English words are in `names` (marked with N_): the word in the reader's
    language; any other option is shown as it is (a name)."""
    return lambda option: _(names[option]) if option in names else str(option)


def browser_lang(locale: str | None) -> str:
    """The app's language for a browser's preferred language ("zh-CN", "zh-Hans-TW", "en-GB"…)."""
    if locale and locale.strip().lower().startswith("zh"):
        return "zh"
    return DEFAULT
