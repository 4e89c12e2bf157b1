"""Automatic foreground cut-outs: trash photos in, RGBA cut-outs with alpha out.

The photos are product-style shots: one or a few objects on a fairly plain
background (a board, a table, a studio sweep). Nobody draws a box, so the
GrabCut seed comes from the photo border:

1. At a reduced working size (``work_size`` on the long side) fit a smooth
   colour model of the background to the border strip: a quadratic surface per
   Lab channel, refitted without outliers (an object touching the border), so
   lighting gradients and vignetting stay "background".
2. Every pixel's distance from that model, in units of the border's own noise,
   labels GrabCut's seed: far -> probable foreground, near -> probable
   background, the border strip itself -> sure background. Objects the board's
   colour (white paper, milky plastic, glass on a white board) are found by
   texture instead: solid regions whose lightness gradient is well above the
   border's (the board is smooth, paper has creases, edges and print) are
   probable foreground too.
3. GrabCut refines the labels with colour GMMs and a smoothness term, on the
   seed's region only; the mask is cleaned (open, close small gaps, fill
   holes) and split into connected pieces.
4. Each piece is upsampled to the full photo over its own box, smoothed,
   snapped to the photo's edges by a guided filter, feathered (alpha 128 on
   the outline) and cropped to its tight bounding box.

A photo whose decoded alpha channel is not fully opaque skips all this
(method ``alpha``: its own alpha, soft edge included, is kept); a user box
(``crop.boxes``) replaces the automatic seed with GrabCut's rectangle mode
(method ``box``). Quality gates reject pieces that are too small, too large,
touch too much of the border or are too ragged, each with a reason; on a busy
background (rough where it meets the border: frame-filling cardboard, a page,
clutter) a piece must also stand out in colour, else it is a patch of that
surface (``busy_background``). A wrong cut-out teaches the model that a patch
of board or box is trash, so doubtful pieces are rejected rather than kept.

The masks and cut-outs are made in deeptrash/clean/cutout.py; this module
decides what becomes a cut-out (quality gates, user boxes, one photo's candidates).

Shapes and types follow HACKING.md: images uint8 (H, W, 3) BGR or (H, W, 4)
BGRA, masks uint8 (H, W) 0/255 or bool (H, W) where stated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from deeptrash.clean.cutout import (
    auto_mask, box_mask, cut_out, feather_alpha, piece_soft_alpha, real_alpha, split_pieces, upsample_region,
)
from deeptrash.errors import UserError

# Status of a row of cutouts.csv: a written cut-out, or a rejected candidate.
OK = "ok"
REJECTED = "rejected"
# Reasons written to cutouts.csv for rejected rows.
UNREADABLE = "unreadable"
NO_FOREGROUND = "no_foreground"
TOO_SMALL = "too_small"
TOO_LARGE = "too_large"
BORDER = "touches_border"
EDGE_PATCH = "edge_patch"
FRAGMENTED = "fragmented"
MAX_PIECES = "max_pieces"
GRABCUT_FAILED = "grabcut_failed"
BUSY_BACKGROUND = "busy_background"


@dataclass
class Candidate:
    """One candidate cut-out of a photo (a row of cutouts.csv).

    `image` is the uint8 (h, w, 4) BGRA cut-out (None when rejected or when the
    photo was unreadable); x, y, w, h is its box in the photo's pixels; `area`
    counts pixels with alpha >= 128.
    """

    method: str
    status: str = OK
    reason: str = ""
    x: int = 0
    y: int = 0
    w: int = 0
    h: int = 0
    area: int = 0
    area_share: float = 0.0
    border_touch: float = 0.0
    offcentre: float = 0.0
    solidity: float = 0.0
    # Auto cuts only: the photo's background_roughness and the piece's median
    # background distance (its colour contrast, in units of the border noise).
    roughness: float = 0.0
    contrast: float = 0.0
    image: np.ndarray | None = field(default=None, repr=False)

    def reject(self, reason: str) -> "Candidate":
        self.status, self.reason, self.image = REJECTED, reason, None
        return self


def border_touch(mask: np.ndarray) -> float:
    """Share of the outermost ring of pixels covered by a bool (H, W) mask."""
    ring = np.concatenate([mask[0, :], mask[-1, :], mask[1:-1, 0], mask[1:-1, -1]])
    return float(ring.mean())


def offcentre(mask: np.ndarray) -> float:
    """How far the box of a bool (H, W) piece is from the photo centre: 0 centred, 0.5 on the edge.

    The larger of the horizontal and vertical distances of the box centre from
    the photo centre, as shares of the photo width and height.
    """
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    height, width = mask.shape
    return float(max(abs((x + w / 2) / width - 0.5), abs((y + h / 2) / height - 0.5)))


def solidity(mask: np.ndarray) -> float:
    """Area of a bool (H, W) piece over the area of its convex hull (1.0 = convex)."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    if points is None:
        return 0.0
    hull_area = cv2.contourArea(cv2.convexHull(points))
    # The hull runs through pixel centres, so it misses half a pixel all round.
    return float(min(1.0, mask.sum() / max(hull_area + 0.5 * cv2.arcLength(cv2.convexHull(points), True), 1.0)))


