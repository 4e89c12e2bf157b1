"""Scoring a segmenter on labelled photos: per-photo scores, the threshold sweep and the
best and worst photos as error panels (evaluate stage, bench/real.py)."""
from __future__ import annotations

import numpy as np

from deeptrash.learn.inference import predict_many, predict_probabilities, trash_mask
from deeptrash.measure import metrics
from deeptrash.overlays import error_panel


def evaluate_photos(
    model,
    photos,
    image_size: int,
    threshold: float = 0.5,
    mode: str = "tile",
    tile_size: int = 256,
    overlap: float = 0.25,
    batch_size: int = 32,
    keep: int = 4,
    total: int | None = None,
    desc: str = "evaluate",
    scales: tuple[float, ...] | list[float] = (1.0,),
    flip: bool = False,
    seed_threshold: float | None = None,
):
    """Score the model on labelled photos.

    photos: iterable of (name, image uint8 (H, W, 3) BGR, mask uint8 (H, W)
    0/255). Resize mode predicts `batch_size` photos per model call; tile
    mode (or any mode with `flip`) one photo at a time, its tiles
    `batch_size` per call; `scales` and `flip` as in
    :func:`inference.predict_probabilities`; a pixel is trash as
    :func:`inference.trash_mask` says at `threshold` and `seed_threshold`
    (the sweep is of plain thresholds). Returns (rows, sweep, extremes): per-image
    dicts of :func:`metrics.image_scores` plus name/width/height, summed
    (T, 4) threshold-sweep counts, and :class:`metrics.Extremes` of captioned
    error panels by IoU (images where truth and prediction are both empty are
    not ranked: they are trivially perfect).
    """
    from tqdm import tqdm

    rows: list[dict] = []
    sweep = np.zeros((len(metrics.DEFAULT_THRESHOLDS), 4), np.int64)
    extremes = metrics.Extremes(keep)

    def score(name: str, image: np.ndarray, mask: np.ndarray, probs: np.ndarray) -> None:
        nonlocal sweep
        truth, pred = mask > 127, trash_mask(probs, threshold, seed_threshold)
        row = {"name": name, "width": image.shape[1], "height": image.shape[0], **metrics.image_scores(truth, pred)}
        rows.append(row)
        sweep += metrics.sweep_counts(truth, probs)
        if row["truth_pixels"] or row["pred_pixels"]:
            extremes.offer(row["iou"], name, lambda: error_panel(
                image, truth, pred, f"{name}  IoU {row['iou']:.2f}  green=found red=false blue=missed"))

    pending: list[tuple[str, np.ndarray, np.ndarray]] = []

    def flush() -> None:
        for (name, image, mask), probs in zip(pending, predict_many(model, [p[1] for p in pending], image_size, batch_size)):
            score(name, image, mask, probs)
        pending.clear()

    for name, image, mask in tqdm(photos, total=total, desc=desc, unit="photo"):
        if mask.shape != image.shape[:2]:
            raise ValueError(f"{name}: mask {mask.shape} and photo {image.shape[:2]} differ in size")
        if mode == "resize" and not flip:
            pending.append((name, image, mask))
            if len(pending) >= batch_size:
                flush()
        else:
            probs = predict_probabilities(model, image, image_size, mode, tile_size, overlap, batch_size,
                                          scales, flip)
            score(name, image, mask, probs)
    flush()
    return rows, sweep, extremes
