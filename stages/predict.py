"""Find trash in your own photos: a mask and an overlay per photo, and one table.

    python -m stages.predict PHOTO_OR_FOLDER... --out DIR

For each photo (any size or aspect; EXIF orientation applied, so masks match
what a viewer shows) writes into DIR:

- ``<stem>_mask.png``: 0/255 mask at the photo's original size,
- ``<stem>_overlay.jpg``: the photo with predicted trash tinted magenta,
- ``predictions.csv``: one row per photo: file, width, height,
  trash_fraction (share of pixels), pieces (separate patches of trash), the
  two file names, and error (why a photo was skipped, else empty).

Unreadable photos are logged, get a row with the error, and do not stop the
run. Threshold, mode and tile settings default to the `evaluate` section of
params.yaml when there is one, else to its built-in defaults: tile mode
(``--mode resize`` squashes the whole photo instead: faster, but small
objects vanish).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError
from tqdm import tqdm

from deeptrash import overlays, photos
from deeptrash.cli import add_params_argument, run_stage
from deeptrash.errors import UserError
from deeptrash.io import IMAGE_SUFFIXES, atomic_write_csv, list_images, write_image
from deeptrash.learn import inference
from deeptrash.learn.model import load_segmenter
from deeptrash.measure.metrics import count_pieces
from deeptrash.params import EvaluateParams, load_section

log = logging.getLogger("predict")
COLUMNS = ["file", "width", "height", "trash_fraction", "pieces", "mask", "overlay", "error"]


def evaluate_defaults(params_path: Path) -> EvaluateParams:
    """The `evaluate` section of params.yaml, or the built-in defaults if there is none."""
    return load_section(params_path, "evaluate")


def collect_photos(paths: list[Path]) -> list[Path]:
    """Photos named on the command line: files as given, folders by their image files."""
    photos: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = list_images(path)
            if not found:
                log.warning("%s: no photos (%s) in this folder", path, ", ".join(IMAGE_SUFFIXES))
            photos.extend(found)
        else:
            photos.append(path)   # missing or unreadable files get an error row later
    return photos


def output_stems(photos: list[Path]) -> list[str]:
    """A distinct output name per photo: its stem, with _2, _3... for repeats."""
    seen: dict[str, int] = {}
    stems = []
    for photo in photos:
        stem = photo.stem
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


def build_parser(defaults: EvaluateParams) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stages.predict",
        description="Segment trash in photos with the trained model: writes <stem>_mask.png "
        "(0/255, original size), <stem>_overlay.jpg and predictions.csv into --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO_OR_FOLDER",
                        help="photo files and/or folders of photos (not searched recursively)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if needed)")
    parser.add_argument("--model", type=Path, default=Path("models/segmenter.keras"),
                        help="trained model; its image size is read from meta.json beside it")
    parser.add_argument("--threshold", type=float, default=defaults.threshold,
                        help="probability at or above which a pixel is trash")
    parser.add_argument("--seed-threshold", type=float, default=defaults.seed_threshold,
                        help="keep a piece only if some pixel in it reaches this (hysteresis: a low "
                        "--threshold then draws found pieces whole without adding faint blobs); "
                        "unset: every pixel above --threshold")
    parser.add_argument("--mode", choices=inference.MODES, default=defaults.mode,
                        help="tile: overlapping tiles at the training scale (small objects); "
                        "resize: whole photo squashed to model size (fast, loses small objects)")
    parser.add_argument("--tile-size", type=int, default=defaults.tile_size,
                        help="tile side in photo pixels, shown to the model at its image size (tile mode)")
    parser.add_argument("--overlap", type=float, default=defaults.tile_overlap,
                        help="share of a tile overlapping its neighbour, 0..<1 (tile mode)")
    parser.add_argument("--scales", type=float, nargs="+", default=defaults.scales, metavar="SCALE",
                        help="tile sizes as multiples of --tile-size, their predictions averaged (tile mode; "
                        "e.g. 1 1.5 2: large objects seen whole, several times slower)")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=defaults.flip,
                        help="also predict the mirrored photo and average (twice the time)")
    parser.add_argument("--batch-size", type=int, default=32, help="most model inputs (tiles) per call")
    parser.add_argument("--min-piece", type=float, default=0.0002,
                        help="smallest patch counted in 'pieces', as a share of the photo's pixels")
    add_params_argument(parser, help="params file whose evaluate section gives the defaults")
    return parser


# The flags that stand for an `evaluate` key, checked by the same rules as params.yaml.
EVALUATE_FLAGS = {"threshold": "threshold", "seed_threshold": "seed_threshold", "tile_size": "tile_size",
                  "tile_overlap": "overlap", "scales": "scales"}


def check_args(args: argparse.Namespace) -> None:
    """One-line UserError naming the flag for a value params.yaml would refuse too."""
    try:
        EvaluateParams(**{key: getattr(args, dest) for key, dest in EVALUATE_FLAGS.items()})
    except ValidationError as error:
        first = error.errors()[0]
        dest = EVALUATE_FLAGS[first["loc"][0]]
        raise UserError(f"--{dest.replace('_', '-')}: {first['msg']}, not {getattr(args, dest)}") from None
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, not {args.batch_size}")
    if not 0 <= args.min_piece < 1:
        raise UserError(f"--min-piece must be in [0, 1), not {args.min_piece}")


def predict_photo(model, photo: Path, stem: str, out: Path, image_size: int, args) -> dict:
    """Predict one photo and write its mask and overlay; returns its table row."""
    row = {"file": str(photo), "width": 0, "height": 0, "trash_fraction": np.nan, "pieces": 0,
           "mask": "", "overlay": "", "error": ""}
    if not photo.is_file():
        row["error"] = "not found"
        return row
    image = photos.read_photo(photo)
    if image is None:
        row["error"] = "unreadable (not an image or corrupt)"
        return row
    height, width = image.shape[:2]
    probs = inference.predict_probabilities(
        model, image, image_size, mode=args.mode, tile_size=args.tile_size,
        overlap=args.overlap, batch_size=args.batch_size, scales=args.scales, flip=args.flip,
    )
    mask = inference.trash_mask(probs, args.threshold, args.seed_threshold)
    mask_name, overlay_name = f"{stem}_mask.png", f"{stem}_overlay.jpg"
    write_image(out / mask_name, mask.astype(np.uint8) * 255)
    write_image(out / overlay_name, overlays.overlay_mask(image, mask), quality=90)
    min_area = max(1, int(round(args.min_piece * height * width)))
    row.update(width=width, height=height, trash_fraction=float(mask.mean()),
               pieces=count_pieces(mask, min_area), mask=mask_name, overlay=overlay_name)
    return row


def main(argv: list[str] | None = None) -> None:
    pre = add_params_argument(argparse.ArgumentParser(add_help=False))
    known, _ = pre.parse_known_args(argv)
    args = build_parser(evaluate_defaults(known.params)).parse_args(argv)
    check_args(args)

    photos = collect_photos(args.photos)
    if not photos:
        raise UserError("no photos to predict (the folders given hold no images)")
    model = load_segmenter(args.model)
    image_size = inference.model_image_size(args.model, model)
    args.out.mkdir(parents=True, exist_ok=True)
    log.info("%d photos, model %s at %d px, mode %s, threshold %.2f",
             len(photos), args.model, image_size, args.mode, args.threshold)

    rows = []
    for photo, stem in zip(tqdm(photos, desc="predict", unit="photo"), output_stems(photos)):
        row = predict_photo(model, photo, stem, args.out, image_size, args)
        if row["error"]:
            log.warning("%s: %s; skipped", photo, row["error"])
        rows.append(row)
    atomic_write_csv(args.out / "predictions.csv", pd.DataFrame(rows, columns=COLUMNS))
    done = [r for r in rows if not r["error"]]
    log.info("wrote %d masks and overlays to %s (%d skipped); mean trash share %.3f",
             len(done), args.out, len(rows) - len(done),
             float(np.mean([r["trash_fraction"] for r in done])) if done else 0.0)


if __name__ == "__main__":
    run_stage(main)
