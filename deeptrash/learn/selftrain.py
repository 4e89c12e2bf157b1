"""Self-training on unlabelled real scenes: pseudo-labels from the synthetic model.

The model trained on composites predicts photos of litter lying where it was
dropped (never labelled by anyone). Where it is confident the pixel becomes a
training target (trash above `confident`, background below `background`);
everything in between, and a margin around confident trash, is ignored by
the loss (:data:`deeptrash.learn.losses.IGNORE`). Fine-tuning on these tiles next to
the composites teaches the model what real ground, leaves and paving look
like, which composites only approximate.

After fine-tuning, :func:`adapt_batchnorm` sets the decoder's BatchNorm
statistics to those of every scene tile (AdaBN: no labels, no weights
learnt). The composites taught the decoder what its features' mean and
spread should be; on real photos they differ, and the model under-marks.

Tiles are cut exactly as tile-mode inference cuts them
(:func:`deeptrash.learn.inference.tile_origins`), at the model's input size.
"""
from __future__ import annotations

import cv2
import numpy as np

from deeptrash.io import resize
from deeptrash.learn.inference import tile_origins, to_model_input, trash_mask
from deeptrash.learn.losses import IGNORE


def pseudo_targets(probs: np.ndarray, confident: float, background: float, margin: int,
                   grow: float | None = None) -> np.ndarray:
    """float32 (H, W) targets from probabilities (H, W): 1 trash, 0 background, IGNORE unsure.

    Pixels within `margin` px of confident trash are unsure too: a confident
    core usually sits inside a larger object whose rim the model doubts.
    With `grow` (below `confident`), trash also spreads over the pixels at or
    above `grow` in the pieces that reach `confident` (hysteresis, as
    :func:`deeptrash.learn.inference.trash_mask` draws a found piece whole).
    """
    targets = np.full(probs.shape, IGNORE, np.float32)
    targets[probs <= background] = 0.0
    trash = trash_mask(probs, grow if grow is not None else confident, confident).astype(np.uint8)
    if margin > 0 and trash.any():
        near = cv2.dilate(trash, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1)))
        targets[(near > 0) & (trash == 0)] = IGNORE
    targets[trash > 0] = 1.0
    return targets


