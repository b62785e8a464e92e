"""The course's three building blocks, as lists of Keras layers.

Dropout: plain ``Dropout`` zeroes single activations; ``SpatialDropout2D`` zeroes
whole feature maps. Never after the output layer.

Lists (rather than nested models) keep ``model.summary()`` flat, so each
layer's output shape and receptive field can be read line by line.
"""

import keras

from .errors import ConfigError, is_number

NUM_CLASSES = 10


KINDS = ("dropout", "spatial")


def validate_rate(rate: float) -> float:
    if not is_number(rate) or not 0.0 <= rate < 1.0:
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


def conv_block(
    filters: int,
    kernel_size: int = 3,
    *,
    name: str,
    batch_norm: bool = False,
    dropout: float = 0.0,
    dropout_kind: str = "dropout",
    use_bias: bool = False,
):
    """Conv -> optional BN -> ReLU -> optional dropout. Valid padding: 3x3 shrinks 2px."""
    layers = [
        keras.layers.Conv2D(filters, kernel_size, use_bias=use_bias, name=f"{name}_conv")
    ]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization(name=f"{name}_bn"))
    layers.append(keras.layers.ReLU(name=f"{name}_relu"))
    drop = dropout_layer(dropout, dropout_kind, name=f"{name}_drop")
    if drop is not None:
        layers.append(drop)
    return layers


def transition_block(filters: int, *, name: str, **block):
    """2x2 max-pool (halves the map, doubles the jump) then a 1x1 conv that merges
    features into fewer channels, so the next 3x3 stack starts cheap."""
    return [
        keras.layers.MaxPooling2D(2, name=f"{name}_pool"),
        *conv_block(filters, 1, name=name, **block),
    ]


def pooled_conv_block(filters: int, *, name: str, **block):
    """Conv -> 2x2 max-pool -> optional BN -> ReLU: the pool straight after the conv.

    ReLU and max-pooling commute, and batch norm simply takes its statistics over
    the pooled map, so the block learns what conv -> BN -> ReLU -> pool would while
    BN and ReLU touch a quarter of the values. On a CPU that element-wise work on
    the large early maps costs more time than the convolutions themselves.
    """
    layers = conv_block(filters, name=name, **block)
    layers.insert(1, keras.layers.MaxPooling2D(2, name=f"{name}_pool"))
    return layers


def output_block(
    spatial_size: int | None,
    *,
    name: str = "output",
    batch_norm: bool = False,
    use_bias: bool = False,
):
    """Map to 10 class channels, collapse space, softmax; no Dense layer anywhere.

    ``spatial_size`` given: a 1x1 conv block to 10 channels, then one raw conv
    whose kernel covers the whole remaining map (the course's way). ``None``:
    a raw 1x1 conv to 10 channels and global average pooling, which costs no
    parameters. Either way nothing (BN, ReLU, dropout) follows the last conv.
    """
    if spatial_size is None:
        return [
            keras.layers.Conv2D(NUM_CLASSES, 1, use_bias=use_bias, name=f"{name}_conv"),
            keras.layers.GlobalAveragePooling2D(name=f"{name}_gap"),
            keras.layers.Softmax(name=f"{name}_softmax"),
        ]
    return [
        *conv_block(
            NUM_CLASSES, 1, name=f"{name}_1x1", batch_norm=batch_norm, use_bias=use_bias
        ),
        keras.layers.Conv2D(
            NUM_CLASSES, spatial_size, use_bias=use_bias, name=f"{name}_conv"
        ),
        keras.layers.Flatten(name=f"{name}_flatten"),
        keras.layers.Softmax(name=f"{name}_softmax"),
    ]
