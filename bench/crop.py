"""Benchmark the crop stage's cut-outs: quality (IoU against true masks) and speed.

    python bench/crop.py                       # demo trash photos (true masks from the demo engine)
    python bench/crop.py --per-query 20 --size 320
    python bench/crop.py --folder /work/shared/real_sources/trash --sheet /tmp/real_cutouts.png
    python bench/crop.py --no-demo --folder data/clean/trash/KEY --truth data/raw/trash/KEY/truth
    python bench/crop.py --no-demo --folder ../shared/real_sources/trash \
        --truth bench/crop_truth/real_sources_trash --versus main --sheet /tmp/real_cutouts.png

Prints, for the demo set, the median and 10th-percentile IoU of the pasted-back
cut-out alpha (>= 128) against the true mask, the acceptance rate, and
cut-outs per second. The baseline, measured in the same run on the same
photos, is the naive seed GrabCut is compared with: "a rectangle 5% inside
the photo" (cv2.GC_INIT_WITH_RECT, the usual hands-off GrabCut), plus the
plain seed threshold without GrabCut, both timed alike.

With --folder it also runs on real photos: cut-outs/s, acceptance rate, the
IoU figures where a `truth/` folder beside the photos holds masks with the
same stem (or in --truth), and a contact sheet of the photos with the cut
outlines drawn (green accepted, red text = rejection reason) to inspect by eye.
A true mask that fills the frame (over `max_area` of the photo or touching
more than `max_border_touch` of its border) says "no usable cut-out here": on
those photos rejection is the right answer and any cut-out counts as junk.
IoU figures are over the other (object) masks, a rejected photo scoring 0;
"junk" counts kept cut-outs with IoU < 0.5, which teach the model wrong
objects and so matter more than misses.

--versus REF also runs the crop code (deeptrash/clean/crop.py, cutout.py) as it is at git revision REF (e.g.
main) on the same photos in the same run: the before/after of a change.

Speed is given per wall-clock second and per CPU second of this process
(time.process_time: GrabCut is single-threaded, so that is the per-core rate
and holds up better on a busy machine). Compare numbers from the same run.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deeptrash.clean import crop, cutout  # noqa: E402
from deeptrash.io import decode_image, list_images, read_image, read_mask, shrink_factor, write_image  # noqa: E402
from deeptrash.measure.metrics import iou  # noqa: E402
from deeptrash.params import CropParams  # noqa: E402
from deeptrash.plots import contact_sheet  # noqa: E402

DEMO_QUERIES = ("plastic bottle litter", "crushed soda can", "plastic bag litter", "candy wrapper litter",
                "cigarette butt litter", "paper cup", "juice carton", "bottle lid", "drinking straw")


def demo_set(per_query: int, size: int, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Clean demo trash photos (junk skipped): [(name, uint8 BGR, bool truth)]."""
    from deeptrash.scrape.demo.photos import demo_photos

    photos = []
    for query in DEMO_QUERIES:
        for i, photo in enumerate(demo_photos("trash", query, per_query, seed, size=size, junk_share=0.0)):
            if photo.junk is None and photo.truth is not None:
                photos.append((f"{query.split()[0]}{i}", decode_image(photo.data), photo.truth > 127))
    return photos


def folder_set(folder: Path, truth_dir: Path | None = None) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """Photos of `folder` with truth masks from `truth_dir/<stem>.png` (default `folder/truth/`) where present."""
    photos = []
    truth_dir = truth_dir or folder / "truth"
    for path in list_images(folder):
        truth_path = truth_dir / f"{path.stem}.png"
        truth = read_mask(truth_path) if truth_path.is_file() else None
        photos.append((path.stem[-12:], read_image(path), None if truth is None else truth > 127))
    return photos


def rect_baseline(image: np.ndarray, params) -> np.ndarray:
    """The hands-off GrabCut everyone tries first: a rectangle 5% inside the photo, at the same working size."""
    bgr = image[:, :, :3]
    h, w = bgr.shape[:2]
    box = (round(0.05 * w), round(0.05 * h), round(0.9 * w), round(0.9 * h))
    try:
        piece, _ = cutout.box_mask(bgr, box, params.work_size)
    except cv2.error:
        return np.zeros((h, w), bool)
    return cutout.upsample_mask(piece, (h, w))


