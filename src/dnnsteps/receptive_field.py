"""Receptive fields by the standard formula, layer by layer, and the cost to run:
``r_out = r_in + (k - 1) * d * j_in`` and ``j_out = j_in * s`` (kernel k, dilation d,
stride s, jump j: input pixels between neighbouring outputs); branches take the largest."""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from .errors import DnnstepsError

L = keras.layers


def layer_types(names: str) -> tuple:
    """The Keras layer classes named in ``names`` that this Keras version has."""
    return tuple(getattr(L, name) for name in names.split() if hasattr(L, name))


_POOLS = (L.MaxPooling2D, L.AveragePooling2D)
_CONVS = (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D)
_GLOBAL = (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D, L.Flatten)
# Dense acts on the last axis only: per pixel (like a 1x1 conv) or after Flatten.
_PASS_THROUGH = layer_types(
    "BatchNormalization LayerNormalization GroupNormalization Dropout SpatialDropout2D "
    "Activation ReLU LeakyReLU PReLU ELU Softmax Rescaling Normalization Identity "
    "RandomRotation RandomTranslation RandomZoom RandomFlip RandomContrast InputLayer "
    "ZeroPadding2D Add Concatenate Multiply Average Maximum Dense"
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
        raise DnnstepsError(f"layer {layer.name!r}: non-square {name} {values} "
                            "is not supported.")  # fmt: skip
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
    raise DnnstepsError(f"receptive field: cannot reason about layer {layer.name!r} "
                        f"({type(layer).__name__}); supported are convolutions, pooling, "
                        "padding, normalisation, preprocessing, dropout, activations, flatten "
                        "and global pooling.")  # fmt: skip


def _inbound_layers(layer):
    nodes = getattr(layer, "_inbound_nodes", [])
    tensors = [t for node in nodes for t in node.input_tensors]
    return [t._keras_history.operation for t in tensors
            if getattr(t, "_keras_history", None)]  # fmt: skip


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


def macs_per_image(model) -> int:
    """Multiply-accumulates of one forward pass: one per kernel weight per output pixel."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, L.Dense):
            total += math.prod(layer.kernel.shape)
        elif isinstance(layer, (L.Conv2D, L.DepthwiseConv2D)):
            total += math.prod(layer.output.shape[1:3]) * math.prod(layer.kernel.shape)
    return int(total)
