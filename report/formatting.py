"""How numbers and pictures are written into the page."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def format_distance(value: float | None) -> str:
    """Distances are large sums of squares; whole numbers with separators read best."""
    return "–" if value is None else f"{value:,.0f}"


def format_signed(value: float | None, places: int = 2) -> str:
    """A correlation or score with a true minus sign, or a dash when there is none."""
    if value is None:
        return "–"
    text = f"{value:+.{places}f}"
    if float(text) == 0:
        return f"{0:.{places}f}"  # no sign on a value that rounds to zero
    return text.replace("-", "\u2212") if text.startswith("-") else text


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def png_data_uri(pixels: np.ndarray) -> str:
    """A float or uint8 image array as a lossless PNG data URI, rounded to 8 bits."""
    array = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", optimize=False, compress_level=9)
    return data_uri(buffer.getvalue(), "image/png")
