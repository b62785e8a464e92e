"""The resumable-training engine (``dnnsteps.resume``): one test per guarantee, in process.

A kill is stood in for by wrapping ``runfiles._publish`` (``crash_driver.killing_publish``)
to raise ``Killed`` at a chosen point, which leaves the run folder as a kill there
would; tests/test_crash.py kills real processes. Every run is crash_driver's tiny model
on 300 images for three epochs, compared with one uninterrupted run.
"""

from __future__ import annotations

import csv
import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from crash_driver import EPOCHS, arrays, fit, killing_publish, rows_of, same_run, tiny

from dnnsteps import cli, config, resume, runfiles
from dnnsteps.batches import Batches
from dnnsteps.errors import DnnstepsError

FALLBACK = "incomplete; using the one before"
BACKEND = keras.backend.backend()


@pytest.fixture(scope="module", autouse=True)
def full_mode():
    """These runs train their own tiny data in full: the README's test command sets
    DNNSTEPS_SMOKE=1, whose two-epoch stop would cut every three-epoch run short."""
    config.repeatable(0)  # as every notebook does first: deterministic kernels
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DNNSTEPS_SMOKE", raising=False)
        yield


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in dnnsteps or Keras catches it."""


def die():
    raise Killed


def interrupt(monkeypatch, point, **kw):
    """Fit until ``point`` (``MODE:FILE[#N]``, see crash_driver), then die there."""
    with monkeypatch.context() as patched:
        patched.setattr(runfiles, "_publish", killing_publish(point, die))
        with pytest.raises(Killed):
            fit(**kw)


def epochs_in(folder) -> list[int]:
    """The epochs log.csv holds, read plainly (none before the first epoch ends)."""
    path = Path(folder) / resume.LOG_FILE
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def files(folder) -> dict[str, bytes]:
    """Every file in ``folder`` but the lock file (filelock may delete it on release)."""
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()
            and p.name != ".lock"}  # fmt: skip


def accuracy_of_saved_model(folder) -> float:
    """``model.keras``, loaded and compiled afresh, evaluated on the validation images."""
    model = runfiles.load_model(Path(folder) / resume.MODEL_FILE)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model.evaluate(*arrays()[1], verbose=0, return_dict=True)["accuracy"]


class Probe(keras.callbacks.Callback):
    """The epochs a fit trains, and the log's epochs when the first of them starts."""

    def __init__(self, folder):
        super().__init__()
        self.folder, self.trained, self.log_at_start = folder, [], None

    def on_epoch_begin(self, epoch, logs=None):
        if self.log_at_start is None:
            self.log_at_start = epochs_in(self.folder)

    def on_epoch_end(self, epoch, logs=None):
        self.trained.append(epoch)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run that every interrupted one must end up equal to."""
    folder = tmp_path_factory.mktemp("straight") / "run"
    model, history = fit(folder=folder)
    return dict(
        history=history.history, log=runfiles.read_log(folder), model=model, folder=folder
    )


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory):
    """A run killed after its last backup and log, before model.keras: copy, then use."""
    folder = tmp_path_factory.mktemp("backed_up") / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:
        interrupt(monkeypatch, "before:model.keras", folder=folder)
    return folder


def killed(monkeypatch, point, folder, backed_up):
    """``folder`` as a kill at ``point`` leaves it; the log holds whole epochs once."""
    if point == "before:model.keras":
        shutil.copytree(backed_up, folder, dirs_exist_ok=True)
    else:
        interrupt(monkeypatch, point, folder=folder)
    logged = epochs_in(folder)
    assert logged == list(range(len(logged)))


def rerun(folder, straight, **kw):
    """Fit again: the log agrees with the backup it resumes from, and ends as the
    uninterrupted run's (see crash_driver.same_run); returns the epochs trained."""
    probe = Probe(folder)
    _, history = fit(folder=folder, callbacks=[probe], **kw)
    kept = probe.trained[0] if probe.trained else EPOCHS
    if probe.trained:
        assert probe.log_at_start == list(range(kept))
    log = runfiles.read_log(folder)
    same_run(log, straight["log"], kept)
    assert rows_of(history.history) == log
    return probe.trained


# 1. Resume after the last finished epoch; a finished run loads ----------------------------


@pytest.mark.slow
def test_a_rerun_resumes_after_its_last_epoch_and_a_finished_run_loads(
    tmp_path, monkeypatch, capsys, straight
):
    interrupt(monkeypatch, "after:log.csv#3", runs=tmp_path)  # epoch 2 of 3 done
    (folder,) = tmp_path.iterdir()
    capsys.readouterr()
    probe = Probe(folder)
    resumed, history = fit(runs=tmp_path, callbacks=[probe])  # a new model: run again
    assert capsys.readouterr().out.splitlines() == [
        f"Resuming {folder} after epoch 2 of {EPOCHS}."
    ]
    assert probe.trained == [2] and history.run_dir == str(folder)
    log = runfiles.read_log(folder)
    same_run(log, straight["log"], kept=2)
    assert rows_of(history.history) == log

    probe = Probe(folder)
    model, history = fit(runs=tmp_path, callbacks=[probe])
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"Loaded the finished run in {folder} ({EPOCHS} epochs")
    assert probe.trained == [] and list(tmp_path.iterdir()) == [folder]
    assert rows_of(history.history) == log and history.run_dir == str(folder)
    for mine, theirs in zip(model.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.slow
def test_smoke_mode_stops_after_the_smoke_epochs(tmp_path, monkeypatch):
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    monkeypatch.delenv("DNNSTEPS_FULL", raising=False)
    probe = Probe(tmp_path)
    _, history = fit(folder=tmp_path, callbacks=[probe])  # asks for three epochs
    assert probe.trained == list(range(config.SMOKE_EPOCHS))
    assert len(history.history["loss"]) == config.SMOKE_EPOCHS
    assert (tmp_path / resume.MODEL_FILE).exists()


# 2. A torn newest backup falls back to the one before, with one line --------------------


def _truncate(name):
    def tear(folder):
        path = folder / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return tear


def _older_weights(folder):
    """A whole weights file, but not the one the backup's record names (SHA-256)."""
    shutil.copy(folder / "backup-2.weights.h5", folder / "backup-3.weights.h5")


TORN = {  # a kill point, then what else breaks; whether a fallback line is due
    "killed inside the weights write": ("tear:backup-3.weights.h5", None, False),
    "killed between weights and metadata": ("after:backup-3.weights.h5", None, True),
    "killed inside the metadata write": ("tear:backup-3.json", None, True),
    "metadata truncated": ("before:model.keras", _truncate("backup-3.json"), True),
    "weights truncated": ("before:model.keras", _truncate("backup-3.weights.h5"), True),
    "weights of another epoch": ("before:model.keras", _older_weights, True),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", TORN)
def test_a_torn_newest_backup_falls_back_to_the_one_before(
    case, tmp_path, monkeypatch, capsys, straight, backed_up
):
    point, breaks, fallback = TORN[case]
    killed(monkeypatch, point, tmp_path, backed_up)
    if breaks:
        breaks(tmp_path)
    capsys.readouterr()
    trained = rerun(tmp_path, straight)
    out, err = capsys.readouterr()
    expected = [f"The backup of epoch 3 in {tmp_path} is {FALLBACK}."] if fallback else []
    assert out.splitlines() == [*expected, f"Resuming {tmp_path} after epoch 2 of 3."]
    assert "Traceback" not in out + err
    assert trained == [2]


# 3. log.csv: each finished epoch once, after every kill point; CSVLogger's layout -------

# More kill points; those above and in 4. check the log as well.
KILLS = (
    "tear:run.json",  # leaves only .lock and .tmp-run.json: not someone else's folder
    "after:backup-1.json",
    "before:log.csv#2",
    "after:backup-3.json",
    "before:log.csv#4",
)


@pytest.mark.slow
@pytest.mark.parametrize("point", KILLS)
def test_the_log_holds_each_finished_epoch_once(
    point, tmp_path, monkeypatch, straight, backed_up
):
    killed(monkeypatch, point, tmp_path, backed_up)
    rerun(tmp_path, straight)


@pytest.mark.slow
def test_the_log_has_keras_csvloggers_columns_and_values(tmp_path):
    """Keras 3.15's CSVLogger logs ``learning_rate`` only beside a LearningRateScheduler;
    with one, in the same training, its file and ours read alike."""
    path = tmp_path / "csvlogger.csv"
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch: 0.01)
    fit(
        folder=tmp_path / "run", callbacks=[scheduler, keras.callbacks.CSVLogger(str(path))]
    )
    with open(path, newline="") as theirs:
        expected = list(csv.reader(theirs))
    with open(tmp_path / "run" / "log.csv", newline="") as ours:
        assert list(csv.reader(ours)) == expected
    assert expected[0][:2] == ["epoch", "accuracy"] and "learning_rate" in expected[0]


def test_each_epoch_draws_its_own_order_from_the_seed_and_the_epoch_alone():
    (x, y), _ = arrays()
    batches = Batches(x, y, batch_size=64, seed=3)
    same = Batches(x[:], y[:], batch_size=64, seed=3)
    other = Batches(x, y, batch_size=64, seed=4)
    orders = [batches.order(epoch).tolist() for epoch in range(3)]
    assert len({tuple(o) for o in orders}) == 3  # a new order every epoch
    assert [same.order(epoch).tolist() for epoch in range(3)] == orders
    assert other.order(0).tolist() != orders[0]
    assert sorted(orders[1]) == list(range(len(y)))
    batches.epoch = 2
    batches.on_epoch_begin()  # what Keras calls as the epoch's pass starts
    assert batches[0][1].tolist() == y[orders[2][:64]].tolist() and batches.epoch == 3
    assert len(batches) == 5 and len(batches[4][1]) == 300 - 4 * 64


# 4. The final model reproduces the log's last val_accuracy ------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after:log.csv#4", "before:model.keras",
                                   "tear:model.keras"])  # fmt: skip
