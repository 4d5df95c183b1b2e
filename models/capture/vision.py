"""timm vision models: load(name, weights) → VisionModel, run(model, image) → VisionTrace, attention as data.

`load` returns a `VisionModel`: a frozen wrapper that owns the timm module (eval mode, on its device) and
its facts: where its weights came from, its class names, its data config and the attention extractor
built once at load (as timm's AttentionExtract wraps a model). Nothing is set on timm's module, and
nothing about a run is ever stored anywhere, so one cached model can serve every session at once.

Capture uses timm's own machinery: the FX graph of `timm.utils.AttentionExtract`, traced once at load
with fused attention (SDPA, which never forms the weights) switched off for the trace only
(models/capture/hooks.py `unfused`). The graph then always takes the explicit softmax path and returns
the softmax outputs with the logits; the module's own forward keeps its fused kernels. Where FX cannot
trace a ViT, hooks read each block's `attn_drop` for one call (models/capture/hooks.py `hooks`).
An empty capture is an error, never an empty page.
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import json
import pathlib
import socket
import sys
import urllib.parse
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from models.capture.attention import BlockAttention
from models.capture.hooks import hooks, running, tracing, unfused
from models.capture.trace import BlockInfo, VisionTrace
from models.demo import WEIGHTS_DIR
from models.messages import CodedError, Notice
from models.runtime import device as devices
from models.runtime import memory

VIT_MODULES = ("vision_transformer", "deit", "vision_transformer_hybrid", "vision_transformer_relpos", "eva", "beit")
SWIN_MODULES = ("swin_transformer", "swin_transformer_v2", "swin_transformer_v2_cr")
WEIGHT_SOURCES = ("pretrained", "demo", "random")  # or a path to a .safetensors file
ATTENTION_NODES = "blocks.*.attn.softmax"  # FX node names of the softmax in every ViT block
SWIN_ATTENTION_NODES = "layers.*.blocks.*.attn.softmax"  # ... and in every Swin block
EXTREME_ASPECT = 4.0  # longer/shorter side above which the image is first cut to what the centre crop can see
DENSE_MAX_BYTES = 2_500_000_000  # a run that must keep every map (FX graph, hooks) is refused above this
EXPLICIT_MAX_BYTES = 128_000_000  # one block's maps up to this: the q/k capture runs timm's explicit attention



class VisionError(CodedError):
    """A problem the page shows as a message: a code and its parameters (models.messages), worded by
    ui.messages.word in the reader's language (ui/words/vision.py); str(error) is the English wording."""


class UnknownModel(VisionError):
    """The name is not a timm model."""


class UnsupportedModel(VisionError):
    """A timm model, but not one whose attention this app can show (not ViT- or Swin-family)."""


class WeightsUnavailable(VisionError):
    """The requested weights cannot be had (no Hub, no pretrained tag, no demo checkpoint)."""


class UnknownTag(WeightsUnavailable):
    """A pretrained tag (name.tag) that timm does not have for that architecture: a typo, not a missing Hub,
    so a page must not fall back to random weights for it."""


class WeightsMismatch(VisionError):
    """A weights file whose tensor names or shapes do not fit the architecture."""


class CaptureError(VisionError):
    """The forward pass ran but yielded no (or malformed) attention weights."""


@dataclass(frozen=True, eq=False)
class VisionModel:
    """A timm model and its facts, as `load` made them; read-only. Compared and hashed by identity.

    `module` is timm's nn.Module itself (eval mode, on `device`), left as timm built it: no attribute is
    added to it. Run it with `run(model, image)`; `model.module` is there for what needs the network
    itself (its blocks, its position embeddings, a plain forward).
    """

    module: torch.nn.Module
    name: str  # what was asked for: a timm name (possibly with .tag) or a demo name such as "vit_demo"
    arch: str  # the timm architecture
    weights: str  # "pretrained", "demo", "random" or the file path
    weights_source: str  # in English: logs, downloads, the benchmark
    source_notice: Notice | None  # the same, as a code the page words in the reader's language
    class_names: tuple[str, ...]
    kind: str  # "vit", "swin" or "other"
    device: str
    data_config: dict = field(default_factory=dict)  # timm's resolved data config: input_size, mean, std, crop…
    extractor: torch.nn.Module | None = None  # timm's FX GraphExtractNet (fused attention off), built at load
    attention_nodes: tuple[str, ...] = ()  # the extractor's softmax nodes, one per block
    output_node: str | None = None  # the extractor's logits node
    lazy: bool = False  # a run keeps each block's queries and keys, not its maps (plain timm ViT attention)


# ----------------------------------------------------------------------------------------------- loading


