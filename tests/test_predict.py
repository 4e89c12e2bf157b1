"""Prediction on photos of any size: resize and tile modes, and the predict CLI.

The model here is tiny and known: a 1x1 convolution that says "trash" where a
pixel is strongly red (sigmoid(0.1 R - 0.1 G - 0.1 B - 5)), so the expected
mask of any drawn photo is known exactly.
"""
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deeptrash import overlays
from deeptrash.errors import UserError
from deeptrash.io import resize
from deeptrash.learn import inference
from deeptrash.learn.model import load_segmenter
from deeptrash.measure import metrics
from stages import predict

IMAGE_SIZE = 64
REPO_PARAMS = Path(__file__).resolve().parent.parent / "params.yaml"
RED = (0, 0, 230)      # BGR


def save_red_model(folder: Path, image_size: int) -> Path:
    """A 'segmenter' that sees red things as trash (1x1 convolution, sigmoid), saved with its meta.json."""
    import keras

    inputs = keras.Input((None, None, 3))
    layer = keras.layers.Conv2D(1, 1, activation="sigmoid")
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.array([0.1, -0.1, -0.1], np.float32).reshape(1, 1, 3, 1), np.array([-5.0], np.float32)])
    model.save(folder / "segmenter.keras")
    (folder / "meta.json").write_text(json.dumps({"image_size": image_size}))
    return folder / "segmenter.keras"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return save_red_model(tmp_path_factory.mktemp("models"), IMAGE_SIZE)


@pytest.fixture(scope="module")
def model(model_path):
    return load_segmenter(model_path)


def scene(height, width, boxes):
    """Grey-green photo with red boxes (y0, y1, x0, x1); returns (image, true bool mask)."""
    image = np.full((height, width, 3), (90, 120, 100), np.uint8)
    truth = np.zeros((height, width), bool)
    for y0, y1, x0, x1 in boxes:
        image[y0:y1, x0:x1] = RED
        truth[y0:y1, x0:x1] = True
    return image, truth


def test_model_size_from_meta_and_loading_errors(model_path, model, tmp_path):
    assert inference.model_image_size(model_path, model) == IMAGE_SIZE
    (tmp_path / "meta.json").write_text(json.dumps({"image_size": 100}))
    assert inference.model_image_size(tmp_path / "m.keras") == 128        # next multiple of 32
    (tmp_path / "meta.json").write_text(json.dumps({"backbone": "x"}))
    with pytest.raises(UserError, match="image_size"):
        inference.model_image_size(tmp_path / "m.keras")
    (tmp_path / "meta.json").unlink()
    with pytest.raises(UserError, match="meta.json"):
        inference.model_image_size(tmp_path / "m.keras", model)            # input (None, None, 3)
    with pytest.raises(UserError, match="model not found"):
        load_segmenter(tmp_path / "missing.keras")
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="load"):
        load_segmenter(tmp_path / "broken.keras")


def test_resize_and_tile_modes_find_the_objects(model):
    image, truth = scene(300, 500, [(20, 120, 30, 200), (200, 280, 350, 480)])
    for mode in ("resize", "tile"):
        probs = inference.predict_probabilities(model, image, IMAGE_SIZE, mode=mode, tile_size=128, overlap=0.25)
        assert probs.shape == (300, 500) and probs.dtype == np.float32
        assert 0.0 <= probs.min() and probs.max() <= 1.0
        assert metrics.iou(truth, probs >= 0.5) > 0.9, mode   # edges blur at 64 px


def test_tile_mode_keeps_a_thin_object_that_resize_loses(model):
    # A 3-px line in a 2000 px photo shrinks to a fraction of a pixel at 64 px.
    image, truth = scene(1200, 2000, [(600, 603, 100, 1900)])
    resized = inference.predict_probabilities(model, image, IMAGE_SIZE, mode="resize") >= 0.5
    tiled = inference.predict_probabilities(model, image, IMAGE_SIZE, mode="tile", tile_size=96, overlap=0.25) >= 0.5
    assert metrics.recall(truth, tiled) > 0.9
    assert metrics.recall(truth, resized) < 0.5


