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
    assert 0 <= counts["trash_share"] < 1 and 0 <= counts["ignored_share"] < 1
    assert np.isfinite(counts["val_iou_after"])
    assert list(counts["rounds"]) == ["round_1", "round_2"]  # the second round labelled with the fine-tuned model
    assert counts["rounds"]["round_2"]["val_iou_after"] == counts["val_iou_after"]
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
