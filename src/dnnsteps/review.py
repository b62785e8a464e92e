"""The course's rules of thumb, checked against a model.

Each finding names a layer and says in one line why it goes against the
course's advice. A clean model gives no findings. Every layer is seen,
however deeply it sits in nested models or custom layers (``layers.leaves``).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from . import layers as walk
from .errors import ConfigError
from .receptive_field import receptive_fields

_CONV = walk.CONVOLUTIONS
_AFTER_LAST_CONV = (
    keras.layers.BatchNormalization,
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
    keras.layers.ReLU,
)


@dataclass(frozen=True)
class Finding:
    layer: str
    rule: str
    reason: str

    def __str__(self):
        return f"{self.layer}: {self.reason}"


def _is_relu(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        return True
    if isinstance(layer, keras.layers.Activation):
        return getattr(layer.activation, "__name__", "") == "relu"
    return False


def review(model, forbid_bias: bool = True) -> list[Finding]:
    """Findings for ``model`` (a list; empty when it follows every rule)."""
    layers = walk.leaves(model)
    findings: list[Finding] = []
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, _CONV)]
    last_conv = convs[-1] if convs else None
    pools = [
        i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.MaxPooling2D)
    ]

    for i, layer in enumerate(layers):
        if walk.is_fully_connected(layer):
            findings.append(
                Finding(
                    walk.path(model, layer),
                    "no_fc",
                    f"fully connected ({type(layer).__name__}) layer; use a conv output "
                    "block or GAP instead.",
                )
            )
        if forbid_bias and walk.has_bias(layer):
            findings.append(
                Finding(
                    walk.path(model, layer),
                    "bias",
                    f"{type(layer).__name__} has a bias; the assignment forbids biases "
                    "(batch norm's beta plays that role).",
                )
            )
        if walk.covers_whole_map(layer):
            size = "x".join(str(s) for s in walk.spatial_input(layer))
            findings.append(
                Finding(
                    walk.path(model, layer),
                    "fc_in_disguise",
                    f"its kernel covers the whole {size} input map: a fully connected "
                    "layer in disguise. It loses the spatial information and costs as "
                    "many parameters as a Dense layer; global average pooling does not.",
                )
            )
        if isinstance(layer, _CONV) and "Transpose" not in type(layer).__name__:
            if max(layer.strides) > 1:
                findings.append(
                    Finding(
                        walk.path(model, layer),
                        "strided_conv",
                        f"strided convolution (stride {layer.strides}); the course shrinks maps with max-pooling.",
                    )
                )
            k = max(layer.kernel_size)
            if k > 3 and i != last_conv:
                findings.append(
                    Finding(
                        walk.path(model, layer),
                        "big_kernel",
                        f"{k}x{k} kernel; two 3x3 convs see as much with fewer parameters.",
                    )
                )
        if (
            last_conv is not None
            and i > last_conv
            and (isinstance(layer, _AFTER_LAST_CONV) or _is_relu(layer))
        ):
            findings.append(
                Finding(
                    walk.path(model, layer),
                    "after_last_conv",
                    f"{type(layer).__name__} after the last convolution; the output layer should feed softmax directly.",
                )
            )

    for i in pools:
        layer = layers[i]
        convs_before = [c for c in convs if c < i]
        convs_after = [c for c in convs if c > i]
        if not convs_before:
            findings.append(
                Finding(
                    walk.path(model, layer),
                    "pool_at_input",
                    "max-pooling directly after the input throws away pixels before any feature exists.",
                )
            )
        if len(convs_after) < 2:
            findings.append(
                Finding(
                    walk.path(model, layer),
                    "pool_near_output",
                    "max-pooling within two convolutions of the output; keep the last layers' detail.",
                )
            )
        previous = [p for p in pools if p < i]
        if previous and not any(previous[-1] < c < i for c in convs):
            findings.append(
                Finding(
                    walk.path(model, layer),
                    "pool_twice",
                    "two max-pools in a row with no convolution between them.",
                )
            )

    try:
        rows = receptive_fields(model)
    except ConfigError:
        return findings  # a layer the receptive-field formula cannot follow
    size = model.input_shape[1]
    if size and rows[-1].rf < size:
        findings.append(
            Finding(
                rows[-1].name,
                "small_rf",
                f"final receptive field {rows[-1].rf}x{rows[-1].rf} is smaller than the {size}x{size} input; the output cannot see the whole digit.",
            )
        )
    return findings


def print_review(model, forbid_bias: bool = True) -> None:
    findings = review(model, forbid_bias)
    if not findings:
        print(f"{model.name}: follows every rule of thumb.")
    for finding in findings:
        print(f"{model.name}: {finding}")
