"""A link that opens a view: each page keeps what it shows in the URL's query parameters.

The widget's key is the parameter's name. Widgets whose value reads the same in both languages (numbers, typed
text) use Streamlit's own binding, `bind="query-params"`: changing the widget updates the address bar, and opening
a link sets the widget. Choices shown through translated labels must not be bound (Streamlit would write the label,
so a link would depend on the language): they go by internal name through `bind`/`publish` below. Layers, heads and
steps are written counting from 1; positions, patch rows and columns as indices from 0.

Streamlit drops a bound parameter whose value the widget cannot take without a word; `check` says so on the
page, before the widget is drawn:

    link.check("vit_layer", link.whole(1, n_layers))          # a notice for ?vit_layer=99
    st.select_slider(..., key="vit_layer", bind="query-params")

State that is not a widget's (a patch or window picked by a click on a chart) goes through `bind`/`publish`:
`bind` puts a link's value into session state when the link brings one this session has not shown yet, and
`publish` writes the value in use back. Uploaded images never go into a link: a page publishes `image=upload`,
and opening such a link says that the image has to be uploaded again. "Copy link to this view" in the sidebar
copies the address bar, which always holds the view on screen.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from html import escape
from typing import Any

import streamlit as st

from ui.i18n import _

PUBLISHED = "_link_published"  # session state: what this session last wrote to the URL, param -> str
NOTICES = "_link_notices"  # session state: the notices of the run under way
GLOBAL = ("lang", "present")  # the parameters every page keeps
MAX_TEXT = 2000  # characters of input text a link carries


class Invalid(ValueError):
    """A link's value that does not fit the page."""


def whole(lo: int, hi: int) -> Callable[[str], int]:
    """A parser of whole numbers in [lo, hi] (as the page counts them)."""

    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError as err:
            raise Invalid(raw) from err
        if not lo <= value <= hi:
            raise Invalid(raw)
        return value

    return parse


def one_of(options: Iterable[Any]) -> Callable[[str], Any]:
    """A parser that accepts exactly one of `options` (compared as strings)."""
    table = {str(o): o for o in options}

    def parse(raw: str) -> Any:
        if raw not in table:
            raise Invalid(raw)
        return table[raw]

    return parse


def text(limit: int = MAX_TEXT) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if len(raw) > limit:
            raise Invalid(raw[:40] + "…")
        return raw

    return parse


def check(param: str, parse: Callable[[str], Any]) -> Any:
    """Before a bound widget is drawn: the link's value of `param` parsed, or None when the link has none;
    a value that does not fit is reported on the page (Streamlit then drops it and the widget keeps its
    default)."""
    raw = st.query_params.get(param)
    if raw is None:
        return None
    try:
        return parse(raw)
    except (Invalid, ValueError, TypeError):
        notice(param, raw)
        return None


def check_once(param: str, parse: Callable[[str], Any], done_key: str) -> Any:
    """`check`, on the run that opens a link only: once session state holds `done_key` (the page sets it after
    its first run), the widgets hold what they show and there is nothing left to check."""
    if st.session_state.get(done_key):
        return None
    return check(param, parse)


def linked(param: str, options: Iterable[Any], parse: Callable[[str], Any] | None = None,
           to_state: Callable[[Any], Any] | None = None) -> None:
    """Before a widget whose options are shown in the reader's language (not bound: Streamlit would write the
    label into the URL): a link's new value of `param` (the widget's key) sets it, by internal name, so that a link
    opens the same view in either language; the page publishes the value in use after the widget. A value that
    does not fit gives a notice and the widget keeps its default (`bind`)."""
    bind(param, param, parse or one_of(options), to_state)


def _published() -> dict[str, str]:
    return st.session_state.setdefault(PUBLISHED, {})


def incoming(param: str) -> str | None:
    """The link's value of `param` when it is new to this session (a link just opened), else None."""
    raw = st.query_params.get(param)
    if raw is None or _published().get(param) == raw:
        return None
    return raw


def bind(param: str, key: str, parse: Callable[[str], Any], to_state: Callable[[Any], Any] | None = None) -> bool:
    """Before the widget `key` is drawn: puts the link's `param` into st.session_state[key] when the link brings
    a value this session has not shown yet. Returns True when it did. An invalid value leaves the widget as it
    is, says so on the page and is taken out of the link."""
    raw = incoming(param)
    if raw is None:
        return False
    try:
        value = parse(raw)
    except (Invalid, ValueError, TypeError):
        notice(param, raw)
        _published()[param] = raw  # said once; publish() writes the value in use
        return False
    st.session_state[key] = to_state(value) if to_state else value
    _published()[param] = raw
    return True


def notice(param: str, raw: str) -> None:
    """Says on the page that the link's `param` could not be used."""
    st.warning(
        _("The link's {param}={value} does not fit this page, so the default is shown instead.").format(
            param=param, value=str(raw)[:60]
        )
    )


def publish(**params: Any) -> None:
    """Writes this page's view into the URL (values as the page counts them; None leaves a parameter out)."""
    published = _published()
    for name, value in params.items():
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
            published.pop(name, None)
            continue
        raw = str(value)
        if name == "text":
            raw = raw[:MAX_TEXT]
        if st.query_params.get(name) != raw:
            st.query_params[name] = raw
        published[name] = raw


def restore_tab(key: str, labels: dict[str, str]) -> None:
    """Before lazy tabs keyed `key` (the URL parameter too): the tab a link names (?ed_tab=masks, by internal
    name) opens; a name the page does not have is said and the first tab opens. A tab label of the other language
    (the reader switched language) becomes this one's. labels: internal name -> label in the reader's language."""
    bind(key, key, one_of(labels), to_state=labels.get)
    if st.session_state.get(key) not in labels.values():
        name = st.query_params.get(key)
        if name in labels:
            st.session_state[key] = labels[name]
        else:
            st.session_state.pop(key, None)


def forget(*names: str) -> None:
    """Takes parameters that no longer apply (another model's window, say) out of the link."""
    publish(**{name: None for name in names})


COPY_BUTTON = """
<button class="atlas-copy-link" type="button" data-done="{done}" data-prompt="{prompt}"
style="padding:0.25rem 0.75rem;border-radius:0.5rem;border:1px solid rgba(49,51,63,0.2);background:white;
cursor:pointer;font:inherit">{label}</button>
<script>
for (const b of document.querySelectorAll("button.atlas-copy-link")) {{
  if (b.dataset.bound) continue;
  b.dataset.bound = "1";
  b.addEventListener("click", () => {{
    const url = window.location.href;
    const ask = () => window.prompt(b.dataset.prompt, url);
    if (navigator.clipboard && window.isSecureContext) {{
      navigator.clipboard.writeText(url).then(() => {{ b.textContent = b.dataset.done; }}, ask);
    }} else {{
      ask();
    }}
  }});
}}
</script>
"""


def copy_link_ui() -> None:
    """Sidebar: a button that copies the address bar, which always holds the view on screen."""
    with st.sidebar:
        st.html(
            COPY_BUTTON.format(
                label=escape(_("Copy link to this view")), done=escape(_("Link copied")),
                prompt=escape(_("Copy this link:")),
            ),
            unsafe_allow_javascript=True,
        )
