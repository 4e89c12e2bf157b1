"""Photo quality checks for one query's folder: what the filter stage keeps.

Every photo gets at most one rejection reason, the first that applies in
``REASONS`` order (cheap and certain checks first). The checks:

- ``excluded``: a person said so: the photo's file-hash prefix is listed in
  ``filter.landscape_exclude.<key>`` (e.g. litter the audit stage found in
  a landscape); see :func:`resolve_exclusions`. Not decoded at all.
- ``corrupt``: OpenCV or Pillow cannot decode the whole file (a truncated
  JPEG that OpenCV half-decodes is caught by Pillow).
- ``too_small``, ``extreme_aspect``: our own, from the decoded size.
- ``transparent``: a real alpha channel (at least ``min_alpha_share`` of the
  pixels not fully opaque). Landscapes reject it (`transparency: reject`);
  trash keeps it and marks ``has_alpha`` so that crop uses the alpha directly.
  An alpha channel that is opaque everywhere does not count.
- ``grayscale``, ``dark``, ``light``, ``low_information``, ``duplicate``:
  cleanvision 0.3.7
  (Imagelab) on *analysis copies*: each photo decoded by OpenCV, alpha
  flattened over mid grey (so a cut-out's transparent black is not "dark"),
  shrunk to at most ``ANALYSIS_SIDE`` px, written as BMP (one channel when the
  photo is grey, which is what cleanvision's grayscale check looks at). The
  copies make cleanvision immune to odd modes (palette, 16-bit, CMYK) and
  keep it fast on big photos.
- ``odd_size``: cleanvision's IQR rule on the original sizes, computed here
  (see :func:`odd_small_sizes`); only photos far *smaller* than the query's
  others are rejected.
- ``blurry``: our own RMS Laplacian (:func:`sharpness`). cleanvision's blurry
  score works at 64 px and adds a histogram-spread term that *rises* when a
  small photo is blurred (checked: sigma 2 -> 0.47, sigma 10 -> 0.60), so it
  cannot separate blurred from sharp here.
- ``text_overlay``: deeptrash.clean.text.text_score above ``max_text_score``.
- Duplicates: cleanvision's exact sets (pixel md5); near duplicates are
  perceptual hashes (imagehash, as cleanvision uses) within
  ``near_duplicate_distance`` bits (:func:`near_duplicate_sets`).
  In each set the first file by name that passed every other check is kept,
  the others are rejected; so a clean copy survives when the first is blurry.

Duplicates across queries are not looked for here (synthesize does that).
"""
from __future__ import annotations

import io
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from tqdm import tqdm

from deeptrash.clean.text import text_score
from deeptrash.errors import UserError
from deeptrash.io import decode_image, encode_image, flatten_alpha, scale_by, shrink_factor
from deeptrash.params import KindFilterParams

log = logging.getLogger(__name__)

REASONS = (
    "excluded", "corrupt", "too_small", "extreme_aspect", "transparent", "grayscale", "dark", "light",
    "low_information", "blurry", "odd_size", "text_overlay", "duplicate", "near_duplicate",
)
ANALYSIS_SIDE = 512
GRAY_TOLERANCE = 6   # grey levels the colour channels may differ by in a grey photo
KEPT_COLUMNS = [
    "file", "width", "height", "has_alpha", "alpha_share", "text_score",
    "sharpness", "dark_score", "light_score", "information_score",
]
REJECT_COLUMNS = ["file", "reason", "score", "detail"]


@dataclass
class PhotoCheck:
    """What the filter learned about one file; `reason` is None while it is kept."""

    file: str
    width: int = 0
    height: int = 0
    has_alpha: bool = False
    alpha_share: float = 0.0
    text_score: float = float("nan")
    scores: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    score: float = float("nan")
    detail: str = ""

    def reject(self, reason: str, score: float, detail: str = "") -> None:
        """Record the first reason only (REASONS order is the order checks run)."""
        if self.reason is None:
            self.reason, self.score, self.detail = reason, float(score), detail


# --- small pure checks ----------------------------------------------------------

