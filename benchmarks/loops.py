"""The slow baseline: the original experiment's method written with per-pixel Python loops.

Each image is loaded as the decode floor does (convert to ``L``, resize to 100x100 with
Lanczos) and kept as a plain list of pixel values. The mean image, every image's squared
distance to it, the ranking and the quantile cluster edges are then computed with ordinary
``for`` loops over pixels, without numpy, the way the method is usually first written.

    python benchmarks/loops.py FOLDER [--clusters 4]

It prints the image count, the cluster sizes and the nearest and farthest image.
"""

from __future__ import annotations

import argparse
import os
import sys

from PIL import Image

SIZE = (100, 100)


def load(folder: str) -> tuple[list[str], list[list[int]]]:
    """Names and pixel lists of every file in the folder that decodes."""
    names, images = [], []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        try:
            with Image.open(path) as image:
                small = image.convert("L").resize(SIZE, Image.Resampling.LANCZOS)
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
        names.append(name)
        images.append(list(small.getdata()))
    return names, images


def mean_image(images: list[list[int]]) -> list[float]:
    """The per-pixel mean of all images."""
    pixels = len(images[0])
    total = [0.0] * pixels
    for image in images:
        for i in range(pixels):
            total[i] += image[i]
    count = len(images)
    mean = [0.0] * pixels
    for i in range(pixels):
        mean[i] = total[i] / count
    return mean


def squared_distance(image: list[int], mean: list[float]) -> float:
    """The squared Euclidean distance between one image and the mean, pixel by pixel."""
    distance = 0.0
    for i in range(len(image)):
        difference = image[i] - mean[i]
        distance += difference * difference
    return distance


def quantile(sorted_values: list[float], fraction: float) -> float:
    """The quantile of sorted values with linear interpolation between neighbours."""
    position = fraction * (len(sorted_values) - 1)
    below = int(position)
    above = min(below + 1, len(sorted_values) - 1)
    weight = position - below
    return sorted_values[below] + (sorted_values[above] - sorted_values[below]) * weight


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--clusters", type=int, default=4)
    args = parser.parse_args()

    names, images = load(args.folder)
    if not images:
        print("no image decoded", file=sys.stderr)
        return 1

    mean = mean_image(images)
    distances = []
    for image in images:
        distances.append(squared_distance(image, mean))

    ranking = sorted(range(len(images)), key=lambda k: (distances[k], names[k]))
    ranked = [distances[k] for k in ranking]
    edges = []
    for step in range(1, args.clusters):
        edges.append(quantile(ranked, step / args.clusters))

    sizes = [0] * args.clusters
    for distance in ranked:
        below = 0
        for edge in edges:
            if edge < distance:
                below += 1
        sizes[below] += 1

    print(f"images={len(images)} clusters={sizes}")
    print(f"nearest={names[ranking[0]]} farthest={names[ranking[-1]]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