def demo_names() -> list[str]:
    """Names of the bundled demo checkpoints (models/demo/weights/<name>.json + .safetensors)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.json") if p.with_suffix(".safetensors").exists())


def _demo_meta(name: str) -> dict:
    path = WEIGHTS_DIR / f"{name}.json"
    if not path.exists() or not path.with_suffix(".safetensors").exists():
        raise WeightsUnavailable("vision.no_demo", name=name, known=demo_names() or ["-"])
    return json.loads(path.read_text(encoding="utf-8"))


def family(name: str) -> str | None:
    """"vit", "swin" or None for a timm model name (a tag such as ".augreg_in21k" is allowed) or a demo name."""
    import timm.models

    if (WEIGHTS_DIR / f"{name}.json").exists():
        name = _demo_meta(name)["arch"]
    arch, _ = timm.models.split_model_name_tag(name)
    if not timm.models.is_model(arch):
        return None
    if timm.models.is_model_in_modules(arch, VIT_MODULES):
        return "vit"
    if timm.models.is_model_in_modules(arch, SWIN_MODULES):
        return "swin"
    return None


def require_family(name: str, wanted: str) -> None:
    """Raise UnknownModel / UnsupportedModel unless `name` is a timm (or demo) model of family `wanted`.

    Cheap: reads timm's registry, creates nothing; a page calls it before loading anything.
    """
    name = (name or "").strip()
    if not (WEIGHTS_DIR / f"{name}.json").exists():
        _check_name(name)
    found = family(name)
    if found == wanted:
        return
    if found is not None:  # the other family: vision.swin_not_vit, vision.vit_not_swin
        raise UnsupportedModel(f"vision.{found}_not_{wanted}", name=name)
    raise UnsupportedModel(f"vision.not_{wanted}", name=name)  # vision.not_vit, vision.not_swin


def _check_name(name: str) -> str:
    """The architecture of a timm name; UnknownModel if there is none, UnknownTag if its .tag does not exist."""
    import timm

    arch, tag = timm.models.split_model_name_tag(name)
    if not name or not timm.models.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3, cutoff=0.6)
        if close:
            raise UnknownModel("vision.unknown_model_close", name=name, close=close)
        raise UnknownModel("vision.unknown_model", name=name)
    if tag and f"{arch}.{tag}" not in pretrained_tags(arch):
        tags = pretrained_tags(arch)
        if not tags:
            raise UnknownTag("vision.unknown_tag_none", tag=tag, arch=arch)
        close = difflib.get_close_matches(f"{arch}.{tag}", tags, n=1, cutoff=0.8)
        if close:
            raise UnknownTag("vision.unknown_tag_close", tag=tag, arch=arch, tags=tags, close=close[0])
        raise UnknownTag("vision.unknown_tag", tag=tag, arch=arch, tags=tags)
    return arch


def pretrained_tags(arch: str) -> list[str]:
    """Every "arch.tag" timm has pretrained weights for (timm.list_pretrained(arch + '*'), this arch only)."""
    import timm

    return [n for n in timm.list_pretrained(arch + "*") if n.split(".", 1)[0] == arch]


def _hub_reachable(url: str | None = None, timeout: float = 3.0) -> bool:
    """Whether the weights host answers a TCP connection within `timeout` s (timm would retry for a minute)."""
    try:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    except Exception:
        endpoint = "https://huggingface.co"
    parsed = urllib.parse.urlparse(url or endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _cached_hub_file(cfg) -> str | None:
    """The local Hugging Face cache's copy of a pretrained cfg's weights, if it is there."""
    if not getattr(cfg, "hf_hub_id", None):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo = cfg.hf_hub_id.split("@")[0]
    names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors"]  # never a pickle
    for filename in names:
        if not filename.endswith(".safetensors"):
            continue
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return found
    return None


def _create(arch_or_name: str, **kwargs) -> torch.nn.Module:
    """timm.create_model with deterministic random initialisation (seed 0), without touching global RNG state."""
    import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return timm.create_model(arch_or_name, **kwargs)


def _pretrained(name: str, create_kwargs: dict) -> tuple[torch.nn.Module, str, Notice]:
    import timm

    arch = _check_name(name)
    if not timm.models.is_model_pretrained(arch):
        raise WeightsUnavailable("vision.no_pretrained", name=name)
    try:
        cfg = timm.models.get_pretrained_cfg(name if "." in name else arch)
    except Exception:
        cfg = None
    if cfg is None:  # _check_name has seen the tag in timm's list: only a broken registry gets here
        raise UnknownTag("vision.unknown_tag", tag=name, arch=arch, tags=pretrained_tags(arch))
    full = f"{arch}.{cfg.tag}" if getattr(cfg, "tag", None) else arch
    cached = _cached_hub_file(cfg)
    if cached:
        model = _create(full, pretrained=True, pretrained_cfg_overlay=dict(file=cached), **create_kwargs)
        return model, f"pretrained (timm {full}, from the local Hugging Face cache)", Notice("vision.source_cache",
                                                                                              full=full)
    host = None if cfg.hf_hub_id else cfg.url
    if not _hub_reachable(host):
        raise WeightsUnavailable("vision.hub_unreachable", full=full)
    try:
        model = _create(full, pretrained=True, **create_kwargs)
    except Exception as e:
        raise WeightsUnavailable("vision.download_failed", full=full,
                                 detail=f"{type(e).__name__}: {str(e)[:200]}") from e
    return model, f"pretrained (timm {full}, from the Hugging Face Hub)", Notice("vision.source_hub", full=full)


def _describe_mismatch(model: torch.nn.Module, state: dict) -> dict[str, str]:
    """What does not fit, by kind ("missing", "unexpected", "wrong"), each as "(count): the first five…";
    empty when everything fits."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state.items()}
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [f"{k}: {given[k]} ≠ {expected[k]}" for k in expected if k in given and given[k] != expected[k]]
    problems = {}
    for kind, items in (("missing", missing), ("unexpected", unexpected), ("wrong", shapes)):
        if items:
            more = f", … (+{len(items) - 5})" if len(items) > 5 else ""
            problems[kind] = f"({len(items)}): {', '.join(items[:5])}{more}"
    return problems


