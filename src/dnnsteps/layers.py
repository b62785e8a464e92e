"""Every layer of a Keras model, and what the assignment asks of each.

A rule checked on ``model.layers`` alone misses a ``Dense`` head wrapped in a
nested ``Sequential`` or kept inside a custom layer. ``walk`` descends into
all of them, so the checker and the review see what actually runs.
"""

from __future__ import annotations

import keras

L = keras.layers

# Layers that compute a weighted sum over the whole feature vector.
FULLY_CONNECTED = (L.Dense, L.EinsumDense)

# Every convolution kind (1D/2D/3D, depthwise, separable, transposed).
CONVOLUTIONS = tuple(
    getattr(L, name)
    for name in (
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
        "Conv1DTranspose",
        "Conv2DTranspose",
        "Conv3DTranspose",
    )
    if hasattr(L, name)
)

# Normalisation shifts (beta) play the role of a bias but are not one: the
# course removes conv biases precisely because batch norm's beta replaces them.
_NOT_A_BIAS = (L.BatchNormalization, L.LayerNormalization, L.GroupNormalization)


def _children(layer) -> list:
    """The layers ``layer`` holds directly (nested models, custom layers' parts)."""
    found = list(getattr(layer, "_layers", None) or [])
    if not found and isinstance(layer, keras.Model):
        found = list(layer.layers)
    return [c for c in found if isinstance(c, L.Layer)]


def walk(model) -> list:
    """Every layer inside ``model``, depth first in build order (containers included)."""
    seen, out = set(), []

    def visit(layer):
        for child in _children(layer):
            if id(child) in seen:
                continue
            seen.add(id(child))
            if not isinstance(child, L.InputLayer):
                out.append(child)
            visit(child)

    visit(model)
    return out


def leaves(model) -> list:
    """The layers that do the work: ``walk`` without the containers."""
    return [layer for layer in walk(model) if not _children(layer)]


def path(model, target) -> str:
    """``outer/inner/dense`` for a layer nested in sub-models (its name at top level)."""

    def find(layer, prefix):
        for child in _children(layer):
            name = f"{prefix}{child.name}"
            if child is target:
                return name
            hit = find(child, name + "/")
            if hit:
                return hit
        return None

    return find(model, "") or target.name


def _own_variables(layer) -> list:
    inner = {id(v) for child in _children(layer) for v in child.weights}
    return [v for v in layer.weights if id(v) not in inner]


def has_bias(layer) -> bool:
    """True when ``layer`` itself adds a learned bias (not counting its sub-layers)."""
    if isinstance(layer, _NOT_A_BIAS):
        return False
    if getattr(layer, "use_bias", False) and not _children(layer):
        return True
    return any(
        getattr(v, "name", "").split("/")[-1] == "bias" for v in _own_variables(layer)
    )


def is_fully_connected(layer) -> bool:
    return isinstance(layer, FULLY_CONNECTED)


def fully_connected(model) -> list[str]:
    """Paths of every fully connected layer, however deeply nested."""
    return [path(model, layer) for layer in walk(model) if is_fully_connected(layer)]


def biased(model) -> list[str]:
    """Paths of every layer that holds a bias, however deeply nested."""
    return [path(model, layer) for layer in walk(model) if has_bias(layer)]


def spatial_input(layer):
    """The spatial size (e.g. ``(6, 6)``) of what ``layer`` was called on, or None."""
    try:
        shape = tuple(layer.input.shape)
    except (AttributeError, ValueError, TypeError):
        return None
    spatial = shape[1:-1]
    if not spatial or any(s is None for s in spatial):
        return None
    return spatial


def covers_whole_map(layer) -> bool:
    """A convolution whose kernel spans its whole (larger than 1x1) input map.

    It sees every pixel at once, like a fully connected layer over the
    flattened map: one weight per position, and no spatial structure left.
    """
    if not isinstance(layer, CONVOLUTIONS) or "Transpose" in type(layer).__name__:
        return False
    spatial = spatial_input(layer)
    if spatial is None or all(s == 1 for s in spatial):
        return False
    kernel = tuple(layer.kernel_size)
    return getattr(layer, "padding", "valid") == "valid" and all(
        k >= s for k, s in zip(kernel, spatial)
    )
