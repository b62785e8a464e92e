import keras
import pytest

from dnnsteps import models, review

L = keras.layers


def rules(*layers):
    model = keras.Sequential([keras.Input((28, 28, 1)), *layers])
    return {f.rule for f in review.review(model)}


def good_tail():
    return [
        L.Conv2D(8, 3, use_bias=False),
        L.Conv2D(8, 3, use_bias=False),
        L.Conv2D(10, 1, use_bias=False),
        L.GlobalAveragePooling2D(),
        L.Softmax(),
    ]


@pytest.mark.parametrize("name", models.NAMES)
def test_every_step_is_clean(name):
    assert review.review(models.build(name)) == []


def test_dense_layer():
    assert "no_fc" in rules(
        L.Conv2D(8, 3, use_bias=False), L.Flatten(), L.Dense(10, use_bias=False)
    )


def test_pool_directly_after_input():
    assert "pool_at_input" in rules(L.MaxPooling2D(2), *good_tail())


def test_pool_near_output():
    found = rules(
        L.Conv2D(8, 3, use_bias=False),
        L.Conv2D(8, 3, use_bias=False),
        L.MaxPooling2D(2),
        L.Conv2D(10, 1, use_bias=False),
        L.GlobalAveragePooling2D(),
        L.Softmax(),
    )
    assert "pool_near_output" in found


def test_two_pools_in_a_row():
    assert "pool_twice" in rules(
        L.Conv2D(8, 3, use_bias=False), L.MaxPooling2D(2), L.MaxPooling2D(2), *good_tail()
    )


def test_strided_convolution():
    assert "strided_conv" in rules(L.Conv2D(8, 3, strides=2, use_bias=False), *good_tail())


def test_big_kernel():
    assert "big_kernel" in rules(L.Conv2D(8, 5, use_bias=False), *good_tail())


def test_bn_relu_dropout_after_last_conv():
    found = review.review(
        keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                L.Conv2D(8, 3, use_bias=False),
                L.Conv2D(10, 26, use_bias=False),
                L.BatchNormalization(),
                L.ReLU(),
                L.Dropout(0.1),
                L.Flatten(),
                L.Softmax(),
            ]
        )
    )
    assert [f.rule for f in found] == ["after_last_conv"] * 3


def test_bias_is_reported_with_its_layer():
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), L.Conv2D(8, 3, name="biased"), *good_tail()]
    )
    found = [f for f in review.review(model) if f.rule == "conv_bias"]
    assert [f.layer for f in found] == ["biased"]
    assert review.review(model, forbid_bias=False) == [
        f for f in review.review(model) if f.rule != "conv_bias"
    ]


def test_small_receptive_field():
    found = rules(
        L.Conv2D(8, 3, use_bias=False), L.Conv2D(10, 1, use_bias=False), L.Softmax()
    )
    assert "small_rf" in found