def _from_file(arch: str, path: pathlib.Path, create_kwargs: dict) -> torch.nn.Module:
    """The architecture with the tensors of a .safetensors file; WeightsMismatch says which tensors do not fit.

    `create_kwargs` come from the caller: the file's sidecar (see _meta_kwargs), then the caller's own."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if path.suffix.lower() != ".safetensors":
        raise WeightsUnavailable("vision.not_safetensors", file=path.name)
    if not path.is_file():
        raise WeightsUnavailable("vision.no_weights_file", path=str(path))
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsUnavailable("vision.unreadable_safetensors", file=path.name, detail=str(e)) from None
    kwargs = dict(create_kwargs)
    head = state.get("head.weight", state.get("head.fc.weight"))
    if "num_classes" not in kwargs and head is not None and head.ndim == 2:
        kwargs["num_classes"] = int(head.shape[0])  # a fine-tuned model keeps its own classes
    try:
        model = _create(arch, pretrained=False, **kwargs)
    except (TypeError, ValueError, AssertionError, RuntimeError) as e:  # e.g. a sidecar's kwargs timm refuses
        raise WeightsMismatch("vision.cannot_build", arch=arch, file=path.name,
                              detail=f"{type(e).__name__}: {e}") from None
    problems = _describe_mismatch(model, state)
    if problems:  # timm's own converter for this family may map older layouts (and resize position embeddings)
        filter_fn = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
        if filter_fn is not None:
            try:
                filtered = filter_fn(dict(state), model)
                if not _describe_mismatch(model, filtered):
                    state, problems = filtered, {}
            except Exception:
                pass
    if problems:
        missing, unexpected, wrong = (problems.get(kind, "(0)") for kind in ("missing", "unexpected", "wrong"))
        raise WeightsMismatch("vision.does_not_fit", file=path.name, arch=arch, missing=missing,
                              unexpected=unexpected, wrong=wrong)
    model.load_state_dict(state, strict=True)
    return model


def _class_names(model: torch.nn.Module, meta: dict | None) -> tuple[str, ...]:
    n = int(getattr(model, "num_classes", 0) or 0)
    if meta and meta.get("class_names") and len(meta["class_names"]) == n:
        return tuple(str(c) for c in meta["class_names"])
    try:
        from timm.data import ImageNetInfo, infer_imagenet_subset

        subset = infer_imagenet_subset(model)
        if subset:
            info = ImageNetInfo(subset)
            if info.num_classes() == n:
                return tuple(info.index_to_description(i) for i in range(n))
    except Exception:
        pass
    return tuple(f"class {i}" for i in range(n))


def _sidecar(path: pathlib.Path) -> dict | None:
    """The JSON beside a weights file (same name, .json), written like the bundled demos' (see _meta_kwargs)."""
    side = path.with_suffix(".json")
    if not side.is_file():
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise WeightsUnavailable("vision.sidecar_unreadable", sidecar=side.name, file=path.name,
                                 detail=str(e)) from None
    if not isinstance(meta, dict):
        raise WeightsUnavailable("vision.sidecar_not_object", sidecar=side.name, file=path.name)
    return meta


