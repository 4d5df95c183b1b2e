"""Attention Atlas: the entry point. Page config, the router over pages/, and the sidebar."""
# Imported here, before any session thread starts: plotly.express looks pandas up in sys.modules and
# may otherwise find it half-imported by another session thread ("partially initialized module 'pandas'").
import pandas  # noqa: F401
import plotly.graph_objects  # noqa: F401
import streamlit as st
import torch  # noqa: F401

from ui.common import device_ui

# a local favicon: material ones are fetched from a font CDN
st.set_page_config(page_title="Attention Atlas", page_icon="assets/icon.png", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/encoder_decoder.py", title="Encoder–decoder", icon=":material/translate:"),
    st.Page("pages/vit.py", title="Vision Transformer", icon=":material/image:"),
    st.Page("pages/swin.py", title="Swin Transformer", icon=":material/grid_view:"),
    st.Page("pages/positional.py", title="Positional encodings", icon=":material/waves:"),
    st.Page("pages/step_by_step.py", title="One head, step by step", icon=":material/calculate:"),
]

page = st.navigation(PAGES)
st.sidebar.title("Attention Atlas")
device_ui()
page.run()
