"""The synth stage's run: every composite of both splits, made in worker processes and written.

:func:`synthesize` runs :func:`deeptrash.synth.recipe.generate_sample` over all
indices in worker processes (each decodes the sources once) and writes
`images/NNNNNN.jpg`, `masks/NNNNNN.png` and `samples.csv` per split.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from tqdm import tqdm

from deeptrash.io import atomic_write_bytes, atomic_write_csv, decode_image, encode_image
from deeptrash.synth_params import SynthParams

from deeptrash.synth.recipe import generate_sample
from deeptrash.synth.sources import SPLITS, SourceIndex, load_sources

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
    context.set_forkserver_preload(["deeptrash.synth.pool"])  # imported once, in the server
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
