"""Home: what Attention Atlas is and what each page shows."""
import streamlit as st

st.title("Attention Atlas")
st.markdown(
    """
See what the attention heads of Transformers look at, on your own text and your own images,
with real trained weights and the numbers the models actually computed.

| Page | What it shows |
| --- | --- |
| **Encoder–decoder** | The Transformer of *Attention Is All You Need* (Vaswani et al., 2017), written from scratch and trained on small demo tasks: encoder self-attention, decoder masked self-attention and cross-attention for every layer and head, the padding and causal masks, and decoding step by step. |
| **Vision Transformer** | A ViT (Dosovitskiy et al., 2021) from timm on your image: the patch grid, every head's attention over the image, attention rollout, full token matrices, top-5 predictions and the paper's mean attention distance. |
| **Swin Transformer** | Swin (Liu et al., 2021): regular and shifted windows drawn over the image, the cyclic shift and its masks, per-window attention, relative position bias and the stages. |
| **Positional encodings** | The sinusoidal encoding and its distance-only similarity; a ViT's learned position embeddings; Swin's relative position bias. |
| **One head, step by step** | One attention head's arithmetic, from X to Q, K, V, softmax and output, with the model's real numbers, checked against the model's own output. |

Pick a page in the sidebar. The device the models run on is shown there too.
"""
)
