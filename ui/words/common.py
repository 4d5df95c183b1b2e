"""Templates of codes every area shares."""
from ui.i18n import N_

TEMPLATES = {
    "common.out_of_memory": N_(
        "The {device} device ran out of memory for this input, so it ran on the CPU instead (slower)."
    ),
}
TEMPLATES["weights.refused"] = N_(
    "No .safetensors file of that name in the server's weights folder. Give a file name relative to that folder, "
    "e.g. my_vit.safetensors or finetuned/vit.safetensors."
)
