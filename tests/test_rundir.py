"""One test per way a run directory used to go wrong (in-process, tiny model)."""

import errno
import hashlib
import re
import shutil

import keras
import numpy as np
import pytest

from dnnsteps import rundir, suite, train
from dnnsteps.errors import ConfigError, DataError, RunDirError
from dnnsteps.models import Recipe
from dnnsteps.records import RunRecord
from dnnsteps.rundir import RunDir

RECIPE = Recipe(epochs=3, target_accuracy=0.5, batch_size=32)
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")


def tiny(width=16):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1), name="image"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(width, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ],
        name="tiny",
    )


@pytest.fixture(scope="module")
def data(small_data):
    (xt, yt), (xv, yv) = small_data
    return (xt[:300], yt[:300]), (xv[:150], yv[:150])


def fit(run_dir, data, **kwargs):
    kwargs = {"recipe": RECIPE, "epochs": 3, "seed": 2, "verbose": False, **kwargs}
    return train.fit(
        kwargs.pop("model", None) or tiny(), data=data, run_dir=run_dir, **kwargs
    )


def metrics(run_dir):
    return [[r[k] for k in METRICS] for r in RunDir(run_dir).read_log()]


def tree(path):
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def straight(tmp_path_factory, data):
    """An uninterrupted run: what every repaired run must end up equal to."""
    return fit(tmp_path_factory.mktemp("straight") / "run", data)


