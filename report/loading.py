"""Decode image files into the uniform arrays the analysis compares, plus their thumbnails.

Each file is decoded once; the same decoded picture gives both the analysis array and the
thumbnail shown in the report.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from .config import PreprocessSettings
from .discovery import Candidate, Skipped, printable

log = logging.getLogger(__name__)

LANCZOS = Image.Resampling.LANCZOS
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
THUMBNAIL_FORMAT = "webp"
THUMBNAIL_QUALITY = 82


class DecodeError(Exception):
    """A file that cannot be used as an image; the message says why, for a person."""


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class DecodedImage:
    """One file after preprocessing: the analysis array and what the report shows of it."""

    pixels: np.ndarray
    thumbnail: Thumbnail
    frames: int


@dataclass
class LoadedSet:
    """Every usable image in input order, as one stacked array, and the files left out."""

    names: list[str]
    keys: list[str]
    paths: list[Path]
    pixels: np.ndarray
    thumbnails: list[Thumbnail]
    frames: list[int]
    skipped: list[Skipped]


def to_eight_bit(image: Image.Image) -> Image.Image:
    """Bring 16-bit, 32-bit and float single-channel data to 8 bits by scaling, not clipping.

    A transparent value recorded in the file becomes an alpha channel, so it still composites.
    """
    if image.mode not in _SIXTEEN_BIT_MODES and image.mode not in ("I", "F"):
        return image

    values = np.asarray(image)
    if image.mode in _SIXTEEN_BIT_MODES:
        scaled = (values.astype(np.uint32) * 255 + 32767) // 65535
    else:
        scaled = _scale_wide(values.astype(np.float64), unit_range=image.mode == "F")
    gray = Image.fromarray(scaled.astype(np.uint8), "L")

    transparent = image.info.get("transparency")
    if isinstance(transparent, (int, float)):
        alpha = Image.fromarray(np.where(values == transparent, 0, 255).astype(np.uint8), "L")
        gray = Image.merge("LA", (gray, alpha))
    return gray


def _scale_wide(values: np.ndarray, unit_range: bool) -> np.ndarray:
    """Map 32-bit or float samples onto 0-255 by the range their values evidently use.

    Float images within 0-1 are taken as 0-1 data; otherwise the range decides: 8-bit,
    16-bit, or the data's own minimum to maximum. Non-finite values are clamped.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape)
    low, high = float(finite.min()), float(finite.max())
    values = np.clip(np.nan_to_num(values, nan=low, posinf=high, neginf=low), low, high)
    if unit_range and low >= 0 and high <= 1:
        scaled = values * 255
    elif low >= 0 and high <= 255:
        scaled = values
    elif low >= 0 and high <= 65535:
        scaled = values * (255 / 65535)
    elif high > low:
        scaled = (values - low) * (255 / (high - low))
    else:
        scaled = np.zeros_like(values)
    return np.rint(scaled)


def flatten(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Composite any transparency onto ``background`` and return an "L" or "RGB" image.

    Transparency may be an alpha channel or a transparent colour or palette index recorded
    in the file; both are honoured, so colours hidden under transparent pixels never show.
    """
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    if image.mode in ("L", "RGB"):
        return image
    if image.mode == "1":
        return image.convert("L")
    return image.convert("RGB")


def fit_to_size(
    image: Image.Image, size: tuple[int, int], fit: str, background: tuple[int, int, int]
) -> Image.Image:
    """Bring ``image`` to ``size`` by stretching, letterboxing or centre-cropping (Lanczos)."""
    if image.size == size:
        return image
    if fit == "stretch":
        return image.resize(size, LANCZOS)
    if fit == "crop":
        return ImageOps.fit(image, size, method=LANCZOS)
    fill = Image.new("RGB", (1, 1), background).convert(image.mode).getpixel((0, 0))
    return ImageOps.pad(image, size, method=LANCZOS, color=fill)


def make_thumbnail(image: Image.Image, longest_side: int) -> Thumbnail:
    """Encode a small copy of ``image`` with its aspect kept and no metadata carried over."""
    small = image.copy()
    small.thumbnail((longest_side, longest_side), LANCZOS)
    # A fresh image from the raw pixels has an empty info dict: no EXIF, GPS or ICC survives.
    clean = Image.frombytes(small.mode, small.size, small.tobytes())
    buffer = io.BytesIO()
    clean.save(buffer, THUMBNAIL_FORMAT, quality=THUMBNAIL_QUALITY, method=4)
    return Thumbnail(buffer.getvalue(), clean.width, clean.height)


def decode(path: Path, settings: PreprocessSettings, thumbnail_size: int) -> DecodedImage:
    """Decode one file and preprocess it; raise :class:`DecodeError` if it cannot be used."""
    try:
        with warnings.catch_warnings():
            # Pillow warns about palette transparency that flatten() handles on purpose, and
            # about large images, which are decoded all the same up to its hard limit.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                frames = getattr(opened, "n_frames", 1)
                opened.load()
                image = ImageOps.exif_transpose(opened)
                image = flatten(to_eight_bit(image), settings.background)
    except UnidentifiedImageError:
        raise DecodeError("not a recognised image format") from None
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"too many pixels to decode safely ({exc})") from None
    except MemoryError:
        raise DecodeError("too large to decode in the memory available") from None
    except Exception as exc:  # noqa: BLE001 - image plugins raise many kinds; any one skips the file
        raise DecodeError(_describe_failure(exc)) from None

    thumbnail = make_thumbnail(image, thumbnail_size)
    converted = image if image.mode == settings.mode else image.convert(settings.mode)
    sized = fit_to_size(converted, settings.size, settings.fit, settings.background)
    return DecodedImage(np.asarray(sized, dtype=np.uint8), thumbnail, frames)


def _describe_failure(exc: BaseException) -> str:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        message = exc.strerror
    if "truncated" in message.lower() or isinstance(exc, EOFError):
        return f"truncated file ({message})"
    return f"corrupt or unreadable image data ({message})"


def load_images(
    candidates: Iterable[Candidate],
    settings: PreprocessSettings,
    thumbnail_size: int,
    progress: bool = False,
) -> LoadedSet:
    """Decode every candidate in order; files that fail are skipped and listed, not fatal."""
    candidates = list(candidates)
    width, height = settings.size
    shape = (height, width) if settings.mode == "L" else (height, width, 3)
    pixels = np.empty((len(candidates), *shape), dtype=np.uint8)
    loaded = LoadedSet([], [], [], pixels, [], [], [])

    bar = tqdm(candidates, desc="Decoding", unit="img", disable=not progress, leave=False)
    # Warnings go through tqdm while the bar is drawn, so they do not run into it.
    with logging_redirect_tqdm(loggers=[logging.getLogger("report")]):
        for candidate in bar:
            try:
                decoded = decode(candidate.path, settings, thumbnail_size)
            except DecodeError as exc:
                log.warning("skipped %s: %s", printable(candidate.rel), exc)
                loaded.skipped.append(Skipped(candidate.rel, str(exc)))
                continue
            pixels[len(loaded.names)] = decoded.pixels
            loaded.names.append(candidate.rel)
            loaded.keys.append(candidate.key or candidate.rel)
            loaded.paths.append(candidate.path)
            loaded.thumbnails.append(decoded.thumbnail)
            loaded.frames.append(decoded.frames)

    loaded.pixels = pixels[: len(loaded.names)]
    return loaded
