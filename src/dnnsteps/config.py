"""Run mode: smoke (a tiny, fast subset for tests) or full (the real thing).

One switch drives every training call: ``DNNSTEPS_SMOKE=1``. ``DNNSTEPS_FULL=1``
or a visible GPU overrides it, so the same test command does the full run where
the hardware makes that cheap.
"""

import os

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


def mode_name() -> str:
    return "smoke" if smoke_mode() else "full"
