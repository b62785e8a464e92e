"""Multiply-adds per image: what a model costs to run, not just to store."""

import math

import keras


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
