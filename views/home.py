"""Home: what Attention Atlas is and what each page shows."""
import streamlit as st

from ui import present
from ui.i18n import _

st.title("Attention Atlas")
st.markdown(_(
    "See what the attention heads of Transformers look at, on your own text and your own images, with real "
    "trained weights and the numbers the models actually computed."
))

ROWS = [
    ("views/encoder_decoder.py", _("Encoder–decoder"), _(
        "The Transformer of *Attention Is All You Need* (Vaswani et al., 2017), written from scratch and trained "
        "on small demo tasks: encoder self-attention, decoder masked self-attention and cross-attention for every "
        "layer and head, the padding and causal masks, and decoding step by step.")),
    ("views/language.py", _("Language models"), _(
        "Real language models from Hugging Face transformers — BERT, GPT-2, T5, BART, Marian, Llama, Qwen… — on "
        "your text, up to thousands of tokens: every layer and head, the masks, the head view, masked-word and "
        "next-token predictions, and generation step by step.")),
    ("views/vit.py", _("Vision Transformer"), _(
        "A ViT (Dosovitskiy et al., 2021) from timm on your image: the patch grid, every head's attention over the "
        "image, attention rollout, full token matrices, top-5 predictions and the paper's mean attention "
        "distance; what the prediction rests on (rollout, attention flow, gradient-weighted relevance, each "
        "scored by removing patches) and heads switched off.")),
    ("views/swin.py", _("Swin Transformer"), _(
        "Swin (Liu et al., 2021): regular and shifted windows drawn over the image, the cyclic shift and its "
        "masks, per-window attention, relative position bias and the stages.")),
    ("views/corpus.py", _("Heads across a corpus"), _(
        "What each head does over hundreds of sentences or images (Clark et al., 2019): entropy, distance, "
        "attention to the previous or next token, to [CLS], [SEP] or a register, for every layer and head; heads "
        "mapped by how alike they attend; the inputs where a head is most and least itself. Large corpora run as "
        "a batch job, here or on a Ray cluster.")),
    ("views/positional.py", _("Positional encodings"), _(
        "The sinusoidal encoding and its distance-only similarity; a ViT's learned position embeddings; Swin's "
        "relative position bias.")),
    ("views/step_by_step.py", _("One head, step by step"), _(
        "One attention head's arithmetic, from X to Q, K, V, softmax and output, with the model's real numbers, "
        "checked against the model's own output.")),
    ("views/glossary.py", _("Glossary"), _(
        "The field's terms in English and Chinese, each defined in a sentence or two and linked to where it is "
        "drawn.")),
]
for path, title, what in ROWS:
    with st.container(border=True):
        st.page_link(path, label=title, icon=":material/arrow_forward:")
        st.markdown(what)

present.explain(_(
    "Pick a page in the sidebar. The device the models run on is shown there too. Layers, blocks, stages, heads "
    "and decoding steps count from 1, as the papers do; token positions and patch rows and columns are indices "
    "from 0."
))
st.subheader(_("Reading attention responsibly"))
present.explain("\n".join("- " + item for item in (
    _("An attention map shows **where** a head mixes information from, not **why** the model decided what it "
      "did."),
    _("A weight is only part of what a token passes on: the head adds weight × value vector, and attention "
      "weights ignore the value vectors' norms (Kobayashi et al., 2020, *Attention is Not Only a Weight*): a "
      "large weight on a token with a small value vector moves little. They also leave out W_O, which mixes the "
      "heads, the residual stream and the MLPs."),
    _("Attention rollout (Abnar & Zuidema, 2020) multiplies the layers' maps after adding the identity for the "
      "residual path, i.e. it *assumes* that the residual and the attention contribute equally (0.5 · A + "
      "0.5 · I); that split is an assumption, not something the model computed."),
    _("Heads of a model with random weights attend arbitrarily: every page says which weights are in use."),
)), label=_("Reading attention responsibly"))
