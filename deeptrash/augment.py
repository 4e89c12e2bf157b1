"""Pure image transforms of the synth recipe (deeptrash.synth draws their parameters).

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

import functools
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


def shade_object(premult: np.ndarray, gain0: np.ndarray, gain1: np.ndarray, angle: float,
                 hue_shift: float = 0.0, saturation: float = 1.0) -> np.ndarray:
    """Colour jitter plus a two-colour linear lighting gradient across a cut-out.

    premult: uint8 (h, w, 4). gain0/gain1: float (3,) BGR multipliers at the two
    ends of the gradient (brightness folded in); angle: gradient direction in
    radians; hue_shift in degrees; saturation a multiplier. Alpha is unchanged.
    """
    h, w = premult.shape[:2]
    bgr = premult[:, :, :3]
    if hue_shift or saturation != 1.0:
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        hue = (hsv[:, :, 0].astype(np.int16) + int(round(hue_shift / 2))) % 180  # OpenCV hue is 0..179
        hsv[:, :, 0] = hue.astype(np.uint8)
        hsv[:, :, 1] = cv2.convertScaleAbs(hsv[:, :, 1], alpha=saturation)
        bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    # Position along the gradient direction, 0 at one end of the object, 1 at the other.
    xs = (np.arange(w, dtype=np.float32) - (w - 1) / 2) * math.cos(angle)
    ys = (np.arange(h, dtype=np.float32) - (h - 1) / 2) * math.sin(angle)
    t = ys[:, None] + xs[None, :]
    span = max(float(np.abs(xs).max() + np.abs(ys).max()), 1e-6)
    t = (t / span + 1) * 0.5
    gain0 = np.asarray(gain0, np.float32)
    gain1 = np.asarray(gain1, np.float32)
    gains = gain0 + t[:, :, None] * (gain1 - gain0)
    out = np.empty_like(premult)
    shaded = bgr.astype(np.float32) * gains
    # Premultiplied colour may not exceed alpha.
    np.minimum(shaded, premult[:, :, 3:4].astype(np.float32), out=shaded)
    out[:, :, :3] = shaded.astype(np.uint8)
    out[:, :, 3] = premult[:, :, 3]
    return out


def object_homography(width: int, height: int, center: tuple[float, float], long_side: float,
                      angle_deg: float = 0.0, flip: bool = False,
                      corner_shift: np.ndarray | None = None) -> np.ndarray:
    """3x3 float64 homography taking cut-out pixels (width x height) into the image.

    The cut-out is scaled so its long side is `long_side` px, mirrored if `flip`,
    rotated by `angle_deg` (counter-clockwise on screen) about its centre, its four
    corners moved by `corner_shift` ((4, 2), in units of `long_side`: a
    perspective warp) and its centre put at `center` (x, y).

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
    if corner_shift is not None:
        corners = corners + np.asarray(corner_shift, np.float64) * long_side
    corners = corners + np.asarray(center, np.float64)
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64) - 0.5
    return cv2.getPerspectiveTransform(source.astype(np.float32), corners.astype(np.float32)).astype(np.float64)


def paste_object(image: np.ndarray, coverage: np.ndarray, premult: np.ndarray, homography: np.ndarray,
                 feather_sigma: float = 0.0) -> tuple[int, int, int, int] | None:
    """Warp a premultiplied cut-out by `homography` and composite it over `image`.

    Only the object's bounding box (clipped to the frame) is warped and blended.
    `coverage` becomes alpha-over of the object (what the mask is made from).
    feather_sigma > 0 blurs colour and alpha together (a soft, Gaussian-blended
    edge whose 0.5 level stays on the outline). Returns the (x0, y0, x1, y1) box
    drawn, or None when the object falls wholly outside the frame.
    """
    height, width = image.shape[:2]
    h, w = premult.shape[:2]
    outline = np.array([[[0, 0], [w, 0], [w, h], [0, h]]], np.float32) - 0.5
    corners = cv2.perspectiveTransform(outline, homography)[0]
    pad = int(math.ceil(3 * feather_sigma)) + 1
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
    blend_over(image[y0:y1, x0:x1], coverage[y0:y1, x0:x1], warped[:, :, :3], alpha, cut=False)
    return x0, y0, x1, y1


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
    canvas = np.zeros((d * 4, d * 4), np.uint8)  # drawn at 4x then shrunk: smooth edges
    c = d * 2
    if kind == "ellipse":
        axes = (int(d * 2 * rng.uniform(0.5, 1.0)) - 1, int(d * 2 * rng.uniform(0.3, 1.0)) - 1)
        cv2.ellipse(canvas, (c, c), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
    else:
        n = int(rng.integers(5, 10))
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        radii = rng.uniform(0.4, 1.0, n) * (d * 2 - 1)
        points = np.stack([c + radii * np.cos(angles), c + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 255, cv2.LINE_AA)
    return cv2.resize(canvas, (d, d), interpolation=cv2.INTER_AREA).astype(np.float32) * (1.0 / 255)


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
    """Crop a side x side square at (x, y) from a uint8 photo and resize it to size x size."""
    patch = photo[y:y + side, x:x + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    out = cv2.resize(patch, (size, size), interpolation=interpolation)
    return cv2.flip(out, 1) if flip else out


# --- whole-image steps -----------------------------------------------------------


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


def add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian sensor noise of std `sigma` (grey levels) to a uint8 image."""
    if sigma <= 0:
        return image
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    noise *= sigma
    return cv2.add(image, noise, dtype=cv2.CV_8U)


def coverage_to_mask(coverage: np.ndarray) -> np.ndarray:
    """float32 coverage (H, W) -> uint8 mask 0/255 (trash where coverage > 0.5)."""
    return np.where(coverage > 0.5, np.uint8(255), np.uint8(0))
