"""How long predicting one 1024x768 photo takes on the CPU, tile mode against its baselines.

    python bench/predict.py [--repeats 15] [--sizes 96 128] [--model models/segmenter.keras]

Builds an untrained segmenter (--backbone, default mobilenet_v3_small:
timing does not depend on the weights; --model times a trained file
instead). For each model input size S prints milliseconds per photo, the
median of --repeats rounds after a warm-up (the variants take turns within
each round, so load from other jobs on a shared machine hits them alike;
the fastest round is shown too, the best guess of an idle machine, and the
process CPU time, which other jobs hardly change):

- tile mode as shipped (deeptrash.learn.inference.predict_probabilities, tile
  256 px, overlap 0.25, all 20 tiles in one call);
- baseline: the previous tile mode, measured in the same run: every tile
  resized and colour-converted on its own, sent in chunks of 8 (8 + 8 + 4),
  each answer resized back and blended at photo resolution;
- resize mode (one model call on the squashed photo);
- the real profile's test-time views (tile sizes 1, 1.5 and 2 x 256 px, and
  the mirrored photo: six predictions averaged), for what its IoU gain costs;
- the model call alone on the 20 tiles, through ``predict_on_batch`` (what
  inference uses) and through a ``tf.function`` of ``model(x,
  training=False)`` traced once for that batch shape;
- the non-model work of both tile modes (the model replaced by a function
  returning zeros): cutting, resizing, blending.

Target (issue 10): tile mode <= 150 ms at 96 px on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")   # a CPU number, even on a GPU machine
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from deeptrash.io import resize  # noqa: E402
from deeptrash.learn import inference  # noqa: E402
from deeptrash.learn.model import load_segmenter  # noqa: E402

TILE, OVERLAP = 256, 0.25


def old_run_model(model, batch_rgb: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """The previous run_model: chunks of batch_size, a short last chunk padded to a power of two."""
    outputs = []
    for start in range(0, len(batch_rgb), batch_size):
        chunk = batch_rgb[start:start + batch_size]
        n = len(chunk)
        padded = min(batch_size, 1 << (n - 1).bit_length())
        if padded > n:
            chunk = np.concatenate([chunk, np.zeros((padded - n, *chunk.shape[1:]), chunk.dtype)])
        probs = np.asarray(model.predict_on_batch(chunk), dtype=np.float32)[:n]
        outputs.append(probs[..., 0] if probs.ndim == 4 else probs)
    return np.clip(np.concatenate(outputs), 0.0, 1.0)


def old_tile_mode(model, image_bgr: np.ndarray, image_size: int, tile_size: int = TILE, overlap: float = OVERLAP,
                  batch_size: int = 8) -> np.ndarray:
    """The previous tile mode (commit 52f72d7), kept here as the baseline."""
    height, width = image_bgr.shape[:2]
    tile_h, tile_w = min(tile_size, height), min(tile_size, width)
    boxes = [(y, x) for y in inference.tile_origins(height, tile_h, overlap)
             for x in inference.tile_origins(width, tile_w, overlap)]
    window = inference.blend_window(tile_h, tile_w)
    total = np.zeros((height, width), np.float32)
    weight = np.zeros((height, width), np.float32)
    for start in range(0, len(boxes), batch_size):
        chunk = boxes[start:start + batch_size]
        batch = np.stack([inference.to_model_input(image_bgr[y:y + tile_h, x:x + tile_w], image_size)
                          for y, x in chunk])
        for (y, x), probs in zip(chunk, old_run_model(model, batch, batch_size)):
            total[y:y + tile_h, x:x + tile_w] += resize(probs, tile_w, tile_h) * window
            weight[y:y + tile_h, x:x + tile_w] += window
    return np.clip(total / weight, 0.0, 1.0)


class ZeroModel:
    """Stand-in returning zeros at once: what is left is the non-model work."""

    def predict_on_batch(self, batch):
        return np.zeros((*batch.shape[:3], 1), np.float32)


def compare(variants: dict, repeats: int) -> dict[str, dict[str, float]]:
    """Wall and CPU milliseconds of each variant: {name: {"median", "fastest", "cpu"}}.

    One warm-up call each, then rounds in which every variant runs once. On
    a shared machine the wall-clock median is what a user sees under the
    same load and the fastest round the best guess of an idle machine; the
    process CPU time (both cores together) hardly depends on other jobs, so
    it is what compares variants fairly when the machine is busy.
    """
    for run in variants.values():
        run()
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: {"median": 1000 * statistics.median(wall[name]), "fastest": 1000 * min(wall[name]),
                   "cpu": 1000 * statistics.median(cpu[name])} for name in variants}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="mobilenet_v3_small")
    parser.add_argument("--model", type=Path, default=None, help="time this trained model instead")
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 128], help="model input sizes S")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    args = parser.parse_args()

    import tensorflow as tf

    if args.model is not None:
        model = load_segmenter(args.model)
        source = f"trained {args.model}"
    else:
        from deeptrash.learn.model import build_segmenter

        model = build_segmenter(args.backbone)
        source = f"untrained {args.backbone}"
    call = tf.function(lambda x: model(x, training=False))
    photo = np.random.default_rng(1024).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    print(f"model: {source}; photo {args.width}x{args.height}; tile {TILE} px, overlap {OVERLAP}; "
          f"CPU, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; median of {args.repeats}")

    for size in args.sizes:
        scaled_h, scaled_w = inference.tile_scale_size(args.height, args.width, size, TILE)
        n_tiles = len(inference.tile_origins(scaled_h, size, OVERLAP)) * len(inference.tile_origins(scaled_w, size, OVERLAP))
        tiles = np.random.default_rng(size).uniform(0, 255, (n_tiles, size, size, 3)).astype(np.float32)
        ms = compare({
            "tile mode (one call of %d)" % n_tiles:
                lambda: inference.predict_probabilities(model, photo, size, "tile", TILE, OVERLAP, batch_size=32),
            "baseline: previous tile mode (8 + 8 + 4)": lambda: old_tile_mode(model, photo, size),
            "resize mode": lambda: inference.predict_probabilities(model, photo, size, "resize"),
            "tile mode, 3 scales x flip (real profile)":
                lambda: inference.predict_probabilities(model, photo, size, "tile", TILE, OVERLAP, 32,
                                                        scales=(1.0, 1.5, 2.0), flip=True),
            "model call only, predict_on_batch": lambda: model.predict_on_batch(tiles),
            "model call only, tf.function (traced once)": lambda: call(tiles).numpy(),
            "non-model work, tile mode":
                lambda: inference.predict_probabilities(ZeroModel(), photo, size, "tile", TILE, OVERLAP, 32),
            "non-model work, previous tile mode": lambda: old_tile_mode(ZeroModel(), photo, size),
        }, args.repeats)
        print(f"\nS = {size} px: {n_tiles} tiles        wall ms (median, fastest)   CPU ms (median)")
        for name, m in ms.items():
            print(f"  {name:44s} {m['median']:8.1f} {m['fastest']:8.1f}   {m['cpu']:8.1f}")
        new, old = list(ms.values())[:2]
        print(f"  tile mode vs previous: {old['cpu'] / new['cpu']:.2f}x less CPU, "
              f"{old['median'] / new['median']:.2f}x median wall, {old['fastest'] / new['fastest']:.2f}x fastest wall")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
