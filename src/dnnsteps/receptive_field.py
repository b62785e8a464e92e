"""Receptive fields by the standard formula, layer by layer.

For each layer: ``r_out = r_in + (k - 1) * d * j_in`` and ``j_out = j_in * s``,
where k is the kernel, d the dilation, s the stride and j the jump (the
distance in input pixels between neighbouring outputs). Layers that do not
look at neighbours (BN, activations, dropout, 1x1 convs) leave r and j alone.
Functional models with branches take the largest field over their inputs.

The same layer geometry gives a model's cost to run: ``macs_per_image``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from .errors import ConfigError

_SPATIAL = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)
_PASS_THROUGH = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
    keras.layers.Rescaling,
    keras.layers.Normalization,
    keras.layers.RandomRotation,
    keras.layers.RandomTranslation,
    keras.layers.RandomZoom,
    keras.layers.RandomFlip,
    keras.layers.RandomContrast,
    keras.layers.InputLayer,
    keras.layers.Add,
    keras.layers.Concatenate,
    keras.layers.Multiply,
    keras.layers.Average,
    keras.layers.Maximum,
    # Dense acts on the last axis only: per pixel (like a 1x1 conv) or after Flatten.
    keras.layers.Dense,
)
_GLOBAL = (
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.Flatten,
)


@dataclass
class Row:
    """One layer: its output and how much of the input each output pixel sees."""

    name: str
    kind: str
    input_shape: tuple
    output_shape: tuple
    rf: int
    jump: int
    kernel: int = 1
    note: str = ""

    @property
    def channels(self):
        return self.output_shape[-1] if self.output_shape else None


def _pair(value, name, layer):
    if isinstance(value, int):
        return value
    values = tuple(value)
    if len(set(values)) != 1:
        raise ConfigError(
            f"layer {layer.name!r}: non-square {name} {values} is not supported."
        )
    return values[0]


def _shape(shape):
    if isinstance(shape, list):  # merge layers: several inputs
        shape = shape[0]
    return tuple(shape)


def _step(layer, rf: int, jump: int, in_shape: tuple):
    """Return (rf, jump, kernel, note) after ``layer``."""
    if isinstance(layer, _SPATIAL):
        if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            k = _pair(layer.pool_size, "pool size", layer)
            s = _pair(layer.strides, "stride", layer)
            d = 1
        else:
            k = _pair(layer.kernel_size, "kernel", layer)
            s = _pair(layer.strides, "stride", layer)
            d = _pair(layer.dilation_rate, "dilation", layer)
        new_rf = rf + (k - 1) * d * jump
        note = ""
        if isinstance(layer, keras.layers.MaxPooling2D) and new_rf != 2 * rf:
            note = f"shortcut 'pooling doubles RF' says {2 * rf}, formula gives {new_rf}"
        return new_rf, jump * s, k, note
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return rf, jump, 1, ""
    if isinstance(layer, _GLOBAL):
        # Every output sees the whole remaining map.
        if len(in_shape) == 4 and in_shape[1] is not None:
            size = in_shape[1]
            return rf + (size - 1) * jump, jump * size, size, ""
        return rf, jump, 1, ""
    if isinstance(layer, _PASS_THROUGH):
        return rf, jump, 1, ""
    raise ConfigError(
        f"receptive field: cannot reason about layer {layer.name!r} "
        f"({type(layer).__name__}); supported are convolutions, pooling, padding, "
        "normalisation, dropout, activations, flatten and global pooling."
    )


def _inbound_layers(layer):
    parents = []
    for node in getattr(layer, "_inbound_nodes", []):
        for tensor in node.input_tensors:
            history = getattr(tensor, "_keras_history", None)
            if history is not None:
                parents.append(history.operation)
    return parents


def receptive_fields(model) -> list[Row]:
    """One ``Row`` per layer (input layer first), in the model's order."""
    if isinstance(model, keras.Sequential):
        order = list(model.layers)
        parents = {id(layer): [prev] for prev, layer in zip(order, order[1:])}
    else:
        order = [op for op in model.operations]
        parents = {id(op): _inbound_layers(op) for op in order}
    state: dict[int, tuple[int, int]] = {}
    rows = [Row("input", "Input", (), tuple(model.input_shape), 1, 1)]
    for layer in order:
        if isinstance(layer, keras.layers.InputLayer):
            state[id(layer)] = (1, 1)
            continue
        inputs = [state[id(p)] for p in parents.get(id(layer), []) if id(p) in state]
        rf_in, jump_in = max(inputs) if inputs else (1, 1)
        in_shape = _shape(
            layer.input.shape if not isinstance(layer.input, list) else layer.input[0].shape
        )
        rf, jump, kernel, note = _step(layer, rf_in, jump_in, in_shape)
        state[id(layer)] = (rf, jump)
        rows.append(
            Row(
                layer.name,
                type(layer).__name__,
                in_shape,
                _shape(layer.output.shape),
                rf,
                jump,
                kernel,
                note,
            )
        )
    return rows


def _hw(shape) -> str:
    if len(shape) == 4:
        return f"{shape[1]}x{shape[2]}x{shape[3]}"
    return "x".join(str(s) for s in shape[1:])


def format_row(row: Row) -> str:
    """Course notation: ``26x26x10 | (3x3x10)x16 | 24x24x16 | RF 5x5``."""
    if row.kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        cin = row.input_shape[-1]
        op = f"({row.kernel}x{row.kernel}x{cin})x{row.channels}"
    elif row.kind in ("MaxPooling2D", "AveragePooling2D"):
        op = f"{row.kind.replace('Pooling2D', '').lower()}-pool {row.kernel}x{row.kernel}"
    elif row.kind.startswith("Global"):
        op = f"global-pool {row.kernel}x{row.kernel}"
    else:
        op = row.kind
    line = f"{_hw(row.input_shape):>9} | {op:<18} | {_hw(row.output_shape):>9} | RF {row.rf}x{row.rf}"
    if row.note:
        line += f"  ({row.note})"
    return line


def table(model) -> list[str]:
    """The table's lines, spatial layers only (the lines a student would write)."""
    return [
        format_row(r)
        for r in receptive_fields(model)[1:]
        if r.kind
        in (
            "Conv2D",
            "DepthwiseConv2D",
            "SeparableConv2D",
            "MaxPooling2D",
            "AveragePooling2D",
            "GlobalAveragePooling2D",
            "GlobalMaxPooling2D",
        )
    ]


def print_table(model) -> None:
    for line in table(model):
        print(line)


def final_receptive_field(model) -> int:
    return receptive_fields(model)[-1].rf


# Cost to run ----------------------------------------------------------------------


def macs_per_image(model) -> int:
    """Multiply-accumulates of one forward pass (convolutions and Dense layers).

    A convolution does one multiply-add per kernel weight at each output position;
    the kernel's last axis is the output channels (Conv2D) or the depth multiplier
    (DepthwiseConv2D), so the same product counts both. Normalisation, pooling and
    activations are left out: they cost a few operations per value, not per weight.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            positions = math.prod(layer.output.shape[1:3])
            total += positions * math.prod(layer.kernel.shape)
        elif isinstance(layer, keras.layers.Dense):
            total += math.prod(layer.kernel.shape)
    return int(total)
