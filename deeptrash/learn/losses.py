"""Loss and metrics for one-channel litter masks.

The model outputs sigmoid probabilities float32 (B, H, W, 1); targets are
float32 (B, H, W, 1) with values 0 or 1. Litter is small and many images have
none, so plain cross-entropy is content with "all background": a soft Dice
term, computed over the whole batch so empty masks do not blow it up, pushes
the overlap up. Both terms are ruled by the large pieces, though: a cigarette
butt is a few hundred pixels beside a bag's tens of thousands, so an
optional weight (`small_weight`) makes each trash pixel of a small piece
count more in the cross-entropy.
"""
from __future__ import annotations

import keras
from keras import ops


# Target value of a pixel the loss skips (self-training: neither confidently trash nor background).
IGNORE = 2.0

# Side (model px) of the window in which a trash pixel's local trash share is
# measured: a piece much smaller than it has a low share, a large one's inside 1.
SMALL_WINDOW = 31


@keras.saving.register_keras_serializable(package="deeptrash")
class BceDiceLoss(keras.losses.Loss):
    """``bce_weight * BCE + dice_weight * (1 - soft Dice)``; scalar per batch.

    With ``small_weight`` > 1, each trash pixel's BCE term is multiplied by
    1 / (the share of trash in the SMALL_WINDOW-px square around it), capped
    at ``small_weight`` (:func:`small_piece_weights`): a piece smaller than
    the window then weighs about as much as one filling it. Pixels whose
    target is :data:`IGNORE` (any value above 1) are left out of both terms.
    BCE is the mean over the other pixels; soft Dice = (2 * sum(p * t) +
    smooth) / (sum(p) + sum(t) + smooth) over the batch. Both inputs may be any float
    dtype; the loss is computed in float32.
    """

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0,
                 small_weight: float = 1.0, name: str = "bce_dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.bce_weight = float(bce_weight)
        self.dice_weight = float(dice_weight)
        self.smooth = float(smooth)
        self.small_weight = float(small_weight)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        # Targets above 1 (IGNORE) are pixels a pseudo-label is unsure of: they count nowhere.
        valid = ops.cast(y_true <= 1.0, "float32")
        y_true = y_true * valid
        total = ops.zeros(())
        if self.bce_weight:
            per_pixel = keras.losses.binary_crossentropy(y_true, y_pred, from_logits=False) * valid[..., 0]
            if self.small_weight > 1.0:
                per_pixel = per_pixel * small_piece_weights(y_true, self.small_weight)[..., 0]
            bce = ops.sum(per_pixel) / ops.maximum(ops.sum(valid), 1.0)
            total = total + self.bce_weight * bce
        if self.dice_weight:
            total = total + self.dice_weight * (1.0 - soft_dice(y_true, y_pred * valid, self.smooth))
        # Keras reduces per-sample losses; a batch-level value is broadcast so
        # the mean reduction returns it unchanged.
        return ops.broadcast_to(total, ops.shape(y_true)[:1])

    def get_config(self):
        return {**super().get_config(), "bce_weight": self.bce_weight,
                "dice_weight": self.dice_weight, "smooth": self.smooth, "small_weight": self.small_weight}


def small_piece_weights(y_true, cap: float, window: int = SMALL_WINDOW):
    """Per-pixel weights float32 (B, H, W, 1) from 0/1 targets (B, H, W, 1).

    Background pixels get 1; a trash pixel gets 1 / (trash share of the
    `window` x `window` square around it), clipped to [1, cap]. No connected
    components needed: the share is two separable box filters (borders
    average over the pixels inside the image).
    """
    y_true = ops.cast(y_true, "float32")
    share = ops.average_pool(y_true, (window, 1), strides=1, padding="same")
    share = ops.average_pool(share, (1, window), strides=1, padding="same")
    boost = ops.clip(1.0 / ops.maximum(share, 1.0 / cap), 1.0, cap)
    return 1.0 + (boost - 1.0) * y_true


def soft_dice(y_true, y_pred, smooth: float = 1.0):
    """Soft Dice coefficient over all pixels of the batch: float32 scalar in (0, 1]."""
    intersection = ops.sum(y_true * y_pred)
    return (2.0 * intersection + smooth) / (ops.sum(y_true) + ops.sum(y_pred) + smooth)


def segmentation_metrics(threshold: float = 0.5) -> list[keras.metrics.Metric]:
    """IoU of the litter class, precision and recall, all at `threshold`.

    Names (and so Keras log keys) are ``iou``, ``precision``, ``recall``;
    validation adds the ``val_`` prefix.
    """
    return [
        keras.metrics.BinaryIoU(target_class_ids=[1], threshold=threshold, name="iou"),
        keras.metrics.Precision(thresholds=threshold, name="precision"),
        keras.metrics.Recall(thresholds=threshold, name="recall"),
    ]
