"""Small litter drawn from scratch: cigarette butts, bottle caps and scraps (synth.small_litter).

The trash sources are whole objects (bottles, cans, boxes) photographed one
at a time; the litter most often lying on real ground is small and rarely
photographed alone: cigarette butts above all, then caps and torn bits of
wrapper, foil or paper. These cut-outs are pasted by the same code as the
source cut-outs and, unlike the distractors, go into the mask.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from deeptrash.synth.augment import blob_alpha, premultiplied_cutout, smooth_grain

LITTER_KINDS = ("butt", "cap", "scrap")
KIND_WEIGHTS = (0.55, 0.15, 0.30)  # butts are the commonest litter there is
# BGR: tan cork-pattern and white filters, cigarette paper, ash.
_FILTER_COLOURS = np.array([[80, 150, 205], [60, 125, 190], [110, 170, 215], [215, 218, 218]], np.float32)
_PAPER = np.array([228, 230, 230], np.float32)
_ASH = np.array([70, 75, 80], np.float32)
_FOIL = np.array([200, 200, 195], np.float32)


def _hsv_colour(rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*saturation) * 255, rng.uniform(*value) * 255]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _butt(d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A cigarette butt along x: filter, paper, a burnt end; shaded as a cylinder."""
    width = max(2.0, d * rng.uniform(0.2, 0.32))
    c = (d - 1) / 2
    alpha = np.zeros((d, d), np.uint8)
    x0, x1 = 0.03 * d, 0.97 * d
    sub = 16
    box = np.array([[x0, c - width / 2], [x1, c - width / 2], [x1, c + width / 2], [x0, c + width / 2]])
    cv2.fillPoly(alpha, [np.round(box * sub).astype(np.int32)], 255, cv2.LINE_AA, 4)
    xs = (np.arange(d, dtype=np.float32) - x0) / max(x1 - x0, 1)
    filter_end = rng.uniform(0.35, 0.65)
    ash = rng.uniform(0.0, 0.12)
    paper = _PAPER * rng.uniform(0.85, 1.0)
    tip = _FILTER_COLOURS[int(rng.integers(len(_FILTER_COLOURS)))] * rng.uniform(0.85, 1.1)
    along = np.where(xs[:, None] < filter_end, tip, np.where(xs[:, None] > 1 - ash, _ASH, paper))  # (d, 3)
    bgr = np.broadcast_to(along[None, :, :], (d, d, 3)).astype(np.float32)
    # Round across its width: brightest along the middle, darker at the sides.
    v = np.clip((np.arange(d, dtype=np.float32) - (c - width / 2)) / width, 0, 1)
    shade = 0.7 + 0.35 * np.sin(math.pi * v)
    bgr = bgr * shade[:, None, None] + smooth_grain(d, rng, 6, max(0.5, d / 30))[:, :, None]
    return bgr * np.float32(rng.uniform(0.6, 1.0)), alpha  # weathered: greyer, dirtier


def _cap(d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A bottle cap from above: a disc with a darker rim and a highlight."""
    c = (d - 1) / 2
    alpha = np.zeros((d, d), np.uint8)
    cv2.circle(alpha, (round(c * 16), round(c * 16)), round(0.47 * d * 16), 255, -1, cv2.LINE_AA, 4)
    colour = _hsv_colour(rng, (0.5, 1.0), (0.35, 0.95)) if rng.random() < 0.75 else _FOIL * rng.uniform(0.6, 1.0)
    yy, xx = np.mgrid[0:d, 0:d].astype(np.float32)
    r = np.hypot(xx - c, yy - c) / max(0.47 * d, 1)
    shade = np.where(r > 0.8, 0.7, 1.0) + 0.35 * np.exp(-((xx - 0.7 * c) ** 2 + (yy - 0.7 * c) ** 2) / (0.1 * d * d))
    return colour * shade[:, :, None] + smooth_grain(d, rng, 5, max(0.5, d / 20))[:, :, None], alpha


def _scrap(d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A torn bit of wrapper, foil or paper: a ragged polygon, bright or white, with folds."""
    alpha = (blob_alpha(d, "polygon", rng) * 255).astype(np.uint8)
    pick = rng.random()
    if pick < 0.5:
        colour = _hsv_colour(rng, (0.5, 1.0), (0.4, 1.0))  # printed wrapper
    elif pick < 0.8:
        colour = _PAPER * rng.uniform(0.75, 1.0)  # paper, tissue
    else:
        colour = _FOIL * rng.uniform(0.7, 1.1)  # foil
    folds = smooth_grain(d, rng, 25 if pick >= 0.8 else 12, max(0.5, d / 8))
    return colour[None, None, :] + folds[:, :, None], alpha


def small_litter(kind: str, long_side: int, rng: np.random.Generator) -> np.ndarray:
    """A small piece of litter as a premultiplied BGRA cut-out (uint8 (d, d, 4), d = max(long_side, 4)).

    kind: "butt" (cigarette butt lying along x), "cap" (bottle cap) or
    "scrap" (torn wrapper, paper or foil). Drawn from `rng` alone.
    """
    d = max(int(long_side), 4)
    makers = {"butt": _butt, "cap": _cap, "scrap": _scrap}
    if kind not in makers:
        raise ValueError(f"small litter kind must be one of {LITTER_KINDS}, not {kind!r}")
    return premultiplied_cutout(*makers[kind](d, rng))


def draw_kind(rng: np.random.Generator) -> str:
    """One of :data:`LITTER_KINDS`, as often as :data:`KIND_WEIGHTS` says."""
    return LITTER_KINDS[int(rng.choice(len(LITTER_KINDS), p=KIND_WEIGHTS))]
