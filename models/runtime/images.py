"""Reading user images safely: any file PIL can read becomes one RGB image, or a clear ImageError.

Uploads come from strangers, so nothing here trusts the file: the pixel count is checked from the
header before any pixel is decoded (decompression bombs), decoding errors become messages a person can
act on, and the exotic modes (CMYK, 16-bit, alpha, palette, bilevel, animation, EXIF rotation) are
converted the way a viewer would show them. What was converted is listed in `image.info["notes"]`.

Messages are codes with parameters (models.messages): ImageError carries one, each note is a Notice; the app
words them in the reader's language (ui/words/vision.py).
"""
from __future__ import annotations

import io
import os
import pathlib
import re

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from models.messages import CodedError, Notice

MAX_PIXELS = 50_000_000  # refused above this, before decoding: 150 MB of RGB, far past any model input
DOWNSCALE_PIXELS = 16_000_000  # larger images are shrunk (area-averaged) before preprocessing, with a note
MAX_BYTES = 20 * 1024 * 1024  # the upload limit in .streamlit/config.toml; files given by path obey it too

SAMPLES_DIR = pathlib.Path(__file__).resolve().parents[2] / "assets" / "samples"
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]


class ImageError(CodedError):
    """An image that cannot be used: a code and its parameters (ui/words/vision.py); str(error) is the English
    wording."""


def _read_bytes(data) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        path = pathlib.Path(data)
        if not path.is_file():
            raise ImageError("image.no_file", path=str(path))
        if path.stat().st_size > MAX_BYTES:
            size_mb = path.stat().st_size / 2**20
            raise ImageError("image.too_large_file", file=path.name, size=f"{size_mb:.1f}", limit=MAX_BYTES // 2**20)
        return path.read_bytes()
    if hasattr(data, "getvalue"):  # Streamlit's UploadedFile, io.BytesIO
        return bytes(data.getvalue())
    if hasattr(data, "read"):
        return bytes(data.read())
    raise ImageError("image.unreadable_type", type=type(data).__name__)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Integer or float samples of any depth, scaled to 0..255 the way the file meant them."""
    a = np.asarray(array)
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    a = a.astype(np.float64)
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo, hi = float(finite.min()), float(finite.max())
    if np.issubdtype(array.dtype, np.floating):
        if lo >= 0.0 and hi <= 1.0:  # float images conventionally hold 0..1
            scaled = a * 255.0
        else:
            scaled = (a - lo) / max(hi - lo, 1e-12) * 255.0
    elif lo >= 0 and hi <= 255 and array.dtype.itemsize == 1:
        scaled = a
    elif lo >= 0 and hi <= 65535:  # 16-bit samples (also 16-bit data PIL holds in 32-bit mode "I")
        scaled = a / 257.0
    else:
        scaled = (a - lo) / max(hi - lo, 1e-12) * 255.0
    return np.clip(np.nan_to_num(np.rint(scaled), nan=0.0), 0, 255).astype(np.uint8)


def _to_rgb(im: Image.Image, notes: list[Notice]) -> Image.Image:
    """Any PIL mode to RGB: alpha composited on white, 16-bit and float scaled, palettes expanded."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I;16") or mode in ("I", "F"):
        depth = "16" if mode.startswith("I;16") else "32f" if mode == "F" else "32i"
        notes.append(Notice(f"image.grey_{depth}"))  # image.grey_16, image.grey_32f, image.grey_32i
        grey = _to_uint8(np.array(im))
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P":
        has_alpha = "transparency" in im.info or (im.palette is not None and im.palette.mode == "RGBA")
        im = im.convert("RGBA" if has_alpha else "RGB")
        notes.append(Notice("image.palette"))
        mode = im.mode
    if mode == "PA":
        im, mode = im.convert("RGBA"), "RGBA"
        notes.append(Notice("image.palette"))
    if mode in ("RGBa", "La"):  # premultiplied alpha
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA"):
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"))
        if alpha.min() < 255:
            notes.append(Notice("image.alpha"))
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "CMYK":
        notes.append(Notice("image.cmyk"))
    elif mode == "1":
        notes.append(Notice("image.bilevel"))
    elif mode not in ("L",):
        notes.append(Notice("image.mode", mode=mode))
    return im.convert("RGB")


