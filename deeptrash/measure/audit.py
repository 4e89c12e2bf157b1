"""Which landscape photos already show litter: the trained model's verdict per photo.

Every composite assumes its background is clean, so a bottle already lying in
a "city sidewalk" photo is trained as background. The audit runs the trained
segmenter over each kept landscape at full resolution (tile mode) and scores
it; a person looks at the most suspicious ones (a contact sheet with the
predicted trash outlined) and lists the dirty ones in
``filter.landscape_exclude.<key>``, which the filter stage honours.

Per photo (:func:`photo_scores`):

- ``score``: the highest trash probability of any small patch (the mean over
  a PATCH x PATCH window, so one hot pixel does not count); what photos are
  ranked and flagged by.
- ``area``: share of the photo's pixels at or above the pixel threshold.
- ``pieces``: separate patches of such pixels, ignoring specks.

Images are uint8 BGR (H, W, 3); probabilities float32 (H, W) in [0, 1].
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from deeptrash.io import shrink_to
from deeptrash.learn import inference
from deeptrash.measure.metrics import Extremes, count_pieces
from deeptrash.photos import read_photo

log = logging.getLogger(__name__)

COLUMNS = ["file", "query", "prefix", "score", "area", "pieces", "flagged", "width", "height"]
PATCH = 5            # px: the window the score averages probabilities over
PREFIX_DIGITS = 8    # hex digits of a suggested exclusion prefix (more when needed to be unique or text)
NUMBER_LIKE = re.compile(r"^[0-9]+(e[0-9]+)?$")  # read as a number by YAML or Hydra (dvc exp run -S)


def photo_scores(probs: np.ndarray, threshold: float, min_piece: float) -> dict:
    """score, area and pieces (module docstring) of one probability map.

    probs: float32 (H, W) in [0, 1]; threshold: pixel probability counted as
    trash; min_piece: smallest piece counted, as a share of the photo's pixels.
    """
    probs = np.asarray(probs, np.float32)
    k = max(1, min(PATCH, *probs.shape))
    patch_mean = cv2.blur(probs, (k, k), borderType=cv2.BORDER_REFLECT)
    mask = probs >= threshold
    min_area = max(1, int(round(min_piece * probs.size)))
    return {
        "score": round(float(patch_mean.max()), 4),
        "area": round(float(mask.mean()), 6),
        "pieces": count_pieces(mask, min_area),
    }


def exclusion_prefix(name: str, names: Iterable[str]) -> str:
    """The short start of file name `name` that names it alone among `names`.

    At least PREFIX_DIGITS characters of the hash, longer when another name
    shares them or when the prefix would read as a number (12345678, 1e5:
    YAML and Hydra turn those into ints and floats).
    """
    stem = name.split(".")[0]
    others = [n for n in names if n != name]
    for length in range(min(PREFIX_DIGITS, len(stem)), len(stem) + 1):
        prefix = stem[:length]
        if not NUMBER_LIKE.match(prefix) and not any(n.startswith(prefix) for n in others):
            return prefix
    return stem


def audit_table(rows: list[dict], flag_score: float) -> pd.DataFrame:
    """One row per photo (COLUMNS), most suspicious first; `flagged` = score >= flag_score.

    rows: dicts with file, query, score, area, pieces, width, height. Ties
    are broken by area, then by query and file, so the order is stable.
    """
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("prefix", "flagged")])
    table["prefix"] = ""
    for query, group in table.groupby("query"):
        names = list(group["file"])
        table.loc[group.index, "prefix"] = [exclusion_prefix(n, names) for n in names]
    table["flagged"] = table["score"] >= flag_score
    table = table.sort_values(["score", "area", "query", "file"], ascending=[False, False, True, True])
    return table[COLUMNS].reset_index(drop=True)


def summary(table: pd.DataFrame, flag_score: float, queries: Iterable[str]) -> dict:
    """metrics/audit.json: flagged photos per query and the score distribution."""
    scores = table["score"].to_numpy(np.float64)
    per_query = {}
    for query in sorted(set(queries) | set(table["query"])):
        mine = table[table["query"] == query]
        per_query[query] = {"photos": int(len(mine)), "flagged": int(mine["flagged"].sum())}
    distribution = {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    if len(scores):
        p50, p90, p99 = np.percentile(scores, [50, 90, 99])
        distribution = {"mean": scores.mean(), "p50": p50, "p90": p90, "p99": p99, "max": scores.max()}
    return {
        "photos": int(len(table)),
        "flagged": int(table["flagged"].sum()),
        "flag_score": flag_score,
        "per_query": per_query,
        "score": {k: round(float(v), 4) for k, v in distribution.items()},
    }


def exclude_args(table: pd.DataFrame, current: dict[str, list[str]]) -> list[str]:
    """`dvc exp run` arguments that add every flagged photo to its query's exclusions.

    current: the `filter.landscape_exclude` lists in force (kept: a list given
    with -S replaces the old one). One `-S 'filter.landscape_exclude.KEY=[...]'`
    per query with flagged photos, by query.
    """
    args = []
    flagged = table[table["flagged"]]
    for query in sorted(set(flagged["query"])):
        new = sorted(flagged.loc[flagged["query"] == query, "prefix"])
        listed = list(current.get(query, []))
        prefixes = listed + [p for p in new if not any(p.startswith(old) for old in listed)]
        args.append(f"-S 'filter.landscape_exclude.{query}=[{','.join(prefixes)}]'")
    return args


def outline(image_bgr: np.ndarray, mask: np.ndarray, colour=(220, 40, 220)) -> np.ndarray:
    """The photo with the outlines of a (H, W) mask drawn on it; uint8 (H, W, 3) BGR.

    Outlines only (no tint, the litter stays visible), and a ring around each
    piece so that a small one is found at a glance on a thumbnail.
    """
    out = image_bgr[:, :, :3].copy()
    long_side = max(mask.shape)
    thickness = max(1, round(long_side / 300))
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, colour, thickness)
    for contour in contours:
        (x, y), radius = cv2.minEnclosingCircle(contour)
        ring = int(max(radius + 3 * thickness, long_side / 30))
        cv2.circle(out, (int(x), int(y)), ring, colour, thickness, cv2.LINE_AA)
    return out


def score_photos(model, image_size: int, photos: Iterable[tuple[str, str | Path]], settings, keep: int = 24,
                 total: int | None = None) -> tuple[list[dict], list[tuple[float, str, np.ndarray]]]:
    """Run the model over photos in tile mode and score each.

    photos: (query, path) pairs; settings: the audit params (tile_size,
    tile_overlap, threshold, min_piece). Returns (rows for :func:`audit_table`,
    without prefix/flagged; unreadable photos are skipped with a warning) and
    the `keep` highest-scoring photos as (score, "query/file", thumbnail with
    the predicted trash outlined), highest first.
    """
    rows: list[dict] = []
    top = Extremes(keep)
    for query, path in tqdm(list(photos) if total is None else photos, total=total, desc="audit", unit="photo"):
        path = Path(path)
        image = read_photo(path)
        if image is None:
            log.warning("%s/%s: unreadable, not audited", query, path.name)
            continue
        probs = inference.predict_probabilities(model, image, image_size, mode="tile", tile_size=settings.tile_size,
                                                overlap=settings.tile_overlap)
        row = {"file": path.name, "query": query, **photo_scores(probs, settings.threshold, settings.min_piece),
               "width": image.shape[1], "height": image.shape[0]}
        rows.append(row)
        mask = probs >= settings.threshold
        top.offer(row["score"], f"{query}/{path.name}", lambda: shrink_to(outline(image, mask), 512))
    return rows, [entry for entry in top.best]
