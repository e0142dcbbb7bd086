"""The benchmark's data sets: the real folders in ``../shared/data`` and generated ones.

Generated sets are built from the real Noto emoji and Pokemon sprites with small, seeded
transforms (flip, rotation, shift, crop, brightness, size between 64 and 120 pixels), so every
image differs from every other while the collection still looks like real icons. About one in
five is saved as JPEG, the rest as PNG, all in one flat folder. The same index always gives the
same image, so a set can be rebuilt or resumed and stays identical.

The tool only ever reads a private copy of a folder (copied for the real sets, hard-linked for
generated ones), so nothing it might write beside its input, and no file the benchmark changes
for a rerun, can reach the shared data.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageEnhance

REAL_SETS = ("pokemon", "noto_emoji_72", "imagenet_sample", "pokemon_artwork1017")
GENERATOR_SOURCES = ("noto_emoji_72", "pokemon")
SEED = "mean-image-report benchmark"
JPEG_SHARE = 0.2
WORKERS = 2
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class DataSet:
    """One folder of images to benchmark."""

    name: str
    folder: Path
    generated: bool

    def files(self) -> list[Path]:
        """The regular, non-hidden files in the folder (images and anything else)."""
        return sorted(path for path in self.folder.iterdir()
                      if path.is_file() and not path.name.startswith("."))

    def jpeg_count(self) -> int:
        """How many of the files are JPEG, judged by their first bytes."""
        count = 0
        for path in self.files():
            with open(path, "rb") as handle:
                count += handle.read(3) == b"\xff\xd8\xff"
        return count


def generated_name(size: int) -> str:
    """The set name for a generated size: 1000 -> gen-1k."""
    return f"gen-{size // 1000}k" if size % 1000 == 0 else f"gen-{size}"


def real_sets(data_dir: Path) -> tuple[list[DataSet], list[str]]:
    """The real sets that are present, and a note for each that is not."""
    found, notes = [], []
    for name in REAL_SETS:
        folder = data_dir / name
        if folder.is_dir():
            found.append(DataSet(name, folder, generated=False))
        else:
            notes.append(f"{name}: skipped, {folder} is absent")
    return found, notes


# Generation ------------------------------------------------------------------------------

def source_images(data_dir: Path) -> list[Path]:
    """The real images the generated sets are made from, in a fixed order."""
    sources = []
    for name in GENERATOR_SOURCES:
        folder = data_dir / name
        if folder.is_dir():
            sources.extend(sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png"))
    if not sources:
        raise SystemExit(f"no source images for generated sets in {data_dir}")
    return sources


def _brighten(image: Image.Image, factor: float) -> Image.Image:
    """Scale the colour channels' brightness, leaving the alpha channel alone."""
    rgb = ImageEnhance.Brightness(image.convert("RGB")).enhance(factor)
    rgb.putalpha(image.getchannel("A"))
    return rgb


