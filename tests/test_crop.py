"""Tests for deeptrash.clean.crop (and cutout) and stages/crop.py on small drawn product shots."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from deeptrash.clean import crop, cutout
from deeptrash.errors import UserError
from deeptrash.io import read_image, write_image
from deeptrash.measure.metrics import iou
from deeptrash.params import CropParams

REPO = Path(__file__).resolve().parent.parent
SIZE = 96


def backdrop(size: int = SIZE, seed: int = 0) -> np.ndarray:
    """A product-shot background: light board with a lighting gradient and noise, uint8 (S, S, 3)."""
    rng = np.random.default_rng([seed, 1])
    ys, xs = np.mgrid[0:size, 0:size] / size
    shade = 215 + 25 * xs - 15 * ys
    board = np.stack([shade, shade + 5, shade + 8], axis=2) + rng.normal(0, 2, (size, size, 3))
    return np.clip(board, 0, 255).astype(np.uint8)


def paint(image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Paint a textured object (colour +- noise and a stripe) where bool `mask` is set."""
    rng = np.random.default_rng([seed, 2])
    out = image.copy()
    texture = np.array(color, np.float32) + rng.normal(0, 6, image.shape)
    texture[::7] *= 0.8  # a stripe pattern, so the object is not flat
    out[mask] = np.clip(texture[mask], 0, 255).astype(np.uint8)
    return out


def ellipse(center, axes, angle: float = 0, size: int = SIZE) -> np.ndarray:
    """Bool (S, S) filled ellipse."""
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, center, axes, angle, 0, 360, 1, -1)
    return mask.astype(bool)


def rect(x0, y0, x1, y1, size: int = SIZE) -> np.ndarray:
    """Bool (S, S) filled rectangle, corners inclusive."""
    mask = np.zeros((size, size), bool)
    mask[y0:y1 + 1, x0:x1 + 1] = True
    return mask


def shot(*masks: np.ndarray, colors=((40, 60, 200), (200, 90, 30), (30, 150, 40))) -> np.ndarray:
    """A photo with one painted object per mask."""
    image = backdrop()
    for i, mask in enumerate(masks):
        image = paint(image, mask, colors[i % len(colors)], seed=i)
    return image


def accepted(candidates):
    return [c for c in candidates if c.status == crop.OK]


def rejected_reasons(candidates):
    return [c.reason for c in candidates if c.status == crop.REJECTED]


PARAMS = CropParams()


# --- the automatic cut --------------------------------------------------------------

def test_one_object_is_cut_tightly_with_high_iou():
    truth = ellipse((50, 44), (24, 16), angle=30)
    cands = crop.crop_photo(shot(truth), PARAMS)
    assert [c.method for c in cands] == ["auto"]
    (cut,) = accepted(cands)
    assert cut.image.shape == (cut.h, cut.w, 4) and cut.image.dtype == np.uint8
    assert iou(crop.paste_alpha(cands, truth.shape), truth) > 0.9
    # Tight box: the alpha reaches every side of the cut-out.
    alpha = cut.image[:, :, 3]
    assert alpha[0].any() and alpha[-1].any() and alpha[:, 0].any() and alpha[:, -1].any()
    ys, xs = np.nonzero(truth)
    assert abs(cut.x - xs.min()) <= 3 and abs(cut.y - ys.min()) <= 3


def test_large_photo_is_cut_at_working_size_and_placed_back_at_full_size():
    # 360 x 480 px: GrabCut runs at 192 x 256, the cut-out comes back at full size.
    size = (360, 480)
    truth = np.zeros(size, np.uint8)
    cv2.ellipse(truth, (300, 150), (110, 60), 25, 0, 360, 1, -1)
    truth = truth.astype(bool)
    image = cv2.resize(backdrop(size=480), (480, 480))[:360]
    image = paint(image, truth, (40, 60, 200))
    cands = crop.crop_photo(image, PARAMS)
    (cut,) = accepted(cands)
    assert iou(crop.paste_alpha(cands, size), truth) > 0.95
    ys, xs = np.nonzero(truth)
    assert abs(cut.x - xs.min()) <= 4 and abs(cut.x + cut.w - 1 - xs.max()) <= 4
    assert abs(cut.y - ys.min()) <= 4 and abs(cut.y + cut.h - 1 - ys.max()) <= 4


