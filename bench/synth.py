"""Benchmark the synthesize recipe: composites per second, 1 worker vs all cores.

    python bench/synth.py                       # makes its own noise landscapes + RGBA cut-outs
    python bench/synth.py --landscapes DIR --cutouts DIR   # folders of query folders (stage inputs)
    python bench/synth.py --profile             # cProfile of 1-worker generation, top functions

Times the same code path as the stage (generate, encode, write JPEG + PNG) with
every recipe step on (p = 1 for each step: the worst case), at 256x256 and
512x512, for 1 worker and for all cores, and in the same run a BASELINE: a plain
single-process OpenCV generator of a simpler segmenty-like recipe that reads its
backgrounds from disk for every sample (the ~75 composites/s reference).
Also prints peak resident memory of this process and of its largest child.
Numbers on a machine shared with other work are noisy: run it twice.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deeptrash.synth_params import SynthParams  # noqa: E402
from deeptrash.synth import pool, recipe, sources as synth_sources  # noqa: E402


def make_sources(root: Path, landscapes: int = 24, cutouts: int = 36, seed: int = 0) -> tuple[Path, Path]:
    """Write noise landscapes (640x480 JPEG) and random-polygon RGBA cut-outs in query folders."""
    rng = np.random.default_rng(seed)
    land, cuts = root / "landscape", root / "cutouts"
    for q in range(3):
        folder = land / f"query{q}"
        folder.mkdir(parents=True)
        names = []
        for k in range(landscapes // 3):
            base = rng.integers(40, 200, 3)
            noise = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 1 + k % 4)
            image = cv2.addWeighted(noise, 0.5, np.full_like(noise, 0) + base.astype(np.uint8), 0.5, 0)
            names.append(f"land{q}_{k}.jpg")
            cv2.imwrite(str(folder / names[-1]), image)
        pd.DataFrame({"file": names}).to_csv(folder / "kept.csv", index=False)
    for q in range(3):
        folder = cuts / f"trash{q}"
        folder.mkdir(parents=True)
        rows = []
        for k in range(cutouts // 3):
            h, w = int(rng.integers(120, 300)), int(rng.integers(120, 300))
            image = np.zeros((h, w, 4), np.uint8)
            image[:, :, :3] = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
            angles = np.sort(rng.uniform(0, 2 * math.pi, 7))
            points = np.stack([w / 2 + np.cos(angles) * w * 0.45, h / 2 + np.sin(angles) * h * 0.45], 1)
            alpha = np.zeros((h, w), np.uint8)
            cv2.fillPoly(alpha, [points.astype(np.int32)], 255, cv2.LINE_AA)
            image[:, :, 3] = alpha
            name = f"src{q}_{k}_0.png"
            cv2.imwrite(str(folder / name), image)
            rows.append({"file": name, "source": f"src{q}_{k}", "status": "ok"})
        pd.DataFrame(rows).to_csv(folder / "cutouts.csv", index=False)
    return land, cuts


def all_steps_on(size: int, samples: int) -> SynthParams:
    """Defaults with every random step applied to every image (p = 1): the worst case."""
    steps = ["rotate", "flip", "perspective", "color_jitter", "gradient", "feather", "occluders", "overlay",
             "lens", "motion_blur", "lighting"]
    defaults = SynthParams()
    return SynthParams(size=size, train=samples, val=max(1, samples // 10), negatives=0.0,
                       **{s: {**getattr(defaults, s).model_dump(), "p": 1.0} for s in steps})


def time_recipe(index, params: SynthParams, workers: int, out: Path) -> dict:
    """Run the stage's code path; composites/s overall and after start-up, start-up s, worker MB."""
    cpu = time.process_time()
    summary = pool.synthesize(index, params, 0, out, workers=workers, preview=0)["timing"]
    cpu = time.process_time() - cpu  # this process only: meaningful for workers=1
    total = params.train + params.val
    steady = (total - 1) / max(summary["seconds"] - summary["startup_seconds"], 1e-9)
    return {"rate": summary["composites_per_second"], "steady": steady, "startup": summary["startup_seconds"],
            "worker_mb": summary["worker_peak_mb"], "cpu_ms": cpu / total * 1e3}


# --- the baseline: a plain single-process generator ------------------------------------


