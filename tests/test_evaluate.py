"""The evaluate stage end to end on a tiny known model and a drawn validation set."""
import json
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from deeptrash.errors import UserError
from stages import evaluate
from tests.test_predict import FAINT, REPO_PARAMS, model_path, scene  # noqa: F401  (model_path is a fixture)

S = 64
# name -> (red boxes drawn in the photo, boxes in the true mask)
CASES = {
    "found": ([(10, 34, 10, 34)], [(10, 34, 10, 34)]),   # 24x24 red object, labelled
    "false": ([(20, 40, 30, 50)], []),                   # red but not trash: one false piece
    "missed": ([], [(5, 25, 30, 50)]),                   # trash the model cannot see
    "clean": ([], []),                                   # nothing anywhere
}


def write_case(images, masks, suffix):
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for name, (red, labelled) in CASES.items():
        image, _ = scene(S, S, red)
        _, truth = scene(S, S, labelled)
        cv2.imwrite(str(images / f"{name}{suffix}"), image, [cv2.IMWRITE_JPEG_QUALITY, 100])
        cv2.imwrite(str(masks / f"{name}.png"), truth.astype(np.uint8) * 255)


@pytest.fixture
def workdir(tmp_path, model_path, monkeypatch):  # noqa: F811
    shutil.copytree(model_path.parent, tmp_path / "models")
    write_case(tmp_path / "data/synth/val/images", tmp_path / "data/synth/val/masks", ".jpg")
    write_case(tmp_path / "real/images", tmp_path / "real/masks", ".png")
    params = yaml.safe_load(REPO_PARAMS.read_text())
    params["evaluate"].update(real="real", overlays=1, threshold=0.5)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("views", [{}, {"scales": [1.0, 2.0], "flip": True}], ids=["one_view", "views"])
def test_evaluate_writes_known_metrics_sweep_and_overlays(workdir, views):
    # A per-pixel model scores the same from every view: the real set's test-time views change nothing here.
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["evaluate"].update(views)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    evaluate.main([])
    report = json.loads((workdir / "metrics/evaluate.json").read_text())
    assert report["threshold"] == 0.5
    for label in ("synthetic", "real"):
        s = report[label]
        assert s["images"] == 4
        # Truth 24*24 + 20*20 px; found 24*24; false 20*20 px.
        found, false, missed = 576, 400, 400
        assert s["iou"] == pytest.approx(found / (found + false + missed), abs=0.02)
        assert s["precision"] == pytest.approx(found / (found + false), abs=0.02)
        assert s["recall"] == pytest.approx(found / (found + missed), abs=0.02)
        assert (s["objects"], s["objects_found"], s["false_pieces"]) == (2, 1, 1)
        assert s["object_recall"] == 0.5
        # Per image: found 1, false 0, missed 0, clean 1 (both empty).
        assert s["iou_mean"] == pytest.approx(0.5, abs=0.02)
    assert report["real"]["skipped"] == 0

    sweep = pd.read_csv(workdir / "plots/threshold_sweep.csv")
    assert len(sweep) == 19 and sweep["threshold"].iloc[0] == 0.05 and sweep["threshold"].iloc[-1] == 0.95
    assert {"precision", "recall", "iou", "dice", "real_iou", "real_precision"} <= set(sweep.columns)
    assert sweep.loc[sweep["threshold"] == 0.5, "iou"].item() == pytest.approx(report["synthetic"]["iou"])

    per_image = pd.read_csv(workdir / "metrics/evaluate_per_image.csv")
    assert len(per_image) == 8 and sorted(per_image["set"].unique()) == ["real", "synthetic"]
    assert per_image.set_index(["set", "name"]).loc[("synthetic", "found"), "iou"] > 0.9

    overlays = sorted(p.name for p in (workdir / "plots/evaluate").iterdir())
    assert overlays == ["real_best_1.png", "real_worst_1.png", "synthetic_best_1.png", "synthetic_worst_1.png"]
    best = cv2.imread(str(workdir / "plots/evaluate/synthetic_best_1.png"))
    assert best.shape[0] > S and best.shape[1] >= 2 * best.shape[0] - 60   # photo | overlay, enlarged, captioned


def test_seed_threshold_keeps_faint_blobs_out_of_the_real_scores(workdir):
    image, _ = scene(S, S, [])
    image[20:40, 20:40] = FAINT                       # nothing labelled there: a faint false piece
    cv2.imwrite(str(workdir / "real/images/faint.png"), image)
    cv2.imwrite(str(workdir / "real/masks/faint.png"), np.zeros((S, S), np.uint8))
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    false_pieces = {}
    for seed in (None, 0.5):
        params["evaluate"].update(threshold=0.3, seed_threshold=seed)
        (workdir / "params.yaml").write_text(yaml.safe_dump(params))
        evaluate.main([])
        report = json.loads((workdir / "metrics/evaluate.json").read_text())
        assert report.get("seed_threshold") == seed
        false_pieces[seed] = report["real"]["false_pieces"]
    assert false_pieces == {None: 2, 0.5: 1}          # the red false piece is confident: it stays


def test_bad_real_path_fails_before_writing(workdir):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["evaluate"]["real"] = "no/such/labels.json"
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match="evaluate.real"):
        evaluate.main([])
    assert not (workdir / "metrics").exists() and not (workdir / "plots").exists()


def test_missing_validation_set_is_a_user_error(workdir):
    shutil.rmtree(workdir / "data/synth/val/masks")
    with pytest.raises(UserError, match="validation"):
        evaluate.main([])


def test_stage_command_prints_one_line_error(workdir):
    import subprocess
    import sys

    from tests.test_predict import REPO_PARAMS as params_file

    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["evaluate"]["real"] = "missing_labels"
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    env = {"PYTHONPATH": str(params_file.parent), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "stages.evaluate"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "error: evaluate.real: missing_labels not found"
