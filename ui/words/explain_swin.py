"""Templates of the codes models/capture/explain_swin.py raises: Swin relevance maps."""
from ui.i18n import N_

TEMPLATES = {
    "explain.not_swin": N_(
        "{name} is not a timm Swin Transformer whose window attention and its gradients can be kept "
        "(SwinTransformer and SwinTransformerV2 are; SwinTransformerV2Cr is not)."
    ),
}