class StopAt(keras.callbacks.Callback):
    """Stands in for a kill: raises once ``epoch`` is backed up."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def interrupted(run_dir, data, epoch):
    with pytest.raises(KeyboardInterrupt):
        fit(run_dir, data, callbacks=[StopAt(epoch)])


def test_second_process_is_refused_with_the_holders_pid(tmp_path, data):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    with run.locked():
        with pytest.raises(
            RunDirError, match=rf"in use by .*PID {__import__('os').getpid()}"
        ):
            fit(run.path, data)
    assert fit(run.path, data).summary["epochs"] == 3  # released afterwards


@pytest.mark.parametrize("fresh", [False, True])
def test_foreign_folder_is_refused_untouched(tmp_path, data, fresh):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "log.csv").write_text("my own notes\n")
    (mine / "best.keras").write_bytes(b"my model")
    (mine / "summary.json").write_text("{}")
    before = tree(mine)
    with pytest.raises(RunDirError, match="not a dnnsteps run directory.*left untouched"):
        fit(mine, data, fresh=fresh)
    assert tree(mine) == before


def test_torn_latest_backup_falls_back_to_the_one_before(tmp_path, data, straight, capsys):
    run_dir = tmp_path / "run"
    interrupted(run_dir, data, 3)
    latest = RunDir(run_dir).state_file(3)
    latest.write_bytes(latest.read_bytes()[:1000])
    result = fit(run_dir, data, verbose=True)
    out = capsys.readouterr().out
    assert "backup of epoch 3 is unusable" in out and "from the backup of epoch 2" in out
    assert metrics(run_dir) == metrics(straight.run_dir)
    np.testing.assert_array_equal(
        result.model.get_weights()[0], straight.model.get_weights()[0]
    )


def test_unreadable_manifest_restarts_this_run_with_one_line(
    tmp_path, data, straight, capsys
):
    run_dir = tmp_path / "run"
    interrupted(run_dir, data, 2)
    RunDir(run_dir).manifest_file.write_text("")
    fit(run_dir, data, verbose=True)
    out = capsys.readouterr().out
    assert "starting this run again from epoch 1" in out
    assert metrics(run_dir) == metrics(straight.run_dir)


def test_killed_before_the_final_save_finishes_from_its_own_state(tmp_path, data, straight):
    run_dir = tmp_path / "run"
    interrupted(run_dir, data, 3)  # every epoch backed up, nothing final written
    result = fit(run_dir, data, callbacks=[StopAt(99)])  # trains no epoch
    assert result.summary["final_val_accuracy"] == straight.summary["final_val_accuracy"]
    for a, b in zip(result.model.get_weights(), straight.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_final_weights_and_summary_that_disagree_are_rebuilt(tmp_path, data, straight):
    run_dir = tmp_path / "run"
    fit(run_dir, data)
    final = RunDir(run_dir).final_weights
    final.write_bytes(final.read_bytes()[:500])  # torn final weights
    again = fit(run_dir, data)
    # Another model's weights in their place (a valid file, but not this run's).
    other = fit(tmp_path / "other", data, epochs=1)
    shutil.copy(RunDir(other.run_dir).final_weights, final)
    after_swap = fit(run_dir, data)
    (run_dir / "summary.json").unlink()  # killed between final weights and summary
    third = fit(run_dir, data)
    for result in (again, after_swap, third):
        for a, b in zip(result.model.get_weights(), straight.model.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert metrics(run_dir) == metrics(straight.run_dir)


def test_fewer_epochs_than_the_run_holds_are_refused(tmp_path, data):
    run_dir = tmp_path / "run"
    fit(run_dir, data)
    before = tree(run_dir)
    with pytest.raises(ConfigError, match="already holds 3 epochs; asking for 2"):
        fit(run_dir, data, epochs=2)
    assert tree(run_dir) == before


class Counts(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("begin")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(epoch + 1)

    def on_train_end(self, logs=None):
        self.calls.append("end")


def test_early_stopping_stops_one_continuous_training(tmp_path, data):
    counts = Counts()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=100, patience=1)
    result = fit(tmp_path / "run", data, epochs=6, callbacks=[counts, stop])
    assert counts.calls == ["begin", 1, 2, "end"]
    assert result.summary["epochs"] == 2
    again = fit(tmp_path / "run", data, epochs=6, callbacks=[Counts()])
    assert again.summary == result.summary  # finished: loaded, not trained on


@pytest.mark.parametrize(
    "callback, message",
    [
        (keras.callbacks.EarlyStopping(restore_best_weights=True), "restore_best_weights"),
        (keras.callbacks.BackupAndRestore("x"), "BackupAndRestore"),
        ("not a callback", "must be keras.callbacks.Callback"),
    ],
)
def test_unsupported_callbacks_are_refused(tmp_path, data, callback, message):
    with pytest.raises(ConfigError, match=message):
        fit(tmp_path / "run", data, callbacks=[callback])
    assert not (tmp_path / "run").exists()


def test_empty_training_split_is_refused(tmp_path, data):
    (xt, yt), test = data
    with pytest.raises(DataError, match="training split is empty"):
        fit(tmp_path / "run", ((xt[:0], yt[:0]), test))
    assert not (tmp_path / "run").exists()


def test_seed_range():
    with pytest.raises(ConfigError, match=r"below 2\*\*32 \(4294967295\), got 4294967296"):
        train.resolve("dnn3", seed=2**32)
    assert train.resolve("dnn3", seed=2**32 - 1).seed == 2**32 - 1


def test_clear_removes_every_file_of_the_run_and_nothing_else(tmp_path, data):
    run_dir = tmp_path / "run"
    fit(run_dir, data)
    (run_dir / "tensorboard").mkdir()
    run = RunDir(run_dir)
    run.result_file.write_text("{}")
    (run_dir / "final.tmp.weights.h5").write_bytes(b"torn")
    (run_dir / "notes.txt").write_text("mine")
    run.clear()
    assert sorted(p.name for p in run_dir.iterdir()) == [".lock", "notes.txt"]


def test_full_disk_is_one_error_and_the_run_resumes(tmp_path, data, straight, monkeypatch):
    run_dir = tmp_path / "run"
    real = rundir._fsync_path

    def full(path, directory=False):
        if "epoch-0002" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, directory)

    monkeypatch.setattr(rundir, "_fsync_path", full)
    with pytest.raises(RunDirError, match="No space left on device.*run the same command"):
        fit(run_dir, data)
    assert not list(run_dir.rglob("*.tmp.*"))
    monkeypatch.setattr(rundir, "_fsync_path", real)
    Usage = type(shutil.disk_usage(tmp_path))
    monkeypatch.setattr(rundir.shutil, "disk_usage", lambda p: Usage(10**9, 10**9, 1000))
    with pytest.raises(RunDirError, match="free some space"):
        fit(run_dir, data)
    monkeypatch.undo()
    fit(run_dir, data)
    assert metrics(run_dir) == metrics(straight.run_dir)


def test_changed_settings_train_in_their_own_default_folder(tmp_path, data, monkeypatch):
    monkeypatch.setenv(train.RUNS_ENV, str(tmp_path))
    first = fit(None, data)
    same = fit(None, data)
    wider = fit(None, data, model=tiny(width=8))
    slower = fit(None, data, learning_rate=0.01)
    assert same.run_dir == first.run_dir
    assert len({first.run_dir, wider.run_dir, slower.run_dir}) == 3
    assert re.fullmatch(r"tiny-seed2(-smoke)?-[0-9a-f]{8}", first.run_dir.name)
    assert (first.run_dir / "summary.json").exists()


def test_suite_force_clears_every_variant_of_a_notebooks_runs(tmp_path, run_record):
    for name in (
        "dnn1-seed0-aaaa1111",
        "dnn1-seed0-bbbb2222",
        "dnn1-seed2-cccc3333",
        "dnn1-seed0-smoke-dddd4444",
        "dnn10-seed0-eeee5555",
    ):
        (tmp_path / name).mkdir()
    runs = sorted(r.path.name for r in suite._notebook_runs(tmp_path, "dnn1"))
    assert runs == [
        "dnn1-seed0-aaaa1111",
        "dnn1-seed0-bbbb2222",
        "dnn1-seed2-cccc3333",
    ]
    record = RunRecord.from_json(run_record(test_accuracy=0.9))
    record.save(RunDir(tmp_path / "dnn1-seed0-bbbb2222").result_file)
    assert suite._notebook_result(tmp_path, "dnn1") == record


def test_the_same_layers_built_again_are_the_same_architecture():
    """Re-running a notebook's model cell renames its layers (conv2d_7, ...); the run
    it trained must still be found, and the step's own build must match it."""
    import keras

    from dnnsteps import models
    from dnnsteps.rundir import architecture_id

    def cell():
        return keras.Sequential(
            [keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3), keras.layers.ReLU()]
        )

    first, again = cell(), cell()
    assert [layer.name for layer in first.layers] != [layer.name for layer in again.layers]
    assert architecture_id(first) == architecture_id(again)
    wider = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(5, 3)])
    assert architecture_id(wider) != architecture_id(first)
    assert architecture_id(models.build("dnn3")) == architecture_id(models.build("dnn3"))
