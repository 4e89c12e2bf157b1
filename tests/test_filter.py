"""Filter checks: each rejection reason with a photo made to trigger it and a near miss that passes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from deeptrash.clean.filter import REASONS, alpha_share, check_photos, counts, tables
from deeptrash.io import encode_image
from deeptrash.params import KindFilterParams

REPO = Path(__file__).resolve().parent.parent
TRASH = KindFilterParams(transparency="keep", min_width=64, min_height=64)
LANDSCAPE = KindFilterParams(transparency="reject", min_width=64, min_height=64)


def photo(seed: int, height: int = 96, width: int = 96) -> np.ndarray:
    """A sharp, colourful, mid-bright uint8 BGR test photo, different for every seed."""
    rng = np.random.default_rng([seed, 11])
    # Smooth colour clouds (no grid: rows of equal blocks would look like print)
    # plus fine grain and a few discs.
    small = rng.integers(40, 216, (max(2, height // 12), max(2, width // 12), 3)).astype(np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    for _ in range(6):
        centre = tuple(int(c) for c in rng.integers(0, min(height, width), 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(image, centre, int(rng.integers(4, 20)), colour, -1)
    return image


def check(tmp_path: Path, images: dict[str, np.ndarray | bytes], params: KindFilterParams,
          plain: int = 4) -> dict[str, tuple]:
    """Write `images` (arrays as PNG, bytes as they are) plus `plain` ordinary photos.

    Returns {file name: (reason or None, PhotoCheck)}.
    """
    folder = tmp_path / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(plain):  # a few ordinary photos, so the query has a "normal" size
        (folder / f"plain{seed}.png").write_bytes(encode_image(photo(100 + seed)))
    for name, image in images.items():
        data = image if isinstance(image, bytes) else encode_image(image, Path(name).suffix or ".png")
        (folder / name).write_bytes(data)
    results = check_photos(sorted(folder.iterdir()), params)
    return {c.file: (c.reason, c) for c in results}


def test_too_small_vs_just_big_enough(tmp_path):
    out = check(tmp_path, {"small.png": photo(1, 63, 90), "ok.png": photo(2, 64, 90)}, TRASH)
    assert out["small.png"][0] == "too_small"
    assert out["ok.png"][0] is None


def test_extreme_aspect_vs_just_under(tmp_path):
    params = KindFilterParams(min_width=32, min_height=32, max_aspect=2.5, odd_size_iqr_factor=0)
    out = check(tmp_path, {"long.png": photo(1, 64, 161), "wide.png": photo(2, 64, 159)}, params)
    assert out["long.png"][0] == "extreme_aspect"
    assert out["long.png"][1].score == pytest.approx(161 / 64)
    assert out["wide.png"][0] is None


def test_transparency_rejected_for_landscape_kept_for_trash(tmp_path):
    cutout = cv2.cvtColor(photo(1), cv2.COLOR_BGR2BGRA)
    cutout[:, :30, 3] = 0                       # a third transparent: real alpha
    opaque = cv2.cvtColor(photo(2), cv2.COLOR_BGR2BGRA)  # alpha channel, all 255
    images = {"cutout.png": cutout, "opaque.png": opaque}
    landscape = check(tmp_path / "landscape", images, LANDSCAPE)
    trash = check(tmp_path / "trash", images, TRASH)
    assert landscape["cutout.png"][0] == "transparent"
    assert landscape["opaque.png"][0] is None and not landscape["opaque.png"][1].has_alpha
    assert trash["cutout.png"][0] is None and trash["cutout.png"][1].has_alpha
    assert alpha_share(cutout) == pytest.approx(30 / 96)


def test_blurry_vs_sharp(tmp_path):
    sharp = photo(1)
    blurry = cv2.GaussianBlur(photo(2), (0, 0), 6)
    out = check(tmp_path, {"blurry.png": blurry, "sharp.png": sharp}, TRASH)
    assert out["blurry.png"][0] == "blurry"
    assert out["sharp.png"][0] is None
    assert out["sharp.png"][1].scores["sharpness"] > TRASH.min_sharpness > out["blurry.png"][1].score


def test_dark_and_light_vs_normal(tmp_path):
    base = photo(1).astype(np.float32)
    dark = (base * 0.2).astype(np.uint8)             # brightest pixels ~ 43 of 255
    light = (255 - (255 - base) * 0.04).astype(np.uint8)
    dim = (base * 0.6).astype(np.uint8)               # darker, but a normal evening photo
    out = check(tmp_path, {"dark.png": dark, "light.png": light, "dim.png": dim}, TRASH)
    assert out["dark.png"][0] == "dark"
    assert out["light.png"][0] == "light"
    assert out["dim.png"][0] is None


def test_grayscale_vs_faint_colour(tmp_path):
    gray = cv2.cvtColor(cv2.cvtColor(photo(1), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    muted = photo(2)
    out = check(tmp_path, {"gray.jpg": gray, "muted.png": muted}, TRASH)
    assert out["gray.jpg"][0] == "grayscale"
    assert out["muted.png"][0] is None
    keep = check(tmp_path / "keep", {"gray.jpg": gray}, TRASH.model_copy(update={"grayscale": "keep"}))
    assert keep["gray.jpg"][0] is None


def test_low_information_vs_plain_but_textured(tmp_path):
    flat = np.full((96, 96, 3), (40, 140, 90), np.uint8)
    out = check(tmp_path, {"flat.png": flat}, TRASH)
    assert out["flat.png"][0] in ("low_information", "blurry")   # both fit a featureless photo
    assert all(out[f"plain{i}.png"][0] is None for i in range(4))


def test_exact_and_near_duplicates_keep_the_first_by_name(tmp_path):
    original = photo(1, 128, 128)
    near = np.clip(original.astype(np.int16) + 10, 0, 255).astype(np.uint8)   # brightened copy
    different = photo(2, 128, 128)
    out = check(tmp_path, {"a.png": original, "b.png": original, "c.png": near, "d.png": different}, TRASH)
    assert out["a.png"][0] is None
    assert out["b.png"][0] == "duplicate" and out["b.png"][1].detail == "of a.png"
    assert out["c.png"][0] == "near_duplicate"
    assert out["d.png"][0] is None


def test_duplicate_of_a_rejected_photo_survives(tmp_path):
    """When the first copy fails another check, a clean later copy is kept."""
    clean = photo(1, 128, 128)
    captioned = clean.copy()
    cv2.rectangle(captioned, (0, 100), (128, 124), (255, 255, 255), -1)
    cv2.putText(captioned, "SALE 50% OFF", (4, 118), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    out = check(tmp_path, {"a.png": captioned, "b.png": clean, "c.png": clean}, TRASH)
    assert out["a.png"][0] == "text_overlay"
    assert out["b.png"][0] is None
    assert out["c.png"][0] == "duplicate"


def test_text_overlay_vs_none(tmp_path):
    base = photo(1, 160, 160)
    captioned = base.copy()
    cv2.putText(captioned, "www.example.com", (6, 150), cv2.FONT_HERSHEY_DUPLEX, 0.6, (255, 255, 255), 1)
    out = check(tmp_path, {"caption.png": captioned, "clean.png": photo(2, 160, 160)}, TRASH)
    assert out["caption.png"][0] == "text_overlay"
    assert out["clean.png"][0] is None


def test_corrupt_and_truncated_vs_valid(tmp_path):
    good = encode_image(photo(1), ".jpg")
    out = check(tmp_path, {"junk.jpg": b"not an image at all", "cut.jpg": good[: len(good) // 2],
                           "good.jpg": good}, TRASH)
    assert out["junk.jpg"][0] == "corrupt"
    assert out["cut.jpg"][0] == "corrupt"
    assert out["good.jpg"][0] is None


def test_odd_size_rejects_only_the_much_smaller(tmp_path):
    params = KindFilterParams(min_width=16, min_height=16, odd_size_iqr_factor=3.0)
    images = {f"n{i}.png": photo(i, 200 + 2 * i, 200) for i in range(6)}
    images["tiny.png"] = photo(20, 40, 40)
    images["huge.png"] = cv2.resize(photo(21, 200, 200), (600, 600), interpolation=cv2.INTER_CUBIC)
    out = check(tmp_path, images, params, plain=0)
    assert out["tiny.png"][0] == "odd_size"
    assert out["huge.png"][0] is None


def test_counts_list_every_reason(tmp_path):
    results = check_photos([], TRASH)
    metrics = counts(results)
    assert metrics == {"input": 0, "kept": 0, "rejected": 0, "reasons": {r: 0 for r in REASONS}}
    kept, rejects = tables(results)
    assert list(kept.columns)[:4] == ["file", "width", "height", "has_alpha"]
    assert list(rejects.columns)[:3] == ["file", "reason", "score"]


def test_stage_end_to_end_with_a_corrupt_file(tmp_path, monkeypatch):
    from stages import filter as stage

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    raw = tmp_path / "data/raw/landscape/forest_trail"
    (raw / "truth").mkdir(parents=True)
    names = []
    for seed in range(5):
        data = encode_image(photo(seed, 160, 200), ".jpg")
        names.append(f"{seed:02d}.jpg")
        (raw / names[-1]).write_bytes(data)
    (raw / "99.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (raw / "truth" / "00.png").write_bytes(encode_image(photo(9)))   # subfolders are ignored
    (raw / "manifest.csv").write_text("file\n")
    monkeypatch.chdir(tmp_path)
    stage.main(["landscape", "forest_trail"])

    clean = tmp_path / "data/clean/landscape/forest_trail"
    kept = pd.read_csv(clean / "kept.csv")
    rejects = pd.read_csv(clean / "rejects.csv")
    assert sorted(kept.file) == names
    assert rejects.set_index("file").loc["99.jpg", "reason"] == "corrupt"
    for name in names:   # byte for byte
        assert (clean / name).read_bytes() == (raw / name).read_bytes()
    assert not (clean / "truth").exists() and not (clean / "99.jpg").exists()
    metrics = json.loads((tmp_path / "metrics/filter/landscape/forest_trail.json").read_text())
    assert metrics["input"] == 6 and metrics["kept"] == 5 and metrics["reasons"]["corrupt"] == 1
    assert set(metrics["reasons"]) == set(REASONS)
    assert cv2.imread(str(tmp_path / "plots/filter/landscape/forest_trail.png")) is not None


def test_stage_missing_input_is_a_user_error(tmp_path, monkeypatch):
    from deeptrash.errors import UserError
    from stages import filter as stage

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="not found"):
        stage.main(["landscape", "forest_trail"])
    with pytest.raises(UserError, match="unknown"):
        stage.main(["trash", "no_such_query"])
