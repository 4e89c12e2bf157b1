"""tf.data input for the segmenter: synth image/mask pairs -> batches.

A split folder (``data/synth/train``) holds ``images/NNNNNN.jpg`` (RGB JPEG)
and ``masks/NNNNNN.png`` (0/255). :func:`make_dataset` yields batches of

- images: float32 (B, S, S, 3), RGB, 0..255 (the backbone rescales itself);
- masks:  float32 (B, S, S, 1), 0.0 or 1.0.

Files are decoded in parallel (AUTOTUNE), optionally cached in memory after
decoding (so later epochs skip the JPEG decoder), shuffled, lightly augmented
(train only) and prefetched. With ``deterministic=True`` the order and the
augmentation are the same on every run with the same seed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from deeptrash.errors import UserError
from deeptrash.io import list_images

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE
# Every pyramid level of the backbones (P5 = stride 32) must tile the image.
SIZE_MULTIPLE = 32


@dataclass(frozen=True)
class SplitFiles:
    """Matching image and mask paths of one split (same order)."""

    images: list[str]
    masks: list[str]

    def __len__(self) -> int:
        return len(self.images)


def list_split(folder: str | Path) -> SplitFiles:
    """Pair ``folder/images/X.jpg`` with ``folder/masks/X.png`` by file stem.

    Images without a mask are skipped (and logged); no pairs at all is a
    UserError naming the folder.
    """
    folder = Path(folder)
    image_dir, mask_dir = folder / "images", folder / "masks"
    if not image_dir.is_dir() or not mask_dir.is_dir():
        raise UserError(f"{folder}: expected images/ and masks/ inside (run the synthesize stage: dvc repro)")
    masks = {p.stem: p for p in list_images(mask_dir)}
    images, paired_masks, unpaired = [], [], 0
    for image in list_images(image_dir):
        mask = masks.get(image.stem)
        if mask is None:
            unpaired += 1
            continue
        images.append(str(image))
        paired_masks.append(str(mask))
    if unpaired:
        log.warning("%s: %d images without a mask skipped", folder, unpaired)
    if not images:
        raise UserError(f"{folder}: no image/mask pairs found (images/X.jpg with masks/X.png)")
    return SplitFiles(images, paired_masks)


def model_size(size: int) -> int:
    """The nearest multiple of 32 to `size` (at least 32): the side the model sees."""
    return max(SIZE_MULTIPLE, int(round(size / SIZE_MULTIPLE)) * SIZE_MULTIPLE)


def decode_pair(image_path: tf.Tensor, mask_path: tf.Tensor, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Read one pair -> (float32 (S, S, 3) RGB 0..255, float32 (S, S, 1) 0/1).

    Images of another size are resized (bilinear; masks nearest) so a synth
    size that is not a multiple of 32 still trains.
    """
    image = tf.io.decode_image(tf.io.read_file(image_path), channels=3, expand_animations=False)
    mask = tf.io.decode_image(tf.io.read_file(mask_path), channels=1, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), (size, size), method="bilinear")
    mask = tf.image.resize(mask, (size, size), method="nearest")
    image = tf.clip_by_value(image, 0.0, 255.0)
    image.set_shape((size, size, 3))
    mask = tf.cast(mask > 127, tf.float32)
    mask.set_shape((size, size, 1))
    return image, mask