def test_the_final_model_reproduces_the_logs_last_val_accuracy(
    point, tmp_path, monkeypatch, capsys, straight, backed_up
):
    for folder in (straight["folder"], tmp_path):
        if folder == tmp_path:  # killed after the last backup, or inside the final save
            killed(monkeypatch, point, tmp_path, backed_up)
            capsys.readouterr()
            assert rerun(tmp_path, straight) == []
            assert "Loaded the finished run" in capsys.readouterr().out
        last = runfiles.read_log(folder)[-1]["val_accuracy"]
        assert accuracy_of_saved_model(folder) == pytest.approx(last, abs=1e-6)
        assert not [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.slow
def test_a_longer_run_killed_before_its_final_save_leaves_no_stale_model(
    tmp_path, monkeypatch
):
    """A finished 2-epoch run asked for a third epoch, killed after that epoch's backup:
    the rerun loads the 3-epoch run, and model.keras must be that run's, not the old."""
    fit(folder=tmp_path, epochs=2)
    interrupt(monkeypatch, "after:log.csv#2", folder=tmp_path, epochs=3)
    fit(folder=tmp_path, epochs=3)
    last = runfiles.read_log(tmp_path)[-1]
    assert last["epoch"] == 2
    assert accuracy_of_saved_model(tmp_path) == pytest.approx(
        last["val_accuracy"], abs=1e-6
    )


# 5. Nothing dnnsteps did not write is touched -------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fresh", [False, True])
@pytest.mark.parametrize("beside", ["an empty folder", "a finished run"])
def test_a_folder_with_a_users_file_is_refused_and_left_alone(tmp_path, fresh, beside):
    folder = tmp_path / "run"
    if beside == "a finished run":
        fit(folder=folder, epochs=1)
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text("mine, not dnnsteps's\n")
    before = sorted(p.name for p in folder.iterdir()), files(folder)
    with pytest.raises(
        DnnstepsError, match=r"is not a dnnsteps run folder \(it holds notes"
    ):
        fit(folder=folder, epochs=1, fresh=fresh)
    assert (sorted(p.name for p in folder.iterdir()), files(folder)) == before


@pytest.mark.slow
def test_a_users_file_named_like_the_log_is_not_taken_for_a_run(tmp_path):
    (tmp_path / "log.csv").write_text("my,own\n1,2\n")
    with pytest.raises(DnnstepsError, match="is not a dnnsteps run folder"):
        fit(folder=tmp_path, epochs=1, fresh=True)
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]
    assert (tmp_path / "log.csv").read_text() == "my,own\n1,2\n"


