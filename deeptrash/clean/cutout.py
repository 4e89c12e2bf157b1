"""How a photo is cut: the automatic foreground mask (background model from the border,
GrabCut), the user-box mask, and turning a working-size mask into a feathered full-size
alpha and a tight BGRA cut-out. The steps are described in deeptrash/clean/crop.py, which
decides, with its quality gates, which pieces become cut-outs.

Shapes and types follow HACKING.md: images uint8 (H, W, 3) BGR or (H, W, 4)
BGRA, masks uint8 (H, W) 0/255 or bool (H, W) where stated.
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from deeptrash.io import pieces_touching, scale_by, shrink_factor


# The luminance difference counts half as much as the colour difference, and
# about a third when the pixel is darker than the background: soft shadows on a
# board change L a lot and a, b little.
LIGHTNESS_WEIGHT = 0.5
SHADOW_WEIGHT = 0.35
# Foreground parts closer than about 2 x this share of the working size are one
# object (striped or two-tone objects whose light parts match the background).
GAP_SHARE = 0.035
# Guided-filter edge refinement: grey-level variance below which an edge is
# too faint to follow (0.01 = a step of about 0.1 of the grey range).
GUIDE_EPS = 0.01
# Noise floor of the background model, in Lab units: on a perfectly flat
# rendered background the border noise is ~0 and would make every JPEG ripple
# look like foreground.
MIN_NOISE = 2.5
# Texture cue (white paper, milky plastic and glass on a white board match its
# colour but not its smoothness): a pixel is "textured" where the lightness
# gradient exceeds TEXTURE_LEVEL x the border's median gradient, never less
# than MIN_GRADIENT L units per px (a rendered flat board has no gradient at all).
TEXTURE_LEVEL = 4.0
MIN_GRADIENT = 0.4


# --- small pure helpers -------------------------------------------------------

def real_alpha(image: np.ndarray) -> np.ndarray | None:
    """The alpha channel (uint8 (H, W)) of a BGRA image if it is not fully opaque, else None."""
    if image.ndim != 3 or image.shape[2] != 4:
        return None
    alpha = image[:, :, 3]
    return alpha if int(alpha.min()) < 250 else None


def border_strip(shape: tuple[int, int], width: int) -> np.ndarray:
    """Bool (H, W): True within `width` px of the image edge."""
    strip = np.ones(shape, bool)
    strip[width:-width, width:-width] = False
    return strip


def to_lab(bgr: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) BGR -> float32 (H, W, 3) Lab (L 0..100, a/b about -127..127)."""
    return cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)


def _quadratic_design(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """float64 (N, 6) design matrix [1, x, y, x^2, xy, y^2] for coordinates in 0..1."""
    return np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=1)


