"""The litter segmenter: keras-cv DeepLabV3Plus with a one-channel sigmoid head.

Contract (what evaluate/predict rely on):

- ``keras.models.load_model("models/segmenter.keras", compile=False)`` works
  once this module is imported (its classes are registered under the
  ``deeptrash`` package); :func:`load_segmenter` does exactly that.
- Input float32 (B, H, W, 3), RGB, 0..255 (the backbone rescales); H and W
  any multiples of 32, also different sizes on later calls.
- Output float32 (B, H, W, 1): sigmoid probability of litter per pixel.

Everything is built offline from explicit arguments: keras-cv 0.9's
``from_preset`` and even its named backbone classes (``MobileNetV3SmallBackbone``)
contact Kaggle, so the base classes are built from the ``stackwise_*``
arguments of the presets, copied below from keras-cv's preset files.

Three keras-cv details are worked around here (each was seen to fail with
keras-cv 0.9.0, Keras 3.15 and TensorFlow 2.21; tests/test_train.py covers the
fixes):

- ``DeepLabV3Plus(num_classes=1)`` ends in a softmax over one channel, which
  is 1.0 everywhere; we pass our own head ending in a float32 sigmoid.
- Its backbones build BatchNormalization with momentum 0.999, so the moving
  statistics barely move in a short run and inference-mode masks come out
  empty; every BN layer gets ``bn_momentum`` (0.9), also after reloading.
- Keras 3.15's ``UpSampling2D(interpolation="bilinear")`` fails when traced
  with unknown height/width (``model.predict`` on a second image size,
  SavedModel export): the decoder's upsampling resizes with ``tf.shape``.

And Keras 3.15's ``fit`` fails under MultiWorkerMirroredStrategy
(keras-team/keras#20585): :func:`fit_on_workers` works around it.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import keras
import keras_cv
import tensorflow as tf
from keras_cv.src.layers.spatial_pyramid import SpatialPyramidPooling

from deeptrash.errors import UserError

log = logging.getLogger(__name__)

# The architecture half of keras-cv 0.9's backbone presets (no weights).
BACKBONES: dict[str, tuple[type, dict]] = {
    "mobilenet_v3_small": (keras_cv.models.MobileNetV3Backbone, dict(
        stackwise_expansion=[1, 72.0 / 16, 88.0 / 24, 4, 6, 6, 3, 3, 6, 6, 6],
        stackwise_filters=[16, 24, 24, 40, 40, 40, 48, 48, 96, 96, 96],
        stackwise_kernel_size=[3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5],
        stackwise_stride=[2, 2, 1, 2, 1, 1, 1, 1, 2, 1, 1],
        stackwise_se_ratio=[0.25, None, None, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25],
        stackwise_activation=["relu"] * 3 + ["hard_swish"] * 8,
        alpha=1.0,
    )),
    "mobilenet_v3_large": (keras_cv.models.MobileNetV3Backbone, dict(
        stackwise_expansion=[1, 4, 3, 3, 3, 3, 6, 2.5, 2.3, 2.3, 6, 6, 6, 6, 6],
        stackwise_filters=[16, 24, 24, 40, 40, 40, 80, 80, 80, 80, 112, 112, 160, 160, 160],
        stackwise_kernel_size=[3, 3, 3, 5, 5, 5, 3, 3, 3, 3, 3, 3, 5, 5, 5],
        stackwise_stride=[1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1],
        stackwise_se_ratio=[None, None, None, 0.25, 0.25, 0.25, None, None, None, None,
                            0.25, 0.25, 0.25, 0.25, 0.25],
        stackwise_activation=["relu"] * 6 + ["hard_swish"] * 9,
        alpha=1.0,
    )),
    "resnet18_v2": (keras_cv.models.ResNetV2Backbone, dict(
        stackwise_filters=[64, 128, 256, 512],
        stackwise_blocks=[2, 2, 2, 2],
        stackwise_strides=[1, 2, 2, 2],
        block_type="basic_block",
    )),
    "resnet50_v2": (keras_cv.models.ResNetV2Backbone, dict(
        stackwise_filters=[64, 128, 256, 512],
        stackwise_blocks=[3, 4, 6, 3],
        stackwise_strides=[1, 2, 2, 2],
        block_type="block",
    )),
    "efficientnet_v2_b0": (keras_cv.models.EfficientNetV2Backbone, dict(
        width_coefficient=1.0,
        depth_coefficient=1.0,
        stackwise_kernel_sizes=[3, 3, 3, 3, 3, 3],
        stackwise_num_repeats=[1, 2, 2, 3, 5, 8],
        stackwise_input_filters=[32, 16, 32, 48, 96, 112],
        stackwise_output_filters=[16, 32, 48, 96, 112, 192],
        stackwise_expansion_ratios=[1, 4, 4, 4, 6, 6],
        stackwise_squeeze_and_excite_ratios=[0, 0, 0, 0.25, 0.25, 0.25],
        stackwise_strides=[1, 2, 2, 2, 1, 2],
        stackwise_conv_types=["fused", "fused", "fused", "unfused", "unfused", "unfused"],
        skip_connection_dropout=0.2,
        depth_divisor=8,
        min_depth=8,
        activation="swish",
    )),
    "efficientnet_lite0": (keras_cv.models.EfficientNetLiteBackbone, dict(
        width_coefficient=1.0,
        depth_coefficient=1.0,
        stackwise_kernel_sizes=[3, 3, 5, 3, 5, 5, 3],
        stackwise_num_repeats=[1, 2, 2, 3, 3, 4, 1],
        stackwise_input_filters=[32, 16, 24, 40, 80, 112, 192],
        stackwise_output_filters=[16, 24, 40, 80, 112, 192, 320],
        stackwise_expansion_ratios=[1, 6, 6, 6, 6, 6, 6],
        stackwise_strides=[1, 2, 2, 2, 1, 2, 1],
        activation="relu6",
    )),
}
# Backbones with ImageNet weights that need no network (deeptrash/learn/pretrained.py).
PRETRAINED = {"efficientnet_lite0_imagenet": "efficientnet_lite0"}

# Channels of the head's 3x3 conv at 1/4 resolution (keras-cv's own head: a 1x1
# conv with 256, then upsamples all 256 channels). 64 channels and upsampling
# the 1-channel logits instead keep the head cheap next to MobileNetV3 on a CPU
# (3x3x128 measured ~25 % slower per step at 96 px, noisy shared CPU).
HEAD_FILTERS = 64
# Dilation rates of the ASPP's three 3x3 convs. keras-cv's 6/12/18 suit the
# 33x33 P5 maps of 513 px photos; our P5 maps are 3x3 to 8x8 (96-256 px), where
# such taps land in the padding, so each conv is a 1x1 in disguise, and
# TensorFlow's CPU dilated conv (space-to-batch over 18x18 padded blocks) made
# the whole training step ~6x slower (bench/train.py: 2.41 -> 0.42 s a step of
# 16 at 96 px, MobileNetV3-Small). 1/2/3 look at neighbouring cells instead.
ASPP_RATES = (1, 2, 3)
# The P5 feature for backbones whose last layer only serves ImageNet
# classification: EfficientNet-Lite's 1280-channel top conv quadruples the
# ASPP's input for nothing; its last block's 320 channels go in instead.
P5_LAYERS = {"efficientnet_lite0": "block7a_project_bn", "efficientnet_lite0_imagenet": "block7a_project_bn"}
# Start the sigmoid near the share of litter pixels (~10 %) instead of 50 %,
# so the first steps do not spend themselves unlearning "everything is litter".
LOGIT_PRIOR = -2.2


# --- layers -----------------------------------------------------------------

def _resize_by(images: tf.Tensor, height_factor: int, width_factor: int, interpolation: str) -> tf.Tensor:
    """Bilinear/nearest upsampling of (B, H, W, C) by integer factors; H, W may be unknown."""
    shape = tf.shape(images)
    resized = tf.image.resize(
        images, tf.stack([shape[1] * height_factor, shape[2] * width_factor]), method=interpolation
    )
    return tf.cast(resized, images.dtype)


@keras.saving.register_keras_serializable(package="deeptrash")
class BilinearUpsample(keras.layers.Layer):
    """Upsample (B, H, W, C) by an integer `factor` -> (B, H*f, W*f, C); any H, W."""

    def __init__(self, factor: int, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, inputs):
        return _resize_by(inputs, self.factor, self.factor, "bilinear")

    def compute_output_shape(self, input_shape):
        scale = lambda n: None if n is None else n * self.factor  # noqa: E731
        return (input_shape[0], scale(input_shape[1]), scale(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def sigmoid_head(filters: int = HEAD_FILTERS) -> keras.Sequential:
    """Decoder head: 3x3 conv + BN + ReLU, 1-channel logits, x4 bilinear, sigmoid.

    The logits are upsampled (1 channel, cheap) rather than the features, and
    the last three layers run in float32 under mixed precision.
    """
    return keras.Sequential(
        [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="segmentation_head_conv"),
            keras.layers.BatchNormalization(name="segmentation_head_norm"),
            keras.layers.ReLU(name="segmentation_head_relu"),
            keras.layers.Conv2D(
                1, 1, padding="same", dtype="float32", name="segmentation_logits",
                bias_initializer=keras.initializers.Constant(LOGIT_PRIOR),
            ),
            BilinearUpsample(4, dtype="float32", name="segmentation_upsampling"),
            keras.layers.Activation("sigmoid", dtype="float32", name="segmentation_output"),
        ],
        name="sigmoid_head",
    )


def set_bn_momentum(model: keras.layers.Layer, momentum: float) -> int:
    """Set every BatchNormalization layer (nested ones too) to `momentum`; returns how many."""
    count = 0
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
            count += 1
    return count


@keras.saving.register_keras_serializable(package="deeptrash")
class SigmoidDeepLabV3Plus(keras_cv.models.DeepLabV3Plus):
    """keras-cv's DeepLabV3Plus for one class: sigmoid head, BN momentum, any size.

    Saved and loaded like its parent (the backbone is rebuilt from its own
    config); `bn_momentum` is part of the config, so a reloaded model trains
    the same way.
    """

    def __init__(self, backbone, num_classes: int = 1, bn_momentum: float = 0.9,
                 segmentation_head=None, spatial_pyramid_pooling=None, p5_layer: str | None = None,
                 **kwargs):
        if num_classes != 1:
            raise ValueError("SigmoidDeepLabV3Plus predicts one class (litter); num_classes must be 1")
        if p5_layer:
            # Read before the parent builds its feature extractor (and again after reloading).
            backbone.pyramid_level_inputs = {**backbone.pyramid_level_inputs, "P5": p5_layer}
        super().__init__(
            backbone=backbone,
            num_classes=1,
            segmentation_head=segmentation_head if segmentation_head is not None else sigmoid_head(),
            spatial_pyramid_pooling=(spatial_pyramid_pooling if spatial_pyramid_pooling is not None
                                     else SpatialPyramidPooling(dilation_rates=list(ASPP_RATES))),
            **kwargs,
        )
        self.p5_layer = p5_layer
        self.bn_momentum = float(bn_momentum)
        set_bn_momentum(self, self.bn_momentum)
        # The encoder's x8 UpSampling2D is created inside DeepLabV3Plus; give
        # that instance a resize that accepts unknown sizes (see module doc).
        for layer in self.layers:
            if isinstance(layer, keras.layers.UpSampling2D):
                layer._resize_images = _upsampling2d_resize
        freeze_unused_backbone_layers(self)

    def get_config(self):
        return {**super().get_config(), "bn_momentum": self.bn_momentum, "p5_layer": self.p5_layer}


def freeze_unused_backbone_layers(model: keras_cv.models.DeepLabV3Plus) -> int:
    """Mark backbone layers after P5 (e.g. MobileNetV3's last 1x1 conv) non-trainable.

    DeepLabV3Plus reads only P2 and P5, so those layers get no gradient and
    Keras would warn about it on every step. Returns how many were frozen.
    """
    extractors = [layer for layer in model.layers
                  if isinstance(layer, keras.Model) and not isinstance(layer, keras.Sequential)]
    used = {id(layer) for extractor in extractors for layer in extractor.layers}
    unused = [layer for layer in model.backbone.layers if id(layer) not in used and layer.weights]
    for layer in unused:
        layer.trainable = False
    return len(unused)


def _upsampling2d_resize(x, height_factor, width_factor, data_format, interpolation="nearest"):
    """Drop-in for UpSampling2D._resize_images that works with unknown H and W."""
    if data_format != "channels_last":
        raise ValueError("deeptrash models are channels_last")
    return _resize_by(x, height_factor, width_factor, interpolation)


# --- building -----------------------------------------------------------------

def build_backbone(name: str) -> keras.Model:
    """A keras-cv backbone built offline, input (None, None, 3) 0..255.

    Randomly initialised, except the names in PRETRAINED, which load ImageNet
    weights shipped in a pip package.
    """
    if name in PRETRAINED:
        from deeptrash.learn.pretrained import efficientnet_lite0_imagenet

        return efficientnet_lite0_imagenet()
    if name not in BACKBONES:
        raise UserError(f"train.backbone: {name!r} is not one of {', '.join([*BACKBONES, *PRETRAINED])}")
    cls, arguments = BACKBONES[name]
    return cls(include_rescaling=True, input_shape=(None, None, 3), **arguments)


def backbone_from_preset(preset: str) -> keras.Model:
    """Load a backbone (config + weights) from a local preset folder or a KerasCV name.

    A local folder is what ``keras_cv.src.utils.preset_utils.save_to_preset``
    writes (config.json, model.weights.h5). A name (e.g.
    ``mobilenet_v3_large_imagenet``) needs Kaggle or kagglehub's cache.
    Anything that cannot be loaded is one UserError line saying why.
    """
    from keras_cv.src.models.backbones.backbone_presets import backbone_presets

    path = Path(preset).expanduser()
    is_path = path.exists() or os.sep in preset or preset.startswith(".")
    if is_path:
        if not (path / "config.json").is_file():
            raise UserError(f"train.preset: {preset}: no config.json there "
                            "(expected a folder written by save_to_preset)")
        source = str(path)
    elif preset in backbone_presets:
        source = backbone_presets[preset]["kaggle_handle"]
    else:
        raise UserError(f"train.preset: {preset!r} is neither a folder nor a KerasCV backbone preset name")
    try:
        # The preset's input size and rescaling are replaced by ours: any size, 0..255.
        backbone = keras_cv.models.Backbone.from_preset(
            source, input_shape=(None, None, 3), include_rescaling=True
        )
    except Exception as error:  # noqa: BLE001 - any failure becomes one line
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        hint = "" if is_path else " (offline? use a local folder written by save_to_preset)"
        raise UserError(f"train.preset: {preset!r} could not be loaded: {reason}{hint}") from None
    if "P2" not in backbone.pyramid_level_inputs or "P5" not in backbone.pyramid_level_inputs:
        raise UserError(f"train.preset: {preset!r} is a {type(backbone).__name__} without P2..P5 feature levels")
    return backbone


def build_segmenter(backbone: str = "mobilenet_v3_small", *, preset: str | None = None,
                    bn_momentum: float = 0.9, freeze_backbone: bool = False) -> SigmoidDeepLabV3Plus:
    """The segmenter: (B, H, W, 3) float32 0..255 -> (B, H, W, 1) float32 probabilities.

    With `preset`, the backbone (architecture and weights) comes from it and
    `backbone` is ignored. `freeze_backbone` trains only the decoder and head
    (the backbone's BatchNorm then keeps its statistics): for pretrained
    backbones, whose real-photo features composites should not overwrite.
    Call inside ``strategy.scope()`` (and after setting the mixed precision
    policy) when training.
    """
    net = backbone_from_preset(preset) if preset else build_backbone(backbone)
    model = SigmoidDeepLabV3Plus(backbone=net, bn_momentum=bn_momentum, name="deeptrash_segmenter",
                                 p5_layer=None if preset else P5_LAYERS.get(backbone))
    if freeze_backbone:
        for layer in net.layers:
            layer.trainable = False
    log.info("segmenter: DeepLabV3Plus on %s (%s), %.2f M parameters",
             type(net).__name__, preset or backbone, model.count_params() / 1e6)
    return model


def load_segmenter(path: str | Path) -> keras.Model:
    """Load ``segmenter.keras`` for inference (not compiled); UserError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model not found: {path} (run the train stage: dvc repro train)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise UserError(f"{path}: not a loadable segmenter: {reason}") from None


# --- hardware -----------------------------------------------------------------

def choose_strategy() -> tf.distribute.Strategy:
    """How to spread training over the devices TensorFlow sees.

    - TF_CONFIG set: MultiWorkerMirroredStrategy (one process per machine).
    - Several GPUs: MirroredStrategy over all of them.
    - No GPU but several logical CPUs (set up on purpose, e.g. in tests):
      MirroredStrategy over those.
    - Otherwise the default strategy (one device).
    Call before any other TensorFlow work (multi-worker requires it).
    """
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in cpus])
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True where outputs are written: one process, or the chief (else worker 0) of a cluster.

    Every worker of a MultiWorkerMirroredStrategy runs the same training; the
    others write their copies to a temporary folder.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def fit_on_workers(model: keras.Model, strategy: tf.distribute.Strategy) -> keras.Model:
    """Make ``model.fit`` work under MultiWorkerMirroredStrategy; other strategies untouched.

    Keras 3 (3.15, TensorFlow backend) fails twice there (keras-team/keras#20585):

    1. before the first step it builds the optimizer and metrics from the first
       batch, which it MEAN-reduces across replicas (``_maybe_symbolic_build``);
       the reduce is handed the whole (images, masks) tuple: "Attempt to convert
       a value (PerReplica...)". Only the shapes matter: this worker's own first
       batch is used instead (an override on this model only);
    2. every step MEAN-reduces the scalar logs (loss, metrics) along axis 0:
       "Invalid reduction dimension 0 for input with 0 dimensions". Scalars are
       reduced over the workers with axis None instead (a wrapper around
       ``keras.src.backend.tensorflow.trainer.reduce_per_replica``, installed once
       per process, that changes nothing for other strategies or reductions).
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return model
    from keras.src.backend.tensorflow import trainer

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(local, next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = symbolic_build
    if not getattr(trainer.reduce_per_replica, "multi_worker_scalars", False):
        original = trainer.reduce_per_replica

        def reduce_per_replica(values, strategy, reduction):
            if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
                return tf.nest.map_structure(
                    lambda value: strategy.reduce("MEAN", value, axis=None)
                    if tf.is_tensor(value) or isinstance(value, tf.distribute.DistributedValues) else value,
                    values)
            return original(values, strategy, reduction)

        reduce_per_replica.multi_worker_scalars = True
        trainer.reduce_per_replica = reduce_per_replica
    return model


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``mixed_float16`` with a GPU, else ``float32``; others as given."""
    if precision != "auto":
        return precision
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"


