"""A seeded, labelled set of scenes with and without text overlays (for the text detector).

Scenes without text: smooth and rough noise textures like grass, gravel or
bark, gradients, stripes, simple objects; the same kind of scenes with a
caption, a watermark or a banner rendered in OpenCV's Hershey fonts at
several sizes, colours and places. tests/test_text.py checks the detector on
a small set, bench/text.py measures a larger one.
"""
from __future__ import annotations

import cv2
import numpy as np

FONTS = [
    cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL,
]
WORDS = [
    "Photo by J. Smith", "www.example.com", "SALE 50% OFF", "(c) 2019 Stock Images",
    "shutterstock", "Best price today", "Summer 2021", "IMG_20190712", "Visit us online",
    "FREE SHIPPING", "Copyright Alamy", "news24 exclusive", "Do not copy", "Kelly Photography",
]


def _noise(rng: np.random.Generator, size: int, blur: float) -> np.ndarray:
    """float32 (size, size) noise in [0, 1], smoothed by a Gaussian of sigma `blur`."""
    field = rng.random((size, size)).astype(np.float32)
    if blur > 0:
        field = cv2.GaussianBlur(field, (0, 0), blur)
    field -= field.min()
    return field / max(float(field.max()), 1e-6)


def make_scene(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """A text-free picture, uint8 (size, size, 3) BGR: one of several scene styles."""
    style = rng.integers(6)
    base = rng.integers(30, 220, 3).astype(np.float32)
    other = rng.integers(30, 220, 3).astype(np.float32)
    if style == 0:      # soft clouds / water
        t = _noise(rng, size, rng.uniform(4, 16))
    elif style == 1:    # rough texture: gravel, sand
        t = 0.6 * _noise(rng, size, rng.uniform(0.7, 2)) + 0.4 * _noise(rng, size, 8)
    elif style == 2:    # gradient
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
        angle = rng.uniform(0, np.pi)
        t = np.clip(np.cos(angle) * xs + np.sin(angle) * ys, 0, 1)
    elif style == 3:    # grass / bark: elongated strokes
        t = np.zeros((size, size), np.float32)
        for _ in range(int(rng.integers(150, 400))):
            x, y = rng.integers(0, size, 2)
            length = rng.integers(8, 30)
            angle = rng.uniform(-0.5, 0.5) + (np.pi / 2 if rng.random() < 0.7 else 0)
            x2, y2 = int(x + length * np.cos(angle)), int(y + length * np.sin(angle))
            cv2.line(t, (int(x), int(y)), (x2, y2), float(rng.uniform(0.2, 1)), int(rng.integers(1, 3)))
        t = cv2.GaussianBlur(t, (0, 0), 0.8) + 0.3 * _noise(rng, size, 3)
    elif style == 4:    # stripes / planks / waves
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        period = rng.uniform(6, 30)
        wobble = 4 * _noise(rng, size, 10)
        t = 0.5 + 0.5 * np.sin((ys + wobble * period) / period * 2 * np.pi)
    else:               # simple objects on a plain or noisy ground
        t = 0.3 * _noise(rng, size, 6)
    image = base[None, None, :] * (1 - t[:, :, None]) + other[None, None, :] * t[:, :, None]
    image = np.clip(image, 0, 255).astype(np.uint8)
    if style == 5 or rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 5))):
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            centre = tuple(int(c) for c in rng.integers(size // 6, 5 * size // 6, 2))
            if rng.random() < 0.5:
                axes = tuple(int(a) for a in rng.integers(size // 12, size // 4, 2))
                cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
            else:
                half = rng.integers(size // 12, size // 4, 2)
                cv2.rectangle(image, (int(centre[0] - half[0]), int(centre[1] - half[1])),
                              (int(centre[0] + half[0]), int(centre[1] + half[1])), colour, -1)
    grain = rng.normal(0, rng.uniform(0, 6), image.shape)
    return np.clip(image + grain, 0, 255).astype(np.uint8)


def _contrasting(rng: np.random.Generator, patch: np.ndarray) -> tuple[int, int, int]:
    """A BGR colour whose grey level differs from the patch's mean by at least 90."""
    mean = float(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY).mean()) if patch.size else 128.0
    while True:
        colour = rng.integers(0, 256, 3)
        if rng.random() < 0.5:
            colour = np.full(3, 255 if mean < 128 else 0)
        grey = 0.114 * colour[0] + 0.587 * colour[1] + 0.299 * colour[2]
        if abs(grey - mean) >= 90:
            return tuple(int(c) for c in colour)


def add_overlay(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Render a caption, watermark or banner onto a copy of `image` (uint8 BGR).

    The line spans 30-90 % of the width. Returns (image, kind).
    """
    out = image.copy()
    h, w = out.shape[:2]
    kind = ("caption", "watermark", "banner")[int(rng.integers(3))]
    text = WORDS[int(rng.integers(len(WORDS)))]
    font = FONTS[int(rng.integers(len(FONTS)))] | (cv2.FONT_ITALIC if rng.random() < 0.2 else 0)
    thickness = int(rng.integers(1, 3))
    target = rng.uniform(0.3, 0.9) * w
    (tw, th), base = cv2.getTextSize(text, font, 1.0, thickness)
    scale = target / tw
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    x = int(rng.integers(0, max(1, w - tw)))
    if kind == "caption":
        y = int(rng.choice([th + 4 + rng.integers(0, 10), h - base - 4 - rng.integers(0, 10)]))
    else:
        y = int(rng.integers(th + 4, h - base - 4))
    if kind == "banner":
        pad = max(3, th // 3)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(out, (0, y - th - pad), (w, y + base + pad), colour, -1)
    patch = out[max(0, y - th):y + base, x:x + tw]
    colour = _contrasting(rng, patch)
    line_type = cv2.LINE_AA if rng.random() < 0.7 else cv2.LINE_8
    if kind == "watermark":
        layer = out.copy()
        cv2.putText(layer, text, (x, y), font, scale, colour, thickness, line_type)
        alpha = rng.uniform(0.55, 0.85)
        out = cv2.addWeighted(layer, alpha, out, 1 - alpha, 0)
    else:
        cv2.putText(out, text, (x, y), font, scale, colour, thickness, line_type)
    return out, kind


def make_set(seed: int, count: int, size: int = 256) -> tuple[list[np.ndarray], list[bool]]:
    """`count` scenes without text and `count` with an overlay; returns (images, has_text)."""
    images, truth = [], []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        images.append(make_scene(rng, size))
        truth.append(False)
        overlaid, _ = add_overlay(make_scene(rng, size), rng)
        images.append(overlaid)
        truth.append(True)
    return images, truth


def precision_recall(predicted: list[bool], truth: list[bool]) -> tuple[float, float]:
    tp = sum(p and t for p, t in zip(predicted, truth))
    fp = sum(p and not t for p, t in zip(predicted, truth))
    fn = sum(t and not p for p, t in zip(predicted, truth))
    return tp / max(1, tp + fp), tp / max(1, tp + fn)
