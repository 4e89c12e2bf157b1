"""Stage crop@KEY: cut the trash objects out of one query's kept photos.

Reads  data/clean/trash/KEY/ (kept photos + kept.csv)
Writes data/cutouts/KEY/      RGBA cut-outs <stem>_<n>.png + cutouts.csv
       metrics/crop/KEY.json  counts, acceptance rate, mean area, reasons, and how many
                              photos hold several objects or clutter
       plots/cutouts/KEY.png  contact sheet of the cut-outs on a checkerboard, then the
                              photos with several objects or clutter, labelled
"""
from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from deeptrash.cli import add_params_argument, run_stage
from deeptrash.clean.crop import (BUSY_BACKGROUND, FRAGMENTED, MAX_PIECES, OK, REJECTED, UNREADABLE, boxes_for,
                            crop_photo, read_boxes)
from deeptrash.errors import UserError
from deeptrash.io import (
    atomic_write_csv, atomic_write_json, read_image, read_kept, require_dir, shrink_to, staged_dir, write_image,
)
from deeptrash.params import load_params
from deeptrash.plots import contact_sheet

log = logging.getLogger("crop")

COLUMNS = ["file", "source", "x", "y", "w", "h", "area", "method", "status", "reason",
           "area_share", "border_touch", "offcentre", "solidity", "roughness", "contrast"]
SHEET_MAX = 64  # cut-outs shown on the contact sheet
FLAGGED_MAX = 16  # photos with several objects or clutter shown after them
# Reasons that say a photo is not one object on a plain background: clutter.
CLUTTER_REASONS = (FRAGMENTED, BUSY_BACKGROUND)


def photo_flags(table: pd.DataFrame) -> pd.DataFrame:
    """Per source photo of a cutouts table: `objects` (separate pieces that passed the
    gates, kept or over max_pieces), `multi_object` (objects >= 2) and `cluttered`
    (a piece rejected as fragmented or on a busy background). Index: source."""
    passed = table.status.eq(OK) | table.reason.eq(MAX_PIECES)
    flags = pd.DataFrame({"objects": passed.groupby(table.source).sum().astype(int),
                          "cluttered": table.reason.isin(CLUTTER_REASONS).groupby(table.source).any()})
    flags["multi_object"] = flags.objects >= 2
    return flags


def crop_folder(folder: Path, names: list[str], out: Path, params, boxes: dict) -> tuple[pd.DataFrame, list]:
    """Crop the photos `names` of `folder`, writing accepted cut-outs into `out`.

    Returns the cutouts table (one row per candidate), the first SHEET_MAX
    cut-out images (uint8 BGRA) for the contact sheet, and {source: small uint8
    photo} for the first FLAGGED_MAX photos with several objects or clutter.
    """
    rows, sheet_images, flagged = [], [], {}
    for name in tqdm(names, desc=f"crop {folder.name}", unit="photo"):
        path = folder / Path(name).name
        image = read_image(path)
        candidates = crop_photo(image, params, boxes_for(boxes, path.name))
        objects = sum(c.status == OK or c.reason == MAX_PIECES for c in candidates)
        if (objects >= 2 or any(c.reason in CLUTTER_REASONS for c in candidates)) and len(flagged) < FLAGGED_MAX:
            flagged[path.name] = shrink_to(image[:, :, :3], 256)
        for n, candidate in enumerate(candidates):
            file = ""
            if candidate.status == OK:
                file = f"{path.stem}_{n}.png"
                write_image(out / file, candidate.image)
                if len(sheet_images) < SHEET_MAX:
                    sheet_images.append(candidate.image)
            rows.append({"file": file, "source": path.name, "x": candidate.x, "y": candidate.y, "w": candidate.w,
                         "h": candidate.h, "area": candidate.area, "method": candidate.method,
                         "status": candidate.status, "reason": candidate.reason,
                         "area_share": round(candidate.area_share, 4),
                         "border_touch": round(candidate.border_touch, 4),
                         "offcentre": round(candidate.offcentre, 4),
                         "solidity": round(candidate.solidity, 4),
                         "roughness": round(candidate.roughness, 4), "contrast": round(candidate.contrast, 3)})
    return pd.DataFrame(rows, columns=COLUMNS), sheet_images, flagged


