"""Scrape stage: photos for one query of one kind into data/raw/KIND/KEY/.

    python -m stages.scrape trash plastic_bottle

Writes images named <sha256>.<ext>, manifest.csv (one row per attempt, with its
status) and, for demo trash, truth/<sha256>.png. The folder appears only when
the whole query is done. The engine (demo, folder, urls, bing, google, baidu,
flickr) and its limits come from the `scrape` section of params.yaml.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from deeptrash.cli import run_stage
from deeptrash.engines import scrape_query
from deeptrash.params import load_params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stages.scrape",
        description="Scrape the photos of one query (params.yaml scrape.KIND.KEY) with scrape.engine.",
    )
    parser.add_argument("kind", choices=["trash", "landscape"], help="which query list: trash or landscape")
    parser.add_argument("key", help="a key of scrape.KIND in params.yaml, e.g. plastic_bottle")
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: data/raw/KIND/KEY)")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    out_dir = args.out or Path("data/raw") / args.kind / args.key
    scrape_query(params.scrape, args.kind, args.key, out_dir, params.seed)


if __name__ == "__main__":
    run_stage(main)
