"""File helpers shared by every stage: atomic writes, image decoding, listing.

Conventions (see HACKING.md):
- Images in memory are numpy arrays in OpenCV channel order: uint8, shape
  (H, W, 3) BGR or (H, W, 4) BGRA; masks are uint8 (H, W) with values 0 or 255.
- Every file is written to a temporary name in the same folder and renamed into
  place, so a killed stage never leaves a half-written file.
- A stage that fills a whole output folder builds it in a hidden sibling folder
  (:func:`staged_dir`) and swaps it in at the end.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from deeptrash.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of `data`; files are named by it."""
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a temp file + rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj) -> Path:
    """Write JSON (sorted keys, 2-space indent) atomically; used for metrics/."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_write_csv(path: str | Path, frame) -> Path:
    """Write a pandas DataFrame as CSV (no index) atomically."""
    return atomic_write_text(path, frame.to_csv(index=False))


def encode_image(image: np.ndarray, suffix: str = ".png", quality: int = 95) -> bytes:
    """Encode a uint8 BGR/BGRA/gray array to PNG or JPEG bytes."""
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, buffer = cv2.imencode(suffix, image, params)
    if not ok:
        raise ValueError(f"could not encode image as {suffix}")
    return buffer.tobytes()


def write_image(path: str | Path, image: np.ndarray, quality: int = 95) -> Path:
    """Atomically write an image; the format follows the suffix of `path`."""
    path = Path(path)
    return atomic_write_bytes(path, encode_image(image, path.suffix, quality))


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to width x height: area averaging when shrinking (no aliasing), bilinear when growing."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrinking = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def shrink_to(image: np.ndarray, long_side: int) -> np.ndarray:
    """Scale an image down so its long side is at most `long_side` px (never up)."""
    height, width = image.shape[:2]
    scale = shrink_factor(image.shape, long_side)
    if scale == 1:
        return image
    return resize(image, max(1, round(width * scale)), max(1, round(height * scale)))


def shrink_factor(shape: tuple[int, ...], long_side: int) -> float:
    """Factor (<= 1) that brings the long side of an image of `shape` down to `long_side` px."""
    return min(1.0, long_side / max(shape[0], shape[1]))


def scale_by(image: np.ndarray, factor: float) -> np.ndarray:
    """Scale an image by `factor` (OpenCV's fx/fy; area averaging down, bilinear up).

    Unlike :func:`shrink_to` it may enlarge, and OpenCV sizes the result
    itself; analyses whose thresholds were tuned on it keep exactly its pixels.
    """
    if factor == 1:
        return image
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=interpolation)


def flatten_alpha(image: np.ndarray, background: int | np.ndarray = 128) -> np.ndarray:
    """uint8 (H, W, 3): a BGRA image composited over `background`; BGR or grey pass through.

    `background` is a grey level or a uint8 (H, W, 3) picture (e.g. a
    checkerboard). Values are truncated, not rounded.
    """
    if image.ndim != 3 or image.shape[2] != 4:
        return image
    alpha = image[:, :, 3:4].astype(np.float32) / 255.0
    if isinstance(background, np.ndarray):
        background = background.astype(np.float32)
    return (image[:, :, :3] * alpha + background * (1 - alpha)).astype(np.uint8)


def pieces_touching(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The 8-connected pieces of bool (H, W) `mask` that some `seed` pixel falls in: bool (H, W).

    seed: bool (H, W); its pixels outside `mask` are ignored. One helper for
    a piece's own soft alpha (crop) and hysteresis thresholds (inference).
    """
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    touched = np.zeros(count, bool)
    touched[labels[seed]] = True
    touched[0] = False  # the label of everything outside the mask
    return touched[labels]


def decode_image(data: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray | None:
    """Decode image bytes to uint8 BGR/BGRA (gray becomes BGR); None if unreadable."""
    array = np.frombuffer(data, dtype=np.uint8)
    if array.size == 0:
        return None
    image = cv2.imdecode(array, flags)
    if image is None:
        return None
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(1, int(image.max())))
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


def read_image(path: str | Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray | None:
    """Read an image file as uint8 BGR/BGRA; None if it is missing or unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return decode_image(data, flags)


def read_mask(path: str | Path) -> np.ndarray | None:
    """Read a mask PNG as uint8 (H, W) with values 0/255 (anything > 127 is 255)."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        return None
    return np.where(mask > 127, 255, 0).astype(np.uint8)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def require_dir(folder: str | Path, what: str) -> Path:
    """Return `folder` or raise a one-line UserError saying which input is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{what} not found: {folder} (run the earlier stages: dvc repro)")
    return folder


def read_file_table(path: str | Path):
    """A stage's CSV that lists files (kept.csv, cutouts.csv...) as a pandas DataFrame of strings.

    Empty cells are ''. An empty file is an empty table with a `file` column;
    a table that cannot be read or parsed, or has no `file` column, is a
    one-line UserError.
    """
    import pandas as pd  # here, not at the top: synth's worker processes import io but never need pandas

    path = Path(path)
    empty = pd.DataFrame({"file": pd.Series([], dtype=str)})
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:  # 0 bytes or blank lines: nothing listed
        return empty
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror or error})") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{path}: not a readable CSV ({(str(error).splitlines() or [''])[0]})") from None
    if "file" not in frame.columns:
        raise UserError(f"{path}: no 'file' column (re-run the stage that wrote it)")
    return frame


def read_kept(folder: str | Path, rerun: str) -> list[str]:
    """File names listed in `folder/kept.csv`, the filter stage's list of kept photos.

    A missing kept.csv is a one-line UserError that names `rerun`, the command
    that writes it; blank names are skipped.
    """
    kept_csv = Path(folder) / "kept.csv"
    if not kept_csv.is_file():
        raise UserError(f"{kept_csv} not found (run the filter stage: {rerun})")
    return [name for name in read_file_table(kept_csv)["file"] if name]


@contextlib.contextmanager
def staged_dir(final: str | Path) -> Iterator[Path]:
    """Build an output folder in a hidden sibling, then swap it in on success.

    A stage killed midway leaves the hidden folder (removed on the next run)
    and no half-filled `final`.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.parent / f".{final.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
