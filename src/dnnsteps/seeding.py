"""One seed for Python, NumPy and the backend, and deterministic ops."""

import keras

_determinism_on = False


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Fix Python, NumPy and TensorFlow randomness; with ``deterministic``, also make
    TensorFlow pick deterministic kernels, so one seed gives one result on a CPU."""
    global _determinism_on
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        from .errors import ConfigError

        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}.")
    keras.utils.set_random_seed(seed)
    if deterministic and not _determinism_on and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        _determinism_on = True
