"""Contact sheets: many small images in one PNG, for `plots/` and the README."""
from __future__ import annotations

import cv2
import numpy as np

from deeptrash.io import flatten_alpha, resize


def checkerboard(height: int, width: int, cell: int = 8) -> np.ndarray:
    """A grey checkerboard, uint8 (H, W, 3), to show transparency."""
    ys, xs = np.indices((height, width))
    light = ((ys // cell + xs // cell) % 2 == 0)
    board = np.where(light, 200, 150).astype(np.uint8)
    return np.repeat(board[:, :, None], 3, axis=2)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Any uint8 gray/BGR/BGRA image as BGR; alpha is shown over a checkerboard."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return flatten_alpha(image, checkerboard(*image.shape[:2]))
    return image


def fit_tile(image: np.ndarray, tile: int) -> np.ndarray:
    """Scale `image` to fit a tile x tile square (letterboxed on dark grey)."""
    image = to_bgr(image)
    h, w = image.shape[:2]
    scale = tile / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = resize(image, nw, nh)  # up or down: not shrink_to
    canvas = np.full((tile, tile, 3), 40, np.uint8)
    y, x = (tile - nh) // 2, (tile - nw) // 2
    canvas[y:y + nh, x:x + nw] = resized
    return canvas


def contact_sheet(
    images: list[np.ndarray],
    labels: list[str] | None = None,
    columns: int = 8,
    tile: int = 128,
    title: str | None = None,
) -> np.ndarray:
    """Lay images out in a grid with optional labels under each; returns uint8 BGR.

    An empty list gives a small sheet that says so, so a plot file always exists.
    """
    label_h = 16 if labels else 0
    title_h = 24 if title else 0
    if not images:
        sheet = np.full((48 + title_h, 320, 3), 255, np.uint8)
        cv2.putText(sheet, "(nothing to show)", (8, title_h + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1)
    else:
        columns = max(1, min(columns, len(images)))
        rows = -(-len(images) // columns)
        cell_h = tile + label_h + 4
        sheet = np.full((title_h + rows * cell_h, columns * (tile + 4), 3), 255, np.uint8)
        for i, image in enumerate(images):
            r, c = divmod(i, columns)
            y, x = title_h + r * cell_h, c * (tile + 4)
            sheet[y:y + tile, x:x + tile] = fit_tile(image, tile)
            if labels:
                text = str(labels[i])[: max(4, tile // 7)]
                cv2.putText(sheet, text, (x + 2, y + tile + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    if title:
        cv2.putText(sheet, title, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    return sheet
