"""Glossary: the field's terms in English and Chinese, each defined and linked to the page that draws it."""
import streamlit as st

from ui.glossary import TERMS
from ui.i18n import _

st.title(_("Glossary"))
st.markdown(_(
    "The words this app uses, in English and in Chinese, as the papers define them. The same Chinese term is "
    "used everywhere in the app. Layers, blocks, stages, heads and steps count from 1; token positions and "
    "patch rows and columns are indices from 0."
))
for term in TERMS:
    with st.container(border=True):
        left, right = st.columns([1, 3])
        with left:
            st.markdown(f"**{term.zh}**  \n{term.en}")
        with right:
            st.markdown(_(term.definition))
            st.page_link(term.page, label=_("Where it is drawn"), icon=":material/arrow_forward:")
