"""How the segmenter is trained: devices, precision, compile, callbacks.

- :func:`choose_strategy` / :func:`is_chief`: one device, several GPUs or
  logical CPUs (MirroredStrategy), or a cluster (MultiWorkerMirroredStrategy,
  ``TF_CONFIG``), and which process writes the outputs.
- Keras 3.15's ``fit`` fails under MultiWorkerMirroredStrategy
  (keras-team/keras#20585): :func:`fit_on_workers` works around it.
- :func:`compile_segmenter` and :func:`training_callbacks`: Adam with cosine
  decay on BCE + Dice; images/s per epoch, the best epoch's weights kept.

The network itself is built in deeptrash/learn/model.py.
"""
from __future__ import annotations

import logging
import os

import keras
import tensorflow as tf

log = logging.getLogger(__name__)


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
                      bce_weight: float = 1.0, dice_weight: float = 1.0, small_weight: float = 1.0) -> keras.Model:
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
        loss=BceDiceLoss(bce_weight=bce_weight, dice_weight=dice_weight, small_weight=small_weight),
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
