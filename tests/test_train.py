"""The train stage: data input, loss, the segmenter contract, training for real.

The slow parts (one real training run, one run over two logical CPU devices)
use 64/32 px images of bright shapes on textured noise, which a small
DeepLabV3Plus learns in about a minute on two cores.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from deeptrash.errors import UserError

REPO = Path(__file__).resolve().parent.parent


# --- a tiny learnable data set, written like the synthesize stage writes it ------

def write_synth(root: Path, n_train: int, n_val: int, size: int, seed: int = 0) -> Path:
    """data/synth-like folders of bright shapes on textured noise (deeptrash.learn.dataset)."""
    from deeptrash.learn.dataset import write_shapes_synth

    return write_shapes_synth(root, n_train, n_val, size, seed)


def write_params(path: Path, **train) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["train"].update(train)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# --- fast unit tests -------------------------------------------------------------

def test_list_split_pairs_by_stem_and_skips_unpaired(tmp_path):
    from deeptrash.learn.dataset import list_split

    write_synth(tmp_path, 3, 1, 32)
    (tmp_path / "train" / "masks" / "000001.png").unlink()
    files = list_split(tmp_path / "train")
    assert [Path(p).stem for p in files.images] == ["000000", "000002"]
    assert [Path(p).stem for p in files.masks] == ["000000", "000002"]
    with pytest.raises(UserError, match="images/ and masks/"):
        list_split(tmp_path / "nowhere")


def test_dataset_shapes_values_and_deterministic_order(tmp_path):
    from deeptrash.learn.dataset import list_split, make_dataset, steps_per_epoch

    write_synth(tmp_path, 10, 3, 64)
    files = list_split(tmp_path / "train")
    data = make_dataset(files, 64, 4, training=True, seed=7, deterministic=True)
    batches = [(x.numpy(), y.numpy()) for x, y in data]
    assert len(batches) == steps_per_epoch(10, 4, training=True) == 2
    images, masks = batches[0]
    assert images.shape == (4, 64, 64, 3) and images.dtype == np.float32
    assert masks.shape == (4, 64, 64, 1) and set(np.unique(masks)) <= {0.0, 1.0}
    assert 0 <= images.min() and images.max() <= 255 and images.max() > 100
    # Litter is the bright part: augmentation must keep image and mask aligned.
    for x, y in batches:
        lit = y[..., 0] > 0
        if lit.any() and (~lit).any():
            assert x[lit].mean() > x[~lit].mean() + 40
    again = [(x.numpy(), y.numpy()) for x, y in make_dataset(files, 64, 4, training=True, seed=7, deterministic=True)]
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(batches, again))
    val = list(make_dataset(list_split(tmp_path / "val"), 64, 2, training=False))
    assert [len(y) for _, y in val] == [2, 1]  # nothing dropped from validation


def test_dataset_resizes_to_a_multiple_of_32(tmp_path):
    from deeptrash.learn.dataset import list_split, make_dataset, model_size

    write_synth(tmp_path, 2, 1, 40)
    assert model_size(40) == 32 and model_size(96) == 96 and model_size(100) == 96 and model_size(10) == 32
    x, y = next(iter(make_dataset(list_split(tmp_path / "train"), model_size(40), 2, training=False)))
    assert x.shape == (2, 32, 32, 3) and y.shape == (2, 32, 32, 1)


def test_bce_dice_loss_rewards_overlap_and_handles_empty_masks():
    from deeptrash.learn.losses import BceDiceLoss, soft_dice

    truth = np.zeros((2, 8, 8, 1), np.float32)
    truth[0, 2:6, 2:6] = 1
    loss = BceDiceLoss(bce_weight=1.0, dice_weight=1.0)
    perfect = float(loss(truth, np.clip(truth, 0.01, 0.99)))
    inverted = float(loss(truth, np.clip(1 - truth, 0.01, 0.99)))
    blank = float(loss(truth, np.full_like(truth, 0.01)))
    assert perfect < blank < inverted
    assert float(soft_dice(truth, truth)) == pytest.approx(1.0)
    empty = np.zeros_like(truth)
    quiet, loud = float(loss(empty, np.full_like(empty, 0.01))), float(loss(empty, np.full_like(empty, 0.5)))
    assert np.isfinite(quiet) and 0 <= quiet < loud  # no litter anywhere: lower is still better
    dice_only = BceDiceLoss(bce_weight=0.0, dice_weight=1.0)
    assert float(dice_only(truth, truth)) == pytest.approx(0.0, abs=0.01)


def test_bce_dice_loss_skips_ignored_pixels():
    from deeptrash.learn.losses import IGNORE, BceDiceLoss

    truth = np.zeros((1, 8, 8, 1), np.float32)
    truth[0, 2:6, 2:6] = 1
    pred = np.clip(truth, 0.05, 0.95)
    loss = BceDiceLoss()
    wrong = pred.copy()
    wrong[0, :, 6:] = 0.95  # a false alarm in the last two columns
    unsure = truth.copy()
    unsure[0, :, 6:] = IGNORE  # ... where the target is unknown
    assert float(loss(truth, wrong)) > float(loss(truth, pred)) + 0.05
    assert float(loss(unsure, wrong)) == pytest.approx(float(loss(truth[:, :, :6], pred[:, :, :6])), rel=1e-4)


def test_small_weight_makes_a_missed_small_piece_cost_more():
    from deeptrash.learn.losses import BceDiceLoss, small_piece_weights

    truth = np.zeros((1, 64, 64, 1), np.float32)
    truth[0, 4:8, 4:8] = 1  # a butt: 16 px, far smaller than the 31 px window
    truth[0, 20:60, 20:60] = 1  # a bag
    weights = np.asarray(small_piece_weights(truth, 8.0))[0, ..., 0]
    assert weights[6, 6] == pytest.approx(8.0)  # capped
    assert weights[40, 40] == pytest.approx(1.0) and weights[0, 40] == pytest.approx(1.0)
    assert 1.0 < weights[20, 20] < 8.0  # a large piece's corner: between

    found = np.clip(truth, 0.02, 0.98)
    small_missed, large_part_missed = found.copy(), found.copy()
    small_missed[0, 4:8, 4:8] = 0.02
    large_part_missed[0, 36:40, 36:40] = 0.02  # as many pixels, inside the bag
    plain, weighted = BceDiceLoss(dice_weight=0.0), BceDiceLoss(dice_weight=0.0, small_weight=8.0)
    cost = {name: float(loss(truth, small_missed)) - float(loss(truth, found))
            for name, loss in (("plain", plain), ("weighted", weighted))}
    assert cost["plain"] == pytest.approx(float(plain(truth, large_part_missed)) - float(plain(truth, found)), rel=1e-3)
    assert cost["weighted"] > 6 * cost["plain"]
    inside = float(weighted(truth, large_part_missed)) - float(weighted(truth, found))
    assert inside == pytest.approx(cost["plain"], rel=1e-3)  # the bag's inside weighs as before
    assert BceDiceLoss(small_weight=8.0).get_config()["small_weight"] == 8.0


def test_stage_missing_synth_is_one_line_user_error(tmp_path, monkeypatch):
    from stages.train import main

    monkeypatch.chdir(tmp_path)
    write_params(tmp_path / "params.yaml")
    with pytest.raises(UserError, match="synthetic data not found"):
        main([])


# --- the model contract ----------------------------------------------------------

def test_only_the_chief_or_else_worker_zero_writes_outputs():
    from types import SimpleNamespace

    import tensorflow as tf

    from deeptrash.learn.fitting import is_chief

    def strategy(cluster: dict, task_type: str, task_id: int):
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
        return SimpleNamespace(cluster_resolver=resolver)

    workers = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    with_chief = {"chief": ["127.0.0.1:3"], **workers}
    assert is_chief(tf.distribute.get_strategy())  # one process
    assert is_chief(strategy(workers, "worker", 0)) and not is_chief(strategy(workers, "worker", 1))
    assert is_chief(strategy(with_chief, "chief", 0)) and not is_chief(strategy(with_chief, "worker", 0))


def test_segmenter_is_sigmoid_reloads_identically_and_takes_any_size(tmp_path):
    import keras
    import tensorflow as tf

    from deeptrash.learn.model import build_segmenter, load_segmenter

    keras.utils.set_random_seed(1)
    model = build_segmenter("mobilenet_v3_small", bn_momentum=0.5)
    batch_norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert batch_norms and {layer.momentum for layer in batch_norms} == {0.5}
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (4, 64, 64, 3)).astype(np.float32)
    masks = (images[..., :1] > 128).astype(np.float32)
    for _ in range(3):  # training-mode calls move the BN statistics off their defaults
        model(images, training=True)
    before = model(images, training=False).numpy()
    assert before.shape == (4, 64, 64, 1) and before.dtype == np.float32
    assert 0 < before.min() < before.max() < 1  # a sigmoid, not a one-channel softmax (all 1.0)
    assert before.std() > 1e-3

    model.save(tmp_path / "segmenter.keras")
    loaded = load_segmenter(tmp_path / "segmenter.keras")
    after = loaded(images, training=False).numpy()
    np.testing.assert_allclose(after, before, atol=1e-5)
    assert np.array_equal(after > 0.5, before > 0.5)
    assert {layer.momentum for layer in loaded._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization)} == {0.5}
    # Traced once with unknown height and width (what predict on a second
    # size and SavedModel export do), then run on two sizes.
    any_size = tf.function(lambda x: loaded(x, training=False),
                           input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])
    assert any_size(images[:1, :, :32]).shape == (1, 64, 32, 1)
    np.testing.assert_allclose(any_size(images).numpy(), before, atol=1e-5)
    with pytest.raises(UserError, match="model not found"):
        load_segmenter(tmp_path / "missing.keras")


def test_preset_from_local_folder_loads_weights_and_bad_presets_are_one_line(tmp_path):
    import keras
    from keras_cv.src.utils.preset_utils import save_to_preset

    from deeptrash.learn.model import build_backbone, build_segmenter

    keras.utils.set_random_seed(3)
    backbone = build_backbone("mobilenet_v3_small")
    save_to_preset(backbone, str(tmp_path / "preset"))
    model = build_segmenter("resnet18_v2", preset=str(tmp_path / "preset"))  # the preset decides
    assert type(model.backbone).__name__ == "MobileNetV3Backbone"
    for saved, loaded in zip(backbone.weights, model.backbone.weights):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    with pytest.raises(UserError, match="no config.json"):
        build_segmenter(preset=str(tmp_path / "missing"))
    with pytest.raises(UserError, match="neither a folder nor"):
        build_segmenter(preset="no_such_preset_name")


# --- real training ---------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Run the stage once on 48 + 16 shape images of 64 px; returns the work folder."""
    from stages.train import main

    work = tmp_path_factory.mktemp("train")
    write_synth(work / "data" / "synth", 48, 16, 64)
    write_params(work / "params.yaml", epochs=10, batch_size=8, learning_rate=0.005,
                 early_stopping=0, deterministic=True)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        main([])
    finally:
        os.chdir(cwd)
    return work


