"""Pure image transforms of the synth recipe (deeptrash.synth.recipe draws their parameters).

Conventions: images are uint8 (H, W, 3) BGR; cut-outs are uint8 (h, w, 4) with
PREMULTIPLIED colour (BGR already multiplied by alpha/255), so that warping,
blurring and compositing treat colour and alpha alike and no colour from the
transparent part bleeds into edges. `coverage` is float32 (H, W) in [0, 1]: how
much of each pixel is trash. It goes through every geometric step with the
image, and the final mask is `coverage > 0.5` (see :func:`coverage_to_mask`).
Functions that take `image`/`coverage` change them in place (they are the
composite being built); the others return new arrays.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

# --- cut-outs ---------------------------------------------------------------


def premultiply(bgra: np.ndarray) -> np.ndarray:
    """uint8 (h, w, 4) straight-alpha BGRA -> premultiplied BGRA (same shape/dtype)."""
    out = bgra.copy()
    alpha = bgra[:, :, 3]
    out[:, :, :3] = cv2.multiply(bgra[:, :, :3], cv2.merge([alpha, alpha, alpha]), scale=1.0 / 255)
    return out


def pyramid(premult: np.ndarray, smallest: int = 8) -> list[np.ndarray]:
    """Halve a cut-out until its long side is below 2 * `smallest`; largest first.

    Warping from the level just above the target size avoids the aliasing of a
    large down-scale in one step.
    """
    levels = [premult]
    while max(levels[-1].shape[:2]) >= 2 * smallest:
        levels.append(cv2.pyrDown(levels[-1]))
    return levels


def pick_level(levels: list[np.ndarray], long_side: float) -> np.ndarray:
    """The smallest pyramid level whose long side is still >= `long_side` px."""
    for level in reversed(levels):
        if max(level.shape[:2]) >= long_side:
            return level
    return levels[0]


def resized_cutout(levels: list[np.ndarray], long_side: float) -> np.ndarray:
    """The cut-out at about `long_side` px on its long side (premultiplied BGRA uint8).

    Later per-object work (shading, warping) then runs at output resolution,
    not at the cut-out's own; from the pyramid level above, at most a 2x shrink.
    """
    level = pick_level(levels, long_side)
    h, w = level.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 0.95:
        return level
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(level, size, interpolation=cv2.INTER_LINEAR)


_LUMA = np.array([0.213, 0.715, 0.072])  # RGB weights of the SVG/W3C colour matrices


def color_matrix(hue_deg: float = 0.0, saturation: float = 1.0, brightness: float = 1.0) -> np.ndarray:
    """float32 (3, 3) matrix on BGR: hue rotation about the grey axis, saturation, brightness.

    These are the W3C feColorMatrix hueRotate/saturate matrices. Being linear,
    the matrix applies to premultiplied colour unchanged, in one cv2.transform.
    """
    c, s = math.cos(math.radians(hue_deg)), math.sin(math.radians(hue_deg))
    lr, lg, lb = _LUMA
    hue = np.array([
        [lr + c * (1 - lr) - s * lr, lg - c * lg - s * lg, lb - c * lb + s * (1 - lb)],
        [lr - c * lr + s * 0.143, lg + c * (1 - lg) + s * 0.140, lb - c * lb - s * 0.283],
        [lr - c * lr - s * (1 - lr), lg - c * lg + s * lg, lb + c * (1 - lb) + s * lb],
    ])
    sat = (1 - saturation) * np.tile(_LUMA, (3, 1)) + saturation * np.eye(3)
    rgb = brightness * sat @ hue
    return rgb[::-1, ::-1].astype(np.float32)  # RGB -> BGR on both sides


def shade_object(premult: np.ndarray, matrix: np.ndarray | None, gain0: np.ndarray, gain1: np.ndarray,
                 angle: float) -> np.ndarray:
    """Colour jitter and a two-colour linear lighting gradient across a cut-out.

    premult: uint8 (h, w, 4). matrix: (3, 3) BGR colour matrix or None
    (:func:`color_matrix`); gain0/gain1: float (3,) BGR multipliers at the two
    ends of the gradient, which runs along direction `angle` (radians).
    Returns uint8 (h, w, 4); alpha unchanged, colour kept <= alpha (premultiplied).
    """
    h, w = premult.shape[:2]
    uniform = np.array_equal(gain0, gain1)
    if uniform:
        # No gradient: a uniform gain is just part of the colour matrix (one pass, no float image).
        gain = np.asarray(gain0, np.float32)
        if not np.all(gain == 1):
            matrix = np.diag(gain) if matrix is None else (np.diag(gain) @ matrix).astype(np.float32)
        if matrix is None:
            return premult
    bgr = premult[:, :, :3]
    if matrix is not None:
        bgr = cv2.transform(bgr, matrix)
    alpha = premult[:, :, 3]
    alpha3 = cv2.merge([alpha, alpha, alpha])
    out = np.empty_like(premult)
    out[:, :, 3] = alpha
    if uniform:
        out[:, :, :3] = cv2.min(bgr, alpha3)
        return out
    # Position along the gradient, 0 at one end of the object and 1 at the other.
    xs = (np.arange(w, dtype=np.float32) - (w - 1) / 2) * np.float32(math.cos(angle))
    ys = (np.arange(h, dtype=np.float32) - (h - 1) / 2) * np.float32(math.sin(angle))
    span = max(float(abs(xs[0]) + abs(ys[0])), 1e-6)
    t = (ys[:, None] + xs[None, :]) * np.float32(0.5 / span) + np.float32(0.5)
    gains = cv2.merge([t * np.float32(g1 - g0) + np.float32(g0) for g0, g1 in zip(gain0, gain1)])
    out[:, :, :3] = cv2.min(cv2.multiply(bgr, gains, dtype=cv2.CV_8U), alpha3)
    return out


def object_homography(width: int, height: int, center: tuple[float, float], long_side: float,
                      angle_deg: float = 0.0, flip: bool = False,
                      corner_shift: np.ndarray | None = None, squash: float = 1.0) -> np.ndarray:
    """3x3 float64 homography taking cut-out pixels (width x height) into the image.

    The cut-out is scaled so its long side is `long_side` px, mirrored if `flip`,
    rotated by `angle_deg` (counter-clockwise on screen) about its centre,
    shortened vertically by `squash` (an object lying on the ground seen at a
    slant: 1 = seen from straight above), its four corners moved by
    `corner_shift` ((4, 2), in units of `long_side`: a perspective warp) and
    its centre put at `center` (x, y).

    Coordinates are OpenCV's: pixel (i, j) has its centre at (i, j), so a
    w-wide cut-out spans [-0.5, w - 0.5]; its outer edges (not its edge pixel
    centres) are what lands on the drawn outline, so masks match exactly.
    """
    scale = long_side / max(width, height)
    half_w, half_h = width * scale / 2, height * scale / 2
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]], np.float64)
    if flip:
        corners[:, 0] *= -1
    theta = math.radians(angle_deg)
    rotation = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]])
    corners = corners @ rotation.T
    if squash != 1.0:
        corners[:, 1] *= squash
    if corner_shift is not None:
        corners = corners + np.asarray(corner_shift, np.float64) * long_side
    corners = corners + np.asarray(center, np.float64)
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64) - 0.5
    return cv2.getPerspectiveTransform(source.astype(np.float32), corners.astype(np.float32)).astype(np.float64)


def paste_object(image: np.ndarray, coverage: np.ndarray | None, premult: np.ndarray, homography: np.ndarray,
                 feather_sigma: float = 0.0, shadow: tuple[float, float, float, float] | None = None,
                 poisson: float = 0.0) -> tuple[int, int, int, int] | None:
    """Warp a premultiplied cut-out by `homography` and composite it over `image`.

    Only the object's bounding box (clipped to the frame) is warped and blended.
    `coverage` becomes alpha-over of the object (what the mask is made from);
    None pastes a distractor, which is background and leaves no trace in it.
    feather_sigma > 0 blurs colour and alpha together (a soft, Gaussian-blended
    edge whose 0.5 level stays on the outline). `shadow` = (strength, blur
    sigma, dx, dy) darkens the ground under the object first (a contact
    shadow: its blurred silhouette, offset by (dx, dy) px, the image only).
    poisson in (0, 1] blends Poisson-like: the object's colours are pulled
    towards the ground around it by a smooth membrane, so its outline carries
    no colour step (:func:`membrane_offset`). Returns the (x0, y0, x1, y1) box
    drawn, or None when the object falls wholly outside the frame.
    """
    height, width = image.shape[:2]
    h, w = premult.shape[:2]
    outline = np.array([[[0, 0], [w, 0], [w, h], [0, h]]], np.float32) - 0.5
    corners = cv2.perspectiveTransform(outline, homography)[0]
    pad = int(math.ceil(3 * feather_sigma)) + 1
    if shadow is not None:
        pad += int(math.ceil(3 * shadow[1] + max(abs(shadow[2]), abs(shadow[3]))))
    x0 = max(int(math.floor(corners[:, 0].min())) - pad, 0)
    y0 = max(int(math.floor(corners[:, 1].min())) - pad, 0)
    x1 = min(int(math.ceil(corners[:, 0].max())) + pad, width)
    y1 = min(int(math.ceil(corners[:, 1].max())) + pad, height)
    if x1 <= x0 or y1 <= y0:
        return None
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    warped = cv2.warpPerspective(premult, shift @ homography, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if feather_sigma > 0:
        warped = cv2.GaussianBlur(warped, (0, 0), feather_sigma)
    alpha = warped[:, :, 3].astype(np.float32) * (1.0 / 255)
    roi = image[y0:y1, x0:x1]
    if shadow is not None:
        cast_shadow(roi, alpha, *shadow)
    colour = warped[:, :, :3]
    if poisson > 0:
        colour = colour.astype(np.float32) + membrane_offset(roi, colour, alpha) * (alpha * poisson)[:, :, None]
    if coverage is None:
        blend_over(roi, np.zeros(alpha.shape, np.float32), colour, alpha, cut=False)
    else:
        blend_over(roi, coverage[y0:y1, x0:x1], colour, alpha, cut=False)
    return x0, y0, x1, y1


def cast_shadow(image_roi: np.ndarray, alpha: np.ndarray, strength: float, sigma: float, dx: float, dy: float) -> None:
    """Darken `image_roi` (uint8 (h, w, 3), in place) under a soft, offset copy of `alpha` (float32 (h, w)).

    The ground next to an object lying on it is darker (ambient occlusion and
    a cast shadow); a pasted object without one floats, and that is a cue.
    """
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    moved = cv2.warpAffine(alpha, shift, (alpha.shape[1], alpha.shape[0]), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    soft = cv2.GaussianBlur(moved, (0, 0), max(sigma, 0.3))
    keep = 1.0 - np.float32(strength) * np.clip(soft, 0.0, 1.0)
    image_roi[...] = np.clip(image_roi.astype(np.float32) * keep[:, :, None] + 0.5, 0, 255).astype(np.uint8)


def membrane_offset(background_roi: np.ndarray, premult_bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """float32 (h, w, 3) colour offset that takes an object's edge colour to the ground's.

    A cheap stand-in for Poisson (seamless) cloning: the colour difference
    between ground and object along the object's outline is spread inwards
    by a normalised Gaussian (a membrane), keeping the object's own detail.
    background_roi: uint8 (h, w, 3); premult_bgr: (h, w, 3) premultiplied
    colour; alpha: float32 (h, w) in [0, 1].
    """
    straight = premult_bgr.astype(np.float32) / np.maximum(alpha, 1e-3)[:, :, None]
    ring = ((alpha > 0.3) & (alpha < 0.97)).astype(np.float32)
    if not ring.any():
        return np.zeros(premult_bgr.shape, np.float32)
    diff = (background_roi.astype(np.float32) - straight) * ring[:, :, None]
    sigma = max(2.0, 0.25 * max(alpha.shape))
    spread = cv2.GaussianBlur(diff, (0, 0), sigma)
    weight = cv2.GaussianBlur(ring, (0, 0), sigma)
    return spread / np.maximum(weight, 1e-4)[:, :, None]


def harmonize(premult: np.ndarray, target_bgr: np.ndarray, strength: float) -> np.ndarray:
    """Move a cut-out's mean colour part of the way to `target_bgr` (its local ground).

    premult: uint8 (h, w, 4) premultiplied; target_bgr: float (3,); strength in
    [0, 1] (0 = unchanged, 1 = the object's mean becomes the ground's). Objects
    photographed under studio light on a white board are brighter and cleaner
    than litter outdoors; real litter takes on the light and dirt around it.
    Returns uint8 (h, w, 4), colour kept <= alpha.
    """
    alpha = premult[:, :, 3].astype(np.float32) * (1.0 / 255)
    total = float(alpha.sum())
    if total < 1 or strength <= 0:
        return premult
    mean = premult[:, :, :3].reshape(-1, 3).astype(np.float32).sum(axis=0) / total
    shift = (np.asarray(target_bgr, np.float32) - mean) * np.float32(strength)
    out = premult.copy()
    colour = premult[:, :, :3].astype(np.float32) + shift[None, None, :] * alpha[:, :, None]
    out[:, :, :3] = np.clip(colour, 0, premult[:, :, 3:4].astype(np.float32)).astype(np.uint8)
    return out


def blend_over(image_roi: np.ndarray, coverage_roi: np.ndarray, premult_bgr: np.ndarray, alpha: np.ndarray,
               cut: bool) -> None:
    """Composite premultiplied colour with `alpha` (float32 (h, w), 0..1) over a region.

    cut=False: an object, coverage becomes alpha-over (c * (1 - a) + a).
    cut=True: an occluder, coverage is scaled by (1 - a): what it hides is not trash.
    """
    keep = 1.0 - alpha
    blended = image_roi.astype(np.float32) * keep[:, :, None] + premult_bgr
    image_roi[...] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    if cut:
        coverage_roi *= keep
    else:
        coverage_roi[...] = coverage_roi * keep + alpha


# --- occluders ---------------------------------------------------------------


def blob_alpha(diameter: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """An anti-aliased filled ellipse or random polygon, float32 (d, d) alpha in [0, 1]."""
    d = max(int(diameter), 3)
    canvas = np.zeros((d, d), np.uint8)
    sub = 16  # 4 fractional bits: sub-pixel vertices, anti-aliased edges
    c = (d - 1) / 2
    if kind == "ellipse":
        axes = (round(c * rng.uniform(0.5, 1.0) * sub), round(c * rng.uniform(0.3, 1.0) * sub))
        cv2.ellipse(canvas, (round(c * sub), round(c * sub)), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1,
                    cv2.LINE_AA, 4)
    else:
        n = int(rng.integers(5, 10))
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        radii = rng.uniform(0.4, 1.0, n) * c
        points = np.stack([c + radii * np.cos(angles), c + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [np.round(points * sub).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return canvas.astype(np.float32) * (1.0 / 255)


def smooth_grain(d: int, rng: np.random.Generator, amount: float, sigma: float) -> np.ndarray:
    """Blurred zero-mean noise, float32 (d, d), standard deviation `amount`, blur `sigma` px: surface texture."""
    grain = cv2.GaussianBlur(rng.normal(0, 1, (d, d)).astype(np.float32), (0, 0), sigma)
    grain *= np.float32(amount / max(float(grain.std()), 1e-3))
    return grain


def premultiplied_cutout(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A drawn cut-out: float (h, w, 3) BGR colour and uint8 (h, w) alpha -> premultiplied uint8 (h, w, 4)."""
    out = np.empty((*alpha.shape, 4), np.uint8)
    out[:, :, :3] = np.clip(bgr * (alpha.astype(np.float32) * (1.0 / 255))[:, :, None], 0, 255).astype(np.uint8)
    out[:, :, 3] = alpha
    return out


