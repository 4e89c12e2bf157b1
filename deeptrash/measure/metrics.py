"""Segmentation scores from a true mask and a predicted mask (pure numpy).

Inputs are boolean arrays of the same shape, usually (H, W): `truth` says
where trash really is, `pred` where the model says it is (probability >=
threshold). Any non-boolean array is read as "non-zero means trash", so uint8
0/255 masks work as they are.

Pixel scores come from the four confusion counts (:class:`Counts`):

- IoU = tp / (tp + fp + fn), Dice = 2 tp / (2 tp + fp + fn),
  precision = tp / (tp + fp), recall = tp / (tp + fn),
  accuracy = (tp + tn) / all pixels.
- Empty cases are defined, never NaN (so `dvc metrics diff` always has a
  number): a score whose denominator is zero is 1.0, because nothing could go
  wrong there. Both masks empty -> IoU 1, Dice 1, precision 1, recall 1.
  Empty truth, some prediction -> IoU 0, Dice 0, precision 0, recall 1.
  Some truth, empty prediction -> IoU 0, Dice 0, precision 1, recall 0.

Over a data set two aggregates are reported:

- pooled (micro, the HEADLINE): add the counts of every image, then score
  once. Every pixel weighs the same, so empty negatives do not inflate it
  and it matches Keras' streaming IoU metric used in training.
- per-image mean (macro, suffix `_mean` in the metrics file): score each
  image, then average. Every photo weighs the same, so a model that misses
  small objects is punished more.

Object level: each connected piece (8-connected) of the truth is one object;
it is *found* when the prediction covers at least half of its pixels. A
*false piece* is a connected piece of the prediction that touches no truth
pixel at all. Objects under :data:`SMALL_OBJECT` of the image's pixels (a
cigarette butt or a bottle cap in a phone photo) are also counted apart:
object recall on them and on the rest says whether a model misses the small
ones, which pixel scores hardly show.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np

PIXEL_SCORES = ("iou", "dice", "precision", "recall", "accuracy")
SMALL_OBJECT = 0.001  # share of the image's pixels below which a truth piece is a small object
DEFAULT_THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)


@dataclass(frozen=True)
class Counts:
    """Confusion counts of one image or a pooled set (plain ints)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Counts)))

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def as_bool(mask: np.ndarray) -> np.ndarray:
    """A mask of any dtype as bool (non-zero is True); same shape."""
    mask = np.asarray(mask)
    return mask if mask.dtype == bool else mask != 0


