"""Wear on a cut-out: crushed, creased and soiled, as litter that has lain outside is (synth.wear).

The trash sources are clean objects on boards; litter on the ground is
crumpled, dented and dirty. These steps work on the premultiplied cut-out
(uint8 (h, w, 4)) before it is pasted, so the mask follows the new outline
exactly.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

DIRT_BGR = np.array([45, 65, 85], np.float32)  # dark brown-grey: mud and dust


def smooth_field(shape: tuple[int, int], rng: np.random.Generator, cell: float) -> np.ndarray:
    """A smooth random field, float32 (h, w) in [-1, 1]: uniform noise on a grid of `cell` px, bicubic up."""
    h, w = shape
    grid = (max(2, math.ceil(h / cell) + 1), max(2, math.ceil(w / cell) + 1))
    coarse = rng.uniform(-1, 1, grid).astype(np.float32)
    return np.clip(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), -1, 1)


def crumple(premult: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Crush a cut-out: a smooth displacement dents its outline and creases shade its surface.

    premult: uint8 (h, w, 4) premultiplied BGRA. strength in [0, 1]: the
    displacement is up to 6% of the long side and the crease shading up to
    +-35% at 1. Returns a new uint8 (h, w, 4) array, colour <= alpha
    (`premult` itself at strength 0 or under 4 px a side).
    """
    h, w = premult.shape[:2]
    if strength <= 0 or min(h, w) < 4:
        return premult
    long_side = max(h, w)
    cell = long_side / rng.uniform(2.5, 5.0)
    amplitude = 0.06 * strength * long_side
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = xs + smooth_field((h, w), rng, cell) * amplitude
    map_y = ys + smooth_field((h, w), rng, cell) * amplitude
    out = cv2.remap(premult, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # Creases: light falls on the slopes of a finer height field (its x-gradient, lit from the side).
    height = smooth_field((h, w), rng, cell / 2)
    slope = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) * np.float32(cell / 8)
    shade = 1 + np.clip(slope, -1, 1) * np.float32(0.35 * strength)
    bgr = out[:, :, :3].astype(np.float32) * shade[:, :, None]
    alpha = out[:, :, 3:].astype(np.float32)
    out[:, :, :3] = np.minimum(bgr, alpha).clip(0, 255).astype(np.uint8)
    return out


def soil(premult: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Dirty patches on a cut-out: its colour pulled towards mud where a smooth field is high.

    premult: uint8 (h, w, 4) premultiplied BGRA; strength in [0, 1] is the
    most a pixel is pulled towards :data:`DIRT_BGR`. Alpha is unchanged.
    """
    h, w = premult.shape[:2]
    if strength <= 0 or min(h, w) < 2:
        return premult
    field = smooth_field((h, w), rng, max(h, w) / rng.uniform(2.0, 6.0))
    weight = (np.clip(field * 1.5, 0, 1) * np.float32(strength))[:, :, None]
    alpha = premult[:, :, 3:].astype(np.float32) / 255
    bgr = premult[:, :, :3].astype(np.float32)
    out = premult.copy()
    out[:, :, :3] = np.round(bgr * (1 - weight) + DIRT_BGR * alpha * weight).clip(0, 255).astype(np.uint8)
    return out
