"""How busy the ground around litter is, in the composites and in real photos.

    python bench/clutter.py                                  # data/synth/train against ../shared/real_dev
    python bench/clutter.py --model models/segmenter.keras   # and the share of real litter found, by clutter

A piece's clutter is the grey-level standard deviation of a ring around it
(as wide as half the square root of its area; other litter left out): low on
asphalt or a lawn, high in leaf litter, ivy or twigs. Real photos are first
scaled as evaluate's tiles show them to the model (synth.size / tile_size), so
both sets are measured at the model's scale. Real pieces under 0.1 % of the
photo (evaluate's small objects) are left out: the model finds almost none.

Prints the clutter quantiles of both sets, the share of composite pieces in
each third of the real pieces' clutter (a third each would match), and with
--model the object recall in each third (evaluate's views and thresholds).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deeptrash.io import read_image, read_mask  # noqa: E402
from deeptrash.measure.metrics import SMALL_OBJECT  # noqa: E402
from deeptrash.params import load_params  # noqa: E402


def piece_clutter(image_bgr: np.ndarray, truth: np.ndarray, min_pixels: int = 30
                  ) -> tuple[np.ndarray, list[tuple[int, int, float]]]:
    """The 8-connected labels of `truth` (bool (H, W)), int32 (H, W), and (label, area, clutter)
    of each piece with >= min_pixels pixels.

    image_bgr: uint8 (H, W, 3). Clutter: grey std over a ring of width
    sqrt(area) / 2 around the piece, outside every truth pixel (NaN when the
    ring is under 20 pixels).
    """
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(truth.astype(np.uint8), connectivity=8)
    near = cv2.dilate(truth.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    out = []
    for label in range(1, count):
        area = int(stats[label, cv2.CC_STAT_AREA])
        if area < min_pixels:
            continue
        width = max(3, int(0.5 * np.sqrt(area)))
        piece = (labels == label).astype(np.uint8)
        ring = cv2.dilate(piece, np.ones((2 * width + 1, 2 * width + 1), np.uint8)).astype(bool) & ~near
        out.append((label, area, float(grey[ring].std()) if ring.sum() >= 20 else float("nan")))
    return labels, out


def synth_clutter(split: Path, limit: int) -> np.ndarray:
    values = []
    for path in sorted((split / "masks").glob("*.png"))[:limit]:
        mask = read_mask(path) > 127
        if mask.any():
            image = read_image(split / "images" / (path.stem + ".jpg"))
            values += [c for _, _, c in piece_clutter(image, mask)[1]]
    return np.array(values)


def real_pieces(real: Path, scale: float):
    """(photo, piece labels at `scale`, [(label, clutter)]) of each labelled real photo, its larger
    pieces only (evaluate's small objects left out) and those with a measurable ring."""
    from deeptrash.measure import labels

    for _, image, mask in labels.load_real(real):
        scaled = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        truth = cv2.resize(mask, (scaled.shape[1], scaled.shape[0]), interpolation=cv2.INTER_NEAREST) > 127
        pieces, measured = piece_clutter(scaled, truth, 1)
        yield image, pieces, [(label, c) for label, area, c in measured
                              if area >= SMALL_OBJECT * truth.size and np.isfinite(c)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth", type=Path, default=Path("data/synth/train"), help="composites (images/, masks/)")
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "real_dev", help="labelled real photos")
    parser.add_argument("--params", default="params.yaml", help="synth.size, evaluate's tiles, views, thresholds")
    parser.add_argument("--limit", type=int, default=600, help="composites read")
    parser.add_argument("--model", type=Path, help="also score the real photos with this model")
    args = parser.parse_args()
    params = load_params(args.params)
    if not args.real.exists():
        sys.exit(f"error: --real {args.real}: not found (labelled real photos: images/ + masks/, COCO or LabelMe)")
    if not (args.synth / "masks").is_dir():
        sys.exit(f"error: --synth {args.synth}: no masks/ folder (run dvc repro synthesize first)")
    ev = params.evaluate
    scale = params.synth.size / ev.tile_size
    synth = synth_clutter(args.synth, args.limit)
    model = None
    if args.model:
        from deeptrash.learn import inference
        from deeptrash.learn.model import load_segmenter

        model = load_segmenter(args.model)
        size = inference.model_image_size(args.model, model)
    real, found = [], []
    for image, labels, pieces in real_pieces(args.real, scale):
        real += [c for _, c in pieces]
        if model is not None and pieces:
            probs = inference.predict_probabilities(model, image, size, ev.mode, ev.tile_size, ev.tile_overlap,
                                                    scales=ev.scales, flip=ev.flip)
            pred = inference.trash_mask(probs, ev.threshold, ev.seed_threshold)
            pred = cv2.resize(pred.astype(np.uint8), (labels.shape[1], labels.shape[0]),
                              interpolation=cv2.INTER_NEAREST).astype(bool)
            found += [pred[labels == label].mean() >= 0.5 for label, _ in pieces]  # evaluate's "found"
    synth, real = synth[np.isfinite(synth)], np.array(real)
    quantiles = (10, 33, 50, 67, 90)
    print(f"clutter (grey std around a piece) at {', '.join(f'{q}%' for q in quantiles)}:")
    print(f"  composites ({len(synth)} pieces, {args.synth}): {np.percentile(synth, quantiles).round(1)}")
    print(f"  real ({len(real)} larger pieces, {args.real}): {np.percentile(real, quantiles).round(1)}")
    edges = [-np.inf, *np.percentile(real, (100 / 3, 200 / 3)), np.inf]
    for k, name in enumerate(("plain", "middle", "busy")):
        inside = lambda v: (v >= edges[k]) & (v < edges[k + 1])  # noqa: E731
        line = f"  {name:6s} third ({edges[k]:.0f} to {edges[k + 1]:.0f}): composites {inside(synth).mean():.0%}"
        if found:
            hits = np.array(found)[inside(real)]
            line += f", real litter found {hits.mean():.2f} ({hits.sum()} of {len(hits)})"
        print(line)


if __name__ == "__main__":
    main()
