"""Shared drawing helpers of the demo renderer: stable seeds, value noise, colours,
photo sizes, camera colour and sensor noise, and shading of height fields and cylinders.

Images are float32 0..1 (H, W, 3) BGR inside the renderer; `to_uint8` makes the
final uint8 photo. Everything is vectorised numpy/OpenCV (value noise = random
grids resized).
"""
from __future__ import annotations

import math
import re
import zlib

import cv2
import numpy as np

# Width:height of ordinary photos (landscape and portrait orientation).
PHOTO_ASPECTS = ((4, 3), (3, 2), (1, 1), (3, 4), (2, 3), (16, 9))


# --- small helpers -----------------------------------------------------------

def stable_int(text: str) -> int:
    """A stable 32-bit integer for `text` (crc32; Python's hash() is salted)."""
    return zlib.crc32(text.encode("utf-8"))


def photo_rng(seed: int, *parts: str | int) -> np.random.Generator:
    """A generator seeded by `seed` and stable integers for each part."""
    ints = [int(seed)] + [stable_int(p) if isinstance(p, str) else int(p) for p in parts]
    return np.random.default_rng(ints)


def query_words(query: str) -> list[str]:
    """Lower-case words of `query`, with a plural 's' also given singular."""
    words = []
    for word in re.findall(r"[a-z]+", query.lower()):
        words.append(word)
        if len(word) > 3 and word.endswith("s"):
            words.append(word[:-1])
    return words


def value_noise(
    rng: np.random.Generator, height: int, width: int, cell: float,
    octaves: int = 4, persistence: float = 0.5, aspect: float = 1.0,
) -> np.ndarray:
    """Multi-octave value noise, float32 (H, W), zero mean and unit std.

    Each octave is a random grid of about (H/cell_y, W/cell_x) values resized
    to (H, W) with cubic interpolation; cell is the feature size in pixels
    (cell_x = cell * aspect, so aspect > 1 stretches features horizontally).
    """
    total = np.zeros((height, width), np.float32)
    amplitude = 1.0
    for _ in range(octaves):
        cell_y = max(cell, 1.0)
        cell_x = max(cell * aspect, 1.0)
        grid = rng.random((int(height / cell_y) + 3, int(width / cell_x) + 3), dtype=np.float32)
        total += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        amplitude *= persistence
        cell /= 2.0
    total -= total.mean()
    total /= total.std() + 1e-6
    return total


def noise_1d(rng: np.random.Generator, length: int, cell: float, octaves: int = 3) -> np.ndarray:
    """Multi-octave 1-D value noise, float32 (length,), zero mean, unit std."""
    return value_noise(rng, 1, length, cell, octaves)[0] if length > 1 else np.zeros(length, np.float32)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def bgr(r: float, g: float, b: float) -> np.ndarray:
    """An RGB colour given in 0..255 as a float32 BGR triple in 0..1."""
    return np.array([b, g, r], np.float32) / 255.0


def jitter_colour(rng: np.random.Generator, colour: np.ndarray, amount: float = 0.08) -> np.ndarray:
    """`colour` (BGR float 0..1) a little brighter or darker and slightly off-hue."""
    return np.clip(colour * rng.uniform(1 - amount, 1 + amount) + rng.normal(0, amount / 8, 3), 0, 1).astype(np.float32)


def photo_shape(rng: np.random.Generator, size: int) -> tuple[int, int]:
    """(H, W) of an ordinary photo whose long side is `size`."""
    aw, ah = PHOTO_ASPECTS[rng.integers(len(PHOTO_ASPECTS))]
    if aw >= ah:
        return max(1, round(size * ah / aw)), size
    return size, max(1, round(size * aw / ah))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float 0..1 image -> uint8."""
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def camera_colour(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A camera's white balance and exposure: per-channel gains on a float 0..1 image."""
    gains = rng.uniform(0.92, 1.08) * (1 + rng.normal(0, 0.03, 3)).astype(np.float32)
    return image * gains.astype(np.float32)


def add_sensor_noise(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """Camera-like noise on a float 0..1 image (keeps clean photos sharp for the filter)."""
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    noise *= np.float32(sigma / 255.0)
    return image + noise


# --- shading ---------------------------------------------------------------

def normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / (np.linalg.norm(vectors, axis=-1, keepdims=True) + 1e-6)


def shade(
    albedo: np.ndarray, normals: np.ndarray, light: np.ndarray,
    ambient: float, specular: float | np.ndarray, shininess: float,
) -> np.ndarray:
    """Lambert + Blinn-Phong: albedo (H, W, 3), normals (H, W, 3) unit, light (3,) unit.

    Axes: x right, y down, z towards the viewer. Returns float32 (H, W, 3).
    """
    diffuse = np.clip(normals @ light, 0.0, None)
    half = normalise(light + np.array([0, 0, 1], np.float32))
    highlight = np.clip(normals @ half, 0.0, None) ** shininess
    lit = albedo * (ambient + (1 - ambient) * diffuse)[:, :, None]
    return (lit + (specular * highlight)[:, :, None]).astype(np.float32)


def bump(normals: np.ndarray, height: np.ndarray, strength: float) -> np.ndarray:
    """Tilt normals by the gradient of a height map (crumples, dents, grain)."""
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) * np.float32(strength)
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) * np.float32(strength)
    tilted = normals.copy()
    tilted[:, :, 0] -= gx
    tilted[:, :, 1] -= gy
    return normalise(tilted)


def crumple(rng: np.random.Generator, height: int, width: int, cell: float) -> np.ndarray:
    """Height map of creases: ridged noise (sharp folds), float32 (H, W).

    Scaled with the fold size `cell` (px) so that the slopes, and so the look,
    do not depend on the resolution the object is drawn at.
    """
    ridged = 1.0 - np.abs(value_noise(rng, height, width, cell, octaves=3, persistence=0.6))
    return (ridged + 0.5 * value_noise(rng, height, width, cell * 0.5, octaves=2)) * np.float32(cell / 32.0)


def flat_normals(height: int, width: int) -> np.ndarray:
    normals = np.zeros((height, width, 3), np.float32)
    normals[:, :, 2] = 1.0
    return normals


def cylinder(half_widths: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An upright body of revolution from its half-width per row (px, shape (H,)).

    Returns alpha float32 (H, W) antialiased, u float32 (H, W) in -1..1 across
    the body (for wrapping labels), normals float32 (H, W, 3).
    """
    xs = np.arange(width, dtype=np.float32) - (width - 1) / 2.0
    hw = half_widths.astype(np.float32)[:, None]
    alpha = np.clip(hw - np.abs(xs)[None, :] + 0.5, 0.0, 1.0)
    u = np.clip(xs[None, :] / np.maximum(hw, 1.0), -1.0, 1.0)
    slope = np.gradient(half_widths.astype(np.float32))[:, None]
    nz = np.sqrt(np.clip(1.0 - u * u, 0.02, 1.0))
    normals = np.stack([u, np.broadcast_to(-slope * nz, u.shape), nz], axis=-1)
    return alpha, u, normalise(normals)


def wrap_x(u: np.ndarray) -> np.ndarray:
    """Label coordinate around a cylinder (-1..1), compressed near the edges."""
    return np.arcsin(u) * np.float32(2 / math.pi)
