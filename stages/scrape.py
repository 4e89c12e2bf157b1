"""Scrape stage: photos for one query of one kind into data/raw/KIND/KEY/.

    python -m stages.scrape trash plastic_bottle [--params FILE] [--out DIR]

Writes images named <sha256>.<ext>, manifest.csv (one row per attempt, with its
status) and, for demo trash, truth/<sha256>.png. The folder appears only when
the whole query is done. The engine (demo, folder, urls, bing, google, baidu,
flickr) and its limits come from the `scrape` section of params.yaml (a query
may set its own engine and per_query: `{query: ..., engine: demo}`); the
engines themselves are deeptrash/scrape/engines.py, the checks every download goes
through deeptrash/scrape/download.py.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from deeptrash.cli import add_params_argument, run_stage
from deeptrash.io import staged_dir
from deeptrash.params import ScrapeParams, load_params
from deeptrash.scrape import engines
from deeptrash.scrape.download import ImageSink

log = logging.getLogger("scrape")


def scrape_query(scrape: ScrapeParams, kind: str, key: str, out_dir: str | Path, seed: int,
                 search_hosts: dict | None = None, demo_photos=None) -> pd.DataFrame:
    """Scrape `scrape.KIND.KEY` into `out_dir` (replaced only when complete); return the manifest.

    Raises UserError before writing anything when params, inputs or the
    network are not usable. `search_hosts` overrides engines.SEARCH_HOSTS and
    `demo_photos` the demo renderer (tests).
    """
    scrape, query = scrape.for_query(kind, key)
    engine = scrape.engine
    engines.preflight(scrape, query, search_hosts, name=f"scrape.{kind}.{key}")
    with staged_dir(out_dir) as staging:
        total = engines.attempts_expected(scrape, query)
        with tqdm(total=total, desc=f"{engine} {kind}/{key}", unit="img", leave=False) as bar:
            sink = ImageSink(staging, engine, query, scrape.max_bytes, scrape.max_pixels, progress=bar)
            engines.run_engine(sink, scrape, kind, query, seed, demo_photos)
        # Threaded engines finish in any order: sort so the file is stable.
        manifest = sink.write_manifest(sort_by_url=engine not in ("demo", "folder"))
    summarize(manifest, engine, kind, key, query)
    return manifest


def summarize(manifest: pd.DataFrame, engine: str, kind: str, key: str, query: str) -> None:
    """Log kept/dropped counts by status; one warning line when nothing was kept."""
    counts = manifest["status"].value_counts().to_dict()
    kept = counts.pop("ok", 0)
    dropped = ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "none"
    log.info("%s/%s (%s): kept %d of %d attempts; dropped: %s", kind, key, engine, kept, len(manifest), dropped)
    if kept == 0:
        log.warning("%s/%s: query %r yielded no usable image (engine %s); its folder is empty",
                    kind, key, query, engine)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stages.scrape",
        description="Scrape the photos of one query (params.yaml scrape.KIND.KEY) with scrape.engine.",
    )
    parser.add_argument("kind", choices=["trash", "landscape"], help="which query list: trash or landscape")
    parser.add_argument("key", help="a key of scrape.KIND in params.yaml, e.g. plastic_bottle")
    add_params_argument(parser)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: data/raw/KIND/KEY)")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    out_dir = args.out or Path("data/raw") / args.kind / args.key
    scrape_query(params.scrape, args.kind, args.key, out_dir, params.seed)


if __name__ == "__main__":
    run_stage(main)
