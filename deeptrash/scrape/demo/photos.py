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

Everything is vectorised numpy/OpenCV (value noise = random grids resized).
Images are uint8 BGR in OpenCV order; internally colours are float32 in 0..1.
"""
from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np

from deeptrash.errors import UserError
from deeptrash.io import encode_image

JUNK_KINDS = ("near_duplicate", "text_banner", "tiny", "transparent", "extreme_aspect", "blurry")
PHOTO_KINDS = ("trash", "landscape")
TRASH_OBJECTS = ("bottle", "can", "bag", "wrapper", "cup", "butt", "carton", "lid", "straw")
# Width:height of ordinary photos (landscape and portrait orientation).
PHOTO_ASPECTS = ((4, 3), (3, 2), (1, 1), (3, 4), (2, 3), (16, 9))


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


# --- trash objects -----------------------------------------------------------
# Each renderer gets (rng, long side in px, crushed) and returns
# (albedo (H, W, 3), alpha (H, W), normals (H, W, 3), specular, shininess, lying)
# for the object standing upright in its own canvas; lying=True objects may be
# rotated to any angle (they lie on the table), others only slightly.

PLASTIC = [bgr(200, 225, 235), bgr(150, 200, 230), bgr(160, 215, 170), bgr(140, 95, 50), bgr(230, 235, 240)]
VIVID = [bgr(200, 30, 35), bgr(30, 80, 190), bgr(20, 140, 60), bgr(240, 190, 20), bgr(235, 120, 20),
         bgr(120, 40, 150), bgr(20, 20, 25), bgr(240, 240, 240), bgr(0, 150, 170), bgr(200, 40, 120)]
METAL = bgr(200, 200, 205)


def _pick(rng: np.random.Generator, colours: list[np.ndarray]) -> np.ndarray:
    return jitter_colour(rng, colours[rng.integers(len(colours))])


def _label_design(rng, tx: np.ndarray, ty: np.ndarray, base: np.ndarray, accent: np.ndarray) -> np.ndarray:
    """A printed design (wave stripe, bands, a logo disc) in label coordinates.

    tx in -1..1 across, ty in 0..1 down; returns albedo float32 (H, W, 3).
    """
    design = np.broadcast_to(base, tx.shape + (3,)).copy()
    centre, phase, freq = rng.uniform(0.3, 0.7), rng.uniform(0, 6.3), rng.uniform(1, 3)
    wave = np.abs(ty - centre - 0.08 * np.sin(tx * math.pi * freq + phase)) < rng.uniform(0.04, 0.12)
    design[wave] = accent
    if rng.random() < 0.6:
        band = np.abs(ty - rng.uniform(0.1, 0.9)) < rng.uniform(0.015, 0.04)
        design[band] = jitter_colour(rng, bgr(245, 245, 240))
    if rng.random() < 0.6:
        cx, cy, r = rng.uniform(-0.4, 0.4), rng.uniform(0.2, 0.8), rng.uniform(0.12, 0.25)
        disc = (tx - cx) ** 2 + ((ty - cy) * 2.2) ** 2 < r * r
        design[disc] = _pick(rng, VIVID)
    return design


def _bottle(rng, length, crushed):
    h, w = length, max(8, int(length / rng.uniform(2.8, 3.6)))
    y = np.linspace(0, 1, h, dtype=np.float32)
    cap_end, neck_end, shoulder_end = rng.uniform(0.05, 0.09), rng.uniform(0.14, 0.22), rng.uniform(0.3, 0.42)
    neck = rng.uniform(0.13, 0.19)
    profile = np.where(y < cap_end, neck + 0.03, neck)
    profile = np.where(y >= neck_end, neck + (0.5 - neck) * smoothstep(neck_end, shoulder_end, y), profile)
    profile = profile * (1 - 0.04 * (np.sin(y * rng.uniform(30, 60)) > 0.6) * (y > shoulder_end))  # ribs
    bottom = y > 0.96
    profile = np.where(bottom, profile * np.sqrt(np.clip(1 - ((y - 0.96) / 0.045) ** 2, 0, 1)), profile)
    if crushed:
        profile = profile * (1 - 0.18 * np.exp(-((y - rng.uniform(0.45, 0.8)) / 0.1) ** 2))
        profile = profile * (1 + 0.04 * noise_1d(rng, h, h / 12))
    alpha, u, normals = cylinder(profile * w, w)
    tint = _pick(rng, PLASTIC)
    albedo = np.broadcast_to(tint, alpha.shape + (3,)).copy()
    tx, ty = wrap_x(u), np.broadcast_to(y[:, None], u.shape)
    top, bottom_lab = rng.uniform(0.42, 0.55), rng.uniform(0.65, 0.8)
    label = (ty > top) & (ty < bottom_lab)
    if rng.random() < 0.85:
        design = _label_design(rng, tx, (ty - top) / (bottom_lab - top), _pick(rng, VIVID), _pick(rng, VIVID))
        albedo[label] = design[label]
    albedo[ty < cap_end] = _pick(rng, VIVID)
    # Clear plastic: the middle of the body looks through (darker), edges catch light.
    albedo *= (0.8 + 0.2 * np.abs(u))[:, :, None]
    if crushed:
        normals = bump(normals, crumple(rng, h, w, w / 2.5), 0.6)
    specular = np.where(label, 0.25, 0.7).astype(np.float32)
    return albedo, alpha, normals, specular, 40.0, False


def _can(rng, length, crushed):
    h, w = length, max(8, int(length / rng.uniform(1.7, 2.0)))
    y = np.linspace(0, 1, h, dtype=np.float32)
    profile = np.full(h, 0.5, np.float32)
    profile = np.where(y < 0.07, 0.42 + 0.08 * smoothstep(0.0, 0.07, y), profile)
    profile = np.where(y > 0.94, 0.5 - 0.08 * smoothstep(0.94, 1.0, y), profile)
    if crushed:
        profile = profile * (1 - rng.uniform(0.15, 0.3) * np.exp(-((y - rng.uniform(0.35, 0.65)) / 0.15) ** 2))
        profile = profile * (1 + 0.05 * noise_1d(rng, h, h / 10))
    alpha, u, normals = cylinder(profile * w, w)
    tx, ty = wrap_x(u), np.broadcast_to(y[:, None], u.shape)
    albedo = _label_design(rng, tx, ty, _pick(rng, VIVID), _pick(rng, VIVID))
    rims = (ty < 0.08) | (ty > 0.93)
    albedo[rims] = METAL
    if crushed:
        normals = bump(normals, crumple(rng, h, w, w / 2.5), 0.2)
    specular = np.where(rims, 0.9, 0.6).astype(np.float32)
    return albedo, alpha, normals, specular, 30.0, crushed


def _cup(rng, length, crushed):
    h, w = length, max(8, int(length / rng.uniform(1.15, 1.5)))
    y = np.linspace(0, 1, h, dtype=np.float32)
    taper = rng.uniform(0.32, 0.42)
    profile = 0.48 - (0.48 - taper) * y
    profile = np.where(y < 0.035, 0.5, profile)
    if crushed:
        profile = profile * (1 + 0.06 * noise_1d(rng, h, h / 8))
    alpha, u, normals = cylinder(profile * w, w)
    tx, ty = wrap_x(u), np.broadcast_to(y[:, None], u.shape)
    base = _pick(rng, [bgr(245, 245, 240), bgr(200, 160, 110), bgr(245, 245, 240)] + VIVID[:3])
    albedo = _label_design(rng, tx, ty, base, _pick(rng, VIVID))
    albedo[ty < 0.035] = jitter_colour(rng, bgr(250, 250, 248))
    if crushed:
        normals = bump(normals, crumple(rng, h, w, w / 2.5), 0.6)
    return albedo, alpha, normals, np.float32(0.2), 12.0, False


def _butt(rng, length, crushed):
    h, w = length, max(6, int(length / rng.uniform(3.8, 5.0)))
    y = np.linspace(0, 1, h, dtype=np.float32)
    ends = np.sqrt(np.clip(1 - ((np.minimum(y, 1 - y) - 0.025) / -0.025).clip(0) ** 2, 0.05, 1))
    profile = 0.5 * ends * (1 + 0.03 * noise_1d(rng, h, h / 6))
    alpha, u, normals = cylinder(profile * w, w)
    ty = np.broadcast_to(y[:, None], u.shape)
    filter_start = rng.uniform(0.35, 0.55)
    ragged = 0.1 + 0.05 * noise_1d(rng, w, w / 3)[None, :]
    filter_colour = _pick(rng, [bgr(215, 150, 80), bgr(200, 140, 70), bgr(235, 230, 215)])
    albedo = np.empty(alpha.shape + (3,), np.float32)
    albedo[:] = jitter_colour(rng, bgr(240, 238, 230))
    is_filter = ty > filter_start
    speckle = value_noise(rng, h, w, 2.0, octaves=1) > 1.2
    albedo[is_filter] = filter_colour
    albedo[is_filter & speckle] = filter_colour * 0.75
    albedo[ty < ragged] = jitter_colour(rng, bgr(70, 65, 60))
    albedo[np.abs(ty - filter_start) < 0.012] = jitter_colour(rng, bgr(200, 170, 60))
    normals = bump(normals, crumple(rng, h, w, w / 2), 0.3 if crushed else 0.12)
    return albedo, alpha, normals, np.float32(0.08), 8.0, True


def _straw(rng, length, crushed):
    h, w = length, max(5, int(length / rng.uniform(7, 10)))
    y = np.linspace(0, 1, h, dtype=np.float32)
    alpha, u, normals = cylinder(np.full(h, 0.5 * w, np.float32), w)
    tx, ty = wrap_x(u), np.broadcast_to(y[:, None], u.shape)
    stripes = ((ty * h / w * 0.6 + tx * 0.5) % 1.0) < 0.5
    albedo = np.where(stripes[:, :, None], _pick(rng, VIVID), jitter_colour(rng, bgr(245, 245, 245)))
    return albedo.astype(np.float32), alpha, normals, np.float32(0.5), 30.0, True


def _polar_blob(rng, h, w, roughness: float) -> tuple[np.ndarray, np.ndarray]:
    """A lumpy blob filling the canvas: alpha (H, W) and dome normals (H, W, 3)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy, rx, ry = (w - 1) / 2, (h - 1) / 2, w * 0.46, h * 0.46
    angle = np.arctan2((ys - cy) / ry, (xs - cx) / rx)
    bins = 720
    radius = 1 - roughness * (0.5 + 0.5 * np.tanh(noise_1d(rng, bins, bins / 10)))
    radius = (radius + radius[::-1]) / 2 if rng.random() < 0.3 else radius
    r_at = radius[((angle + math.pi) / (2 * math.pi) * (bins - 1)).astype(np.int32)]
    dist = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2) / r_at
    alpha = np.clip((1 - dist) * min(rx, ry) + 0.5, 0, 1)
    nz = np.sqrt(np.clip(1 - np.minimum(dist, 1) ** 2, 0.02, 1))
    normals = normalise(np.stack([(xs - cx) / rx, (ys - cy) / ry, nz * 1.5], axis=-1))
    return alpha, normals