def _least_squares(design: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Coefficients (k, c) minimising |design @ coef - values| for float64 (N, k) and (N, c).

    Normal equations with a tiny ridge: k <= 6 here, and this is many times
    faster than an SVD-based lstsq on thousands of rows.
    """
    gram = design.T @ design
    gram[np.diag_indices_from(gram)] += 1e-9 * max(1.0, float(np.trace(gram)))
    return np.linalg.solve(gram, design.T @ values)


def colour_distance(difference: np.ndarray) -> np.ndarray:
    """Length of Lab differences (..., 3) -> (...), with L down-weighted (more so when darker: shadows)."""
    lightness = difference[..., 0]
    weight = np.where(lightness < 0, SHADOW_WEIGHT, LIGHTNESS_WEIGHT)
    return np.sqrt((weight * lightness) ** 2 + difference[..., 1] ** 2 + difference[..., 2] ** 2)


def background_model(lab: np.ndarray, strip: np.ndarray, rounds: int = 4) -> tuple[np.ndarray, float]:
    """A smooth background colour model fitted to the border, and the border's noise level.

    lab: float32 (H, W, 3); strip: bool (H, W) pixels assumed mostly background.
    Returns (float32 (H, W, 3) model Lab colour at every pixel, noise in
    weighted Lab units). A quadratic surface per channel follows gradients and
    vignetting; each round drops the border pixels that fit worst (an object
    that touches the border) and refits.
    """
    h, w = strip.shape
    ys, xs = np.nonzero(strip)
    yn, xn = ys / max(h - 1, 1), xs / max(w - 1, 1)
    design = _quadratic_design(yn, xn)
    values = lab[ys, xs].astype(np.float64)
    # Start from the median colour (robust while the background is over half
    # the border) and trust only the better-fitting half; a least-squares fit
    # on every border pixel would bend towards an object on the border.
    residual = colour_distance(values - np.median(values, axis=0))
    keep = residual <= np.median(residual)
    for round_ in range(rounds):
        # Plane first, then the quadratic surface, each on the previous round's inliers.
        terms = 3 if round_ == 0 else 6
        coef = np.zeros((6, 3))
        coef[:terms] = _least_squares(design[keep, :terms], values[keep])
        residual = colour_distance(values - design @ coef)
        # With a good fit the median residual is background noise; 3x it separates the object.
        keep = residual <= 3 * max(float(np.median(residual)), 1e-3)
    # 1.6 x the median residual is about the 90th percentile of clean noise,
    # and stays put when a quarter of the border is really object.
    noise = max(1.6 * float(np.median(residual[keep])), MIN_NOISE)
    gy, gx = np.mgrid[0:h, 0:w]
    full = _quadratic_design(gy.ravel() / max(h - 1, 1), gx.ravel() / max(w - 1, 1))
    return (full @ coef).reshape(h, w, 3).astype(np.float32), noise


def background_distance(lab: np.ndarray, strip: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Distance of every pixel from `background_model`, float32 (H, W), in units of the border's noise.

    About 1 is a typical background pixel. lab: float32 (H, W, 3); strip: bool (H, W).
    """
    model, noise = background_model(lab, strip, rounds)
    return (colour_distance(lab - model) / noise).astype(np.float32)


def gradient_magnitude(lightness: np.ndarray) -> np.ndarray:
    """Float32 (H, W) gradient length of a float32 (H, W) L channel, in L units per px, after a 1 px blur."""
    smooth = cv2.GaussianBlur(lightness, (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return np.sqrt(gx * gx + gy * gy)


def textured_regions(lab: np.ndarray, strip: np.ndarray, level: float = TEXTURE_LEVEL) -> np.ndarray:
    """Bool (H, W): solid regions rougher than the background, from float32 (H, W, 3) Lab.

    A board is smooth (its shading and vignetting are gradual); objects have
    outlines, creases, print and highlights even when their colour is the
    board's. Pixels whose gradient exceeds `level` x the border strip's median
    gradient are joined (closing over ~2 px), enclosed areas filled, and what
    is thinner than ~7 px (stray lines, the rim of a shadow) opened away.
    """
    gradient = gradient_magnitude(lab[..., 0])
    floor = max(float(np.median(gradient[strip])), MIN_GRADIENT / level)
    rough = (gradient > level * floor).astype(np.uint8)
    rough = cv2.morphologyEx(rough, cv2.MORPH_CLOSE, _disc(2))
    solid = fill_holes(rough.astype(bool)).astype(np.uint8)
    return cv2.morphologyEx(solid, cv2.MORPH_OPEN, _disc(3)).astype(bool)


def background_roughness(lab: np.ndarray, strip: np.ndarray, distance: np.ndarray, bg_level: float = 1.5) -> float:
    """Median lightness gradient (L units per px) of the background seen on the border.

    lab: float32 (H, W, 3); strip: bool (H, W); distance: `background_distance`.
    Only border pixels that fit the background model count (an object reaching
    the border is not background). A board or sweep is smooth (~0.1-0.2 at a
    256 px working size); cardboard, a magazine page or a box that fills the
    frame is not (> 0.3): there the "background" is the object or clutter.
    """
    gradient = gradient_magnitude(lab[..., 0])
    background = strip & (distance <= bg_level)
    if background.sum() < 0.05 * strip.sum():
        background = strip
    return float(np.median(gradient[background]))


def seed_labels(distance: np.ndarray, strip: np.ndarray, fg_level: float = 2.5, bg_level: float = 1.5) -> np.ndarray:
    """GrabCut seed labels, uint8 (H, W) of cv2.GC_* values, from `background_distance`.

    Border pixels that fit the background are sure background; elsewhere pixels
    beyond `fg_level` are probable foreground, the rest probable background.
    """
    labels = np.where(distance > fg_level, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[strip & (distance <= bg_level)] = cv2.GC_BGD
    return labels


def run_grabcut(bgr: np.ndarray, labels: np.ndarray | None = None, rect: tuple[int, int, int, int] | None = None,
                iterations: int = 3) -> np.ndarray:
    """GrabCut seeded by `labels` (uint8 GC_* (H, W)) or by `rect` (x, y, w, h).

    bgr: uint8 (H, W, 3). Returns bool (H, W) foreground. The OpenCV RNG is
    reseeded first so the GMM initialisation, and so the result, does not depend
    on what ran before. Raises cv2.error when a seed has no foreground or no
    background pixels.
    """
    cv2.setRNGSeed(12345)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    if rect is not None:
        mask = np.zeros(bgr.shape[:2], np.uint8)
        cv2.grabCut(bgr, mask, tuple(int(v) for v in rect), bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    else:
        mask = labels.copy()
        cv2.grabCut(bgr, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Bool (H, W) mask with every enclosed hole filled.

    Litter objects are solid; holes GrabCut leaves inside them are labels or
    highlights that matched the background colour.
    """
    padded = np.pad(mask, 1).astype(np.uint8)
    outside = padded.copy()
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 1)
    holes = outside[1:-1, 1:-1] == 0
    return mask | holes


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def clean_mask(mask: np.ndarray, radius: int = 1, gap: int = 0) -> np.ndarray:
    """Tidy a bool (H, W) GrabCut mask; returns bool (H, W).

    Opening by a disc of `radius` drops specks and thin bridges; closing by a
    disc of `gap` joins parts less than about 2 * gap px apart (the dark
    stripes of a straw whose light stripes match the background); then
    holes are filled.
    """
    mask = mask.astype(np.uint8)
    if radius > 0:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _disc(radius))
    if gap > 0:
        # Pad so that closing does not glue a piece to the image edge.
        padded = cv2.copyMakeBorder(mask, gap, gap, gap, gap, cv2.BORDER_CONSTANT, value=0)
        mask = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, _disc(gap))[gap:-gap, gap:-gap]
    return fill_holes(mask.astype(bool))


def split_pieces(mask: np.ndarray, min_share: float) -> tuple[list[np.ndarray], int]:
    """Connected pieces of a bool (H, W) mask, largest first.

    Pieces under `min_share` of the image are specks and dropped. Returns the
    bool (H, W) masks of the kept pieces and the number of specks dropped.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    minimum = min_share * mask.size
    order = sorted(range(1, count), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    pieces = [labels == i for i in order if stats[i, cv2.CC_STAT_AREA] >= minimum]
    return pieces, (count - 1) - len(pieces)


def upsample_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool (h, w) working-size mask -> bool (H, W) at full size with smooth edges.

    Bilinear upsampling plus a blur about one working pixel wide, thresholded at
    0.5, turns the staircase of the small mask into a smooth outline.
    """
    height, width = shape
    if mask.shape == (height, width):
        return mask.copy()
    scale = height / mask.shape[0]
    soft = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    sigma = max(0.5, scale / 2)
    soft = cv2.GaussianBlur(soft, (0, 0), sigma)
    return soft >= 0.5


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of `source` that follows the edges of `guide` (He et al. 2010).

    guide, source: float32 (H, W), guide in 0..1. Returns float32 (H, W). Locally
    the output is a linear function of the guide, so a blurry upsampled mask
    snaps to the photo's own edges; `eps` (in guide variance units) sets how
    strong an edge must be to be followed.
    """
    size = (2 * radius + 1, 2 * radius + 1)
    box = lambda image: cv2.boxFilter(image, -1, size)  # noqa: E731 (local shorthand)
    mean_guide, mean_source = box(guide), box(source)
    variance = box(guide * guide) - mean_guide * mean_guide
    slope = (box(guide * source) - mean_guide * mean_source) / (variance + eps)
    offset = mean_source - slope * mean_guide
    return box(slope) * guide + box(offset)


def upsample_region(mask: np.ndarray, shape: tuple[int, int], pad: int = 0,
                    guide: np.ndarray | None = None) -> tuple[np.ndarray, int, int]:
    """Like `upsample_mask`, but only over the piece's box (plus `pad` full-size px).

    mask: bool (h, w) working-size piece; shape: the full (H, W). Returns the
    bool full-size mask of the region and its top-left (x0, y0) in the photo,
    so a 12-megapixel photo costs no more than its object. The sampling matches
    cv2.resize (half-pixel centres). With `guide` (the uint8 (H, W, 3) photo)
    the smooth outline is then refined by a guided filter on the photo's grey
    levels, over about 1.5 working pixels, to sit on the real edge.
    """
    height, width = shape
    fy, fx = height / mask.shape[0], width / mask.shape[1]
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    margin = 2  # working px: room for the blur
    x0 = max(0, int(np.floor((x - margin) * fx)) - pad)
    y0 = max(0, int(np.floor((y - margin) * fy)) - pad)
    x1 = min(width, int(np.ceil((x + w + margin) * fx)) + pad)
    y1 = min(height, int(np.ceil((y + h + margin) * fy)) + pad)
    if (fx, fy) == (1.0, 1.0):
        return mask[y0:y1, x0:x1].copy(), x0, y0
    map_x = ((np.arange(x0, x1, dtype=np.float32) + 0.5) / fx - 0.5)[None, :].repeat(y1 - y0, axis=0)
    map_y = ((np.arange(y0, y1, dtype=np.float32) + 0.5) / fy - 0.5)[:, None].repeat(x1 - x0, axis=1)
    soft = cv2.remap(mask.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    soft = cv2.GaussianBlur(soft, (0, 0), max(0.5, fy / 2))
    if guide is not None:
        grey = cv2.cvtColor(guide[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
        soft = guided_filter(grey, soft, max(1, round(1.5 * fy)), GUIDE_EPS)
    return soft >= 0.5, x0, y0


def feather_alpha(mask: np.ndarray, feather: int) -> np.ndarray:
    """Bool (H, W) mask -> uint8 (H, W) alpha ramping across the edge over `feather` px each side.

    The ramp is centred on the mask outline (alpha 128 on the edge), so
    thresholding the alpha at 128 gives the mask back; pixels farther than
    `feather` px from the edge are exactly 0 or 255.
    """
    if feather <= 0:
        return np.where(mask, 255, 0).astype(np.uint8)
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    # distanceTransform gives 1 for the pixels next to the edge; shift to centre the edge at 0.
    signed = np.where(mask, inside - 0.5, -(outside - 0.5))
    alpha = np.clip(0.5 + signed / (2.0 * feather), 0.0, 1.0)
    return np.round(alpha * 255).astype(np.uint8)


def tight_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the pixels with alpha > 0 in a uint8 (H, W) alpha; (0, 0, 0, 0) if none."""
    points = cv2.findNonZero((alpha > 0).astype(np.uint8))
    if points is None:
        return 0, 0, 0, 0
    x, y, w, h = cv2.boundingRect(points)
    return int(x), int(y), int(w), int(h)


def cut_out(bgr: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Crop uint8 (H, W, 3) BGR and (H, W) alpha to the tight box; returns (h, w, 4) BGRA and the box."""
    x, y, w, h = tight_box(alpha)
    bgra = np.dstack([bgr[y:y + h, x:x + w], alpha[y:y + h, x:x + w]])
    return np.ascontiguousarray(bgra), (x, y, w, h)


def piece_soft_alpha(alpha: np.ndarray, piece: np.ndarray, reach: int = 8) -> np.ndarray:
    """The photo's own alpha (uint8 (H, W)) for one piece, soft edge included.

    piece: bool (H, W), part of alpha >= 128. Keeps the translucent pixels
    (alpha > 0) connected to the piece within `reach` px of it, and nothing of
    the other pieces.
    """
    own = pieces_touching(alpha > 0, piece)
    size = 2 * reach + 1
    near = cv2.dilate(piece.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return np.where(own & near.astype(bool), alpha, 0).astype(np.uint8)


# --- masks for one photo --------------------------------------------------------

class AutoMask(NamedTuple):
    """What `auto_mask` found: bool (h, w) mask at working size (empty = nothing),
    the scale from full to working size, the photo's `background_roughness`, and
    float32 (h, w) `background_distance` (to measure each piece's contrast)."""

    mask: np.ndarray
    scale: float
    roughness: float
    distance: np.ndarray


def auto_mask(bgr: np.ndarray, work_size: int, iterations: int = 3) -> AutoMask:
    """Automatic foreground of a uint8 (H, W, 3) photo at working size (see AutoMask)."""
    scale = shrink_factor(bgr.shape, work_size)
    small = scale_by(bgr, scale)
    strip = border_strip(small.shape[:2], max(2, round(0.03 * max(small.shape[:2]))))
    lab = to_lab(small)
    distance = background_distance(lab, strip)
    roughness = background_roughness(lab, strip, distance)
    empty = np.zeros(small.shape[:2], bool)
    labels = seed_labels(distance, strip)
    # Objects the colour of the board (white paper, milky plastic, glass) are
    # still rougher than it: their textured regions are probable foreground too.
    labels[textured_regions(lab, strip) & (labels == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
    probable_fg = int((labels == cv2.GC_PR_FGD).sum())
    if probable_fg < 0.001 * labels.size:
        return AutoMask(empty, scale, roughness, distance)
    x, y, w, h = seed_roi(labels == cv2.GC_PR_FGD, margin=max(4, round(0.06 * max(labels.shape))))
    roi_labels = labels[y:y + h, x:x + w].copy()
    # The ROI's edge lies in background (seeds are inside by construction): make it sure background.
    roi_labels[border_strip(roi_labels.shape, 1) & (roi_labels == cv2.GC_PR_BGD)] = cv2.GC_BGD
    mask = empty.copy()
    mask[y:y + h, x:x + w] = run_grabcut(np.ascontiguousarray(small[y:y + h, x:x + w]), roi_labels,
                                         iterations=iterations)
    mask = clean_mask(mask, gap=max(1, round(GAP_SHARE * max(mask.shape))))
    return AutoMask(mask, scale, roughness, distance)


def seed_roi(seed: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) around the foreground seed (bool (H, W)) plus `margin`, within the image.

    GrabCut's cost grows with the pixels it labels; far from every seed nothing
    will turn foreground, so it runs on this box only. Isolated seed specks are
    ignored (opened away) unless nothing else is left.
    """
    opened = cv2.morphologyEx(seed.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    points = cv2.findNonZero(opened if opened.any() else seed.astype(np.uint8))
    x, y, w, h = cv2.boundingRect(points)
    height, width = seed.shape
    x0, y0 = max(0, x - margin), max(0, y - margin)
    x1, y1 = min(width, x + w + margin), min(height, y + h + margin)
    return x0, y0, x1 - x0, y1 - y0


def box_mask(bgr: np.ndarray, box: tuple[int, int, int, int], work_size: int,
             iterations: int = 3) -> tuple[np.ndarray, float]:
    """Foreground inside a user box (x, y, w, h in full-size px) by GrabCut's rectangle mode.

    Returns (bool (h, w) working-size mask: the largest piece inside the box, scale).
    """
    scale = shrink_factor(bgr.shape, work_size)
    small = scale_by(bgr, scale)
    sh, sw = small.shape[:2]
    x0 = int(np.clip(np.floor(box[0] * scale), 0, sw - 1))
    y0 = int(np.clip(np.floor(box[1] * scale), 0, sh - 1))
    x1 = int(np.clip(np.ceil((box[0] + box[2]) * scale), x0 + 1, sw))
    y1 = int(np.clip(np.ceil((box[1] + box[3]) * scale), y0 + 1, sh))
    mask = clean_mask(run_grabcut(small, rect=(x0, y0, x1 - x0, y1 - y0), iterations=iterations))
    pieces, _ = split_pieces(mask, 0.0)
    return (pieces[0] if pieces else np.zeros((sh, sw), bool)), scale