def scene_tiles(image_bgr: np.ndarray, probs: np.ndarray, image_size: int, tile_size: int, overlap: float,
                confident: float, background: float, margin: int, grow: float | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Training tiles of one scene photo and their pseudo-targets.

    image_bgr: uint8 (H, W, 3); probs: float32 (H, W), the model's tile-mode
    prediction of that photo. Returns (images float32 (N, S, S, 3) RGB 0..255,
    targets float32 (N, S, S, 1) in {0, 1, IGNORE}) with S = image_size.
    Tiles with no confident pixel at all are dropped (nothing to learn).
    """
    height, width = image_bgr.shape[:2]
    tile_h, tile_w = min(tile_size, height), min(tile_size, width)
    images, targets = [], []
    for y in tile_origins(height, tile_h, overlap):
        for x in tile_origins(width, tile_w, overlap):
            tile_probs = resize(probs[y:y + tile_h, x:x + tile_w], image_size, image_size)
            target = pseudo_targets(tile_probs, confident, background, margin, grow)
            if not (target <= 1.0).any():
                continue
            images.append(to_model_input(image_bgr[y:y + tile_h, x:x + tile_w], image_size))
            targets.append(target[:, :, None])
    if not images:
        return np.zeros((0, image_size, image_size, 3), np.float32), np.zeros((0, image_size, image_size, 1), np.float32)
    return np.stack(images), np.stack(targets)


def photo_tiles(image_bgr: np.ndarray, image_size: int, tile_size: int, overlap: float) -> np.ndarray:
    """Every tile of a photo as tile-mode inference cuts it: uint8 (N, S, S, 3) RGB, S = image_size."""
    height, width = image_bgr.shape[:2]
    tile_h, tile_w = min(tile_size, height), min(tile_size, width)
    return np.stack([to_model_input(image_bgr[y:y + tile_h, x:x + tile_w], image_size).astype(np.uint8)
                     for y in tile_origins(height, tile_h, overlap) for x in tile_origins(width, tile_w, overlap)])


def scene_tile_sample(photos: list, image_size: int, tile_size: int, overlap: float, seed: int,
                      limit: int = 8192) -> np.ndarray:
    """Tiles (:func:`photo_tiles`) of the readable scene photos (paths), at most `limit` of them:
    photos in a seeded order until the limit, so memory stays bounded (8192 tiles of 128 px: 400 MB)."""
    from deeptrash.photos import read_photo

    chunks, count = [], 0
    for index in np.random.default_rng(seed).permutation(len(photos)):
        photo = read_photo(photos[index])
        if photo is None:
            continue
        chunks.append(photo_tiles(photo, image_size, tile_size, overlap)[:limit - count])
        count += len(chunks[-1])
        if count >= limit:
            break
    return np.concatenate(chunks) if chunks else np.zeros((0, image_size, image_size, 3), np.uint8)


def decoder_batchnorms(model) -> list:
    """The BatchNormalization layers outside the backbone (the decoder and head), in call order."""
    from deeptrash.learn.model import batchnorm_layers

    backbone = {id(layer) for layer in batchnorm_layers(model.backbone)}
    return [layer for layer in batchnorm_layers(model) if id(layer) not in backbone]


def adapt_batchnorm(model, tiles: np.ndarray, batch_size: int = 32, seed: int = 0) -> int:
    """AdaBN (Li et al., 2016): the decoder's BatchNorm moving mean and variance become the mean of
    their batch statistics over `tiles` (uint8 or float (N, S, S, 3) RGB 0..255, shuffled with `seed`,
    `batch_size` a batch; a last partial batch is dropped). Backbone BatchNorm keeps its statistics
    (ImageNet's, for a pretrained one: adapting those too scored lower on real photos), and no weight
    changes. Returns the number of layers adapted (0 when there is not one full batch)."""
    from deeptrash.learn.model import batchnorm_layers

    batches = len(tiles) // batch_size
    if not batches:
        return 0
    order = np.random.default_rng(seed).permutation(len(tiles))
    chosen = decoder_batchnorms(model)
    every = batchnorm_layers(model)
    saved = [(layer, layer.trainable, layer.momentum) for layer in every]
    try:
        for layer in every:
            layer.trainable = layer in chosen  # a BN layer updates its statistics only when trainable
        for k in range(batches):
            for layer in chosen:
                layer.momentum = k / (k + 1)   # moving = running mean of the batch statistics so far
            batch = tiles[order[k * batch_size:(k + 1) * batch_size]].astype(np.float32)
            model(batch, training=True)
    finally:
        for layer, trainable, momentum in saved:
            layer.trainable, layer.momentum = trainable, momentum
    return len(chosen)


def label_scenes(model, photos: list, image_size: int, settings, batch_size: int = 16
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Pseudo-labelled tiles of every readable scene photo (paths), and counts for the metrics."""
    from tqdm import tqdm

    from deeptrash.learn.inference import predict_probabilities
    from deeptrash.photos import read_photo

    images, targets, used = [], [], 0
    for path in tqdm(photos, desc="pseudo-label", unit="photo", disable=None):
        photo = read_photo(path)
        if photo is None:
            continue
        probs = predict_probabilities(model, photo, image_size, "tile", settings.tile_size, settings.tile_overlap,
                                      batch_size, settings.scales, settings.flip)
        tiles, labels = scene_tiles(photo, probs, image_size, settings.tile_size, settings.tile_overlap,
                                    settings.confident, settings.background, settings.margin, settings.grow)
        used += 1
        images.append(tiles)
        targets.append(labels)
    if not used:
        empty = np.zeros((0, image_size, image_size, 1), np.float32)
        return np.zeros((0, image_size, image_size, 3), np.float32), empty, {"photos": 0, "tiles": 0}
    images_np, targets_np = np.concatenate(images), np.concatenate(targets)
    counts = {
        "photos": used,
        "tiles": int(len(images_np)),
        "trash_share": float(np.mean(targets_np == 1.0)),
        "ignored_share": float(np.mean(targets_np > 1.0)),
    }
    return images_np, targets_np, counts


def finetune_dataset(composites, tiles: np.ndarray, targets: np.ndarray, share: float, batch_size: int, seed: int):
    """Endless batches mixing composites (an unbatched tf.data of (image, mask)) and pseudo-labelled
    tiles, `share` of the samples from the tiles; the tiles get the same light augmentation."""
    import tensorflow as tf

    from deeptrash.learn.dataset import augment_pair

    pseudo = tf.data.Dataset.from_tensor_slices((tiles, targets)).shuffle(len(tiles), seed=seed).repeat()
    seeds = tf.data.Dataset.random(seed=seed + 7, rerandomize_each_iteration=True).batch(2)
    pseudo = tf.data.Dataset.zip((pseudo, seeds)).map(lambda pair, s: augment_pair(pair[0], pair[1], s),
                                                      num_parallel_calls=tf.data.AUTOTUNE)
    mixed = tf.data.Dataset.sample_from_datasets([composites.repeat(), pseudo], weights=[1 - share, share],
                                                 seed=seed)
    return mixed.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
