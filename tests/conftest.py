import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("DNNSTEPS_STRICT", "1")  # a missed target fails, as in the full run

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dnnsteps import data  # noqa: E402

# The tests that build, train, save, load or grade models: the JAX job runs these
# (`-m backends` with KERAS_BACKEND=jax), the TensorFlow job runs everything. The
# SIGKILL harness and the CLI's subprocess runs stay with TensorFlow, so that CI keeps
# under 12 minutes; test_resume covers the same guarantees on JAX in process.
BACKEND_FILES = {
    "test_models.py",
    "test_resume.py",
    "test_grade.py",
    "test_submission.py",
    "test_rules.py",
    "test_receptive_field.py",
    "test_config.py",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in BACKEND_FILES:
            item.add_marker(pytest.mark.backends)


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST arrays, raw uint8 (from MNIST_NPZ offline, or Keras's download)."""
    return data.load_mnist()


@pytest.fixture(scope="session")
def small_data():
    """A 600/300 stratified slice as the models take it: enough to learn a little, fast."""
    (x_train, y_train), (x_test, y_test) = data.mnist(smoke=True)
    return data.subset(x_train, y_train, 600, seed=1), data.subset(
        x_test, y_test, 300, seed=1
    )


@pytest.fixture
def mnist_file(tmp_path, mnist):
    """Write an MNIST-shaped npz with the given overrides; returns its path."""

    def make(name="mnist.npz", **override):
        (x_train, y_train), (x_test, y_test) = mnist
        arrays = {
            "x_train": x_train[:50],
            "y_train": y_train[:50],
            "x_test": x_test[:20],
            "y_test": y_test[:20],
        }
        arrays.update(override)
        arrays = {k: v for k, v in arrays.items() if v is not None}
        path = tmp_path / name
        np.savez(path, **arrays)
        return path

    return make
