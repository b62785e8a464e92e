import hashlib

import numpy as np
import pytest

from dnnsteps import data
from dnnsteps.errors import DnnstepsError as DataError


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_real_file_matches_keras_layout(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y_test).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]


def test_path_argument_beats_environment(mnist_file, monkeypatch, tmp_path):
    good = mnist_file("good.npz")
    monkeypatch.setenv("MNIST_NPZ", str(tmp_path / "absent.npz"))
    (x_train, _), _ = data.load_mnist(good)
    assert len(x_train) == 50


def test_environment_variable_is_used(mnist_file, monkeypatch):
    monkeypatch.setenv("MNIST_NPZ", str(mnist_file("env.npz")))
    (_, _), (x_test, _) = data.load_mnist()
    assert len(x_test) == 20


def test_missing_file_names_it_and_the_fix(tmp_path):
    with pytest.raises(DataError, match=r"not found: .*nowhere\.npz.*MNIST_NPZ"):
        data.load_mnist(tmp_path / "nowhere.npz")


def test_truncated_file_is_one_clear_error_and_untouched(tmp_path, mnist_file):
    whole = mnist_file("whole.npz").read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole[: len(whole) // 2])
    before = sha(cut)
    with pytest.raises(DataError, match="truncated or corrupt"):
        data.load_mnist(cut)
    assert sha(cut) == before


def test_not_a_zip_at_all(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_text("<html>403 Forbidden</html>")
    with pytest.raises(DataError, match="truncated or corrupt"):
        data.load_mnist(junk)


def test_wrong_keys(mnist_file):
    with pytest.raises(DataError, match=r"missing keys \['y_test'\]"):
        data.load_mnist(mnist_file(y_test=None))


def test_wrong_image_shape(mnist_file):
    with pytest.raises(DataError, match="expected 28x28"):
        data.load_mnist(mnist_file(x_train=np.zeros((50, 27, 27), np.uint8)))


def test_wrong_dtype(mnist_file):
    with pytest.raises(DataError, match="expected uint8"):
        data.load_mnist(mnist_file(x_test=np.zeros((20, 28, 28), np.float64)))


def test_labels_out_of_range(mnist_file):
    with pytest.raises(DataError, match="expected class ids 0-9"):
        data.load_mnist(mnist_file(y_train=np.full(50, 10, np.uint8)))


def test_label_count_mismatch(mnist_file):
    with pytest.raises(DataError, match="50 images but 49 labels"):
        data.load_mnist(mnist_file(y_train=np.zeros(49, np.uint8)))


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(
        path,
        x_train=np.array([{"a": 1}], dtype=object),
        y_train=np.zeros(1),
        x_test=np.zeros(1),
        y_test=np.zeros(1),
    )
    with pytest.raises(DataError, match="truncated or corrupt"):
        data.load_mnist(path)


def test_offline_with_nothing_found_lists_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_NPZ", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(data, "_project_data_file", lambda: tmp_path / "proj" / "mnist.npz")

    def offline():
        raise OSError("network unreachable")

    import keras

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError) as err:
        data.load_mnist()
    message = str(err.value)
    assert "network unreachable" in message and "Keras cache" in message
    assert str(tmp_path / "keras" / "datasets" / "mnist.npz") in message


def test_project_data_folder_is_found(monkeypatch, tmp_path, mnist_file):
    monkeypatch.delenv("MNIST_NPZ", raising=False)
    (tmp_path / "data").mkdir()
    mnist_file("data/mnist.npz")
    monkeypatch.chdir(tmp_path)
    (x_train, _), _ = data.load_mnist()
    assert len(x_train) == 50


def test_subset_is_stratified_and_deterministic(mnist):
    (x_train, y_train), _ = mnist
    xa, ya = data.subset(x_train, y_train, 2000, seed=3)
    xb, yb = data.subset(x_train, y_train, 2000, seed=3)
    _, yc = data.subset(x_train, y_train, 2000, seed=4)
    assert len(ya) == 2000 and np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert not np.array_equal(ya, yc)
    share = np.bincount(ya, minlength=10) / 2000
    full = np.bincount(y_train, minlength=10) / len(y_train)
    assert np.abs(share - full).max() < 0.002


def test_mnist_gives_raw_pixels_as_the_models_take_them():
    (x_train, y_train), (x_test, y_test) = data.mnist(smoke=False)
    assert x_train.shape == (60_000, 28, 28, 1) and x_train.dtype == np.float32
    assert x_test.shape == (10_000, 28, 28, 1) and y_test.dtype == np.int32
    # Raw pixels: the standardisation is the model's first layer, never done here.
    assert float(x_train.min()) == 0.0 and float(x_train.max()) == 255.0


def test_validate_arrays_rejects_float_labels():
    with pytest.raises(DataError, match="expected integers 0-9"):
        data.validate_arrays(np.zeros((3, 28, 28)), np.zeros(3, np.float32))


def test_the_smoke_subset_follows_the_mode_only(monkeypatch):
    from dnnsteps import config

    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    monkeypatch.delenv("DNNSTEPS_FULL", raising=False)
    # A visible GPU does not turn smoke mode off: the mode is asked for, never guessed.
    monkeypatch.setattr(config, "accelerators", lambda: ["NVIDIA H200"])
    (x_train, _), (x_test, y_test) = data.mnist()
    assert len(x_train) == config.SMOKE_TRAIN_SIZE and len(x_test) == config.SMOKE_TEST_SIZE
    assert (x_test == data.mnist(smoke=True)[1][0]).all()
    monkeypatch.delenv("DNNSTEPS_SMOKE")
    assert len(data.mnist()[1][1]) == 10_000
