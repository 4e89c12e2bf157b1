"""Stage audit: does any kept landscape photo already show litter?

Reads  models/segmenter.keras, models/meta.json   the trained segmenter
       data/clean/landscape/KEY/ (kept.csv)       every kept landscape, for each KEY in scrape.landscape
       params.yaml audit, filter.landscape_exclude
Writes data/audit/landscapes.csv    file, query, prefix, score, area, pieces, flagged, width, height;
                                    most suspicious first (deeptrash/measure/audit.py says what each means)
       data/audit/exclude_args.txt  `dvc exp run` arguments excluding every flagged photo
                                    (`xargs dvc exp run < data/audit/exclude_args.txt`)
       metrics/audit.json           photos and flagged per query, score distribution
       plots/audit/suspects.png     the most suspicious photos, predicted trash outlined
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from deeptrash.cli import add_params_argument, run_stage
from deeptrash.io import (atomic_write_csv, atomic_write_json, atomic_write_text, read_kept, require_dir, staged_dir,
                         write_image)
from deeptrash.learn import inference
from deeptrash.learn.model import load_segmenter
from deeptrash.measure import audit
from deeptrash.params import load_params
from deeptrash.plots import contact_sheet

log = logging.getLogger("audit")


def landscape_photos(root: Path, keys: list[str]) -> list[tuple[str, Path]]:
    """(query key, path) of every kept landscape: the files listed in each KEY's kept.csv."""
    photos = []
    for key in keys:
        folder = require_dir(root / key, f"clean landscapes of {key!r}")
        photos += [(key, folder / name) for name in read_kept(folder, f"dvc repro filter_landscape@{key}")]
    return photos


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stages.audit",
        description="Run the trained model over every kept landscape photo (tile mode) and rank them by "
                    "how much trash it sees: data/audit/, metrics/audit.json, plots/audit/suspects.png.")
    parser.add_argument("--model", type=Path, default=Path("models/segmenter.keras"))
    parser.add_argument("--clean", type=Path, default=Path("data/clean/landscape"))
    parser.add_argument("--out", type=Path, default=Path("data/audit"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/audit.json"))
    parser.add_argument("--plot", type=Path, default=Path("plots/audit/suspects.png"))
    parser.add_argument("--timing", type=Path, default=Path("logs/audit_timing.json"),
                        help="seconds this run took (default: %(default)s)")
    add_params_argument(parser)
    args = parser.parse_args(argv)

    params = load_params(args.params)
    settings = params.audit
    photos = landscape_photos(args.clean, sorted(params.scrape.landscape))
    model = load_segmenter(args.model)
    image_size = inference.model_image_size(args.model, model)

    started = time.perf_counter()
    rows, top = audit.score_photos(model, image_size, photos, settings, keep=settings.sheet)
    seconds = time.perf_counter() - started
    table = audit.audit_table(rows, settings.flag_score)
    exclude = audit.exclude_args(table, params.filter.landscape_exclude)
    with staged_dir(args.out) as out:
        atomic_write_csv(out / "landscapes.csv", table)
        atomic_write_text(out / "exclude_args.txt", "".join(f"{arg}\n" for arg in exclude))
    metrics = audit.summary(table, settings.flag_score, params.scrape.landscape)
    atomic_write_json(args.metrics, metrics)
    # Timing apart from the metrics, so `dvc metrics diff` of equal runs shows no change.
    atomic_write_json(args.timing, {"seconds": round(seconds, 1), "photos": len(rows)})

    prefixes = dict(zip(table["query"] + "/" + table["file"], table["prefix"]))
    labels = [f"{name.split('/')[0][:14]} {prefixes[name]} {score:.2f}" for score, name, _ in top]
    title = (f"audit: {metrics['flagged']} of {metrics['photos']} landscapes flagged (score >= {settings.flag_score}); "
             "most suspicious first, predicted trash outlined")
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.plot, contact_sheet([thumb for *_, thumb in top], labels, columns=6, tile=256, title=title))

    log.info("audited %d landscapes in %.1f s (%.0f ms each); flagged %d (score >= %s)%s", len(table), seconds,
             1000 * seconds / max(1, len(table)), metrics["flagged"], settings.flag_score,
             "; to exclude them: xargs dvc exp run < " + str(args.out / "exclude_args.txt") if exclude else "")


if __name__ == "__main__":
    run_stage(main)