DISTRACTOR_KINDS = ("leaf", "stick", "stone", "patch")
# BGR colours of things that lie on the ground and are not litter.
_LEAF_COLOURS = np.array([[40, 110, 60], [30, 140, 110], [30, 90, 130], [40, 120, 160], [50, 70, 90],
                          [60, 150, 180], [35, 60, 110]], np.float32)
_STICK_COLOURS = np.array([[40, 60, 80], [60, 80, 100], [90, 110, 130], [50, 55, 60], [120, 135, 150]], np.float32)
_STONE_COLOURS = np.array([[110, 110, 110], [150, 150, 155], [90, 100, 110], [180, 180, 175], [70, 80, 90],
                           [120, 140, 160], [200, 205, 210]], np.float32)


def distractor(kind: str, long_side: int, rng: np.random.Generator, texture: np.ndarray | None = None) -> np.ndarray:
    """A look-alike that is not litter, as a premultiplied BGRA cut-out (uint8 (h, w, 4)).

    kind: "leaf" (pointed oval with a midrib), "stick" (thin, slightly bent
    bar), "stone" (irregular rounded polygon) or "patch" (a blob of `texture`,
    uint8 (H, W, 3) BGR, e.g. a piece of another landscape). Pasted by the same
    code as trash (shading, perspective, shadow) but never into the mask, so
    shape, gloss and paste edges alone do not mean "trash".
    """
    d = max(int(long_side), 4)
    sub = 16
    canvas = np.zeros((d, d), np.uint8)
    c = (d - 1) / 2
    if kind == "leaf":
        width = rng.uniform(0.25, 0.5) * c
        t = np.linspace(0, math.pi, 24)
        xs = c + np.cos(t) * c * 0.95
        ys = np.sin(t) ** rng.uniform(0.8, 1.5) * width
        points = np.concatenate([np.stack([xs, c - ys], 1), np.stack([xs[::-1], c + ys[::-1]], 1)])
        cv2.fillPoly(canvas, [np.round(points * sub).astype(np.int32)], 255, cv2.LINE_AA, 4)
        colour = _LEAF_COLOURS[int(rng.integers(len(_LEAF_COLOURS)))]
    elif kind == "stick":
        thick = max(1.0, rng.uniform(0.04, 0.12) * d)
        bend = rng.uniform(-0.15, 0.15) * d
        xs = np.linspace(0.03 * d, 0.97 * d, 8)
        ys = c + bend * np.sin(np.linspace(0, math.pi, 8)) + rng.normal(0, thick * 0.2, 8)
        cv2.polylines(canvas, [np.round(np.stack([xs, ys], 1) * sub).astype(np.int32)], False, 255,
                      max(1, int(round(thick))), cv2.LINE_AA, 4)
        colour = _STICK_COLOURS[int(rng.integers(len(_STICK_COLOURS)))]
    elif kind == "stone":
        canvas = (blob_alpha(d, "polygon", rng) * 255).astype(np.uint8)
        canvas = cv2.GaussianBlur(canvas, (0, 0), max(0.5, d / 30))
        colour = _STONE_COLOURS[int(rng.integers(len(_STONE_COLOURS)))]
    elif kind == "patch":
        canvas = (blob_alpha(d, "ellipse" if rng.random() < 0.5 else "polygon", rng) * 255).astype(np.uint8)
        colour = None
    else:
        raise ValueError(f"distractor kind must be one of {DISTRACTOR_KINDS}, not {kind!r}")
    if colour is None and texture is not None:
        h, w = texture.shape[:2]
        side = max(1, min(h, w, int(d * rng.uniform(1.0, 3.0))))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        bgr = cv2.resize(texture[y:y + side, x:x + side], (d, d), interpolation=cv2.INTER_AREA).astype(np.float32)
    else:
        base = colour if colour is not None else _STONE_COLOURS[int(rng.integers(len(_STONE_COLOURS)))]
        jitter = rng.uniform(0.75, 1.25) * base + rng.normal(0, 8, 3)
        grain = smooth_grain(d, rng, 18, max(0.6, d / 16))
        bgr = jitter[None, None, :].astype(np.float32) + grain[:, :, None]
        if kind == "leaf":
            cv2.line(bgr, (round(0.05 * d), round(c)), (round(0.95 * d), round(c)),
                     tuple(float(v) * 0.7 for v in jitter), max(1, d // 24), cv2.LINE_AA)
    return premultiplied_cutout(bgr, canvas)


def grass_blades(image: np.ndarray, coverage: np.ndarray, box: tuple[int, int, int, int], count: int,
                 rng: np.random.Generator, width: float = 1.0) -> None:
    """Draw `count` thin blades (grass, twigs) across the lower part of `box` (x0, y0, x1, y1).

    Their colour is the ground's just below the object (with jitter), and
    what they hide is cut from `coverage`: litter in grass is seen between
    blades. Modifies image (uint8 (H, W, 3)) and coverage in place.
    """
    height, width_px = image.shape[:2]
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return
    ground = image[min(y1, height - 1):min(y1 + 4, height), x0:x1].reshape(-1, 3)
    if not len(ground):
        ground = image[y0:y1, x0:x1].reshape(-1, 3)
    base = np.median(ground, axis=0).astype(np.float32)
    layer = np.zeros((height, width_px), np.uint8)
    colour = np.zeros((height, width_px, 3), np.float32)
    sub = 16
    for _ in range(count):
        bx = rng.uniform(x0, x1)
        by = rng.uniform(y0 + 0.5 * (y1 - y0), y1 + 0.15 * (y1 - y0))
        length = rng.uniform(0.3, 0.9) * (y1 - y0)
        lean = rng.uniform(-0.5, 0.5) * length
        points = np.array([[bx, by], [bx + lean * 0.4, by - length * 0.55], [bx + lean, by - length]])
        blade = np.zeros_like(layer)
        cv2.polylines(blade, [np.round(points * sub).astype(np.int32)], False, 255,
                      max(1, int(round(width * rng.uniform(0.7, 1.5)))), cv2.LINE_AA, 4)
        tint = np.clip(base * rng.uniform(0.7, 1.3) + rng.normal(0, 10, 3), 0, 255)
        colour[blade > 0] = tint
        np.maximum(layer, blade, out=layer)
    alpha = layer.astype(np.float32) * (1.0 / 255)
    blend_over(image, coverage, colour * alpha[:, :, None], alpha, cut=True)


def paste_occluder(image: np.ndarray, coverage: np.ndarray, alpha: np.ndarray, fill: np.ndarray,
                   top_left: tuple[int, int]) -> None:
    """Draw an occluder (alpha (d, d) float32, fill uint8 (d, d, 3) BGR) at (x, y).

    Occluded pixels stop being trash: coverage is cut by the occluder's alpha.
    """
    height, width = image.shape[:2]
    d = alpha.shape[0]
    x, y = top_left
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + d, width), min(y + d, height)
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x]
    colour = fill[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.float32) * a[:, :, None]
    blend_over(image[y0:y1, x0:x1], coverage[y0:y1, x0:x1], colour, a, cut=True)


# --- backgrounds ---------------------------------------------------------------


def crop_square(photo: np.ndarray, side: int, x: int, y: int, size: int, flip: bool = False) -> np.ndarray:
    """Crop a side x side square at (x, y) from a uint8 photo and resize it to size x size.

    Bilinear: photos are pre-resized so side <= 2 * size, and OpenCV's bilinear
    at 2x is a 2x2 box average; INTER_AREA at odd ratios costs ~7x more.
    """
    patch = photo[y:y + side, x:x + side]
    interpolation = cv2.INTER_AREA if side > 2 * size else cv2.INTER_LINEAR
    out = cv2.resize(patch, (size, size), interpolation=interpolation)
    return cv2.flip(out, 1) if flip else out


def coverage_to_mask(coverage: np.ndarray) -> np.ndarray:
    """float32 coverage (H, W) -> uint8 mask 0/255 (trash where coverage > 0.5)."""
    return np.where(coverage > 0.5, np.uint8(255), np.uint8(0))