def load_image(data) -> Image.Image:
    """An RGB PIL image from bytes, a path or an uploaded file; ImageError with a clear message otherwise.

    The returned image's `info["notes"]` lists what was converted (first frame of an animation,
    EXIF rotation, CMYK, 16-bit, transparency, downscaling), for the page to show.
    """
    raw = _read_bytes(data)
    if len(raw) == 0:
        raise ImageError("image.empty")
    notes: list[Notice] = []
    try:
        im = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError as e:
        raise ImageError("image.bomb_declared", detail=str(e)) from None
    except UnidentifiedImageError:
        raise ImageError("image.not_an_image") from None
    except Exception as e:  # a header so broken that PIL cannot even identify it
        raise ImageError("image.bad_header", detail=f"{type(e).__name__}: {e}") from None
    with im:
        width, height = im.size
        if width < 1 or height < 1:
            raise ImageError("image.no_pixels", width=width, height=height)
        if width * height > MAX_PIXELS:
            raise ImageError("image.too_many_pixels", width=width, height=height,
                             millions=f"{width * height / 1e6:.0f}", limit=f"{MAX_PIXELS / 1e6:.0f}")
        frames = getattr(im, "n_frames", 1) or 1
        try:
            im.seek(0)
            im.load()
        except Image.DecompressionBombError as e:
            raise ImageError("image.bomb", detail=str(e)) from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            message = str(e)
            if "truncated" in message.lower() or isinstance(e, EOFError):
                raise ImageError("image.truncated") from None
            raise ImageError("image.corrupt", detail=message) from None
        except Exception as e:
            raise ImageError("image.undecodable", detail=f"{type(e).__name__}: {e}") from None
        if frames > 1:
            notes.append(Notice("image.first_frame", frames=frames))
        try:
            orientation = im.getexif().get(0x0112, 1)
        except Exception:  # an unreadable EXIF block is ignored, not fatal
            orientation = 1
        try:
            upright = ImageOps.exif_transpose(im) if orientation not in (None, 1) else im
        except Exception:  # a broken orientation tag: keep the pixels as stored
            upright, orientation = im, 1
        if orientation not in (None, 1):
            notes.append(Notice("image.exif_rotated", orientation=orientation))
        try:
            rgb = _to_rgb(upright, notes)
        except Exception as e:
            raise ImageError("image.no_rgb", detail=f"{type(e).__name__}: {e}") from None
        if rgb is im:  # detach from the file, which closes with this block
            rgb = im.copy()
    w, h = rgb.size
    if w * h > DOWNSCALE_PIXELS:
        f = (DOWNSCALE_PIXELS / (w * h)) ** 0.5
        size = (max(1, int(w * f)), max(1, int(h * f)))
        rgb = rgb.resize(size, Image.Resampling.BOX)
        notes.append(Notice("image.downscaled", width=w, height=h, new_width=size[0], new_height=size[1]))
    if min(w, h) == 1 or max(w, h) / min(w, h) > 10:
        notes.append(Notice("image.unusual_shape", width=w, height=h))
    rgb.info = {"notes": notes, "source_size": (width, height)}
    return rgb


def _sample_titles() -> dict[str, str]:
    """file name → subject, from the attribution table in assets/samples/LICENSES.md."""
    titles = {}
    try:
        text = (SAMPLES_DIR / "LICENSES.md").read_text(encoding="utf-8")
    except OSError:
        return titles
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.search(r"\.(png|jpe?g)$", cells[0], re.I):
            titles[cells[0]] = re.sub(r"\s*\(\d+×\d+\)$", "", cells[1])
    return titles


def _samples() -> dict[str, pathlib.Path]:
    titles = _sample_titles()
    files = sorted(p for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    return {titles.get(p.name, p.stem): p for p in files}


SAMPLES: dict[str, pathlib.Path] = _samples()  # display name → path of a bundled sample photo (read-only)


def samples_attribution() -> str:
    """The attribution text of the bundled sample photos (assets/samples/LICENSES.md), for a caption."""
    try:
        return (SAMPLES_DIR / "LICENSES.md").read_text(encoding="utf-8")
    except OSError:
        return ""
