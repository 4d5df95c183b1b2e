"""Templates of the codes models/capture/explain_text.py raises: relevance and head ablation for text models."""
from ui.i18n import N_

TEMPLATES = {
    "explain_text.no_output": N_("The model wrote no output token: there is nothing to explain."),
    "explain_text.no_alignment": N_("The task {task} has no known alignment of output tokens to source tokens; "
                                    "alignment is measured on reverse and translate."),
    "explain_text.bad_head": N_("There is no head {head} in {kind} layer {layer}."),
    "explain_text.unsupported_family": N_("Relevance and head ablation here cover masked and causal language "
                                          "models; {model} is an encoder–decoder model."),
    "explain_text.no_lm_head": N_("{model} has no language-model head: there is no prediction to explain."),
    "explain_text.no_mask": N_("The text has no {mask} token: put one where the model should fill in a word."),
    "explain_text.bad_mask": N_("There is no mask number {index}: the text has {count} in all."),
    "explain_text.bad_target": N_("There is no token {index}: the vocabulary has {vocab} tokens (ids from 0)."),
    "explain_text.capture_count": N_("The capture found {maps} attention maps with gradients for {layers} layers."),
    "explain_text.no_projection": N_("{model}: no output projection receiving the heads' outputs was found in "
                                     "layer {layer}."),
}
