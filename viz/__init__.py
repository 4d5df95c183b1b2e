"""Pure figure builders: arrays and labels in, plotly Figures out. No streamlit, no torch."""
