"""Benchmark the audit stage: does it rank the landscapes that already show litter first?

    python bench/audit.py                      # after `dvc repro` on the demo engine
    python bench/audit.py --folder ../shared/real_sources/landscape   # clean real photos: false flags
    python bench/audit.py --folder ../shared/real_sources/ground --model models/segmenter.keras

Demo (the default): reads data/audit/landscapes.csv (the audit stage's ranking)
and the demo engine's truth: a dirty landscape has a litter mask in
data/raw/landscape/KEY/truth/<sha256>.png, a clean one has none. Prints the
ROC AUC of the audit score (the share of dirty/clean pairs ranked the right
way round), precision among the top k (k = number of dirty photos), and how
many photos the stage flagged rightly and wrongly. Baselines from the same
run: chance (AUC 0.5, precision = share of dirty photos) and the same
figures for ranking by the share of trash pixels instead of the score.
Where data/synth/sources.csv says which landscapes served as training
backgrounds, AUC is also given for the others (the model never saw them).

--folder: runs the model over every photo in the folder (tile mode, the
`audit` params of params.yaml) and reports how many it flags: on clean photos
each flag is a false one. The baseline is the flag rate on the demo's clean
landscapes from data/audit/landscapes.csv, when present.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deeptrash.io import list_images, read_mask  # noqa: E402


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half); nan if a class is empty."""
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive, bool)
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order), np.float64)
    ranks[order] = np.arange(1, len(order) + 1)
    # Average ranks over ties.
    values = np.concatenate([pos, neg])
    for value in np.unique(values):
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def precision_at_k(scores: np.ndarray, positive: np.ndarray, k: int) -> float:
    """Share of positives among the k highest scores (stable order for ties)."""
    if k <= 0:
        return float("nan")
    top = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")[:k]
    return float(np.asarray(positive, bool)[top].mean())


def demo_truth(table: pd.DataFrame, raw: Path) -> pd.DataFrame:
    """The audit table with `dirty` (a non-empty litter mask exists) and `litter_px` (its pixel count)."""
    dirty, pixels = [], []
    for row in table.itertuples(index=False):
        path = raw / row.query / "truth" / f"{Path(row.file).stem}.png"
        mask = read_mask(path) if path.is_file() else None
        count = 0 if mask is None else int(np.count_nonzero(mask))
        dirty.append(count > 0)
        pixels.append(count)
    return table.assign(dirty=dirty, litter_px=pixels)


def report_ranking(table: pd.DataFrame, label: str) -> None:
    k = int(table["dirty"].sum())
    prevalence = k / max(1, len(table))
    print(f"{label}: {len(table)} photos, {k} dirty ({prevalence:.0%})")
    if not k or k == len(table):
        print("  (needs both dirty and clean photos to rank)")
        return
    for column, name in (("score", "audit score"), ("area", "trash area share (baseline)")):
        auc = roc_auc(table[column], table["dirty"])
        precision = precision_at_k(table[column], table["dirty"], k)
        print(f"  {name:30s} ROC AUC {auc:.3f}   precision@{k} {precision:.2f}")
    print(f"  {'chance (baseline)':30s} ROC AUC 0.500   precision@{k} {prevalence:.2f}")


def demo(audit_csv: Path, raw: Path, sources: Path) -> None:
    if not audit_csv.is_file():
        sys.exit(f"{audit_csv} not found: run `dvc repro` first (demo engine)")
    table = demo_truth(pd.read_csv(audit_csv), raw)
    report_ranking(table, "demo landscapes")
    flagged = table["flagged"].astype(bool)
    print(f"  flagged by the stage: {int((flagged & table['dirty']).sum())} dirty (of {int(table['dirty'].sum())}), "
          f"{int((flagged & ~table['dirty']).sum())} clean (of {int((~table['dirty']).sum())})")
    missed = table[table["dirty"] & ~flagged]
    if len(missed):
        print(f"  dirty photos not flagged: median litter {int(missed['litter_px'].median())} px "
              f"(flagged ones: {int(table[table['dirty'] & flagged]['litter_px'].median()) if (table['dirty'] & flagged).any() else 0} px)")
    if sources.is_file():
        split = pd.read_csv(sources)
        split = split[split["kind"] == "landscape"]
        trained = set(split.loc[split["split"].isin(["train", "both"]), "group"].astype(str))
        unseen = table[~table["file"].map(lambda f: f in trained or Path(f).stem in trained)]
        if 0 < len(unseen) < len(table):
            report_ranking(unseen, "  of which never a training background")


def folder(photos_dir: Path, model_path: Path, audit_csv: Path) -> None:
    from deeptrash.learn import inference
    from deeptrash.learn.model import load_segmenter
    from deeptrash.measure import audit
    from deeptrash.params import load_params

    settings = load_params().audit
    photos = list_images(photos_dir)
    if not photos:
        sys.exit(f"{photos_dir}: no photos")
    model = load_segmenter(model_path)
    image_size = inference.model_image_size(model_path, model)
    started = time.perf_counter()
    rows, top = audit.score_photos(model, image_size, [(photos_dir.name, p) for p in photos], settings, keep=5)
    seconds = time.perf_counter() - started
    table = audit.audit_table(rows, settings.flag_score)
    scores = table["score"].to_numpy()
    print(f"{photos_dir}: {len(table)} photos (clean), {int(table['flagged'].sum())} flagged falsely "
          f"({table['flagged'].mean():.0%}) at flag_score {settings.flag_score}; "
          f"score p50 {np.median(scores):.2f} p90 {np.percentile(scores, 90):.2f} max {scores.max():.2f}; "
          f"{1000 * seconds / len(table):.0f} ms/photo (tile {settings.tile_size} px)")
    print("  highest: " + ", ".join(f"{name.split('/')[-1]} {score:.2f}" for score, name, _ in top))
    if audit_csv.is_file():
        demo_table = pd.read_csv(audit_csv)
        truth_root = Path("data/raw/landscape")
        if truth_root.is_dir():
            demo_table = demo_truth(demo_table, truth_root)
            clean = demo_table[~demo_table["dirty"]]
            print(f"  baseline: demo clean landscapes flagged {int(clean['flagged'].sum())} of {len(clean)} "
                  f"({clean['flagged'].mean():.0%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audit", type=Path, default=Path("data/audit/landscapes.csv"))
    parser.add_argument("--raw", type=Path, default=Path("data/raw/landscape"), help="demo truth: KEY/truth/*.png")
    parser.add_argument("--sources", type=Path, default=Path("data/synth/sources.csv"))
    parser.add_argument("--folder", type=Path, help="clean photos to count false flags on")
    parser.add_argument("--model", type=Path, default=Path("models/segmenter.keras"))
    args = parser.parse_args()
    if args.folder:
        folder(args.folder, args.model, args.audit)
    else:
        demo(args.audit, args.raw, args.sources)


if __name__ == "__main__":
    main()