def baseline(landscape_paths: list[Path], cutout_paths: list[Path], size: int, samples: int, out: Path) -> float:
    """Segmenty-like recipe, one process, backgrounds decoded from disk per sample,
    full-frame warps and a lens map rebuilt for every image. Returns composites/s."""
    rng = np.random.default_rng(0)
    cutouts = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in cutout_paths]
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for i in range(samples):
        bg = cv2.imread(str(landscape_paths[rng.integers(len(landscape_paths))]))
        image = cv2.resize(bg, (size, size)).astype(np.float32)
        mask = np.zeros((size, size), np.float32)
        if rng.random() > 0.2:
            for _ in range(int(rng.integers(1, 4))):
                cut = cutouts[rng.integers(len(cutouts))]
                h, w = cut.shape[:2]
                # Two-colour linear gradient shading, brightness x U(0.33, 1).
                ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
                shade = (rng.uniform(0.5, 1, 3) * (1 - ramp) + rng.uniform(0.5, 1, 3) * ramp) * rng.uniform(0.33, 1)
                rgb = cut[:, :, :3].astype(np.float32) * shade
                scale = rng.uniform(0.2, 0.5) * size / max(h, w)
                cx, cy = rng.uniform(0, size, 2)
                src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
                dst = np.float32([[cx + (x - w / 2) * scale + rng.normal(0, 3), cy + (y - h / 2) * scale + rng.normal(0, 3)]
                                  for x, y in src])
                m = cv2.getPerspectiveTransform(src, dst)
                warped = cv2.warpPerspective(rgb, m, (size, size))
                alpha = cv2.warpPerspective(cut[:, :, 3].astype(np.float32) / 255, m, (size, size))
                image = image * (1 - alpha[:, :, None]) + warped * alpha[:, :, None]
                mask = np.maximum(mask, alpha)
        for _ in range(10):
            centre = tuple(int(v) for v in rng.integers(0, size, 2))
            axes = tuple(int(v) for v in rng.integers(2, size // 16, 2))
            cv2.ellipse(image, centre, axes, 0, 0, 360, tuple(float(v) for v in rng.uniform(0, 255, 3)), -1)
            cv2.ellipse(mask, centre, axes, 0, 0, 360, 0.0, -1)
        other = cv2.resize(cv2.imread(str(landscape_paths[rng.integers(len(landscape_paths))])), (size, size))
        t = rng.uniform(0, 0.5)
        image = image * (1 - t) + other * t
        k1 = rng.normal(0, 0.001)
        ys, xs = np.indices((size, size), dtype=np.float32)
        r2 = ((xs - size / 2) ** 2 + (ys - size / 2) ** 2)
        map_x, map_y = (xs - size / 2) * (1 + k1 * r2 / size) + size / 2, (ys - size / 2) * (1 + k1 * r2 / size) + size / 2
        image = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR)
        mask = cv2.remap(mask, map_x, map_y, cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            k = int(rng.integers(3, 16))
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2] = 1 / k
            image = cv2.filter2D(image, -1, kernel)
        cv2.imwrite(str(out / "images" / f"{i:06d}.jpg"), np.clip(image, 0, 255).astype(np.uint8))
        cv2.imwrite(str(out / "masks" / f"{i:06d}.png"), ((mask > 0.5) * 255).astype(np.uint8))
    return samples / (time.perf_counter() - started)


def peak_mb() -> tuple[float, float]:
    """Peak resident set (MB) of this process and of its largest child (Linux ru_maxrss is KB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--landscapes", help="folder of landscape query folders (default: generated)")
    parser.add_argument("--cutouts", help="folder of cut-out query folders (default: generated)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--samples", type=int, default=2000, help="composites per measurement at 256 px (fewer at larger sizes; the ~1 s pool start-up is amortised as in a real run of thousands)")
    parser.add_argument("--workers", type=int, default=0, help="'all cores' worker count (0 = os.cpu_count())")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of 1-worker generation and exit")
    args = parser.parse_args()
    cores = pool.resolve_workers(args.workers)
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        tmp = Path(tmp)
        if args.landscapes and args.cutouts:
            land, cuts = Path(args.landscapes), Path(args.cutouts)
        else:
            land, cuts = make_sources(tmp / "sources")
        print(f"sources: {land} and {cuts}; {os.cpu_count()} cores; all-cores runs use {cores} workers")
        if args.profile:
            params = all_steps_on(args.sizes[0], args.samples)
            index = synth_sources.find_sources(land, cuts, params)
            loaded = synth_sources.load_sources(index, params)
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(params.train):
                recipe.generate_sample(loaded, 0, "train", i, params)
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(18)
            print(text.getvalue())
            return
        landscape_paths = sorted(land.rglob("*.jpg")) + sorted(land.rglob("*.png"))
        cutout_paths = sorted(cuts.rglob("*.png"))
        print("composites/s overall (after start-up in brackets); start-up = pool start + decoding sources")
        print(f"{'size':>5} {'baseline 1 proc':>16} {'recipe 1 worker':>24} {f'recipe {cores} workers':>24} "
              f"{'speed-up':>15} {'vs baseline':>12} {'start-up':>8}")
        worker_mb = 0.0
        for size in args.sizes:
            samples = max(50, args.samples * 256 * 256 // (size * size))
            params = all_steps_on(size, samples)
            index = synth_sources.find_sources(land, cuts, params)
            base = baseline(landscape_paths, cutout_paths, size, samples, tmp / f"base{size}")
            one = time_recipe(index, params, 1, tmp / f"one{size}")
            many = time_recipe(index, params, cores, tmp / f"many{size}")
            worker_mb = max(worker_mb, many["worker_mb"])
            print(f"{size:>5} {base:>14.1f}/s {one['rate']:>9.1f}/s ({one['steady']:>6.1f}/s) "
                  f"{many['rate']:>9.1f}/s ({many['steady']:>6.1f}/s) {many['rate'] / one['rate']:>6.2f}x "
                  f"({many['steady'] / one['steady']:.2f}x) {many['rate'] / base:>11.2f}x {many['startup']:>7.2f}s",
                  flush=True)
            print(f"       1 worker: {one['cpu_ms']:.2f} CPU ms per composite -> an idle {cores}-core machine "
                  f"could make about {cores * 1000 / one['cpu_ms']:.0f}/s (CPU time is less sensitive to other load)",
                  flush=True)
        own, _ = peak_mb()
        print(f"peak memory (resource.getrusage self / /proc VmHWM of workers): this process {own:.0f} MB, "
              f"largest worker {worker_mb:.0f} MB")
        print("targets (2-core machine): >= 250 composites/s at 256 px with all cores; speed-up >= 1.7x")


if __name__ == "__main__":
    main()
