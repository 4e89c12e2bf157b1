"""Drawing a segmentation on its photo: error overlays (green found, red false, blue
missed), a predicted-mask overlay, captions and error panels for plots/ and predictions.
Images uint8 (H, W, 3) BGR; masks uint8 (H, W) 0/255 or bool."""
from __future__ import annotations

import cv2
import numpy as np

from deeptrash.io import shrink_to


# Overlay colours (BGR): true positive, false positive, false negative, prediction.
TP_COLOUR = (60, 200, 60)      # green
FP_COLOUR = (40, 40, 240)      # red
FN_COLOUR = (240, 140, 20)     # blue
MASK_COLOUR = (220, 40, 220)   # magenta


def _tint(image_bgr: np.ndarray, where: np.ndarray, colour: tuple[int, int, int], alpha: float) -> None:
    """Blend `colour` into `image_bgr` (in place) where the (H, W) bool `where` is set."""
    if np.any(where):
        pixels = image_bgr[where].astype(np.float32)
        image_bgr[where] = (pixels * (1 - alpha) + np.float32(colour) * alpha).astype(np.uint8)


def overlay_errors(image_bgr: np.ndarray, truth: np.ndarray, pred: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Photo with true positives green, false positives red, false negatives blue.

    The outline of the truth is drawn in white, so a miss stays visible on a
    blue sky. image_bgr: uint8 (H, W, 3); truth, pred: (H, W) masks
    (non-zero = trash). Returns a new uint8 (H, W, 3) BGR image.
    """
    truth, pred = truth.astype(bool), pred.astype(bool)
    out = image_bgr[:, :, :3].copy()
    _tint(out, truth & pred, TP_COLOUR, alpha)
    _tint(out, pred & ~truth, FP_COLOUR, alpha)
    _tint(out, truth & ~pred, FN_COLOUR, alpha)
    contours, _ = cv2.findContours(truth.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 255, 255), max(1, round(max(truth.shape) / 500)))
    return out


def overlay_mask(image_bgr: np.ndarray, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Photo with predicted trash tinted magenta and outlined; uint8 (H, W, 3) BGR."""
    mask = mask.astype(bool)
    out = image_bgr[:, :, :3].copy()
    _tint(out, mask, MASK_COLOUR, alpha)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    thickness = max(1, round(max(mask.shape) / 400))
    cv2.drawContours(out, contours, -1, MASK_COLOUR, thickness)
    return out


def add_caption(image_bgr: np.ndarray, text: str) -> np.ndarray:
    """The image with a white strip of black text above it; uint8 (H + 22, W, 3)."""
    strip = np.full((22, image_bgr.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([strip, image_bgr[:, :, :3]])


# --- evaluating a labelled set ------------------------------------------------------

def error_panel(image_bgr: np.ndarray, truth: np.ndarray, pred: np.ndarray, caption: str, height: int = 256,
                long_side: int = 1024) -> np.ndarray:
    """Photo and its error overlay side by side, captioned; uint8 BGR.

    Small photos (synthetic composites) are enlarged to `height` px with
    nearest-neighbour so single pixels stay visible; big ones are shrunk so
    the panel is at most `long_side` px wide.
    """
    pair = np.hstack([image_bgr[:, :, :3], overlay_errors(image_bgr, truth, pred)])
    scale = height / pair.shape[0]
    if scale > 1:
        pair = cv2.resize(pair, (round(pair.shape[1] * scale), height), interpolation=cv2.INTER_NEAREST)
    return add_caption(shrink_to(pair, long_side), caption)