# 6. One process at a time on a run ------------------------------------------------------

HOLD = (
    "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
    "lock.acquire(); print('held', flush=True); sys.stdin.read()"
)


@pytest.mark.slow
def test_a_second_process_is_refused_while_the_first_holds_the_run(tmp_path):
    from filelock import FileLock

    fit(folder=tmp_path, epochs=1)
    before = files(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / ".lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DnnstepsError, match="being trained by another process") as e:
            fit(folder=tmp_path)
        assert "\n" not in str(e.value)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert files(tmp_path) == before
    with FileLock(str(tmp_path / ".lock")):  # a second holder in this process, too
        with pytest.raises(DnnstepsError, match="being trained by another process"):
            fit(folder=tmp_path)
    assert files(tmp_path) == before
    _, history = fit(folder=tmp_path)  # the run goes on once the other is done
    assert len(history.history["loss"]) == EPOCHS


# 7. One seed, the same epochs --------------------------------------------------------------


@pytest.mark.slow
def test_one_seed_gives_the_same_epochs_every_time(tmp_path, straight):
    _, again = fit(folder=tmp_path / "again")
    assert again.history == straight["history"]
    _, other = fit(tiny(seed=1), folder=tmp_path / "other")
    assert other.history["loss"] != straight["history"]["loss"]  # the check can fail
    if BACKEND == "tensorflow":
        from tensorflow.python.framework.config import is_op_determinism_enabled

        assert is_op_determinism_enabled()


# 8. Mistakes: one DnnstepsError each ------------------------------------------------------


@pytest.mark.slow
def test_fewer_epochs_than_the_run_has_is_one_error(tmp_path):
    fit(folder=tmp_path)
    before = files(tmp_path)
    with pytest.raises(DnnstepsError, match="already has 3 epochs; ask for at least 3"):
        fit(folder=tmp_path, epochs=2)
    assert files(tmp_path) == before


@pytest.mark.slow
def test_a_corrupt_run_json_is_one_error_also_from_the_cli(tmp_path, monkeypatch, capsys):
    fit(folder=tmp_path, epochs=1)
    (tmp_path / "run.json").write_text('{"dnnsteps": 1, "ke')
    with pytest.raises(DnnstepsError, match="run.json is unreadable"):
        fit(folder=tmp_path, epochs=1)
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")  # the CLI loads the 2,000-image subset
    monkeypatch.delenv("DNNSTEPS_FULL", raising=False)
    capsys.readouterr()
    code = cli.main(["train", "dnn3", "--epochs", "1", "--run-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    assert err.splitlines() == [err.splitlines()[0]]
    assert err.startswith("error: ") and "run.json is unreadable" in err


@pytest.mark.slow
def test_other_data_of_the_same_size_trains_in_another_folder(tmp_path):
    (x, y), _ = arrays()
    _, first = fit(runs=tmp_path, epochs=1)
    _, other = fit(runs=tmp_path, epochs=1, train=(x[::-1], y[::-1]))
    assert first.run_dir != other.run_dir
    assert len(list(tmp_path.iterdir())) == 2


def test_a_smoke_run_never_meets_a_full_run_of_the_same_images(tmp_path, monkeypatch):
    """A full run of 3 epochs, then a smoke run (which stops after 2) on the same images:
    the smoke run trains in its own folder instead of refusing the longer run."""
    _, full = fit(runs=tmp_path, epochs=3)
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    _, smoke = fit(runs=tmp_path, epochs=3)
    assert smoke.run_dir != full.run_dir and len(smoke.history["loss"]) == 2
    monkeypatch.delenv("DNNSTEPS_SMOKE")
    _, again = fit(runs=tmp_path, epochs=3)  # a full run's folder is keyed as before
    assert again.run_dir == full.run_dir


LOSS_OBJECT_KEY = """
import keras
from crash_driver import tiny
from dnnsteps import resume, runfiles
from dnnsteps.batches import Batches
import numpy as np
model = tiny()
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
              loss=keras.losses.SparseCategoricalCrossentropy())
batches = Batches(np.zeros((5, 28, 28, 1)), np.zeros(5, "int32"), batch_size=2, seed=0)
print(runfiles.fingerprint(resume.recipe(model, batches)))
"""


@pytest.mark.slow
def test_a_loss_object_finds_its_run_again_in_another_session():
    """``str()`` of a loss object holds an address, which differs in the next session."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
        ),
    }
    there = subprocess.run(
        [sys.executable, "-c", LOSS_OBJECT_KEY], capture_output=True, text=True,
        timeout=300, env=env,
    )  # fmt: skip
    assert there.returncode == 0, there.stderr[-3000:]
    model = tiny()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(),
    )
    batches = Batches(np.zeros((5, 28, 28, 1)), np.zeros(5, "int32"), batch_size=2, seed=0)
    assert there.stdout.split() == [runfiles.fingerprint(resume.recipe(model, batches))]


@pytest.mark.slow
def test_another_schedule_trains_in_another_folder(tmp_path):
    for rate in (0.01, 0.001):
        scheduler = keras.callbacks.LearningRateScheduler((lambda r: lambda epoch: r)(rate))
        fit(runs=tmp_path, epochs=1, callbacks=[scheduler])
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.slow
def test_a_kill_while_fresh_deletes_the_old_run_leaves_a_run_folder(tmp_path, monkeypatch):
    """fresh=True deletes the old run's files; killed just after run.json goes, the
    folder must not be refused as someone else's (on a file system that lists run.json
    first: patched)."""
    fit(folder=tmp_path, epochs=1)
    real_iterdir, real_unlink = Path.iterdir, Path.unlink

    def iterdir(self):
        return iter(sorted(real_iterdir(self), key=lambda p: p.name != resume.RUN_FILE))

    def unlink(self, missing_ok=False):
        real_unlink(self, missing_ok=missing_ok)
        if self.name == resume.RUN_FILE:
            raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(Path, "iterdir", iterdir)
        patched.setattr(Path, "unlink", unlink)
        with pytest.raises(Killed):
            fit(folder=tmp_path, epochs=1, fresh=True)
    _, history = fit(folder=tmp_path, epochs=1, fresh=True)
    assert len(history.history["loss"]) == 1


def _full_disk_at(monkeypatch, name):
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(runfiles.os, "replace", replace)


@pytest.mark.slow
def test_a_full_disk_is_one_message_and_the_run_resumes(
    tmp_path, monkeypatch, capsys, straight
):
    full = os.strerror(errno.ENOSPC)
    with monkeypatch.context() as patched:
        _full_disk_at(patched, "backup-2.weights.h5")
        with pytest.raises(DnnstepsError) as caught:
            fit(folder=tmp_path)
    message = str(caught.value)
    assert message.count(full) == 1 and message.count("could not write") == 1
    assert "free some space" in message
    assert epochs_in(tmp_path) == [0]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    assert rerun(tmp_path, straight) == [1, 2]
    assert f"after epoch 1 of {EPOCHS}" in capsys.readouterr().out

    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")  # and the CLI prints it once, as one line
    monkeypatch.delenv("DNNSTEPS_FULL", raising=False)
    _full_disk_at(monkeypatch, "run.json")
    code = cli.main(["train", "dnn3", "--epochs", "1", "--run-dir", str(tmp_path / "cli")])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    (line,) = err.splitlines()
    assert line.startswith("error: could not write") and line.count("could not") == 1
    assert line.count(full) == 1


# 10. Windows: no fcntl, no O_DIRECTORY ------------------------------------------------------

WINDOWS = textwrap.dedent(
    """
    import os, sys
    sys.modules["fcntl"] = None  # as on Windows: "import fcntl" fails
    from pathlib import Path

    import keras
    import numpy as np
    from keras import layers
    from dnnsteps import (batches, config, data, models, plots, receptive_field, results,
                          resume, rules, runfiles, schedules, submission)
    from dnnsteps.resume import resumable

    try:
        import fcntl
    except ImportError:
        pass
    else:
        raise SystemExit("fcntl is importable")
    from dnnsteps.batches import Batches
    x, y = np.zeros((4, 28, 28, 1), "float32"), np.zeros(4, "int32")
    callback = resumable(sys.argv[1], data=Batches(x, y, batch_size=2, seed=0))
    if hasattr(os, "O_DIRECTORY"):
        del os.O_DIRECTORY  # Windows cannot open a folder to sync it
    folder = Path(sys.argv[1]) / "run"
    folder.mkdir(parents=True)
    runfiles.atomic_write(folder / "run.json", "{}")
    resume._lock(folder).release(force=True)
    print("ok", type(callback).__name__)
    """
)


@pytest.mark.slow
def test_the_setup_cells_modules_import_and_the_callback_builds_without_fcntl(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", WINDOWS, str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["ok", "ResumableTraining"]


# 11. Determinism turns XLA off (a GPU's max-pooling gradient has no deterministic XLA) -


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's op determinism")
def test_determinism_turns_jit_compile_off(monkeypatch):
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    real = tf.config.list_physical_devices
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")

    def with_a_gpu(device_type=None):
        found = real(device_type)
        return [*found, gpu] if device_type in (None, "GPU") else found

    monkeypatch.setattr(tf.config, "list_physical_devices", with_a_gpu)
    with monkeypatch.context() as patched:  # the control: without determinism, XLA
        patched.setattr(tf_config, "is_op_determinism_enabled", lambda: False)
        model = tiny()
        model.compile(loss="sparse_categorical_crossentropy")
        assert model.jit_compile is True
    config.repeatable(0)
    model = tiny()
    model.compile(loss="sparse_categorical_crossentropy")
    assert model.jit_compile is False


# 12. The key follows the recipe as each fit starts ----------------------------------------


@pytest.mark.slow
def test_a_new_learning_rate_or_schedule_trains_and_the_same_recipe_loads(tmp_path, capsys):
    model, first = fit(runs=tmp_path, epochs=1, learning_rate=0.01)
    _, again = fit(model=model, runs=tmp_path, epochs=1, learning_rate=0.001)
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch: 0.002)
    _, scheduled = fit(model=model, runs=tmp_path, epochs=1, learning_rate=0.001,
                       callbacks=[schedule])  # fmt: skip
    assert "Loaded the finished run" not in capsys.readouterr().out
    assert len({first.run_dir, again.run_dir, scheduled.run_dir}) == 3
    _, loaded = fit(runs=tmp_path, epochs=1, learning_rate=0.01)  # a fresh model
    assert "Loaded the finished run" in capsys.readouterr().out
    assert loaded.run_dir == first.run_dir and loaded.history == first.history


@pytest.mark.slow
def test_another_seed_trains_in_another_folder_with_other_batches(tmp_path):
    _, first = fit(runs=tmp_path, epochs=1, seed=0)
    _, other = fit(runs=tmp_path, epochs=1, seed=1)
    assert first.run_dir != other.run_dir
    assert first.history["loss"] != other.history["loss"]


def test_schedule_rates_follow_keras_calling_convention():
    assert resume.schedule_rates(lambda epoch: 0.1 * epoch, 1.0, epochs=3) == [
        0.0,
        0.1,
        0.2,
    ]
    assert resume.schedule_rates(lambda epoch, lr: lr / 2, 1.0, epochs=3) == [
        0.5,
        0.25,
        0.125,
    ]
    assert resume.schedule_rates(lambda epoch: [0.3, 0.2][epoch], 1.0) == [0.3, 0.2]


ORDERS = """
import sys, json
import keras
from crash_driver import fit
from dnnsteps import config
config.repeatable(0)
_, history = fit(runs=sys.argv[1], epochs=2, seed=int(sys.argv[2]))
print("LOSS", json.dumps(history.history["loss"]))
"""


@pytest.mark.slow
def test_two_processes_with_one_seed_see_the_same_batches_and_another_seed_others(tmp_path):
    """The initial weights are the same in every run here (``tiny`` seeds them): only
    the order of the batches follows ``seed``, and the losses follow the order."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}  # fmt: skip

    def losses(folder, seed):
        done = subprocess.run([sys.executable, "-c", ORDERS, str(tmp_path / folder),
                               str(seed)], capture_output=True, text=True, timeout=300,
                              env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return [line for line in done.stdout.splitlines() if line.startswith("LOSS")]

    one, same, other = losses("a", 5), losses("b", 5), losses("c", 6)
    assert one == same and one != other


# 13. Dropout resumes exactly; an interrupted fit leaves a plain Keras model ---------------


@pytest.mark.slow
def test_a_dropout_net_resumed_after_epoch_1_equals_the_uninterrupted_run(
    tmp_path, small_data
):
    from dnnsteps import models

    (x, y), test = small_data

    def run(folder, epochs):
        model = models.build("dnn6", 4)
        model.compile(optimizer=keras.optimizers.Adam(0.01),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])  # fmt: skip
        train = Batches(x, y, batch_size=128, seed=4)
        return model.fit(train, epochs=epochs, shuffle=False, validation_data=test, verbose=0,
                         callbacks=[resume.resumable(data=train, folder=folder)])  # fmt: skip

    straight = run(tmp_path / "straight", 2).history["val_loss"]
    run(tmp_path / "resumed", 1)
    resumed = run(tmp_path / "resumed", 2).history["val_loss"]
    assert abs(resumed[1] - straight[1]) <= 1e-6


class Interrupt(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_ctrl_c_in_a_resumed_fit_leaves_a_plain_keras_model(tmp_path):
    fit(folder=tmp_path, epochs=1)
    model = tiny()
    with pytest.raises(KeyboardInterrupt):
        fit(model=model, folder=tmp_path, epochs=3, callbacks=[Interrupt()])
    assert model._initial_epoch is None  # Keras's own attribute, as Keras leaves it
    assert not [k for k in vars(model) if "dnnsteps" in k]
    history = model.fit(*arrays()[0], epochs=1, verbose=0)  # plain Keras: one epoch
    assert history.epoch == [0]
