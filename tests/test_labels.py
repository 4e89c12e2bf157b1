"""Real-label loaders: the same shapes as mask PNGs, COCO JSON and LabelMe JSON."""
import base64
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from deeptrash.errors import UserError
from deeptrash.measure import labels, metrics

W, H = 64, 48
# name -> polygons (integer x, y points) drawn on that photo; "clean" has none.
SHAPES = {
    "beach": [[(5, 5), (30, 8), (20, 30)], [(40, 20), (60, 20), (60, 40), (42, 44)]],
    "park": [[(10, 30), (25, 12), (35, 40)]],
    "clean": [],
}


def photo(seed):
    rng = np.random.default_rng([seed, 3])
    return rng.integers(0, 255, (H, W, 3), dtype=np.uint8)


def true_mask(polygons):
    mask = np.zeros((H, W), np.uint8)
    for poly in polygons:
        cv2.fillPoly(mask, [np.array(poly, np.int32).reshape(-1, 1, 2)], 255)
    return mask


@pytest.fixture
def formats(tmp_path):
    """The same labelled photos in all three formats; returns {format: path}."""
    masks_root, coco_root, labelme_root = tmp_path / "maskset", tmp_path / "coco", tmp_path / "labelme"
    for folder in (masks_root / "images", masks_root / "masks", coco_root / "batch_1", labelme_root):
        folder.mkdir(parents=True)
    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "Bottle"}, {"id": 2, "name": "Can"}]}
    for image_id, (name, polygons) in enumerate(SHAPES.items(), start=1):
        image = photo(image_id)
        cv2.imwrite(str(masks_root / "images" / f"{name}.png"), image)
        cv2.imwrite(str(masks_root / "masks" / f"{name}.png"), true_mask(polygons))
        cv2.imwrite(str(coco_root / "batch_1" / f"{name}.png"), image)
        cv2.imwrite(str(labelme_root / f"{name}.png"), image)
        coco["images"].append({"id": image_id, "file_name": f"batch_1/{name}.png", "width": W, "height": H})
        for k, poly in enumerate(polygons):
            coco["annotations"].append({
                "id": 10 * image_id + k, "image_id": image_id, "category_id": 1 + k % 2, "iscrowd": 0,
                "segmentation": [[float(v) for point in poly for v in point]],
            })
        doc = {
            "version": "5.4.1", "flags": {}, "imagePath": f"{name}.png", "imageData": None,
            "imageHeight": H, "imageWidth": W,
            "shapes": [{"label": f"thing{k}", "points": [list(p) for p in poly], "shape_type": "polygon",
                        "group_id": None, "flags": {}} for k, poly in enumerate(polygons)],
        }
        (labelme_root / f"{name}.json").write_text(json.dumps(doc))
    (coco_root / "annotations.json").write_text(json.dumps(coco))
    return {"mask folder": masks_root, "COCO": coco_root / "annotations.json", "LabelMe": labelme_root}


def load_all(path):
    labelled = labels.load_real(path)
    return labelled, {name.split("/")[-1].rsplit(".", 1)[0]: (image, mask) for name, image, mask in labelled}


def test_three_formats_give_the_same_masks_and_metrics(formats):
    prediction = np.zeros((H, W), bool)
    prediction[10:35, 10:50] = True
    results = {}
    for fmt, path in formats.items():
        labelled, loaded = load_all(path)
        assert labelled.format == fmt and len(labelled) == 3
        assert sorted(loaded) == sorted(SHAPES)
        for name, (image, mask) in loaded.items():
            assert image.shape == (H, W, 3) and image.dtype == np.uint8
            assert np.array_equal(image, photo(list(SHAPES).index(name) + 1))
            assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
            np.testing.assert_array_equal(mask, true_mask(SHAPES[name]), err_msg=f"{fmt} {name}")
        rows = [metrics.image_scores(loaded[name][1], prediction) for name in sorted(loaded)]
        results[fmt] = metrics.aggregate(rows)
    assert results["mask folder"] == results["COCO"] == results["LabelMe"]
    assert 0 < results["COCO"]["iou"] < 1 and results["COCO"]["objects"] == 3


