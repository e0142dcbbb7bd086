"""Bring images deeper than 8 bits (16-bit, 32-bit, float) to 8 bits by scaling.

Kept apart from decoding because it needs numpy, which a worker then loads only when it meets
such an image.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .decoding import SIXTEEN_BIT_MODES


def to_eight_bit(image: Image.Image) -> Image.Image:
    """Bring 16-bit, 32-bit and float single-channel data to 8 bits by scaling, not clipping.

    A transparent value recorded in the file becomes an alpha channel, so it still composites.
    """
    if image.mode not in SIXTEEN_BIT_MODES and image.mode not in ("I", "F"):
        return image

    values = np.asarray(image)
    if image.mode in SIXTEEN_BIT_MODES:
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