def alpha_share(image: np.ndarray) -> float:
    """Share of pixels that are not fully opaque in a uint8 (H, W, 4) BGRA image; 0 without alpha."""
    if image.ndim != 3 or image.shape[2] != 4:
        return 0.0
    return float(np.mean(image[:, :, 3] < 255))


def aspect_ratio(width: int, height: int) -> float:
    """Long side over short side (>= 1)."""
    return max(width, height) / max(1, min(width, height))


def is_grayscale(image: np.ndarray, tolerance: int = GRAY_TOLERANCE) -> bool:
    """True when a uint8 BGR(A) image has (nearly) equal colour channels everywhere (99.5 % of pixels)."""
    if image.ndim == 2:
        return True
    bgr = image[:, :, :3].astype(np.int16)
    spread = bgr.max(axis=2) - bgr.min(axis=2)
    return float(np.mean(spread > tolerance)) < 0.005


def sharpness(image: np.ndarray, side: int = 256) -> float:
    """Root-mean-square Laplacian of the grey image shrunk to at most a `side` px long side.

    image: uint8 (H, W, 3|4) or (H, W). Sharp real photos score about 9-40
    (5th-50th percentile on the real_sources photos), the same photos blurred
    by a Gaussian of 0.6 % of their long side 3-6, by 1.2 % about 2.
    """
    gray = flatten_alpha(image) if image.ndim == 3 else image
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    # Never enlarged: interpolation would blur a small photo.
    gray = scale_by(gray, shrink_factor(gray.shape, side))
    laplacian = cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F)
    return float(np.sqrt(np.mean(laplacian ** 2)))


def near_duplicate_sets(paths: list[str], hash_size: int, max_distance: int) -> list[list[str]]:
    """Groups of `paths` whose perceptual hashes (imagehash.phash, hash_size**2 bits) differ
    in at most `max_distance` bits, linked transitively; groups of one are left out.

    cleanvision's own near-duplicate check needs identical hashes, which a
    brightness shift or a re-encode already breaks (2 bits of 64).
    """
    import imagehash

    if len(paths) < 2:
        return []
    bits = []
    for path in paths:
        with Image.open(path) as image:
            bits.append(imagehash.phash(image, hash_size=hash_size).hash.ravel())
    bits = np.array(bits, dtype=bool)
    distance = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    close = np.triu(distance <= max_distance, 1)
    # Components of the "close" graph; label k's smallest member comes before label k+1's,
    # so groups keep the order of `paths`.
    _, labels = connected_components(coo_matrix(close), directed=False)
    groups: dict[int, list[str]] = {}
    for label, path in zip(labels, paths):
        groups.setdefault(int(label), []).append(path)
    return [g for g in groups.values() if len(g) > 1]


def analysis_copy(image: np.ndarray, side: int = ANALYSIS_SIDE) -> np.ndarray:
    """What cleanvision sees: alpha flattened, long side <= `side`, one channel if grey.

    image: uint8 (H, W, 3|4). Returns uint8 (h, w, 3) BGR or (h, w) grey.
    """
    bgr = flatten_alpha(image)
    bgr = scale_by(bgr, shrink_factor(bgr.shape, side))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if is_grayscale(bgr) else bgr