def gate(candidate: Candidate, params) -> str:
    """The quality-gate reason for a measured piece ('' = passes); `params` is a CropParams.

    edge_patch: a piece that touches the border with its box centre far off
    the photo centre is nearly always background showing at the frame's edge
    (the board beside a frame-filling box, a corner shadow), not the subject.

    busy_background: on a rough background (cardboard, a page, a box filling
    the frame: roughness > max_roughness) a piece must stand out in colour by
    min_contrast (half that when it is clear of the frame); weaker pieces are
    patches of that surface, not an object on it.
    """
    if candidate.area_share < params.min_area:
        return TOO_SMALL
    if candidate.area_share > params.max_area:
        return TOO_LARGE
    if candidate.border_touch > params.max_border_touch:
        return BORDER
    if candidate.border_touch > 0 and candidate.offcentre > params.max_offcentre:
        return EDGE_PATCH
    if candidate.solidity < params.min_solidity:
        return FRAGMENTED
    if candidate.roughness > params.max_roughness:
        needed = params.min_contrast if candidate.border_touch > 0 else params.min_contrast / 2
        if candidate.contrast < needed:
            return BUSY_BACKGROUND
    return ""


# --- one photo ------------------------------------------------------------------

def _measure(piece: np.ndarray, method: str) -> Candidate:
    """Statistics of a bool working-size piece as an (unfinished) Candidate."""
    return Candidate(method=method, area_share=float(piece.mean()), border_touch=border_touch(piece),
                     offcentre=offcentre(piece), solidity=solidity(piece))


def _finish(candidate: Candidate, bgr: np.ndarray, alpha: np.ndarray, x0: int = 0, y0: int = 0) -> Candidate:
    """Attach the BGRA cut-out, its box and area for a uint8 alpha covering `bgr` from (x0, y0) on."""
    h, w = alpha.shape
    candidate.image, (x, y, candidate.w, candidate.h) = cut_out(bgr[y0:y0 + h, x0:x0 + w], alpha)
    candidate.x, candidate.y = x + x0, y + y0
    candidate.area = int((alpha >= 128).sum())
    return candidate


