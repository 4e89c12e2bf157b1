"""Whole-image steps of the synth recipe: what the camera adds after the scene is built.

Lens distortion (image and coverage alike), defocus and motion blur (image
only: the object stays where it was), a lighting look-up table, and sensor
noise from a fixed bank. Images are uint8 (H, W, 3) BGR; coverage float32
(H, W), as in deeptrash.synth.augment.
"""
from __future__ import annotations

import functools
import math

import cv2
import numpy as np


@functools.lru_cache(maxsize=96)
def lens_maps(size: int, k1: float) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point remap maps for radial distortion k1 on a size x size image (cached).

    A pixel at radius r (1 = the corner) samples the source at r * (1 + k1 r^2):
    k1 > 0 squeezes the picture inward (barrel), k1 < 0 stretches it (pincushion).
    """
    centre = (size - 1) / 2.0
    norm = centre * math.sqrt(2.0)
    grid = (np.arange(size, dtype=np.float32) - centre) / norm
    xs, ys = np.meshgrid(grid, grid)
    factor = 1.0 + k1 * (xs * xs + ys * ys)
    map_x = xs * factor * norm + centre
    map_y = ys * factor * norm + centre
    return cv2.convertMaps(map_x.astype(np.float32), map_y.astype(np.float32), cv2.CV_16SC2)


def distort_lens(image: np.ndarray, coverage: np.ndarray, k1: float) -> tuple[np.ndarray, np.ndarray]:
    """Apply the same radial distortion to the image (H, W, 3) and coverage (H, W); square images."""
    map1, map2 = lens_maps(image.shape[0], float(k1))
    image = cv2.remap(image, map1, map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    coverage = cv2.remap(coverage, map1, map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return image, coverage


@functools.lru_cache(maxsize=256)
def motion_kernel(length: int, angle_deg: int) -> np.ndarray:
    """float32 (length, length) line kernel at `angle_deg`, summing to 1."""
    kernel = np.zeros((length * 4, length * 4), np.uint8)
    c = (length * 4 - 1) / 2
    dx = math.cos(math.radians(angle_deg)) * (length * 4 - 1) / 2
    dy = math.sin(math.radians(angle_deg)) * (length * 4 - 1) / 2
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 255, 4, cv2.LINE_AA)
    kernel = cv2.resize(kernel, (length, length), interpolation=cv2.INTER_AREA).astype(np.float32)
    return kernel / kernel.sum()


def defocus(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a uint8 image (a phone camera focused elsewhere); the mask is not blurred."""
    return cv2.GaussianBlur(image, (0, 0), sigma) if sigma > 0 else image


def motion_blur(image: np.ndarray, length: int, angle_deg: int) -> np.ndarray:
    """Directional blur of a uint8 image (the mask is not blurred: the object stays where it was)."""
    return cv2.filter2D(image, -1, motion_kernel(int(length), int(angle_deg)), borderType=cv2.BORDER_REFLECT_101)


def lighting_lut(brightness: float, contrast: float, gamma: float, temperature: float) -> np.ndarray:
    """uint8 (1, 256, 3) per-channel look-up table: gamma, contrast about mid-grey,
    additive brightness, then a warm (+) / cool (-) white balance (red up, blue down)."""
    x = np.arange(256, dtype=np.float64) / 255.0
    v = (x ** gamma) * 255.0
    v = (v - 128.0) * contrast + 128.0 + brightness
    gains = np.array([1.0 - temperature, 1.0, 1.0 + temperature])  # B, G, R
    table = np.clip(v[:, None] * gains[None, :] + 0.5, 0, 255).astype(np.uint8)
    return table[None, :, :]


NOISE_MARGIN = 64


def noise_bank(size: int) -> np.ndarray:
    """float32 (size + 64, size + 64, 3) standard normal noise, the same in every process.

    Drawing fresh normals per image was the single most expensive step; an
    image takes a randomly offset window of this bank instead.
    """
    rng = np.random.default_rng(0x5E45)
    return rng.standard_normal((size + NOISE_MARGIN, size + NOISE_MARGIN, 3), dtype=np.float32)


def add_noise(image: np.ndarray, sigma: float, bank: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian sensor noise of std `sigma` (grey levels) to a uint8 (H, W, 3) image,
    from a random window of `bank` (see :func:`noise_bank`)."""
    if sigma <= 0:
        return image
    h, w = image.shape[:2]
    y, x = (int(v) for v in rng.integers(0, NOISE_MARGIN + 1, 2))
    return cv2.add(image, bank[y:y + h, x:x + w] * np.float32(sigma), dtype=cv2.CV_8U)
