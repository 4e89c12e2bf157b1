"""Benchmark: how fast the demo engine renders photos (deeptrash/scrape/demo/photos.py).

Target: 40 photos of 320 px (one scrape query's default) well under 2 s on one
core. Baseline measured in the same run: only encoding 40 ready-made 320 px
photos as JPEG (the floor any engine pays to produce files).

    python bench/demo.py [--count 40] [--size 320] [--repeats 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deeptrash.io import encode_image  # noqa: E402
from deeptrash.scrape.demo.photos import demo_photos  # noqa: E402

QUERIES = {
    "trash": ["plastic bottle litter", "crushed soda can", "plastic bag litter", "candy wrapper litter",
              "cigarette butt litter"],
    "landscape": ["forest trail", "sandy beach", "park lawn grass", "city sidewalk asphalt", "mountain meadow rock"],
}


def best_of(repeats: int, work) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of `repeats` runs of `work()`.

    CPU time (process_time) is the steadier number on a shared machine.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=40, help="photos per query (default 40)")
    parser.add_argument("--size", type=int, default=320, help="long side, px (default 320)")
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs (default 3)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # one core, as the target says
    rng = np.random.default_rng(0)
    ready = [rng.integers(0, 256, (args.size * 3 // 4, args.size, 3), dtype=np.uint8) for _ in range(args.count)]
    list(demo_photos("trash", "warm up", 2, seed=0, size=args.size))
    floor_wall, floor = best_of(args.repeats, lambda: [encode_image(image, ".jpg", 90) for image in ready])
    print(f"baseline: JPEG-encode {args.count} ready {args.size} px photos: {floor_wall:.3f} s wall, {floor:.3f} s CPU")
    print("target:   render 40 photos of 320 px well under 2 s on one core")
    for kind, queries in QUERIES.items():
        for query in queries:
            wall, seconds = best_of(args.repeats, lambda: list(demo_photos(kind, query, args.count, seed=42, size=args.size)))
            print(f"{kind:9s} {query:24s} {args.count} photos: {wall:.3f} s wall, {seconds:.3f} s CPU "
                  f"({1000 * seconds / args.count:.1f} ms/photo, {seconds / max(floor, 1e-9):.0f}x the baseline)")


if __name__ == "__main__":
    main()