def threshold_baseline(image: np.ndarray, params) -> np.ndarray:
    """The seed alone (border colour model thresholded), no GrabCut: how much GrabCut adds."""
    bgr = np.ascontiguousarray(image[:, :, :3])
    scale = shrink_factor(bgr.shape, params.work_size)
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    strip = cutout.border_strip(small.shape[:2], max(2, round(0.03 * max(small.shape[:2]))))
    seed = cutout.seed_labels(cutout.background_distance(cutout.to_lab(small), strip), strip) == cv2.GC_PR_FGD
    pieces, _ = cutout.split_pieces(cutout.clean_mask(seed), params.min_piece)
    mask = np.zeros(small.shape[:2], bool)
    for piece in pieces[: params.max_pieces]:
        mask |= piece
    return cutout.upsample_mask(mask, bgr.shape[:2])


def _git_show(revision: str, path: str) -> str | None:
    """The text of `path` at git `revision`, None if it is not there."""
    repo = Path(__file__).resolve().parent.parent
    shown = subprocess.run(["git", "-C", str(repo), "show", f"{revision}:{path}"], capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def _load_source(name: str, source: str):
    """Import `source` as a new module called `name` (a separate copy, beside the current code)."""
    path = Path(tempfile.mkdtemp(prefix="crop_versus_")) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def load_crop_at(revision: str):
    """The crop code as it is at git `revision`, imported as a separate module (the before of a change).

    deeptrash/clean/crop.py with the deeptrash/clean/cutout.py of that revision
    (not today's), or the older single file deeptrash/crop.py.
    """
    tag = re.sub(r"\W", "_", revision)
    source = _git_show(revision, "deeptrash/clean/crop.py") or _git_show(revision, "deeptrash/crop.py")
    if source is None:
        sys.exit(f"error: --versus {revision}: no deeptrash/clean/crop.py or deeptrash/crop.py there")
    cutout = _git_show(revision, "deeptrash/clean/cutout.py")
    if cutout is not None:
        _load_source(f"cutout_at_{tag}", cutout)
        source = source.replace("from deeptrash.clean.cutout import", f"from cutout_at_{tag} import")
    return _load_source(f"crop_at_{tag}", source)


def fills_frame(truth: np.ndarray, params) -> bool:
    """True when a bool (H, W) true mask leaves no usable cut-out: the object fills or leaves the frame."""
    return truth.mean() > params.max_area or crop.border_touch(truth) > params.max_border_touch


def run(photos, params, label: str, module=crop, verbose: bool = False) -> dict:
    """Crop every photo with `module` (deeptrash.clean.crop or an older copy); print and return IoU, acceptance, speed."""
    ious, candidates, cutouts, rows, junk, framed, framed_kept = [], 0, 0, [], 0, 0, 0
    started, cpu_started = time.perf_counter(), time.process_time()
    results = [module.crop_photo(image, params) for _, image, _ in photos]
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    for (name, image, truth), cands in zip(photos, results):
        candidates += len(cands)
        kept = sum(c.status == crop.OK for c in cands)
        cutouts += kept
        if truth is not None:
            pasted = crop.paste_alpha(cands, truth.shape)
            if fills_frame(truth, params):
                framed += 1
                framed_kept += bool(kept)
                score = "fills frame: " + ("KEPT (junk)" if kept else "rejected (right)")
            else:
                ious.append(iou(pasted, truth))
                junk += bool(kept) and ious[-1] < 0.5
                score = f"IoU {ious[-1]:.3f}"
            if verbose:
                reasons = ",".join(c.reason for c in cands if c.status == crop.REJECTED)
                print(f"    {name:>14} {score:<28} kept {kept} {reasons}")
        rows.append((name, image, cands))
    with_cutout = sum(any(c.status == crop.OK for c in r[2]) for r in rows)
    report = {"photos": len(photos), "cutouts": cutouts, "candidates": candidates, "seconds": seconds, "ious": ious}
    print(f"{label}: {len(photos)} photos, {cutouts} cut-outs, acceptance {cutouts / max(candidates, 1):.2f} "
          f"of candidates, photos with a cut-out {with_cutout} ({with_cutout / max(len(rows), 1):.2f})")
    print(f"  speed: {len(photos) / seconds:.1f} photos/s, {cutouts / seconds:.1f} cut-outs/s wall clock "
          f"({seconds:.1f} s); per CPU second: {len(photos) / cpu:.1f} photos, {cutouts / cpu:.1f} cut-outs")
    if ious:
        print(f"  IoU vs truth over {len(ious)} object photos (rejected = 0): median {np.median(ious):.3f}, "
              f"10th percentile {np.percentile(ious, 10):.3f}, mean {np.mean(ious):.3f}; "
              f"kept {sum(v > 0 for v in ious)}, junk kept (IoU < 0.5) {junk}")
    if framed:
        print(f"  frame-filling truth: {framed} photos, {framed - framed_kept} rightly rejected, "
              f"{framed_kept} kept (junk)")
    report["rows"] = rows
    return report


def baseline(photos, params, method, label: str) -> None:
    """Time and score a baseline mask function on the photos that have an object truth mask."""
    scored = [(image, truth) for _, image, truth in photos if truth is not None and not fills_frame(truth, params)]
    if not scored:
        return
    cpu_started = time.process_time()
    masks = [method(image, params) for image, _ in scored]
    cpu = time.process_time() - cpu_started
    ious = [iou(mask, truth) for mask, (_, truth) in zip(masks, scored)]
    print(f"  baseline {label}: IoU median {np.median(ious):.3f}, 10th percentile {np.percentile(ious, 10):.3f}; "
          f"{len(scored) / cpu:.1f} photos per CPU second")


def outline_sheet(rows, path: Path, limit: int = 96) -> None:
    """Photos with accepted cut-outs outlined in green and rejection reasons written on them."""
    tiles, labels = [], []
    for name, image, cands in rows[:limit]:
        if image is None:
            continue
        vis = np.ascontiguousarray(image[:, :, :3]).copy()
        thick = max(1, round(max(vis.shape[:2]) / 150))
        for c in cands:
            if c.status == crop.OK:
                mask = np.zeros(vis.shape[:2], np.uint8)
                mask[c.y:c.y + c.h, c.x:c.x + c.w] = (c.image[:, :, 3] >= 128) * 255
                contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
                cv2.drawContours(vis, contours, -1, (0, 255, 0), thick)
        reasons = ",".join(c.reason[:8] for c in cands if c.status == "rejected")
        tiles.append(vis)
        labels.append(f"{name[-16:]} {reasons}")
    write_image(path, contact_sheet(tiles, labels, columns=8, tile=150, title=str(path.stem)))
    print(f"  contact sheet: {path}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-query", type=int, default=12, help="demo photos per query (9 queries)")
    parser.add_argument("--size", type=int, default=320, help="demo photo long side, px")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folder", type=Path, help="also run on the photos of this folder (truth/ beside if any)")
    parser.add_argument("--truth", type=Path, help="folder of true masks <stem>.png for --folder "
                        "(default FOLDER/truth; e.g. data/raw/trash/KEY/truth for data/clean/trash/KEY)")
    parser.add_argument("--sheet", type=Path, default=Path("/tmp/crop_bench_sheet.png"),
                        help="contact sheet of the --folder run (default %(default)s)")
    parser.add_argument("--demo-sheet", type=Path, help="also write a contact sheet of the demo run here")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo set")
    parser.add_argument("--versus", metavar="REF", help="also run the crop code at git revision REF "
                        "(e.g. main) on the same photos: before vs after")
    parser.add_argument("--verbose", action="store_true", help="print every photo with a true mask")
    args = parser.parse_args(argv)
    params = CropParams()
    print(f"crop params: {params}")

    before = load_crop_at(args.versus) if args.versus else None
    if not args.no_demo:
        photos = demo_set(args.per_query, args.size, args.seed)
        if before:
            run(photos, params, f"BEFORE ({args.versus}) demo trash ({args.size} px)", module=before)
        report = run(photos, params, f"demo trash ({args.size} px)")
        baseline(photos, params, rect_baseline, "GrabCut from a rectangle 5% inside")
        baseline(photos, params, threshold_baseline, "border-model seed without GrabCut")
        if args.demo_sheet:
            worst = sorted(zip(report["ious"], report["rows"]), key=lambda pair: pair[0])
            outline_sheet([(f"{v:.2f} {row[0]}", *row[1:]) for v, row in worst], args.demo_sheet)
    if args.folder:
        photos = folder_set(args.folder, args.truth)
        if before:
            run(photos, params, f"BEFORE ({args.versus}) folder {args.folder}", module=before, verbose=args.verbose)
        report = run(photos, params, f"folder {args.folder}", verbose=args.verbose)
        baseline(photos, params, rect_baseline, "GrabCut from a rectangle 5% inside")
        outline_sheet(report["rows"], args.sheet)


if __name__ == "__main__":
    main()
