"""Train the litter segmenter on the synthetic composites.

Reads ``data/synth/{train,val}/{images,masks}``; writes

- ``models/segmenter.keras``: the weights of the epoch with the best
  validation IoU (load with ``deeptrash.learn.model.load_segmenter``);
- ``models/meta.json``: image size, backbone and the input/output contract
  (no threshold: evaluate and predict take theirs from params.yaml or the
  command line);
- ``models/export/``: a TensorFlow SavedModel (``model.export``) whose
  ``serve`` signature takes float32 (B, H, W, 3) RGB 0..255 and returns
  (B, H, W, 1) probabilities. SavedModel rather than TFLite: it serves as is
  from TF Serving / ``tf.saved_model.load`` at any multiple-of-32 size, keeps
  float32/mixed-precision numerics, and converts to TFLite later if needed
  (``tf.lite.TFLiteConverter.from_saved_model``), while a TFLite file fixes
  one input size and adds a lossy conversion step to every training run;
- ``metrics/train.json``: best and final validation IoU/precision/recall/loss,
  epochs run (what the params decide, so ``dvc metrics diff`` compares models);
- ``logs/train_timing.json``: seconds and training images per second of this
  run (they vary with the machine and its load: not metrics);
- ``dvclive/``: per-epoch curves (``dvc plots show dvclive/plots/metrics``).

dvclive is told not to write dvc.yaml, not to save a DVC experiment and not to
report to DVC Studio (no network) unless DVC_STUDIO_TOKEN is set; inside
``dvc repro``/``dvc exp run`` it only logs files.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from deeptrash.cli import add_params_argument, run_stage
from deeptrash.errors import UserError
from deeptrash.io import atomic_write_json, read_image, require_dir, staged_dir
from deeptrash.params import load_params

log = logging.getLogger("train")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stages.train",
        description="Train the DeepLabV3Plus litter segmenter on data/synth (settings: params.yaml train:).",
    )
    add_params_argument(parser)
    parser.add_argument("--synth", default="data/synth", help="folder with train/ and val/ (default: %(default)s)")
    parser.add_argument("--models", default="models", help="output folder for the model (default: %(default)s)")
    parser.add_argument("--metrics", default="metrics/train.json", help="metrics JSON (default: %(default)s)")
    parser.add_argument("--timing", default="logs/train_timing.json", help="speed of this run (default: %(default)s)")
    parser.add_argument("--dvclive", default="dvclive", help="dvclive log folder (default: %(default)s)")
    return parser.parse_args(argv)


def open_dvclive(folder: str, params: dict):
    """A dvclive logger that stays local: no dvc.yaml edits, no experiment commit, no Studio."""
    if not os.environ.get("DVC_STUDIO_TOKEN"):
        os.environ.setdefault("DVC_STUDIO_OFFLINE", "true")
    from dvclive import Live

    live = Live(dir=folder, save_dvc_exp=False, dvcyaml=None, report=None, monitor_system=False)
    live.log_params(params)
    return live


def first_image_side(split_dir: Path) -> int:
    """The longer side of the first training image (synth writes squares)."""
    from deeptrash.learn.dataset import list_split

    first = list_split(split_dir).images[0]
    image = read_image(first)
    if image is None:
        raise UserError(f"{first}: cannot be decoded")
    return int(max(image.shape[:2]))


def loss_weights(cfg) -> dict[str, float]:
    """The loss's term weights from the train params: one place for both compiles (training, self-training)."""
    return {"bce_weight": cfg.bce_weight, "dice_weight": cfg.dice_weight, "small_weight": cfg.small_weight}


