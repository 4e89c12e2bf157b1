"""Real labelled photos for evaluation, in three common formats.

:func:`load_real` looks at `evaluate.real` and returns a :class:`LabelledSet`:
iterate it for ``(name, image_bgr, mask)`` with image uint8 (H, W, 3) BGR and
mask uint8 (H, W) 0/255 at the photo's size. Every labelled shape counts as
trash, whatever its category (TACO's categories are all litter).

- mask folder: ``PATH/images/<stem>.<ext>`` with ``PATH/masks/<stem>.png``
  (0/255; anything > 127 is trash).
- COCO JSON (the TACO litter data set's format): ``images`` with
  ``file_name`` relative to the JSON's folder, ``annotations`` with polygon
  ``segmentation`` (or RLE, plain or compressed) by ``image_id``. An image
  with no annotations is a clean photo (empty mask).
- LabelMe folder: ``*.json`` files with ``shapes`` (polygon, rectangle,
  circle, mask) and ``imagePath`` relative to the JSON file (``imageData``
  used when the file is missing).

Orientation: labels are drawn on the photo as a viewer shows it (EXIF
applied). When the size recorded with the labels matches the photo only as
stored (un-rotated), the stored orientation is used instead, so both kinds of
tools line up. Unreadable photos and labels are logged and skipped.
"""
from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from deeptrash.errors import UserError
from deeptrash.io import list_images, read_mask
from deeptrash.photos import decode_photo

log = logging.getLogger(__name__)

# LabelMe conventions for "not an object" labels.
IGNORED_LABELS = {"_background_", "__ignore__", "background"}

Loader = Callable[[], "tuple[np.ndarray, np.ndarray] | None"]


@dataclass
class LabelledSet:
    """A lazily loaded set of labelled photos; `len()` is known before loading."""

    format: str
    source: Path
    items: list[tuple[str, Loader]]
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for name, load in self.items:
            loaded = load()
            if loaded is None:
                self.skipped += 1
                continue
            image, mask = loaded
            yield name, image, mask


def load_real(path: str | Path) -> LabelledSet:
    """Open `evaluate.real`: a mask folder, a COCO JSON file or a LabelMe folder.

    Raises UserError (one line) when the path is missing, of no known format,
    or holds no labelled photo.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"evaluate.real: {path} not found")
    if path.is_file():
        if path.suffix.lower() != ".json":
            raise UserError(f"evaluate.real: {path} is a file but not a COCO .json")
        labelled = coco_set(path)
    elif (path / "images").is_dir() and (path / "masks").is_dir():
        labelled = mask_folder_set(path)
    elif any(path.glob("*.json")):
        labelled = labelme_set(path)
    else:
        raise UserError(
            f"evaluate.real: {path} is neither a folder with images/ and masks/, "
            "a COCO .json file, nor a folder of LabelMe .json files"
        )
    if not labelled.items:
        raise UserError(f"evaluate.real: no labelled photos found in {path} ({labelled.format})")
    log.info("real labels: %d photos from %s (%s)", len(labelled), path, labelled.format)
    return labelled


# --- shared ------------------------------------------------------------------

def photo_for_labels(data: bytes, label_hw: tuple[int, int] | None) -> np.ndarray | None:
    """Decode photo bytes in the orientation its labels were drawn on.

    label_hw: (height, width) recorded with the labels, or None (use the
    orientation a viewer shows). Returns uint8 (H, W, 3) BGR or None.
    """
    image = decode_photo(data, apply_orientation=True)
    if image is None or label_hw is None or image.shape[:2] == tuple(label_hw):
        return image
    stored = decode_photo(data, apply_orientation=False)
    if stored is not None and stored.shape[:2] == tuple(label_hw):
        return stored
    return image


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def fill_polygons(shape_hw: tuple[int, int], polygons: list[np.ndarray], mask: np.ndarray | None = None) -> np.ndarray:
    """Draw filled polygons (each float (N, 2) x, y photo pixels) into a uint8 0/255 mask."""
    if mask is None:
        mask = np.zeros(shape_hw, np.uint8)
    points = [np.round(p).astype(np.int32).reshape(-1, 1, 2) for p in polygons if len(p) >= 3]
    if points:
        cv2.fillPoly(mask, points, 255)
    return mask


def _fit_mask(mask: np.ndarray, image: np.ndarray, name: str, label_hw: tuple[int, int] | None) -> np.ndarray:
    """Return the mask at the image's size (labels recorded at another size are scaled)."""
    if mask.shape[:2] == image.shape[:2]:
        return mask
    log.warning("%s: labels are %dx%d but the photo is %dx%d; scaling the labels",
                name, mask.shape[1], mask.shape[0], image.shape[1], image.shape[0])
    return cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)


