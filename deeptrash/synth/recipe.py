"""The composite recipe: trash cut-outs pasted on clean landscapes, with exact masks.

Flow (stages/synthesize.py):
1. :func:`find_sources` lists landscapes (`data/clean/landscape/<query>/kept.csv`)
   and cut-outs (`data/cutouts/<query>/cutouts.csv`, status ok), removes
   duplicates ACROSS queries (same content / same source photo, or dHash within
   `dedupe_hamming` bits; the copy in the lexicographically first query wins)
   and splits them train/val by a stable hash of the source photo's name, so
   the two splits never share a photo.
2. :func:`load_sources` decodes them once (per worker process), pre-resized to
   a working size relative to `synth.size`.
3. :func:`generate_sample` builds sample i of a split from (seed, split, i)
   alone; :func:`synthesize` runs it over all indices in worker processes and
   writes `images/NNNNNN.jpg`, `masks/NNNNNN.png` and `samples.csv` per split.

Each step of the recipe draws from its own generator
`default_rng([seed, split_id, i, step_id])`, so turning one step off changes
that step's effect only and leaves the rest of the composite as it was.
"""
from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from tqdm import tqdm

from deeptrash.synth import augment
from deeptrash.errors import UserError
from deeptrash.io import (
    atomic_write_bytes, atomic_write_csv, decode_image, encode_image, list_images, read_file_table, require_dir,
    sha256_bytes, shrink_to,
)
from deeptrash.params import SynthParams

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
SPLIT_IDS = {"train": 0, "val": 1}
# One generator per step (see module docstring); the numbers are part of the
# recipe's identity: changing them changes every composite.
STEP_IDS = {name: k for k, name in enumerate(
    ["background", "objects", "occluders", "overlay", "lens", "motion_blur", "lighting",
     "object_extras", "distractors", "defocus"], start=1)}
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
        kept = query_dir / "kept.csv"
        if kept.is_file():
            paths = [query_dir / name for name in read_file_table(kept)["file"] if name]
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
        alpha = image[:, :, 3:4].astype(np.float32) / 255
        image = (image[:, :, :3] * alpha + 128 * (1 - alpha)).astype(np.uint8)
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
    noise: np.ndarray | None = None  # augment.noise_bank(size)


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
    sources = Sources(landscapes={}, cutouts={}, noise=augment.noise_bank(params.size))
    zoom_max = params.background.zoom[1]
    for split in SPLITS:
        sources.landscapes[split] = [
            (f.name, image) for f in index.landscapes.get(split, [])
            if (image := load_landscape(f.path, params.size, zoom_max)) is not None]
        sources.cutouts[split] = [
            Cutout(f.name, levels) for f in index.cutouts.get(split, [])
            if (levels := load_cutout(f.path, params.size)) is not None]
    return sources


# --- one composite ---------------------------------------------------------------


def _step_rng(seed: int, split: str, i: int, step: str) -> np.random.Generator:
    return np.random.default_rng([seed, SPLIT_IDS[split], i, STEP_IDS[step]])


def _random_crop(photo: np.ndarray, rng: np.random.Generator, size: int, zoom: tuple[float, float]) -> tuple[np.ndarray, dict]:
    h, w = photo.shape[:2]
    z = float(rng.uniform(*zoom))
    side = max(1, min(h, w, int(round(min(h, w) / z))))
    x = int(rng.integers(0, w - side + 1))
    y = int(rng.integers(0, h - side + 1))
    flip = bool(rng.random() < 0.5)
    return augment.crop_square(photo, side, x, y, size, flip), {"zoom": round(z, 3), "x": x, "y": y, "flip": flip}


def _draw(rng: np.random.Generator, step) -> bool:
    return step.p > 0 and bool(rng.random() < step.p)


def draw_scale(rng: np.random.Generator, low: float, high: float, distribution: str) -> float:
    """One draw of an object's relative size from [low, high], uniform or log-uniform."""
    if distribution == "log_uniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


