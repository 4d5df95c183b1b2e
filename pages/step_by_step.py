"""Placeholder: this page is being built."""
import streamlit as st

st.title("step_by_step")
st.info("This page is being built.")
