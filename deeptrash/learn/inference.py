"""Running a trained segmenter on photos of any size (scoring it: deeptrash/measure/evaluation.py).

Model contract (deeptrash/learn/model.py): input float32 (B, S, S, 3) RGB 0..255,
output (B, S, S, 1) sigmoid probabilities, S from `models/meta.json`
(`image_size`). Everything here only calls the model; it never looks inside.

Two ways to handle a photo larger than S (:func:`predict_probabilities`):

- ``resize``: squash the whole photo to S x S, predict, stretch the
  probabilities back. Fast (one model call), but a small object in a 12 MP
  photo shrinks to a few pixels.
- ``tile`` (the default for real photos): scale the photo so that
  `tile_size` photo pixels become S, cut it into overlapping S x S tiles,
  predict all tiles in one batched call (or a few), and blend them back with
  a smooth window (weights high in a tile's middle, low at its border, where
  the model sees least context). Several times the model work of resize
  mode, but objects appear at the scale of the training crops, so small
  ones survive (the SAHI result: slicing is what makes small objects
  detectable).

Either mode can also average several views of the photo (test-time
augmentation, :func:`predict_probabilities`): tile mode at several tile
sizes (`scales`, multiples of `tile_size`: a larger tile shows a large
object whole, where a training-scale tile sees only part of it), and the
mirrored photo (`flip`). On real photos (docs/real-photos.md) this raised IoU more than
any training change, at several times the model work.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

from deeptrash.errors import UserError
from deeptrash.io import pieces_touching, resize

log = logging.getLogger(__name__)

MODES = ("resize", "tile")


# --- the model's input size ---------------------------------------------------

def model_image_size(model_path: str | Path, model=None) -> int:
    """The side S the model expects: `meta.json` next to the model, else its input shape."""
    meta_path = Path(model_path).with_name("meta.json")
    if meta_path.is_file():
        try:
            size = int(json.loads(meta_path.read_text())["image_size"])
        except (ValueError, KeyError, TypeError) as error:
            raise UserError(f"{meta_path}: no usable image_size ({error})") from None
        if size < 1:
            raise UserError(f"{meta_path}: image_size {size} must be positive")
        if size % 32:
            # The network halves the size five times: feed it the next multiple of 32.
            rounded = -(-size // 32) * 32
            log.warning("%s: image_size %d is not a multiple of 32; using %d", meta_path, size, rounded)
            return rounded
        return size
    shape = getattr(model, "input_shape", None) if model is not None else None
    if shape and len(shape) == 4 and shape[1] and shape[1] == shape[2]:
        return int(shape[1])
    raise UserError(f"{meta_path} not found and the model does not fix its input size")


# --- prediction -----------------------------------------------------------------

def run_model(model, batch_rgb: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Probabilities of a batch of model-sized images.

    batch_rgb: (N, S, S, 3) RGB 0..255, float32 or uint8 (converted one call's
    worth at a time, so a big photo's tiles never exist as float32 all at
    once). Returns float32 (N, S, S) in [0, 1]. The N inputs go in
    ceil(N / batch_size) calls of equal size (the last zero-padded by fewer
    than the number of calls), not batch_size + a short rest: one call for
    up to batch_size inputs, and no model time spent on padding.
    ``predict_on_batch`` runs a tf.function traced with reduce_retracing, so
    after two batch shapes it stops retracing for new ones.
    """
    count = len(batch_rgb)
    if count == 0:
        return np.zeros((0, *batch_rgb.shape[1:3]), np.float32)
    calls = -(-count // max(1, batch_size))
    per_call = -(-count // calls)
    out = np.empty((count, *batch_rgb.shape[1:3]), np.float32)
    for start in range(0, count, per_call):
        chunk = batch_rgb[start:start + per_call]
        n = len(chunk)
        if n < per_call:
            chunk = np.concatenate([chunk, np.zeros((per_call - n, *chunk.shape[1:]), chunk.dtype)])
        probs = np.asarray(model.predict_on_batch(chunk.astype(np.float32, copy=False)))
        out[start:start + n] = probs[:n, ..., 0] if probs.ndim == 4 else probs[:n]
    return np.clip(out, 0.0, 1.0, out=out)


def to_model_input(image_bgr: np.ndarray, image_size: int) -> np.ndarray:
    """uint8 (H, W, 3) BGR -> float32 (S, S, 3) RGB 0..255 (squashed to S x S)."""
    resized = resize(image_bgr[:, :, :3], image_size, image_size)
    return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).astype(np.float32)


def predict_many(model, images_bgr: list[np.ndarray], image_size: int, batch_size: int = 32) -> list[np.ndarray]:
    """Resize-mode probabilities for several photos at once, each float32 (H_i, W_i)."""
    if not images_bgr:
        return []
    batch = np.stack([to_model_input(image, image_size) for image in images_bgr])
    probs = run_model(model, batch, batch_size)
    return [resize(p, image.shape[1], image.shape[0]) for p, image in zip(probs, images_bgr)]


def tile_origins(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of tiles of `tile` px covering [0, length) with `overlap` share.

    The last tile ends exactly at `length`; a side not longer than the tile
    gets one tile at 0.
    """
    if length <= tile:
        return [0]
    stride = max(1, int(round(tile * (1.0 - overlap))))
    origins = list(range(0, length - tile, stride))
    return origins + [length - tile]


def blend_window(height: int, width: int) -> np.ndarray:
    """float32 (H, W) weights: a sine bump, 1 in the middle, small but > 0 at the border."""
    def bump(n: int) -> np.ndarray:
        return np.sin(np.pi * (np.arange(n) + 0.5) / n).astype(np.float32)
    return np.outer(bump(height), bump(width)) + np.float32(1e-3)


def tile_scale_size(height: int, width: int, image_size: int, tile_size: int) -> tuple[int, int]:
    """(height, width) of the photo scaled so a `tile_size` px square becomes S px.

    Tiles are always square, so the model never sees a squashed photo: a
    photo whose short side is under `tile_size` uses its short side as the
    tile (it is shown larger than the tile scale, never smaller). Both sides
    of the result are at least S.
    """
    scale = image_size / min(tile_size, height, width)
    return max(image_size, round(height * scale)), max(image_size, round(width * scale))


def cut_tiles(scaled: np.ndarray, ys: list[int], xs: list[int], image_size: int) -> np.ndarray:
    """All S x S tiles of an (H, W, C) image at origins ys x xs, row-major: (len(ys) * len(xs), S, S, C).

    One gather over a strided view: no per-tile Python work or re-allocation.
    """
    channels = scaled.shape[2]
    # (H - S + 1, W - S + 1, 1, S, S, C): a view; the fancy index copies only the tiles.
    windows = np.lib.stride_tricks.sliding_window_view(scaled, (image_size, image_size, channels))
    tiles = windows[np.asarray(ys)[:, None], np.asarray(xs)[None, :], 0]
    return tiles.reshape(-1, image_size, image_size, channels)


def blend_tiles(probs: np.ndarray, ys: list[int], xs: list[int], height: int, width: int) -> np.ndarray:
    """Blend row-major (N, S, S) tile probabilities into one float32 (height, width) map.

    Each tile is weighted by :func:`blend_window` and the sum normalised by
    the summed weights per pixel, so overlapping tiles that agree give back
    exactly their value, and no seam shows where they differ.
    """
    size = probs.shape[1]
    window = blend_window(size, size)
    total = np.zeros((height, width), np.float32)
    weight = np.zeros((height, width), np.float32)
    weighted = probs * window
    for tile, (y, x) in zip(weighted, ((y, x) for y in ys for x in xs)):
        total[y:y + size, x:x + size] += tile
        weight[y:y + size, x:x + size] += window
    return np.divide(total, weight, out=total)


def predict_tiles(model, image_bgr: np.ndarray, image_size: int, tile_size: int = 256, overlap: float = 0.25,
                  batch_size: int = 32) -> np.ndarray:
    """Tile-mode probabilities of one photo: float32 (H, W) in [0, 1].

    The photo is scaled once so that `tile_size` photo pixels become S model
    pixels (:func:`tile_scale_size`), cut into overlapping S x S tiles
    (`overlap` share, last tile flush with the border), the tiles predicted
    in as few model calls as `batch_size` allows, blended at model scale
    with :func:`blend_window`, and the blend stretched back to the photo
    once. Same as predicting each tile on its own (tests/test_predict.py
    checks this against a per-tile loop), but one resize each way instead
    of one per tile.
    """
    height, width = image_bgr.shape[:2]
    scaled_h, scaled_w = tile_scale_size(height, width, image_size, tile_size)
    scaled = cv2.cvtColor(resize(image_bgr[:, :, :3], scaled_w, scaled_h), cv2.COLOR_BGR2RGB)
    ys, xs = tile_origins(scaled_h, image_size, overlap), tile_origins(scaled_w, image_size, overlap)
    probs = run_model(model, cut_tiles(scaled, ys, xs, image_size), batch_size)
    blended = blend_tiles(probs, ys, xs, scaled_h, scaled_w)
    return np.clip(resize(blended, width, height), 0.0, 1.0)


def predict_probabilities(
    model,
    image_bgr: np.ndarray,
    image_size: int,
    mode: str = "tile",
    tile_size: int = 256,
    overlap: float = 0.25,
    batch_size: int = 32,
    scales: tuple[float, ...] | list[float] = (1.0,),
    flip: bool = False,
) -> np.ndarray:
    """Trash probability of every pixel of a photo, at the photo's own size.

    image_bgr: uint8 (H, W, 3) BGR, any size and aspect. mode "resize" or
    "tile" (module docstring); tile_size is in photo pixels, overlap in
    [0, 1); batch_size is the most inputs (tiles) per model call. Tile mode
    predicts at each tile size round(tile_size * scale) for scale in
    `scales` (resize mode ignores them); `flip` adds the mirrored photo
    (its prediction mirrored back). The result is the mean of all those
    views: float32 (H, W) in [0, 1]. The defaults are one view.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), not {overlap}")
    if tile_size < 1:
        raise ValueError(f"tile_size must be positive, not {tile_size}")
    if not len(scales) or min(scales) <= 0:
        raise ValueError(f"scales must be one or more positive numbers, not {list(scales)}")
    tile_sizes = [max(1, round(tile_size * scale)) for scale in scales] if mode == "tile" else [tile_size]
    total = np.zeros(image_bgr.shape[:2], np.float32)
    for mirrored in (False, True) if flip else (False,):
        view = np.ascontiguousarray(image_bgr[:, ::-1]) if mirrored else image_bgr
        for size in tile_sizes:
            if mode == "resize":
                probs = predict_many(model, [view], image_size, batch_size)[0]
            else:
                probs = predict_tiles(model, view, image_size, size, overlap, batch_size)
            total += probs[:, ::-1] if mirrored else probs
    return total / np.float32(len(tile_sizes) * (2 if flip else 1))


# --- probabilities to a mask --------------------------------------------------

def trash_mask(probs: np.ndarray, threshold: float, seed_threshold: float | None = None) -> np.ndarray:
    """The pixels called trash: bool (H, W) from float (H, W) probabilities.

    Without `seed_threshold`, every pixel at or above `threshold`. With it
    (hysteresis, as Canny links edges), a piece above `threshold` is kept
    only if some pixel in it reaches `seed_threshold`. A low `threshold`
    then draws found pieces whole while a faint blob on its own stays out:
    on real photos (docs/real-photos.md) that found more litter with a third of the
    false pieces, at the same IoU.
    """
    mask = probs >= threshold
    if seed_threshold is None or seed_threshold <= threshold:
        return mask
    return pieces_touching(mask, probs >= seed_threshold)