def _bag(rng, length, crushed):
    h, w = length, max(8, int(length * rng.uniform(0.8, 1.1)))
    alpha, normals = _polar_blob(rng, h, w, rng.uniform(0.15, 0.3))
    if rng.random() < 0.7:  # handles: two loops above the body
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        for side in (-1, 1):
            cx, cy = w / 2 + side * w * 0.18, h * 0.2
            d = np.sqrt(((xs - cx) / (w * 0.11)) ** 2 + ((ys - cy) / (h * 0.16)) ** 2)
            ring = np.clip((0.25 - np.abs(d - 0.8)) * w * 0.11 + 0.5, 0, 1)
            alpha = np.maximum(alpha, ring * (ys < h * 0.3))
    colour = _pick(rng, [bgr(240, 240, 235), bgr(230, 232, 235), bgr(30, 30, 35), bgr(40, 90, 170),
                         bgr(230, 200, 40), bgr(180, 40, 40), bgr(60, 140, 70)])
    albedo = np.broadcast_to(colour, alpha.shape + (3,)).copy()
    # Thin plastic: thickness varies, printed logo on some bags.
    albedo *= (0.9 + 0.06 * value_noise(rng, h, w, w / 6, octaves=2))[:, :, None]
    if rng.random() < 0.5:
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        logo = ((xs - w * rng.uniform(0.35, 0.65)) / w) ** 2 + ((ys - h * rng.uniform(0.45, 0.65)) / h) ** 2 < 0.012
        albedo[logo] = _pick(rng, VIVID)
    # Thin film: broad soft billows with a few sharp creases (ridged noise alone looks like a brain).
    cell = w / rng.uniform(2.5, 4.5)
    billows = value_noise(rng, h, w, cell, octaves=4, persistence=0.55) * np.float32(cell / 32.0)
    normals = bump(normals, billows + 0.35 * crumple(rng, h, w, cell * 0.6), rng.uniform(0.5, 0.9))
    return albedo, alpha, normals, np.float32(0.45), 15.0, True


def _wrapper(rng, length, crushed):
    w, h = length, max(8, int(length / rng.uniform(1.8, 2.6)))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xn, yn = xs / (w - 1), ys / (h - 1) - 0.5
    if rng.random() < 0.5:  # candy: twisted ends flare out from a pinched neck
        end = rng.uniform(0.15, 0.22)
        edge = np.minimum(xn, 1 - xn)
        half = np.where(edge > end, 0.42, 0.16 + 0.3 * smoothstep(end * 0.7, 0.0, edge))
        half = np.where((edge < end) & (edge > end * 0.7), 0.16 + 0.26 * smoothstep(end * 0.7, end, edge), half)
        zigzag = 0.015 + 0.012 * np.abs(((yn * 14) % 2) - 1)
        alpha = np.clip((half - np.abs(yn)) * h + 0.5, 0, 1) * np.clip((edge - zigzag) * w + 0.5, 0, 1)
        folds = np.sin(yn * rng.uniform(30, 50)) * (edge < end)
    else:  # chips packet: pillow with serrated crimped ends
        serr = 0.02 + 0.015 * np.abs(((yn * 40) % 2) - 1)
        alpha = np.clip((0.46 - np.abs(yn)) * h + 0.5, 0, 1) * np.clip((np.minimum(xn, 1 - xn) - serr) * w + 0.5, 0, 1)
        folds = np.sin(xn * 120) * (np.minimum(xn, 1 - xn) < 0.07)
    pillow = np.stack([(xn - 0.5) * 0.8, yn * 1.6, np.ones_like(xn)], axis=-1)
    normals = normalise(pillow)
    height = crumple(rng, h, w, h / rng.uniform(2, 4)) + 0.5 * folds
    normals = bump(normals, height, rng.uniform(2.0, 3.5))
    albedo = _label_design(rng, (xn - 0.5) * 2, yn + 0.5, _pick(rng, VIVID), _pick(rng, VIVID))
    foil = rng.random() < 0.5
    return albedo, alpha.astype(np.float32), normals, np.float32(0.9 if foil else 0.45), 25.0 if foil else 12.0, True


