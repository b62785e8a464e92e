import keras
import pytest

from dnnsteps import assignment, models

PASSING = [0.985, 0.991, 0.9935, 0.9942, 0.9946]


def by_rule(results):
    return {r.rule: r.passed for r in results}


def test_dnn8_with_a_good_history_passes_every_rule():
    results = assignment.check(models.build("dnn8"), PASSING)
    assert by_rule(results) == {
        "parameters": True,
        "fully connected layers": True,
        "convolution biases": True,
        "validation accuracy": True,
    }
    assert assignment.passed(results)
    assert "first at epoch 4" in results[-1].actual


def test_too_many_parameters():
    assert by_rule(assignment.check(models.build("dnn5"), PASSING)) == {
        "parameters": False,
        "fully connected layers": True,
        "convolution biases": True,
        "validation accuracy": True,
    }


def test_fully_connected_layer():
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, use_bias=False),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, use_bias=False),
        ]
    )
    checked = by_rule(assignment.check(model, PASSING))
    assert checked["fully connected layers"] is False and checked["parameters"] is True


def test_convolution_bias():
    model = models.skeleton(
        (10, 20, 10, 20, 24, 24),
        name="biased",
        batch_norm=True,
        gap_output=True,
        use_bias=True,
    )
    checked = by_rule(assignment.check(model, PASSING))
    assert checked["convolution biases"] is False and checked["parameters"] is True


@pytest.mark.parametrize("history", [[0.99, 0.9939], [0.99] * 20 + [0.995], []])
def test_accuracy_below_target_or_too_late(history):
    checked = by_rule(assignment.check(models.build("dnn8"), history))
    assert checked == {
        "parameters": True,
        "fully connected layers": True,
        "convolution biases": True,
        "validation accuracy": False,
    }


def test_history_object_is_accepted():
    history = keras.callbacks.History()
    history.history = {"val_accuracy": PASSING}
    assert assignment.passed(assignment.check(models.build("dnn8"), history))


def test_report_holds_every_epoch_rules_and_evaluation():
    rows = [
        dict(
            epoch=i + 1,
            loss=0.1,
            accuracy=0.99,
            val_loss=0.02,
            val_accuracy=v,
            lr=0.001,
            seconds=30.0,
        )
        for i, v in enumerate(PASSING)
    ]
    text = assignment.report(
        models.build("dnn8"),
        rows,
        {"loss": 0.0191, "accuracy": 0.9946},
        "Global average pooling.",
        title="DNN8",
    )
    assert text.startswith("# DNN8: MNIST assignment submission")
    assert "meets every rule" in text
    assert text.count("Epoch ") == 5 and "Epoch  5/5" in text
    assert "accuracy: 0.9946" in text and "11,736" in text
    assert "| parameters | < 15,000 | 11,736 | yes |" in text
