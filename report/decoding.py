"""Decode one image file into the array the analysis compares and the thumbnail the page shows.

This is the work of the decoding processes. Each file is decoded once; the same picture gives
both the array and the thumbnail. The module needs only Pillow, so the workers can be started,
and set to work, before the main process loads the heavier libraries it needs afterwards.
"""

from __future__ import annotations

import gc
import io
import multiprocessing
import signal
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, NamedTuple

from PIL import Image, ImageOps, UnidentifiedImageError

from .config import PreprocessSettings
from .discovery import Candidate

if TYPE_CHECKING:
    from .cache import Cache

LANCZOS = Image.Resampling.LANCZOS
# Thumbnails are only looked at: a Hamming window shrinks them in half the time of Lanczos with
# no difference the eye notices at their size. The arrays the analysis compares use Lanczos.
THUMBNAIL_RESAMPLE = Image.Resampling.HAMMING
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
# Modes deeper than 8 bits, which are scaled down before anything else.
WIDE_MODES = SIXTEEN_BIT_MODES | {"I", "F"}
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


class Thumbnail(NamedTuple):
    """An encoded thumbnail and its size in pixels (a named tuple: the cheapest to send
    between processes)."""

    data: bytes
    width: int
    height: int


# What a worker returns for a decoded file: its array's bytes, its thumbnail, its frame count.
CachedImage = tuple[bytes, Thumbnail, int]


@dataclass(frozen=True)
class DecodedImage:
    """One file after preprocessing: the analysis array and what the report shows of it."""

    image: Image.Image
    thumbnail: Thumbnail
    frames: int

    @property
    def pixels(self) -> Any:
        """The preprocessed image as a uint8 array, (height, width) or (height, width, 3)."""
        import numpy as np  # the workers themselves never need numpy for this

        return np.asarray(self.image, dtype=np.uint8)


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
                image = opened
                if image.mode in WIDE_MODES:
                    from .depth import to_eight_bit  # numpy loads only for such images

                    image = to_eight_bit(image)
                image = flatten(image, settings.background)
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


def _start_pool_worker(settings: PreprocessSettings, thumbnail_size: int) -> None:
    """Set up a worker process: the main process alone answers Ctrl-C and shuts it down.

    A terminal sends Ctrl-C to every process of the command; a worker that stopped on it in
    the middle of sending a result could leave the main process waiting for it for ever. The
    handler for SIGTERM inherited from the main process is dropped too: a worker just ends.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _start_worker(settings, thumbnail_size)


def _decode_for_pool(path: Path | str) -> CachedImage | str:
    """Decode in a worker with the settings it was started with."""
    return decode_result(path, *_worker_settings)


def decode_result(path: Path | str, settings: PreprocessSettings, thumbnail_size: int
                  ) -> CachedImage | str:
    """Decode one file; return plain bytes (cheap to send between processes) or the reason
    the file is skipped. A remote file (``remote.RemoteFile``) is fetched first."""
    try:
        source = path.fetch() if hasattr(path, "fetch") else path
        decoded = decode(source, settings, thumbnail_size)
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
                    initializer=_start_pool_worker,
                    initargs=(self.settings, self.thumbnail_size))
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
        """Hand ``paths`` to the workers now; the results come in the order of ``paths``.

        The workers start at once, so the caller can do other work (such as loading the
        libraries that analyse and render) while they decode.
        """
        if self._executor is None or len(paths) < 2 * self.workers:
            _start_worker(self.settings, self.thumbnail_size)
            return map(_decode_for_pool, paths)
        chunk = max(1, min(64, len(paths) // (self.workers * 8)))
        return _reporting_lost_workers(
            self._executor.map(_decode_for_pool, paths, chunksize=chunk))


def _reporting_lost_workers(results: Iterator[CachedImage | str]
                            ) -> Iterator[CachedImage | str]:
    try:
        yield from results
    except BrokenProcessPool:
        raise WorkerLost("a decoding worker process stopped unexpectedly (out of memory, "
                         "killed, or a crash inside an image decoder)") from None


@dataclass
class Pending:
    """Files handed to the workers, in input order, with which of them the cache holds.

    ``results`` gives, in order, the result of each file the cache does not hold.
    """

    candidates: list[Candidate]
    cached: list[bool]
    results: Iterator[CachedImage | str]


def start_decoding(candidates: Iterable[Candidate], cache: Cache | None, pool: DecoderPool
                   ) -> Pending:
    """Set the workers decoding every candidate that the cache does not hold."""
    candidates = list(candidates)
    cached = [cache is not None and cache.has(c.path, c.size, c.stamp) for c in candidates]
    to_decode = [c.path for c, hit in zip(candidates, cached) if not hit]
    return Pending(candidates, cached, pool.decode_all(to_decode))
