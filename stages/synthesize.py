"""Stage `synthesize`: composites of trash cut-outs on clean landscapes, with masks.

Reads data/clean/landscape/<query>/ (kept.csv) and data/cutouts/<query>/
(cutouts.csv, status ok); writes data/synth/{train,val}/images/NNNNNN.jpg,
masks/NNNNNN.png (0/255), samples.csv, plus data/synth/sources.csv (every
source photo's split and the duplicates dropped), metrics/synth.json,
plots/synth_samples.png and logs/synth_timing.json (workers, seconds,
composites/s, worker memory: kept out of the metrics, which then depend on the
params alone). The recipe is deeptrash/synth/recipe.py; its knobs are `synth:` in
params.yaml.
"""
from __future__ import annotations

import argparse
import logging

import pandas as pd

from deeptrash.cli import add_params_argument, run_stage
from deeptrash.io import atomic_write_csv, atomic_write_json, staged_dir, write_image
from deeptrash.params import load_params
from deeptrash.plots import contact_sheet
from deeptrash.synth import pool, sources as synth_sources

log = logging.getLogger("synthesize")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.synthesize", description=__doc__.split("\n\n")[0])
    add_params_argument(parser)
    parser.add_argument("--landscapes", default="data/clean/landscape", help="clean landscape folders, one per query")
    parser.add_argument("--cutouts", default="data/cutouts", help="cut-out folders, one per trash query")
    parser.add_argument("--out", default="data/synth", help="output folder (replaced as a whole)")
    parser.add_argument("--metrics", default="metrics/synth.json")
    parser.add_argument("--plot", default="plots/synth_samples.png")
    parser.add_argument("--timing", default="logs/synth_timing.json", help="speed and memory of this run")
    parser.add_argument("--workers", type=int, default=None, help="override synth.workers (0 = all cores)")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    settings = params.synth
    index = synth_sources.find_sources(args.landscapes, args.cutouts, settings)
    with staged_dir(args.out) as out:
        summary = pool.synthesize(index, settings, params.seed, out, workers=args.workers)
        sources = pd.DataFrame(index.split_table, columns=["kind", "query", "group", "split"])
        removed = pd.DataFrame(index.removed, columns=["kind", "name", "reason", "duplicate_of"])
        atomic_write_csv(out / "sources.csv", sources)
        atomic_write_csv(out / "dropped.csv", removed)
    previews = summary.pop("preview")
    timing = summary.pop("timing")
    metrics = {**summary, **synth_sources.source_metrics(index), "size": settings.size}
    atomic_write_json(args.metrics, metrics)
    atomic_write_json(args.timing, timing)
    tiles, labels = [], []
    for k, (image, mask) in enumerate(previews):
        tiles += [image, mask]  # decode_image gives both as BGR
        labels += [f"train {k:06d}", "mask"]
    write_image(args.plot, contact_sheet(tiles, labels, columns=8, tile=128, title="synthesize: image / mask"))
    for split in synth_sources.SPLITS:
        s = summary[split]
        log.info("%s: %d composites (%d negatives), mean mask fraction %.3f, from %d landscapes and %d cut-outs",
                 split, s["samples"], s["negatives"], s["mean_mask_fraction"], s["landscapes"], s["cutouts"])
    log.info("%d duplicates across queries dropped; %.1f composites/s with %d workers",
             metrics["duplicates_removed"]["total"], timing["composites_per_second"], timing["workers"])


if __name__ == "__main__":
    run_stage(main)