def summarise(table: pd.DataFrame) -> dict:
    """Metrics for metrics/crop/KEY.json from the cutouts table.

    photos_multi_object: photos with two or more separate objects passing the
    gates; photos_cluttered: photos with a piece rejected as fragmented or on a
    busy background (the seed's "lots of spaces and distractions").
    """
    ok = table[table.status == OK]
    flags = photo_flags(table) if len(table) else None
    photos = table.source.nunique()
    photos_with_cutout = ok.source.nunique()
    return {
        "photos": int(photos),
        "unreadable": int((table.reason == UNREADABLE).sum()),
        "candidates": int(len(table)),
        "cutouts": int(len(ok)),
        "rejected": int((table.status == REJECTED).sum()),
        "rejected_by_reason": {k: int(v) for k, v in sorted(Counter(table.reason[table.status == REJECTED]).items())},
        "by_method": {k: int(v) for k, v in sorted(Counter(ok.method).items())},
        "acceptance_rate": round(len(ok) / len(table), 4) if len(table) else 0.0,
        "photos_with_cutout_rate": round(photos_with_cutout / photos, 4) if photos else 0.0,
        "mean_area_share": round(float(ok.area_share.mean()), 4) if len(ok) else 0.0,
        "mean_area_px": round(float(ok.area.mean()), 1) if len(ok) else 0.0,
    } | ({"photos_multi_object": int(flags.multi_object.sum()), "photos_cluttered": int(flags.cluttered.sum()),
          "photos_multi_object_or_cluttered": int((flags.multi_object | flags.cluttered).sum())}
         if len(table) else {"photos_multi_object": 0, "photos_cluttered": 0, "photos_multi_object_or_cluttered": 0})


def flag_label(flag: pd.Series, rows: pd.DataFrame) -> str:
    """Contact-sheet label of a flagged photo: 'N obj' and/or its clutter reason."""
    parts = [f"{int(flag.objects)} obj"] if flag.multi_object else []
    parts += sorted(set(rows.reason[rows.reason.isin(CLUTTER_REASONS)]))
    return "! " + " ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stages.crop",
        description="Cut trash objects out of data/clean/trash/KEY/ into RGBA PNGs in data/cutouts/KEY/ "
                    "(automatic GrabCut, the photo's own alpha, or crop.boxes).",
        epilog="Writes data/cutouts/KEY/ (cut-outs + cutouts.csv, one row per candidate with status and "
               "reason), metrics/crop/KEY.json and plots/cutouts/KEY.png. Settings: the crop section of "
               "params.yaml (gates min_area, max_area, max_border_touch, max_offcentre, min_solidity, max_components, "
               "max_roughness with min_contrast; "
               "max_pieces, feather, work_size, iterations, boxes).")
    parser.add_argument("key", help="trash query key from params.yaml (scrape.trash)")
    add_params_argument(parser)
    args = parser.parse_args(argv)

    params = load_params(args.params)
    if args.key not in params.scrape.trash:
        known = ", ".join(sorted(params.scrape.trash))
        raise UserError(f"unknown trash query key {args.key!r} (params.yaml scrape.trash has: {known})")
    folder = require_dir(Path("data/clean/trash") / args.key, "filtered photos")
    names = read_kept(folder, "dvc repro filter_trash")
    boxes = read_boxes(params.crop.boxes) if params.crop.boxes else {}
    if boxes:
        boxed = sum(boxes_for(boxes, Path(name).name) is not None for name in names)
        log.info("%s: %s lists boxes for %d of this query's %d photos", args.key, params.crop.boxes, boxed, len(names))

    started = time.perf_counter()
    with staged_dir(Path("data/cutouts") / args.key) as out:
        table, sheet_images, flagged = crop_folder(folder, names, out, params.crop, boxes)
        atomic_write_csv(out / "cutouts.csv", table)
    seconds = time.perf_counter() - started

    metrics = summarise(table)
    atomic_write_json(Path("metrics/crop") / f"{args.key}.json", metrics)
    shown = table[table.status == OK].head(SHEET_MAX)
    flags = photo_flags(table) if len(table) else None
    flag_labels = [flag_label(flags.loc[source], table[table.source == source]) for source in flagged]
    sheet = contact_sheet(sheet_images + list(flagged.values()), list(shown.file) + flag_labels, columns=8, tile=128,
                          title=f"{args.key}: {metrics['cutouts']} cut-outs from {metrics['photos']} photos; "
                                f"then {metrics['photos_multi_object']} with several objects, "
                                f"{metrics['photos_cluttered']} cluttered (photos)")
    write_image(Path("plots/cutouts") / f"{args.key}.png", sheet)

    log.info("%s: %d cut-outs from %d photos in %.1f s; rejected %s", args.key, metrics["cutouts"],
             metrics["photos"], seconds, metrics["rejected_by_reason"] or "none")
    if metrics["cutouts"] == 0:
        log.warning("%s: no cut-outs; synthesize will have no objects from this query", args.key)


if __name__ == "__main__":
    run_stage(main)