def read_tsv(path: Path) -> list[float]:
    return [float(line.split("\t")[1]) for line in path.read_text().splitlines()[1:]]


def test_stage_learns_the_shapes(trained):
    metrics = json.loads((trained / "metrics" / "train.json").read_text())
    assert metrics["val_iou"] > 0.8
    assert metrics["final_loss"] < 0.5 * metrics["first_loss"]
    assert metrics["epochs_run"] == 10
    # Speed is logged beside the metrics, not in them (it varies from run to run).
    timing = json.loads((trained / "logs" / "train_timing.json").read_text())
    assert timing["images_per_s"] > 0 and len(timing["images_per_s_by_epoch"]) == 10 and timing["seconds"] > 0
    assert "images_per_s" not in metrics and "seconds" not in metrics
    # dvclive logged every epoch; the kept model is the best epoch's.
    val_iou = read_tsv(trained / "dvclive" / "plots" / "metrics" / "eval" / "iou.tsv")
    losses = read_tsv(trained / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv")
    assert len(val_iou) == len(losses) == 10
    assert metrics["val_iou"] == pytest.approx(max(val_iou))
    assert metrics["best_epoch"] == 1 + int(np.argmax(val_iou))
    assert not (trained / "dvc.yaml").exists()  # dvclive must not write one


def test_stage_outputs_follow_the_contract(trained):
    import keras
    import tensorflow as tf

    from deeptrash.learn.dataset import list_split, make_dataset

    meta = json.loads((trained / "models" / "meta.json").read_text())
    backbone = yaml.safe_load((trained / "params.yaml").read_text())["train"]["backbone"]
    assert meta["image_size"] == 64 and meta["backbone"] == backbone
    assert "threshold" not in meta  # evaluate and predict take theirs from params / the command line
    # Plain Keras loading works once deeptrash.learn.model is imported (done by the fixture).
    model = keras.models.load_model(trained / "models" / "segmenter.keras", compile=False)
    images, masks = next(iter(make_dataset(list_split(trained / "data" / "synth" / "val"), 64, 16, training=False)))
    probs = model.predict(images, verbose=0)
    predicted, truth = probs[..., 0] > 0.5, masks.numpy()[..., 0] > 0.5
    iou = (predicted & truth).sum() / max(1, (predicted | truth).sum())
    metrics = json.loads((trained / "metrics" / "train.json").read_text())
    assert iou == pytest.approx(metrics["val_iou"], abs=0.02)
    exported = tf.saved_model.load(str(trained / "models" / "export"))  # keep it alive while serving
    served = exported.serve(images).numpy()
    np.testing.assert_allclose(served, probs, atol=1e-4)


def test_training_over_two_logical_cpus(tmp_path):
    """MirroredStrategy over two logical CPU devices (set before TF starts: a subprocess)."""
    write_synth(tmp_path / "synth", 16, 8, 32)
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from deeptrash.learn import dataset as ds, fitting as fit, model as seg
        strategy = fit.choose_strategy()
        fit.configure_runtime(0, "auto", deterministic=False)
        files = ds.list_split({str(tmp_path / "synth" / "train")!r})
        data = ds.make_dataset(files, 32, 8, training=True, seed=0)
        with strategy.scope():
            model = seg.build_segmenter("mobilenet_v3_small")
            fit.compile_segmenter(model, learning_rate=0.005, total_steps=12)
        history = model.fit(data, epochs=6, verbose=0)
        print("RESULT", json.dumps({{"replicas": strategy.num_replicas_in_sync,
                                     "strategy": type(strategy).__name__,
                                     "loss": history.history["loss"]}}))
    """)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["strategy"] == "MirroredStrategy" and result["replicas"] == 2
    # Two random batches an epoch: one epoch's loss is noisy (after 3 epochs it once ended above the first,
    # on a fresh clone), the trend over 6 is not (last two 0.6-0.7 against 1.1-1.2 in 3 runs).
    loss = result["loss"]
    assert all(np.isfinite(loss)) and np.mean(loss[-2:]) < loss[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 now (held open together so they differ)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_multi_worker_training_writes_outputs_on_worker_zero_only(tmp_path):
    """Two worker processes on 127.0.0.1 train one model with MultiWorkerMirroredStrategy.

    Each has its own checkout (params and data, as on two machines); both must
    finish, and only worker 0 may write models/, metrics/, logs/ and dvclive/.
    """
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    folders = []
    for index in range(2):
        folder = tmp_path / f"host{index}"
        write_synth(folder / "data" / "synth", 8, 4, 32)
        write_params(folder / "params.yaml", epochs=1, batch_size=4, cache=False, early_stopping=0)
        folders.append(folder)
    workers, logs = [], []
    for index, folder in enumerate(folders):
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO),
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
               # one core each: two processes on a 2-core machine must not fight over threads
               "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "DEEPTRASH_LOG": "WARNING",
               "TMPDIR": str(folder.with_name(f"tmp{index}"))}
        folder.with_name(f"tmp{index}").mkdir()
        logs.append(tmp_path / f"worker{index}.log")
        with open(logs[-1], "w") as log:
            workers.append(subprocess.Popen([sys.executable, "-m", "stages.train"], cwd=folder, env=env,
                                            stdout=log, stderr=subprocess.STDOUT))
    # About 2 min of CPU in all; a busy machine may stretch that many times over, so wait as long as
    # pytest's own timeout allows, but stop at once when a worker fails (its peer would wait forever).
    deadline = time.monotonic() + 840
    try:
        while any(worker.poll() is None for worker in workers):
            if any(worker.returncode not in (None, 0) for worker in workers):
                break
            assert time.monotonic() < deadline, "the two workers did not finish in 14 minutes"
            time.sleep(0.5)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, log in zip(workers, logs):
        assert worker.returncode == 0, log.read_text()[-3000:]

    chief, other = folders
    metrics = json.loads((chief / "metrics" / "train.json").read_text())
    assert metrics["replicas"] == 2 and metrics["epochs_run"] == 1  # one model over both processes
    assert (chief / "models" / "segmenter.keras").is_file() and (chief / "models" / "export").is_dir()
    assert (chief / "logs" / "train_timing.json").is_file() and (chief / "dvclive").is_dir()
    assert sorted(p.name for p in other.iterdir()) == ["data", "params.yaml"]  # worker 1 wrote nothing here
    assert not list((tmp_path / "tmp1").glob("*deeptrash-worker*"))  # nor left its copy behind
