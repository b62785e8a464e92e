"""Receptive fields by the standard formula, layer by layer.

For each layer: ``r_out = r_in + (k - 1) * d * j_in`` and ``j_out = j_in * s``,
where k is the kernel, d the dilation, s the stride and j the jump (the
distance in input pixels between neighbouring outputs). Layers that look at one
pixel at a time (BN, activations, dropout, Rescaling, 1x1 convs) leave r and j
alone. Functional models with branches take the largest field over their inputs.

The same layer geometry gives a model's cost to run: ``macs_per_image``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from .errors import DnnstepsError

L = keras.layers
_POOLS = (L.MaxPooling2D, L.AveragePooling2D)
_CONVS = (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D)
_GLOBAL = (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D, L.Flatten)
# Dense acts on the last axis only: per pixel (like a 1x1 conv) or after Flatten.
_PASS_THROUGH = tuple(
    getattr(L, name)
    for name in (
        "BatchNormalization LayerNormalization GroupNormalization Dropout SpatialDropout2D "
        "Activation ReLU LeakyReLU PReLU ELU Softmax Rescaling Normalization Identity "
        "RandomRotation RandomTranslation RandomZoom RandomFlip RandomContrast InputLayer "
        "ZeroPadding2D Add Concatenate Multiply Average Maximum Dense"
    ).split()
    if hasattr(L, name)
)
# The lines a student writes in the course's table.
_TABLE_KINDS = {t.__name__ for t in _CONVS + _POOLS + _GLOBAL[:2]}


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


def _pair(value, name, layer):
    if isinstance(value, int):
        return value
    values = tuple(value)
    if len(set(values)) != 1:
        raise DnnstepsError(
            f"layer {layer.name!r}: non-square {name} {values} is not supported."
        )
    return values[0]


def _step(layer, rf: int, jump: int, in_shape: tuple):
    """Return (rf, jump, kernel, note) after ``layer``."""
    if isinstance(layer, _POOLS + _CONVS):
        pool = isinstance(layer, _POOLS)
        k = _pair(layer.pool_size if pool else layer.kernel_size, "kernel", layer)
        s = _pair(layer.strides, "stride", layer)
        d = 1 if pool else _pair(layer.dilation_rate, "dilation", layer)
        new_rf = rf + (k - 1) * d * jump
        note = ""
        if isinstance(layer, L.MaxPooling2D) and new_rf != 2 * rf:
            note = f"shortcut 'pooling doubles RF' says {2 * rf}, formula gives {new_rf}"
        return new_rf, jump * s, k, note
    if isinstance(layer, _GLOBAL) and len(in_shape) == 4 and in_shape[1] is not None:
        size = in_shape[1]  # every output sees the whole remaining map
        return rf + (size - 1) * jump, jump * size, size, ""
    if isinstance(layer, _PASS_THROUGH + _GLOBAL):
        return rf, jump, 1, ""
    raise DnnstepsError(
        f"receptive field: cannot reason about layer {layer.name!r} "
        f"({type(layer).__name__}); supported are convolutions, pooling, padding, "
        "normalisation, preprocessing, dropout, activations, flatten and global pooling."
    )


def _inbound_layers(layer):
    nodes = getattr(layer, "_inbound_nodes", [])
    tensors = [t for node in nodes for t in node.input_tensors]
    return [
        t._keras_history.operation for t in tensors if getattr(t, "_keras_history", None)
    ]


def receptive_fields(model) -> list[Row]:
    """One ``Row`` per layer (input layer first), in the model's order."""
    if isinstance(model, keras.Sequential):
        order = list(model.layers)
        parents = {id(layer): [prev] for prev, layer in zip(order, order[1:])}
    else:
        order = list(model.operations)
        parents = {id(op): _inbound_layers(op) for op in order}
    state: dict[int, tuple[int, int]] = {}
    rows = [Row("input", "Input", (), tuple(model.input_shape), 1, 1)]
    for layer in order:
        if isinstance(layer, L.InputLayer):
            state[id(layer)] = (1, 1)
            continue
        inputs = [state[id(p)] for p in parents.get(id(layer), []) if id(p) in state]
        rf_in, jump_in = max(inputs) if inputs else (1, 1)
        first = layer.input[0] if isinstance(layer.input, list) else layer.input  # merges
        in_shape = tuple(first.shape)
        rf, jump, kernel, note = _step(layer, rf_in, jump_in, in_shape)
        state[id(layer)] = (rf, jump)
        out, kind = tuple(layer.output.shape), type(layer).__name__
        rows.append(Row(layer.name, kind, in_shape, out, rf, jump, kernel, note))
    return rows


def _hw(shape) -> str:
    return "x".join(str(s) for s in shape[1:])


def format_row(row: Row) -> str:
    """Course notation: ``26x26x10 | (3x3x10)x16 | 24x24x16 | RF 5x5``."""
    if row.kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        cin = row.input_shape[-1]
        op = f"({row.kernel}x{row.kernel}x{cin})x{row.output_shape[-1]}"
    elif row.kind.endswith("Pooling2D") and not row.kind.startswith("Global"):
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
    return [format_row(r) for r in receptive_fields(model)[1:] if r.kind in _TABLE_KINDS]


def print_table(model) -> None:
    print("\n".join(table(model)))


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
        if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.Dense)):
            positions = (
                1 if isinstance(layer, L.Dense) else math.prod(layer.output.shape[1:3])
            )
            total += positions * math.prod(layer.kernel.shape)
    return int(total)
