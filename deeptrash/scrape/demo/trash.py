"""Demo trash photos: product-photo style shots of ONE object chosen from the query words
(bottle, can, bag, wrapper, cup, cigarette butt, carton, lid, straw) with shading,
highlights, crumpled texture, labels and a soft contact shadow, on a plain, gradient,
wooden-table or paper background; each with its true object mask (uint8 (H, W), 0/255).
"""
from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

from deeptrash.scrape.demo.draw import (
    add_sensor_noise, bgr, bump, camera_colour, crumple, cylinder, jitter_colour, noise_1d, normalise,
    photo_rng, photo_shape, query_words, shade, smoothstep, stable_int, to_uint8, value_noise, wrap_x,
)

TRASH_OBJECTS = ("bottle", "can", "bag", "wrapper", "cup", "butt", "carton", "lid", "straw")


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


def rotate(image: np.ndarray, angle: float) -> np.ndarray:
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
    layers = rotate(np.dstack([colour * alpha[:, :, None], alpha]), angle)
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
    return finish_trash(rng, query, h, w)


def finish_trash(rng, query, h, w) -> tuple[np.ndarray, np.ndarray]:
    words = set(query_words(query))
    crushed = bool(words & CRUSHED_WORDS) or rng.random() < 0.2
    image, alpha = _render_trash_hw(rng, trash_object_for(query), crushed, h, w)
    image = add_sensor_noise(rng, camera_colour(rng, image), rng.uniform(1.5, 3.5))
    return to_uint8(image), np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
