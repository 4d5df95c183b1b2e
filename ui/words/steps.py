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
    # language models (transformers): refusals, input errors and notes
    "lm_steps.not_transformers": N_(
        "{model} is not a Hugging Face transformers model; its attention is walked through with the demo tasks."
    ),
    "lm_steps.relative_bias": N_(
        "This model ({model}) adds a relative position bias to the attention scores before the softmax (as T5 "
        "does); this walk-through does not recompute that bias, so its steps would not match the model, and none "
        "are shown."
    ),
    "lm_steps.alibi": N_(
        "This model ({model}) adds ALiBi's linear distance penalties to the attention scores before the softmax; "
        "this walk-through does not recompute them, so its steps would not match the model, and none are shown."
    ),
    "lm_steps.encoder_decoder": N_(
        "This model ({model}) is an encoder–decoder; this walk-through recomputes the self-attention of "
        "encoder-only and decoder-only models, so none of its steps are shown."
    ),
    "lm_steps.unsupported": N_(
        "This walk-through does not know the attention arithmetic of this model ({model}), so it shows none of its "
        "steps rather than numbers the model did not compute. It recomputes these model types: {supported}."
    ),
    "lm_steps.dtype": N_(
        "This model runs in {dtype}; the step-by-step check needs float32 weights, so none of its steps are shown."
    ),
    "lm_steps.kind": N_("A language model's walk-through shows its self-attention, not {kind}."),
    "lm_steps.empty": N_("The tokenizer made no tokens of this text: type some text."),
    "lm_steps.too_long": N_(
        "This text is {tokens} tokens long; the walk-through draws every token against every token and takes at "
        "most {limit}. Shorten the text."
    ),
    "lm_steps.rotary": N_(
        "Before the scores, q and k are rotated by their position (rotary position embeddings, RoPE; Su et al. "
        "2021): each pair of dimensions turns by an angle proportional to the token's position, so q · k depends "
        "on how far apart the two tokens are. Q and K below are the rotated ones; the unrotated X W_Q + b_Q and "
        "X W_K + b_K are drawn beside them. Position enters here, not with the embeddings."
    ),
    "lm_steps.grouped": N_(
        "Grouped-query attention: {heads} query heads share {kv_heads} key/value heads, {group} query heads to "
        "each, so this head's W_K and W_V (and K, V) are those of its group."
    ),
    "lm_steps.sliding_window": N_(
        "This layer attends through a sliding window: each query sees itself and the {window} − 1 tokens before "
        "it, no earlier key (masked −∞ like the future ones)."
    ),
    "lm_steps.scaling": N_("This model scales Q Kᵀ by {scaling:.4g}, its own factor, not by 1/√d_k."),
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
