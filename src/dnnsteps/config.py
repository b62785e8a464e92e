"""The runtime: smoke or full mode, one seed for everything, the device and its
training strategy, and the versions a run records.

Mode: smoke (a tiny, fast subset for tests) or full (the real thing).

One switch drives every training call: ``DNNSTEPS_SMOKE=1``. ``DNNSTEPS_FULL=1``
or a visible GPU overrides it, so the same test command does the full run where
the hardware makes that cheap.
"""

from __future__ import annotations

import functools
import os
import platform

from .errors import ConfigError, is_integer

SMOKE_TRAIN_SIZE = 2000
SMOKE_TEST_SIZE = 1000
SMOKE_EPOCHS = 2

# Training steps per call into TensorFlow. Each call costs a few milliseconds of
# Python and dispatch, which on a 2-core CPU is a tenth of a small net's step;
# running 32 steps per call removes most of it and changes no result. Used on a
# single device only: Keras 3.15's multi-step loop fails under MirroredStrategy.
STEPS_PER_EXECUTION = 32

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def gpu_visible() -> bool:
    """True when the backend sees a GPU (TensorFlow's view, without allocating it)."""
    try:
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # noqa: BLE001 - no TF or no driver both mean "no GPU"
        return False


def full_mode_forced() -> bool:
    return _flag("DNNSTEPS_FULL") or gpu_visible()


def smoke_mode() -> bool:
    """Whether training should use the small smoke subset and two epochs."""
    return _flag("DNNSTEPS_SMOKE") and not full_mode_forced()


def strict_targets() -> bool:
    """Whether a missed target raises (the suite and the tests) or is only reported."""
    return _flag("DNNSTEPS_STRICT")


# Seeds ------------------------------------------------------------------------

_determinism_on = False


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Fix Python, NumPy and TensorFlow randomness; with ``deterministic``, also make
    TensorFlow pick deterministic kernels, so one seed gives one result on a CPU."""
    global _determinism_on
    import keras

    if not is_integer(seed) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}.")
    keras.utils.set_random_seed(seed)
    if deterministic and not _determinism_on and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        _determinism_on = True


# Device and versions ----------------------------------------------------------


def device_name() -> str:
    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"GPU: {details.get('device_name', gpus[0].name)} x{len(gpus)}"
    except Exception:  # noqa: BLE001 - fall back to describing the CPU
        pass
    return f"CPU: {cpu_model()}, {platform.machine()}, {os.cpu_count()} cores"


def cpu_model() -> str:
    """The CPU's name and widest vector unit: two "2-core CPUs" can differ 3x in speed."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    isa = next(
        (
            label
            for flag, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"))
            if flag in flags
        ),
        None,
    )
    return f"{name} ({isa})" if isa else name


def versions() -> dict:
    import keras

    found = {"python": platform.python_version(), "keras": keras.__version__}
    try:
        import tensorflow as tf

        found["tensorflow"] = tf.__version__
    except ImportError:
        pass
    found["backend"] = keras.backend.backend()
    return found


# Strategy ---------------------------------------------------------------------
# Several GPUs -> MirroredStrategy (one replica per GPU, gradients all-reduced);
# a Colab TPU -> TPUStrategy; otherwise the default (no-op) strategy. For several
# machines, see the README's MultiWorkerMirroredStrategy section.


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
