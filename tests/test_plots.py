import numpy as np
import pytest

from dnnsteps import data, models, plots


@pytest.fixture(scope="module")
def model():
    return models.build("dnn3", seed=0)


@pytest.fixture(scope="module")
def digits(small_data):
    (_, _), (x_test, y_test) = small_data
    return data.preprocess(x_test[:200]), y_test[:200].astype(int)


HISTORY = {
    "loss": [0.5, 0.2, 0.1],
    "val_loss": [0.3, 0.15, 0.12],
    "accuracy": [0.9, 0.96, 0.98],
    "val_accuracy": [0.95, 0.97, 0.975],
}
METRICS = {
    f"DNN{i}_x": {"params": p, "best_val_accuracy": a, "val_accuracy_curve": [a - 0.01, a]}
    for i, (p, a) in enumerate([(69408, 0.988), (10872, 0.989), (14066, 0.9945)], 1)
}


def drawn(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 3000
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.std() > 0.02  # not a blank canvas


def test_training_curves(tmp_path):
    plots.training_curves(HISTORY, title="t", save=tmp_path / "c.png")
    drawn(tmp_path / "c.png")


def test_misclassified_and_confusion(model, digits, tmp_path):
    x, y = digits
    fig = plots.misclassified(model, x, y, save=tmp_path / "m.png")
    assert "misclassified" in fig._suptitle.get_text()
    drawn(tmp_path / "m.png")
    plots.confusion_matrix(model, x, y, save=tmp_path / "cm.png")
    drawn(tmp_path / "cm.png")


def test_kernels_and_feature_maps(model, digits, tmp_path):
    x, _ = digits
    plots.first_layer_kernels(model, save=tmp_path / "k.png")
    drawn(tmp_path / "k.png")
    fig = plots.feature_maps(model, x[0], save=tmp_path / "f.png")
    assert len(fig.axes) == 4 * 9
    drawn(tmp_path / "f.png")


def test_accuracy_vs_params_and_suite_summary(tmp_path):
    plots.accuracy_vs_params(METRICS, save=tmp_path / "a.png")
    drawn(tmp_path / "a.png")
    plots.suite_summary(
        METRICS,
        {k: v["val_accuracy_curve"] for k, v in METRICS.items()},
        save=tmp_path / "s.png",
    )
    drawn(tmp_path / "s.png")


def test_predictions_are_class_ids(model, digits):
    x, _ = digits
    pred = plots.predictions(model, x)
    assert pred.shape == (200,) and set(np.unique(pred)) <= set(range(10))