def test_tiles_cover_the_photo_with_overlap():
    assert inference.tile_origins(100, 128, 0.25) == [0]
    origins = inference.tile_origins(1000, 256, 0.25)
    assert origins[0] == 0 and origins[-1] == 1000 - 256
    steps = np.diff(origins)
    assert steps.max() <= 192 and steps.min() > 0     # never a gap, overlap >= 25 %
    window = inference.blend_window(8, 12)
    assert window.shape == (8, 12) and window.min() > 0 and window[4, 6] > 10 * window[0, 0]


def test_bad_mode_is_an_error(model):
    with pytest.raises(ValueError, match="mode"):
        inference.predict_probabilities(model, np.zeros((10, 10, 3), np.uint8), IMAGE_SIZE, mode="zoom")


def test_predict_cli_big_photo_and_corrupt_file(model_path, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    big, big_truth = scene(3000, 4000, [(500, 1500, 1000, 2500)])
    cv2.imwrite(str(photos / "a_big.jpg"), big)
    small, _ = scene(50, 90, [(0, 25, 0, 45)])
    cv2.imwrite(str(photos / "c_small.png"), small)
    (photos / "b_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    out = tmp_path / "out"
    predict.main([str(photos), str(tmp_path / "nowhere.jpg"), "--out", str(out), "--model", str(model_path),
                  "--params", str(tmp_path / "no_params.yaml")])

    table = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    assert list(table["file"].map(lambda f: f.split("/")[-1])) == ["a_big.jpg", "b_corrupt.jpg", "c_small.png", "nowhere.jpg"]
    errors = dict(zip(table["file"].map(lambda f: f.split("/")[-1]), table["error"]))
    assert errors["a_big.jpg"] == "" and errors["c_small.png"] == ""
    assert "unreadable" in errors["b_corrupt.jpg"] and errors["nowhere.jpg"] == "not found"

    mask = cv2.imread(str(out / "a_big_mask.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (3000, 4000) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    assert metrics.iou(big_truth, mask) > 0.95
    big_row = table[table["mask"] == "a_big_mask.png"].iloc[0]
    assert (big_row["width"], big_row["height"]) == (4000, 3000)
    assert float(big_row["trash_fraction"]) == pytest.approx(big_truth.mean(), abs=0.01)
    assert int(big_row["pieces"]) == 1
    overlay = cv2.imread(str(out / "a_big_overlay.jpg"))
    assert overlay.shape == (3000, 4000, 3)
    assert cv2.imread(str(out / "c_small_mask.png"), cv2.IMREAD_UNCHANGED).shape == (50, 90)
    assert not (out / "b_corrupt_mask.png").exists()


def test_exif_rotated_jpeg_gives_mask_as_displayed(model_path, tmp_path):
    # Stored 120 wide x 60 high, red block in the stored top-left corner.
    stored, _ = scene(60, 120, [(0, 30, 0, 40)])
    pil = Image.fromarray(cv2.cvtColor(stored, cv2.COLOR_BGR2RGB))
    exif = pil.getexif()
    exif[0x0112] = 6          # "rotate 90 clockwise to display"
    pil.save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    out = tmp_path / "out"
    predict.main([str(tmp_path / "phone.jpg"), "--out", str(out), "--model", str(model_path), "--mode", "tile",
                  "--tile-size", "64", "--params", str(tmp_path / "none.yaml")])
    mask = cv2.imread(str(out / "phone_mask.png"), cv2.IMREAD_UNCHANGED)
    displayed_truth = np.rot90(stored[:, :, 2] > 200, k=-1)     # clockwise: top-left -> top-right
    assert mask.shape == (120, 60) == displayed_truth.shape
    assert metrics.iou(displayed_truth, mask) > 0.9


def test_defaults_come_from_params_yaml(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("seed: 1\nevaluate:\n  threshold: 0.8\n  mode: tile\n  tile_size: 512\n")
    defaults = predict.evaluate_defaults(params)
    assert (defaults.threshold, defaults.mode, defaults.tile_size) == (0.8, "tile", 512)
    assert predict.evaluate_defaults(tmp_path / "absent.yaml").threshold == 0.5
    params.write_text("evaluate:\n  mode: zoom\n")
    with pytest.raises(UserError, match="evaluate.mode"):
        predict.evaluate_defaults(params)


def test_help_and_bad_arguments(capsys, tmp_path):
    with pytest.raises(SystemExit) as exited:
        predict.main(["--help"])
    assert exited.value.code == 0 and "--tile-size" in capsys.readouterr().out
    with pytest.raises(UserError, match="threshold"):
        predict.main(["x.jpg", "--out", str(tmp_path), "--threshold", "1.5", "--params", str(tmp_path / "n.yaml")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no photos"):
        predict.main([str(empty), "--out", str(tmp_path / "o"), "--params", str(tmp_path / "n.yaml")])


@pytest.mark.parametrize("flags, named", [
    (["--threshold", "1.5"], "--threshold"), (["--threshold", "0"], "--threshold"),
    (["--overlap", "1"], "--overlap"), (["--tile-size", "16"], "--tile-size"),
    (["--scales", "1", "0.05"], "--scales"), (["--scales", "9"], "--scales"),
    (["--batch-size", "0"], "--batch-size"), (["--min-piece", "1"], "--min-piece"),
    (["--threshold", "0.5", "--seed-threshold", "0.3"], "--seed-threshold"),
])
def test_bad_flags_are_refused_by_the_params_rules(flags, named):
    # The evaluate flags are checked by EvaluateParams, the rules params.yaml obeys: one line naming the flag
    args = predict.build_parser(predict.EvaluateParams()).parse_args(["x.jpg", "--out", "o", *flags])
    with pytest.raises(UserError, match=f"^{named}"):
        predict.check_args(args)
    good = predict.build_parser(predict.EvaluateParams()).parse_args(["x.jpg", "--out", "o"])
    predict.check_args(good)     # the defaults pass


def test_trash_mask_keeps_the_pieces_a_seed_reaches_whole():
    probs = np.zeros((40, 60), np.float32)
    probs[5:25, 5:25] = 0.35            # a found piece's faint rim...
    probs[10:20, 10:20] = 0.9           # ...around its confident core
    probs[5:25, 35:55] = 0.35           # a faint blob on its own
    plain = inference.trash_mask(probs, 0.3)
    assert np.array_equal(plain, probs >= 0.3)
    seeded = inference.trash_mask(probs, 0.3, 0.5)
    assert seeded.dtype == bool and seeded.shape == probs.shape
    assert seeded[5:25, 5:25].all() and not seeded[:, 30:].any()
    # A seed at or below the threshold seeds every piece: the plain mask.
    assert np.array_equal(inference.trash_mask(probs, 0.3, 0.3), plain)
    assert not inference.trash_mask(np.zeros((4, 4), np.float32), 0.3, 0.5).any()


FAINT = (56, 60, 160)  # BGR: the red model gives it about 0.35


def test_predict_seed_threshold_drops_a_faint_blob(model_path, tmp_path):
    image, _ = scene(64, 96, [(10, 30, 10, 30)])
    image[34:54, 60:80] = FAINT
    cv2.imwrite(str(tmp_path / "photo.png"), image)
    pieces = {}
    for name, flags in {"plain": [], "seeded": ["--seed-threshold", "0.5"]}.items():
        predict.main([str(tmp_path / "photo.png"), "--out", str(tmp_path / name), "--model", str(model_path),
                      "--threshold", "0.3", "--mode", "resize", "--params", str(tmp_path / "none.yaml"), *flags])
        pieces[name] = pd.read_csv(tmp_path / name / "predictions.csv")["pieces"].item()
    assert pieces == {"plain": 2, "seeded": 1}


def test_output_names_stay_distinct(tmp_path):
    names = predict.output_stems([tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.png", tmp_path / "y.jpg"])
    assert names == ["x", "x_2", "y"]


def test_the_project_segmenter_round_trips_through_inference(tmp_path):
    """The real model contract: save, load with load_segmenter, predict at any photo size."""
    model_module = pytest.importorskip("deeptrash.learn.model")
    segmenter = model_module.build_segmenter("mobilenet_v3_small")
    segmenter.save(tmp_path / "segmenter.keras")
    (tmp_path / "meta.json").write_text(json.dumps({"image_size": 64}))
    loaded = load_segmenter(tmp_path / "segmenter.keras")
    size = inference.model_image_size(tmp_path / "segmenter.keras", loaded)
    image, _ = scene(90, 150, [(10, 40, 10, 60)])
    for mode in ("resize", "tile"):
        probs = inference.predict_probabilities(loaded, image, size, mode=mode, tile_size=64, overlap=0.25)
        assert probs.shape == (90, 150) and np.isfinite(probs).all()
        assert 0.0 <= probs.min() and probs.max() <= 1.0


def test_error_overlay_colours():
    image = np.full((20, 20, 3), 100, np.uint8)
    truth = np.zeros((20, 20), bool)
    pred = np.zeros((20, 20), bool)
    truth[2:10, 2:10] = True     # left half found, right half missed
    pred[2:10, 2:6] = True
    pred[14:18, 14:18] = True    # false alarm
    out = overlays.overlay_errors(image, truth, pred)
    found, false, missed = out[5, 4], out[16, 16], out[5, 8]
    assert found[1] > found[0] and found[1] > found[2]          # green
    assert false[2] > false[0] and false[2] > false[1]          # red (BGR)
    assert missed[0] > missed[1] and missed[0] > missed[2]      # blue
    assert tuple(out[2, 5]) == (255, 255, 255)                  # truth outline
    assert tuple(out[0, 0]) == (100, 100, 100)                  # untouched elsewhere


def test_tile_blending_has_no_seams(model):
    # A uniform photo gives the same probability in every tile: the blend
    # (weights normalised per pixel) must reproduce it everywhere, edges included.
    image = np.full((333, 517, 3), (40, 60, 120), np.uint8)     # BGR: R=120 -> logit -2
    expected = 1 / (1 + np.exp(-(0.1 * 120 - 0.1 * 60 - 0.1 * 40 - 5)))
    probs = inference.predict_probabilities(model, image, IMAGE_SIZE, mode="tile", tile_size=100, overlap=0.3)
    assert probs.shape == (333, 517)
    np.testing.assert_allclose(probs, expected, rtol=1e-4)


class RampModel:
    """Deterministic stand-in model: probability = red share x a ramp across the tile.

    The ramp differs down and across (rows 0.3 -> 1, columns 1 -> 0.6), so a
    tile put back in the wrong place, transposed or weighted wrongly changes
    the answer. Records the batch shape of every call.
    """

    def __init__(self):
        self.calls: list[tuple[int, ...]] = []

    def predict_on_batch(self, batch):
        batch = np.asarray(batch)
        assert batch.dtype == np.float32 and batch.ndim == 4 and batch.shape[1] == batch.shape[2]
        self.calls.append(batch.shape)
        size = batch.shape[1]
        ramp = np.outer(np.linspace(0.3, 1.0, size), np.linspace(1.0, 0.6, size)).astype(np.float32)
        return (batch[..., 0] / 255 * ramp)[..., None]


def reference_tiles(model, image, size, tile_size, overlap):
    """Tile mode the slow, obvious way: one model call per tile, blended in float64."""
    height, width = image.shape[:2]
    scaled_h, scaled_w = inference.tile_scale_size(height, width, size, tile_size)
    scaled = cv2.cvtColor(resize(image, scaled_w, scaled_h), cv2.COLOR_BGR2RGB).astype(np.float32)
    window = inference.blend_window(size, size).astype(np.float64)
    total = np.zeros((scaled_h, scaled_w))
    weight = np.zeros((scaled_h, scaled_w))
    for y in inference.tile_origins(scaled_h, size, overlap):
        for x in inference.tile_origins(scaled_w, size, overlap):
            probs = model.predict_on_batch(scaled[None, y:y + size, x:x + size])[0, ..., 0]
            total[y:y + size, x:x + size] += probs * window
            weight[y:y + size, x:x + size] += window
    return resize((total / weight).astype(np.float32), width, height)


@pytest.mark.parametrize("height, width", [
    (150, 230),     # several tiles both ways, odd sizes
    (40, 50),       # smaller than a tile both ways
    (45, 300),      # one side smaller than a tile: square tiles of the short side along the long one
    (301, 33),      # the same, standing
    (1, 5),         # degenerate
])
def test_tile_mode_equals_a_per_tile_loop(height, width):
    image = np.random.default_rng([height, width]).integers(0, 256, (height, width, 3), dtype=np.uint8)
    expected = reference_tiles(RampModel(), image, 32, 64, 0.3)
    for batch_size in (1, 5, 1000):
        model = RampModel()
        probs = inference.predict_probabilities(model, image, 32, mode="tile", tile_size=64, overlap=0.3,
                                                batch_size=batch_size)
        assert probs.shape == (height, width) and probs.dtype == np.float32
        np.testing.assert_allclose(probs, expected, atol=1e-5)
        assert all(shape[1:] == (32, 32, 3) for shape in model.calls)   # square tiles, never squashed


def test_tiles_go_in_as_few_equal_calls_as_batch_size_allows():
    image = np.zeros((768, 1024, 3), np.uint8)
    model = RampModel()
    inference.predict_probabilities(model, image, 96, mode="tile", tile_size=256, overlap=0.25, batch_size=32)
    assert [shape[0] for shape in model.calls] == [20]          # 5 x 4 tiles, one call, no padding
    model = RampModel()
    inference.predict_probabilities(model, image, 96, mode="tile", tile_size=256, overlap=0.25, batch_size=8)
    assert [shape[0] for shape in model.calls] == [7, 7, 7]     # not 8, 8, 4: same shape, one padded input


def test_tile_scale_keeps_the_tile_scale_and_the_aspect():
    assert inference.tile_scale_size(768, 1024, 96, 256) == (288, 384)     # 256 photo px -> 96
    assert inference.tile_scale_size(100, 1000, 96, 256) == (96, 960)      # short side under a tile
    assert inference.tile_scale_size(20, 30, 96, 256) == (96, 144)         # small photo: enlarged, not squashed
    assert inference.tile_scale_size(3000, 4000, 64, 128) == (1500, 2000)


def test_tile_mode_matches_the_old_photo_space_blend(model):
    """Blending at model scale and resizing once gives what resizing every tile back to the photo gave."""
    image, _ = scene(300, 500, [(20, 120, 30, 200), (200, 280, 350, 480)])
    image = cv2.GaussianBlur(image, (0, 0), 3)          # soft edges: interpolation order hardly matters
    tile, size, overlap = 128, IMAGE_SIZE, 0.25
    total = np.zeros((300, 500), np.float32)
    weight = np.zeros((300, 500), np.float32)
    window = inference.blend_window(tile, tile)
    for y in inference.tile_origins(300, tile, overlap):
        for x in inference.tile_origins(500, tile, overlap):
            crop = image[y:y + tile, x:x + tile]
            probs = inference.run_model(model, inference.to_model_input(crop, size)[None])[0]
            total[y:y + tile, x:x + tile] += resize(probs, tile, tile) * window
            weight[y:y + tile, x:x + tile] += window
    probs = inference.predict_probabilities(model, image, size, mode="tile", tile_size=tile, overlap=overlap)
    assert np.abs(probs - total / weight).mean() < 0.01


# --- test-time views: several tile sizes, the mirrored photo --------------------

def test_views_average_each_tile_size_and_the_mirror_put_back():
    image = np.random.default_rng(7).integers(0, 256, (150, 230, 3), dtype=np.uint8)
    one = inference.predict_probabilities(RampModel(), image, 32, tile_size=64, overlap=0.3)
    np.testing.assert_array_equal(one, inference.predict_probabilities(
        RampModel(), image, 32, tile_size=64, overlap=0.3, scales=[1.0], flip=False))   # defaults: one view
    model = RampModel()
    several = inference.predict_probabilities(model, image, 32, tile_size=64, overlap=0.3, scales=[1.0, 2.0])
    expected = (reference_tiles(RampModel(), image, 32, 64, 0.3) + reference_tiles(RampModel(), image, 32, 128, 0.3)) / 2
    np.testing.assert_allclose(several, expected, atol=1e-5)
    assert sum(shape[0] for shape in model.calls) > sum(shape[0] for shape in RampModel().calls) + 1
    # The ramp is not mirror-symmetric: the mirrored view gives other numbers, and must be flipped back
    # onto the photo (a mirrored photo's flip view is this photo's plain view, so the means agree).
    flipped = inference.predict_probabilities(RampModel(), image, 32, tile_size=64, overlap=0.3, flip=True)
    mirror = reference_tiles(RampModel(), np.ascontiguousarray(image[:, ::-1]), 32, 64, 0.3)[:, ::-1]
    np.testing.assert_allclose(flipped, (reference_tiles(RampModel(), image, 32, 64, 0.3) + mirror) / 2, atol=1e-5)
    assert np.abs(flipped - one).max() > 0.01
    np.testing.assert_allclose(
        inference.predict_probabilities(RampModel(), np.ascontiguousarray(image[:, ::-1]), 32, tile_size=64,
                                        overlap=0.3, flip=True)[:, ::-1], flipped, atol=1e-5)


def test_flip_in_resize_mode_and_bad_scales(model):
    image, truth = scene(120, 200, [(20, 60, 10, 50)])
    probs = inference.predict_probabilities(model, image, IMAGE_SIZE, mode="resize", flip=True)
    assert metrics.iou(truth, probs >= 0.5) > 0.8      # a per-pixel model: mirroring changes nothing
    for scales in ([], [0.0], [1.0, -2.0]):
        with pytest.raises(ValueError, match="scales"):
            inference.predict_probabilities(model, image, IMAGE_SIZE, scales=scales)


def test_predict_cli_views_from_params_and_flags(model_path, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("evaluate:\n  scales: [1.0, 2.0]\n  flip: true\n")
    defaults = predict.evaluate_defaults(params)
    assert (defaults.scales, defaults.flip) == ([1.0, 2.0], True)
    args = predict.build_parser(defaults).parse_args(["x.jpg", "--out", "o", "--scales", "1", "1.5", "--no-flip"])
    assert (args.scales, args.flip) == ([1.0, 1.5], False)
    with pytest.raises(UserError, match="--scales"):
        predict.main(["x.jpg", "--out", str(tmp_path / "o"), "--scales", "0", "--params", str(params)])
    params.write_text("evaluate:\n  scales: []\n")
    with pytest.raises(UserError, match="evaluate.scales"):
        predict.evaluate_defaults(params)
    image, truth = scene(120, 200, [(20, 60, 10, 50)])
    cv2.imwrite(str(tmp_path / "photo.png"), image)
    predict.main([str(tmp_path / "photo.png"), "--out", str(tmp_path / "out"), "--model", str(model_path),
                  "--tile-size", "64", "--scales", "1", "2", "--flip", "--params", str(tmp_path / "none.yaml")])
    mask = cv2.imread(str(tmp_path / "out" / "photo_mask.png"), cv2.IMREAD_GRAYSCALE) > 127
    assert metrics.iou(truth, mask) > 0.8
