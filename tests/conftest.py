import dataclasses
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("DNNSTEPS_STRICT", "1")  # a missed target fails, as in the suite

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dnnsteps import data  # noqa: E402


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST arrays (from MNIST_NPZ offline, or Keras's download)."""
    return data.load_mnist()


@pytest.fixture(scope="session")
def small_data(mnist):
    """A 600/300 stratified slice: enough to learn a little, fast to train."""
    (x_train, y_train), (x_test, y_test) = mnist
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


@pytest.fixture
def run_record():
    """A complete notebook run record as JSON (``records.RunRecord``), with overrides."""

    def make(**changes):
        from dnnsteps import models

        recipe = models.get_step(changes.get("model", "dnn1")).recipe
        value = dict(
            model="dnn1",
            seed=0,
            mode="full",
            params=69408,
            epochs=recipe.epochs,
            best_val_accuracy=0.99,
            best_epoch=recipe.epochs,
            final_val_accuracy=0.99,
            final_train_accuracy=0.995,
            target_accuracy=recipe.target_accuracy,
            target_epoch=recipe.target_epoch,
            first_epoch_at_target=1,
            seconds_to_target=10.0,
            seconds_per_epoch=10.0,
            total_seconds=10.0 * recipe.epochs,
            val_accuracy_curve=[0.99] * recipe.epochs,
            recipe=dataclasses.asdict(recipe),
            train_size=60_000,
            test_size=10_000,
            device="CPU",
            strategy="OneDeviceStrategy",
            versions={"keras": "3"},
            final_weights_sha256="0" * 64,
            notebook="DNN1_first",
            test_accuracy=0.99,
            test_loss=0.03,
            macs_per_image=1000,
            wall_seconds=100.0,
        )
        value.update(changes)
        return value

    return make


@pytest.fixture
def seeds_record():
    """A complete multi-seed record as JSON (``records.SeedsRecord``), with overrides."""

    def make(**changes):
        value = dict(
            model="dnn8",
            notebook="DNN8_x",
            mode="full",
            params=14066,
            target_accuracy=0.994,
            hold_last=3,
            seeds={
                "0": dict(
                    val_accuracy_curve=[0.9941, 0.9945, 0.9943],
                    best_val_accuracy=0.9945,
                    best_epoch=2,
                    epochs=3,
                    seconds_per_epoch=10.0,
                    problems=[],
                )
            },
            device="CPU",
            versions={"keras": "3"},
        )
        value.update(changes)
        return value

    return make
