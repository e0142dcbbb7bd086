"""The plain decode floor: open every file in a folder, convert it to ``L``, resize to 100x100.

Nothing else happens: no alpha compositing, no thumbnails, no analysis, no output. It is the
least work any tool that reads every image at 100x100 grayscale has to do in one process, so it
is the yardstick for the tool's end-to-end time.

    python benchmarks/floor.py FOLDER [--draft]

``--draft`` asks the JPEG decoder for a reduced-size grayscale decode first
(``Image.draft("L", (100, 100))``); other formats ignore it. The script prints how many files
it decoded and how many it could not open.
"""

from __future__ import annotations

import argparse
import os
import sys

from PIL import Image

SIZE = (100, 100)


def image_files(folder: str) -> list[str]:
    """Every regular, non-hidden file directly in the folder, in name order."""
    with os.scandir(folder) as entries:
        return sorted(entry.path for entry in entries
                      if entry.is_file() and not entry.name.startswith("."))


def decode(path: str, draft: bool) -> None:
    """Decode one file to a 100x100 grayscale image and drop it."""
    with Image.open(path) as image:
        if draft:
            image.draft("L", SIZE)
        image.convert("L").resize(SIZE, Image.Resampling.LANCZOS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--draft", action="store_true", help="use JPEG draft decoding")
    args = parser.parse_args()

    decoded = failed = 0
    for path in image_files(args.folder):
        try:
            decode(path, args.draft)
        except (OSError, ValueError, Image.DecompressionBombError):
            failed += 1
        else:
            decoded += 1
    print(f"decoded={decoded} failed={failed}")
    return 0 if decoded else 1


if __name__ == "__main__":
    sys.exit(main())
