"""Stage `evaluate`: how well the trained model finds trash.

    python -m stages.evaluate

Reads models/segmenter.keras (+ meta.json) and data/synth/val (images/*.jpg,
masks/*.png), and the real labelled photos named by `evaluate.real` if any
(a folder with images/ + masks/, a COCO JSON, or a folder of LabelMe JSON).
Writes:

- metrics/evaluate.json: {"threshold", "synthetic": {...}, "real": {...}}
  with pooled (headline) iou, dice, precision, recall, accuracy, per-image
  means (`*_mean`), object_recall, false_pieces, the best sweep threshold;
- metrics/evaluate_per_image.csv: one row per photo and set;
- plots/threshold_sweep.csv: precision, recall, iou, dice at thresholds
  0.05..0.95 (real_* columns too when real photos are given);
- plots/evaluate/: photo + error overlay (green found, red false, blue
  missed) of the best and worst `evaluate.overlays` photos of each set.

Synthetic composites are predicted whole (they are model-sized); real photos
with `evaluate.mode` (resize or tile).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from deeptrash.cli import add_params_argument, run_stage
from deeptrash.errors import UserError
from deeptrash.io import atomic_write_csv, atomic_write_json, list_images, read_mask, require_dir, staged_dir, write_image
from deeptrash.learn import inference
from deeptrash.learn.model import load_segmenter
from deeptrash.measure import evaluation, labels, metrics
from deeptrash.params import load_params
from deeptrash.photos import read_photo

log = logging.getLogger("evaluate")


def synthetic_photos(val_dir: Path):
    """(name, image, mask) of the synthetic validation set, lazily; also its length.

    Photos without a mask, or unreadable, are logged and skipped.
    """
    images = list_images(require_dir(val_dir / "images", "synthetic validation images"))
    masks = {p.stem: p for p in list_images(require_dir(val_dir / "masks", "synthetic validation masks"))}
    pairs = [(p, masks[p.stem]) for p in images if p.stem in masks]
    if len(pairs) < len(images):
        log.warning("%d validation images have no mask; skipped", len(images) - len(pairs))
    if not pairs:
        raise UserError(f"no validation images with masks in {val_dir} (run: dvc repro synthesize)")

    def iterate():
        for image_path, mask_path in pairs:
            image, mask = read_photo(image_path), read_mask(mask_path)
            if image is None or mask is None or mask.shape != image.shape[:2]:
                log.warning("%s: unreadable image or mask, or sizes differ; skipped", image_path.name)
                continue
            yield image_path.stem, image, mask
    return iterate(), len(pairs)


def summarise(rows: list[dict], sweep_rows: list[dict]) -> dict:
    """Aggregate scores of one set plus the sweep's best threshold by IoU."""
    summary = metrics.aggregate(rows)
    best = max(sweep_rows, key=lambda r: r["iou"])
    summary.update(best_threshold=best["threshold"], best_threshold_iou=best["iou"])
    return summary


def write_overlays(folder: Path, prefix: str, extremes: metrics.Extremes) -> int:
    count = 0
    for kind, entries in (("best", extremes.best), ("worst", extremes.worst)):
        for rank, (_, _, panel) in enumerate(entries, start=1):
            write_image(folder / f"{prefix}_{kind}_{rank}.png", panel)
            count += 1
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stages.evaluate",
        description="Score the trained segmenter on synthetic validation composites and, when "
        "evaluate.real is set, on real labelled photos. Settings: the evaluate section of params.yaml.",
    )
    parser.add_argument("--model", type=Path, default=Path("models/segmenter.keras"), help="trained model")
    parser.add_argument("--val", type=Path, default=Path("data/synth/val"), help="synthetic validation set")
    parser.add_argument("--batch-size", type=int, default=16, help="photos per model call (resize mode)")
    add_params_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    params = load_params(args.params).evaluate
    real = labels.load_real(params.real) if params.real else None   # bad path fails before any work
    synthetic, n_synthetic = synthetic_photos(args.val)
    model = load_segmenter(args.model)
    image_size = inference.model_image_size(args.model, model)
    log.info("model %s at %d px; threshold %.2f", args.model, image_size, params.threshold)

    # Composites are model-sized: one plain view. Real photos get the test-time views of params.
    sets = [("synthetic", synthetic, n_synthetic, "resize", [1.0], False)]
    if real is not None:
        sets.append(("real", iter(real), len(real), params.mode, params.scales, params.flip))
    report: dict = {"threshold": params.threshold}
    if params.seed_threshold is not None:
        report["seed_threshold"] = params.seed_threshold
    per_image, sweep_table = [], pd.DataFrame({"threshold": metrics.DEFAULT_THRESHOLDS})
    with staged_dir("plots/evaluate") as plots:
        for label, photos, total, mode, scales, flip in sets:
            rows, sweep, extremes = evaluation.evaluate_photos(
                model, photos, image_size, threshold=params.threshold, mode=mode,
                tile_size=params.tile_size, overlap=params.tile_overlap, batch_size=args.batch_size,
                keep=params.overlays, total=total, desc=label, scales=scales, flip=flip,
                seed_threshold=params.seed_threshold,
            )
            if not rows:
                raise UserError(f"{label}: none of the {total} labelled photos could be read")
            sweep_rows = metrics.sweep_scores(sweep)
            report[label] = summarise(rows, sweep_rows)
            if label == "real":
                report[label]["skipped"] = real.skipped
            per_image += [{"set": label, **row} for row in rows]
            prefix = "" if label == "synthetic" else "real_"
            for column in ("precision", "recall", "iou", "dice"):
                sweep_table[prefix + column] = [r[column] for r in sweep_rows]
            drawn = write_overlays(plots, label, extremes)
            s = report[label]
            log.info("%s: %d photos: IoU %.3f (per-image mean %.3f), Dice %.3f, precision %.3f, recall %.3f, "
                     "objects found %d/%d, false pieces %d; best threshold %.2f (IoU %.3f); %d overlays",
                     label, s["images"], s["iou"], s["iou_mean"], s["dice"], s["precision"], s["recall"],
                     s["objects_found"], s["objects"], s["false_pieces"], s["best_threshold"],
                     s["best_threshold_iou"], drawn)
        atomic_write_csv("plots/threshold_sweep.csv", sweep_table)
        atomic_write_csv("metrics/evaluate_per_image.csv", pd.DataFrame(per_image))
        atomic_write_json("metrics/evaluate.json", report)


if __name__ == "__main__":
    run_stage(main)