def _local_mean(image: np.ndarray, cx: float, cy: float, radius: float) -> np.ndarray:
    """Mean BGR colour (float32 (3,)) of the square of `radius` around (cx, cy), clipped to the frame."""
    h, w = image.shape[:2]
    r = max(2, int(radius))
    x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 1)
    y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 1)
    if x1 <= x0 or y1 <= y0:
        return image.reshape(-1, 3).mean(axis=0).astype(np.float32)
    return image[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0).astype(np.float32)


# Per-object steps when none is drawn (or no generator is given).
NO_EXTRAS = {"squash": 1.0, "shadow": None, "harmonize": 0.0, "poisson": 0.0, "grass": 0}


def _object_extras(rng: np.random.Generator | None, params: SynthParams, cy: float, long_side: float, record: dict) -> dict:
    """Draw the per-object steps that came after the first recipe (own generator, see STEP_IDS):
    ground-plane slant, contact shadow, colour harmonisation, Poisson-like blend, grass blades."""
    extras = dict(NO_EXTRAS)
    if rng is None:
        return extras
    if _draw(rng, params.slant):
        squash = float(rng.uniform(*params.slant.squash))
        if params.objects.perspective_scaling:
            squash *= 0.75 + 0.25 * cy / params.size  # farther up the ground, seen at a lower angle
        extras["squash"] = squash
        record["squash"] = round(squash, 3)
    if _draw(rng, params.shadow):
        sh = params.shadow
        strength = float(rng.uniform(*sh.strength))
        sigma = float(rng.uniform(*sh.blur)) * long_side
        offset = float(rng.uniform(*sh.offset)) * long_side
        direction = float(rng.uniform(0.25, 0.75) * math.pi)  # mostly downwards on screen
        extras["shadow"] = (strength, sigma, offset * math.cos(direction), offset * math.sin(direction))
        record["shadow"] = round(strength, 3)
    if _draw(rng, params.harmonize):
        extras["harmonize"] = float(rng.uniform(*params.harmonize.strength))
        record["harmonize"] = round(extras["harmonize"], 3)
    if _draw(rng, params.poisson):
        extras["poisson"] = float(rng.uniform(*params.poisson.strength))
        record["poisson"] = round(extras["poisson"], 3)
    if _draw(rng, params.grass):
        extras["grass"] = int(rng.integers(params.grass.count[0], params.grass.count[1] + 1))
        extras["grass_width"] = float(rng.uniform(*params.grass.width))
        record["grass"] = extras["grass"]
    return extras