def pillow_error(data: bytes) -> str | None:
    """Why Pillow cannot fully decode `data` (cleanvision's reader), or None if it can."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception as error:  # Pillow raises many types for broken files
        return f"{type(error).__name__}: {error}".splitlines()[0][:120]
    return None


def odd_small_sizes(widths: list[int], heights: list[int], iqr_factor: float) -> list[float | None]:
    """For each photo: size / median size when it is far smaller than the others, else None.

    cleanvision's odd-size rule on sqrt(width * height): odd below
    q1 - iqr_factor * IQR. Its own implementation degenerates when most photos
    share one size (IQR 0: every other size is "odd", even a larger one), so the
    IQR here is at least a tenth of the median, and larger photos are never odd.
    """
    if iqr_factor <= 0 or len(widths) < 4:
        return [None] * len(widths)
    size = np.sqrt(np.asarray(widths, np.float64) * np.asarray(heights, np.float64))
    q1, median, q3 = np.percentile(size, [25, 50, 75])
    lower = q1 - iqr_factor * max(q3 - q1, 0.1 * median)
    return [round(float(s / median), 4) if s < lower else None for s in size]


# --- cleanvision ----------------------------------------------------------------

def run_cleanvision(paths: list[str], params: KindFilterParams) -> tuple[pd.DataFrame, dict]:
    """cleanvision issues for analysis copies `paths`.

    Returns (issues indexed by path with `<issue>_score` / `is_<issue>_issue`
    columns, {"exact_duplicates": [[path, ...], ...], "near_duplicates": [...]}).
    """
    from cleanvision import Imagelab

    issue_types: dict[str, dict] = {
        "dark": {"threshold": params.dark_threshold},
        "light": {"threshold": params.light_threshold},
        "low_information": {"threshold": params.low_information_threshold},
        "grayscale": {},
        "exact_duplicates": {},
    }
    started = time.perf_counter()
    lab = Imagelab(filepaths=paths, verbose=False)
    # One process: the stage runs many queries side by side under DVC, and a
    # process pool costs more than it saves on a few hundred small copies.
    lab.find_issues(issue_types, n_jobs=1, verbose=False)
    log.info("cleanvision: %d photos in %.1f s", len(paths), time.perf_counter() - started)
    sets = {"exact_duplicates": [list(s) for s in lab.info.get("exact_duplicates", {}).get("sets", [])]}
    if params.near_duplicates:
        sets["near_duplicates"] = near_duplicate_sets(
            paths, params.near_duplicate_hash_size, params.near_duplicate_distance)
    return lab.issues, sets


# --- the whole folder -----------------------------------------------------------

def resolve_exclusions(prefixes: list[str], names: list[str], key: str) -> dict[str, str]:
    """Map each excluded file name to the prefix that names it.

    prefixes: entries of `filter.<key>` (hex digits); names: the file names of
    the query's photos. A prefix matching no photo, or more than one, is a
    UserError naming `key` (a typo, a photo from another query, too few digits).
    """
    excluded: dict[str, str] = {}
    for prefix in prefixes:
        matches = [name for name in names if name.startswith(prefix)]
        if not matches:
            raise UserError(f"params.yaml: filter.{key}: {prefix} matches no photo of this query")
        if len(matches) > 1:
            raise UserError(f"params.yaml: filter.{key}: {prefix} matches {len(matches)} photos "
                            f"({', '.join(sorted(matches)[:2])}...); give more digits")
        excluded[matches[0]] = prefix
    return excluded


def check_photos(files: list[Path], params: KindFilterParams, excluded: dict[str, str] | None = None) -> list[PhotoCheck]:
    """Run every check on `files` (sorted by name); returns one PhotoCheck per file, same order.

    excluded: file name -> the prefix that excludes it (:func:`resolve_exclusions`);
    those photos are rejected as ``excluded`` without being read.
    """
    files = sorted(files, key=lambda p: p.name)
    checks = [PhotoCheck(file=p.name) for p in files]
    excluded = excluded or {}
    with tempfile.TemporaryDirectory(prefix="deeptrash-filter-") as scratch:
        copies: dict[int, str] = {}
        for i, (path, check) in enumerate(tqdm(list(zip(files, checks)), desc="filter", unit="photo")):
            if path.name in excluded:
                check.reject("excluded", 1.0, f"listed as {excluded[path.name]}")
                continue
            copy = _check_one(path, check, params)
            if copy is not None:
                # BMP: written in under a millisecond (PNG took 25-40 ms per photo).
                copies[i] = str(Path(scratch) / f"{i:06d}.bmp")
                Path(copies[i]).write_bytes(encode_image(copy, ".bmp"))
        if copies:
            _apply_cleanvision(checks, copies, params)
    return checks


def _check_one(path: Path, check: PhotoCheck, params: KindFilterParams) -> np.ndarray | None:
    """Decode and run the per-photo checks; returns the analysis copy, or None if rejected."""
    try:
        data = path.read_bytes()
    except OSError as error:
        check.reject("corrupt", 0.0, f"unreadable: {error.strerror}")
        return None
    image = decode_image(data)
    problem = "OpenCV cannot decode it" if image is None else pillow_error(data)
    if problem:
        check.reject("corrupt", 0.0, problem)
        return None
    check.height, check.width = image.shape[:2]
    check.alpha_share = round(alpha_share(image), 4)
    check.has_alpha = check.alpha_share >= params.min_alpha_share
    if check.width < params.min_width or check.height < params.min_height:
        score = min(check.width / params.min_width, check.height / params.min_height)
        check.reject("too_small", score, f"{check.width}x{check.height} < {params.min_width}x{params.min_height}")
    aspect = aspect_ratio(check.width, check.height)
    if aspect > params.max_aspect:
        check.reject("extreme_aspect", aspect, f"{aspect:.2f} > {params.max_aspect}")
    if check.has_alpha and params.transparency == "reject":
        check.reject("transparent", check.alpha_share, "alpha channel with transparent pixels")
    if check.reason is not None:
        return None
    check.text_score = text_score(image)
    check.scores["sharpness"] = round(sharpness(image), 3)
    return analysis_copy(image)


def _apply_cleanvision(checks: list[PhotoCheck], copies: dict[int, str], params: KindFilterParams) -> None:
    """Add cleanvision's verdicts to the photos that passed the per-photo checks."""
    issues, sets = run_cleanvision(list(copies.values()), params)
    index_of = {path: i for i, path in copies.items()}
    threshold_checks = [  # reason, cleanvision issue, score column stored in kept.csv
        ("dark", "dark", "dark_score"),
        ("light", "light", "light_score"),
        ("low_information", "low_information", "information_score"),
    ]
    alive = list(copies)
    odd = odd_small_sizes([checks[i].width for i in alive], [checks[i].height for i in alive],
                          params.odd_size_iqr_factor)
    for i, odd_score in zip(alive, odd):
        row = issues.loc[copies[i]]
        check = checks[i]
        for _, issue, column in threshold_checks:
            check.scores[column] = round(float(row[f"{issue}_score"]), 4)
        if params.grayscale == "reject" and bool(row["is_grayscale_issue"]):
            check.reject("grayscale", 0.0, "no colour")
        for reason, issue, _ in threshold_checks:
            if bool(row[f"is_{issue}_issue"]):
                check.reject(reason, float(row[f"{issue}_score"]), f"cleanvision {issue} score")
        if check.scores["sharpness"] < params.min_sharpness:
            check.reject("blurry", check.scores["sharpness"], f"sharpness < {params.min_sharpness}")
        if odd_score is not None:
            check.reject("odd_size", odd_score, f"{check.width}x{check.height} far smaller than the others")
    # Text is checked before duplicates so that a clean copy can replace a captioned one.
    for check in checks:
        if check.reason is None and check.text_score > params.max_text_score:
            check.reject("text_overlay", check.text_score)
    for kind, reason in (("exact_duplicates", "duplicate"), ("near_duplicates", "near_duplicate")):
        for members in sets.get(kind, []):
            group = sorted((index_of[p] for p in members), key=lambda i: checks[i].file)
            survivors = [i for i in group if checks[i].reason is None]
            for i in survivors[1:]:
                checks[i].reject(reason, 1.0, f"of {checks[survivors[0]].file}")


def tables(checks: list[PhotoCheck]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, rejects) DataFrames with KEPT_COLUMNS / REJECT_COLUMNS, in file order."""
    kept = [
        {"file": c.file, "width": c.width, "height": c.height, "has_alpha": c.has_alpha,
         "alpha_share": c.alpha_share, "text_score": c.text_score, **c.scores}
        for c in checks if c.reason is None
    ]
    rejects = [
        {"file": c.file, "reason": c.reason, "score": round(c.score, 4), "detail": c.detail}
        for c in checks if c.reason is not None
    ]
    return pd.DataFrame(kept, columns=KEPT_COLUMNS), pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def counts(checks: list[PhotoCheck]) -> dict:
    """Metrics: input, kept, rejected, and a count for every reason (0 when none)."""
    by_reason = {reason: 0 for reason in REASONS}
    for check in checks:
        if check.reason is not None:
            by_reason[check.reason] += 1
    rejected = sum(by_reason.values())
    return {"input": len(checks), "kept": len(checks) - rejected, "rejected": rejected, "reasons": by_reason}
