"""Decoding: every kind of file a folder of images really holds, built here with Pillow."""

import io

import numpy as np
import pytest
from PIL import Image

from report.config import PreprocessSettings
from report.discovery import Candidate
from report.decoding import DecodeError, decode
from report.loading import load_images

GRAY = PreprocessSettings()


def save(image, path, **options):
    image.save(path, **options)
    return path


def luma(rgb):
    """Pillow's ITU-R 601-2 conversion of one RGB colour to L."""
    return Image.new("RGB", (1, 1), rgb).convert("L").getpixel((0, 0))


def test_rgba_transparency_is_composited_on_the_background(tmp_path):
    pixels = np.zeros((20, 20, 4), dtype=np.uint8)
    pixels[..., 0] = 255  # red everywhere, hidden under alpha 0
    pixels[:10, :, 3] = 255  # the top half is opaque red
    path = save(Image.fromarray(pixels, "RGBA"), tmp_path / "a.png")

    result = decode(path, PreprocessSettings(size=(20, 20)), 32).pixels

    assert result[0, 0] == luma((255, 0, 0))
    assert result[15, 0] == 255


def test_background_setting_is_used(tmp_path):
    path = save(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), tmp_path / "clear.png")
    settings = PreprocessSettings(mode="RGB", size=(8, 8), background=(10, 20, 30))

    result = decode(path, settings, 32).pixels

    assert result.shape == (8, 8, 3)
    assert result[4, 4].tolist() == [10, 20, 30]


def test_la_image_hides_its_gray_under_alpha(tmp_path):
    pixels = np.zeros((10, 10, 2), dtype=np.uint8)
    pixels[..., 0] = 200
    pixels[:5, :5] = (0, 255)
    path = save(Image.fromarray(pixels, "LA"), tmp_path / "la.png")

    result = decode(path, PreprocessSettings(size=(10, 10)), 32).pixels

    assert result[0, 0] == 0
    assert result[9, 9] == 255


def test_palette_transparency_is_honoured(tmp_path):
    image = Image.new("P", (10, 10), 0)
    image.putpalette([255, 0, 255, 0, 0, 255] + [0] * 762)
    image.paste(1, (5, 0, 10, 10))
    path = save(image, tmp_path / "p.png", transparency=0)

    result = decode(path, PreprocessSettings(size=(10, 10)), 32).pixels

    assert result[5, 0] == 255  # transparent magenta shows the white background
    assert result[5, 9] == luma((0, 0, 255))


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100, 65535, 30000]], dtype=np.uint16)
    path = save(Image.fromarray(values), tmp_path / "deep.png")

    result = decode(path, PreprocessSettings(size=(4, 1)), 32).pixels

    assert result.tolist() == [[0, 100, 255, round(30000 * 255 / 65535)]]


def test_cmyk_jpeg_becomes_the_same_gray_as_its_rgb(tmp_path):
    cmyk = Image.new("CMYK", (16, 16), (255, 0, 0, 0))  # pure cyan
    path = save(cmyk, tmp_path / "cmyk.jpg", quality=100)

    result = decode(path, PreprocessSettings(size=(16, 16)), 32).pixels

    assert abs(int(result[8, 8]) - luma((0, 255, 255))) <= 3


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.full((20, 40, 3), 255, dtype=np.uint8)
    pixels[:, :20] = 0  # stored landscape: black left half
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = save(image, tmp_path / "rotated.jpg", exif=exif, quality=95)

    decoded = decode(path, PreprocessSettings(size=(20, 40)), 40)

    assert decoded.pixels.shape == (40, 20)
    assert decoded.pixels[5, 10] < 30  # the black half is now on top
    assert decoded.pixels[35, 10] > 225
    assert (decoded.thumbnail.width, decoded.thumbnail.height) == (20, 40)


def test_animated_gif_uses_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 10), colour) for colour in ("red", "blue", "green")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)

    decoded = decode(path, PreprocessSettings(size=(10, 10)), 32)

    assert decoded.frames == 3
    assert abs(int(decoded.pixels[5, 5]) - luma((255, 0, 0))) <= 1


@pytest.mark.parametrize("fit,expected_corner", [("pad", 255), ("crop", 0), ("stretch", 0)])
def test_fit_modes(tmp_path, fit, expected_corner):
    path = save(Image.new("L", (40, 20), 0), tmp_path / "wide.png")

    result = decode(path, PreprocessSettings(size=(10, 10), fit=fit), 32).pixels

    assert result.shape == (10, 10)
    assert result[0, 0] == expected_corner
    assert result[5, 5] == 0


def test_thumbnail_keeps_aspect_and_carries_no_metadata(tmp_path):
    image = Image.new("RGB", (300, 150), "orange")
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    path = save(image, tmp_path / "meta.jpg", exif=exif, comment=b"SecretComment")

    thumb = decode(path, GRAY, 96).thumbnail

    assert (thumb.width, thumb.height) == (96, 48)
    assert b"SecretCameraMaker" not in thumb.data
    assert b"SecretComment" not in thumb.data
    with Image.open(io.BytesIO(thumb.data)) as shown:
        assert shown.mode == "RGB"
        assert "exif" not in shown.info


def test_small_thumbnail_carries_no_metadata_either(tmp_path):
    """A picture that already fits is encoded without a resize; its metadata stays out all
    the same."""
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    path = save(Image.new("RGB", (40, 30), "teal"), tmp_path / "small.jpg", exif=exif,
                comment=b"SecretComment")

    thumb = decode(path, GRAY, 96).thumbnail

    assert (thumb.width, thumb.height) == (40, 30)
    assert b"SecretCameraMaker" not in thumb.data
    assert b"SecretComment" not in thumb.data


@pytest.mark.parametrize("content,reason", [
    (b"just some text, not an image\n", "not a recognised image format"),
    (b"", "not a recognised image format"),
])
def test_non_images_are_refused_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "fake.png"
    path.write_bytes(content)
    with pytest.raises(DecodeError, match=reason):
        decode(path, GRAY, 32)


def test_truncated_file_is_refused(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    whole = tmp_path / "whole.jpg"
    Image.fromarray(noise).save(whole, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])

    with pytest.raises(DecodeError, match="truncated"):
        decode(cut, GRAY, 32)


def test_load_images_skips_bad_files_and_keeps_order(tmp_path):
    good = [save(Image.new("L", (5, 5), v), tmp_path / f"{v:03d}.png") for v in (10, 200)]
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    candidates = [Candidate("010.png", good[0]), Candidate("bad.png", bad),
                  Candidate("200.png", good[1])]

    loaded = load_images(candidates, PreprocessSettings(size=(5, 5)), 32)

    assert loaded.names == ["010.png", "200.png"]
    assert loaded.pixels.shape == (2, 5, 5)
    assert loaded.pixels[:, 0, 0].tolist() == [10, 200]
    assert [s.rel for s in loaded.skipped] == ["bad.png"]