def confusion_counts(truth: np.ndarray, pred: np.ndarray) -> Counts:
    """Count tp/fp/fn/tn of two same-shape masks (bool, or any dtype: non-zero = trash)."""
    truth, pred = as_bool(truth), as_bool(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth {truth.shape} and prediction {pred.shape} differ in shape")
    tp = int(np.count_nonzero(truth & pred))
    truth_n, pred_n = int(np.count_nonzero(truth)), int(np.count_nonzero(pred))
    fp, fn = pred_n - tp, truth_n - tp
    return Counts(tp=tp, fp=fp, fn=fn, tn=truth.size - tp - fp - fn)


def _ratio(numerator: int, denominator: int) -> float:
    # Zero denominator = nothing that could go wrong: a perfect score (module docstring).
    return 1.0 if denominator == 0 else numerator / denominator


def scores_from_counts(counts: Counts) -> dict[str, float]:
    """IoU, Dice, precision, recall and accuracy of one set of counts (floats in [0, 1])."""
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    return {
        "iou": _ratio(tp, tp + fp + fn),
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "accuracy": _ratio(tp + tn, counts.total),
    }


def iou(truth: np.ndarray, pred: np.ndarray) -> float:
    """Intersection over union of two (H, W) masks; both empty -> 1.0."""
    return scores_from_counts(confusion_counts(truth, pred))["iou"]


def dice(truth: np.ndarray, pred: np.ndarray) -> float:
    """Dice (F1) of two (H, W) masks; both empty -> 1.0."""
    return scores_from_counts(confusion_counts(truth, pred))["dice"]


def precision(truth: np.ndarray, pred: np.ndarray) -> float:
    """Share of predicted pixels that are trash; empty prediction -> 1.0."""
    return scores_from_counts(confusion_counts(truth, pred))["precision"]


def recall(truth: np.ndarray, pred: np.ndarray) -> float:
    """Share of trash pixels predicted; empty truth -> 1.0."""
    return scores_from_counts(confusion_counts(truth, pred))["recall"]


def pixel_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    """Share of pixels where prediction equals truth; zero-size masks -> 1.0."""
    return scores_from_counts(confusion_counts(truth, pred))["accuracy"]


def connected_pieces(mask: np.ndarray) -> tuple[int, np.ndarray]:
    """Label 8-connected pieces of a (H, W) mask.

    Returns (number of pieces, int32 (H, W) labels with 0 = background and
    1..n = pieces).
    """
    n, labels = cv2.connectedComponents(as_bool(mask).astype(np.uint8), connectivity=8)
    return n - 1, labels


def count_pieces(mask: np.ndarray, min_area: int = 1) -> int:
    """Number of 8-connected pieces of a (H, W) mask with at least `min_area` pixels."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(as_bool(mask).astype(np.uint8), connectivity=8)
    return int(np.count_nonzero(stats[1:, cv2.CC_STAT_AREA] >= min_area))


def object_counts(truth: np.ndarray, pred: np.ndarray, min_cover: float = 0.5) -> dict[str, int]:
    """Object-level counts of one image.

    truth, pred: (H, W) masks. Returns ints: `objects` (truth pieces),
    `found` (truth pieces with >= `min_cover` of their pixels predicted),
    `pieces` (predicted pieces), `false_pieces` (predicted pieces that
    touch no truth pixel), and `small_objects` / `small_found`: the same two
    counts for truth pieces under :data:`SMALL_OBJECT` of the image.
    """
    truth, pred = as_bool(truth), as_bool(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth {truth.shape} and prediction {pred.shape} differ in shape")
    n_true, true_labels = connected_pieces(truth)
    n_pred, pred_labels = connected_pieces(pred)
    # Pixels per truth piece, and how many of them are predicted (bincount by label).
    size = np.bincount(true_labels.ravel(), minlength=n_true + 1)[1:]
    covered = np.bincount(true_labels[pred].ravel(), minlength=n_true + 1)[1:]
    hit = covered >= min_cover * size
    small = size < SMALL_OBJECT * truth.size
    touching = np.unique(pred_labels[truth & pred])
    false_pieces = n_pred - int(np.count_nonzero(touching))
    return {"objects": n_true, "found": int(np.count_nonzero(hit)), "pieces": n_pred, "false_pieces": false_pieces,
            "small_objects": int(np.count_nonzero(small)), "small_found": int(np.count_nonzero(hit & small))}


def image_scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float | int]:
    """Everything measured on one image: pixel scores, counts and object counts.

    Keys: iou, dice, precision, recall, accuracy (floats), tp, fp, fn, tn,
    truth_pixels, pred_pixels, objects, found, pieces, false_pieces, small_objects, small_found (ints).
    """
    counts = confusion_counts(truth, pred)
    row: dict[str, float | int] = dict(scores_from_counts(counts))
    row.update(tp=counts.tp, fp=counts.fp, fn=counts.fn, tn=counts.tn,
               truth_pixels=counts.tp + counts.fn, pred_pixels=counts.tp + counts.fp)
    row.update(object_counts(truth, pred))
    return row


def aggregate(rows: list[dict]) -> dict[str, float | int]:
    """Scores of a data set from per-image rows of :func:`image_scores`.

    Pooled (headline) pixel scores under their plain names, per-image means
    as `<name>_mean`, object recall (pooled: found / objects, 1.0 when there
    are no objects; also apart for small objects and the others), totals of
    objects/found/false_pieces, and `images`.
    """
    if not rows:
        raise ValueError("no images to aggregate")
    pooled = Counts()
    for row in rows:
        pooled = pooled + Counts(row["tp"], row["fp"], row["fn"], row["tn"])
    result: dict[str, float | int] = dict(scores_from_counts(pooled))
    for name in PIXEL_SCORES:
        result[f"{name}_mean"] = float(np.mean([row[name] for row in rows]))
    objects = sum(int(row["objects"]) for row in rows)
    found = sum(int(row["found"]) for row in rows)
    small = sum(int(row["small_objects"]) for row in rows)
    small_found = sum(int(row["small_found"]) for row in rows)
    result.update(
        object_recall=_ratio(found, objects),
        object_recall_small=_ratio(small_found, small),
        object_recall_larger=_ratio(found - small_found, objects - small),
        small_objects=small,
        objects=objects,
        objects_found=found,
        false_pieces=sum(int(row["false_pieces"]) for row in rows),
        images=len(rows),
    )
    return result


def sweep_counts(truth: np.ndarray, prob: np.ndarray, thresholds: np.ndarray = DEFAULT_THRESHOLDS) -> np.ndarray:
    """Confusion counts of one image at each threshold (pred = prob >= t).

    truth: (H, W) mask; prob: float (H, W) in [0, 1]; thresholds: (T,).
    Returns int64 (T, 4) with columns tp, fp, fn, tn; add the arrays of many
    images to pool them, then score with :func:`sweep_scores`.
    """
    truth = as_bool(truth)
    truth_n = int(np.count_nonzero(truth))
    prob_true = prob[truth]          # probabilities on trash pixels only
    out = np.empty((len(thresholds), 4), np.int64)
    # One pass per threshold keeps memory at one mask, even for 12 MP photos.
    for i, t in enumerate(thresholds):
        tp = int(np.count_nonzero(prob_true >= t))
        pred_n = int(np.count_nonzero(prob >= t))
        fp, fn = pred_n - tp, truth_n - tp
        out[i] = (tp, fp, fn, truth.size - tp - fp - fn)
    return out


def sweep_scores(counts: np.ndarray, thresholds: np.ndarray = DEFAULT_THRESHOLDS) -> list[dict[str, float]]:
    """Pooled scores at each threshold from summed (T, 4) :func:`sweep_counts`.

    Returns one dict per threshold: threshold, precision, recall, iou, dice,
    accuracy.
    """
    rows = []
    for t, (tp, fp, fn, tn) in zip(thresholds, counts):
        scores = scores_from_counts(Counts(int(tp), int(fp), int(fn), int(tn)))
        rows.append({"threshold": float(t), **{k: scores[k] for k in ("precision", "recall", "iou", "dice", "accuracy")}})
    return rows


class Extremes:
    """Keep the `n` highest- and `n` lowest-scoring items seen (e.g. images by IoU).

    `offer(score, name, make)` calls `make()` only when the item gets in, so
    expensive payloads (overlay pictures) are built for few images. Ties are
    broken by name, so the choice does not depend on the order of arrival.
    """

    def __init__(self, n: int):
        self.n = n
        self.best: list[tuple[float, str, object]] = []
        self.worst: list[tuple[float, str, object]] = []

    def offer(self, score: float, name: str, make) -> None:
        if self.n <= 0:
            return
        best_in = len(self.best) < self.n or (score, name) > self.best[-1][:2]
        worst_in = len(self.worst) < self.n or (score, name) < self.worst[-1][:2]
        if not (best_in or worst_in):
            return
        payload = make()
        if best_in:
            self.best = sorted(self.best + [(score, name, payload)], key=lambda e: (e[0], e[1]), reverse=True)[: self.n]
        if worst_in:
            self.worst = sorted(self.worst + [(score, name, payload)], key=lambda e: (e[0], e[1]))[: self.n]
