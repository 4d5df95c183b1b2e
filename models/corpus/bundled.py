"""The corpora that come with the app: natural sentences written for the project (CC0; assets/corpora/README.md),
and images: the sample photographs (assets/samples/LICENSES.md) and generated shapes (models/demo/shapes.py)."""
from __future__ import annotations

import io
import pathlib

from models.corpus.job import Corpus, image_corpus, open_corpus

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEXT = {"en": ROOT / "assets" / "corpora" / "en.txt", "zh": ROOT / "assets" / "corpora" / "zh.txt"}
SAMPLES = ROOT / "assets" / "samples"
SHAPES = 60  # generated shapes in the bundled image corpus
SHAPE_PX = 64  # drawn at the demo models' size, enlarged ×4 (as the pages' "generated image")


def text(lang: str) -> Corpus:
    """The bundled sentences: "en" (500) or "zh" (200)."""
    return open_corpus(TEXT[lang])


def images(shapes: int = SHAPES) -> Corpus:
    """The sample photographs, then `shapes` generated shapes (classes in turn, seeds 0…): each named so that a
    page can open it — "sample:<file>" or "shape:<class>:<seed>"."""
    from models.demo import shapes as sh

    blobs: dict[str, bytes] = {}
    for f in sorted(SAMPLES.iterdir()):
        if f.suffix.lower() in (".png", ".jpg", ".jpeg"):
            blobs[f"sample:{f.name}"] = f.read_bytes()
    for i in range(shapes):
        cls = sh.CLASSES[i % len(sh.CLASSES)]
        buf = io.BytesIO()
        sh.sample_image(cls, size=SHAPE_PX, seed=i).save(buf, format="PNG")
        blobs[f"shape:{cls}:{i}"] = buf.getvalue()
    return image_corpus(blobs, "<bundled images>")


def link_params(label: str, page: str) -> dict[str, str] | None:
    """The address parameters that open a bundled image on the ViT ("vit") or Swin ("swin") page; None for an image
    a link cannot name (an upload)."""
    kind, _, rest = label.partition(":")
    if kind == "sample":
        return {f"{page}_image": rest}
    if kind == "shape":
        cls, _, seed = rest.partition(":")
        return {f"{page}_image": "shape", f"{page}_shape": cls, f"{page}_seed": seed}
    return None


def demo_task(task: str, n: int = 200) -> Corpus:
    """n held-out inputs of one of our demo tasks (reverse, dates, translate), never seen in training: the corpus
    for a demo encoder–decoder, whose vocabulary is its task's (models/demo/text.py)."""
    from models.corpus.job import text_corpus
    from models.demo import text as demo_text

    lines = [src for src, _ in demo_text.examples(task, n, seed=0, split=demo_text.HELDOUT)]
    return text_corpus("\n".join(lines) + "\n", f"<demo:{task} held-out inputs>")
