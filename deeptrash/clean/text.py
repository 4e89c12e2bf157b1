"""Text-overlay detector: captions, watermarks and banners pasted onto photos.

Web photos often carry text that is not part of the scene: a caption, a stock
watermark, a banner with a price. A segmenter trained on composites of such
photos would learn that text is (or is not) litter, so the filter drops them.

How it works (OpenCV only, no model):

1. The photo is scaled so its long side is ``WORK_SIDE`` px (up or down) and
   turned to grey. White top-hat and black-hat transforms keep thin bright and
   thin dark strokes (anything narrower than the structuring element), one map
   per polarity, so light text on dark and dark text on light are both found;
   the same again at half size for bold print.
2. Each map is thresholded (Otsu, but never below an absolute contrast floor
   so that soft natural shading does not count) and split into connected
   components: the *character candidates*. Candidates with the wrong geometry
   (too tall, too flat, too thin, too solid) are dropped.
3. Candidates are linked when they look like neighbours on one line of print:
   similar height, overlapping vertical extent, a small horizontal gap and a
   similar stroke grey level; then words on one line are joined.
4. A line needs at least ``MIN_PIECES`` separate components and
   ``MIN_CHARS`` letters (a wide component of touching letters counts as
   several, but only when its column profile alternates like letters do).
   Its evidence is a product of terms in [0, 1], each 1 for clean print:
   letters (7+), baseline (characters end on one row), clutter (few other
   blobs in a band around the line: texture such as gravel, grass or bark
   has neighbours everywhere), colour (one grey level), stroke (thin
   strokes relative to letter height: tree tops, pebbles are solid) and
   footing (the band under the line is not the strokes' colour: tree tops
   on a treeline rise out of a mass of their own colour). Shapes cut by the
   photo's edge are ignored (they all "end on one row").
5. Placement: a line that spans at least ``WIDE_LINE`` of the photo width or
   lies near an edge is an overlay; a short line in the middle of the photo is
   more likely a label printed on the object itself (a bottle's brand), which
   belongs to the object, so its evidence is halved. Lines narrower than
   ``MIN_LINE_WIDTH`` of the photo lose evidence in proportion.

Known gaps: print turned by more than ~10 degrees (diagonal stock
watermarks; extra turned passes found a few more but doubled the false
positives on real photos), very faint or very large low-contrast
watermarks, and text that is part of the scene (shop signs, newspapers) is
found like any other print.

``text_score`` returns the strongest line's evidence in [0, 1]; the filter
rejects a photo whose score exceeds ``filter.<kind>.max_text_score``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from deeptrash.io import flatten_alpha, scale_by

WORK_SIDE = 512          # long side the photo is analysed at, px
STROKE_KERNEL = 15       # top-hat/black-hat element: strokes thinner than this are kept
MIN_CONTRAST = 28        # grey levels a stroke must stand out by (0-255)
MIN_CHAR_HEIGHT = 8      # px at working size
MAX_CHAR_HEIGHT_SHARE = 0.2  # of the photo height
MIN_CHARS = 3            # characters on a line
MIN_PIECES = 3           # separate components on a line (one long blob is not print)
MIN_LINE_WIDTH = 0.2    # share of photo width below which a line's evidence shrinks
WIDE_LINE = 0.25         # share of photo width that makes a line an overlay by itself
EDGE_BAND = 0.15         # share of height/width next to an edge where overlays sit
MAX_CANDIDATES = 4000    # beyond this the map is texture, not print


@dataclass(frozen=True)
class TextLine:
    """One detected line of print, in working-size pixels."""

    x: int
    y: int
    width: int
    height: int
    chars: int
    evidence: float
    clutter: float = 0.0       # share of blobs around the line that are not its characters
    on_baseline: float = 0.0   # share of characters ending on the common baseline
    grey_spread: float = 0.0   # std of the characters' mean grey levels
    stroke: float = 0.0        # median stroke width / height of the characters
    footing: float = 0.0       # share of the band under the line in the strokes' grey


def _working_gray(image: np.ndarray) -> np.ndarray:
    """Grey uint8 (h, w) copy of a BGR/BGRA/gray uint8 image, long side <= WORK_SIDE."""
    image = flatten_alpha(image, 128)  # transparent pixels count as mid grey, so cut-out edges are not strokes
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    # Always to the same size, up or down, so that the geometry limits below
    # mean the same thing for a 200 px thumbnail and a 4000 px photo. (Not
    # io.shrink_to: that never enlarges, and scaling by fx/fy (io.scale_by) differs
    # from a resize to the rounded size by a grey level here and there.)
    return scale_by(gray, WORK_SIDE / max(gray.shape[:2]))


@dataclass
class _Polarity:
    """Connected components of one stroke map (bright or dark strokes)."""

    chars: np.ndarray     # float32 (n, 8): x, y, w, h, pixels, mean grey, mean contrast, label
    gray: np.ndarray      # uint8 (h, w) the grey photo the map was made from
    blobs: np.ndarray     # float32 (m, 4): x, y, w, h of every component of >= 4 px (for clutter)
    labels: np.ndarray    # int32 (h, w) component label image


def _components(stroke_map: np.ndarray, gray: np.ndarray) -> _Polarity:
    """Character candidates of one polarity.

    stroke_map: uint8 (h, w) top-hat or black-hat response; gray: uint8 (h, w).
    """
    height = gray.shape[0]
    otsu, _ = cv2.threshold(stroke_map, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    binary = (stroke_map > max(otsu, MIN_CONTRAST)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    empty = _Polarity(np.zeros((0, 8), np.float32), gray, np.zeros((0, 4), np.float32), labels)
    if count <= 1:
        return empty
    stats = stats[1:]
    x, y, w, h, area = (stats[:, i].astype(np.float32) for i in range(5))
    blobs = stats[area >= 4, :4].astype(np.float32)
    fill = area / np.maximum(w * h, 1)
    keep = (
        (h >= MIN_CHAR_HEIGHT) & (h <= MAX_CHAR_HEIGHT_SHARE * height)
        & (w >= 2)
        # Shapes cut by the photo's edge all end on one row: a false baseline.
        & (x > 0) & (y > 0) & (x + w < gray.shape[1]) & (y + h < height)
        # Touching letters (bold or anti-aliased print) make one wide blob: a
        # word. Allowed, but only when hollow like print, not a solid bar.
        & ((w <= 2.5 * h) | ((w <= 15 * h) & (fill <= 0.6)))
        & (fill >= 0.08) & (fill <= 0.85)
        & (area >= 16)
    )
    wide = keep & (w > 2.5 * h)
    if wide.sum() > MAX_CANDIDATES // 10:
        return _Polarity(empty.chars, gray, blobs, labels)
    for i in np.flatnonzero(wide):
        keep[i] = _looks_like_word(labels, i + 1, stats[i, :4])
    index = np.flatnonzero(keep)
    if len(index) == 0 or len(index) > MAX_CANDIDATES:
        return _Polarity(empty.chars, gray, blobs, labels)
    flat_labels = labels.ravel()
    # Mean grey and mean contrast per component in one pass (bincount by label).
    sums_gray = np.bincount(flat_labels, weights=gray.ravel().astype(np.float64), minlength=count)
    sums_contrast = np.bincount(flat_labels, weights=stroke_map.ravel().astype(np.float64), minlength=count)
    pixels = np.maximum(stats[:, 4].astype(np.float64), 1)
    mean_gray = (sums_gray[1:] / pixels)[index]
    mean_contrast = (sums_contrast[1:] / pixels)[index]
    chars = np.stack(
        [x[index], y[index], w[index], h[index], area[index], mean_gray, mean_contrast, index + 1], axis=1
    ).astype(np.float32)
    return _Polarity(chars, gray, blobs, labels)


def _looks_like_word(labels: np.ndarray, label: int, box: np.ndarray) -> bool:
    """Whether a wide component is touching letters rather than a bar or a stripe.

    Letters alternate thick and thin columns (stems, bowls, gaps); a stripe,
    wave crest or twig has nearly the same thickness all along. Uses the
    coefficient of variation of the per-column pixel count.
    """
    x, y, w, h = (int(v) for v in box)
    columns = (labels[y:y + h, x:x + w] == label).sum(axis=0).astype(np.float32)
    return float(columns.std() / max(columns.mean(), 1e-6)) >= 0.45


def _group_lines(chars: np.ndarray) -> list[np.ndarray]:
    """Link candidates that sit side by side on one line; returns index arrays of groups."""
    n = len(chars)
    if n < MIN_CHARS:
        return []
    x, y, w, h, grey = chars[:, 0], chars[:, 1], chars[:, 2], chars[:, 3], chars[:, 5]
    x1, y1 = x + w, y + h
    # Pairwise tests, vectorised (n <= MAX_CANDIDATES).
    hmax = np.maximum(h[:, None], h[None, :])
    hmin = np.minimum(h[:, None], h[None, :])
    overlap = np.minimum(y1[:, None], y1[None, :]) - np.maximum(y[:, None], y[None, :])
    gap = np.maximum(x[None, :] - x1[:, None], x[:, None] - x1[None, :])
    linked = (
        (hmax <= 2.2 * hmin)
        & (overlap >= 0.6 * hmin)
        & (gap <= 1.5 * hmax) & (gap >= -0.3 * hmin)
        & (np.abs(grey[:, None] - grey[None, :]) <= 35)
    )
    linked = np.triu(linked, 1)
    count, roots = _union_find(n, *np.nonzero(linked))
    groups = [np.flatnonzero(roots == r) for r in range(count)]
    return _merge_words([g for g in groups if len(g) >= 2 or _letters(chars[g]) >= 2], chars)


def _letters(chars: np.ndarray) -> int:
    """Letters in candidates (n, 8): a wide blob of touching letters counts as several."""
    return int(np.maximum(1, np.round(chars[:, 2] / (0.65 * chars[:, 3]))).sum())


def _merge_words(groups: list[np.ndarray], chars: np.ndarray) -> list[np.ndarray]:
    """Join groups (words) that continue one another on the same line."""
    if len(groups) > 1:
        boxes = []
        for g in groups:
            x, y, w, h = chars[g, 0], chars[g, 1], chars[g, 2], chars[g, 3]
            boxes.append((x.min(), y.min(), (x + w).max(), (y + h).max(), np.median(h), np.median(chars[g, 5])))
        b = np.array(boxes)
        x0, y0, x1, y1, mh, grey = b.T
        overlap = np.minimum(y1[:, None], y1[None, :]) - np.maximum(y0[:, None], y0[None, :])
        gap = np.maximum(x0[None, :] - x1[:, None], x0[:, None] - x1[None, :])
        hmin = np.minimum(mh[:, None], mh[None, :])
        hmax = np.maximum(mh[:, None], mh[None, :])
        linked = np.triu(
            (hmax <= 1.6 * hmin) & (overlap >= 0.6 * hmin) & (gap <= 3 * hmax)
            & (np.abs(grey[:, None] - grey[None, :]) <= 35), 1)
        count, roots = _union_find(len(groups), *np.nonzero(linked))
        groups = [np.concatenate([g for g, r in zip(groups, roots) if r == k]) for k in range(count)]
    return [g for g in groups if len(g) >= MIN_PIECES and _letters(chars[g]) >= MIN_CHARS]


def _union_find(n: int, left: np.ndarray, right: np.ndarray) -> tuple[int, np.ndarray]:
    """Connected components of a graph with `n` nodes and edges (left[k], right[k]).

    Returns (number of components, int array (n,) of component ids 0..count-1,
    numbered in the order of their lowest node).
    """
    edges = coo_matrix((np.ones(len(left), np.int8), (left, right)), shape=(n, n))
    return connected_components(edges, directed=False)


def _stroke_ratio(labels: np.ndarray, label: int, box: np.ndarray) -> float:
    """Stroke width over height of one component: 2 x its largest inscribed radius / box height.

    Print is drawn with thin strokes (about 0.1-0.25 of the letter height);
    tree tops, pebbles and blobs are solid (0.3 and more).
    """
    x, y, w, h = (int(v) for v in box)
    mask = np.pad((labels[y:y + h, x:x + w] == label).astype(np.uint8), 1)
    radius = float(cv2.distanceTransform(mask, cv2.DIST_L2, 3).max())
    return 2 * radius / max(h, 1)


def _line_evidence(group: np.ndarray, polarity: _Polarity, shape: tuple[int, int]) -> TextLine:
    """Score one group of linked candidates as a line of print (see module doc)."""
    height, width = shape
    chars = polarity.chars[group]
    x, y, w, h, grey = chars[:, 0], chars[:, 1], chars[:, 2], chars[:, 3], chars[:, 5]
    gx0, gy0, gx1, gy1 = x.min(), y.min(), (x + w).max(), (y + h).max()
    line_w, line_h = gx1 - gx0, gy1 - gy0
    median_h = float(np.median(h))
    n = len(group)
    letters = _letters(chars)
    stroke = float(np.median([_stroke_ratio(polarity.labels, int(c[7]), c[:4]) for c in chars]))
    # Clutter: other blobs whose centre lies in a band around the line, most
    # of a character height above and below (stripes and texture have
    # neighbours there, a line of print has clear space around it).
    bx, by, bw, bh = polarity.blobs.T
    cx, cy = bx + bw / 2, by + bh / 2
    margin = 0.8 * median_h
    around = (cx >= gx0 - margin / 2) & (cx <= gx1 + margin / 2) & (cy >= gy0 - margin) & (cy <= gy1 + margin)
    # Blobs inside the line's own box are often pieces of its letters (thin
    # anti-aliased strokes break up); only the band around it is counted.
    within = (cx >= gx0) & (cx <= gx1) & (cy >= gy0) & (cy <= gy1)
    others = int((around & ~within).sum())
    clutter = others / (others + n)
    # Baseline: most characters of a line end on the same row (descenders aside).
    bottoms = y + h
    on_baseline = float(np.mean(np.abs(bottoms - np.median(bottoms)) <= max(1.5, 0.12 * median_h)))
    grey_spread = float(np.std(grey))
    # Footing: print floats on its background; tree tops on a treeline or the
    # teeth of a fence rise out of a mass of their own colour. Share of the
    # pixels in a thin band under the line that have the strokes' grey.
    band = polarity.gray[int(gy1):int(gy1 + max(2.0, 0.3 * median_h)), int(gx0):int(gx1)]
    tolerance = max(12.0, 0.4 * float(np.median(chars[:, 6])))
    footing = float(np.mean(np.abs(band.astype(np.float32) - np.median(grey)) <= tolerance)) if band.size else 0.0
    # Each term is 1 for clean print and falls to 0 for texture; the limits
    # come from the seeded synthetic set in tests/test_text.py.
    chars_term = min(1.0, (letters - 2) / 5)
    shape_term = 1.0 if (line_w >= 2.0 * median_h and line_h <= 2.5 * median_h) else 0.3
    baseline_term = float(np.clip((on_baseline - 0.25) / 0.35, 0, 1))
    clutter_term = float(np.clip((0.55 - clutter) / 0.35, 0, 1))
    colour_term = float(np.clip(1 - (grey_spread - 10) / 25, 0, 1))
    stroke_term = float(np.clip((0.62 - stroke) / 0.1, 0, 1))
    footing_term = float(np.clip((0.85 - footing) / 0.3, 0, 1))
    evidence = (chars_term * shape_term * baseline_term * clutter_term * colour_term
                * stroke_term * footing_term)
    near_edge = (
        gy0 < EDGE_BAND * height or gy1 > (1 - EDGE_BAND) * height
        or gx0 < EDGE_BAND * width * 0.5 or gx1 > (1 - EDGE_BAND * 0.5) * width
    )
    if not (line_w >= WIDE_LINE * width or near_edge):
        evidence *= 0.5
    # A few blobs in a row over a short stretch happen in any texture (rows of
    # cobbles, pebbles): print too short to read is not worth a rejection.
    evidence *= float(np.clip(line_w / (MIN_LINE_WIDTH * width), 0, 1))
    return TextLine(int(gx0), int(gy0), int(line_w), int(line_h), letters, float(evidence),
                    clutter=round(clutter, 3), on_baseline=round(on_baseline, 3),
                    grey_spread=round(grey_spread, 1), stroke=round(stroke, 3), footing=round(footing, 3))


def find_text_lines(image: np.ndarray) -> list[TextLine]:
    """Lines of overlaid print in `image` (uint8 BGR, BGRA or gray), strongest first.

    Coordinates are at the working size (long side <= WORK_SIDE).
    """
    gray = _working_gray(image)
    lines: list[TextLine] = []
    # Thin print at full working size, bold print at half of it (the same
    # element then spans strokes twice as wide, at a quarter of the cost);
    # bright and dark strokes: four stroke maps.
    half = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (STROKE_KERNEL, STROKE_KERNEL))
    for level, factor in ((gray, 1), (half, 2)):
        for op in (cv2.MORPH_TOPHAT, cv2.MORPH_BLACKHAT):
            polarity = _components(cv2.morphologyEx(level, op, kernel), level)
            for group in _group_lines(polarity.chars):
                line = _line_evidence(group, polarity, level.shape)
                lines.append(dataclasses.replace(
                    line, x=line.x * factor, y=line.y * factor,
                    width=line.width * factor, height=line.height * factor))
    return sorted(lines, key=lambda line: -line.evidence)


def text_score(image: np.ndarray) -> float:
    """Evidence in [0, 1] that `image` (uint8 BGR/BGRA/gray, any size) carries overlaid text.

    0 means no line of print was found; 1 a clean line of seven or more
    characters that spans a good part of the width or sits near an edge. The
    filter's default decision threshold is 0.4 (params `max_text_score`).
    """
    lines = find_text_lines(image)
    return round(lines[0].evidence, 4) if lines else 0.0


def has_text(image: np.ndarray, max_text_score: float = 0.4) -> bool:
    """True when `text_score(image)` exceeds `max_text_score`."""
    return text_score(image) > max_text_score
