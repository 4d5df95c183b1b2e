"""Templates of the codes models/capture/explain.py raises: relevance maps and the perturbation test."""
from ui.i18n import N_

TEMPLATES = {
    "explain.not_plain_vit": N_("{name} has no plain ViT attention blocks whose weights and gradients can be kept."),
    "explain.no_classifier": N_("{name} has no classifier head: there is no class score to explain."),
    "explain.bad_class": N_("There is no class {index}: the model has {classes} classes (indices from 0)."),
    "explain.bad_head": N_("There is no head {head} in layer {layer}."),
    "explain.capture_count": N_("The capture found {maps} attention maps for {blocks} blocks."),
}