def _place_objects(image: np.ndarray, coverage: np.ndarray, cutouts: list[Cutout], rng: np.random.Generator,
                   params: SynthParams, count: int, extras_rng: np.random.Generator | None = None) -> list[dict]:
    """Paste `count` random cut-outs; returns one record per object (drawn parameters)."""
    size = params.size
    o = params.objects
    plans = []
    for _ in range(count):
        cutout = cutouts[int(rng.integers(len(cutouts)))]
        cy = float(rng.uniform(0, 1))
        # Perspective scaling: objects near the top of the frame are further away.
        depth = 0.6 + 0.6 * cy if o.perspective_scaling else 1.0
        long_side = draw_scale(rng, *o.scale, o.distribution) * depth * size
        margin = long_side * (0.5 - o.outside)
        lo, hi = margin, size - margin
        cx = float(rng.uniform(min(lo, hi), max(lo, hi)))
        cy_px = min(lo, hi) + cy * abs(hi - lo)
        plans.append((cy_px, cutout, cx, long_side))
    records = []
    for cy_px, cutout, cx, long_side in sorted(plans, key=lambda plan: plan[0]):  # nearer ones on top
        record = {"cutout": cutout.name, "x": round(cx, 2), "y": round(cy_px, 2), "long_side": round(long_side, 2)}
        angle = float(rng.uniform(-params.rotate.degrees, params.rotate.degrees)) if _draw(rng, params.rotate) else 0.0
        flip = _draw(rng, params.flip)
        shift = None
        if _draw(rng, params.perspective):
            strength = float(rng.uniform(*params.perspective.strength))
            shift = rng.uniform(-strength, strength, (4, 2))
            record["perspective"] = round(strength, 3)
        level = augment.resized_cutout(cutout.levels, long_side)
        gain0 = gain1 = np.ones(3, np.float32)
        matrix, grad_angle = None, 0.0
        cj = params.color_jitter
        if _draw(rng, cj):
            brightness = float(rng.uniform(*cj.brightness))
            saturation = float(rng.uniform(*cj.saturation))
            hue = float(rng.uniform(-cj.hue, cj.hue))
            matrix = augment.color_matrix(hue, saturation, brightness)
            record.update(brightness=round(brightness, 3), saturation=round(saturation, 3), hue=round(hue, 2))
        if _draw(rng, params.gradient):
            strength = float(rng.uniform(*params.gradient.strength))
            gain0 = (1 + rng.uniform(-strength, strength, 3) * 0.5).astype(np.float32)
            gain1 = (1 - rng.uniform(0, strength) + rng.uniform(-strength, strength, 3) * 0.25).astype(np.float32)
            grad_angle = float(rng.uniform(0, 2 * math.pi))
            record["gradient"] = round(strength, 3)
        shaded = augment.shade_object(level, matrix, gain0, gain1, grad_angle)
        sigma = float(rng.uniform(*params.feather.sigma)) if _draw(rng, params.feather) else 0.0
        extras = _object_extras(extras_rng, params, cy_px, long_side, record)
        if extras["harmonize"]:
            target = _local_mean(image, cx, cy_px, long_side)
            shaded = augment.harmonize(shaded, target, extras["harmonize"])
        homography = augment.object_homography(level.shape[1], level.shape[0], (cx, cy_px), long_side, angle, flip,
                                               shift, extras["squash"])
        box = augment.paste_object(image, coverage, shaded, homography, sigma, extras["shadow"], extras["poisson"])
        if box is not None and extras["grass"]:
            augment.grass_blades(image, coverage, box, extras["grass"], extras_rng, extras["grass_width"])
        record.update(angle=round(angle, 1), flip=flip, feather=round(sigma, 2), visible=box is not None)
        records.append(record)
    return records


def _add_distractors(image: np.ndarray, landscapes, rng: np.random.Generator, params: SynthParams) -> int:
    """Leaves, sticks, stones and landscape blobs pasted as background (never in the mask)."""
    step = params.distractors
    size = params.size
    count = int(rng.integers(step.count[0], step.count[1] + 1))
    for _ in range(count):
        long_side = draw_scale(rng, *step.scale, "log_uniform") * size
        if rng.random() < step.patch_share:
            kind = "patch"
        else:
            kind = ("leaf", "stick", "stone")[int(rng.integers(3))]
        texture = landscapes[int(rng.integers(len(landscapes)))][1] if kind == "patch" else None
        premult = augment.distractor(kind, max(4, int(round(long_side))), rng, texture)
        cx, cy = float(rng.uniform(0, size)), float(rng.uniform(0, size))
        squash = float(rng.uniform(0.5, 1.0))
        homography = augment.object_homography(premult.shape[1], premult.shape[0], (cx, cy), long_side,
                                               float(rng.uniform(-180, 180)), bool(rng.random() < 0.5), None, squash)
        shadow = None
        if rng.random() < 0.5:
            shadow = (float(rng.uniform(0.15, 0.5)), 0.08 * long_side, 0.0, 0.04 * long_side)
        augment.paste_object(image, None, premult, homography, float(rng.uniform(0.0, 0.8)), shadow)
    return count


