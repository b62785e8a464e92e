"""Multiply-adds per image, checked against counts worked out by hand."""

import keras

from dnnsteps import receptive_field


def test_a_tiny_net_costs_what_the_hand_count_says():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            # 4x4 positions x (3x3 kernel x 1 channel in x 4 out) = 16 x 36 = 576
            keras.layers.Conv2D(4, 3),
            keras.layers.BatchNormalization(),  # not counted
            # 2x2 positions x (3x3 x 4 channels x multiplier 2) = 4 x 72 = 288
            keras.layers.DepthwiseConv2D(3, depth_multiplier=2),
            # 2x2 positions x (1x1 x 8 in x 3 out) = 4 x 24 = 96
            keras.layers.Conv2D(3, 1),
            keras.layers.GlobalAveragePooling2D(),  # not counted
            # 3 in x 5 out = 15
            keras.layers.Dense(5),
        ]
    )
    assert receptive_field.macs_per_image(model) == 576 + 288 + 96 + 15


def test_stride_and_padding_count_output_positions_not_input_ones():
    # 'same' padding, stride 2: 6x6 -> 3x3 positions x (3x3 x 1 x 2) = 9 x 18 = 162
    model = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, strides=2, padding="same")]
    )
    assert receptive_field.macs_per_image(model) == 162