def configure_runtime(seed: int, precision: str, deterministic: bool) -> str:
    """Seed Python/NumPy/TF, set the dtype policy, optionally op determinism; returns the policy."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = resolve_precision(precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy


# --- training -----------------------------------------------------------------

def compile_segmenter(model: keras.Model, *, learning_rate: float, total_steps: int,
                      bce_weight: float = 1.0, dice_weight: float = 1.0) -> keras.Model:
    """Adam with cosine learning-rate decay over `total_steps`; BCE + Dice; IoU/P/R.

    Call inside the strategy scope that built `model`. Under a mixed_float16
    policy Keras wraps the optimizer in a LossScaleOptimizer itself.
    """
    from deeptrash.learn.losses import BceDiceLoss, segmentation_metrics

    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate, decay_steps=max(1, total_steps), alpha=0.05
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=BceDiceLoss(bce_weight=bce_weight, dice_weight=dice_weight),
        metrics=segmentation_metrics(),
    )
    return model


class Throughput(keras.callbacks.Callback):
    """Training images per second of each epoch (validation excluded), logged and printed.

    Adds ``images_per_s`` and ``lr`` to the epoch logs, so callbacks after it
    (dvclive) record them too.
    """

    def __init__(self, batch_size: int, clock=None):
        super().__init__()
        import time

        self.batch_size = int(batch_size)
        self.clock = clock or time.perf_counter
        self.per_epoch: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self.clock()
        self._train_seconds = None
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_test_begin(self, logs=None):
        if self._train_seconds is None:
            self._train_seconds = self.clock() - self._start

    def on_epoch_end(self, epoch, logs=None):
        seconds = self._train_seconds if self._train_seconds is not None else self.clock() - self._start
        rate = self._steps * self.batch_size / max(seconds, 1e-9)
        self.per_epoch.append(rate)
        if logs is not None:
            logs["images_per_s"] = rate
            optimizer = self.model.optimizer
            logs["lr"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        log.info("epoch %d: %.1f images/s (%.0f ms/step), val IoU %.3f", epoch + 1, rate,
                 1000 * seconds / max(self._steps, 1), (logs or {}).get("val_iou", float("nan")))


class KeepBest(keras.callbacks.Callback):
    """Remember the weights of the epoch with the highest `monitor`; restore them at the end.

    Kept in memory (no checkpoint file per epoch: the stage saves once, at the
    end, atomically). NaN values never count as best.
    """

    def __init__(self, monitor: str = "val_iou"):
        super().__init__()
        self.monitor = monitor
        self.best = float("-inf")
        self.best_epoch = -1
        self.best_logs: dict = {}
        self._weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = float((logs or {}).get(self.monitor, float("nan")))
        if value == value and value > self.best:
            self.best, self.best_epoch = value, epoch
            self.best_logs = {k: float(v) for k, v in (logs or {}).items()}
            self._weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self._weights is not None:
            self.model.set_weights(self._weights)


def training_callbacks(batch_size: int, early_stopping: int, extra=()) -> list[keras.callbacks.Callback]:
    """Throughput, best-by-val-IoU, optional early stopping, then `extra` (e.g. dvclive).

    Order matters: Throughput adds to the logs before the loggers read them.
    """
    callbacks: list[keras.callbacks.Callback] = [Throughput(batch_size), KeepBest("val_iou")]
    if early_stopping > 0:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_iou", mode="max", patience=early_stopping, restore_best_weights=False
        ))
    callbacks.extend(extra)
    callbacks.append(keras.callbacks.TerminateOnNaN())
    return callbacks
