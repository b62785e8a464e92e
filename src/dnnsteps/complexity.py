"""Multiply-adds per image: what a model costs to run, not just to store."""

import math

import keras


def macs_per_image(model) -> int:
    """Multiply-accumulates of one forward pass (convolutions and Dense layers)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            out = layer.output.shape
            kernel = layer.kernel.shape  # (kh, kw, cin, cout or multiplier)
            total += math.prod(out[1:3]) * math.prod(kernel)
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                continue
        elif isinstance(layer, keras.layers.Dense):
            total += math.prod(layer.kernel.shape)
    return int(total)
