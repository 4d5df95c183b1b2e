"""python -m models.runtime.prefetch NAME [NAME ...]: download timm models' pretrained weights before an offline class.

Fills the Hugging Face cache that timm reads (~/.cache/huggingface/hub, or $HF_HOME / $HF_HUB_CACHE) with each
model's model.safetensors, so that "pretrained" works later without a network. Where the Hub is blocked, set
HF_ENDPOINT to a mirror (e.g. HF_ENDPOINT=https://hf-mirror.com). Names are timm names, optionally with a
pretrained tag (vit_base_patch16_224.augreg2_in21k_ft_in1k). Prints one line per name; exits with 1 if any name
failed, with a message that says why (never a traceback).
"""
from __future__ import annotations

import argparse
import difflib
import os
import pathlib
import socket
import sys
import urllib.parse

DEFAULT_ENDPOINT = "https://huggingface.co"
DEMO_WEIGHTS = pathlib.Path(__file__).resolve().parents[1] / "demo" / "weights"


class PrefetchError(Exception):
    """A name that could not be fetched; str(error) says why, for the person at the terminal."""


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or DEFAULT_ENDPOINT


def _reachable(url: str, timeout: float = 5.0) -> bool:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def _unreachable_message(url: str) -> str:
    return (
        f"Cannot reach the Hugging Face Hub at {url}. Connect to the internet, or where the Hub is blocked set "
        "HF_ENDPOINT to a mirror (e.g. HF_ENDPOINT=https://hf-mirror.com), then run this again."
    )


def hub_file(name: str) -> tuple[str, str, str | None]:
    """(repo id, file name, revision) of `name`'s pretrained weights on the Hub; PrefetchError if it has none."""
    import timm
    from timm.models import get_pretrained_cfg, split_model_name_tag

    arch, tag = split_model_name_tag(name)
    if (DEMO_WEIGHTS / f"{name}.json").exists():
        raise PrefetchError(f"'{name}' is a bundled demo model: its weights are in models/demo/weights/ already.")
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise PrefetchError(f"'{name}' is not a timm model name.{hint}")
    cfg = get_pretrained_cfg(name if tag else arch, allow_unregistered=False)
    if cfg is None or not getattr(cfg, "hf_hub_id", None):
        raise PrefetchError(f"timm has no Hugging Face Hub weights for '{name}'.")
    filename = getattr(cfg, "hf_hub_filename", None) or "model.safetensors"
    if not filename.endswith(".safetensors"):
        filename = "model.safetensors"  # the app loads safetensors only (a pickle can run code when opened)
    repo = cfg.hf_hub_id
    revision = None
    if "@" in repo:
        repo, revision = repo.split("@", 1)
    return repo, filename, revision


def fetch(name: str) -> str:
    """Downloads `name`'s weights into the Hugging Face cache (a no-op when already there); returns the local path."""
    from huggingface_hub import hf_hub_download

    repo, filename, revision = hub_file(name)
    try:
        return hf_hub_download(repo, filename, revision=revision, endpoint=endpoint())
    except Exception as e:  # offline, a mirror without the file, a blocked network: a message, not a traceback
        kind = type(e).__name__
        if "EntryNotFound" in kind or "404" in str(e):
            raise PrefetchError(
                f"{repo} has no {filename} on {endpoint()}: only .safetensors weights are used."
            ) from None
        if "Connect" in kind or "Offline" in kind or "Timeout" in kind or "LocalEntryNotFound" in kind:
            raise PrefetchError(_unreachable_message(endpoint())) from None
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise PrefetchError(f"{repo}/{filename} could not be downloaded from {endpoint()} ({kind}: {first}).") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.runtime.prefetch", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", metavar="NAME", help="timm model names, e.g. vit_base_patch16_224")
    args = parser.parse_args(argv)
    url = endpoint()
    failed, todo = 0, []
    for name in (n.strip() for n in args.names):
        try:
            hub_file(name)  # checked offline first: a mistyped name is said at once
            todo.append(name)
        except PrefetchError as e:
            failed += 1
            print(f"{name}: {e}", file=sys.stderr)
    if todo and os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        print("HF_HUB_OFFLINE is set: nothing can be downloaded. Unset it to prefetch.", file=sys.stderr)
        return 1
    if todo and not _reachable(url):
        print(_unreachable_message(url), file=sys.stderr)
        return 1
    for name in todo:
        try:
            print(f"{name}: {fetch(name)}")
        except PrefetchError as e:
            failed += 1
            print(f"{name}: {e}", file=sys.stderr)
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