def _meta_kwargs(meta: dict, where: str) -> dict:
    """timm.create_model kwargs from a checkpoint's JSON: its "kwargs" (the architecture's sizes, classes)
    and its "pretrained_cfg_overlay" (input_size, crop_pct, interpolation, mean, std: the data config)."""
    kwargs, overlay = meta.get("kwargs") or {}, meta.get("pretrained_cfg_overlay") or {}
    if not isinstance(kwargs, dict) or not isinstance(overlay, dict):
        raise WeightsUnavailable("vision.sidecar_fields", where=where)
    kwargs = dict(kwargs)
    if overlay:
        overlay = dict(overlay)
        for key in ("input_size", "mean", "std"):
            if isinstance(overlay.get(key), list):
                overlay[key] = tuple(overlay[key])
        for key in ("file", "url", "hf_hub_id", "hf_hub_filename"):  # settings only: never where to fetch from
            overlay.pop(key, None)
        kwargs["pretrained_cfg_overlay"] = overlay
    return kwargs


def _kind(model: torch.nn.Module) -> str:
    names = {c.__name__ for c in type(model).__mro__}
    if names & {"SwinTransformer", "SwinTransformerV2", "SwinTransformerV2Cr"}:
        return "swin"
    if all(hasattr(model, a) for a in ("patch_embed", "blocks", "num_prefix_tokens")):
        return "vit"
    return "other"


def _build_extractor(
    model: torch.nn.Module, pattern: str | None = None
) -> tuple[torch.nn.Module | None, tuple[str, ...], str | None]:
    """timm's FX attention extractor, traced with fused attention off; (None, (), None) if FX fails.

    This is what `timm.utils.AttentionExtract(model, method="fx")` builds (a GraphExtractNet over the
    softmax nodes), built directly so that the graph is traced once and also returns the logits.
    """
    from timm.models._features_fx import GraphExtractNet, get_graph_node_names

    own = set(vars(model))
    # torch.fx patches torch.nn.Module.__call__ process-wide while it traces: no forward may run meanwhile
    with tracing(), unfused(model):
        try:
            with warnings.catch_warnings():  # torchvision's note that eval nodes are a subset of train nodes
                warnings.simplefilter("ignore", UserWarning)
                eval_nodes = get_graph_node_names(model)[1]
                attention = tuple(n for n in eval_nodes if _match(n, pattern or ATTENTION_NODES))
                if not attention:
                    return None, (), None
                output = eval_nodes[-1]
                extractor = GraphExtractNet(model.eval(), list(attention) + [output], return_dict=True)
            _drop_identities(extractor.graph_module)
        except Exception:
            return None, (), None
        finally:
            # torch.fx's tracer stores the tensor constants it meets (Swin's masks, …) on the traced root as
            # _tensor_constant<i>; the graph module keeps its own references, so they go from timm's module.
            for key in set(vars(model)) - own:
                delattr(model, key)
    return extractor, attention, output