def test_two_separate_objects_give_two_cutouts():
    left, right = ellipse((24, 48), (12, 20)), rect(58, 30, 80, 70)
    cands = crop.crop_photo(shot(left, right), PARAMS)
    cuts = accepted(cands)
    assert len(cuts) == 2
    pasted = [crop.paste_alpha([c], left.shape) for c in cuts]
    # Each cut-out covers one object and not the other (largest first: the rectangle).
    assert iou(pasted[0], right) > 0.85 and not (pasted[0] & left).any()
    assert iou(pasted[1], left) > 0.85 and not (pasted[1] & right).any()


def test_max_pieces_keeps_the_largest():
    masks = [ellipse((20, 20), (9, 9)), ellipse((70, 22), (12, 12)), ellipse((45, 70), (14, 14))]
    cands = crop.crop_photo(shot(*masks), PARAMS.model_copy(update={"max_pieces": 2}))
    assert len(accepted(cands)) == 2
    assert rejected_reasons(cands) == [crop.MAX_PIECES]
    dropped = [c for c in cands if c.status == crop.REJECTED][0]
    assert all(c.area_share > dropped.area_share for c in accepted(cands))


def test_plain_background_has_no_foreground():
    cands = crop.crop_photo(backdrop(), PARAMS)
    assert rejected_reasons(cands) == [crop.NO_FOREGROUND]


def test_unreadable_photo_is_a_rejected_row():
    assert rejected_reasons(crop.crop_photo(None, PARAMS)) == [crop.UNREADABLE]
    assert rejected_reasons(crop.crop_photo(backdrop(size=6), PARAMS)) == [crop.TOO_SMALL]


def test_same_photo_same_cutout():
    image = shot(ellipse((50, 44), (24, 16)))
    first, second = crop.crop_photo(image, PARAMS), crop.crop_photo(image, PARAMS)
    assert np.array_equal(first[0].image, second[0].image)


# --- real-photo failure modes: white objects on a white board, frame-filling cardboard ----

