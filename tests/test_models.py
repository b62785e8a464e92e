import keras
import numpy as np
import pytest

from dnnsteps import blocks, models
from dnnsteps.errors import ConfigError

# Exact counts: a change to any architecture must show up here.
PARAMS = {
    "dnn1": 69_408,
    "dnn2": 185_248,
    "dnn3": 10_872,
    "dnn4": 11_232,
    "dnn5": 17_794,
    "dnn6": 17_794,
    "dnn7": 17_794,
    "dnn8": 11_736,
}
LITE_PARAMS = 7_560
# The course's figures; each step stays within 10% of its figure.
COURSE = {
    "dnn1": 68_000,
    "dnn2": 195_000,
    "dnn3": 10_900,
    "dnn4": 11_300,
    "dnn5": 18_400,
    "dnn6": 18_400,
    "dnn7": 18_400,
}


@pytest.mark.parametrize("name", models.NAMES)
def test_param_counts_are_pinned(name):
    model = models.build(name)
    assert model.count_params() == PARAMS[name]
    if name in COURSE:
        assert abs(PARAMS[name] - COURSE[name]) / COURSE[name] <= 0.10


@pytest.mark.parametrize("name", models.NAMES)
def test_every_step_outputs_ten_probabilities(name):
    model = models.build(name)
    out = np.asarray(model(np.zeros((2, 28, 28, 1), "float32")))
    assert out.shape == (2, 10)
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_dnn8_meets_the_assignment_architecture():
    model = models.build("dnn8")
    assert model.count_params() < 15_000
    assert not any(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and not any(layer.use_bias for layer in convs)


def test_each_step_changes_one_thing():
    steps = [models.get_step(n) for n in models.NAMES]
    assert (
        steps[3].widths == steps[2].widths
        and steps[3].batch_norm
        and not steps[2].batch_norm
    )
    # DNN5 moves the output's parameters into kernels: GAP and wider last layers.
    assert steps[4].gap_output and not steps[3].gap_output
    assert (
        steps[5].recipe.schedule == "one_cycle"
        and steps[4].recipe.schedule == "constant"
        and steps[5].widths == steps[4].widths
    )
    assert steps[6].recipe.dropout > 0 and steps[5].recipe.dropout == 0
    assert steps[6].recipe.schedule == steps[5].recipe.schedule
    # DNN8 fits the budget: thinner everywhere, batch norm off the large maps,
    # and smaller batches instead of dropout's costly random masks.
    assert steps[7].lean_stem and not steps[6].lean_stem
    assert all(a <= b for a, b in zip(steps[7].widths, steps[6].widths))
    assert steps[7].recipe.dropout == 0 and steps[7].recipe.batch_size < 128


def test_lean_stem_keeps_batch_norm_off_the_large_maps():
    model = models.build("dnn8")
    bn_maps = [
        layer.output.shape[1]
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert bn_maps and max(bn_maps) == 12  # nothing on the 26x26 or 24x24 maps
    names = [layer.name for layer in model.layers]
    assert names.index("c2_pool") == names.index("c2_conv") + 1
    assert names.index("c2_bn") == names.index("c2_pool") + 1
    assert "c1_bn" not in names


def test_pooled_conv_block_pools_before_normalising():
    layers = blocks.pooled_conv_block(4, name="p", batch_norm=True)
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds == ["Conv2D", "MaxPooling2D", "BatchNormalization", "ReLU"]
    out = keras.Sequential([keras.Input((10, 10, 1)), *layers])(np.ones((1, 10, 10, 1)))
    assert tuple(out.shape) == (1, 4, 4, 4)


def test_same_seed_same_initial_weights():
    a = models.build("dnn3", seed=5).get_weights()
    b = models.build("dnn3", seed=5).get_weights()
    c = models.build("dnn3", seed=6).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_unknown_model_name_lists_the_names():
    with pytest.raises(ConfigError, match="unknown model 'dnn9'; choose one of: dnn1"):
        models.build("dnn9")


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(dropout=1.0), r"dropout must be a number in \[0, 1\)"),
        (dict(dropout=-0.1), r"dropout must be a number in \[0, 1\)"),
        (dict(dropout_kind="gaussian"), "dropout kind must be one of"),
        (dict(epochs=0), "epochs must be a positive integer"),
        (dict(batch_size=-8), "batch_size must be a positive integer"),
        (dict(learning_rate=0), r"learning_rate must be a number in \(0, 10\)"),
        (dict(schedule="cosine"), "unknown schedule 'cosine'"),
        (dict(colour="red"), r"unknown recipe setting\(s\) \['colour'\]"),
    ],
)
def test_bad_hyper_parameters_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        models.build("dnn6", **override)


def test_spatial_dropout_is_available():
    model = models.build("dnn7", dropout_kind="spatial")
    assert any(isinstance(layer, keras.layers.SpatialDropout2D) for layer in model.layers)


def test_output_block_has_no_dense_and_ends_in_softmax():
    layers = blocks.output_block(None)
    assert isinstance(layers[-1], keras.layers.Softmax)
    assert not any(isinstance(layer, keras.layers.Dense) for layer in layers)


def test_the_record_small_model_is_an_extra_not_a_step():
    assert "dnn8_lite" not in models.NAMES and "dnn8_lite" in models.ALL_NAMES
    lite = models.build("dnn8_lite")
    assert lite.count_params() == LITE_PARAMS < 8_000
    assert not any(isinstance(layer, keras.layers.Dense) for layer in lite.layers)
    convs = [layer for layer in lite.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and not any(layer.use_bias for layer in convs)
    recipe = models.get_step("dnn8_lite").recipe
    assert recipe.epochs <= 15 and recipe.hold_last == 3


def test_augmentation_is_off_at_test_time():
    lite = models.build("dnn8_lite", seed=0, augment=True)
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    assert np.allclose(lite(x, training=False), lite(x, training=False))
    first = lite.layers[0]
    assert first.name.startswith("aug_")
    assert not np.allclose(first(x, training=True), x)  # active while training


@pytest.mark.parametrize("hold_last", [-1, 1.5, True])
def test_hold_last_is_validated(hold_last):
    with pytest.raises(ConfigError, match="hold_last"):
        models.Recipe(epochs=15, target_accuracy=0.994, hold_last=hold_last)