# --- mask folder ---------------------------------------------------------------

def mask_folder_set(root: Path) -> LabelledSet:
    """PATH/images/<stem>.* with PATH/masks/<stem>.png; photos without a mask are skipped."""
    masks = {p.stem: p for p in list_images(root / "masks")}
    items, missing = [], 0
    for image_path in list_images(root / "images"):
        mask_path = masks.get(image_path.stem)
        if mask_path is None:
            missing += 1
            continue
        items.append((image_path.stem, _mask_folder_loader(image_path, mask_path)))
    if missing:
        log.warning("%s: %d photos have no mask in masks/ and are skipped", root, missing)
    return LabelledSet("mask folder", root, items, skipped=missing)


def _mask_folder_loader(image_path: Path, mask_path: Path) -> Loader:
    def load():
        mask = read_mask(mask_path)
        data = _read_bytes(image_path)
        if mask is None or data is None:
            log.warning("%s: unreadable %s; skipped", image_path.stem, "mask" if mask is None else "photo")
            return None
        image = photo_for_labels(data, mask.shape[:2])
        if image is None:
            log.warning("%s: unreadable photo; skipped", image_path.name)
            return None
        return image, _fit_mask(mask, image, image_path.name, mask.shape[:2])
    return load


# --- COCO ------------------------------------------------------------------------

def decode_rle(rle: dict) -> np.ndarray:
    """COCO run-length encoding -> uint8 (H, W) 0/255 mask.

    rle: {"size": [H, W], "counts": list of ints (plain) or str (compressed,
    as pycocotools writes it)}. Runs alternate 0/1 starting with 0, in
    column-major (Fortran) order.
    """
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = _decode_rle_string(counts)
    flat = np.zeros(height * width, np.uint8)
    position, value = 0, 0
    for run in counts:
        if value:
            flat[position:position + run] = 255
        position += run
        value ^= 1
    return flat.reshape((width, height)).T.copy()


def _decode_rle_string(text: str) -> list[int]:
    """pycocotools' compressed counts: 5-bit groups + 48, delta-coded after the 3rd run."""
    counts: list[int] = []
    index = 0
    while index < len(text):
        value, shift, more = 0, 0, True
        while more:
            char = ord(text[index]) - 48
            value |= (char & 0x1F) << (5 * shift)
            more = bool(char & 0x20)
            index += 1
            shift += 1
            if not more and (char & 0x10):
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def annotation_mask(annotation: dict, shape_hw: tuple[int, int], mask: np.ndarray) -> bool:
    """Draw one COCO annotation into `mask` (uint8 (H, W), in place); False if it has no shape."""
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, list) and segmentation:
        polygons = [np.asarray(poly, np.float64).reshape(-1, 2) for poly in segmentation if len(poly) >= 6]
        fill_polygons(shape_hw, polygons, mask)
        return bool(polygons)
    if isinstance(segmentation, dict) and "counts" in segmentation:
        rle = decode_rle(segmentation)
        if rle.shape != mask.shape:
            rle = cv2.resize(rle, (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_NEAREST)
        np.maximum(mask, rle, out=mask)
        return True
    return False


def coco_set(json_path: Path) -> LabelledSet:
    """Photos and polygons of a COCO JSON; file names relative to the JSON's folder."""
    try:
        coco = json.loads(json_path.read_text())
        images = coco["images"]
        annotations = coco.get("annotations", [])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"evaluate.real: {json_path} is not a COCO JSON ({type(error).__name__}: {error})") from None
    by_image: dict[int, list[dict]] = {}
    for annotation in annotations:
        by_image.setdefault(annotation.get("image_id"), []).append(annotation)
    items = []
    for entry in images:
        try:
            image_path = json_path.parent / str(entry["file_name"]).replace("\\", "/")
        except (KeyError, TypeError):
            log.warning("%s: an image entry has no file_name; skipped", json_path)
            continue
        items.append((entry["file_name"], _coco_loader(image_path, entry, by_image.get(entry.get("id"), []))))
    return LabelledSet("COCO", json_path, items)