_EVAL_IDENTITIES = ("Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "DropPath")


def _drop_identities(graph_module: torch.nn.Module) -> int:
    """Take the modules that are identities in eval mode (Identity, Dropout, DropPath: ~150 calls in a
    vit_base) out of the traced graph: each call costs Python time and changes nothing at inference.
    The extractor only ever runs in eval mode. Returns how many calls were removed."""
    removed = 0
    for node in list(graph_module.graph.nodes):
        if node.op != "call_module" or len(node.args) != 1 or node.kwargs:
            continue
        if type(graph_module.get_submodule(node.target)).__name__ in _EVAL_IDENTITIES:
            node.replace_all_uses_with(node.args[0])
            graph_module.graph.erase_node(node)
            removed += 1
    if removed:
        graph_module.graph.lint()
        graph_module.recompile()
    return removed


def _match(node: str, pattern: str = ATTENTION_NODES) -> bool:
    import fnmatch

    return fnmatch.fnmatch(node, pattern)


def load(name: str, weights: str = "pretrained", device: str = "cpu", **create_kwargs) -> VisionModel:
    """A timm model in eval mode on `device`, wrapped with its facts in a VisionModel.

    `weights`: "pretrained" (timm's default tag, or the tag in `name`, from the Hub or its local cache),
    "demo" (a bundled checkpoint: `name` is then a demo name such as "vit_demo"), "random" (seed 0) or the
    path of a .safetensors file. A file's sidecar .json (same name) describes the file and wins over the
    name's defaults: its "kwargs" build the architecture, its "pretrained_cfg_overlay" gives the data
    config (input size, crop, mean/std), its "class_names" name the classes, as for a bundled demo.
    Extra keyword arguments go to timm.create_model last (e.g. img_size=112 for a quick test).
    Raises UnknownModel, UnknownTag, WeightsUnavailable or WeightsMismatch with a message for the page.
    """
    # captures reuse freed pages instead of faulting in fresh ones (models/runtime/memory.py)
    memory.keep_freed_memory()
    name = (name or "").strip()
    weights = str(weights).strip()
    meta = None
    if (WEIGHTS_DIR / f"{name}.json").exists() or weights == "demo":
        meta = _demo_meta(name)
        arch = meta["arch"]
    else:
        arch = _check_name(name)
    path = None
    if weights not in WEIGHT_SOURCES:
        path = pathlib.Path(weights).expanduser()
        side = _sidecar(path)
        if side is not None:
            side_arch = side.get("arch")
            if side_arch and str(side_arch).split(".", 1)[0] != arch:
                sidecar, side_arch = path.with_suffix(".json").name, str(side_arch)
                raise WeightsMismatch("vision.other_arch", file=path.name, side_arch=side_arch, sidecar=sidecar,
                                      arch=arch)
            meta = side
    kwargs = {**(_meta_kwargs(meta, f"{name}.json" if path is None else path.with_suffix(".json").name)
                 if meta else {}),
              **create_kwargs}
    if weights == "pretrained":
        if meta is not None:
            raise WeightsUnavailable("vision.demo_not_pretrained", name=name)
        module, source, notice = _pretrained(name, kwargs)
    elif weights == "demo":
        module = _from_file(arch, WEIGHTS_DIR / f"{name}.safetensors", kwargs)
        acc = meta.get("metrics", {}).get("accuracy")
        score = f", {acc:.1%} accuracy on fresh images" if isinstance(acc, (int, float)) else ""
        source = f"demo ({name}: timm {arch} trained here on synthetic shapes{score})"
        notice = (Notice("vision.source_demo_scored", name=name, arch=arch, accuracy=f"{acc:.1%}") if score
                  else Notice("vision.source_demo", name=name, arch=arch))
    elif weights == "random":
        # a tag (checked by _check_name) picks its own settings: classes, input size, mean/std
        module = _create(arch if meta is not None else name, pretrained=False, **kwargs)
        source = f"random (untrained {name}, seed 0)"
        notice = Notice("vision.source_random", name=name)
    else:
        module = _from_file(arch, path, kwargs)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        source = f"file: {path.name} (sha256 {digest}…)"
        notice = Notice("vision.source_file", file=path.name, digest=digest)
    dev = str(devices.resolve(device))
    module = module.to(dev).eval()
    from timm.data import resolve_data_config

    data_config = dict(resolve_data_config({}, model=module))
    img_size = getattr(getattr(module, "patch_embed", None), "img_size", None)
    if img_size and not getattr(module.patch_embed, "dynamic_img_size", False):
        data_config["input_size"] = (3, int(img_size[0]), int(img_size[1]))  # built for another size than its tag's
    kind = _kind(module)
    extractor, nodes, output = None, (), None
    lazy = kind == "vit" and lazy_capable(module)
    if kind == "vit":
        extractor, nodes, output = _build_extractor(module)
    elif kind == "swin" and not any(getattr(b, "dynamic_mask", False) for b in module.modules()):
        # the same FX extractor; a mask computed at run time (dynamic_mask) is read by swin.capture's hooks instead
        extractor, nodes, output = _build_extractor(module, SWIN_ATTENTION_NODES)
    return VisionModel(
        module=module,
        name=name,
        arch=arch,
        weights=weights,
        weights_source=source,
        source_notice=notice,
        class_names=_class_names(module, meta),
        kind=kind,
        device=dev,
        data_config=data_config,
        extractor=extractor,
        attention_nodes=nodes,
        output_node=output,
        lazy=lazy,
    )


def lazy_capable(module: torch.nn.Module) -> bool:
    """Whether every block of a timm ViT uses timm's plain `Attention` (vision_transformer.py): softmax(q·scale @
    kᵀ)·v after its q/k norms, nothing added to the logits. Its weights can then be recomputed exactly from q and
    k, so a run keeps those (models/capture/attention.py). Rotary (EVA), relative position bias (BEiT, RelPos)
    and other attention classes keep their maps, read from timm's FX graph."""
    try:
        from timm.models.vision_transformer import Attention
    except ImportError:
        return False
    blocks = getattr(module, "blocks", None)
    return bool(blocks) and all(type(getattr(b, "attn", None)) is Attention for b in blocks)


GRIDS = (14, 16, 24, 32, 37, 48, 64, 74)  # patch grids a resizable ViT is offered at (74 × 14 px = 1,036 px)


@functools.lru_cache(maxsize=64)
def geometry(name: str) -> dict | None:
    """A timm ViT's sizes, read from the architecture built on PyTorch's meta device (no weights, no memory):
    {"img_size", "patch", "depth", "heads", "dim", "prefix", "lazy", "sizes"}; None for anything else.
    "sizes" are the square input sizes (px) the model can be built at: timm resamples the position
    embeddings of its checkpoint to the new grid when it loads them (bicubic); empty unless the model's
    weights are computed when shown (`lazy`), since other models keep every map."""
    import timm

    name = (name or "").strip()
    try:
        kwargs: dict = {}
        if (WEIGHTS_DIR / f"{name}.json").exists():
            meta = _demo_meta(name)
            target, kwargs = meta["arch"], _meta_kwargs(meta, f"{name}.json")
        else:
            _check_name(name)
            target = name
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            module = timm.create_model(target, pretrained=False, **kwargs)
    except Exception:
        return None
    if _kind(module) != "vit":
        return None
    img = getattr(module.patch_embed, "img_size", None)
    patch = _patch_size(module)
    if not img or patch[0] != patch[1] or img[0] != img[1]:
        return None
    attn = module.blocks[0].attn
    lazy = lazy_capable(module)
    resizable = lazy and getattr(module, "pos_embed", None) is not None and not getattr(
        module.patch_embed, "dynamic_img_pad", False)
    sizes = sorted({int(img[0])} | {g * patch[0] for g in GRIDS}) if resizable else [int(img[0])]
    return {
        "img_size": int(img[0]), "patch": int(patch[0]), "depth": len(module.blocks),
        "heads": int(getattr(attn, "num_heads", 1)), "dim": int(getattr(module, "embed_dim", 0) or 0),
        "prefix": int(getattr(module, "num_prefix_tokens", 0)), "lazy": lazy, "sizes": tuple(sizes),
    }


def cost(geo: dict, size: int) -> dict:
    """What a run at `size` px costs, before it runs: tokens, what it keeps (each block's q and k, float32),
    what every map would take (not kept), and the floating-point work of computing every weight once."""
    grid = size // geo["patch"]
    tokens = geo["prefix"] + grid * grid
    kept = geo["depth"] * 2 * tokens * geo["dim"] * 4
    maps = geo["depth"] * geo["heads"] * tokens * tokens * 4
    flops = geo["depth"] * tokens * tokens * 2 * geo["dim"]  # q·kᵀ for every head: 2·N²·d_k·heads per block
    return {"grid": grid, "tokens": tokens, "kept_bytes": kept if geo["lazy"] else maps, "maps_bytes": maps,
            "weights_flops": flops}


# -------------------------------------------------------------------------------------------- running


def preprocess(model: VisionModel, image: Image.Image) -> tuple[torch.Tensor, np.ndarray]:
    """timm's eval transform from the model's data config: ((1, 3, H, W) tensor on the model's device, crop).

    The crop is the (H, W, 3) uint8 image after timm's resize and centre crop, i.e. exactly the pixels
    the model sees before normalisation. An image far wider than tall (or the reverse) is first cut to
    at most 4:1 around its centre: the centre crop could not see beyond that, and resizing the whole
    strip first would allocate a gigapixel.
    """
    from timm.data import create_transform

    transform = create_transform(**model.data_config)
    steps = list(getattr(transform, "transforms", [transform]))
    split = next((i for i, t in enumerate(steps) if "ToTensor" in type(t).__name__), len(steps))
    pil = image.convert("RGB") if image.mode != "RGB" else image
    pil = _cut_extreme(pil, steps, model.data_config)
    with running():  # torchvision's transforms are nn.Modules too: a trace in another thread would catch them
        for t in steps[:split]:
            pil = t(pil)
        crop = np.array(pil, dtype=np.uint8)
        x = pil
        for t in steps[split:]:
            x = t(x)
    return x.unsqueeze(0).to(model.device), crop


def _cut_extreme(pil: Image.Image, steps: list, cfg: dict) -> Image.Image:
    w, h = pil.size
    first = steps[0] if steps else None
    size = getattr(first, "size", None)
    shortest_edge = isinstance(size, int) or (isinstance(size, (list, tuple)) and len(size) == 1)
    if not shortest_edge or cfg.get("crop_mode", "center") != "center":
        return pil
    short, long = min(w, h), max(w, h)
    if long <= EXTREME_ASPECT * short:
        return pil
    keep = max(1, int(EXTREME_ASPECT * short))
    if w > h:
        x0 = (w - keep) // 2
        return pil.crop((x0, 0, x0 + keep, h))
    y0 = (h - keep) // 2
    return pil.crop((0, y0, w, y0 + keep))


@functools.lru_cache(maxsize=32)
def _patch_labels(grid: tuple[int, int]) -> tuple[str, ...]:
    """"(row,col)" for every patch of a grid, row by row: made once per grid (3,136 strings for Swin at 224 px)."""
    return tuple(f"({r},{c})" for r in range(grid[0]) for c in range(grid[1]))


def token_labels(model: torch.nn.Module, grid: tuple[int, int]) -> tuple[list[str], int]:
    """Labels for a ViT's tokens in sequence order: CLS, DIST, REG0…, then each patch as "(row,col)".

    `model` is the timm module (VisionModel.module); patch rows and columns are indices from 0."""
    prefix = []
    if getattr(model, "cls_token", None) is not None:
        prefix.append("CLS")
    if getattr(model, "dist_token", None) is not None:
        prefix.append("DIST")
    prefix += [f"REG{i}" for i in range(int(getattr(model, "num_reg_tokens", 0) or 0))]
    n_prefix = int(getattr(model, "num_prefix_tokens", len(prefix)))
    if len(prefix) != n_prefix:
        prefix = [f"PRE{i}" for i in range(n_prefix)]
    patches = list(_patch_labels(tuple(grid)))
    return prefix + patches, n_prefix


def _patch_size(model: torch.nn.Module) -> tuple[int, int]:
    ps = getattr(model.patch_embed, "patch_size", 16)
    ps = (ps, ps) if isinstance(ps, int) else tuple(ps)
    return int(ps[0]), int(ps[1])


def _contiguous(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone(memory_format=torch.contiguous_format)


def _capture_queries_keys(module: torch.nn.Module, x: torch.Tensor) -> tuple[BlockAttention, torch.Tensor]:
    """The model's own forward with forward hooks on every block's q_norm and k_norm (identities unless the model
    has qk-norm): their outputs are the q and k that the attention multiplies, kept (heads, N, d) per block; hooks
    removed in `finally` (models/capture/hooks.py). While a block's maps are small (≤ EXPLICIT_MAX_BYTES) the
    forward takes timm's explicit path (fused attention off, as AttentionExtract runs it), so the weights
    recomputed from q and k are the ones timm's graph returns; above, the fused path (SDPA, which never forms
    the weights): memory linear in N, and float rounding that differs from the explicit path's by ~1e-6.
    A block called with an attention mask is not what the weights would be recomputed from: CaptureError."""
    blocks = list(module.blocks)
    qs: list[torch.Tensor] = []
    ks: list[torch.Tensor] = []
    masked: list[bool] = []

    def on_attn(mod, args, kwargs):
        mask = kwargs.get("attn_mask", args[1] if len(args) > 1 else None)
        masked.append(mask is not None or bool(kwargs.get("is_causal", False)))

    heads = int(getattr(blocks[0].attn, "num_heads", 1) or 1)
    tokens = int(x.shape[-2] // _patch_size(module)[0] * (x.shape[-1] // _patch_size(module)[1])) + int(
        getattr(module, "num_prefix_tokens", 0))
    explicit = heads * tokens * tokens * 4 <= EXPLICIT_MAX_BYTES
    # the model's lock: no other capture switches its fused attention meanwhile
    with (unfused(module) if explicit else nullcontext()), hooks(hold=module) as h:
        for b in blocks:
            h.pre(b.attn, on_attn, with_kwargs=True)
            # contiguous copies: q and k are views into the qkv buffer (which also holds v), strided for the heads
            h.forward(b.attn.q_norm, lambda mod, inp, out: qs.append(_contiguous(out[0])))
            h.forward(b.attn.k_norm, lambda mod, inp, out: ks.append(_contiguous(out[0])))
        logits = module(x)
    if any(masked):
        raise CaptureError("vision.capture_masked", module=type(module).__name__)
    maps, count, model_name = len(qs), len(blocks), type(module).__name__
    if maps != count or len(ks) != count:
        raise CaptureError("vision.capture_count", maps=maps, name=model_name, blocks=count)
    return BlockAttention(qs, ks, [float(b.attn.scale) for b in blocks]), logits


def _capture_vit(model: VisionModel, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    if model.extractor is not None:
        out = model.extractor(x)
        attention = [out[n] for n in model.attention_nodes]
        logits = out[model.output_node]
        return attention, logits
    return _capture_with_hooks(model.module, x)


def _capture_with_hooks(module: torch.nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Fallback when FX cannot trace the model: hooks on each block's attn_drop, fused attention off.

    The flags live on the shared model: `unfused` holds the model's lock for the forward and puts them
    back in `finally`, as `hooks` removes the hooks (models/capture/hooks.py).
    """
    drops = [getattr(b.attn, "attn_drop", None) for b in module.blocks]
    if any(d is None for d in drops):
        raise CaptureError("vision.no_attn_drop", module=type(module).__name__)
    captured: list[torch.Tensor] = []
    with unfused(module), hooks() as h:
        for d in drops:
            h.forward(d, lambda mod, inp, out: captured.append(out))
        logits = module(x)
    return captured, logits


def run(model: VisionModel, image: Image.Image, top_k: int = 5) -> VisionTrace:
    """One image through one model: every block's attention, token labels, the crop, the top-k classes."""
    meta, model = model, model.module  # below: `meta` the VisionModel, `model` timm's module
    if meta.kind not in ("vit", "swin"):
        raise UnsupportedModel("vision.not_vit_or_swin", name=meta.name, module=type(model).__name__)
    x, crop = preprocess(meta, image)
    extras: dict = {"data_config": dict(meta.data_config), "image_notes": list(image.info.get("notes", [])),
                    "source_notice": meta.source_notice}
    swin_details = None
    with running(), torch.inference_mode():  # a model being traced meanwhile waits (models/capture/hooks.py)
        if meta.kind == "swin":
            from models.capture import swin  # written separately; imported only when a Swin model runs

            traced = (meta.extractor, meta.attention_nodes, meta.output_node) if meta.extractor is not None else None
            attention_np, blocks, swin_details, logits = swin.capture(model, x, traced)
            grid = blocks[0].grid if blocks else (0, 0)
            ps = _patch_size(model)[0]
            labels, n_prefix = list(_patch_labels(tuple(grid))), 0
        else:
            n_blocks = len(model.blocks)
            ph, pw = _patch_size(model)
            grid = (x.shape[-2] // ph, x.shape[-1] // pw)
            labels, n_prefix = token_labels(model, grid)
            n = len(labels)
            if meta.lazy:
                attention_np, logits = _capture_queries_keys(model, x)
                if attention_np.num_tokens != n:
                    shape = str(attention_np.shape)
                    raise CaptureError("vision.capture_shape", block=0, shape=shape, n=n)
            else:
                heads = int(getattr(model.blocks[0].attn, "num_heads", 1) or 1)
                need = n_blocks * heads * n * n * 4
                if need > DENSE_MAX_BYTES:
                    raise CaptureError("vision.maps_too_large", name=meta.name, n=n, gb=f"{need / 1e9:.1f}",
                                       limit=f"{DENSE_MAX_BYTES / 1e9:.1f}")
                attention_t, logits = _capture_vit(meta, x)
                if not attention_t:
                    raise CaptureError("vision.capture_empty", name=meta.name)
                if len(attention_t) != n_blocks:
                    maps = len(attention_t)
                    raise CaptureError("vision.capture_count", maps=maps, name=meta.name, blocks=n_blocks)
                maps = [a[0].detach().float().cpu().numpy() for a in attention_t]
                for i, a in enumerate(maps):
                    if a.ndim != 3 or a.shape[1:] != (n, n):
                        shape = str(tuple(a.shape))
                        raise CaptureError("vision.capture_shape", block=i, shape=shape, n=n)
                attention_np = BlockAttention.from_dense(maps)
            heads = attention_np.num_heads
            blocks = [
                BlockInfo(name=f"blocks.{i}", stage=0, grid=grid, patch_px=float(ph), num_heads=heads)
                for i in range(n_blocks)
            ]
            ps = ph
            extras["has_cls"] = getattr(model, "cls_token", None) is not None
    top, top_indices = _top_k(logits, meta.class_names, top_k)
    return VisionTrace(
        model_name=meta.name,
        weights_source=meta.weights_source,
        kind=meta.kind,
        image=crop,
        attention=attention_np,
        blocks=blocks,
        token_labels=labels,
        num_prefix_tokens=n_prefix,
        patch_size=int(ps),
        grid=tuple(grid),
        top_k=top,
        extras=extras,
        swin=swin_details,
        top_k_indices=top_indices,
    )


def _top_k(logits: torch.Tensor, class_names: tuple[str, ...], k: int) -> tuple[list[tuple[str, float]], list[int]]:
    """The k most probable classes as (name, probability), best first, and their class indices."""
    if isinstance(logits, (tuple, list)):  # distilled models in train mode return (cls, dist) logits
        logits = (logits[0] + logits[1]) / 2
    if logits is None or logits.ndim != 2 or logits.shape[-1] != len(class_names) or not class_names:
        return [], []  # no classifier head (num_classes=0): the output is features, not class scores
    probs = torch.softmax(logits[0].float(), dim=-1).cpu().numpy()
    order = np.argsort(-probs)[: max(0, k)]
    return [(class_names[i], float(probs[i])) for i in order], [int(i) for i in order]
