"""Reading camera photos for prediction and real labels: any format Pillow reads, turned
upright by their EXIF orientation, as uint8 (H, W, 3) BGR (None when unreadable)."""
from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np


def read_photo(path: str | Path, apply_orientation: bool = True) -> np.ndarray | None:
    """Read a photo as uint8 (H, W, 3) BGR, as a viewer shows it; None if unreadable.

    With `apply_orientation` the EXIF Orientation tag is applied (a phone
    photo stored sideways comes back upright); OpenCV's IMREAD_COLOR does
    this (checked with Orientation=6), Pillow is the fallback for formats
    OpenCV cannot read (e.g. GIF). Alpha is dropped.
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return decode_photo(data, apply_orientation)


def decode_photo(data: bytes, apply_orientation: bool = True) -> np.ndarray | None:
    """Decode photo bytes like :func:`read_photo`; None if not an image."""
    if not data:
        return None
    flags = cv2.IMREAD_COLOR if apply_orientation else cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        image = None
    if image is not None:
        return image
    try:
        from PIL import Image, ImageOps

        with Image.open(io.BytesIO(data)) as pil:
            if apply_orientation:
                pil = ImageOps.exif_transpose(pil)
            rgb = np.asarray(pil.convert("RGB"))
    except Exception:  # Pillow raises many types for broken files; all mean "unreadable"
        return None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
