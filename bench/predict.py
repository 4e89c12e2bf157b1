"""How long predicting one 1024x768 photo takes on the CPU, in resize and tile mode.

    python bench/predict.py [--repeats 5] [--model models/segmenter.keras]

Uses the trained model when models/segmenter.keras exists, else builds the
default segmenter (params.yaml train.backbone, untrained weights: timing
does not depend on them) at synth.size px. Prints milliseconds per photo
(median of --repeats after two warm-up runs) next to the baselines measured
in the same run:

- "model call only": one forward pass on one model-sized input, the floor
  for resize mode (the rest is resizing and colour conversion);
- "tile, batch 1": the same tiles sent one per model call, the naive way,
  against which batching tiles (evaluate's default 8) is compared.
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

from deeptrash import inference  # noqa: E402
from deeptrash.params import load_params  # noqa: E402


def median_ms(run, repeats: int) -> float:
    for _ in range(2):      # warm-up: tracing the model for this batch shape
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/segmenter.keras"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    args = parser.parse_args()

    params = load_params()
    if args.model.is_file():
        model = inference.load_model(args.model)
        size = inference.model_image_size(args.model, model)
        source = f"trained {args.model}"
    else:
        from deeptrash.model import build_segmenter

        model = build_segmenter(params.train.backbone, bn_momentum=params.train.bn_momentum)
        size = params.synth.size
        source = f"untrained {params.train.backbone} (no {args.model})"
    ev = params.evaluate
    photo = np.random.default_rng([params.seed, 1024]).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    n_tiles = (len(inference.tile_origins(args.height, min(ev.tile_size, args.height), ev.tile_overlap))
               * len(inference.tile_origins(args.width, min(ev.tile_size, args.width), ev.tile_overlap)))
    one_input = np.zeros((1, size, size, 3), np.float32)

    def predict(mode: str, batch_size: int = 8):
        return lambda: inference.predict_probabilities(
            model, photo, size, mode=mode, tile_size=ev.tile_size, overlap=ev.tile_overlap, batch_size=batch_size)

    print(f"model: {source}, input {size} px; photo {args.width}x{args.height}; "
          f"tile {ev.tile_size} px, overlap {ev.tile_overlap} -> {n_tiles} tiles; CPU, {os.cpu_count()} cores")
    call = median_ms(lambda: model.predict_on_batch(one_input), args.repeats)
    resize = median_ms(predict("resize"), args.repeats)
    tile = median_ms(predict("tile", 8), args.repeats)
    tile_one = median_ms(predict("tile", 1), args.repeats)
    print(f"{'baseline: model call only (1 input)':42s} {call:8.1f} ms")
    print(f"{'resize mode':42s} {resize:8.1f} ms per photo  ({resize / call:.2f}x the model call)")
    print(f"{'baseline: tile mode, batch 1':42s} {tile_one:8.1f} ms per photo  ({tile_one / n_tiles:.1f} ms per tile)")
    print(f"{'tile mode, batch 8':42s} {tile:8.1f} ms per photo  ({tile / n_tiles:.1f} ms per tile, "
          f"speed-up over batch 1: {tile_one / tile:.2f}x)")


if __name__ == "__main__":
    main()