def finetune_on_scenes(model, strategy, cfg, ds, train_files, val_data, size: int, seed: int) -> dict:
    """Self-training (deeptrash/learn/selftrain.py): pseudo-label train.selftrain.scenes with the
    model just trained, then fine-tune on those tiles mixed with the composites; `rounds` times, each
    round labelling with the model the last one left (no round when `epochs` is 0); then, with
    `adapt_bn`, the decoder's BatchNorm statistics from the scene tiles. Returns the last round's
    counts, the synthetic val IoU after it (before AdaBN; the real test is evaluate.real), with
    several rounds each round's counts, and how many layers and tiles AdaBN used."""
    from deeptrash.io import list_images
    from deeptrash.learn import fitting as fit
    from deeptrash.learn import selftrain as st

    settings = cfg.selftrain
    folder = require_dir(settings.scenes, "train.selftrain.scenes")
    photos = list_images(folder)
    if not photos:
        raise UserError(f"train.selftrain.scenes: no photos in {folder}")
    steps = ds.steps_per_epoch(len(train_files), cfg.batch_size, training=True)
    # Built once: every round draws from the same decoded (cached) composites.
    composites = ds.make_dataset(train_files, size, cfg.batch_size, training=True, seed=seed + 1,
                                 cache=cfg.cache, deterministic=cfg.deterministic).unbatch()
    by_round = []
    for round_index in range(settings.rounds if settings.epochs else 0):
        tiles, targets, counts = st.label_scenes(model, photos, size, settings)
        log.info("self-training round %d of %d: %d tiles from %d scene photos (%.2f%% pseudo-trash, %.0f%% ignored)",
                 round_index + 1, settings.rounds, counts["tiles"], counts["photos"],
                 100 * counts.get("trash_share", 0), 100 * counts.get("ignored_share", 0))
        if not counts["tiles"]:
            log.warning("self-training: no confident tile in %s; model kept as it was", folder)
            by_round.append(counts)
            break
        round_seed = seed + 101 * round_index  # fresh tile order and mixing draws each round
        mixed = st.finetune_dataset(composites, tiles, targets, settings.share, cfg.batch_size, round_seed)
        with strategy.scope():
            fit.compile_segmenter(model, learning_rate=settings.learning_rate, total_steps=steps * settings.epochs,
                                  **loss_weights(cfg))
        history = model.fit(mixed, validation_data=val_data, epochs=settings.epochs, steps_per_epoch=steps,
                            shuffle=False, verbose=1 if sys.stdout.isatty() else 2)
        counts["val_iou_after"] = float(history.history["val_iou"][-1])
        by_round.append(counts)
    result = dict(by_round[-1]) if by_round else {}
    if len(by_round) > 1:
        result["rounds"] = {f"round_{i + 1}": counts for i, counts in enumerate(by_round)}  # dvc metrics: no lists
    if settings.adapt_bn:
        tiles = st.scene_tile_sample(photos, size, settings.tile_size, settings.tile_overlap, seed)
        result["adapt_bn_layers"] = st.adapt_batchnorm(model, tiles, seed=seed)  # 32 a batch, as measured
        result["adapt_bn_tiles"] = len(tiles)
        log.info("AdaBN: %d decoder BatchNorm layers set to the statistics of %d scene tiles",
                 result["adapt_bn_layers"], len(tiles))
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    params = load_params(args.params)
    cfg = params.train
    synth = require_dir(args.synth, "synthetic data")

    # TensorFlow is imported only now, so --help and param errors stay fast.
    from deeptrash.learn import dataset as ds
    from deeptrash.learn import fitting as fit
    from deeptrash.learn import model as seg

    strategy = fit.choose_strategy()  # first TF call: multi-worker needs that
    policy = fit.configure_runtime(params.seed, cfg.precision, cfg.deterministic)
    train_files, val_files = ds.list_split(synth / "train"), ds.list_split(synth / "val")
    side = first_image_side(synth / "train")
    size = ds.model_size(side)
    if size != side:
        log.warning("images are %d px; resized to %d px (a multiple of 32) for the model", side, size)
    replicas = strategy.num_replicas_in_sync
    if cfg.batch_size < replicas:
        raise UserError(f"train.batch_size: {cfg.batch_size} is smaller than the {replicas} devices in use")
    log.info("training on %d images, validating on %d, %d px, batch %d over %d device(s), %s",
             len(train_files), len(val_files), size, cfg.batch_size, replicas, policy)

    train_data = ds.make_dataset(train_files, size, cfg.batch_size, training=True, seed=params.seed,
                                 cache=cfg.cache, deterministic=cfg.deterministic)
    val_data = ds.make_dataset(val_files, size, cfg.batch_size, training=False, seed=params.seed,
                               cache=cfg.cache, deterministic=cfg.deterministic)
    steps = ds.steps_per_epoch(len(train_files), cfg.batch_size, training=True)

    with strategy.scope():
        model = seg.build_segmenter(cfg.backbone, preset=cfg.preset, bn_momentum=cfg.bn_momentum,
                                    freeze_backbone=cfg.freeze_backbone)
        fit.compile_segmenter(model, learning_rate=cfg.learning_rate, total_steps=steps * cfg.epochs,
                              **loss_weights(cfg))
    fit.fit_on_workers(model, strategy)

    chief = fit.is_chief(strategy)
    extra = []
    if chief:
        from dvclive.keras import DVCLiveCallback

        live = open_dvclive(args.dvclive, {"seed": params.seed, **cfg.model_dump()})
        extra.append(DVCLiveCallback(live=live))
    callbacks = fit.training_callbacks(cfg.batch_size, cfg.early_stopping, extra)
    throughput, keep_best = callbacks[0], callbacks[1]

    started = time.perf_counter()
    history = model.fit(train_data, validation_data=val_data, epochs=cfg.epochs, callbacks=callbacks,
                        shuffle=False,  # the dataset shuffles itself, seeded
                        verbose=1 if sys.stdout.isatty() else 2)
    seconds = time.perf_counter() - started
    curves = history.history
    epochs_run = len(curves.get("loss", []))
    if keep_best.best_epoch < 0:
        raise UserError("training produced no finite validation IoU (diverged?); try a lower train.learning_rate")
    best = keep_best.best_logs
    selftrain = None
    if cfg.selftrain.scenes:
        selftrain = finetune_on_scenes(model, strategy, cfg, ds, train_files, val_data, size, params.seed)
    # Steady-state speed: the first epoch also pays for tracing the graph.
    rates = throughput.per_epoch[1:] or throughput.per_epoch
    metrics = {
        "val_iou": best["val_iou"],
        "val_precision": best["val_precision"],
        "val_recall": best["val_recall"],
        "val_loss": best["val_loss"],
        "train_loss": best["loss"],
        "best_epoch": keep_best.best_epoch + 1,
        "final_val_iou": float(curves["val_iou"][-1]),
        "final_loss": float(curves["loss"][-1]),
        "first_loss": float(curves["loss"][0]),
        "epochs_run": epochs_run,
        "image_size": size,
        "train_images": len(train_files),
        "val_images": len(val_files),
        "replicas": replicas,
        "precision": policy,
    }
    if selftrain is not None:
        metrics["selftrain"] = selftrain
    timing = {"seconds": round(seconds, 1), "images_per_s": float(statistics.median(rates)),
              "images_per_s_by_epoch": [float(rate) for rate in throughput.per_epoch], "replicas": replicas}
    log.info("best val IoU %.3f at epoch %d of %d (%.0f s, %.1f images/s)", metrics["val_iou"],
             metrics["best_epoch"], epochs_run, seconds, timing["images_per_s"])

    meta = {
        "image_size": size,
        "backbone": cfg.backbone if not cfg.preset else type(model.backbone).__name__,
        "preset": cfg.preset,
        "input": "float32 (B, H, W, 3) RGB 0..255; H, W multiples of 32",
        "output": "float32 (B, H, W, 1) sigmoid probability of litter",
        "export": "export/ (TensorFlow SavedModel, signature 'serve')",
        "bn_momentum": cfg.bn_momentum,
        "best_epoch": metrics["best_epoch"],
        "val_iou": metrics["val_iou"],
    }
    # Every worker must take part in saving (the SavedModel export runs collectives);
    # the others save to a temporary folder, removed afterwards.
    models_dir = args.models if chief else tempfile.mkdtemp(prefix="deeptrash-worker-")
    with staged_dir(models_dir) as out:
        model.save(out / "segmenter.keras")
        model.export(str(out / "export"), format="tf_saved_model", verbose=False)
        atomic_write_json(out / "meta.json", meta)
    if not chief:
        shutil.rmtree(models_dir, ignore_errors=True)
    if chief:
        atomic_write_json(args.metrics, metrics)
        atomic_write_json(args.timing, timing)
        log.info("wrote %s/segmenter.keras, %s/export, %s", args.models, args.models, args.metrics)


if __name__ == "__main__":
    run_stage(main)