def _add_occluders(image: np.ndarray, coverage: np.ndarray, objects: list[dict], landscapes, rng, params) -> int:
    """Blobs and background patches drawn over the pasted objects (cut out of the mask)."""
    step = params.occluders
    size = params.size
    count = int(rng.integers(step.count[0], step.count[1] + 1))
    for _ in range(count):
        target = objects[int(rng.integers(len(objects)))]
        diameter = max(3, int(round(rng.uniform(*step.size) * size)))
        jitter = target["long_side"] * 0.3
        x = int(round(target["x"] + rng.normal(0, jitter) - diameter / 2))
        y = int(round(target["y"] + rng.normal(0, jitter) - diameter / 2))
        alpha = augment.blob_alpha(diameter, "ellipse" if rng.random() < 0.5 else "polygon", rng)
        if rng.random() < step.patch_share:
            photo = landscapes[int(rng.integers(len(landscapes)))][1]
            h, w = photo.shape[:2]
            d = min(diameter, h, w)
            py, px = int(rng.integers(0, h - d + 1)), int(rng.integers(0, w - d + 1))
            fill = cv2.resize(photo[py:py + d, px:px + d], (diameter, diameter), interpolation=cv2.INTER_AREA)
        else:
            colour = rng.integers(0, 256, 3).astype(np.uint8)
            fill = np.broadcast_to(colour, (diameter, diameter, 3))
        augment.paste_occluder(image, coverage, alpha, fill, (x, y))
    return count