def make_image(index: int, sources: list[Path]) -> tuple[Image.Image, str]:
    """The generated image with this index, and the format to save it in."""
    rng = random.Random(f"{SEED}:{index}")
    with Image.open(sources[rng.randrange(len(sources))]) as original:
        image = original.convert("RGBA")

    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    width, height = image.size
    shift = (rng.randint(-width // 12, width // 12), rng.randint(-height // 12, height // 12))
    image = image.rotate(rng.uniform(-12.0, 12.0), resample=Image.Resampling.BICUBIC,
                         translate=shift, fillcolor=(0, 0, 0, 0))
    keep = rng.uniform(0.82, 1.0)
    left = rng.uniform(0, 1 - keep) * width
    top = rng.uniform(0, 1 - keep) * height
    image = image.crop((round(left), round(top),
                        round(left + keep * width), round(top + keep * height)))
    image = _brighten(image, rng.uniform(0.8, 1.2))

    side = rng.randint(64, 120)
    aspect = rng.uniform(0.9, 1.1)
    size = (side, max(64, min(120, round(side * aspect))))
    image = image.resize(size, Image.Resampling.LANCZOS)

    if rng.random() < JPEG_SHARE:
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        return flat, "JPEG"
    return image, "PNG"


def image_path(folder: Path, index: int, fmt: str) -> Path:
    return folder / f"g{index:06d}.{'jpg' if fmt == 'JPEG' else 'png'}"


_SOURCES: list[Path] = []


def _init_worker(sources: list[Path]) -> None:
    _SOURCES[:] = sources


def _write_chunk(task: tuple[str, list[int]]) -> int:
    """Write the images of one chunk of indices that are not there yet; return the count."""
    folder, indices = Path(task[0]), task[1]
    for index in indices:
        image, fmt = make_image(index, _SOURCES)
        target = image_path(folder, index, fmt)
        if target.exists():
            continue
        partial = folder / f".partial-{index}"
        if fmt == "JPEG":
            image.save(partial, "JPEG", quality=85)
        else:
            image.save(partial, "PNG")
        os.replace(partial, target)
    return len(indices)


def marker(work: Path, size: int) -> Path:
    return work / "sets" / f"{generated_name(size)}.complete"


def generated_set(work: Path, size: int) -> DataSet:
    name = generated_name(size)
    return DataSet(name, work / "sets" / name, generated=True)


def ensure_generated(work: Path, size: int, data_dir: Path) -> DataSet:
    """The generated set of this size, built first unless its marker says it is complete."""
    dataset = generated_set(work, size)
    done = marker(work, size)
    if done.exists() and done.read_text().strip() == str(size):
        return dataset

    dataset.folder.mkdir(parents=True, exist_ok=True)
    for partial in dataset.folder.glob(".partial-*"):
        partial.unlink()
    sources = source_images(data_dir)
    chunk = 250
    tasks = [(str(dataset.folder), list(range(start, min(start + chunk, size))))
             for start in range(0, size, chunk)]
    started, written, next_note = time.perf_counter(), 0, size / 10
    print(f"generating {dataset.name} ({size} images) in {dataset.folder}", file=sys.stderr)
    context = multiprocessing.get_context("fork")
    with context.Pool(WORKERS, initializer=_init_worker, initargs=(sources,)) as pool:
        for count in pool.imap_unordered(_write_chunk, tasks):
            written += count
            if written >= next_note:
                next_note += size / 10
                print(f"  {written}/{size} after {time.perf_counter() - started:.0f} s",
                      file=sys.stderr)
    files = sum(1 for p in dataset.folder.iterdir() if not p.name.startswith("."))
    if files != size:
        raise SystemExit(f"{dataset.folder} holds {files} files, expected {size}")
    done.write_text(f"{size}\n")
    return dataset


# Private copies, configs and changes ------------------------------------------------------

def private_copy(dataset: DataSet, work: Path) -> Path:
    """A fresh copy of the set's folder under the work folder, for the tool to read.

    Real sets are copied byte for byte; generated sets, which belong to the benchmark, are
    hard-linked (a change always replaces a file rather than writing into it).
    """
    copy = work / "copies" / dataset.name
    if copy.exists():
        shutil.rmtree(copy)
    copy.mkdir(parents=True)
    for path in dataset.files():
        if dataset.generated:
            os.link(path, copy / path.name)
        else:
            shutil.copy2(path, copy / path.name)
    return copy


def write_config(work: Path, name: str, input_dir: Path) -> tuple[Path, Path]:
    """A TOML config for the tool reading ``input_dir``; returns it and the report path."""
    report = work / "out" / name / "report.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    config = work / "configs" / f"{name}.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    # A JSON string with only printable characters is also a valid TOML basic string.
    config.write_text(
        f"# Written by benchmarks/run.py for the {name} set.\n"
        f"[input]\npath = {json.dumps(str(input_dir))}\n\n"
        # The targets are for the method alone; the review has its own figures in the README.
        f'[clusters]\nmethods = ["quantile"]\ncomponents = 0\n\n'
        f"[output]\npath = {json.dumps(str(report))}\n"
    )
    return config, report


def change_one_file(folder: Path, step: int) -> Path:
    """Change one pixel of the first image in the folder and give it a new mtime.

    The file is rewritten through a temporary file and a rename, so a hard-linked original is
    never touched. ``step`` makes each call's change differ from the last one's.
    """
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            break
    else:
        raise SystemExit(f"no image to change in {folder}")
    with Image.open(path) as original:
        fmt = original.format
        image = original.copy()
    pixel = image.getpixel((0, 0))
    if isinstance(pixel, tuple):
        pixel = ((pixel[0] + 1 + step) % 256,) + pixel[1:]
    else:
        pixel = (pixel + 1 + step) % 256
    image.putpixel((0, 0), pixel)
    partial = folder / f".partial-{path.name}"
    image.save(partial, fmt)
    os.replace(partial, path)
    now = time.time()
    os.utime(path, (now, now))
    return path
