import dataclasses

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
    "dnn8": 7_560,
}
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


# What each step changes from the one before, besides its epochs and targets. A step
# that changes more than one thing says which and why in its notebook.
CHANGES = {
    "dnn2": {"widths"},
    "dnn3": {"widths"},
    "dnn4": {"batch_norm"},
    "dnn5": {"widths", "gap_output"},  # GAP frees the parameters the kernels take
    "dnn6": {"dropout", "dropout_after"},  # dropout, after every block
    "dnn7": {"learning_rate", "schedule", "schedule_args"},  # the course's decay
    "dnn8": {  # the tuned assignment step
        "widths",
        "lean_stem",
        "dropout",
        "dropout_after",
        "batch_size",
        "learning_rate",
        "schedule",
        "schedule_args",
        "hold_last",
    },
}
NOT_A_CHANGE = {
    "name",
    "title",
    "changes",
    "recipe",
    "epochs",
    "target_accuracy",
    "target_epoch",
}


def _settings(step):
    fields = {f.name: getattr(step, f.name) for f in dataclasses.fields(step)}
    fields.update(dataclasses.asdict(step.recipe))
    return {k: v for k, v in fields.items() if k not in NOT_A_CHANGE}


@pytest.mark.parametrize("before, after", zip(models.NAMES, models.NAMES[1:]))
def test_each_step_changes_what_it_says(before, after):
    old, new = _settings(models.get_step(before)), _settings(models.get_step(after))
    changed = {k for k in new if new[k] != old[k]}
    assert changed == CHANGES[after]


def test_the_course_order_dropout_then_schedule():
    dnn5, dnn6, dnn7 = (models.get_step(n).recipe for n in ("dnn5", "dnn6", "dnn7"))
    assert dnn6.dropout > 0 == dnn5.dropout and dnn6.schedule == "constant"
    assert dnn7.schedule == "inverse_time" and dnn7.learning_rate == 0.003
    assert dnn7.lr_schedule()(1) == round(0.003 / 1.319, 10)
    assert models.get_step("dnn6").dropout_after == models.BLOCKS


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


def test_the_assignment_step_holds_over_its_last_epochs():
    recipe = models.get_step("dnn8").recipe
    assert recipe.epochs <= 20 and recipe.hold_last == 3 and recipe.target_accuracy >= 0.994


def test_augmentation_is_off_at_test_time():
    model = models.build("dnn8", seed=0, augment=True)
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    assert np.allclose(model(x, training=False), model(x, training=False))
    first = model.layers[0]
    assert first.name.startswith("aug_")
    assert not np.allclose(first(x, training=True), x)  # active while training


def test_dropout_goes_only_after_named_blocks():
    with pytest.raises(ConfigError, match="unknown blocks"):
        models.skeleton(
            (8, 8, 8, 8, 8, 8),
            name="x",
            batch_norm=True,
            dropout=0.1,
            dropout_after=("c9",),
        )
    model = models.build("dnn6")
    drops = [
        layer.name for layer in model.layers if isinstance(layer, keras.layers.Dropout)
    ]
    assert drops == [f"{b}_drop" for b in models.BLOCKS]


@pytest.mark.parametrize("hold_last", [-1, 1.5, True])
def test_hold_last_is_validated(hold_last):
    with pytest.raises(ConfigError, match="hold_last"):
        models.Recipe(epochs=15, target_accuracy=0.994, hold_last=hold_last)