def crop_photo(image: np.ndarray | None, params, boxes: list[tuple[int, int, int, int]] | None = None) -> list[Candidate]:
    """All candidate cut-outs of one photo, accepted and rejected.

    image: uint8 (H, W, 3) BGR or (H, W, 4) BGRA, or None (unreadable).
    params: a CropParams. boxes: user boxes (x, y, w, h) for this photo, if any.
    Accepted candidates carry the BGRA cut-out; the largest `max_pieces`
    passing pieces are accepted, others rejected with a reason.
    """
    if image is None or image.ndim != 3:
        return [Candidate(method="", status=REJECTED, reason=UNREADABLE)]
    if min(image.shape[:2]) < 8:
        return [Candidate(method="", status=REJECTED, reason=TOO_SMALL)]
    bgr = np.ascontiguousarray(image[:, :, :3])
    alpha = real_alpha(image)
    full_shape = bgr.shape[:2]

    # Pieces are bool masks at working size (full size for alpha); None marks a box that found nothing.
    if alpha is not None:
        method = "alpha"
        pieces, _ = split_pieces(alpha >= 128, params.min_piece)
    elif boxes:
        method = "box"
        pieces = []
        for box in boxes:
            try:
                piece, _ = box_mask(bgr, box, params.work_size, params.iterations)
            except cv2.error:
                pieces.append(None)
                continue
            pieces.append(piece if piece.any() else None)
    else:
        method = "auto"
        try:
            found = auto_mask(bgr, params.work_size, params.iterations)
        except cv2.error:
            return [Candidate(method=method, status=REJECTED, reason=GRABCUT_FAILED)]
        pieces, _ = split_pieces(found.mask, params.min_piece)

    if not any(p is not None for p in pieces):
        return [Candidate(method=method, status=REJECTED, reason=NO_FOREGROUND)]
    too_many = method == "auto" and len(pieces) > params.max_components

    candidates = []
    accepted = 0
    for piece in pieces:
        if piece is None:
            candidates.append(Candidate(method=method, status=REJECTED, reason=NO_FOREGROUND))
            continue
        candidate = _measure(piece, method)
        if method == "auto":
            candidate.roughness = found.roughness
            candidate.contrast = float(np.median(found.distance[piece]))
        reason = FRAGMENTED if too_many else gate(candidate, params)
        if not reason and accepted >= params.max_pieces:
            reason = MAX_PIECES
        if reason:
            candidates.append(candidate.reject(reason))
            continue
        accepted += 1
        if method == "alpha":
            candidates.append(_finish(candidate, bgr, piece_soft_alpha(alpha, piece)))
        else:
            region, x0, y0 = upsample_region(piece, full_shape, pad=params.feather + 1, guide=bgr)
            candidates.append(_finish(candidate, bgr, feather_alpha(region, params.feather), x0, y0))
    return candidates


# --- user boxes -----------------------------------------------------------------

def read_boxes(path: str | Path) -> dict[str, list[tuple[int, int, int, int]]]:
    """Read a boxes CSV (columns image, x, y, w, h; pixels of the photo) into {image name: [boxes]}.

    `image` is the photo's file name (or its stem). A missing file, missing
    columns, or a value that is not a whole number >= 0 (w, h >= 1) is a
    one-line UserError naming the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"crop.boxes: file not found: {path}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"crop.boxes: {path} is not a readable CSV: {str(error).splitlines()[0]}") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in ("image", "x", "y", "w", "h") if c not in table.columns]
    if missing:
        raise UserError(f"crop.boxes: {path} lacks column(s) {', '.join(missing)} (need image,x,y,w,h)")
    boxes: dict[str, list[tuple[int, int, int, int]]] = {}
    for row_number, row in enumerate(table.itertuples(index=False), start=2):
        name = str(row.image).strip()
        if not name:
            raise UserError(f"crop.boxes: {path} line {row_number}: empty image name")
        try:
            values = tuple(int(float(str(getattr(row, c)).strip())) for c in ("x", "y", "w", "h"))
        except ValueError:
            raise UserError(f"crop.boxes: {path} line {row_number}: x, y, w, h must be numbers") from None
        if values[0] < 0 or values[1] < 0 or values[2] < 1 or values[3] < 1:
            raise UserError(f"crop.boxes: {path} line {row_number}: need x, y >= 0 and w, h >= 1")
        boxes.setdefault(name, []).append(values)
    return boxes


def boxes_for(boxes: dict[str, list], file_name: str) -> list[tuple[int, int, int, int]] | None:
    """The user boxes listed for a photo file, by name or stem; None if none."""
    return boxes.get(file_name) or boxes.get(Path(file_name).stem)


# --- measuring against a true mask ----------------------------------------------

def paste_alpha(candidates: list[Candidate], shape: tuple[int, int]) -> np.ndarray:
    """Union of accepted cut-outs' alpha >= 128 placed back at their boxes: bool (H, W)."""
    canvas = np.zeros(shape, bool)
    for c in candidates:
        if c.status == OK and c.image is not None:
            canvas[c.y:c.y + c.h, c.x:c.x + c.w] |= c.image[:, :, 3] >= 128
    return canvas
