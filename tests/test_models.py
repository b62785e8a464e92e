"""Each step's model and recipe: what the notebooks show, the course's order, the budget."""

import numpy as np
import pytest

from dnnsteps import models, schedules
from dnnsteps.errors import DnnstepsError

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


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_param_counts_are_pinned(name):
    assert models.build(name).count_params() == PARAMS[name]


@pytest.mark.parametrize("name", models.NAMES)
def test_every_model_takes_raw_pixels_and_outputs_ten_probabilities(name):
    model = models.build(name, seed=0)
    assert model.layers[0].__class__.__name__ == "Rescaling" and model.name == name
    pixels = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("float32")
    probabilities = np.asarray(model(pixels, training=False))
    assert probabilities.shape == (4, 10) and np.allclose(
        probabilities.sum(axis=1), 1, atol=1e-5
    )


def test_the_first_layer_standardises_mnist():
    """(x / 255 - 0.1307) / 0.3081: mean about 0 and std about 1 on MNIST's pixels."""
    from dnnsteps import data

    (x, _), _ = data.mnist(smoke=True)
    scaled = np.asarray(models.build("dnn1").layers[0](x))
    assert abs(scaled.mean()) < 0.05 and abs(scaled.std() - 1) < 0.05
    assert scaled.min() == pytest.approx(-0.1307 / 0.3081, abs=1e-5)


def test_same_seed_same_initial_weights():
    a, b = models.build("dnn4", seed=3), models.build("dnn4", seed=3)
    c = models.build("dnn4", seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    assert not all(np.array_equal(x, y) for x, y in zip(a.get_weights(), c.get_weights()))


def test_unknown_name_lists_the_names():
    with pytest.raises(DnnstepsError, match="choose one of: dnn1, dnn2"):
        models.get("dnn9")


def test_the_assignment_step_fits_the_rules_and_holds_its_target():
    model, recipe = models.build("dnn8"), models.RECIPES["dnn8"]
    assert model.count_params() < 15_000 and recipe.epochs <= 20
    assert recipe.target == 0.994 and recipe.hold_last == 3
    assert not any(getattr(layer, "use_bias", False) for layer in model.layers)


def test_the_course_order_dropout_then_schedule():
    """DNN6 adds dropout at a constant rate; DNN7 keeps DNN6's net and adds the decay."""

    def kinds(name):
        return [type(layer).__name__ for layer in models.build(name).layers]

    assert "Dropout" not in kinds("dnn5") and "Dropout" in kinds("dnn6")
    assert kinds("dnn6") == kinds("dnn7")
    assert models.RECIPES["dnn6"].schedule is None
    decay = models.RECIPES["dnn7"].schedule
    assert [decay(e) for e in (0, 1)] == [0.003, 0.0022744503]


def test_dnn8s_schedule_ends_at_its_floor_for_the_epochs_the_rule_reads():
    recipe = models.RECIPES["dnn8"]
    rates = [recipe.schedule(e) for e in range(recipe.epochs)]
    assert rates[-recipe.hold_last :] == [pytest.approx(min(rates))] * recipe.hold_last
    assert rates == [
        schedules.one_cycle(0.01, recipe.epochs, tail=5)(e) for e in range(recipe.epochs)
    ]
