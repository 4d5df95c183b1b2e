"""Placeholder: this page is being built."""
import streamlit as st

st.title("encoder_decoder")
st.info("This page is being built.")
