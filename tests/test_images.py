"""Hostile and exotic images, generated here: each becomes a correct RGB image or a clear ImageError."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from models.runtime import images
from models.runtime.images import ImageError, load_image


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height and whose data is one tiny deflate stream: a bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    data = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + data + chunk(b"IEND", b"")


def test_plain_rgb_round_trips_exactly():
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    out = load_image(encode(Image.fromarray(array), "PNG"))
    assert out.mode == "RGB" and out.size == (23, 17)
    np.testing.assert_array_equal(np.asarray(out), array)
    assert out.info["notes"] == []


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"", "empty"),
        (b"this is plain text, not an image at all", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "not an image"),
    ],
)
def test_unreadable_files_give_clear_messages(data, fragment):
    with pytest.raises(ImageError, match=fragment):
        load_image(data)


def test_truncated_jpeg_and_png():
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8))
    for fmt in ("JPEG", "PNG"):
        data = encode(photo, fmt)
        with pytest.raises(ImageError, match="truncated|corrupt"):
            load_image(data[: len(data) // 2])


def test_decompression_bomb_refused_before_decoding():
    bomb = png_header_only(30_000, 30_000)  # 900 million pixels declared in a file of ~100 bytes
    assert len(bomb) < 200
    with pytest.raises(ImageError, match="Refused"):
        load_image(bomb)
    just_over = png_header_only(10_000, images.MAX_PIXELS // 10_000 + 1)  # over our limit, under PIL's own
    with pytest.raises(ImageError, match="Refused.*Nothing was decoded"):
        load_image(just_over)


def test_cmyk_jpeg_converts_to_the_right_colour():
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # full magenta + yellow = red
    out = np.asarray(load_image(encode(cmyk, "JPEG", quality=95)))
    assert out.shape == (32, 32, 3)
    r, g, b = out[16, 16].astype(int)
    assert r > 200 and g < 60 and b < 60
    assert "CMYK" in " ".join(map(str, load_image(encode(cmyk, "TIFF")).info["notes"]))


def test_16_bit_greyscale_png_scales_to_8_bits():
    ramp = np.linspace(0, 65535, 256).astype(np.uint16).reshape(16, 16)
    data = encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = np.asarray(load_image(data))
    assert out.shape == (16, 16, 3)
    np.testing.assert_allclose(out[..., 0].astype(float), ramp / 257.0, atol=1.0)
    assert (out[..., 0] == out[..., 1]).all()


def test_float_tiff_scales():
    data = encode(Image.fromarray(np.full((4, 5), 0.5, np.float32), "F"), "TIFF")
    out = np.asarray(load_image(data))
    assert out.shape == (4, 5, 3) and abs(int(out[0, 0, 0]) - 128) <= 1


def test_alpha_composited_on_white():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:4, :, 3] = 0  # top half fully transparent
    rgba[4:, :, 3] = 255
    out = np.asarray(load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG")))
    assert (out[:4] == 255).all()  # white where transparent
    assert (out[4:] == [255, 0, 0]).all()
    la = Image.fromarray(np.stack([np.zeros((4, 4), np.uint8), np.full((4, 4), 0, np.uint8)], -1), "LA")
    assert (np.asarray(load_image(encode(la, "PNG"))) == 255).all()
    webp = load_image(encode(Image.fromarray(rgba, "RGBA"), "WEBP", lossless=True))
    assert (np.asarray(webp)[:4] == 255).all()


def test_palette_with_and_without_transparency():
    p = Image.new("P", (6, 6), 1)
    p.putpalette([0, 0, 0, 0, 128, 255] + [0] * 762)
    out = np.asarray(load_image(encode(p, "PNG")))
    assert (out == [0, 128, 255]).all()
    p.info["transparency"] = 1
    out = np.asarray(load_image(encode(p, "PNG", transparency=1)))
    assert (out == 255).all()
    gif = np.asarray(load_image(encode(p.copy(), "GIF")))
    assert gif.shape == (6, 6, 3)


def test_bilevel_image():
    bw = Image.new("1", (10, 3), 0)
    bw.putpixel((0, 0), 1)
    out = np.asarray(load_image(encode(bw, "BMP")))
    assert out.shape == (3, 10, 3) and (out[0, 0] == 255).all() and (out[1, 1] == 0).all()


def test_animated_gif_and_multipage_tiff_use_the_first_frame():
    frames = [Image.new("RGB", (12, 12), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    out = load_image(gif)
    assert tuple(np.asarray(out)[5, 5]) == (255, 0, 0)
    assert any("first of 3" in str(n) for n in out.info["notes"])
    tiff = encode(frames[1], "TIFF", save_all=True, append_images=[frames[2]])
    out = load_image(tiff)
    assert tuple(np.asarray(out)[0, 0]) == (0, 255, 0) and any("first of 2" in str(n) for n in out.info["notes"])
    webp = load_image(encode(frames[2], "WEBP", save_all=True, append_images=frames[:2], lossless=True))
    assert tuple(np.asarray(webp)[0, 0]) == (0, 0, 255)


def test_exif_orientation_is_applied():
    array = np.zeros((20, 40, 3), np.uint8)
    array[:, :20] = [255, 0, 0]  # left half red, right half blue (landscape 40x20)
    array[:, 20:] = [0, 0, 255]
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs 90 degrees clockwise
    out = load_image(encode(Image.fromarray(array), "JPEG", exif=exif.tobytes(), quality=95))
    assert out.size == (20, 40)  # portrait once upright
    top, bottom = np.asarray(out)[2, 10].astype(int), np.asarray(out)[-3, 10].astype(int)
    assert top[0] > 200 and top[2] < 60  # rotating clockwise puts the left (red) half on top
    assert bottom[2] > 200 and bottom[0] < 60
    assert any("EXIF" in str(n) for n in out.info["notes"])


def test_one_pixel_and_extreme_aspect_ratios():
    one = load_image(encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"))
    assert one.size == (1, 1) and tuple(np.asarray(one)[0, 0]) == (10, 20, 30)
    for size in ((4000, 3), (3, 4000), (20_000, 1)):
        out = load_image(encode(Image.new("RGB", size, (0, 200, 0)), "PNG"))
        assert out.size == size and out.mode == "RGB"
        assert any("unusual shape" in str(n) for n in out.info["notes"])


def test_large_image_is_downscaled_with_a_note():
    big = Image.new("L", (5000, 4000), 77)  # 20 MP: accepted, shrunk below DOWNSCALE_PIXELS
    out = load_image(encode(big, "PNG"))
    assert out.size[0] * out.size[1] <= images.DOWNSCALE_PIXELS
    assert abs(out.size[0] / out.size[1] - 1.25) < 0.01
    assert (np.asarray(out) == 77).all()
    assert any("downscaled" in str(n) for n in out.info["notes"])


def test_paths_and_samples():
    assert len(images.SAMPLES) >= 3
    for name, path in images.SAMPLES.items():
        out = load_image(path)
        assert out.mode == "RGB" and min(out.size) > 100, name
    assert "CC0" in images.samples_attribution()
    with pytest.raises(ImageError, match="No image file"):
        load_image("/no/such/file.png")
