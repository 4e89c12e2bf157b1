"""Self-training on unlabelled scenes: pseudo-targets, tiles, and the train stage fine-tuning on them."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from deeptrash.errors import UserError
from deeptrash.learn.losses import IGNORE
from deeptrash.learn.selftrain import pseudo_targets, scene_tiles
from tests.test_train import write_params, write_synth


def test_pseudo_targets_keep_only_confident_pixels():
    probs = np.full((20, 20), 0.5, np.float32)
    probs[:, :5] = 0.05            # confident background
    probs[8:12, 12:16] = 0.95      # confident trash
    targets = pseudo_targets(probs, confident=0.8, background=0.2, margin=2)
    assert (targets[:, :5] == 0).all()
    assert (targets[8:12, 12:16] == 1).all()
    assert (targets[0:3, 6:10] == IGNORE).all()  # unsure
    probs[:, 17:] = 0.01                          # background, but next to trash: unsure
    targets = pseudo_targets(probs, 0.8, 0.2, margin=2)
    assert targets[9, 17] == IGNORE and targets[9, 19] == 0
    assert set(np.unique(pseudo_targets(probs, 0.8, 0.2, margin=0))) == {0.0, 1.0, IGNORE}


def test_pseudo_trash_grows_over_the_pieces_it_seeds():
    probs = np.full((20, 30), 0.05, np.float32)
    probs[4:14, 2:12] = 0.6        # an object the model is half sure of...
    probs[8:10, 6:8] = 0.9         # ...with a confident core
    probs[4:14, 18:28] = 0.6       # the same without a core: no seed
    plain = pseudo_targets(probs, 0.8, 0.2, margin=0)
    grown = pseudo_targets(probs, 0.8, 0.2, margin=0, grow=0.5)
    assert np.count_nonzero(plain == 1) == 4
    assert (grown[4:14, 2:12] == 1).all()                 # the whole seeded piece
    assert (grown[4:14, 18:28] == IGNORE).all()           # the unseeded one stays unsure
    assert (grown == 0).sum() == (plain == 0).sum()       # background untouched
    with_margin = pseudo_targets(probs, 0.8, 0.2, margin=2, grow=0.5)
    assert with_margin[8, 13] == IGNORE and with_margin[8, 15] == 0  # the margin follows the grown piece


def test_scene_tiles_follow_inference_tiles_and_drop_empty_ones():
    image = np.zeros((100, 150, 3), np.uint8)
    image[:, :, 2] = 200  # red in BGR
    probs = np.full((100, 150), 0.5, np.float32)  # nothing confident
    tiles, targets = scene_tiles(image, probs, 32, 64, 0.25, 0.8, 0.2, 1)
    assert tiles.shape == (0, 32, 32, 3) and targets.shape == (0, 32, 32, 1)
    probs[:, :40] = 0.0  # only the left column of tiles (x = 0; the next starts at 48) sees it
    tiles, targets = scene_tiles(image, probs, 32, 64, 0.25, 0.8, 0.2, 1)
    assert tiles.shape == (2, 32, 32, 3) and targets.shape == (2, 32, 32, 1)  # rows at y=0 and y=36
    assert tiles[0, 0, 0, 0] == pytest.approx(200)  # RGB for the model
    assert (targets[:, :, :18] == 0).all() and (targets[:, :, 22:] == IGNORE).all()  # 40 of 64 columns


def write_scenes(folder, n: int, size: int = 96) -> None:
    """Photos like the shape composites (bright shapes on textured noise), unlabelled."""
    from deeptrash.learn.dataset import shapes_sample

    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for i in range(n):
        image, _ = shapes_sample(rng, size)
        cv2.imwrite(str(folder / f"scene_{i}.jpg"), image)


def test_stage_fine_tunes_on_pseudo_labelled_scenes(tmp_path):
    from stages.train import main

    write_synth(tmp_path / "data" / "synth", 16, 4, 32)
    write_scenes(tmp_path / "scenes", 4, size=64)
    write_params(tmp_path / "params.yaml", epochs=2, batch_size=8, learning_rate=0.005, early_stopping=0,
                 selftrain={"scenes": "scenes", "epochs": 1, "rounds": 2, "tile_size": 32, "confident": 0.6,
                            "background": 0.4})
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        main([])
    finally:
        os.chdir(cwd)
    metrics = json.loads((tmp_path / "metrics" / "train.json").read_text())
    counts = metrics["selftrain"]
    assert counts["photos"] == 4 and counts["tiles"] > 0
    # A tiny model after two epochs may call every confident pixel trash (CI saw 1.0), so the trash share
    # may reach 1; a kept tile always holds some confident pixel, so the ignored share may not.
    assert 0 <= counts["trash_share"] <= 1 and 0 <= counts["ignored_share"] < 1
    assert np.isfinite(counts["val_iou_after"])
    assert list(counts["rounds"]) == ["round_1", "round_2"]  # the second round labelled with the fine-tuned model
    assert counts["rounds"]["round_2"]["val_iou_after"] == counts["val_iou_after"]
    assert counts["adapt_bn_layers"] == 8 and counts["adapt_bn_tiles"] == 36  # decoder BN; 3 x 3 tiles a photo
    assert (tmp_path / "models" / "segmenter.keras").is_file()


def test_missing_scenes_folder_is_one_line_error(tmp_path):
    from stages.train import finetune_on_scenes
    from deeptrash.params import TrainParams

    cfg = TrainParams(selftrain={"scenes": str(tmp_path / "nowhere")})
    with pytest.raises(UserError, match="train.selftrain.scenes"):
        finetune_on_scenes(None, None, cfg, None, None, None, 32, 0)
    (tmp_path / "empty").mkdir()
    cfg = TrainParams(selftrain={"scenes": str(tmp_path / "empty")})
    with pytest.raises(UserError, match="no photos"):
        finetune_on_scenes(None, None, cfg, None, None, None, 32, 0)


def bn_state(layers) -> list[np.ndarray]:
    return [np.array(v) for layer in layers for v in (layer.moving_mean, layer.moving_variance)]


def test_adapt_batchnorm_sets_decoder_statistics_from_the_tiles_only():
    import keras

    from deeptrash.learn.model import build_segmenter
    from deeptrash.learn.selftrain import adapt_batchnorm, decoder_batchnorms

    model = build_segmenter("mobilenet_v3_small", bn_momentum=0.9, freeze_backbone="all")
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 60, (16, 64, 64, 3), dtype=np.uint8)
    bright = rng.integers(150, 255, (16, 64, 64, 3), dtype=np.uint8)
    decoder = decoder_batchnorms(model)
    backbone = [layer for layer in model.backbone._flatten_layers(include_self=False, recursive=True)
                if isinstance(layer, keras.layers.BatchNormalization)]
    assert decoder and backbone
    weights = [np.array(w) for w in model.trainable_weights]
    backbone_before, decoder_before = bn_state(backbone), bn_state(decoder)
    flags = [(layer.trainable, layer.momentum) for layer in decoder + backbone]

    keras.utils.set_random_seed(1)  # the same dropout draws in both adaptations below
    assert adapt_batchnorm(model, dark, batch_size=8, seed=3) == len(decoder)
    after_dark = bn_state(decoder)
    assert any(not np.allclose(a, b) for a, b in zip(after_dark, decoder_before))
    adapt_batchnorm(model, bright, batch_size=8, seed=3)
    assert any(not np.allclose(a, b, atol=1e-3) for a, b in zip(bn_state(decoder), after_dark))
    keras.utils.set_random_seed(1)
    adapt_batchnorm(model, dark, batch_size=8, seed=3)
    # A mean over this call's batches, not a moving average: nothing of the bright tiles is left.
    for again, first in zip(bn_state(decoder), after_dark):
        np.testing.assert_allclose(again, first, rtol=1e-4, atol=1e-5)
    for now, before in zip(bn_state(backbone), backbone_before):
        np.testing.assert_array_equal(now, before)  # ImageNet's (here: the initial) statistics kept
    for now, before in zip(model.trainable_weights, weights):
        np.testing.assert_array_equal(np.array(now), before)  # nothing learnt
    assert [(layer.trainable, layer.momentum) for layer in decoder + backbone] == flags
    assert adapt_batchnorm(model, dark[:7], batch_size=8) == 0  # not one full batch: left as it was


def test_scene_tile_sample_cuts_like_inference_and_stops_at_the_limit(tmp_path):
    from deeptrash.learn.selftrain import scene_tile_sample

    write_scenes(tmp_path / "scenes", 3, size=96)
    (tmp_path / "scenes" / "broken.jpg").write_bytes(b"not a photo")
    photos = sorted(tmp_path.glob("scenes/*.jpg"))
    tiles = scene_tile_sample(photos, 32, 64, 0.25, seed=0)
    assert tiles.shape == (12, 32, 32, 3) and tiles.dtype == np.uint8  # 2 x 2 tiles of each readable photo
    assert scene_tile_sample(photos, 32, 64, 0.25, seed=0, limit=5).shape[0] == 5


def test_selftrain_that_would_do_nothing_is_a_param_error():
    from deeptrash.params import TrainParams

    assert TrainParams(selftrain={"scenes": "s", "epochs": 0}).selftrain.adapt_bn  # AdaBN alone is fine
    with pytest.raises(ValueError, match="would not be used"):
        TrainParams(selftrain={"scenes": "s", "epochs": 0, "adapt_bn": False})
