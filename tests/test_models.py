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
    "dnn5": 17_706,
    "dnn6": 17_706,
    "dnn7": 17_706,
    "dnn8": 14_066,
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


def test_each_step_changes_one_thing():
    steps = [models.get_step(n) for n in models.NAMES]
    assert (
        steps[3].widths == steps[2].widths
        and steps[3].batch_norm
        and not steps[2].batch_norm
    )
    assert steps[5].recipe.dropout > 0 and steps[4].recipe.dropout == 0
    assert (
        steps[6].recipe.schedule == "inverse_time"
        and steps[5].recipe.schedule == "constant"
    )
    assert steps[7].gap_output and not steps[6].gap_output


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
    model = models.build("dnn6", dropout_kind="spatial")
    assert any(isinstance(layer, keras.layers.SpatialDropout2D) for layer in model.layers)


def test_output_block_has_no_dense_and_ends_in_softmax():
    layers = blocks.output_block(None)
    assert isinstance(layers[-1], keras.layers.Softmax)
    assert not any(isinstance(layer, keras.layers.Dense) for layer in layers)
