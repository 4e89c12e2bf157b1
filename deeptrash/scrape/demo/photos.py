"""Offline photo renderer: the `demo` scrape engine's "web photos".

Renders photos deterministically from (kind, query, index, seed, size), so the
pipeline runs anywhere without a network:

- trash: product-photo style shots of ONE object chosen from the query words
  (bottle, can, bag, wrapper, cup, cigarette butt, carton, lid, straw) with
  shading, highlights, crumpled texture, labels, a soft contact shadow, on a
  plain, gradient, wooden-table or paper background. Each comes with its true
  object mask (uint8 (H, W), 0/255) so crop quality can be measured.
- landscape: a sky, a horizon (mountains, hills, treeline, sea, buildings) and
  a ground texture (grass, sand, rock, gravel, asphalt, pavement, forest floor,
  water) chosen from the query words. A `dirty_share` of them have litter
  lying on the ground (the trash renderers' objects at their natural size),
  marked only in the truth mask: for measuring the audit stage.
- junk: a `junk_share` of the photos is unusable in one of the ways web photos
  are (`JUNK_KINDS`), for the filter stage to reject.

This module is the entry point (`demo_photos`); the renderers are its siblings:
trash.py, landscape.py, junk.py, on the shared helpers of draw.py.
Everything is vectorised numpy/OpenCV (value noise = random grids resized).
Images are uint8 BGR in OpenCV order; internally colours are float32 in 0..1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from deeptrash.errors import UserError
from deeptrash.io import encode_image
from deeptrash.scrape.demo.draw import photo_rng
from deeptrash.scrape.demo.junk import (
    clean_before, draw_text, junk_kind, make_transparent, resize_mask, resize_photo,
)
from deeptrash.scrape.demo.landscape import finish_landscape, render_landscape_scene
from deeptrash.scrape.demo.trash import finish_trash, render_trash

PHOTO_KINDS = ("trash", "landscape")


@dataclass(frozen=True)
class DemoPhoto:
    """One rendered "download".

    data: encoded file bytes, exactly what a download would give.
    suffix: ".jpg" or ".png".
    truth: uint8 (H, W) 0/255, same size as the decoded image: trash photos'
        true object mask; a dirty landscape's litter mask; None for a clean
        landscape.
    junk: None for a usable photo, else one of JUNK_KINDS.
    """

    data: bytes
    suffix: str
    truth: np.ndarray | None
    junk: str | None


def _render_clean(kind: str, query: str, index: int, seed: int, size: int,
                  dirty_share: float = 0.0) -> tuple[np.ndarray, np.ndarray | None]:
    if kind == "trash":
        return render_trash(query, index, seed, size)
    return render_landscape_scene(query, index, seed, size, dirty_share)


def _render_junk(kind: str, query: str, index: int, seed: int, size: int, junk_share: float, name: str,
                 dirty_share: float = 0.0):
    """(image uint8, truth or None, suffix, jpeg quality) for junk photo `index`."""
    rng = photo_rng(seed, "junk", kind, query, index)
    quality = int(rng.integers(85, 96))
    if name == "near_duplicate":
        earlier = clean_before(kind, query, index, seed, junk_share)
        source = earlier[rng.integers(len(earlier))]
        image, truth = _render_clean(kind, query, source, seed, size, dirty_share)
        h, w = image.shape[:2]
        factor = 1.0 + rng.choice([-1, 1]) * rng.uniform(0.02, 0.08) if rng.random() < 0.6 else 1.0
        nw, nh = round(w * factor), round(h * factor)
        if (nw, nh) != (w, h):
            image, truth = resize_photo(image, nw, nh), resize_mask(truth, nw, nh)
        image = cv2.convertScaleAbs(image, alpha=rng.uniform(0.95, 1.05), beta=rng.uniform(-6, 6))
        return image, truth, ".jpg", int(rng.integers(60, 84))
    if name == "extreme_aspect":
        ratio = rng.uniform(3.5, 5.0)
        short = max(8, round(size / ratio))
        h, w = (short, size) if rng.random() < 0.6 else (size, short)
        sub = photo_rng(seed, kind, query, index, "strip")
        if kind == "trash":
            image, truth = finish_trash(sub, query, h, w)
        else:
            image, truth = finish_landscape(sub, query, h, w)
        return image, truth, ".jpg", quality
    image, truth = _render_clean(kind, query, index, seed, size, dirty_share)
    h, w = image.shape[:2]
    if name == "tiny":
        long_side = int(rng.integers(32, 97))
        scale = long_side / max(h, w)
        nw, nh = max(4, round(w * scale)), max(4, round(h * scale))
        return resize_photo(image, nw, nh), resize_mask(truth, nw, nh), ".jpg", quality
    if name == "blurry":
        sigma = max(h, w) * rng.uniform(0.015, 0.03)
        if rng.random() < 0.3:  # camera shake: motion blur along a line
            k = max(3, int(sigma * 4)) | 1
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2, :] = 1.0 / k
            kernel = cv2.warpAffine(kernel, cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0), (k, k))
            blurred = cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))
        else:
            blurred = cv2.GaussianBlur(image, (0, 0), sigma)
        return blurred, truth, ".jpg", quality
    if name == "text_banner":
        return draw_text(rng, image), truth, ".jpg", quality
    if name == "transparent":
        rgba, truth = make_transparent(rng, kind, image, truth)
        return rgba, truth, ".png", quality
    raise ValueError(f"unknown junk kind {name!r}")


def demo_photo(kind: str, query: str, index: int, seed: int, size: int = 320, junk_share: float = 0.2,
               dirty_share: float = 0.0) -> DemoPhoto:
    """Photo `index` of the demo engine's results for (kind, query); see demo_photos."""
    name = junk_kind(kind, query, index, seed, junk_share)
    if name is None:
        image, truth = _render_clean(kind, query, index, seed, size, dirty_share)
        quality = int(photo_rng(seed, "quality", kind, query, index).integers(85, 96))
        suffix = ".jpg"
    else:
        image, truth, suffix, quality = _render_junk(kind, query, index, seed, size, junk_share, name, dirty_share)
    return DemoPhoto(encode_image(image, suffix, quality), suffix, truth, name)


def demo_photos(kind: str, query: str, count: int, seed: int, size: int = 320, junk_share: float = 0.2,
                dirty_share: float = 0.0) -> Iterator[DemoPhoto]:
    """Yield `count` rendered photos for (kind, query).

    kind is "trash" or "landscape". Deterministic: photo i depends only on
    (kind, query, i, seed, size, junk_share, dirty_share), so asking for more
    photos keeps the first ones identical. About `junk_share` of them are junk
    (DemoPhoto.junk); about `dirty_share` of the landscapes have litter lying
    in them, marked only in DemoPhoto.truth (a dirty photo is otherwise the
    same pixels as with dirty_share 0).
    """
    if kind not in PHOTO_KINDS:
        raise UserError(f"demo engine: kind must be 'trash' or 'landscape', not {kind!r}")
    if count < 0:
        raise UserError(f"demo engine: count must be >= 0, not {count}")
    if not 16 <= size <= 8192:
        raise UserError(f"demo engine: size must be 16..8192 px, not {size}")
    if not 0.0 <= junk_share <= 1.0:
        raise UserError(f"demo engine: junk_share must be in 0..1, not {junk_share}")
    if not 0.0 <= dirty_share <= 1.0:
        raise UserError(f"demo engine: dirty_share must be in 0..1, not {dirty_share}")
    # Checked above at call time; the photos are rendered lazily, one per next().
    return (demo_photo(kind, query, index, seed, size, junk_share, dirty_share) for index in range(count))
