"""Text-overlay detector: precision, recall and speed on a larger seeded set.

Run from the repository root: `python bench/text.py [--count 200] [--seed 1234]`.
Prints precision/recall at several thresholds (the default decision is
params `filter.*.max_text_score`), ms per 256 px image, and as a baseline the
same counts for a naive detector (share of strong Canny edges in the top and
bottom sixth of the photo) measured on the same images in the same run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from deeptrash.clean.text import text_score  # noqa: E402
from deeptrash.params import KindFilterParams  # noqa: E402
from deeptrash.clean.text_set import make_set, precision_recall  # noqa: E402


def edge_band_score(image: np.ndarray) -> float:
    """Naive baseline: share of Canny edge pixels in the top and bottom sixths."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    edges = cv2.Canny(gray, 100, 200) > 0
    band = max(1, gray.shape[0] // 6)
    return float(np.concatenate([edges[:band], edges[-band:]]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="images with and without text, each")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    images, truth = make_set(args.seed, args.count)
    started = time.perf_counter()
    scores = [text_score(image) for image in images]
    ms = (time.perf_counter() - started) / len(images) * 1000
    started = time.perf_counter()
    naive = [edge_band_score(image) for image in images]
    naive_ms = (time.perf_counter() - started) / len(images) * 1000

    default = KindFilterParams().max_text_score
    print(f"{len(images)} images ({args.count} with text), 256 px, seed {args.seed}")
    for threshold in sorted({0.2, 0.3, default, 0.5, 0.6}):
        p, r = precision_recall([s > threshold for s in scores], truth)
        mark = "  <- default max_text_score" if threshold == default else ""
        print(f"  text_score > {threshold:.2f}: precision {p:.3f} recall {r:.3f}{mark}")
    # Baseline at its best threshold on this very set (an optimistic baseline).
    best = max((precision_recall([s > t for s in naive], truth) for t in np.quantile(naive, np.linspace(0.05, 0.95, 19))),
               key=lambda pr: 2 * pr[0] * pr[1] / max(pr[0] + pr[1], 1e-9))
    print(f"  baseline edge-band (best F1 threshold): precision {best[0]:.3f} recall {best[1]:.3f}")
    print(f"speed: text_score {ms:.1f} ms/image; baseline {naive_ms:.2f} ms/image "
          "(shared 2-core machine: timings are noisy)")


if __name__ == "__main__":
    main()