def generate_sample(sources: Sources, seed: int, split: str, i: int, params: SynthParams
                    ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Composite number `i` of `split`, from (seed, split, i) and the sources alone.

    Returns (image uint8 (S, S, 3) BGR, mask uint8 (S, S) 0/255, record): the
    record names the background(s) and cut-outs used and every drawn parameter
    (its `jpeg_quality` is the quality to save the image with).
    """
    size = params.size
    landscapes = sources.landscapes[split]
    cutouts = sources.cutouts[split]
    if not landscapes or not cutouts:
        raise UserError(f"no {'landscapes' if not landscapes else 'cut-outs'} for the {split} split")
    rng = _step_rng(seed, split, i, "background")
    name, photo = landscapes[int(rng.integers(len(landscapes)))]
    image, drawn = _random_crop(photo, rng, size, params.background.zoom)
    record: dict = {"background": name, "background_crop": drawn}
    coverage = np.zeros((size, size), np.float32)

    rng = _step_rng(seed, split, i, "distractors")
    if _draw(rng, params.distractors):
        record["distractors"] = _add_distractors(image, landscapes, rng, params)

    rng = _step_rng(seed, split, i, "objects")
    negative = bool(rng.random() < params.negatives)
    count = 0 if negative else int(rng.integers(1, params.max_objects + 1))
    objects = _place_objects(image, coverage, cutouts, rng, params, count,
                             _step_rng(seed, split, i, "object_extras"))
    record.update(negative=negative, objects=objects)

    rng = _step_rng(seed, split, i, "occluders")
    if objects and _draw(rng, params.occluders):
        record["occluders"] = _add_occluders(image, coverage, objects, landscapes, rng, params)

    rng = _step_rng(seed, split, i, "overlay")
    if _draw(rng, params.overlay):
        other_name, other_photo = landscapes[int(rng.integers(len(landscapes)))]
        other, _ = _random_crop(other_photo, rng, size, params.background.zoom)
        alpha = float(rng.uniform(*params.overlay.alpha))
        image = cv2.addWeighted(image, 1 - alpha, other, alpha, 0)
        record.update(overlay=other_name, overlay_alpha=round(alpha, 3))

    rng = _step_rng(seed, split, i, "lens")
    if _draw(rng, params.lens):
        # Quantised so the remap maps can be cached; the quantised value is what is applied.
        k1 = round(float(rng.normal(0, params.lens.k1_sigma)) / 0.005) * 0.005
        if k1:
            image, coverage = augment.distort_lens(image, coverage, k1)
        record["k1"] = round(k1, 3)

    rng = _step_rng(seed, split, i, "motion_blur")
    if _draw(rng, params.motion_blur):
        lo, hi = params.motion_blur.kernel
        length = int(rng.integers(lo, hi + 1))
        angle = int(rng.integers(0, 180))
        if length > 1:
            image = augment.motion_blur(image, length, angle)
        record.update(blur_kernel=length, blur_angle=angle)

    rng = _step_rng(seed, split, i, "defocus")
    if _draw(rng, params.defocus):
        sigma = float(rng.uniform(*params.defocus.sigma))
        image = augment.defocus(image, sigma)
        record["defocus"] = round(sigma, 2)

    rng = _step_rng(seed, split, i, "lighting")
    quality = params.jpeg_quality
    light = params.lighting
    if _draw(rng, light):
        brightness = float(rng.uniform(*light.brightness))
        contrast = float(rng.uniform(*light.contrast))
        gamma = float(rng.uniform(*light.gamma))
        temperature = float(rng.uniform(*light.temperature))
        noise = float(rng.uniform(*light.noise))
        quality = int(rng.integers(light.jpeg_quality[0], light.jpeg_quality[1] + 1))
        image = cv2.LUT(image, augment.lighting_lut(brightness, contrast, gamma, temperature))
        image = augment.add_noise(image, noise, sources.noise, rng)
        record.update(brightness=round(brightness, 2), contrast=round(contrast, 3), gamma=round(gamma, 3),
                      temperature=round(temperature, 3), noise=round(noise, 2))
    record["jpeg_quality"] = quality

    mask = augment.coverage_to_mask(coverage)
    record["mask_fraction"] = float(np.count_nonzero(mask)) / mask.size
    return image, mask, record


# --- the whole run ---------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(index: SourceIndex, params: SynthParams, seed: int) -> None:
    """Pool initializer: decode the sources ONCE per worker process."""
    cv2.setNumThreads(1)  # one process per core already; OpenCV threads would oversubscribe
    _WORKER.update(sources=load_sources(index, params), params=params, seed=seed)


def _encode_task(task: tuple[str, int]) -> tuple[str, int, bytes, bytes, dict]:
    split, i = task
    image, mask, record = generate_sample(_WORKER["sources"], _WORKER["seed"], split, i, _WORKER["params"])
    return split, i, encode_image(image, ".jpg", record["jpeg_quality"]), encode_image(mask, ".png"), record


def _pool_context():
    """Worker processes start from a fork server, never a fork of this process:
    forking a process whose other threads (OpenCV's pool, tqdm's monitor,
    TensorFlow) hold a lock can leave the child waiting on it for ever (seen)."""
    if sys.platform == "win32":
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["deeptrash.synth.recipe"])  # imported once, in the server
    return context


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a live process (Linux /proc VmHWM), MB; 0 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def _results(index: SourceIndex, params: SynthParams, seed: int, tasks: list[tuple[str, int]],
             workers: int, stats: dict | None = None) -> Iterator[tuple[str, int, bytes, bytes, dict]]:
    """Encoded composites for `tasks`, in order; memory stays bounded for any count.

    Workers are processes started from a fork server; a script calling this
    needs the usual `if __name__ == "__main__":` guard. `stats` receives
    `worker_peak_mb` (largest worker's peak resident memory).
    """
    stats = {} if stats is None else stats
    if workers <= 1:
        previous = cv2.getNumThreads()
        _init_worker(index, params, seed)
        try:
            for task in tasks:
                yield _encode_task(task)
        finally:
            cv2.setNumThreads(previous)
            _WORKER.clear()
        return
    chunk = max(1, min(32, len(tasks) // (workers * 8) or 1))
    window = workers * chunk * 16  # samples in flight at most: bounds memory for any number of samples
    with _pool_context().Pool(workers, initializer=_init_worker, initargs=(index, params, seed)) as pool:
        for start in range(0, len(tasks), window):
            yield from pool.imap(_encode_task, tasks[start:start + window], chunksize=chunk)
        stats["worker_peak_mb"] = max((_peak_rss_mb(p.pid) for p in pool._pool), default=0.0)


def resolve_workers(workers: int) -> int:
    """synth.workers: 0 = all cores."""
    return workers if workers > 0 else (os.cpu_count() or 1)


def synthesize(index: SourceIndex, params: SynthParams, seed: int, out_dir: str | Path,
               workers: int | None = None, preview: int = 8) -> dict:
    """Write every composite of both splits under out_dir/{train,val}/ and their samples.csv.

    Returns a summary: per split counts, negatives share, mean mask fraction,
    sources used; `timing`: workers, seconds, start-up seconds, composites/s and
    worker peak MB (these vary from run to run: not metrics); and `preview`:
    the first few train (image, mask) pairs.
    """
    out_dir = Path(out_dir)
    workers = resolve_workers(params.workers if workers is None else workers)
    counts = {"train": params.train, "val": params.val}
    tasks = [(split, i) for split in SPLITS for i in range(counts[split])]
    rows: dict[str, list[dict]] = {s: [] for s in SPLITS}
    previews: list[tuple[np.ndarray, np.ndarray]] = []
    for split in SPLITS:
        (out_dir / split / "images").mkdir(parents=True, exist_ok=True)
        (out_dir / split / "masks").mkdir(parents=True, exist_ok=True)
    stats: dict = {}
    started = time.perf_counter()
    first = None
    results = _results(index, params, seed, tasks, workers, stats)
    for split, i, jpeg, png, record in tqdm(results, total=len(tasks), desc="synthesize", unit="img", disable=None):
        if first is None:
            first = time.perf_counter() - started
        stem = f"{i:06d}"
        atomic_write_bytes(out_dir / split / "images" / f"{stem}.jpg", jpeg)
        atomic_write_bytes(out_dir / split / "masks" / f"{stem}.png", png)
        rows[split].append(_sample_row(stem, record))
        if split == "train" and len(previews) < preview:
            previews.append((decode_image(jpeg), decode_image(png)))
    seconds = time.perf_counter() - started
    summary: dict = {"timing": {
        "workers": workers,
        "seconds": round(seconds, 3),
        "startup_seconds": round(first or 0.0, 3),  # until the first composite: pool start, source decoding
        "composites_per_second": round(len(tasks) / max(seconds, 1e-9), 1),
        "worker_peak_mb": round(stats.get("worker_peak_mb", 0.0), 1),
    }}
    import pandas as pd
    for split in SPLITS:
        frame = pd.DataFrame(rows[split])
        atomic_write_csv(out_dir / split / "samples.csv", frame)
        summary[split] = {
            "samples": len(frame),
            "negatives": int((frame["mask_fraction"] == 0).sum()),
            "negatives_share": float((frame["mask_fraction"] == 0).mean()),
            "mean_mask_fraction": float(frame["mask_fraction"].mean()),
            "mean_objects": float(frame["objects"].mean()),
            "landscapes": len(index.landscapes[split]),
            "cutouts": len(index.cutouts[split]),
            "cutout_source_photos": len({f.group for f in index.cutouts[split]}),
        }
    summary["preview"] = previews
    return summary


def _sample_row(stem: str, record: dict) -> dict:
    objects = record["objects"]
    return {
        "image": f"images/{stem}.jpg",
        "mask": f"masks/{stem}.png",
        "background": record["background"],
        "overlay": record.get("overlay", ""),
        "cutouts": ";".join(o["cutout"] for o in objects),
        "objects": len(objects),
        "negative": record["negative"],
        "mask_fraction": round(record["mask_fraction"], 5),
        "params": json.dumps({k: v for k, v in record.items()
                              if k not in ("background", "overlay", "mask_fraction", "negative")},
                             sort_keys=True, separators=(",", ":")),
    }


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
