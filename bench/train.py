"""Training speed: input-pipeline cost, and images/s per backbone and size.

    python bench/train.py                       # everything (slow on 2 cores: ~10+ min)
    python bench/train.py --skip-backbones      # only the pipeline and ASPP checks at 96 and 128 px
    python bench/train.py --synth data/synth    # pipeline check on the real synth output
    python bench/train.py --sizes --backbone-sizes 256   # only backbone speeds at 256 px

1. Pipeline cost. The default segmenter trains with the real tf.data input
   (decode JPEG/PNG, augment, batch, prefetch; with train.cache as set, after
   the first pass has filled it, and without cache, so every step decodes)
   and, in the same run, with the same batches held in memory (decoded and
   augmented once). Rounds alternate so a noisy neighbour hits both alike;
   each round's step time is the median step-to-step time (steady state).
   Target: the pipeline costs <= 10 % of the in-memory step time. The per-step
   time also gives the seconds per epoch for the default params.yaml.
2. The ASPP's dilation rates: keras-cv's 6/12/18 (baseline) against ours
   (deeptrash.model.ASPP_RATES), same network, in-memory batches.
3. Images/s for each backbone at 128 and 256 px, on in-memory batches; the
   baseline is the first one listed (mobilenet_v3_small, the CPU default) at
   the same size; pretrained backbones are timed frozen.

Numbers on a shared machine are noisy: read them as rough.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from deeptrash.learn import dataset as ds  # noqa: E402
from deeptrash.learn import fitting as fit  # noqa: E402
from deeptrash.learn import model as seg  # noqa: E402
from deeptrash.params import load_params  # noqa: E402


class StepClock(keras.callbacks.Callback):
    """Wall-clock time at the end of every training step."""

    def on_train_begin(self, logs=None):
        self.ends = [time.perf_counter()]

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def timed_fit(model: keras.Model, data: tf.data.Dataset, steps: int) -> float:
    """Median seconds per training step over `steps` steps of model.fit on `data` (repeated).

    The median of step-to-step times is the steady state: it leaves out the
    pipeline start-up of each fit call (paid once per epoch in real training,
    i.e. spread over ~100 steps) and most spikes from neighbours on a shared CPU.
    """
    clock = StepClock()
    model.fit(data.repeat(), epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0, callbacks=[clock])
    return statistics.median(np.diff(clock.ends))


def new_model(backbone: str, bn_momentum: float, learning_rate: float, aspp_rates=None,
              freeze_backbone: str = "none") -> keras.Model:
    model = seg.build_segmenter(backbone, bn_momentum=bn_momentum, freeze_backbone=freeze_backbone)
    if aspp_rates is not None:  # the same network with other dilation rates in its ASPP
        from keras_cv.src.layers.spatial_pyramid import SpatialPyramidPooling

        model = seg.SigmoidDeepLabV3Plus(
            backbone=model.backbone, bn_momentum=bn_momentum, p5_layer=model.p5_layer,
            spatial_pyramid_pooling=SpatialPyramidPooling(dilation_rates=list(aspp_rates)))
    return fit.compile_segmenter(model, learning_rate=learning_rate, total_steps=10_000)


def pipeline_cost(synth: Path, size: int, batch: int, steps: int, rounds: int, cfg,
                  cache: bool) -> tuple[float, float]:
    """(pipeline s/step, in-memory s/step): medians over alternating rounds."""
    files = ds.list_split(synth / "train")
    pipeline = ds.make_dataset(files, size, batch, training=True, seed=0, cache=cache)
    for _ in pipeline:  # one full pass: fills the cache, as the first epoch does
        pass
    held = list(pipeline.take(steps))  # the same kind of batches, decoded once
    memory = tf.data.Dataset.from_tensor_slices((
        tf.stack([x for x, _ in held]), tf.stack([y for _, y in held])
    ))
    model = new_model(cfg.backbone, cfg.bn_momentum, cfg.learning_rate)
    timed_fit(model, memory, 2)  # trace once; both feed the same batch shape
    piped, in_memory = [], []
    for _ in range(rounds):
        piped.append(timed_fit(model, pipeline, steps))
        in_memory.append(timed_fit(model, memory, steps))
    return statistics.median(piped), statistics.median(in_memory)


def backbone_speed(backbone: str, size: int, batch: int, steps: int, aspp_rates=None,
                   freeze_backbone: str = "none") -> float:
    """Training images/s of `backbone` at `size` px on one in-memory batch."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    masks = (rng.random((batch, size, size, 1)) < 0.1).astype(np.float32)
    data = tf.data.Dataset.from_tensors((images, masks))
    model = new_model(backbone, 0.9, 1e-3, aspp_rates, freeze_backbone)
    timed_fit(model, data, 2)  # trace + warm up
    return batch / timed_fit(model, data, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--synth", help="synth folder to read (default: a temporary one of shape images)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[96, 128],
                        help="pipeline check sizes (none: skip the check)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backbone-sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--backbone-batch", type=int, default=8)
    parser.add_argument("--backbone-steps", type=int, default=4)
    choices = [*seg.BACKBONES, *seg.PRETRAINED]
    parser.add_argument("--backbones", nargs="+", default=choices, choices=choices,
                        help="pretrained ones are timed with the backbone frozen (train.freeze_backbone)")
    parser.add_argument("--skip-backbones", action="store_true")
    parser.add_argument("--aspp-sizes", type=int, nargs="*", default=[96, 128],
                        help="sizes for the ASPP dilation check (none: skip it)")
    args = parser.parse_args()

    params = load_params(args.params)
    cfg = params.train
    keras.utils.set_random_seed(0)
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, "
          f"GPUs: {len(tf.config.list_physical_devices('GPU'))}; batch {cfg.batch_size}, {cfg.backbone}")

    if args.sizes:
        print("\n1. input pipeline vs the same batches in memory (target: pipeline <= +10 %)")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            synth = Path(args.synth) if args.synth else ds.write_shapes_synth(
                Path(tmp) / "synth", cfg.batch_size * args.steps, 1, size)
            for cache in dict.fromkeys([cfg.cache, False]):
                piped, memory = pipeline_cost(synth, size, cfg.batch_size, args.steps, args.rounds, cfg, cache)
                overhead = 100 * (piped - memory) / memory
                per_epoch = piped * (params.synth.train // cfg.batch_size)
                verdict = "ok" if overhead <= 10 else "OVER TARGET"
                print(f"  {size:4d} px, cache {'on ' if cache else 'off'}: pipeline {1000 * piped:6.0f} ms/step, "
                      f"in memory (baseline) {1000 * memory:6.0f} ms/step, pipeline cost {overhead:+5.1f} % "
                      f"[{verdict}]; {cfg.batch_size / piped:5.1f} images/s -> {per_epoch:4.0f} s per epoch of "
                      f"{params.synth.train} images, {per_epoch * cfg.epochs / 60:4.1f} min for {cfg.epochs} epochs",
                      flush=True)

    if args.aspp_sizes:
        print(f"\n2. ASPP dilation rates, {cfg.backbone}, batch {cfg.batch_size} in memory: keras-cv's "
              f"6/12/18 (baseline) vs ours {'/'.join(map(str, seg.ASPP_RATES))}")
    for size in args.aspp_sizes:
        rates = {r: backbone_speed(cfg.backbone, size, cfg.batch_size, args.backbone_steps, aspp_rates=r)
                 for r in ((6, 12, 18), seg.ASPP_RATES)}
        (_, baseline), (_, ours) = rates.items()
        print(f"  {size:4d} px: 6/12/18 {baseline:6.1f} images/s, ours {ours:6.1f} images/s "
              f"({ours / baseline:4.2f}x)", flush=True)
        keras.backend.clear_session()

    if args.skip_backbones:
        return
    print(f"\n3. training images/s per backbone (batch {args.backbone_batch}, in memory; "
          "baseline: the first backbone listed, at the same size)")
    for size in args.backbone_sizes:
        baseline = None
        for backbone in args.backbones:
            rate = backbone_speed(backbone, size, args.backbone_batch, args.backbone_steps,
                                  freeze_backbone="all" if backbone in seg.PRETRAINED else "none")
            baseline = baseline or rate
            print(f"  {size:4d} px {backbone:20s} {rate:7.1f} images/s  ({rate / baseline:4.2f}x baseline)",
                  flush=True)
            keras.backend.clear_session()


if __name__ == "__main__":
    main()
