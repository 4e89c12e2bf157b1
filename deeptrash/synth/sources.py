"""The synth stage's sources: which landscapes and cut-outs, in which split, decoded once.

1. :func:`find_sources` lists landscapes (`data/clean/landscape/<query>/kept.csv`)
   and cut-outs (`data/cutouts/<query>/cutouts.csv`, status ok), removes
   duplicates ACROSS queries (same content / same source photo, or dHash within
   `dedupe_hamming` bits; the copy in the lexicographically first query wins)
   and splits them train/val by a stable hash of the source photo's name, so
   the two splits never share a photo.
2. :func:`load_sources` decodes them once (per worker process), pre-resized to
   a working size relative to `synth.size`.
"""
from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from deeptrash.errors import UserError
from deeptrash.io import (decode_image, flatten_alpha, list_images, read_file_table, read_kept, require_dir,
                          sha256_bytes, shrink_to)
from deeptrash.synth_params import SynthParams
from deeptrash.synth import augment, camera

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
SPLIT_IDS = {"train": 0, "val": 1}


NO_TRASH = "no usable trash photos: every trash query came back empty; check scrape/filter"
NO_LANDSCAPE = "no usable landscape photos: every landscape query came back empty; check scrape/filter"


# --- finding sources ---------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """One landscape or cut-out file. `group` is the source photo it came from
    (a landscape's own file stem; a cut-out's `source` column): splits and
    exact duplicates are decided per group."""
    query: str
    path: str
    group: str

    @property
    def name(self) -> str:
        return f"{self.query}/{Path(self.path).name}"


@dataclass
class SourceIndex:
    """What synthesize will use, per split, plus what was dropped and why."""
    landscapes: dict[str, list[SourceFile]]
    cutouts: dict[str, list[SourceFile]]
    removed: list[dict] = field(default_factory=list)   # kind, name, reason, duplicate_of
    split_table: list[dict] = field(default_factory=list)  # kind, query, group, split
    shared: list[str] = field(default_factory=list)  # kinds whose single source serves both splits


def dhash(gray: np.ndarray) -> int:
    """64-bit difference hash of a uint8 (H, W) image: sign of horizontal gradients on 9x8."""
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def _landscape_files(folder: Path) -> list[tuple[str, Path]]:
    """(query, path) of kept landscape photos, query folders in name order."""
    found = []
    for query_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (query_dir / "kept.csv").is_file():
            paths = [query_dir / name for name in read_kept(query_dir, "dvc repro filter_landscape")]
        else:
            paths = list_images(query_dir)
        found.extend((query_dir.name, p) for p in sorted(paths))
    return found


def _cutout_files(folder: Path) -> list[tuple[str, Path, str]]:
    """(query, path, source photo) of usable cut-outs (status ok), query folders in name order."""
    found = []
    for query_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        table = query_dir / "cutouts.csv"
        if table.is_file() and table.stat().st_size:
            frame = read_file_table(table)
            if "status" in frame:
                frame = frame[frame["status"].str.lower() == "ok"]
            for row in frame.itertuples(index=False):
                source = getattr(row, "source", "") or Path(row.file).stem.rsplit("_", 1)[0]
                found.append((query_dir.name, query_dir / row.file, Path(source).stem))
        else:
            found.extend((query_dir.name, p, p.stem.rsplit("_", 1)[0]) for p in list_images(query_dir))
    return sorted(found, key=lambda item: (item[0], item[1].name))


def _fingerprint(path: Path, cutout: bool) -> tuple[str, int, float, np.ndarray] | None:
    """(content sha256, dHash, aspect, colour thumbnail float32 (192,)) of an image file; None if unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    image = decode_image(data)
    if image is None:
        return None
    if cutout and image.shape[2] == 4:
        # Hash what the object looks like on grey, not what hides under alpha 0.
        image = flatten_alpha(image, 128)
    gray = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2GRAY)
    thumb = cv2.resize(image[:, :, :3], (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    return sha256_bytes(data), dhash(gray), image.shape[1] / image.shape[0], thumb


def dedupe_across_queries(items: list[dict], hamming: int) -> tuple[list[dict], list[dict]]:
    """Drop items that duplicate an item of an EARLIER query (queries in name order).

    items: dicts with query, name, group, sha, hash (int), aspect, thumb (8x8
    BGR thumbnail, float32 (192,)). Exact: same content sha or same group
    (source photo); near: dHash within `hamming` bits AND aspect ratio within
    10% AND thumbnails within 12 grey levels on average (dHash alone is
    colour-blind: a red and a blue can of one shape would match); -1 = exact only. Within one query nothing is
    dropped (the filter stage handles that). Returns (kept, removed); removed
    items get `reason` and `duplicate_of`. Deterministic for a given input set.
    """
    items = sorted(items, key=lambda it: (it["query"], it["name"]))
    kept: list[dict] = []
    removed: list[dict] = []
    by_sha: dict[str, dict] = {}
    by_group: dict[str, dict] = {}
    hashes = np.zeros(len(items), np.uint64)
    queries: list[str] = []
    aspects = np.zeros(len(items), np.float64)
    thumbs = np.zeros((len(items), 192), np.float32)
    for item in items:
        first = by_sha.get(item["sha"]) or by_group.get(item["group"])
        reason = "exact" if first is not None and first["query"] != item["query"] else None
        if reason is None and hamming >= 0 and kept:
            n = len(kept)
            other = np.array([q != item["query"] for q in queries])
            distance = np.bitwise_count(hashes[:n] ^ np.uint64(item["hash"]))
            similar = (distance <= hamming) & other & (np.abs(np.log(aspects[:n] / item["aspect"])) < math.log(1.1))
            if similar.any():
                similar &= np.abs(thumbs[:n] - item["thumb"]).mean(axis=1) < 12
            if similar.any():
                reason, first = "near", kept[int(np.argmax(similar))]
        if reason:
            removed.append({**item, "reason": reason, "duplicate_of": first["name"]})
            continue
        hashes[len(kept)] = np.uint64(item["hash"])
        aspects[len(kept)] = item["aspect"]
        thumbs[len(kept)] = item["thumb"]
        queries.append(item["query"])
        kept.append(item)
        by_sha.setdefault(item["sha"], item)
        by_group.setdefault(item["group"], item)
    return kept, removed


def split_of(group: str, val_share: float) -> str:
    """'val' if the stable hash of a source photo's name falls below val_share, else 'train'."""
    return "val" if zlib.crc32(group.encode()) / 2**32 < val_share else "train"


def assign_splits(groups: list[str], val_share: float) -> dict[str, str]:
    """Split source photos by a stable hash of their names; with >= 2 photos both
    sides get at least one (the photo nearest the cut point moves)."""
    unique = sorted(set(groups))
    splits = {g: split_of(g, val_share) for g in unique}
    if len(unique) >= 2:
        ranked = sorted(unique, key=lambda g: (zlib.crc32(g.encode()), g))
        if all(s == "train" for s in splits.values()):
            splits[ranked[0]] = "val"
        elif all(s == "val" for s in splits.values()):
            splits[ranked[-1]] = "train"
    return splits


def find_sources(landscape_dir: str | Path, cutout_dir: str | Path, params: SynthParams) -> SourceIndex:
    """List, de-duplicate across queries, and split the sources (see module docstring)."""
    landscape_dir = require_dir(landscape_dir, "clean landscapes")
    cutout_dir = require_dir(cutout_dir, "cut-outs")
    index = SourceIndex(landscapes={}, cutouts={})
    kinds = {
        "landscape": [(q, p, p.stem) for q, p in _landscape_files(landscape_dir)],
        "cutout": _cutout_files(cutout_dir),
    }
    for kind, files in kinds.items():
        items = []
        for query, path, group in tqdm(files, desc=f"hash {kind}s", unit="img", leave=False, disable=None):
            fingerprint = _fingerprint(path, cutout=kind == "cutout")
            if fingerprint is None:
                index.removed.append({"kind": kind, "name": f"{query}/{path.name}", "reason": "unreadable",
                                      "duplicate_of": ""})
                continue
            sha, hash_, aspect, thumb = fingerprint
            items.append({"query": query, "name": f"{query}/{path.name}", "path": str(path), "group": group,
                          "sha": sha, "hash": hash_, "aspect": aspect, "thumb": thumb})
        kept, removed = dedupe_across_queries(items, params.dedupe_hamming)
        index.removed.extend({"kind": kind, "name": r["name"], "reason": r["reason"],
                              "duplicate_of": r["duplicate_of"]} for r in removed)
        if not kept:
            raise UserError(NO_LANDSCAPE if kind == "landscape" else NO_TRASH)
        splits = assign_splits([it["group"] for it in kept], params.val_share)
        per_split: dict[str, list[SourceFile]] = {s: [] for s in SPLITS}
        for it in kept:
            per_split[splits[it["group"]]].append(SourceFile(it["query"], it["path"], it["group"]))
        if len(splits) == 1:
            # A single source photo cannot be split: it serves both sides (logged, in metrics).
            index.shared.append(kind)
            only = per_split["train"] or per_split["val"]
            per_split = {s: list(only) for s in SPLITS}
            log.warning("only one %s source photo: train and val share it", kind)
        for group, split in sorted(splits.items()):
            query = next(it["query"] for it in kept if it["group"] == group)
            index.split_table.append({"kind": kind, "query": query, "group": group,
                                      "split": "both" if kind in index.shared else split})
        target = index.landscapes if kind == "landscape" else index.cutouts
        target.update(per_split)
        log.info("%s: %d kept (%d train, %d val), %d duplicates across queries dropped", kind, len(kept),
                 len(per_split["train"]), len(per_split["val"]), len(removed))
    return index


# --- loading sources ---------------------------------------------------------------


@dataclass
class Cutout:
    name: str
    levels: list[np.ndarray]  # premultiplied BGRA pyramid, largest first


@dataclass
class Sources:
    """Decoded sources per split: landscapes as (name, uint8 BGR) pre-resized so the
    short side is size * max zoom; cut-outs as premultiplied pyramids whose largest
    level has a long side of at most 1.25 * size."""
    landscapes: dict[str, list[tuple[str, np.ndarray]]]
    cutouts: dict[str, list[Cutout]]
    noise: np.ndarray | None = None  # camera.noise_bank(size)


def _fit_short_side(image: np.ndarray, short: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = short / min(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(short, round(w * scale)), max(short, round(h * scale))), interpolation=cv2.INTER_AREA)


def load_landscape(path: str | Path, size: int, zoom_max: float) -> np.ndarray | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return None
    return _fit_short_side(image, int(math.ceil(size * zoom_max)))


def load_cutout(path: str | Path, size: int) -> list[np.ndarray] | None:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3:
        return None
    if image.dtype != np.uint8:
        image = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else None
        if image is None:
            return None
    if image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    return augment.pyramid(augment.premultiply(shrink_to(image, int(math.ceil(size * 1.25)))))


def load_sources(index: SourceIndex, params: SynthParams) -> Sources:
    """Decode every source once, pre-resized to the working size (unreadable files skipped)."""
    sources = Sources(landscapes={}, cutouts={}, noise=camera.noise_bank(params.size))
    zoom_max = params.background.zoom[1]
    for split in SPLITS:
        sources.landscapes[split] = [
            (f.name, image) for f in index.landscapes.get(split, [])
            if (image := load_landscape(f.path, params.size, zoom_max)) is not None]
        sources.cutouts[split] = [
            Cutout(f.name, levels) for f in index.cutouts.get(split, [])
            if (levels := load_cutout(f.path, params.size)) is not None]
    return sources


def source_metrics(index: SourceIndex) -> dict:
    """Duplicate/unreadable counts and split sizes for metrics/synth.json."""
    import pandas as pd

    removed = pd.DataFrame(index.removed, columns=["kind", "name", "reason", "duplicate_of"])
    out: dict = {"duplicates_removed": {}, "unreadable": {}, "shared_between_splits": sorted(index.shared)}
    for kind in ("landscape", "cutout"):
        mine = removed[removed["kind"] == kind]
        out["duplicates_removed"][kind] = {"exact": int((mine["reason"] == "exact").sum()),
                                           "near": int((mine["reason"] == "near").sum())}
        out["unreadable"][kind] = int((mine["reason"] == "unreadable").sum())
    out["duplicates_removed"]["total"] = sum(v["exact"] + v["near"] for v in out["duplicates_removed"].values())
    table = pd.DataFrame(index.split_table, columns=["kind", "query", "group", "split"])
    out["split"] = {f"{kind}_photos_{split}": int(((table["kind"] == kind) & (table["split"].isin([split, "both"]))).sum())
                    for kind in ("landscape", "cutout") for split in SPLITS}
    return out
