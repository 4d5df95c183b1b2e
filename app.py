"""Attention Atlas: the entry point. Page config, language, the router over views/, and the sidebar."""
# Imported here, before any session thread starts: plotly.express looks pandas up in sys.modules and
# may otherwise find it half-imported by another session thread ("partially initialized module 'pandas'").
import pandas  # noqa: F401
import plotly.graph_objects  # noqa: F401
import streamlit as st
import torch  # noqa: F401

from ui import present
from ui.common import device_ui
from ui.i18n import _
from ui.sidebar import choose_language, choose_present, sidebar_ui

# a local favicon: material ones are fetched from a font CDN
st.set_page_config(page_title="Attention Atlas", page_icon="assets/icon.png", layout="wide")
choose_language()  # before any text: every word below is in the session's language
choose_present()

PAGES = [
    st.Page("views/home.py", title=_("Home"), icon=":material/home:", default=True),
    st.Page("views/encoder_decoder.py", title=_("Encoder–decoder"), icon=":material/translate:"),
    st.Page("views/language.py", title=_("Language models"), icon=":material/chat:"),
    st.Page("views/vit.py", title=_("Vision Transformer"), icon=":material/image:"),
    st.Page("views/swin.py", title=_("Swin Transformer"), icon=":material/grid_view:"),
    st.Page("views/corpus.py", title=_("Heads across a corpus"), icon=":material/query_stats:"),
    st.Page("views/positional.py", title=_("Positional encodings"), icon=":material/waves:"),
    st.Page("views/step_by_step.py", title=_("One head, step by step"), icon=":material/calculate:"),
    st.Page("views/glossary.py", title=_("Glossary"), icon=":material/menu_book:"),
]

page = st.navigation(PAGES)
st.sidebar.title("Attention Atlas")
sidebar_ui()
device_ui()
present.apply_css()
page.run()