def _coco_loader(image_path: Path, entry: dict, annotations: list[dict]) -> Loader:
    def load():
        data = _read_bytes(image_path)
        label_hw = (int(entry["height"]), int(entry["width"])) if "height" in entry and "width" in entry else None
        image = photo_for_labels(data, label_hw) if data else None
        if image is None:
            log.warning("%s: photo missing or unreadable; skipped", image_path)
            return None
        shape_hw = label_hw or image.shape[:2]
        mask = np.zeros(shape_hw, np.uint8)
        for annotation in annotations:
            if not annotation_mask(annotation, shape_hw, mask):
                log.warning("%s: annotation %s has no polygon or RLE; ignored", image_path.name, annotation.get("id"))
        return image, _fit_mask(mask, image, image_path.name, label_hw)
    return load


# --- LabelMe ---------------------------------------------------------------------

def labelme_shape(shape: dict, mask: np.ndarray) -> bool:
    """Draw one LabelMe shape into `mask` (uint8 (H, W), in place); False if not an area."""
    points = np.asarray(shape.get("points") or [], np.float64).reshape(-1, 2)
    kind = shape.get("shape_type") or "polygon"
    if kind == "polygon" and len(points) >= 3:
        fill_polygons(mask.shape, [points], mask)
    elif kind == "rectangle" and len(points) == 2:
        (x0, y0), (x1, y1) = np.round(points).astype(int)
        cv2.rectangle(mask, (min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1)), 255, -1)
    elif kind == "circle" and len(points) == 2:
        centre, edge = points
        cv2.circle(mask, tuple(int(v) for v in np.round(centre)), int(round(np.linalg.norm(edge - centre))), 255, -1)
    elif kind == "mask" and shape.get("mask") and len(points) == 2:
        # LabelMe 5: a PNG of the box between the two points.
        part = cv2.imdecode(np.frombuffer(base64.b64decode(shape["mask"]), np.uint8), cv2.IMREAD_GRAYSCALE)
        if part is None:
            return False
        x0, y0 = (int(v) for v in np.round(points.min(axis=0)))
        region = mask[y0:y0 + part.shape[0], x0:x0 + part.shape[1]]
        region[part[:region.shape[0], :region.shape[1]] > 0] = 255
    else:
        return False
    return True


def labelme_set(folder: Path) -> LabelledSet:
    """Every *.json LabelMe file in `folder` (not recursive)."""
    items = [(path.stem, _labelme_loader(path)) for path in sorted(folder.glob("*.json"))]
    return LabelledSet("LabelMe", folder, items)


def _labelme_loader(json_path: Path) -> Loader:
    def load():
        try:
            doc = json.loads(json_path.read_text())
            shapes = doc.get("shapes", [])
        except (OSError, ValueError, AttributeError) as error:
            log.warning("%s: not a LabelMe JSON (%s); skipped", json_path.name, error)
            return None
        label_hw = (int(doc["imageHeight"]), int(doc["imageWidth"])) if doc.get("imageHeight") and doc.get("imageWidth") else None
        data = None
        if doc.get("imagePath"):
            data = _read_bytes(json_path.parent / str(doc["imagePath"]).replace("\\", "/"))
        if data is None and doc.get("imageData"):
            data = base64.b64decode(doc["imageData"])
        image = photo_for_labels(data, label_hw) if data else None
        if image is None:
            log.warning("%s: photo %s missing or unreadable; skipped", json_path.name, doc.get("imagePath"))
            return None
        shape_hw = label_hw or image.shape[:2]
        mask = np.zeros(shape_hw, np.uint8)
        for shape in shapes:
            if str(shape.get("label", "")).strip() in IGNORED_LABELS:
                continue
            if not labelme_shape(shape, mask):
                log.warning("%s: shape %r (%s) is not an area; ignored",
                            json_path.name, shape.get("label"), shape.get("shape_type"))
        return image, _fit_mask(mask, image, json_path.name, label_hw)
    return load
