"""Templates of the codes the corpus job (models/corpus) gives a bad input: the job lists them, it never stops."""
from ui.i18n import N_

TEMPLATES = {
    "corpus.empty_line": N_("An empty line: nothing to run."),
    "corpus.too_long": N_("{n} tokens, more than the {limit} this job takes for this model."),
    "corpus.no_attention": N_("{model} recorded no self-attention on this input."),
    "corpus.capture_count": N_("The capture found {maps} attention maps for {blocks} blocks."),
    "corpus.failed": N_("This input could not be run."),
}