def _carton(rng, length, crushed):
    front_w, front_h = rng.uniform(0.45, 0.6), rng.uniform(0.55, 0.75)
    depth_x, depth_y = rng.uniform(0.15, 0.3), rng.uniform(0.1, 0.2)
    h = length
    w = max(8, int(length * (front_w + depth_x) / (front_h + depth_y)))
    sx, sy = (w - 1) / (front_w + depth_x), (h - 1) / (front_h + depth_y)

    def poly(points):
        canvas = np.zeros((h, w), np.uint8)
        pts = np.array([[p[0] * sx, p[1] * sy] for p in points], np.float32)
        if crushed:
            pts += rng.normal(0, 0.015 * length, pts.shape).astype(np.float32)
        cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        return canvas.astype(np.float32) / 255.0

    fw, fh, dx, dy = front_w, front_h, depth_x, depth_y
    top = poly([(0, dy), (dx, 0), (fw + dx, 0), (fw, dy)])
    side = poly([(fw, dy), (fw + dx, 0), (fw + dx, fh), (fw, fh + dy)])
    front = poly([(0, dy), (fw, dy), (fw, fh + dy), (0, fh + dy)])
    alpha = np.clip(top + side + front, 0, 1)
    normals = normalise(front[:, :, None] * np.array([0, 0, 1], np.float32)
                        + side[:, :, None] * np.array([0.85, 0, 0.5], np.float32)
                        + top[:, :, None] * np.array([0, -0.8, 0.6], np.float32) + np.float32(1e-3))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    tx, ty = (xs / sx / fw) * 2 - 1, (ys / sy - dy) / fh
    base = _pick(rng, [bgr(190, 150, 105), bgr(245, 245, 240)] + VIVID)
    albedo = _label_design(rng, tx, ty, base, _pick(rng, VIVID))
    albedo = np.where((front > 0.5)[:, :, None], albedo, base)
    if crushed:
        normals = bump(normals, crumple(rng, h, w, w / 4), 1.5)
    return albedo.astype(np.float32), alpha, normals, np.float32(0.15), 10.0, False


def _lid(rng, length, crushed):
    w = length
    ratio = rng.uniform(0.45, 0.85)
    thick = rng.uniform(0.08, 0.25) * ratio
    h = max(8, int(w * (ratio + thick)))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    # Seen from above at an angle: a top ellipse (semi-axes a, b) over a band of height t.
    a, b = (w - 1) / 2, (h - 1) / 2 / (1 + thick / ratio)
    t = h - 1 - 2 * b
    cy_top, cy_bot = b, b + t
    dx = (xs - a) / a
    d_top = np.sqrt(dx ** 2 + ((ys - cy_top) / b) ** 2)
    d_bot = np.sqrt(dx ** 2 + ((ys - cy_bot) / b) ** 2)
    top_face = np.clip((1 - d_top) * min(a, b) + 0.5, 0, 1)
    band = (np.abs(dx) < 1) & (ys > cy_top) & (ys < cy_bot)
    bottom = np.clip((1 - d_bot) * min(a, b) + 0.5, 0, 1)
    alpha = np.maximum(top_face, np.maximum(bottom, band * np.clip((1 - np.abs(dx)) * a + 0.5, 0, 1)))
    u = np.clip(dx, -1, 1)
    side_normals = normalise(np.stack([u, np.full_like(u, 0.2), np.sqrt(np.clip(1 - u * u, 0.02, 1))], -1))
    top_normal = normalise(np.array([0, -ratio * 0.0 - math.sqrt(max(1 - ratio * ratio, 0.01)), ratio], np.float32))
    on_top = (top_face > 0.5)[:, :, None]
    normals = np.where(on_top, np.broadcast_to(top_normal, side_normals.shape), side_normals).astype(np.float32)
    colour = _pick(rng, VIVID + [bgr(245, 245, 245)])
    albedo = np.broadcast_to(colour, alpha.shape + (3,)).copy()
    ring = (d_top > 0.82) & (d_top < 0.9)
    albedo[ring] = colour * 1.15
    ridges = (~on_top[:, :, 0]) & (np.sin(np.arcsin(u) * 40) > 0.3)
    albedo[ridges] = colour * 0.8
    return np.clip(albedo, 0, 1), alpha, normals, np.float32(0.5), 25.0, True


OBJECT_RENDERERS: dict[str, Callable] = {
    "bottle": _bottle, "can": _can, "bag": _bag, "wrapper": _wrapper, "cup": _cup,
    "butt": _butt, "carton": _carton, "lid": _lid, "straw": _straw,
}
TRASH_WORDS = {
    "bottle": "bottle", "pet": "bottle", "flask": "bottle",
    "can": "can", "tin": "can", "aluminium": "can", "aluminum": "can", "beer": "can",
    "bag": "bag", "sack": "bag", "carrier": "bag",
    "wrapper": "wrapper", "packet": "wrapper", "package": "wrapper", "packaging": "wrapper",
    "chip": "wrapper", "crisp": "wrapper", "candy": "wrapper", "foil": "wrapper", "snack": "wrapper",
    "cup": "cup", "mug": "cup",
    "cigarette": "butt", "butt": "butt", "filter": "butt", "cigar": "butt",
    "carton": "carton", "box": "carton", "cardboard": "carton", "tetrapak": "carton", "milk": "carton",
    "lid": "lid", "cap": "lid", "caps": "lid", "top": "lid",
    "straw": "straw",
}
CRUSHED_WORDS = {"crushed", "crumpled", "squashed", "flattened", "dented", "crushe", "crumple"}


def trash_object_for(query: str) -> str:
    """Which object a trash query shows: its last object word (the English head
    noun, so 'bottle cap' is a lid, 'coffee cup' a cup), else a stable pick."""
    found = [TRASH_WORDS[word] for word in query_words(query) if word in TRASH_WORDS]
    if found:
        return found[-1]
    return TRASH_OBJECTS[stable_int(query.strip().lower()) % len(TRASH_OBJECTS)]


# --- trash backgrounds and composition ---------------------------------------