def white_paper(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A creased sheet of (slightly bluish) white paper on the warm white board, casting a soft shadow.

    Returns the uint8 (S, S, 3) photo and the bool (S, S) true mask of the sheet.
    """
    rng = np.random.default_rng([seed, 3])
    image = backdrop(seed=seed).astype(np.float32)
    sheet = rect(22, 18, 70, 80)
    shadow = cv2.GaussianBlur(rect(26, 22, 75, 85).astype(np.float32), (0, 0), 2.5) * ~sheet
    image -= 30 * shadow[..., None]
    paper = image + np.array([12, 6, 0], np.float32) + rng.normal(0, 4, image.shape)
    creases = np.zeros((SIZE, SIZE), np.float32)
    for x0, y0, x1, y1 in ((22, 40, 70, 60), (40, 18, 50, 80), (22, 70, 70, 30)):
        cv2.line(creases, (x0, y0), (x1, y1), 1.0, 1)
    paper -= 25 * creases[..., None]
    image[sheet] = paper[sheet]
    return np.clip(image, 0, 255).astype(np.uint8), sheet


@pytest.mark.parametrize("seed", [0, 1])
def test_white_paper_on_a_white_board_is_found_by_its_texture(seed):
    image, truth = white_paper(seed)
    strip = cutout.border_strip(truth.shape, 3)
    lab = cutout.to_lab(image)
    # Colour alone cannot tell the sheet from the board (this photo came out as
    # no_foreground or a sliver before the texture cue) ...
    assert (cutout.background_distance(lab, strip)[truth] > 2.5).mean() < 0.4
    # ... but the sheet is rougher than the board, and the board's shading is not.
    textured = cutout.textured_regions(lab, strip)
    assert textured[truth].mean() > 0.9
    assert not textured[:, 85:].any() and not textured[:12].any()
    cands = crop.crop_photo(image, PARAMS)
    assert [c.status for c in cands] == [crop.OK]
    assert iou(crop.paste_alpha(cands, truth.shape), truth) > 0.9


def test_smooth_board_with_gradient_and_noise_has_no_texture():
    image = backdrop(seed=5)
    assert not cutout.textured_regions(cutout.to_lab(image), cutout.border_strip(image.shape[:2], 3)).any()


def cardboard(seed: int = 0) -> np.ndarray:
    """Frame-filling brown cardboard: blotchy shading, flutes every 5 px, noise; float32 (S, S, 3) BGR."""
    rng = np.random.default_rng([seed, 4])
    blotch = cv2.GaussianBlur(rng.normal(0, 1, (SIZE, SIZE)).astype(np.float32), (0, 0), 3)
    flutes = 6 * np.sin(np.mgrid[0:SIZE, 0:SIZE][1] * 2 * np.pi / 5)
    shade = 12 * blotch / blotch.std() + flutes + rng.normal(0, 4, (SIZE, SIZE))
    return np.stack([90 + shade, 140 + shade, 185 + shade], axis=2).astype(np.float32)


def flap() -> np.ndarray:
    """Bool (S, S): a flap hanging from the top edge into the middle of the frame."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillPoly(mask, [np.array([[40, 0], [58, 0], [75, 80], [35, 80]], np.int32)], 1)
    return mask.astype(bool)


@pytest.mark.parametrize("seed", [0, 1])
def test_lit_flap_of_frame_filling_cardboard_is_rejected_as_busy_background(seed):
    # The box fills the frame; a flap catching more light is the only "object" a
    # border colour model sees (before: kept as a cut-out, a patch of cardboard).
    image = cardboard(seed)
    image[flap()] += 40
    cands = crop.crop_photo(np.clip(image, 0, 255).astype(np.uint8), PARAMS)
    assert not accepted(cands)
    assert rejected_reasons(cands) == [crop.BUSY_BACKGROUND]
    assert cands[0].roughness > PARAMS.max_roughness and cands[0].contrast < PARAMS.min_contrast


@pytest.mark.parametrize("seed", [0, 1])
def test_distinct_object_on_a_busy_background_and_flap_on_a_plain_one_pass(seed):
    # Near misses: a strongly coloured label on the same cardboard stands out ...
    image = cardboard(seed)
    image[flap()] = (200, 90, 30)
    cands = crop.crop_photo(np.clip(image, 0, 255).astype(np.uint8), PARAMS)
    assert [c.status for c in cands] == [crop.OK] and cands[0].contrast > PARAMS.min_contrast
    # ... and the lit cardboard flap itself, lying on a plain board, is an object.
    image = backdrop(seed=seed).astype(np.float32)
    image[flap()] = cardboard(seed)[flap()] + 40
    cands = crop.crop_photo(np.clip(image, 0, 255).astype(np.uint8), PARAMS)
    assert [c.status for c in cands] == [crop.OK] and cands[0].roughness < PARAMS.max_roughness


def test_busy_background_gate_is_set_by_max_roughness():
    image = cardboard(0)
    image[flap()] += 40
    image = np.clip(image, 0, 255).astype(np.uint8)
    relaxed = PARAMS.model_copy(update={"max_roughness": 5.0})
    assert crop.BUSY_BACKGROUND not in rejected_reasons(crop.crop_photo(image, relaxed))


# --- quality gates: each tripped, each near miss passing -------------------------------

@pytest.mark.parametrize("radius, reason", [(5, crop.TOO_SMALL), (9, "")])
def test_min_area_gate(radius, reason):
    # r=5: 0.85% of the photo (< 2%); r=9: 2.8%.
    cands = crop.crop_photo(shot(ellipse((48, 48), (radius, radius))), PARAMS)
    assert len(cands) == 1 and cands[0].reason == reason


@pytest.mark.parametrize("half, reason", [(22, crop.TOO_LARGE), (15, "")])
def test_max_area_gate(half, reason):
    # Squares of 45 px (22% of the photo) and 31 px (10%) against max_area 0.15.
    cands = crop.crop_photo(shot(rect(48 - half, 48 - half, 48 + half, 48 + half)),
                            PARAMS.model_copy(update={"max_area": 0.15}))
    assert len(cands) == 1 and cands[0].reason == reason


@pytest.mark.parametrize("x1, reason", [(60, crop.BORDER), (36, "")])
def test_border_gate(x1, reason):
    # A band in the bottom-left corner touching 18 px of the left edge and 61 (or 37) px of the
    # bottom: 21% (or 14.5%) of the 380 px ring, against a limit of 18%.
    band = rect(0, 78, x1, 95)
    params = PARAMS.model_copy(update={"max_border_touch": 0.18, "max_offcentre": 0.5})  # only this gate
    cands = crop.crop_photo(shot(band), params)
    assert len(cands) == 1 and cands[0].reason == reason
    assert cands[0].border_touch == pytest.approx((x1 + 1 + 18) / (4 * SIZE - 4), abs=0.02)


@pytest.mark.parametrize("x1, reason", [(20, crop.EDGE_PATCH), (40, "")])
def test_edge_patch_gate(x1, reason):
    # A block against the left edge whose box centre is 0.39 (or 0.29) of the width off-centre.
    block = rect(0, 30, x1, 65)
    cands = crop.crop_photo(shot(block), PARAMS)
    assert len(cands) == 1 and cands[0].reason == reason
    assert cands[0].offcentre == pytest.approx(0.5 - (x1 + 1) / 2 / SIZE, abs=0.02)
    # The same block away from the edge is fine wherever it is.
    assert accepted(crop.crop_photo(shot(rect(3, 30, x1 + 3, 65)), PARAMS))


@pytest.mark.parametrize("arm, reason", [(34, crop.FRAGMENTED), (12, "")])
def test_solidity_gate(arm, reason):
    # A thin-armed cross is mostly empty hull (solidity ~0.35); a stubby one is not (~0.7).
    cross = rect(48 - arm, 44, 48 + arm, 52) | rect(44, 48 - arm, 52, 48 + arm)
    cands = crop.crop_photo(shot(cross), PARAMS)
    assert len(cands) == 1 and cands[0].reason == reason


@pytest.mark.parametrize("count, fragmented", [(9, True), (8, False)])
def test_too_many_pieces_is_fragmented(count, fragmented):
    # Many separate blobs means the cut shattered: every piece is rejected as fragmented.
    spots = [ellipse((14 + 22 * (i % 4), 16 + 30 * (i // 4)), (6, 6)) for i in range(count)]
    cands = crop.crop_photo(shot(*spots), PARAMS.model_copy(update={"min_area": 0.005}))
    reasons = rejected_reasons(cands)
    assert len(cands) == count
    if fragmented:
        assert reasons == [crop.FRAGMENTED] * count
    else:
        assert crop.FRAGMENTED not in reasons and len(accepted(cands)) == PARAMS.max_pieces


# --- alpha, boxes, feathering ----------------------------------------------------

def test_real_alpha_is_used_directly():
    truth = ellipse((48, 48), (30, 18), angle=20)
    soft = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 1.0)
    alpha = np.round(soft * 255).astype(np.uint8)
    # The colour under the transparent part is the object's colour: only the alpha can separate them.
    bgra = np.dstack([np.full((SIZE, SIZE, 3), (30, 80, 200), np.uint8), alpha])
    cands = crop.crop_photo(bgra, PARAMS)
    (cut,) = accepted(cands)
    assert cut.method == "alpha"
    assert np.array_equal(cut.image[:, :, 3], alpha[cut.y:cut.y + cut.h, cut.x:cut.x + cut.w])
    assert iou(crop.paste_alpha(cands, truth.shape), alpha >= 128) == 1.0


def test_opaque_alpha_channel_falls_back_to_the_automatic_cut():
    image = shot(ellipse((48, 48), (20, 14)))
    bgra = np.dstack([image, np.full((SIZE, SIZE), 255, np.uint8)])
    assert [c.method for c in crop.crop_photo(bgra, PARAMS)] == ["auto"]


def test_user_box_overrides_the_automatic_seed():
    left, right = ellipse((24, 48), (12, 20)), rect(58, 30, 80, 70)
    image = shot(left, right)
    cands = crop.crop_photo(image, PARAMS, boxes=[(8, 22, 34, 54)])
    (cut,) = cands
    assert cut.method == "box" and cut.status == crop.OK
    pasted = crop.paste_alpha(cands, left.shape)
    assert iou(pasted, left) > 0.85 and not (pasted & right).any()


def test_feather_gives_intermediate_alpha_only_near_the_edge():
    mask = ellipse((48, 48), (30, 20))
    for feather in (0, 2, 4):
        alpha = cutout.feather_alpha(mask, feather)
        soft = (alpha > 0) & (alpha < 255)
        if feather == 0:
            assert not soft.any()
            continue
        edge = mask ^ cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        distance_to_edge = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 5)
        assert soft.any() and distance_to_edge[soft].max() <= feather + 1
        assert (alpha[distance_to_edge > feather + 1] % 255 == 0).all()
        # The 128 level stays on the mask outline: thresholding gives the mask back.
        assert iou(alpha >= 128, mask) > 0.97


def test_cutout_alpha_is_feathered():
    cands = crop.crop_photo(shot(ellipse((48, 48), (26, 18))), PARAMS.model_copy(update={"feather": 3}))
    alpha = accepted(cands)[0].image[:, :, 3]
    assert ((alpha > 0) & (alpha < 255)).sum() > 50 and (alpha == 255).sum() > 500


def test_read_boxes(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("image,x,y,w,h\na.jpg,1,2,30,40\na.jpg,5,5,10,10\nb,0,0,8,8\n")
    boxes = crop.read_boxes(path)
    assert crop.boxes_for(boxes, "a.jpg") == [(1, 2, 30, 40), (5, 5, 10, 10)]
    assert crop.boxes_for(boxes, "b.png") == [(0, 0, 8, 8)]
    assert crop.boxes_for(boxes, "c.jpg") is None


@pytest.mark.parametrize("text, words", [
    (None, "not found"),
    ("image,x,y,w\na.jpg,1,2,3\n", "lacks column"),
    ("image,x,y,w,h\na.jpg,1,2,three,4\n", "line 2"),
    ("image,x,y,w,h\na.jpg,1,2,0,4\n", "w, h >= 1"),
])
def test_bad_boxes_file_is_one_line_user_error(tmp_path, text, words):
    path = tmp_path / "boxes.csv"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError, match=words) as info:
        crop.read_boxes(path)
    assert "\n" not in str(info.value) and "crop.boxes" in str(info.value)


# --- the stage ---------------------------------------------------------------------

def stage_folder(tmp_path: Path, key: str = "plastic_bottle") -> Path:
    """A temp repo copy with params.yaml and data/clean/trash/KEY holding 3 good photos and a corrupt one."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    folder = tmp_path / "data/clean/trash" / key
    folder.mkdir(parents=True)
    write_image(folder / "a.jpg", shot(ellipse((50, 44), (24, 16))))
    write_image(folder / "b.png", shot(ellipse((24, 48), (12, 20)), rect(58, 30, 80, 70)))
    write_image(folder / "c.jpg", backdrop(seed=3))
    (folder / "d.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    rows = [{"file": n, "width": SIZE, "height": SIZE, "has_alpha": False} for n in ("a.jpg", "b.png", "c.jpg", "d.jpg")]
    pd.DataFrame(rows).to_csv(folder / "kept.csv", index=False)
    return folder


def test_stage_writes_cutouts_table_metrics_and_sheet(tmp_path, monkeypatch):
    from stages.crop import main

    stage_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    main(["plastic_bottle"])

    out = tmp_path / "data/cutouts/plastic_bottle"
    table = pd.read_csv(out / "cutouts.csv", keep_default_na=False)
    assert list(table.columns[:10]) == ["file", "source", "x", "y", "w", "h", "area", "method", "status", "reason"]
    by_source = table.groupby("source").status.apply(list).to_dict()
    assert by_source == {"a.jpg": ["ok"], "b.png": ["ok", "ok"], "c.jpg": ["rejected"], "d.jpg": ["rejected"]}
    assert table.set_index("source").loc["d.jpg", "reason"] == crop.UNREADABLE
    assert table.set_index("source").loc["c.jpg", "reason"] == crop.NO_FOREGROUND
    files = sorted(table.file[table.status == "ok"])
    assert files == ["a_0.png", "b_0.png", "b_1.png"]
    assert sorted(p.name for p in out.glob("*.png")) == files
    for name in files:
        image = read_image(out / name)
        row = table.set_index("file").loc[name]
        assert image.shape == (row.h, row.w, 4)
    assert not (tmp_path / "data/cutouts/.plastic_bottle.partial").exists()

    metrics = json.loads((tmp_path / "metrics/crop/plastic_bottle.json").read_text())
    assert metrics["photos"] == 4 and metrics["cutouts"] == 3 and metrics["unreadable"] == 1
    assert metrics["acceptance_rate"] == pytest.approx(3 / 5)
    assert metrics["rejected_by_reason"] == {crop.NO_FOREGROUND: 1, crop.UNREADABLE: 1}
    # b.png holds two separate objects: counted, and shown on the sheet after the cut-outs.
    assert metrics["photos_multi_object"] == 1 and metrics["photos_cluttered"] == 0
    assert metrics["photos_multi_object_or_cluttered"] == 1
    sheet = read_image(tmp_path / "plots/cutouts/plastic_bottle.png")
    assert sheet is not None and sheet.shape[1] == 4 * (128 + 4)  # 3 cut-outs + 1 flagged photo


def test_photo_flags_count_several_objects_and_clutter():
    from stages.crop import photo_flags, summarise

    rows = [("a.jpg", "ok", ""), ("a.jpg", "ok", ""), ("a.jpg", "rejected", crop.MAX_PIECES),
            ("b.jpg", "ok", ""), ("b.jpg", "rejected", crop.TOO_SMALL),
            ("c.jpg", "rejected", crop.BUSY_BACKGROUND),
            ("d.jpg", "rejected", crop.FRAGMENTED), ("d.jpg", "rejected", crop.FRAGMENTED),
            ("e.jpg", "ok", ""), ("e.jpg", "rejected", crop.BUSY_BACKGROUND)]
    table = pd.DataFrame([{"source": s, "status": st, "reason": r, "file": "", "method": "auto", "area_share": 0.1,
                           "area": 10} for s, st, r in rows])
    flags = photo_flags(table)
    assert flags.objects.to_dict() == {"a.jpg": 3, "b.jpg": 1, "c.jpg": 0, "d.jpg": 0, "e.jpg": 1}
    assert list(flags.index[flags.multi_object]) == ["a.jpg"]
    assert list(flags.index[flags.cluttered]) == ["c.jpg", "d.jpg", "e.jpg"]
    metrics = summarise(table)
    counts = ("photos_multi_object", "photos_cluttered", "photos_multi_object_or_cluttered")
    assert [metrics[k] for k in counts] == [1, 3, 4]


def test_stage_uses_boxes_from_params(tmp_path, monkeypatch):
    from stages.crop import main

    stage_folder(tmp_path)
    (tmp_path / "boxes.csv").write_text("image,x,y,w,h\nb.png,8,22,34,54\n")
    params = (tmp_path / "params.yaml").read_text().replace("  boxes: null", "  boxes: boxes.csv")
    (tmp_path / "params.yaml").write_text(params)
    monkeypatch.chdir(tmp_path)
    main(["plastic_bottle"])
    table = pd.read_csv(tmp_path / "data/cutouts/plastic_bottle/cutouts.csv", keep_default_na=False)
    assert list(table[table.source == "b.png"].method) == ["box"]
    assert set(table[table.source == "a.jpg"].method) == {"auto"}


def test_stage_missing_input_and_unknown_key_are_user_errors(tmp_path, monkeypatch):
    from stages.crop import main

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="not found"):
        main(["plastic_bottle"])
    with pytest.raises(UserError, match="unknown trash query key"):
        main(["no_such_key"])
    (tmp_path / "data/clean/trash/plastic_bottle").mkdir(parents=True)
    with pytest.raises(UserError, match="kept.csv"):
        main(["plastic_bottle"])
    assert not (tmp_path / "data/cutouts").exists()


# --- quality on the demo engine's photos (true masks known) -----------------------------

DEMO_QUERIES = ("plastic bottle litter", "crushed soda can", "plastic bag litter", "candy wrapper litter",
                "cigarette butt litter")


def test_demo_photos_are_cut_out_with_median_iou_over_0_9():
    from deeptrash.io import decode_image
    from deeptrash.scrape.demo.photos import demo_photos

    ious, methods = [], set()
    for query in DEMO_QUERIES:
        for photo in demo_photos("trash", query, 6, seed=11, size=256, junk_share=0.0):
            assert photo.junk is None and photo.truth is not None
            image = decode_image(photo.data)
            cands = crop.crop_photo(image, PARAMS)
            methods.update(c.method for c in cands)
            ious.append(iou(crop.paste_alpha(cands, photo.truth.shape), photo.truth > 127))
    assert len(ious) == 30 and methods == {"auto"}
    assert np.median(ious) >= 0.9
    # And no photo is a total miss: the worst still overlaps its object well.
    assert np.min(ious) >= 0.5, sorted(ious)[:5]
