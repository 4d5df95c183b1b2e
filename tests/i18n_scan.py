"""What a page shows, as text, for the language checks: every label, help, caption, notice and figure word.

`english_words(at)` lists the English words left in what an AppTest run shows (for `?lang=zh`): ASCII words of
two or more letters, outside names (ALLOWED, model names with digits or underscores, file names), outside user
input and model data (text fields' values, code blocks, tick labels, hover data). A page test adds the names it
shows as `extra` (e.g. the demo task's English example outputs), never a sentence.
"""
from __future__ import annotations

import json
import re

# Names a Chinese page keeps in Latin letters: models, libraries, papers' authors, symbols, units, formats.
ALLOWED = {
    "cls", "sep", "dist", "reg", "eos", "bos", "pad", "unk", "mask",  # special tokens
    "vit", "swin", "swinv", "deit", "beit", "eva", "dino", "dinov", "timm", "transformer", "transformers",
    "imagenet", "cuda", "cpu", "gpu", "mps", "png", "npz", "json", "csv", "url", "mlp", "softmax", "layernorm",
    "apple", "relu", "gelu", "fx", "sdpa", "fp", "float", "md", "kb", "mb", "gb", "px", "ms", "max", "min", "argmax",
    "log", "exp", "sin", "cos", "id", "ids", "qk", "qkv", "attentionextract", "pytorch", "torch", "streamlit",
    "plotly", "safetensors", "hugging", "face", "huggingface", "hub", "github", "zerin",
    "vaswani", "dosovitskiy", "liu", "abnar", "zuidema", "chefer", "clark", "darcet", "kobayashi", "et", "al",
    "attention", "is", "all", "you", "need",  # the paper's title, kept in English as Chinese texts do
    "an", "image", "worth", "words", "hierarchical", "vision", "using", "shifted", "windows",  # paper titles
    "attention", "atlas",  # the app's name
    "wq", "wk", "wv", "wo", "xw", "dk", "dv", "dmodel", "sqrt", "pos", "pe", "rgb", "top", "tiny", "small",
    "base", "large", "demo", "patch", "cr",
    # the sample photos' credits (people, agencies, licences) and image formats
    "nasa", "spacex", "dscovr", "walt", "van", "der", "rachel", "michetti", "pikolo", "espresso", "bar", "cc", "st",
    "fan", "eileen", "collins", "chelsea", "jpeg", "webp", "bmp", "gif", "tiff", "numpy", "touvron", "jacob",
    "gildenblat", "scipy", "explain", "ray", "parquet",  # SciPy; vit-explain; Ray; the Parquet format
    "swintransformer", "swintransformerv", "swintransformervcr",  # timm class names (SwinTransformerV2Cr)
    "language", "english",  # the language picker is bilingual on purpose: "Language / 语言", English / 中文
}
_TAG = re.compile(r"<[^>]{0,40}>")
_PLOTLY = re.compile(r"%\{[^}]*\}|%[-+ #0]*\d*(\.\d+)?[a-z%]")
_NAME = re.compile(r"[\w.\-/]*[_\d/][\w.\-/]*|\b\w+\.(png|jpg|jpeg|json|npz|safetensors|py|md|txt)\b")
_WORD = re.compile(r"[A-Za-z]{2,}")
_LATEX = re.compile(r"\$[^$]*\$|\\[a-zA-Z]+")
_TITLE = re.compile(r"\*[A-Z][A-Za-z ,:'\-]+\*")  # a paper's title in italics: *Attention is Not Only a Weight*
# a term's English in full-width brackets: 注意力展开（rollout）
_GLOSS = re.compile(r"（[A-Za-z][A-Za-z \-]*(，[^）]*)?）")
SKIP_FIELDS = {"id", "form_id", "value", "default", "spec", "key", "url", "type", "icon", "language", "data",
               "element_hash", "page_script_hash", "script_hash", "url_path", "page", "arrow_data", "styler",
               "format", "fragment_id", "theme", "selection_mode", "label_visibility", "file_type", "accept_file",
               "width_config", "height_config", "raw_value", "query_params", "tab_id", "uuid", "widget_id",
               "page_name", "main_script_hash", "page_link_url", "src", "frame_id"}
# widgets whose options are model data: a classifier's own class names (ImageNet's are English)
MODEL_DATA_WIDGETS = {"vit_x_class", "swin_x_class"}
SKIP_ELEMENTS = {"code", "text_area", "text_input", "json", "dataframe", "arrow_data_frame", "exception", "html"}


def _strings(message, out: list[str]) -> None:
    for field, value in message.ListFields():
        if field.name in SKIP_FIELDS:
            continue
        if isinstance(value, str):
            out.append(value)
        elif hasattr(value, "ListFields"):
            _strings(value, out)
        elif isinstance(value, (list, tuple)) or type(value).__name__.startswith("Repeated"):
            for item in value:
                if isinstance(item, str):
                    out.append(item)
                elif hasattr(item, "ListFields"):
                    _strings(item, out)


def _figure_strings(spec: str, out: list[str]) -> None:
    fig = json.loads(spec)
    layout = fig.get("layout", {})

    def title(t):
        if isinstance(t, dict):
            t = t.get("text")
        if isinstance(t, str):
            out.append(t)

    title(layout.get("title"))
    for name, value in layout.items():
        if isinstance(value, dict) and (name.startswith("xaxis") or name.startswith("yaxis")):
            title(value.get("title"))
        if name == "coloraxis" and isinstance(value, dict):
            title((value.get("colorbar") or {}).get("title"))
    for a in layout.get("annotations") or []:
        if isinstance(a, dict) and a.get("name") != "data":
            out.append(str(a.get("text", "")))
    for trace in fig.get("data", []):
        if isinstance(trace.get("name"), str) and trace.get("showlegend", True) is not False:
            out.append(trace["name"])
        if isinstance(trace.get("hovertemplate"), str):
            out.append(trace["hovertemplate"])
        title((trace.get("colorbar") or {}).get("title"))


def shown_text(at) -> list[tuple[str, str]]:
    """(element type, text) for everything the run shows, user input and model data left out."""
    out: list[tuple[str, str]] = []

    def walk(node):
        kind = getattr(node, "type", None)
        proto = getattr(node, "proto", None)
        if kind == "plotly_chart" and proto is not None:
            texts: list[str] = []
            _figure_strings(proto.spec, texts)
            out.extend((kind, t) for t in texts)
        elif getattr(node, "key", None) in MODEL_DATA_WIDGETS and proto is not None:
            out.append((kind, getattr(proto, "label", "")))  # its label only: the options are the model's
        elif kind not in SKIP_ELEMENTS and proto is not None and hasattr(proto, "ListFields"):
            texts = []
            _strings(proto, texts)
            out.extend((kind, t) for t in texts)
        children = getattr(node, "children", None)
        if children:
            for child in children.values() if isinstance(children, dict) else children:
                walk(child)

    walk(at._tree)
    return out


def english_words(at, extra: set[str] = frozenset()) -> list[tuple[str, str, str]]:
    """(element type, word, text) of every English word left in what the run shows."""
    allowed = ALLOWED | {w.lower() for w in extra}
    found = []
    for kind, text in shown_text(at):
        clean = _NAME.sub(" ", _LATEX.sub(" ", _PLOTLY.sub(" ", _TAG.sub(" ", _GLOSS.sub(" ", _TITLE.sub(" ", text))))))
        clean = re.sub(r"`[^`]*`", " ", clean)  # inline code: names, tokens, formulas
        for word in _WORD.findall(clean):
            if word.lower() not in allowed:
                found.append((kind, word, text[:120]))
    return found
