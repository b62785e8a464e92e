import keras
import numpy as np
import pytest

from dnnsteps import data, models, plots

HISTORY = {
    "loss": [2.0, 0.2, 0.1],
    "val_loss": [0.9, 0.15, 0.12],
    "accuracy": [0.5, 0.96, 0.98],
    "val_accuracy": [0.8, 0.97, 0.975],
}


@pytest.fixture(scope="module")
def model():
    return models.build("dnn8", seed=0)


@pytest.fixture(scope="module")
def digits():
    """200 test digits as the models take them: raw pixels 0..255, (N, 28, 28, 1)."""
    _, (x_test, y_test) = data.load_mnist()
    return x_test[:200, :, :, None].astype("float32"), y_test[:200].astype(int)


def drawn(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 3000
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.std() > 0.02  # not a blank canvas


def test_training_curves_from_a_history_or_log_rows(tmp_path):
    history = keras.callbacks.History()
    history.history = HISTORY
    rows = [
        dict(zip(HISTORY, values), epoch=i)
        for i, values in enumerate(zip(*HISTORY.values()))
    ]
    for form in (history, HISTORY, rows):
        fig = plots.training_curves(form, title="t", save=tmp_path / "c.png")
        drawn(tmp_path / "c.png")
        ax_loss, ax_acc = fig.axes
        # The first epoch's figures run off the chart; the later swings fill it.
        assert 0.94 < ax_acc.get_ylim()[0] < 0.96
        assert 0.15 < ax_loss.get_ylim()[1] < 0.9
        assert [line.get_ydata()[0] for line in ax_acc.lines] == [0.5, 0.8]


def test_misclassified_and_confusion(model, digits, tmp_path):
    x, y = digits
    fig = plots.misclassified(model, x, y, save=tmp_path / "m.png")
    wrong = int((plots.predictions(model, x) != y).sum())
    assert fig._suptitle.get_text().startswith(f"{wrong} of 200 test digits misclassified")
    drawn(tmp_path / "m.png")
    fig = plots.confusion_matrix(model, x, y, save=tmp_path / "cm.png")
    counts = sorted(int(t.get_text()) for t in fig.axes[0].texts)
    assert sum(counts) == 200
    drawn(tmp_path / "cm.png")


def test_kernels_and_feature_maps_show_raw_pixels(model, digits, tmp_path):
    x, _ = digits
    fig = plots.first_layer_kernels(model, save=tmp_path / "k.png")
    first = next(x for x in model.layers if isinstance(x, keras.layers.Conv2D))
    assert len(fig.axes) == first.filters  # one picture per kernel
    drawn(tmp_path / "k.png")
    fig = plots.feature_maps(model, x[0], save=tmp_path / "f.png")
    assert len(fig.axes) == 4 * 9
    assert fig.axes[0].images[0].get_array().max() == x[0].max() > 200  # the digit as it is
    drawn(tmp_path / "f.png")


def test_seed_curves_hold_the_target_in_view(tmp_path):
    curves = {0: [0.95, 0.9941, 0.9945], 1: [0.96, 0.9938, 0.9950]}
    fig = plots.seed_curves(curves, target=0.994, save=tmp_path / "s.png")
    drawn(tmp_path / "s.png")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "seed 0",
        "seed 1",
        "99.40%",
    ]
    assert 99.0 < ax.get_ylim()[0] < 99.38


def test_images_and_predictions(model, digits, tmp_path):
    x, y = digits
    fig = plots.images(x[:3], ["a", "b"], save=tmp_path / "i.png")
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", ""]
    drawn(tmp_path / "i.png")
    pred = plots.predictions(model, x)
    assert pred.shape == (200,) and set(np.unique(pred)) <= set(range(10))
