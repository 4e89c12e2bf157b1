"""Stage filter_KIND@KEY: keep the usable photos of one query.

Reads  data/raw/KIND/KEY/            photos named <sha256>.<ext> (subfolders such as truth/ are ignored)
       params.yaml filter.KIND, and for landscapes filter.landscape_exclude.KEY (photos to drop)
Writes data/clean/KIND/KEY/          kept photos (byte for byte, same names), kept.csv, rejects.csv
       metrics/filter/KIND/KEY.json  input, kept, rejected and a count for every reason
       plots/filter/KIND/KEY.png     contact sheet of the rejected photos, grouped by reason
"""
from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from deeptrash.clean.filter import REASONS, check_photos, counts, resolve_exclusions, tables
from deeptrash.cli import add_params_argument, run_stage
from deeptrash.errors import UserError
from deeptrash.io import atomic_write_csv, atomic_write_json, list_images, read_image, require_dir, staged_dir, write_image
from deeptrash.params import load_params
from deeptrash.plots import contact_sheet

log = logging.getLogger("filter")

SHEET_MAX = 64  # rejected photos shown on the contact sheet


def rejects_sheet(folder: Path, rejects, title: str) -> np.ndarray:
    """Contact sheet (uint8 BGR) of rejected photos in REASONS order, labelled by reason."""
    order = {reason: i for i, reason in enumerate(REASONS)}
    rows = sorted(rejects.itertuples(index=False), key=lambda r: (order[r.reason], r.file))[:SHEET_MAX]
    images, labels = [], []
    for row in rows:
        image = read_image(folder / row.file)
        if image is None:  # corrupt: a dark tile stands in for it
            image = np.full((64, 64, 3), 40, np.uint8)
        images.append(image)
        labels.append(row.reason)
    return contact_sheet(images, labels, columns=8, tile=128, title=title)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stages.filter",
        description="Check the photos in data/raw/KIND/KEY/ (corrupt, size, aspect, transparency, grayscale, "
                    "dark, light, low information, blur, odd size, text overlays, duplicates; landscapes listed in "
                    "filter.landscape_exclude.KEY) and copy the usable ones to data/clean/KIND/KEY/. "
                    "Limits: params.yaml filter.KIND.")
    parser.add_argument("kind", choices=["trash", "landscape"], help="which kind of photo")
    parser.add_argument("key", help="query key from params.yaml (scrape.trash or scrape.landscape)")
    add_params_argument(parser)
    args = parser.parse_args(argv)

    params = load_params(args.params)
    queries = getattr(params.scrape, args.kind)
    if args.key not in queries:
        known = ", ".join(sorted(queries))
        raise UserError(f"unknown {args.kind} query key {args.key!r} (params.yaml scrape.{args.kind} has: {known})")
    kind_params = getattr(params.filter, args.kind)
    source = require_dir(Path("data/raw") / args.kind / args.key, "scraped photos")
    files = list_images(source)
    if not files:
        log.warning("%s/%s: no photos in %s", args.kind, args.key, source)

    excluded = {}
    if args.kind == "landscape":
        prefixes = params.filter.landscape_exclude.get(args.key, [])
        excluded = resolve_exclusions(prefixes, [f.name for f in files], f"landscape_exclude.{args.key}")

    started = time.perf_counter()
    checks = check_photos(files, kind_params, excluded)
    kept, rejects = tables(checks)
    with staged_dir(Path("data/clean") / args.kind / args.key) as out:
        for name in kept["file"]:
            shutil.copyfile(source / name, out / name)
        atomic_write_csv(out / "kept.csv", kept)
        atomic_write_csv(out / "rejects.csv", rejects)
    seconds = time.perf_counter() - started

    metrics = counts(checks)
    atomic_write_json(Path("metrics/filter") / args.kind / f"{args.key}.json", metrics)
    title = f"{args.kind}/{args.key}: rejected {metrics['rejected']} of {metrics['input']}"
    write_image(Path("plots/filter") / args.kind / f"{args.key}.png", rejects_sheet(source, rejects, title))

    dropped = {reason: n for reason, n in metrics["reasons"].items() if n}
    log.info("%s/%s: kept %d of %d photos in %.1f s; rejected %s", args.kind, args.key, metrics["kept"],
             metrics["input"], seconds, dropped or "none")
    if metrics["input"] and not metrics["kept"]:
        log.warning("%s/%s: every photo was rejected; see plots/filter/%s/%s.png", args.kind, args.key,
                    args.kind, args.key)


if __name__ == "__main__":
    run_stage(main)