def _table_background(rng, h, w) -> np.ndarray:
    """A plain studio/table background, float32 (H, W, 3) 0..1."""
    style = rng.choice(["solid", "gradient", "wood", "paper", "concrete"], p=[0.2, 0.25, 0.25, 0.15, 0.15])
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    if style == "solid":
        colour = _pick(rng, [bgr(235, 235, 232), bgr(200, 205, 210), bgr(90, 95, 100), bgr(180, 200, 220),
                             bgr(225, 215, 190), bgr(160, 190, 160), bgr(60, 60, 65)])
        image = np.broadcast_to(colour, (h, w, 3)).copy()
    elif style == "gradient":
        top = _pick(rng, [bgr(245, 245, 245), bgr(200, 215, 230), bgr(120, 125, 130), bgr(230, 220, 200)])
        bottom = top * rng.uniform(0.6, 0.9)
        image = top + (bottom - top) * ys
        image = np.broadcast_to(image, (h, w, 3)).copy()
    elif style == "wood":
        light = _pick(rng, [bgr(190, 140, 95), bgr(215, 175, 125), bgr(150, 100, 65), bgr(225, 200, 160)])
        # Broad, soft grain: thin dark streaks in rows would read as print to the text filter.
        grain = value_noise(rng, h, w, h / 12, octaves=2, aspect=8.0)
        rings = 0.5 + 0.5 * np.sin(grain * rng.uniform(2, 3) + np.linspace(0, rng.uniform(4, 10), h)[:, None])
        image = light * (0.88 + 0.12 * rings)[:, :, None]
        plank = int(h / rng.uniform(2.5, 5))
        seams = (np.arange(h) + rng.integers(plank)) % plank < max(1, h // 200)
        image[seams] *= 0.55
    elif style == "paper":
        colour = _pick(rng, [bgr(245, 243, 238), bgr(240, 235, 220), bgr(250, 250, 250)])
        fibres = value_noise(rng, h, w, 3.0, octaves=2)
        image = colour * (0.97 + 0.015 * fibres)[:, :, None]
    else:
        colour = _pick(rng, [bgr(150, 150, 148), bgr(175, 170, 160), bgr(120, 118, 115)])
        speckle = value_noise(rng, h, w, 2.0, octaves=2) + 0.5 * value_noise(rng, h, w, h / 5, octaves=2)
        image = colour * (0.92 + 0.05 * speckle)[:, :, None]
    # Soft light fall-off: brighter where the lamp points, darker corners.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.2, 0.6)
    falloff = 1 - rng.uniform(0.1, 0.3) * (((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2)
    return (image * falloff[:, :, None]).astype(np.float32)


CLOSE_COLOUR = 0.18     # BGR distance (0..1 scale) below which an object pixel "matches" the table
MAX_CLOSE_SHARE = 0.1   # share of matching object pixels a background may have


def _rotate(image: np.ndarray, angle: float) -> np.ndarray:
    """Rotate an (H, W[, C]) float image by `angle` degrees on an enlarged canvas."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(h * sin + w * cos) + 2, int(h * cos + w * sin) + 2
    matrix[0, 2] += nw / 2 - w / 2
    matrix[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(image, matrix, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)


def _render_trash_hw(rng: np.random.Generator, obj: str, crushed: bool, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A trash photo of size (h, w): image float32 (H, W, 3) 0..1, alpha float32 (H, W)."""
    long_side = max(h, w)
    light = normalise(np.array([rng.uniform(-0.7, 0.7), rng.uniform(-0.8, -0.3), rng.uniform(0.5, 0.9)], np.float32))
    albedo, alpha, normals, specular, shininess, lying = OBJECT_RENDERERS[obj](rng, max(24, int(long_side * 0.8)), crushed)
    colour = shade(albedo, normals, light, rng.uniform(0.3, 0.45), specular, shininess)
    if lying:
        angle = rng.uniform(-180, 180)
    else:
        angle = rng.uniform(-20, 20) + (90 * rng.choice([-1, 1]) if rng.random() < 0.25 else 0)
    layers = _rotate(np.dstack([colour * alpha[:, :, None], alpha]), angle)
    ys, xs = np.nonzero(layers[:, :, 3] > 0.02)
    layers = layers[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    bh, bw = layers.shape[:2]
    area = float(layers[:, :, 3].sum())
    target = rng.uniform(0.12, 0.5) * h * w
    scale = min(math.sqrt(target / max(area, 1.0)), 0.9 * w / bw, 0.9 * h / bh)
    nw, nh = max(2, int(bw * scale)), max(2, int(bh * scale))
    layers = cv2.resize(layers, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x0 = int(rng.uniform(0.04 * w, max(0.04 * w, w - nw - 0.04 * w) + 1e-3))
    y0 = int(rng.uniform(0.04 * h, max(0.04 * h, h - nh - 0.04 * h) + 1e-3))
    x0, y0 = min(x0, w - nw), min(y0, h - nh)
    full = np.zeros((h, w, 4), np.float32)
    full[y0:y0 + nh, x0:x0 + nw] = layers
    premult, obj_alpha = full[:, :, :3], full[:, :, 3]
    background = _table_background(rng, h, w)
    background = _ensure_contrast(rng, background, premult, obj_alpha)
    # Contact shadow: a wide soft one cast away from the light plus a tight dark one.
    offset = np.float32([[1, 0, -light[0] * 0.04 * long_side], [0, 1, 0.03 * long_side]])
    cast = cv2.warpAffine(obj_alpha, offset, (w, h))
    soft = cv2.GaussianBlur(cast, (0, 0), 0.03 * long_side)
    tight = cv2.GaussianBlur(obj_alpha, (0, 0), 0.006 * long_side + 0.5)
    shadow = np.clip(rng.uniform(0.3, 0.5) * soft + 0.35 * tight, 0, 0.8)
    background = background * (1 - shadow)[:, :, None]
    image = background * (1 - obj_alpha)[:, :, None] + premult
    return image, obj_alpha


def _ensure_contrast(rng, background, premult, alpha) -> np.ndarray:
    """Darken or lighten a background that too much of the object matches,
    as a photographer picks a contrasting table (keeps crop feasible).

    Compares each object pixel with the background right under it; if more
    than MAX_CLOSE_SHARE of them are within CLOSE_COLOUR (BGR distance, 0..1
    scale), the background is rescaled to a dark or light level, whichever
    leaves fewer close pixels. Shapes: background, premult (H, W, 3), alpha (H, W).
    """
    dark, light = rng.uniform(0.12, 0.3), rng.uniform(0.75, 0.95)  # drawn always: stable rng use
    inside = alpha > 0.98
    if not inside.any():
        return background
    colours = premult[inside]

    def close_share(candidate: np.ndarray) -> float:
        return float((np.linalg.norm(colours - candidate[inside], axis=1) < CLOSE_COLOUR).mean())

    if close_share(background) <= MAX_CLOSE_SHARE:
        return background
    level = max(float(background.mean()), 0.05)
    options = [np.clip(background * np.float32(target / level), 0, 1).astype(np.float32) for target in (dark, light)]
    return min(options, key=close_share)


def render_trash(query: str, index: int, seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Trash photo `index` for `query`: BGR uint8 (H, W, 3) and mask uint8 (H, W) 0/255.

    The long side is `size`; the aspect is an ordinary photo's (4:3, 3:2, 1:1...).
    """
    rng = photo_rng(seed, "trash", query, index)
    h, w = photo_shape(rng, size)
    return _finish_trash(rng, query, h, w)


def _finish_trash(rng, query, h, w) -> tuple[np.ndarray, np.ndarray]:
    words = set(query_words(query))
    crushed = bool(words & CRUSHED_WORDS) or rng.random() < 0.2
    image, alpha = _render_trash_hw(rng, trash_object_for(query), crushed, h, w)
    image = add_sensor_noise(rng, camera_colour(rng, image), rng.uniform(1.5, 3.5))
    return to_uint8(image), np.where(alpha >= 0.5, 255, 0).astype(np.uint8)


# --- landscapes --------------------------------------------------------------

GROUND_WORDS = {
    "forest": "forest_floor", "wood": "forest_floor", "woodland": "forest_floor", "trail": "forest_floor",
    "path": "forest_floor", "jungle": "forest_floor", "leaves": "forest_floor", "leaf": "forest_floor",
    "beach": "sand", "sand": "sand", "sandy": "sand", "dune": "sand", "desert": "sand", "coast": "sand",
    "park": "grass", "lawn": "grass", "grass": "grass", "meadow": "grass", "garden": "grass", "field": "grass",
    "pasture": "grass", "prairie": "grass", "hill": "grass", "valley": "grass",
    "sidewalk": "pavement", "pavement": "pavement", "city": "pavement", "street": "pavement",
    "urban": "pavement", "plaza": "pavement", "square": "pavement", "cobblestone": "pavement",
    "asphalt": "asphalt", "road": "asphalt", "parking": "asphalt", "highway": "asphalt",
    "rock": "rock", "rocky": "rock", "stone": "rock", "cliff": "rock", "mountain": "rock", "boulder": "rock",
    "gravel": "gravel", "pebble": "gravel", "shingle": "gravel",
    "river": "water", "lake": "water", "pond": "water", "stream": "water", "water": "water",
    "dirt": "dirt", "mud": "dirt", "soil": "dirt",
}
HORIZON_WORDS = {
    "forest": "treeline", "wood": "treeline", "woodland": "treeline", "trail": "treeline", "park": "treeline",
    "jungle": "treeline", "river": "treeline", "lake": "hills", "garden": "treeline",
    "beach": "sea", "sea": "sea", "ocean": "sea", "coast": "sea", "shore": "sea", "bay": "sea",
    "city": "buildings", "sidewalk": "buildings", "street": "buildings", "urban": "buildings",
    "plaza": "buildings", "road": "buildings", "parking": "buildings", "town": "buildings",
    "mountain": "mountains", "alpine": "mountains", "alp": "mountains", "peak": "mountains",
    "meadow": "hills", "field": "hills", "lawn": "treeline", "hill": "hills", "valley": "mountains",
    "prairie": "hills", "pasture": "hills", "desert": "hills", "dune": "hills",
}
GROUNDS = ("grass", "sand", "rock", "gravel", "asphalt", "pavement", "forest_floor", "water", "dirt")
HORIZONS = ("mountains", "hills", "treeline", "sea", "buildings")
NEARBY_HORIZONS = {  # plausible alternatives for variety between photos of one query
    "mountains": ("hills", "treeline"), "hills": ("treeline", "mountains"), "treeline": ("hills", "mountains"),
    "sea": ("hills", "treeline"), "buildings": ("treeline", "hills"),
}


def landscape_scene(query: str) -> tuple[list[str], str]:
    """(ground types in query order, horizon type) for a landscape query."""
    words = query_words(query)
    grounds = list(dict.fromkeys(GROUND_WORDS[w] for w in words if w in GROUND_WORDS))
    horizons = [HORIZON_WORDS[w] for w in words if w in HORIZON_WORDS]
    fallback = stable_int(query.strip().lower())
    if not grounds:
        grounds = [GROUNDS[fallback % len(GROUNDS)]]
    horizon = horizons[0] if horizons else HORIZONS[(fallback // 7) % len(HORIZONS)]
    return grounds, horizon


SKIES = {  # (zenith, horizon) colours, sun tint
    "day": (bgr(70, 130, 200), bgr(190, 215, 235), bgr(255, 250, 240)),
    "clear": (bgr(40, 110, 210), bgr(170, 205, 235), bgr(255, 252, 245)),
    "golden": (bgr(90, 120, 170), bgr(250, 190, 120), bgr(255, 215, 170)),
    "overcast": (bgr(170, 175, 180), bgr(210, 212, 212), bgr(225, 228, 232)),
    "dusk": (bgr(40, 50, 100), bgr(230, 130, 110), bgr(200, 170, 180)),
}


def _sky(rng, h, w, zenith, horizon_colour, cloudiness) -> np.ndarray:
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None] ** 0.8
    sky = zenith + (horizon_colour - zenith) * t
    sky = np.broadcast_to(sky, (h, w, 3)).copy()
    if cloudiness > 0:
        clouds = value_noise(rng, h, w, h / 2.5, octaves=5, aspect=2.5)
        cover = smoothstep(1.2 - 2.2 * cloudiness, 1.8 - 2.2 * cloudiness, clouds)
        cloud_colour = horizon_colour * 0.3 + np.float32(0.72) + 0.08 * clouds[:, :, None]
        sky = sky * (1 - cover[:, :, None]) + np.clip(cloud_colour, 0, 1) * cover[:, :, None]
    return sky


def _ridge(rng, w, base, amplitude, cell, sharp=False) -> np.ndarray:
    """Skyline height per column (px, float32 (W,)): base minus noise * amplitude."""
    n = noise_1d(rng, w, cell, octaves=4)
    if sharp:  # peaks: folded noise looks like ridges and summits
        n = 1.5 - np.abs(n) * 1.5 + 0.3 * noise_1d(rng, w, cell / 4, octaves=2)
    return base - amplitude * (n - n.min()) / (np.ptp(n) + 1e-6)


def _layer(sky, top_per_column, colour) -> np.ndarray:
    """Paint `colour` (H, W, 3 or 3,) below a per-column skyline on `sky` (in place)."""
    h = sky.shape[0]
    rows = np.arange(h, dtype=np.float32)[:, None]
    cover = np.clip(rows - top_per_column[None, :] + 0.5, 0, 1)[:, :, None]
    sky *= 1 - cover
    sky += cover * colour
    return sky


def _horizon(rng, image, horizon_y, kind, haze_colour, tint) -> np.ndarray:
    """Draw the far scenery above `horizon_y` (rows) into the sky image in place."""
    h, w = image.shape[:2]
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    if kind == "mountains":
        for depth, (colour, amp) in enumerate([(bgr(120, 130, 150), 0.45), (bgr(80, 95, 95), 0.3)]):
            top = _ridge(rng, w, horizon_y + 2, horizon_y * amp * rng.uniform(0.7, 1.1), w / rng.uniform(2, 4), sharp=True)
            shade_ = colour * tint * (0.9 + 0.1 * value_noise(rng, h, w, h / 8, octaves=3)[:, :, None])
            haze = 0.55 - 0.3 * depth
            shade_ = shade_ * (1 - haze) + haze_colour * haze
            if depth == 0 and rng.random() < 0.6:  # snow on the far peaks
                snow = (rows[:, :, 0] < (top.min() + (horizon_y - top.min()) * 0.25)) & \
                       (value_noise(rng, h, w, h / 20, octaves=2) > -0.3)
                shade_ = np.where(snow[:, :, None], np.float32(0.92) * tint, shade_)
            _layer(image, top, shade_)
    elif kind == "hills":
        for depth, colour in enumerate([bgr(110, 140, 110), bgr(80, 125, 60)]):
            top = _ridge(rng, w, horizon_y + 1, horizon_y * rng.uniform(0.08, 0.2), w / rng.uniform(0.7, 1.5))
            haze = 0.45 - 0.3 * depth
            _layer(image, top, (colour * tint) * (1 - haze) + haze_colour * haze)
    elif kind == "treeline":
        top = _ridge(rng, w, horizon_y + 1, horizon_y * rng.uniform(0.15, 0.35), w / 3)
        top = top - np.abs(noise_1d(rng, w, max(3.0, w / 60), octaves=2)) * horizon_y * 0.05
        foliage = value_noise(rng, h, w, max(2.0, w / 80), octaves=3)
        colour = jitter_colour(rng, bgr(40, 70, 35)) * tint * (0.85 + 0.15 * foliage[:, :, None])
        _layer(image, top, colour * 0.85 + haze_colour * 0.15)
    elif kind == "buildings":
        xs = np.arange(w)
        edges = np.cumsum(rng.uniform(0.05, 0.14, 40) * w).astype(int) - int(rng.uniform(0, 0.1) * w)
        ids = np.searchsorted(edges, xs, side="right")
        heights = rng.uniform(0.2, 0.85, 41) * horizon_y
        tops = horizon_y + 1 - heights[ids]
        greys = np.array([jitter_colour(rng, c) for c in
                          [bgr(160, 160, 165), bgr(190, 180, 165), bgr(130, 135, 140), bgr(200, 195, 190)] * 11])
        colour = greys[ids % len(greys)][None, :, :] * tint
        left = np.concatenate([[0], edges])[ids]
        period_x, period_y = max(3, int(w / 40)), max(4, int(h / 25))
        windows = ((xs - left) % period_x < period_x * 0.55)[None, :] & \
                  ((np.arange(h)[:, None] - tops[None, :].astype(int)) % period_y > period_y * 0.4) & \
                  ((xs - left) > period_x * 0.4)[None, :]
        colour = np.where(windows[:, :, None], colour * 0.55, colour)
        _layer(image, tops.astype(np.float32), colour * 0.85 + haze_colour * 0.15)
    # "sea" draws nothing above the horizon: the water is part of the ground below.
    return image


def _cells(rng, h, w, cell: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cellular (Voronoi) noise around random points about `cell` px apart.

    Returns the distance to the nearest point in cell units (float32 (H, W)),
    the distance to the nearest cell border in px (float32 (H, W)) and each
    pixel's cell id (int32 (H, W), 1..n). OpenCV's distance transforms do the work.
    """
    n = max(1, int(h * w / cell ** 2))
    seeds = np.ones((h, w), np.uint8)
    seeds[rng.integers(0, h, n), rng.integers(0, w, n)] = 0
    dist, ids = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    border = np.zeros((h, w), bool)
    border[1:] |= ids[1:] != ids[:-1]
    border[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    to_border = cv2.distanceTransform((~border).astype(np.uint8), cv2.DIST_L2, 3)
    return dist / np.float32(cell), to_border, ids


def _ground_texture(rng, kind, h, w, sky_colour) -> np.ndarray:
    """A flat (top-down) ground texture, float32 (H, W, 3) 0..1."""
    fine = rng.standard_normal((h, w), dtype=np.float32)  # per-pixel grain
    low = value_noise(rng, h, w, h / 3, octaves=3)
    if kind == "grass":
        blades = value_noise(rng, h, w, 5.0, octaves=2, aspect=0.25)
        dark = jitter_colour(rng, bgr(40, 80, 25), 0.15)
        light = jitter_colour(rng, bgr(120, 160, 60), 0.15)
        mix = np.clip(0.5 + 0.25 * blades + 0.15 * low + 0.1 * fine, 0, 1)[:, :, None]
        tex = dark + (light - dark) * mix
        dry = smoothstep(0.8, 1.6, value_noise(rng, h, w, h / 4, octaves=3))[:, :, None] * rng.uniform(0, 0.6)
        return tex * (1 - dry) + bgr(160, 150, 90) * (0.7 + 0.3 * mix) * dry
    if kind == "sand":
        base = jitter_colour(rng, bgr(215, 190, 150), 0.08)
        ripple = np.sin(np.arange(h, dtype=np.float32)[:, None] * rng.uniform(0.15, 0.4) + low * 3)
        return base * (0.93 + 0.03 * ripple + 0.03 * low + 0.025 * fine)[:, :, None]
    if kind == "water":
        streaks = value_noise(rng, h, w, 1.5, octaves=3, aspect=12.0)
        water = jitter_colour(rng, bgr(40, 85, 110), 0.15)
        return water * 0.65 + sky_colour * 0.3 + (0.03 * streaks + 0.02 * low)[:, :, None]
    if kind in ("rock", "gravel", "pavement", "forest_floor"):
        cell = {"rock": h / 6, "gravel": 5.0, "pavement": 18.0, "forest_floor": 3.0}[kind]
        if kind == "pavement" and rng.random() < 0.5:  # square slabs with straight joints
            ys, xs = np.mgrid[0:h, 0:w]
            slab = int(cell * rng.uniform(1.2, 2.0))
            to_border = np.minimum(np.minimum(ys % slab, xs % slab), np.minimum(slab - ys % slab, slab - xs % slab))
            best = np.zeros((h, w), np.float32)
            ids = (ys // slab) * 1000 + xs // slab
        else:
            best, to_border, ids = _cells(rng, h, w, cell)
        edge = smoothstep(0.0, max(1.0, 0.12 * cell), to_border.astype(np.float32))
        palette = {
            "rock": [bgr(130, 125, 118), bgr(105, 100, 95), bgr(150, 140, 125)],
            "gravel": [bgr(150, 145, 135), bgr(110, 105, 100), bgr(175, 165, 150), bgr(125, 115, 100)],
            "pavement": [bgr(170, 168, 162), bgr(150, 148, 145), bgr(185, 180, 172)],
            "forest_floor": [bgr(110, 80, 45), bgr(140, 100, 50), bgr(90, 60, 35), bgr(120, 110, 60), bgr(75, 55, 35)],
        }[kind]
        spread_ = {"pavement": 0.04, "rock": 0.08}.get(kind, 0.12)
        table = np.array(palette, np.float32)[rng.integers(0, len(palette), 4096)]
        table = np.clip(table * rng.uniform(1 - spread_, 1 + spread_, (4096, 1)) + rng.normal(0, spread_ / 10, (4096, 3)), 0, 1)
        cells = table[ids % 4096]
        bumps = 1 - 0.35 * best if kind in ("gravel", "forest_floor") else 1 - 0.1 * best
        gap = {"rock": 0.75, "gravel": 0.45, "pavement": 0.7, "forest_floor": 0.6}[kind]
        tex = cells * (bumps * (gap + (1 - gap) * edge) + 0.04 * low + 0.03 * fine)[:, :, None]
        if kind == "rock":
            cracks = 1 - 0.4 * smoothstep(0.85, 1.0, 1 - np.abs(value_noise(rng, h, w, h / 6, octaves=3)))
            tex *= cracks[:, :, None]
        return tex
    if kind == "asphalt":
        base = jitter_colour(rng, bgr(85, 85, 88), 0.15)
        stains = 0.06 * low + 0.05 * fine + 0.05 * (value_noise(rng, h, w, 1.0, octaves=1) > 1.8)
        return base * (1 + stains)[:, :, None]
    # dirt
    base = jitter_colour(rng, bgr(120, 95, 70), 0.1)
    return base * (0.9 + 0.06 * low + 0.05 * fine)[:, :, None]


def _ground(rng, grounds, h, w, sky_colour, trail: bool) -> np.ndarray:
    """Ground seen in perspective, float32 (h, w, 3): textures drawn flat on a
    wider plane, then warped so far features shrink towards the horizon."""
    spread = rng.uniform(2.5, 4.0)
    th, tw = max(4, h), max(4, int(w * spread * 0.5))
    primary = _ground_texture(rng, grounds[0], th, tw, sky_colour)
    if len(grounds) > 1:
        secondary = _ground_texture(rng, grounds[1], th, tw, sky_colour)
        far_kinds = ("water", "asphalt")  # a lake or a road lies beyond the land or sidewalk
        if grounds[0] in far_kinds or grounds[1] in far_kinds:
            edge = th * rng.uniform(0.25, 0.45) + noise_1d(rng, tw, tw / 8) * th * (0.03 if "water" in grounds[:2] else 0.0)
            far = (np.arange(th, dtype=np.float32)[:, None] < edge[None, :]).astype(np.float32)
            far = cv2.GaussianBlur(far, (0, 0), 1.5)
            secondary_is_far = grounds[1] in far_kinds and grounds[0] not in far_kinds
            m = far if secondary_is_far else 1 - far  # m: where the secondary ground shows
        else:
            m = smoothstep(0.3, 0.9, value_noise(rng, th, tw, th / 3, octaves=3))
        primary = primary * (1 - m[:, :, None]) + secondary * m[:, :, None]
    if trail:  # a dirt path down the middle, converging at the horizon after warping
        xs = np.arange(tw, dtype=np.float32)[None, :]
        centre = tw / 2 + noise_1d(rng, th, th / 2)[:, None] * tw * 0.03
        path = smoothstep(tw * 0.05, tw * 0.035, np.abs(xs - centre))
        dirt = _ground_texture(rng, "dirt", th, tw, sky_colour)
        primary = primary * (1 - path[:, :, None]) + dirt * path[:, :, None]
    near = rng.uniform(0.25, 0.4)  # share of the plane's width seen at the bottom edge
    src = np.float32([[0, 0], [tw, 0], [tw * (1 + near) / 2, th], [tw * (1 - near) / 2, th]])
    dst = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    matrix = cv2.getPerspectiveTransform(src, dst)
    ground = cv2.warpPerspective(primary, matrix, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    return ground


def _render_landscape_hw(
    rng: np.random.Generator, query: str, h: int, w: int, litter_rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """A landscape of size (h, w): float32 BGR (H, W, 3) 0..1, and the litter's
    alpha float32 (H, W) 0..1 when `litter_rng` is given (else None).

    The litter draws only from `litter_rng`, so the scene itself is the same
    pixels as the clean photo's everywhere the litter and its shadow are not.
    """
    grounds, horizon = landscape_scene(query)
    if rng.random() < 0.25:  # some photos of the same place show another skyline
        horizon = NEARBY_HORIZONS[horizon][rng.integers(len(NEARBY_HORIZONS[horizon]))]
    time = rng.choice(list(SKIES), p=[0.35, 0.2, 0.15, 0.2, 0.1])
    zenith, horizon_colour, tint = (jitter_colour(rng, c, 0.06) for c in SKIES[time])
    cloudiness = {"overcast": 0.9}.get(time, rng.uniform(0.0, 0.6))
    horizon_y = int(h * rng.uniform(0.28, 0.5))
    image = np.empty((h, w, 3), np.float32)
    # Sky and skyline are drawn only above the horizon (+2 rows of overlap); the ground covers the rest.
    sky_h = min(h, horizon_y + 2)
    image[:sky_h] = _sky(rng, sky_h, w, zenith, horizon_colour, cloudiness)
    _horizon(rng, image[:sky_h], horizon_y, horizon, horizon_colour, tint)
    ground_h = h - horizon_y
    if horizon == "sea":  # open water between the horizon and the shore
        sea_h = int(ground_h * rng.uniform(0.2, 0.4))
        sea = _ground(rng, ["water"], sea_h, w, horizon_colour, False)
        image[horizon_y:horizon_y + sea_h] = sea * tint
        shore_y = horizon_y + sea_h
        foam = smoothstep(2.5, 0, np.abs(np.arange(h)[:, None] - shore_y - noise_1d(rng, w, w / 6)[None, :] * 2))
        horizon_y, ground_h = shore_y, h - shore_y
    words = set(query_words(query))
    ground = _ground(rng, grounds, ground_h, w, horizon_colour, bool(words & {"trail", "path"}))
    depth = np.linspace(0, 1, ground_h, dtype=np.float32)[:, None]
    if "grass" in grounds[:2]:  # upright blades in screen space: fine far away, coarse near the camera
        far = value_noise(rng, ground_h, w, 1.5, octaves=1, aspect=0.35)
        near = value_noise(rng, ground_h, w, 4.0, octaves=2, aspect=0.25)
        ground = ground * (1 + 0.1 * (far * (1 - depth) + near * depth))[:, :, None]
    litter = None
    if litter_rng is not None:  # before haze and tint, so the scene's light falls on it too
        ground, ground_alpha = scatter_litter(litter_rng, ground, h, w)
        if ground_alpha.max() >= 0.5:  # else nothing big enough to see was drawn: a clean photo
            litter = np.zeros((h, w), np.float32)
            litter[horizon_y:] = ground_alpha
    # Haze near the horizon, darker towards the camera, lit by the sky's tint.
    depth = np.linspace(0, 1, ground_h, dtype=np.float32)[:, None, None]
    haze = 0.5 * (1 - depth) ** 2.5
    ground = ground * tint * (0.8 + 0.25 * depth ** 0.5) * (1 - haze) + horizon_colour * haze
    image[horizon_y:] = ground
    if horizon == "sea":
        image[:] = image * (1 - foam[:, :, None] * 0.8) + np.float32(0.95) * foam[:, :, None] * 0.8
    image = cv2.GaussianBlur(image, (0, 0), 0.6)  # soften the seams like a lens would
    return image, litter


def is_dirty(query: str, index: int, seed: int, dirty_share: float) -> bool:
    """Whether landscape photo `index` of `query` has litter in it (a draw of its own per photo)."""
    return dirty_share > 0 and photo_rng(seed, "dirty", query, index).random() < dirty_share


def render_landscape(query: str, index: int, seed: int, size: int) -> np.ndarray:
    """Landscape photo `index` for `query`: BGR uint8 (H, W, 3), long side `size`; always clean."""
    return render_landscape_scene(query, index, seed, size)[0]


def render_landscape_scene(
    query: str, index: int, seed: int, size: int, dirty_share: float = 0.0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Landscape photo `index` for `query` as the demo engine delivers it.

    Returns BGR uint8 (H, W, 3) with long side `size`, and the litter mask
    uint8 (H, W) 0/255 for a dirty photo (about `dirty_share` of them, see
    :func:`is_dirty`), else None. A dirty photo is its clean twin with litter
    lying on the ground (:func:`scatter_litter`), nothing else changed.
    """
    rng = photo_rng(seed, "landscape", query, index)
    h, w = photo_shape(rng, size)
    if h > w and rng.random() < 0.7:  # landscapes are mostly shot in landscape orientation
        h, w = w, h
    litter_rng = photo_rng(seed, "litter", query, index) if is_dirty(query, index, seed, dirty_share) else None
    return _finish_landscape(rng, query, h, w, litter_rng)


def _finish_landscape(rng, query, h, w, litter_rng=None) -> tuple[np.ndarray, np.ndarray | None]:
    image, litter = _render_landscape_hw(rng, query, h, w, litter_rng)
    image = to_uint8(add_sensor_noise(rng, camera_colour(rng, image), rng.uniform(1.5, 3.0)))
    truth = None if litter is None else np.where(litter >= 0.5, 255, 0).astype(np.uint8)
    return image, truth


# --- litter in landscapes ------------------------------------------------------
# Real web photos of streets, parks and beaches often have litter in them. A
# share of the demo landscapes do too (scrape.demo.dirty_share), so that the
# audit stage can be measured: the litter comes from the trash renderers above,
# lying on the ground at the size it would have there.

LITTER_METRES = {  # long side of each object, metres
    "bottle": 0.25, "can": 0.12, "bag": 0.4, "wrapper": 0.18, "cup": 0.11,
    "butt": 0.035, "carton": 0.2, "lid": 0.05, "straw": 0.2,
}
MIN_LITTER_SIDE = 0.05  # smallest piece drawn, long side / photo long side: smaller is invisible


def litter_pieces(rng: np.random.Generator, ground_width: float, width: int, long_side: int) -> list[tuple[str, float]]:
    """Which objects lie on the ground and how far down the ground each lies.

    ground_width: metres the bottom edge of the photo spans; a piece at depth
    d (0 at the horizon, 1 at the bottom edge) is d * width / ground_width px
    per metre (flat ground, pinhole camera). Returns 1..3 (object, depth)
    pairs whose long side is at least MIN_LITTER_SIDE of the photo, chosen
    among the objects big enough to see there (a cigarette butt in a wide
    view is not); none when no object is (a very small photo).
    """
    count = 1 + int(rng.binomial(2, 0.3))
    # The smallest depth at which each object is big enough to see; > 1: never.
    nearest = {obj: MIN_LITTER_SIDE * long_side * ground_width / (metres * width)
               for obj, metres in LITTER_METRES.items()}
    visible = [obj for obj in TRASH_OBJECTS if nearest[obj] <= 1.0]
    pieces = []
    for _ in range(count if visible else 0):
        obj = visible[rng.integers(len(visible))]
        pieces.append((obj, float(rng.uniform(max(0.3, nearest[obj]), 1.0))))
    return pieces


def scatter_litter(rng: np.random.Generator, ground: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Lay 1..3 pieces of litter on a ground texture seen in perspective.

    ground: float32 (gh, W, 3) 0..1, the photo's rows below the horizon
    (h, w: the whole photo's size). Each piece is a trash renderer's object,
    shaded by one light, turned to any angle, flattened by the view angle,
    scaled to its size at that depth (:func:`litter_pieces`) and laid down
    over a soft contact shadow. Returns the new ground and the litter's alpha
    float32 (gh, W) 0..1.
    """
    gh = ground.shape[0]
    out = ground.copy()
    alpha_total = np.zeros((gh, w), np.float32)
    light = normalise(np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.9, -0.4), rng.uniform(0.4, 0.8)], np.float32))
    view = rng.uniform(0.4, 0.75)  # how much the view angle flattens things lying on the ground
    ground_width = rng.uniform(1.0, 2.5)  # metres across the bottom edge of the photo
    for obj, depth in litter_pieces(rng, ground_width, w, max(h, w)):
        side = max(2, int(round(LITTER_METRES[obj] * w / ground_width * depth)))  # long side, px
        albedo, alpha, normals, specular, shininess, _ = OBJECT_RENDERERS[obj](rng, max(32, side * 3), rng.random() < 0.5)
        colour = shade(albedo * np.float32(rng.uniform(0.75, 1.0)), normals, light, rng.uniform(0.3, 0.45), specular, shininess)
        layers = _rotate(np.dstack([colour * alpha[:, :, None], alpha]), rng.uniform(-180, 180))
        ys, xs = np.nonzero(layers[:, :, 3] > 0.02)
        layers = layers[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        bh, bw = layers.shape[:2]
        flat_h = bh * view
        scale = side / max(bw, flat_h)
        nw, nh = max(2, int(round(bw * scale))), max(2, int(round(flat_h * scale)))
        if nw >= w or nh >= gh:
            continue
        layers = cv2.resize(layers, (nw, nh), interpolation=cv2.INTER_AREA)
        bottom = int(round(depth * (gh - 1)))  # the piece rests on this row
        y0 = min(max(0, bottom - nh), gh - nh)
        x0 = int(rng.integers(0, w - nw + 1))
        premult, a = layers[:, :, :3], np.clip(layers[:, :, 3], 0, 1)
        # Contact shadow: the piece's footprint, blurred and pushed away from the light.
        shadow = np.zeros((gh, w), np.float32)
        shadow[y0:y0 + nh, x0:x0 + nw] = a
        shift = np.float32([[1, 0, -light[0] * 0.15 * nw], [0, 1, 0.12 * nh]])
        shadow = cv2.GaussianBlur(cv2.warpAffine(shadow, shift, (w, gh)), (0, 0), 0.08 * max(nw, nh) + 0.5)
        out *= (1 - rng.uniform(0.35, 0.55) * np.clip(shadow, 0, 1))[:, :, None]
        region = out[y0:y0 + nh, x0:x0 + nw]
        out[y0:y0 + nh, x0:x0 + nw] = region * (1 - a[:, :, None]) + premult
        alpha_total[y0:y0 + nh, x0:x0 + nw] = np.maximum(alpha_total[y0:y0 + nh, x0:x0 + nw], a)
    return out, alpha_total


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
    if name == "near_duplicate" and not _clean_before(kind, query, index, seed, junk_share):
        name = "blurry"
    return name


def _clean_before(kind, query, index, seed, junk_share) -> list[int]:
    return [j for j in range(max(0, index - 12), index) if junk_slot(j, query, seed, junk_share) is None]


def _resize(image: np.ndarray, w: int, h: int) -> np.ndarray:
    shrink = w < image.shape[1]
    return cv2.resize(image, (max(1, w), max(1, h)), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _resize_mask(mask: np.ndarray | None, w: int, h: int) -> np.ndarray | None:
    if mask is None:
        return None
    return np.where(_resize(mask, w, h) >= 128, 255, 0).astype(np.uint8)


def _draw_text(rng, image: np.ndarray) -> np.ndarray:
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


def _transparent(rng, kind: str, image: np.ndarray, truth: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
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
        earlier = _clean_before(kind, query, index, seed, junk_share)
        source = earlier[rng.integers(len(earlier))]
        image, truth = _render_clean(kind, query, source, seed, size, dirty_share)
        h, w = image.shape[:2]
        factor = 1.0 + rng.choice([-1, 1]) * rng.uniform(0.02, 0.08) if rng.random() < 0.6 else 1.0
        nw, nh = round(w * factor), round(h * factor)
        if (nw, nh) != (w, h):
            image, truth = _resize(image, nw, nh), _resize_mask(truth, nw, nh)
        image = cv2.convertScaleAbs(image, alpha=rng.uniform(0.95, 1.05), beta=rng.uniform(-6, 6))
        return image, truth, ".jpg", int(rng.integers(60, 84))
    if name == "extreme_aspect":
        ratio = rng.uniform(3.5, 5.0)
        short = max(8, round(size / ratio))
        h, w = (short, size) if rng.random() < 0.6 else (size, short)
        sub = photo_rng(seed, kind, query, index, "strip")
        if kind == "trash":
            image, truth = _finish_trash(sub, query, h, w)
        else:
            image, truth = _finish_landscape(sub, query, h, w)
        return image, truth, ".jpg", quality
    image, truth = _render_clean(kind, query, index, seed, size, dirty_share)
    h, w = image.shape[:2]
    if name == "tiny":
        long_side = int(rng.integers(32, 97))
        scale = long_side / max(h, w)
        nw, nh = max(4, round(w * scale)), max(4, round(h * scale))
        return _resize(image, nw, nh), _resize_mask(truth, nw, nh), ".jpg", quality
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
        return _draw_text(rng, image), truth, ".jpg", quality
    if name == "transparent":
        rgba, truth = _transparent(rng, kind, image, truth)
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
