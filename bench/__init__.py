"""Attention Atlas performance benchmark: `python -m bench [--device cpu|cuda] [--quick]` prints one JSON object.

capture.py  capture_overhead: our attention capture ÷ the bare fused forward, beside timm's AttentionExtract
pages.py    rerender_ms and the bytes each page sends (AppTest on the real pages)
browser.py  first_figure_s: `streamlit run app.py` cold → first attention figure drawn in Chromium
memory.py   peak_rss_mb: a 1,370-token ViT through the ViT page, in a child process
"""
