"""The synthesize stage: exact masks, determinism, splits, dedupe, step switches."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from deeptrash.errors import UserError
from deeptrash.io import encode_image, read_mask
from deeptrash.params import validate_params
from deeptrash.synth_params import SynthParams
from deeptrash.synth import augment, camera, pool, recipe, sources as synth_sources
from stages import synthesize as stage

SIZE = 64
GREY = 128
# Every random step off: tests switch on the one they look at.
ALL_OFF = dict(rotate={"p": 0}, flip={"p": 0}, perspective={"p": 0}, color_jitter={"p": 0}, gradient={"p": 0},
               feather={"p": 0}, occluders={"p": 0}, overlay={"p": 0}, lens={"p": 0}, motion_blur={"p": 0},
               lighting={"p": 0})


def make_params(**overrides) -> SynthParams:
    base = dict(size=SIZE, train=12, val=4, workers=1)
    base.update(overrides)
    return SynthParams(**base)


def textured(shape, seed, offset=0):
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 2)
    return cv2.add(image, np.full(shape, offset, np.uint8))


def write_landscapes(root: Path, queries: dict[str, list[np.ndarray]]) -> None:
    for query, images in queries.items():
        folder = root / query
        folder.mkdir(parents=True)
        names = []
        for k, image in enumerate(images):
            name = f"{query}_{k}.png"
            cv2.imwrite(str(folder / name), image)
            names.append(name)
        pd.DataFrame({"file": names}).to_csv(folder / "kept.csv", index=False)


def write_cutouts(root: Path, queries: dict[str, list[tuple[str, np.ndarray]]], bad: tuple[str, ...] = ()) -> None:
    for query, items in queries.items():
        folder = root / query
        folder.mkdir(parents=True)
        rows = []
        for source, rgba in items:
            name = f"{source}_0.png"
            cv2.imwrite(str(folder / name), rgba)
            rows.append({"file": name, "source": source, "status": "bad" if source in bad else "ok"})
        pd.DataFrame(rows).to_csv(folder / "cutouts.csv", index=False)


def shape_cutout(kind: str, colour) -> np.ndarray:
    image = np.zeros((40, 32, 4), np.uint8)
    if kind == "ellipse":
        cv2.ellipse(image, (16, 20), (12, 18), 0, 0, 360, (*colour, 255), -1)
    elif kind == "rect":
        image[4:36, 6:26] = (*colour, 255)
    else:
        cv2.fillPoly(image, [np.array([[16, 2], [30, 38], [2, 38]])], (*colour, 255))
    return image


@pytest.fixture
def sources(tmp_path):
    """Two landscape queries x 3 photos, two trash queries x 3 source photos."""
    land, cuts = tmp_path / "landscape", tmp_path / "cutouts"
    write_landscapes(land, {
        "beach": [textured((90, 120, 3), s, 60) for s in range(3)],
        "forest": [textured((90, 120, 3), s + 10, 0) for s in range(3)],
    })
    write_cutouts(cuts, {
        "can": [(f"can{k}", shape_cutout(kind, (40, 40, 230))) for k, kind in enumerate(["ellipse", "rect", "tri"])],
        "bottle": [(f"bottle{k}", shape_cutout(kind, (230, 60, 30))) for k, kind in enumerate(["rect", "tri", "ellipse"])],
    })
    return land, cuts


def red_square() -> np.ndarray:
    cutout = np.zeros((20, 20, 4), np.uint8)
    cutout[:, :] = (0, 0, 255, 255)
    return augment.premultiply(cutout)


def red_matches_mask(image: np.ndarray, mask: np.ndarray) -> tuple[int, int]:
    """(pixels where 'looks red' and the mask disagree, mask pixels).

    On grey 128 with a pure red object, R - G = 255 * coverage, so 'red' is
    exactly coverage > 0.5 up to uint8 rounding at coverage ~ 0.5.
    """
    red = (image[:, :, 2].astype(int) - image[:, :, 1].astype(int)) > 127
    return int(np.count_nonzero(red != (mask > 0))), int(np.count_nonzero(mask))


# --- exact masks ---------------------------------------------------------------------


@pytest.mark.parametrize("feather", [0.0, 1.0])
def test_pasted_square_lands_where_the_mask_says(feather):
    image = np.full((SIZE, SIZE, 3), GREY, np.uint8)
    coverage = np.zeros((SIZE, SIZE), np.float32)
    h = augment.object_homography(20, 20, center=(39.5, 23.5), long_side=16.0)
    augment.paste_object(image, coverage, red_square(), h, feather)
    mask = augment.coverage_to_mask(coverage)
    wrong, area = red_matches_mask(image, mask)
    assert wrong <= 2
    # A 16 px square centred at (39.5, 23.5) (pixel centres): rows 16..31, columns 32..47.
    ys, xs = np.nonzero(mask)
    assert abs(area - 256) <= 8
    assert abs(xs.mean() - 39.5) < 0.3 and abs(ys.mean() - 23.5) < 0.3


def signed_distance(corners: np.ndarray) -> np.ndarray:
    """float (SIZE, SIZE): distance of each pixel centre to a polygon, > 0 inside."""
    contour = corners.reshape(-1, 1, 2).astype(np.float32)
    return np.array([[cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x in range(SIZE)]
                     for y in range(SIZE)])


@pytest.mark.parametrize("feather, allowed", [(0.0, 0), (0.7, 3)])
def test_mask_follows_rotation_flip_and_perspective(feather, allowed):
    image = np.full((SIZE, SIZE, 3), GREY, np.uint8)
    coverage = np.zeros((SIZE, SIZE), np.float32)
    shift = np.array([[0.2, -0.1], [-0.15, 0.1], [0.1, 0.2], [-0.2, -0.2]])
    h = augment.object_homography(20, 20, (30.0, 34.0), 30.0, angle_deg=33.0, flip=True, corner_shift=shift)
    augment.paste_object(image, coverage, red_square(), h, feather)
    mask = augment.coverage_to_mask(coverage)
    wrong, area = red_matches_mask(image, mask)
    assert area > 300 and wrong <= 3
    # The mask is the warped quadrilateral: pixel centres more than half a
    # pixel inside its outline are trash, those more than half outside are not.
    outline = np.array([[[0, 0], [20, 0], [20, 20], [0, 20]]], np.float32) - 0.5  # pixel edges
    distance = signed_distance(cv2.perspectiveTransform(outline, h)[0])
    clear = np.abs(distance) > 0.5
    assert np.count_nonzero((mask > 0)[clear] != (distance > 0)[clear]) <= allowed
    assert abs(area - np.count_nonzero(distance > 0)) < 0.05 * area


def test_lens_distortion_moves_image_and_mask_together():
    image = np.full((SIZE, SIZE, 3), GREY, np.uint8)
    coverage = np.zeros((SIZE, SIZE), np.float32)
    augment.paste_object(image, coverage, red_square(), augment.object_homography(20, 20, (50.0, 50.0), 14.0), 0.0)
    before = augment.coverage_to_mask(coverage)
    for k1 in (0.2, -0.2):
        warped, warped_coverage = camera.distort_lens(image, coverage, k1)
        mask = augment.coverage_to_mask(warped_coverage)
        wrong, area = red_matches_mask(warped, mask)
        assert area > 50 and wrong <= 3
        assert np.count_nonzero(mask != before) > 20  # it did move
        # Barrel (k1 > 0) pulls a corner object toward the centre; pincushion pushes it out.
        moved_in = np.nonzero(mask)[1].mean() < np.nonzero(before)[1].mean()
        assert moved_in == (k1 > 0)


def test_occluded_pixels_are_background_in_the_mask():
    image = np.full((SIZE, SIZE, 3), GREY, np.uint8)
    coverage = np.zeros((SIZE, SIZE), np.float32)
    augment.paste_object(image, coverage, red_square(), augment.object_homography(20, 20, (32.0, 32.0), 30.0), 0.0)
    rng = np.random.default_rng(0)
    alpha = augment.blob_alpha(20, "ellipse", rng)
    fill = np.broadcast_to(np.array([0, 200, 0], np.uint8), (20, 20, 3))
    augment.paste_occluder(image, coverage, alpha, fill, (30, 30))
    mask = augment.coverage_to_mask(coverage)
    hidden = np.zeros((SIZE, SIZE), bool)
    hidden[30:50, 30:50] = alpha > 0.5
    assert hidden.sum() > 100
    assert not np.any(mask[hidden])
    assert np.count_nonzero(mask) > 300
    untouched = np.ones((SIZE, SIZE), bool)
    untouched[30:50, 30:50] = alpha == 0
    wrong, _ = red_matches_mask(image * untouched[:, :, None], mask * untouched)
    assert wrong <= 3


# --- whole samples ---------------------------------------------------------------------


def test_occluders_only_remove_trash_from_masks(sources):
    index = synth_sources.find_sources(*sources, make_params())
    on = make_params(**{**ALL_OFF, "occluders": {"p": 1.0, "count": [2, 3], "size": [0.2, 0.3]}})
    off = make_params(**ALL_OFF)
    loaded = synth_sources.load_sources(index, on)
    shrunk = 0
    for i in range(8):
        _, mask_on, rec = recipe.generate_sample(loaded, 1, "train", i, on)
        _, mask_off, _ = recipe.generate_sample(loaded, 1, "train", i, off)
        assert not np.any((mask_on > 0) & (mask_off == 0))  # never adds trash
        shrunk += np.count_nonzero(mask_off) - np.count_nonzero(mask_on)
    assert shrunk > 0


def test_negatives_have_empty_masks(sources, tmp_path):
    index = synth_sources.find_sources(*sources, make_params())
    summary = pool.synthesize(index, make_params(negatives=1.0), 3, tmp_path / "neg")
    for mask_path in (tmp_path / "neg" / "train" / "masks").glob("*.png"):
        assert not read_mask(mask_path).any()
    assert summary["train"]["negatives_share"] == 1.0
    summary = pool.synthesize(index, make_params(negatives=0.0, objects={"outside": 0.0}), 3, tmp_path / "pos")
    frame = pd.read_csv(tmp_path / "pos" / "train" / "samples.csv")
    assert (frame["objects"] >= 1).all() and (frame["mask_fraction"] > 0).all()


def tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_runs_are_byte_identical_whatever_the_worker_count(sources, tmp_path):
    params = make_params()
    index = synth_sources.find_sources(*sources, params)
    pool.synthesize(index, params, 42, tmp_path / "a", workers=1)
    pool.synthesize(index, params, 42, tmp_path / "b", workers=2)
    a, b = tree_hashes(tmp_path / "a"), tree_hashes(tmp_path / "b")
    assert len(a) == 2 * (12 + 4) + 2 and a == b
    pool.synthesize(index, params, 43, tmp_path / "c", workers=1)
    assert tree_hashes(tmp_path / "c") != a  # the seed matters


def test_any_sample_regenerates_alone(sources, tmp_path):
    params = make_params()
    index = synth_sources.find_sources(*sources, params)
    pool.synthesize(index, params, 7, tmp_path / "out", workers=2)
    loaded = synth_sources.load_sources(index, params)
    for split, i in (("train", 9), ("val", 2)):
        image, mask, record = recipe.generate_sample(loaded, 7, split, i, params)
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
        assert mask.shape == (SIZE, SIZE) and set(np.unique(mask)) <= {0, 255}
        folder = tmp_path / "out" / split
        assert encode_image(image, ".jpg", record["jpeg_quality"]) == (folder / "images" / f"{i:06d}.jpg").read_bytes()
        assert encode_image(mask, ".png") == (folder / "masks" / f"{i:06d}.png").read_bytes()


def test_train_and_val_use_disjoint_source_photos(sources, tmp_path):
    params = make_params(train=20, val=10, val_share=0.4)
    index = synth_sources.find_sources(*sources, params)
    for kind in (index.landscapes, index.cutouts):
        train, val = {f.group for f in kind["train"]}, {f.group for f in kind["val"]}
        assert train and val and not train & val
    pool.synthesize(index, params, 0, tmp_path / "out")
    for split in ("train", "val"):
        frame = pd.read_csv(tmp_path / "out" / split / "samples.csv", keep_default_na=False)
        allowed_cutouts = {f.name for f in index.cutouts[split]}
        allowed_backgrounds = {f.name for f in index.landscapes[split]}
        used = {c for cell in frame["cutouts"] for c in cell.split(";") if c}
        assert used and used <= allowed_cutouts
        assert set(frame["background"]) <= allowed_backgrounds
    # Stable: the split depends on the photo's name only.
    assert synth_sources.assign_splits(["x", "y", "z"], 0.5) == synth_sources.assign_splits(["z", "x", "y"], 0.5)
    assert set(synth_sources.assign_splits(["a", "b"], 0.001).values()) == {"train", "val"}
    assert set(synth_sources.assign_splits(["a", "b"], 0.999).values()) == {"train", "val"}


def test_cross_query_duplicates_are_removed_keeping_the_first_query(tmp_path):
    land, cuts = tmp_path / "landscape", tmp_path / "cutouts"
    photo, other, third = (textured((90, 120, 3), s, 30) for s in (1, 2, 3))
    near = cv2.resize(cv2.resize(other, (110, 83)), (120, 90))  # a re-scaled copy of `other`
    write_landscapes(land, {"zz_park": [photo, other], "aa_beach": [near, third]})
    (land / "mm_lawn").mkdir()
    cv2.imwrite(str(land / "mm_lawn" / "zz_park_0.png"), photo)  # exact copy, folder without kept.csv
    red, blue = shape_cutout("ellipse", (0, 0, 230)), shape_cutout("ellipse", (230, 0, 0))
    write_cutouts(cuts, {"b_can": [("photo1", red), ("photo2", blue)], "a_bottle": [("photo1", red)],
                         "c_bag": [("photo3", shape_cutout("rect", (0, 200, 0)))]}, bad=("photo3",))
    (cuts / "c_bag" / "junk.png").write_bytes(b"")
    index = synth_sources.find_sources(land, cuts, make_params())
    removed = {r["name"]: r for r in index.removed}
    assert removed["zz_park/zz_park_1.png"]["reason"] == "near"
    assert removed["zz_park/zz_park_1.png"]["duplicate_of"] == "aa_beach/aa_beach_0.png"
    assert removed["zz_park/zz_park_0.png"]["reason"] == "exact"
    assert removed["zz_park/zz_park_0.png"]["duplicate_of"] == "mm_lawn/zz_park_0.png"
    assert removed["b_can/photo1_0.png"]["reason"] == "exact"  # same source photo, later query
    kept_landscapes = {f.name for s in ("train", "val") for f in index.landscapes[s]}
    kept_cutouts = {f.name for s in ("train", "val") for f in index.cutouts[s]}
    assert kept_landscapes == {"aa_beach/aa_beach_0.png", "aa_beach/aa_beach_1.png", "mm_lawn/zz_park_0.png"}
    # Same shape in another colour is not a duplicate; status != ok is never used.
    assert kept_cutouts == {"a_bottle/photo1_0.png", "b_can/photo2_0.png"}
    metrics = synth_sources.source_metrics(index)
    assert metrics["duplicates_removed"]["landscape"] == {"exact": 1, "near": 1}
    assert metrics["duplicates_removed"]["total"] == 3
    # Exact-only mode keeps the near copy.
    index = synth_sources.find_sources(land, cuts, make_params(dedupe_hamming=-1))
    assert {r["name"] for r in index.removed if r["kind"] == "landscape"} == {"zz_park/zz_park_0.png"}


def sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_turning_a_step_off_removes_its_effect(sources):
    index = synth_sources.find_sources(*sources, make_params())
    loaded = synth_sources.load_sources(index, make_params())
    base = {**ALL_OFF, "negatives": 0.0}

    def run(**step):
        params = make_params(**{**base, **step})
        return [recipe.generate_sample(loaded, 5, "train", i, params) for i in range(6)]

    plain = run()
    blurred = run(motion_blur={"p": 1.0, "kernel": [7, 9]})
    for (img0, mask0, _), (img1, mask1, rec) in zip(plain, blurred):
        assert rec["blur_kernel"] >= 7
        assert sharpness(img0) > 1.5 * sharpness(img1)
        assert np.array_equal(mask0, mask1)  # blur never touches the mask
    overlaid = run(overlay={"p": 1.0, "alpha": [0.3, 0.4]})
    for (img0, mask0, rec0), (img1, mask1, rec1) in zip(plain, overlaid):
        assert "overlay" not in rec0 and rec1["overlay"]
        assert np.abs(img0.astype(int) - img1).mean() > 2 and np.array_equal(mask0, mask1)
    lens = run(lens={"p": 1.0, "k1_sigma": 0.3})
    assert sum(not np.array_equal(m0, m1) for (_, m0, _), (_, m1, _) in zip(plain, lens)) >= 4
    lit = run(lighting={"p": 1.0, "brightness": [30, 40], "noise": [3, 4]})
    for (img0, _, rec0), (img1, _, rec1) in zip(plain, lit):
        assert rec0["jpeg_quality"] == 95 and 70 <= rec1["jpeg_quality"] <= 95
        assert img1.astype(float).mean() > img0.astype(float).mean() + 10
    # With everything off, the same draw of background and objects is reproduced exactly.
    again = run()
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(plain, again))


def test_default_recipe_keeps_objects_visible(sources):
    params = make_params()  # the shipped defaults, at 64 px
    index = synth_sources.find_sources(*sources, params)
    loaded = synth_sources.load_sources(index, params)
    fractions, negatives = [], 0
    for i in range(60):
        _, mask, record = recipe.generate_sample(loaded, 0, "train", i, params)
        if record["negative"]:
            negatives += 1
            assert not mask.any()
        else:
            fractions.append(record["mask_fraction"])
    assert 0.02 < float(np.mean(fractions)) < 0.4
    assert 0 < negatives < 25


# --- the stage ---------------------------------------------------------------------------


def write_params(path: Path, **synth_params) -> Path:
    raw = {"seed": 1, "scrape": {"trash": {"can": "can"}, "landscape": {"beach": "beach"}},
           "synth": {"size": SIZE, "train": 10, "val": 4, "workers": 2, **synth_params}}
    validate_params(raw)
    path.write_text(json.dumps(raw))  # JSON is YAML
    return path


def test_stage_writes_composites_metrics_and_plot(sources, tmp_path):
    land, cuts = sources
    out, metrics, plot = tmp_path / "synth", tmp_path / "m" / "synth.json", tmp_path / "p" / "samples.png"
    timing = tmp_path / "logs" / "timing.json"
    stage.main(["--params", str(write_params(tmp_path / "params.yaml")), "--landscapes", str(land),
                "--cutouts", str(cuts), "--out", str(out), "--metrics", str(metrics), "--plot", str(plot),
                "--timing", str(timing)])
    for split, count in (("train", 10), ("val", 4)):
        images = sorted((out / split / "images").glob("*.jpg"))
        masks = sorted((out / split / "masks").glob("*.png"))
        assert [p.stem for p in images] == [p.stem for p in masks] == [f"{i:06d}" for i in range(count)]
        image = cv2.imread(str(images[0]))
        mask = cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (SIZE, SIZE, 3) and mask.shape == (SIZE, SIZE)
        assert set(np.unique(mask)) <= {0, 255}
        assert len(pd.read_csv(out / split / "samples.csv")) == count
    report = json.loads(metrics.read_text())
    assert report["train"]["samples"] == 10 and report["val"]["samples"] == 4
    # Speed and memory go to the timing log, so the metrics depend on the params alone.
    speed = json.loads(timing.read_text())
    assert speed["workers"] == 2 and speed["composites_per_second"] > 0 and speed["seconds"] > 0
    assert not set(speed) & set(report)
    assert report["split"]["cutout_photos_val"] >= 1 and report["duplicates_removed"]["total"] == 0
    assert cv2.imread(str(plot)) is not None
    assert set(pd.read_csv(out / "sources.csv")["split"]) == {"train", "val"}


def test_stage_errors_are_one_line_and_leave_nothing(sources, tmp_path):
    land, cuts = sources
    params = str(write_params(tmp_path / "params.yaml"))
    empty = tmp_path / "empty_cutouts"
    (empty / "can").mkdir(parents=True)
    (empty / "can" / "cutouts.csv").write_text("file,source,status\n")
    out = tmp_path / "synth"
    with pytest.raises(UserError, match="no usable trash photos: every trash query came back empty"):
        stage.main(["--params", params, "--landscapes", str(land), "--cutouts", str(empty), "--out", str(out)])
    with pytest.raises(UserError, match="clean landscapes not found"):
        stage.main(["--params", params, "--landscapes", str(tmp_path / "nope"), "--cutouts", str(cuts),
                    "--out", str(out)])
    (tmp_path / "no_land").mkdir()
    with pytest.raises(UserError, match="no usable landscape photos"):
        stage.main(["--params", params, "--landscapes", str(tmp_path / "no_land"), "--cutouts", str(cuts),
                    "--out", str(out)])
    broken = tmp_path / "broken"
    (broken / "can").mkdir(parents=True)
    (broken / "can" / "cutouts.csv").write_text("name,status\nx.png,ok\n")
    with pytest.raises(UserError, match="no 'file' column"):
        stage.main(["--params", params, "--landscapes", str(land), "--cutouts", str(broken), "--out", str(out)])
    assert not out.exists()


def test_reversed_range_is_a_one_line_error():
    raw = {"scrape": {"trash": {"a": "a"}, "landscape": {"b": "b"}}, "synth": {"motion_blur": {"kernel": [9, 3]}}}
    with pytest.raises(UserError, match=r"synth\.motion_blur\.kernel.*low <= high"):
        validate_params(raw)


def test_a_single_source_photo_serves_both_splits(tmp_path):
    land, cuts = tmp_path / "landscape", tmp_path / "cutouts"
    write_landscapes(land, {"beach": [textured((90, 120, 3), 1, 40)]})
    write_cutouts(cuts, {"can": [("only", shape_cutout("rect", (0, 0, 220)))]})
    index = synth_sources.find_sources(land, cuts, make_params())
    assert sorted(index.shared) == ["cutout", "landscape"]
    assert all(len(index.landscapes[s]) == len(index.cutouts[s]) == 1 for s in ("train", "val"))
    summary = pool.synthesize(index, make_params(train=3, val=2), 0, tmp_path / "out")
    assert summary["val"]["samples"] == 2
    assert synth_sources.source_metrics(index)["shared_between_splits"] == ["cutout", "landscape"]
