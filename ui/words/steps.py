"""Templates of the codes raised or returned by models/capture/step_by_step.py and models/analysis/positional.py."""
from ui.i18n import N_

TEMPLATES = {
    # refusals: the walk-through shows no numbers the model did not compute
    "steps.rotary": N_(
        "This model (timm {model}) rotates q and k with rotary position embeddings (RoPE, as EVA-02 does) before "
        "Q Kᵀ; this walk-through does not recompute that rotation, so its steps would not match the model, and none "
        "are shown."
    ),
    "steps.relative_bias": N_(
        "This model (timm {model}) adds a learned relative position bias to Q Kᵀ / √d_k before the softmax (as BEiT "
        "does); this walk-through does not recompute that bias, so its steps would not match the model, and none are "
        "shown."
    ),
    "steps.gated": N_(
        "This model (timm {model}) gates each head's output (gated attention), which this walk-through does not "
        "recompute."
    ),
    "steps.shared_relative_bias": N_(
        "This model (timm {model}) adds a shared relative position bias to Q Kᵀ / √d_k before the softmax, which "
        "this walk-through does not recompute."
    ),
    "steps.attention_mask": N_(
        "This model (timm {model}) passes an attention mask to its blocks, which this walk-through does not "
        "recompute."
    ),
    "steps.tolerance": N_(
        "Recomputing this head from the model's weights gives an output that differs from the model's own by "
        "{diff:.1e}, more than the tolerance of {tol:.1e} ({rel:.0e} × max(1, largest |model output|)): the model "
        "does something this walk-through does not redo, so its steps are not shown."
    ),
    "steps.not_vit": N_("{model} is not a timm VisionTransformer: it has no `blocks`."),
    "steps.not_standard_attention": N_(
        "This model's attention ({attention}) has no `{attribute}`; the step-by-step view needs timm's standard "
        "Attention (one fused qkv projection)."
    ),
    "steps.layer_scale_without_gamma": N_("This block's LayerScale ({module}) has no γ."),
    # notes: facts about a model worth saying beside its steps
    "steps.cross_memory": N_(
        "Queries come from the decoder; keys and values from the encoder's output (the memory)."
    ),
    "steps.qk_norm": N_("This model normalises Q and K per head ({norm}) before Q Kᵀ."),
    "steps.concat_norm": N_("This model normalises the concatenated heads ({norm}) before W_O."),
    "steps.qv_bias_only": N_("This model has biases on Q and V only (BEiT-style: K's bias is fixed at 0)."),
    "steps.layer_scale": N_(
        "This block has LayerScale (CaiT, Touvron et al. 2021; also in DINOv2): it adds γ ⊙ MSA(LN(z)) to the "
        "residual stream, with a learned per-dimension γ, not MSA(LN(z)) itself."
    ),
    # positional encodings
    "positional.no_pos_embed": N_(
        "This model ({model}) has no learned absolute position embeddings (pos_embed)."
    ),
    "positional.pos_embed_size": N_(
        "The model's pos_embed has {entries} entries, too few for its {rows} × {cols} patch grid."
    ),
    "positional.grid_size": N_("{entries} embeddings do not fill a {rows} × {cols} patch grid."),
    "positional.no_bias_tables": N_("This model ({model}) has no Swin relative position bias tables."),
}
