"""Placeholder: this page is being built."""
import streamlit as st

st.title("vit")
st.info("This page is being built.")
