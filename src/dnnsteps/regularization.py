"""Dropout: which kind, and where it goes.

Plain ``Dropout`` zeroes single activations; ``SpatialDropout2D`` zeroes whole
feature maps, which suits conv layers whose neighbouring pixels are strongly
correlated. The course places a small dropout after the 3x3 conv blocks and
never after the output layer; dnnsteps puts it after the blocks that follow the
max-pool (where most kernels are), not on the few edge detectors before it.
"""

import keras

from .errors import ConfigError

KINDS = ("dropout", "spatial")


def validate_rate(rate: float) -> float:
    if (
        not isinstance(rate, (int, float))
        or isinstance(rate, bool)
        or not 0.0 <= rate < 1.0
    ):
        raise ConfigError(f"dropout must be a number in [0, 1), got {rate!r}.")
    return float(rate)


def validate_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"dropout kind must be one of {KINDS}, got {kind!r}.")
    return kind


def dropout_layer(rate: float, kind: str = "dropout", name: str | None = None):
    """A dropout layer of the given kind, or ``None`` when rate is 0 (no layer at all)."""
    rate = validate_rate(rate)
    kind = validate_kind(kind)
    if rate == 0.0:
        return None
    if kind == "spatial":
        return keras.layers.SpatialDropout2D(rate, name=name)
    return keras.layers.Dropout(rate, name=name)
