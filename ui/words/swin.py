"""Templates of the codes models/capture/swin.py raises or returns, and of its downloads' field descriptions."""
from ui.i18n import N_

TEMPLATES = {
    "swin.non_square_patches": N_("This Swin has non-square patches ({size}), which this page cannot draw."),
    "swin.non_square_windows": N_("This Swin has non-square windows ({size}), which this page cannot draw."),
    "swin.non_square_shifts": N_("This Swin has non-square window shifts ({size}), which this page cannot draw."),
    "swin.capture_failed": N_(
        "The attention of {module} could not be captured: {calls} softmax calls were seen where exactly one was "
        "expected (this timm version may no longer call attn.softmax)."
    ),
    "swin.unexpected_shape": N_("The attention of {module} has an unexpected shape, {shape}."),
    "swin.no_blocks": N_("No attention was captured: the model has no Swin blocks."),
    "swin.export_conventions": N_(
        "Stages, blocks and heads count from 1 in names; windows, tokens, rows and columns are indices from 0. "
        "Windows are numbered row by row on the rolled (cyclically shifted), padded token grid; tokens row by row "
        "inside a window."
    ),
    "swin.field_attention": N_(
        "<block>_attention: the softmax weights of every window and head, (windows, heads, M², M²); each query's "
        "row sums to 1."
    ),
    "swin.field_mask": N_(
        "<block>_mask: what a shifted block added to each window's logits, (windows, M², M²): 0 where query and key "
        "share a region of the rolled map, −100 where they do not."
    ),
    "swin.field_bias": N_(
        "<block>_bias: the relative position bias B each head adds to its logits in every window, (heads, M², M²)."
    ),
    "swin.field_bias_table": N_(
        "<block>_bias_table: each head's table B̂ of (2M − 1) × (2M − 1) entries, indexed by (Δrow + M − 1, "
        "Δcol + M − 1), the offset between query and key."
    ),
    "swin.field_relative_position_index": N_(
        "<block>_relative_position_index: for each query and key of a window, the entry of the flattened table "
        "that gives their bias, (M², M²)."
    ),
    "swin.field_logit_scale": N_(
        "<block>_logit_scale (Swin V2 only): each head's 1/τ, the scale of its cosine similarities, (heads,)."
    ),
    "swin.field_token_positions": N_(
        "<block>_token_positions: the (row, col) in the image's token grid of every token of every window, "
        "(windows, M², 2); −1 for padding."
    ),
}
