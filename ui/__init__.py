"""Streamlit widget groups shared by the pages (`*_ui` functions return values)."""
