"""Which ``tf.distribute`` strategy to train under, chosen from the hardware.

Several GPUs -> MirroredStrategy (one replica per GPU, gradients all-reduced);
a Colab TPU -> TPUStrategy; otherwise the default (no-op) strategy. For several
machines, see the README's MultiWorkerMirroredStrategy section.
"""

from __future__ import annotations

import functools
import os


@functools.lru_cache(maxsize=1)
def default_strategy():
    import tensorflow as tf

    if os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"):
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        except (ValueError, RuntimeError):
            pass  # no TPU reachable after all: fall through
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def describe(strategy) -> str:
    return f"{type(strategy).__name__} ({strategy.num_replicas_in_sync} replica(s))"
