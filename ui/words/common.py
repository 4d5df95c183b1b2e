"""Templates of codes every area shares."""
from ui.i18n import N_

TEMPLATES = {
    "common.out_of_memory": N_(
        "The {device} device ran out of memory for this input, so it ran on the CPU instead (slower)."
    ),
}
