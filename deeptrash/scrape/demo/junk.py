"""Demo junk: which photos of a query are unusable (`junk_kind`) and the makers of the
kinds that change a clean photo (text overlays, transparency, resizing), for the filter
stage to reject.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from deeptrash.scrape.demo.draw import noise_1d, photo_rng, stable_int

JUNK_KINDS = ("near_duplicate", "text_banner", "tiny", "transparent", "extreme_aspect", "blurry")


# --- junk --------------------------------------------------------------------

JUNK_TEXTS = ["SALE 50% OFF", "www.stockphotos.example", "(c) 2024 Photo Agency", "CLICK HERE", "BUY NOW",
              "Sample image", "DO NOT COPY", "Lorem ipsum dolor", "#1 best deals", "preview only",
              "Photo: J. Smith", "FREE SHIPPING", "limited offer", "shutterstock-like"]
FONTS = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
         cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL]


def junk_slot(index: int, query: str, seed: int, junk_share: float) -> int | None:
    """Which junk photo number photo `index` is (0, 1, ...), or None if it is clean.

    Junk is spread evenly (every prefix of n photos holds about n * share of
    it) from a per-query phase, so its places are not the same for every query.
    """
    if junk_share <= 0:
        return None
    phase = (stable_int(f"{seed}/{query}/junk") % 10007) / 10007
    before = math.floor((index + phase) * junk_share)
    after = math.floor((index + 1 + phase) * junk_share)
    return before if after > before else None


def junk_kind(kind: str, query: str, index: int, seed: int, junk_share: float) -> str | None:
    """The junk kind of photo `index` (None for a clean photo); kinds take turns
    in a per-query order, and a near duplicate needs an earlier clean photo."""
    slot = junk_slot(index, query, seed, junk_share)
    if slot is None:
        return None
    order = photo_rng(seed, "junk-order", kind, query).permutation(len(JUNK_KINDS))
    name = JUNK_KINDS[order[slot % len(JUNK_KINDS)]]
    if name == "near_duplicate" and not clean_before(kind, query, index, seed, junk_share):
        name = "blurry"
    return name


def clean_before(kind, query, index, seed, junk_share) -> list[int]:
    return [j for j in range(max(0, index - 12), index) if junk_slot(j, query, seed, junk_share) is None]


def resize_photo(image: np.ndarray, w: int, h: int) -> np.ndarray:
    shrink = w < image.shape[1]
    return cv2.resize(image, (max(1, w), max(1, h)), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray | None, w: int, h: int) -> np.ndarray | None:
    if mask is None:
        return None
    return np.where(resize_photo(mask, w, h) >= 128, 255, 0).astype(np.uint8)


def draw_text(rng, image: np.ndarray) -> np.ndarray:
    """Overlay a caption, watermark or banner with text (uint8 BGR in, out)."""
    h, w = image.shape[:2]
    out = image.copy()
    text = JUNK_TEXTS[rng.integers(len(JUNK_TEXTS))]
    font = FONTS[rng.integers(len(FONTS))]
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
    scale = rng.uniform(0.55, 0.9) * w / tw
    thick = max(1, int(scale * rng.uniform(1.5, 3)))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    style = rng.choice(["banner", "caption", "watermark"])
    x = max(0, (w - tw) // 2 + int(rng.integers(-w // 20, w // 20 + 1)))
    if style == "banner":
        bar = int(th * rng.uniform(1.6, 2.2)) + base
        top = 0 if rng.random() < 0.5 else h - bar
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(out, (0, top), (w, top + bar), colour, -1)
        ink = (255, 255, 255) if sum(colour) < 380 else (0, 0, 0)
        cv2.putText(out, text, (x, top + (bar + th) // 2), font, scale, ink, thick, cv2.LINE_AA)
    elif style == "caption":
        y = int(h * rng.uniform(0.6, 0.92))
        cv2.putText(out, text, (x, y), font, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        ink = tuple(int(c) for c in rng.choice([[255, 255, 255], [0, 230, 255], [40, 40, 230]]))
        cv2.putText(out, text, (x, y), font, scale, ink, thick, cv2.LINE_AA)
    else:
        layer = np.zeros_like(out)
        y = h // 2 + th // 2
        cv2.putText(layer, text, (x, y), font, scale, (255, 255, 255), thick + 1, cv2.LINE_AA)
        # Stock watermarks are mostly level; a few are tilted.
        angle = rng.uniform(-25, 25) if rng.random() < 0.25 else rng.uniform(-3, 3)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        layer = cv2.warpAffine(layer, matrix, (w, h))
        strength = rng.uniform(0.5, 0.8) * layer.astype(np.float32) / 255.0
        # White over dark photos, dark over bright ones, as agencies pick for legibility.
        ink = 255.0 if out[layer[:, :, 0] > 0].mean() < 150 else 20.0
        out = (out * (1 - strength) + ink * strength).astype(np.uint8)
    return out


def make_transparent(rng, kind: str, image: np.ndarray, truth: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A PNG with alpha: trash becomes a cut-out product shot (alpha == truth,
    cropped around the object); a landscape gets transparent regions (its
    litter mask, if any, keeps only the litter left visible)."""
    h, w = image.shape[:2]
    if kind == "trash":
        ys, xs = np.nonzero(truth)
        pad = int(max(h, w) * rng.uniform(0.02, 0.1))
        y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + 1 + pad)
        x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + 1 + pad)
        cut = truth[y0:y1, x0:x1]
        rgba = np.dstack([image[y0:y1, x0:x1], cut])
        rgba[cut == 0, :3] = 0
        return rgba, cut.copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    style = rng.integers(3)
    if style == 0:  # oval vignette cut-out
        inside = ((xx / w - 0.5) / 0.48) ** 2 + ((yy / h - 0.5) / 0.48) ** 2 < 1
    elif style == 1:  # sky cut away above a wavy line
        line = h * rng.uniform(0.3, 0.5) + noise_1d(rng, w, w / 4)[None, :] * h * 0.05
        inside = yy > line
    else:  # rounded sticker with a big margin
        r = min(h, w) * 0.2
        m = min(h, w) * rng.uniform(0.08, 0.15)
        dx = np.maximum(np.maximum(m + r - xx, xx - (w - m - r)), 0)
        dy = np.maximum(np.maximum(m + r - yy, yy - (h - m - r)), 0)
        inside = dx ** 2 + dy ** 2 < r ** 2
    if truth is not None:
        truth = np.where(inside, truth, 0).astype(np.uint8)
    return np.dstack([image, np.where(inside, 255, 0).astype(np.uint8)]), truth
