"""Templates of the codes models/language/capture.py, run.py and demo.py raise or return."""
from ui.i18n import N_

TEMPLATES = {
    "lm.empty_input": N_("The input is empty: type some text."),
    "lm.input_cut": N_(
        "The input is {n} tokens long; the model reads at most {limit} tokens, so only the first {limit} were used."
    ),
    "lm.generation_cut": N_(
        "The model reads at most {limit} tokens in all, so it generated only {n} new tokens."
    ),
    "lm.no_lm_head": N_(
        "The checkpoint of {model} has no language-model head, so no predictions are shown (a random head's "
        "guesses would mean nothing); its attention is the model's own."
    ),
    "lm.source_demo": N_("Our own demo encoder–decoder, task '{task}', trained here."),
    "lm.refused_keyword": N_(
        "This model's attention uses {keyword}, which changes the softmax in a way the capture does not "
        "reproduce, so its attention cannot be shown faithfully."
    ),
    "lm.refused_not_routed": N_(
        "{model} does not compute its attention through transformers' attention functions, so the capture "
        "recorded nothing and its attention cannot be shown faithfully."
    ),
    "lm.refused_mismatch": N_(
        "{model}, {kind} attention, layer {layer}: the weights recomputed from what was recorded do not give the "
        "model's own output (difference {error}). This model's attention does something the capture does not "
        "reproduce, so it is not shown."
    ),
    "lm.refused_missing_layers": N_(
        "{model}, {kind} attention: layer {layer} recorded nothing. This model's attention does something the "
        "capture does not reproduce, so it is not shown."
    ),
    "lm.padding_limited": N_("Padding is limited to the model's longest input, {limit} tokens."),
}
