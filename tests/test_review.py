import keras
import pytest

from dnnsteps import assignment, models, review

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
def test_every_step_is_clean_but_for_a_whole_map_output_kernel(name):
    found = [(f.layer, f.rule) for f in review.review(models.build(name))]
    if models.get_step(name).gap_output:
        assert found == []
    else:  # DNN1-4 end in a 6x6 kernel on the 6x6 map, as the course's nets did
        assert found == [("output_conv", "fc_in_disguise")]


def test_a_kernel_covering_the_whole_map_is_a_fully_connected_layer_in_disguise():
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            *good_tail()[:2],
            L.Conv2D(10, 24, use_bias=False, name="whole"),
            L.Flatten(),
            L.Softmax(),
        ]
    )
    (finding,) = [f for f in review.review(model) if f.rule == "fc_in_disguise"]
    assert finding.layer == "whole" and "24x24" in finding.reason
    assert "spatial information" in finding.reason and "parameters" in finding.reason
    # A finding of the review, not a failed rule of the assignment.
    (fc_rule,) = [r for r in assignment.check(model) if r.rule == "fully connected layers"]
    assert fc_rule.passed


def test_a_kernel_smaller_than_its_map_or_on_a_1x1_map_is_not_reported():
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(8, 3, use_bias=False),
            L.Conv2D(10, 25, use_bias=False),  # 26x26 map: two positions per side
            L.Conv2D(10, 1, use_bias=False),  # 2x2 map, 1x1 kernel
            L.GlobalAveragePooling2D(),
            L.Softmax(),
        ]
    )
    assert "fc_in_disguise" not in {f.rule for f in review.review(model)}


def test_dense_layer():
    assert "no_fc" in rules(
        L.Conv2D(8, 3, use_bias=False), L.Flatten(), L.Dense(10, use_bias=False)
    )


def test_dense_nested_in_a_sequential_is_reported_with_its_path():
    head = keras.Sequential(
        [L.Flatten(), L.Dense(10, use_bias=False, name="fc"), L.Softmax()], name="head"
    )
    model = keras.Sequential([keras.Input((28, 28, 1)), *good_tail()[:2], head])
    found = [(f.layer, f.rule) for f in review.review(model)]
    assert ("head/fc", "no_fc") in found


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
    assert [f.rule for f in found] == ["fc_in_disguise"] + ["after_last_conv"] * 3


def test_bias_is_reported_with_its_layer():
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), L.Conv2D(8, 3, name="biased"), *good_tail()]
    )
    found = [f for f in review.review(model) if f.rule == "bias"]
    assert [f.layer for f in found] == ["biased"]
    assert review.review(model, forbid_bias=False) == [
        f for f in review.review(model) if f.rule != "bias"
    ]


@pytest.mark.parametrize(
    "layer",
    [L.SeparableConv2D(8, 3, name="odd"), L.Conv2DTranspose(8, 3, name="odd")],
    ids=lambda layer: type(layer).__name__,
)
def test_bias_of_other_convolution_kinds(layer):
    model = keras.Sequential([keras.Input((28, 28, 1)), layer, *good_tail()])
    assert [f.layer for f in review.review(model) if f.rule == "bias"] == ["odd"]


def test_small_receptive_field():
    found = rules(
        L.Conv2D(8, 3, use_bias=False), L.Conv2D(10, 1, use_bias=False), L.Softmax()
    )
    assert "small_rf" in found
