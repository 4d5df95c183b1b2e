"""The sidebar controls every page shares: language, presentation mode and the link to the view.

Called once per run by app.py, before the page: the language must be known before any text is written.
"""
from __future__ import annotations

import streamlit as st

from ui import i18n, link, present
from ui.i18n import _


def choose_language() -> str:
    """The session's language: the link's `?lang=` (written by sidebar_ui on every run), else the choice
    made in the sidebar, else, on a first visit, the browser's preferred language, else English."""
    state = st.session_state
    raw = link.incoming(i18n.SESSION_KEY)  # a link just opened: its language, before any text is written
    if raw is not None:
        link.bind(i18n.SESSION_KEY, i18n.SESSION_KEY, link.one_of(i18n.LANGS))
    if state.get(i18n.SESSION_KEY) not in i18n.LANGS:
        state[i18n.SESSION_KEY] = i18n.browser_lang(st.context.locale)
    return state.get(i18n.SESSION_KEY, i18n.DEFAULT)


def choose_present() -> bool:
    state = st.session_state
    link.bind("present", present.SESSION_KEY, link.one_of(("0", "1")), to_state=lambda v: v == "1")
    return bool(state.setdefault(present.SESSION_KEY, False))


LANG_BOX = "lang_box"  # the widgets' own keys: the choices live in plain session state (i18n.SESSION_KEY,
PRESENT_BOX = "present_box"  # present.SESSION_KEY), which a page switch or a run without the sidebar keeps


def _copy(src: str, dst: str) -> None:
    st.session_state[dst] = st.session_state[src]


def sidebar_ui() -> None:
    """Language, presentation mode, and the link; writes both settings into the URL."""
    state = st.session_state
    state[LANG_BOX] = i18n.lang()
    state[PRESENT_BOX] = present.on()
    st.sidebar.selectbox(
        "Language / 语言", i18n.LANGS, key=LANG_BOX, format_func=i18n.NAMES.get,
        on_change=_copy, args=(LANG_BOX, i18n.SESSION_KEY),
    )
    st.sidebar.toggle(
        _("Presentation mode"), key=PRESENT_BOX, on_change=_copy, args=(PRESENT_BOX, present.SESSION_KEY),
        help=_("For projecting in class: large text, one main figure per screen, explanations folded."),
    )
    # Written by hand, not bound: a bound selectbox would write its label (中文), and the link would read ?lang=中文.
    link.publish(lang=i18n.lang(), present=1 if present.on() else None)
    link.copy_link_ui()