def test_bad_paths_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        labels.load_real(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="not a COCO"):
        labels.load_real(tmp_path / "notes.txt")
    with pytest.raises(UserError, match="neither"):
        labels.load_real(tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(UserError, match="not a COCO JSON"):
        labels.load_real(tmp_path / "broken.json")
    (tmp_path / "empty.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(UserError, match="no labelled photos"):
        labels.load_real(tmp_path / "empty.json")


def test_missing_photo_and_missing_mask_are_skipped(formats):
    (formats["COCO"].parent / "batch_1" / "park.png").unlink()
    labelled, loaded = load_all(formats["COCO"])
    assert sorted(loaded) == ["beach", "clean"] and labelled.skipped == 1
    (formats["mask folder"] / "masks" / "beach.png").unlink()
    (formats["mask folder"] / "images" / "park.png").write_bytes(b"not an image")
    labelled, loaded = load_all(formats["mask folder"])
    assert sorted(loaded) == ["clean"] and labelled.skipped == 2


def test_labelme_rectangle_circle_and_embedded_image(tmp_path):
    image = photo(9)
    ok, png = cv2.imencode(".png", image)
    doc = {
        "imagePath": "..\\elsewhere\\gone.png", "imageData": base64.b64encode(png.tobytes()).decode(),
        "imageHeight": H, "imageWidth": W,
        "shapes": [
            {"label": "box", "points": [[40, 30], [10, 5]], "shape_type": "rectangle"},
            {"label": "lid", "points": [[50, 35], [50, 40]], "shape_type": "circle"},
            {"label": "_background_", "points": [[0, 0], [63, 0], [63, 47]], "shape_type": "polygon"},
            {"label": "tip", "points": [[3, 3]], "shape_type": "point"},
        ],
    }
    (tmp_path / "one.json").write_text(json.dumps(doc))
    _, loaded = load_all(tmp_path)
    got_image, mask = loaded["one"]
    assert np.array_equal(got_image, image)
    expected = np.zeros((H, W), np.uint8)
    cv2.rectangle(expected, (10, 5), (40, 30), 255, -1)
    cv2.circle(expected, (50, 35), 5, 255, -1)
    np.testing.assert_array_equal(mask, expected)


def encode_rle_string(counts):
    """pycocotools' rleToString, for a round trip."""
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_counts(mask):
    flat = (mask.T.ravel() > 0).astype(np.int8)
    change = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    runs = np.diff(np.concatenate([[0], change])).tolist()
    return runs if runs else [mask.size]


def test_coco_rle_plain_and_compressed(tmp_path):
    mask = true_mask(SHAPES["beach"])
    counts = rle_counts(mask)
    assert sum(counts) == H * W
    np.testing.assert_array_equal(labels.decode_rle({"size": [H, W], "counts": counts}), mask)
    np.testing.assert_array_equal(labels.decode_rle({"size": [H, W], "counts": encode_rle_string(counts)}), mask)


def test_coco_labels_on_exif_rotated_photo_line_up(tmp_path):
    # Stored 64 wide x 48 high with Orientation=6: viewers show it 48 x 64.
    stored = photo(5)
    pil = Image.fromarray(cv2.cvtColor(stored, cv2.COLOR_BGR2RGB))
    exif = pil.getexif()
    exif[0x0112] = 6
    pil.save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    shown_w, shown_h = H, W
    polygon = [(2, 40), (30, 40), (30, 60), (2, 60)]     # only fits the upright photo
    coco = {"images": [{"id": 1, "file_name": "phone.jpg", "width": shown_w, "height": shown_h}],
            "annotations": [{"id": 1, "image_id": 1, "segmentation": [[v for p in polygon for v in p]]}]}
    (tmp_path / "a.json").write_text(json.dumps(coco))
    _, loaded = load_all(tmp_path / "a.json")
    image, mask = loaded["phone"]
    assert image.shape == (shown_h, shown_w, 3) and mask.shape == (shown_h, shown_w)
    assert mask[50, 15] == 255 and mask[10, 15] == 0
    # The same file labelled in its stored orientation (a tool that ignores EXIF).
    coco["images"][0].update(width=W, height=H)
    (tmp_path / "a.json").write_text(json.dumps(coco))
    _, loaded = load_all(tmp_path / "a.json")
    assert loaded["phone"][0].shape == (H, W, 3) and loaded["phone"][1].shape == (H, W)