def augment_pair(image: tf.Tensor, mask: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Light, label-safe augmentation driven by a stateless seed (int64 (2,)).

    Horizontal flip (image and mask together), then brightness (+-20 levels),
    contrast (x0.85..1.15) and saturation (x0.8..1.2) jitter on the image only.
    No vertical flips or rotations: ground and sky have a direction in photos.
    """
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    flip = tf.random.stateless_uniform((), seeds[0]) < 0.5
    image = tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image)
    mask = tf.cond(flip, lambda: tf.image.flip_left_right(mask), lambda: mask)
    image = tf.image.stateless_random_brightness(image, 20.0, seeds[1])
    image = tf.image.stateless_random_contrast(image, 0.85, 1.15, seeds[2])
    image = tf.image.stateless_random_saturation(image, 0.8, 1.2, seeds[3])
    return tf.clip_by_value(image, 0.0, 255.0), mask


def make_dataset(
    files: SplitFiles,
    size: int,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    cache: bool = True,
    deterministic: bool = False,
) -> tf.data.Dataset:
    """Batches of (images float32 (B, S, S, 3) 0..255, masks float32 (B, S, S, 1) 0/1).

    training=True shuffles every epoch and augments; validation keeps file
    order and drops nothing (the last batch may be smaller). Training drops a
    last partial batch so every step sees `batch_size` images (steady speed and
    BatchNorm statistics).
    """
    pairs = tf.data.Dataset.from_tensor_slices((files.images, files.masks))
    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    # The model is fed by Keras, which may shard over replicas; files are
    # listed up front, so shard by data, not by file.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    pairs = pairs.with_options(options)
    shuffle_buffer = min(len(files), 4096)
    if training and not cache:
        # Shuffle the paths (cheap) so decoding streams and overlaps training;
        # shuffling decoded images would decode the whole buffer up front.
        pairs = pairs.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    data = pairs.map(
        lambda i, m: decode_pair(i, m, size), num_parallel_calls=AUTOTUNE, deterministic=deterministic
    )
    if cache:
        # Decoded once in the first epoch; later epochs shuffle from memory.
        data = data.cache()
        if training:
            data = data.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if training:
        # One stateless seed per sample; a new stream every epoch, the same
        # streams on every run with the same seed.
        seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True).batch(2)
        data = tf.data.Dataset.zip((data, seeds)).map(
            lambda pair, s: augment_pair(pair[0], pair[1], s),
            num_parallel_calls=AUTOTUNE,
            deterministic=deterministic,
        )
        drop_remainder = len(files) >= batch_size
    else:
        drop_remainder = False
    return data.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def steps_per_epoch(num_files: int, batch_size: int, training: bool) -> int:
    """How many batches :func:`make_dataset` yields per epoch."""
    if training and num_files >= batch_size:
        return num_files // batch_size
    return -(-num_files // batch_size)


# --- a tiny learnable stand-in for data/synth (tests, benchmarks) -------------

def shapes_sample(rng, size: int):
    """Textured noise (BGR uint8 (S, S, 3)) with 0-2 bright rectangles/ellipses, and their mask.

    The mask is uint8 (S, S), 0/255. Learnable in about a minute by a small
    segmenter, so tests can check that training really learns.
    """
    import cv2
    import numpy as np

    base = rng.integers(40, 140, 3)
    blotches = cv2.resize(rng.normal(0, 25, (size // 4, size // 4, 3)), (size, size))
    image = np.clip(base + blotches + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(rng.integers(0, 3)):
        w, h = (int(v) for v in rng.integers(size // 6, int(size / 2.5), 2))
        x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
        color = tuple(int(c) for c in rng.integers(180, 256, 3))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + w, y + h), color, -1)
            cv2.rectangle(mask, (x, y), (x + w, y + h), 255, -1)
        else:
            center, axes = (x + w // 2, y + h // 2), (w // 2, h // 2)
            cv2.ellipse(image, center, axes, 0, 0, 360, color, -1)
            cv2.ellipse(mask, center, axes, 0, 0, 360, 255, -1)
    return image, mask


def write_shapes_synth(root: str | Path, n_train: int, n_val: int, size: int, seed: int = 0) -> Path:
    """Write a data/synth-like tree of shape images: {train,val}/images/*.jpg, masks/*.png."""
    import numpy as np

    from deeptrash.io import write_image

    root = Path(root)
    rng = np.random.default_rng([seed, size])
    for split, count in (("train", n_train), ("val", n_val)):
        for i in range(count):
            image, mask = shapes_sample(rng, size)
            write_image(root / split / "images" / f"{i:06d}.jpg", image)
            write_image(root / split / "masks" / f"{i:06d}.png", mask)
    return root
