"""Decode image files into the uniform arrays the analysis compares, plus their thumbnails.

Each file is decoded once; the same decoded picture gives both the analysis array and the
thumbnail shown in the report. Files are decoded by a pool of worker processes, results come
back in input order, and arrays and thumbnails stream to on-disk stores as they arrive.
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import multiprocessing
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .analysis import MeanAccumulator
from .cache import Cache, CachedImage
from .config import PreprocessSettings
from .discovery import Candidate, Skipped, printable
from .store import ArrayStore, Thumbnail, ThumbnailStore

log = logging.getLogger(__name__)

LANCZOS = Image.Resampling.LANCZOS
# Thumbnails are only looked at: a Hamming window shrinks them in half the time of Lanczos with
# no difference the eye notices at their size. The arrays the analysis compares use Lanczos.
THUMBNAIL_RESAMPLE = Image.Resampling.HAMMING
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
THUMBNAIL_FORMAT = "jpeg"
THUMBNAIL_QUALITY = 85


class DecodeError(Exception):
    """A file that cannot be used as an image; the message says why, for a person.

    ``passing`` marks reasons that may not hold next time (no permission, an I/O error, too
    little memory), as opposed to what the file itself holds.
    """

    def __init__(self, reason: str, passing: bool = False):
        super().__init__(reason)
        self.passing = passing


class PassingFailure(str):
    """The reason a file was skipped this time only; it is never cached."""


@dataclass(frozen=True)
class DecodedImage:
    """One file after preprocessing: the analysis array and what the report shows of it."""

    image: Image.Image
    thumbnail: Thumbnail
    frames: int

    @property
    def pixels(self) -> np.ndarray:
        """The preprocessed image as a uint8 array, (height, width) or (height, width, 3)."""
        return np.asarray(self.image, dtype=np.uint8)


@dataclass
class LoadedSet:
    """Every usable image in input order, its arrays and thumbnails on disk, and the rest.

    ``mean`` is the per-pixel mean, accumulated while the images streamed in.
    """

    names: list[str]
    keys: list[str]
    paths: list[Path]
    arrays: ArrayStore
    thumbnails: ThumbnailStore
    skipped: list[Skipped] = field(default_factory=list)
    mean: np.ndarray | None = None
    decoded: int = 0  # images decoded in this run rather than taken from the cache
    passing: int = 0  # files skipped for reasons that may not hold next time

    @property
    def pixels(self) -> np.ndarray:
        """All arrays in memory at once; for small sets and tests."""
        return self.arrays.read_all()

    def close(self) -> None:
        self.arrays.close()
        self.thumbnails.close()


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
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        # Pasting through the alpha channel onto an opaque canvas gives exactly the pixels of
        # an alpha composite (checked for every value, alpha and background level) in half
        # the time, with no conversion back from RGBA.
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba)
        return canvas
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
    """Encode a small copy of ``image`` with its aspect kept and no metadata carried over.

    What is encoded has an empty info dict, so no EXIF, GPS, ICC profile or comment reaches
    the thumbnail; ``image`` itself is left as it is.
    """
    # Copied only when something must change: a picture that already fits and carries no
    # metadata is encoded as it is.
    small = image.copy() if image.info or max(image.size) > longest_side else image
    small.thumbnail((longest_side, longest_side), THUMBNAIL_RESAMPLE)
    small.info = {}
    buffer = io.BytesIO()
    small.save(buffer, THUMBNAIL_FORMAT, quality=THUMBNAIL_QUALITY)
    return Thumbnail(buffer.getvalue(), small.width, small.height)


def _draft_size(settings: PreprocessSettings, thumbnail_size: int) -> tuple[int, int]:
    """The smallest decoded size that still serves both the array and the thumbnail.

    Square, so that it holds whichever way the EXIF orientation turns the picture, and large
    enough on the short side for a centre crop.
    """
    side = max(*settings.size, thumbnail_size)
    return (side, side)


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
                if settings.draft and opened.format == "JPEG":
                    # Let the JPEG decoder scale down by 1/2, 1/4 or 1/8 while decoding.
                    opened.draft(opened.mode, _draft_size(settings, thumbnail_size))
                opened.load()
                # Turned in place: a copy of every picture only to turn the few with an EXIF
                # orientation would cost as much as the transparency step.
                ImageOps.exif_transpose(opened, in_place=True)
                image = flatten(to_eight_bit(opened), settings.background)
                # Transparency was the last use of the file's metadata. The picture is this
                # run's own, so dropping it here spares the thumbnail a copy.
                image.info = {}
    except UnidentifiedImageError:
        raise DecodeError("not a recognised image format") from None
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"too many pixels to decode safely ({exc})") from None
    except MemoryError:
        raise DecodeError("too large to decode in the memory available", passing=True) from None
    except OSError as exc:
        # An errno means the system failed to read the file; its content was never judged.
        raise DecodeError(_describe_failure(exc), passing=exc.errno is not None) from None
    except Exception as exc:  # noqa: BLE001 - image plugins raise many kinds; any one skips it
        raise DecodeError(_describe_failure(exc)) from None

    thumbnail = make_thumbnail(image, thumbnail_size)
    converted = image if image.mode == settings.mode else image.convert(settings.mode)
    sized = fit_to_size(converted, settings.size, settings.fit, settings.background)
    return DecodedImage(sized, thumbnail, frames)


def _describe_failure(exc: BaseException) -> str:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        message = exc.strerror
    if "truncated" in message.lower() or isinstance(exc, EOFError):
        return f"truncated file ({message})"
    return f"corrupt or unreadable image data ({message})"


# Each worker process receives the settings once, through the pool's initializer.
_worker_settings: tuple[PreprocessSettings, int] | None = None


def _start_worker(settings: PreprocessSettings, thumbnail_size: int) -> None:
    global _worker_settings
    _worker_settings = (settings, thumbnail_size)


def _decode_for_pool(path: Path | str) -> CachedImage | str:
    """Decode in a worker with the settings it was started with."""
    return decode_result(path, *_worker_settings)


def decode_result(path: Path | str, settings: PreprocessSettings, thumbnail_size: int
                  ) -> CachedImage | str:
    """Decode one file; return plain bytes (cheap to send between processes) or the reason
    the file is skipped."""
    try:
        decoded = decode(path, settings, thumbnail_size)
    except DecodeError as exc:
        return PassingFailure(exc) if exc.passing else str(exc)
    return decoded.image.tobytes(), decoded.thumbnail, decoded.frames


class WorkerLost(RuntimeError):
    """A decoding worker process died (killed, out of memory, or a crash in a decoder)."""


class DecoderPool:
    """Worker processes that decode files, started before the run builds up its own memory.

    On Linux workers are forked while the parent is still small, so each holds little more
    than the libraries. Results come back in input order whatever order the workers finish
    in, and a worker that dies stops the run with :class:`WorkerLost` instead of leaving it
    waiting. With one worker, files are decoded in this process.
    """

    def __init__(self, settings: PreprocessSettings, thumbnail_size: int, workers: int):
        self.settings = settings
        self.thumbnail_size = thumbnail_size
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> DecoderPool:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> DecoderPool:
        if self.workers > 1 and self._executor is None:
            method = "fork" if sys.platform.startswith("linux") else "spawn"
            # Frozen objects are left alone by the workers' garbage collector, so workers do
            # not copy the parent's memory page by page just by scanning it.
            gc.freeze()
            try:
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context(method),
                    initializer=_start_worker, initargs=(self.settings, self.thumbnail_size))
                self._executor.submit(int).result()  # start the workers now, while small
            finally:
                gc.unfreeze()
        return self

    def close(self) -> None:
        """Stop the workers; safe to call more than once."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def decode_all(self, paths: list[Path | str]) -> Iterator[CachedImage | str]:
        """Decode ``paths``, yielding each result in the order of ``paths``."""
        if self._executor is None or len(paths) < 2 * self.workers:
            _start_worker(self.settings, self.thumbnail_size)
            yield from map(_decode_for_pool, paths)
            return
        chunk = max(1, min(64, len(paths) // (self.workers * 8)))
        try:
            yield from self._executor.map(_decode_for_pool, paths, chunksize=chunk)
        except BrokenProcessPool:
            raise WorkerLost("a decoding worker process stopped unexpectedly (out of memory, "
                             "killed, or a crash inside an image decoder)") from None


@contextlib.contextmanager
def progress_bar(total: int, shown: bool) -> Iterator[Callable[[], None]]:
    """A function to call once per file, drawing a progress bar when ``shown``.

    tqdm is imported only when a bar is drawn: its import costs more than a small run's
    analysis.
    """
    if not shown:
        yield lambda: None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    # Warnings go through tqdm while the bar is drawn, so they do not run into it.
    with tqdm(total=total, desc="Decoding", unit="img", leave=False) as bar, \
            logging_redirect_tqdm(loggers=[logging.getLogger("report")]):
        yield bar.update


def _array_shape(settings: PreprocessSettings) -> tuple[int, ...]:
    width, height = settings.size
    return (height, width) if settings.mode == "L" else (height, width, 3)


def load_images(
    candidates: Iterable[Candidate],
    settings: PreprocessSettings,
    thumbnail_size: int,
    progress: bool = False,
    workers: int = 1,
    cache: Cache | None = None,
    pool: DecoderPool | None = None,
) -> LoadedSet:
    """Decode every candidate, in input order; files that fail are skipped and listed.

    Files the cache already holds for these settings are not decoded again. Pass a running
    ``pool`` to reuse its workers; otherwise one with ``workers`` processes is started here.
    """
    if pool is None:
        with DecoderPool(settings, thumbnail_size, workers) as own_pool:
            return load_images(candidates, settings, thumbnail_size, progress, workers, cache,
                               own_pool)

    candidates = list(candidates)
    cached = [cache is not None and cache.has(c.path, c.size, c.stamp) for c in candidates]
    to_decode = [c.path for c, hit in zip(candidates, cached) if not hit]
    loaded = LoadedSet([], [], [], ArrayStore(_array_shape(settings)), ThumbnailStore())
    accumulator = MeanAccumulator()

    decoded = pool.decode_all(to_decode)
    with progress_bar(len(candidates), progress) as advance:
        for candidate, hit in zip(candidates, cached):
            result = cache.get(candidate.path, candidate.size, candidate.stamp) if hit else None
            if isinstance(result, tuple) and len(result[0]) != loaded.arrays.item_bytes:
                result = None  # a damaged entry: decode the file again
            fresh = result is None
            if fresh:
                # A cache entry that vanished since the check is simply decoded here.
                result = (decode_result(candidate.path, settings, thumbnail_size) if hit
                          else next(decoded))
                _remember(cache, candidate, result)
            advance()
            if isinstance(result, str):
                loaded.passing += isinstance(result, PassingFailure)
                log.warning("skipped %s: %s", printable(candidate.rel), printable(result))
                loaded.skipped.append(Skipped(candidate.rel, result))
                continue
            pixels, thumbnail, _frames = result
            loaded.decoded += fresh
            loaded.arrays.append(pixels)
            accumulator.add_one(np.frombuffer(pixels, np.uint8).reshape(loaded.arrays.shape))
            loaded.thumbnails.append(thumbnail)
            loaded.names.append(candidate.rel)
            loaded.keys.append(candidate.key or candidate.rel)
            loaded.paths.append(candidate.path)
    if loaded.names:
        loaded.mean = accumulator.mean()
    return loaded


def _remember(cache: Cache | None, candidate: Candidate, result: CachedImage | str) -> None:
    """Store a fresh result in the cache, unless it is a failure that may pass."""
    if cache is not None and not isinstance(result, PassingFailure):
        cache.put(candidate.path, candidate.size, candidate.stamp, result)
