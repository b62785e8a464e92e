import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dnnsteps import checkpoints, config, models, train
from dnnsteps.errors import CheckpointError, ConfigError, DataError, RunDirError
from dnnsteps.records import RunSummary

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")


def metrics(rows):
    return [[row[k] for k in METRICS] for row in rows]


def test_smoke_run_beats_chance(tmp_path, monkeypatch):
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    monkeypatch.delenv("DNNSTEPS_FULL", raising=False)
    monkeypatch.setattr(config, "gpu_visible", lambda: False)
    result = train.fit("dnn8", run_dir=tmp_path / "run", verbose=False)
    s = result.summary
    assert s["mode"] == "smoke" and s["epochs"] == config.SMOKE_EPOCHS
    assert (
        s["train_size"] == config.SMOKE_TRAIN_SIZE
        and s["test_size"] == config.SMOKE_TEST_SIZE
    )
    assert s["best_val_accuracy"] > 0.2  # chance is 0.1
    assert s["params"] == models.build("dnn8").count_params()
    assert (tmp_path / "run" / "best.keras").exists()
    # The summary is written as a typed, versioned record and reads back as returned.
    assert RunSummary.load(tmp_path / "run" / "summary.json").to_json() == s


def test_full_mode_forced_overrides_smoke(monkeypatch):
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    monkeypatch.setenv("DNNSTEPS_FULL", "1")
    assert not config.smoke_mode()


def test_same_seed_same_metrics_and_finished_run_is_not_retrained(
    tmp_path, small_data, capsys
):
    a = train.fit(
        "dnn4", seed=3, epochs=2, data=small_data, run_dir=tmp_path / "a", verbose=False
    )
    b = train.fit(
        "dnn4", seed=3, epochs=2, data=small_data, run_dir=tmp_path / "b", verbose=False
    )
    rows_a = json.loads(json.dumps(a.history.history))
    assert metrics_from(a) == metrics_from(b)
    again = train.fit("dnn4", seed=3, epochs=2, data=small_data, run_dir=tmp_path / "a")
    assert "already trained" in capsys.readouterr().out
    assert again.history.history == rows_a
    np.testing.assert_array_equal(again.model.get_weights()[0], a.model.get_weights()[0])


def metrics_from(result):
    return [result.history.history[k] for k in METRICS]


def test_steps_per_execution_changes_no_result(tmp_path, small_data, monkeypatch):
    # 600 images in batches of 64 is 10 steps: one call of 32 steps runs them all,
    # the ragged end included, exactly as 10 calls of one step do.
    runs = {}
    for n in (1, config.STEPS_PER_EXECUTION):
        monkeypatch.setattr(config, "STEPS_PER_EXECUTION", n)
        runs[n] = train.fit(
            "dnn7",
            seed=5,
            epochs=2,
            batch_size=64,
            data=small_data,
            run_dir=tmp_path / str(n),
            verbose=False,
        )
    one, many = runs.values()
    assert metrics_from(one) == metrics_from(many)
    for a, b in zip(one.model.get_weights(), many.model.get_weights()):
        np.testing.assert_array_equal(a, b)


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import keras
    from dnnsteps import data, train

    (xt, yt), (xv, yv) = data.load_mnist()
    small = (data.subset(xt, yt, 600, seed=1), data.subset(xv, yv, 300, seed=1))
    kill_after = int(sys.argv[2])

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    train.fit("dnn7", seed=7, epochs=4, data=small, run_dir=sys.argv[1],
              callbacks=[Kill()] if kill_after else [])
    """
)


def test_killed_run_resumes_at_next_epoch_with_identical_results(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def child(run_dir, kill_after):
        return subprocess.run(
            [sys.executable, str(script), str(run_dir), str(kill_after)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    killed = child(tmp_path / "resumed", 2)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert "Epoch  2/4" in killed.stdout and "Epoch  3/4" not in killed.stdout
    resumed = child(tmp_path / "resumed", 0)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming" in resumed.stdout and "after epoch 2/4" in resumed.stdout
    straight = child(tmp_path / "straight", 0)
    assert straight.returncode == 0, straight.stderr[-2000:]

    from dnnsteps.rundir import RunDir

    rows = RunDir(tmp_path / "resumed").read_log()
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert metrics(rows) == metrics(RunDir(tmp_path / "straight").read_log())


def test_unknown_model_name():
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        train.fit("resnet")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(epochs=0), "epochs must be a positive integer"),
        (dict(epochs=-3), "epochs must be a positive integer"),
        (dict(batch_size=0), "batch_size must be a positive integer"),
        (dict(learning_rate=-0.01), "learning_rate must be a number"),
        (dict(seed=-1), "seed must be an integer >= 0"),
    ],
)
def test_bad_training_arguments(kwargs, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        train.fit("dnn3", run_dir=tmp_path / "run", **kwargs)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "broken, message",
    [
        (lambda x, y: (x[:, :20, :20], y), "expected 28x28"),
        (lambda x, y: (x.astype(str), y), "expected numbers"),
        (lambda x, y: (x, y + 10), "expected class ids 0-9"),
        (lambda x, y: (x, y[:-1]), "images but"),
    ],
)
def test_bad_training_data(broken, message, small_data, tmp_path):
    (x_train, y_train), test = small_data
    with pytest.raises(DataError, match=message):
        train.fit("dnn3", data=(broken(x_train, y_train), test), run_dir=tmp_path / "r")


def test_data_must_be_two_pairs(tmp_path):
    with pytest.raises(ConfigError, match=r"data must be \(\(x_train, y_train\)"):
        train.fit("dnn3", data=[1, 2, 3], run_dir=tmp_path / "r")


def tree_hash(path):
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.name.encode() + file.read_bytes())
    return digest.hexdigest()


def test_run_dir_of_another_architecture_is_refused_and_untouched(tmp_path, small_data):
    run_dir = tmp_path / "run"
    train.fit("dnn3", epochs=1, data=small_data, run_dir=run_dir, verbose=False)
    before = tree_hash(run_dir)
    with pytest.raises(CheckpointError, match="different architecture.*left untouched"):
        train.fit("dnn4", epochs=1, data=small_data, run_dir=run_dir, verbose=False)
    assert tree_hash(run_dir) == before


def test_checkpoint_of_another_model_is_refused_and_untouched(tmp_path, small_data):
    train.fit("dnn3", epochs=1, data=small_data, run_dir=tmp_path / "run", verbose=False)
    best = tmp_path / "run" / "best.keras"
    before = best.read_bytes()
    assert checkpoints.load(best, expected="dnn3").count_params() == 10_872
    with pytest.raises(CheckpointError, match="holds model 'dnn3'.*not 'dnn8'"):
        checkpoints.load(best, expected="dnn8")
    assert best.read_bytes() == before


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="cannot load .* safely"):
        checkpoints.load(bad)


def test_safe_mode_refuses_code_in_a_saved_model(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda t: t * 2)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(CheckpointError, match="safe mode"):
        checkpoints.load(path)


def test_unwritable_run_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(RunDirError, match="cannot write the run directory"):
        train.fit("dnn3", epochs=1, run_dir=blocker / "run")
    assert blocker.read_text() == "x"


MIRRORED = textwrap.dedent(
    """
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from dnnsteps import data, train

    (xt, yt), (xv, yv) = data.load_mnist()
    small = (data.subset(xt, yt, 512, seed=1), data.subset(xv, yv, 256, seed=1))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    result = train.fit("dnn4", epochs=1, data=small, run_dir=sys.argv[1],
                       strategy=strategy, verbose=False)
    print("replicas", strategy.num_replicas_in_sync, result.summary["strategy"],
          result.summary["best_val_accuracy"])
    """
)


def test_training_under_mirrored_strategy_on_two_cpus(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    words = done.stdout.split()
    assert words[:3] == ["replicas", "2", "MirroredStrategy"]
    assert 0.0 <= float(words[3]) <= 1.0


def test_more_epochs_extend_a_finished_run(tmp_path, small_data):
    run_dir = tmp_path / "run"
    short = train.fit(
        "dnn4", seed=2, epochs=1, data=small_data, run_dir=run_dir, verbose=False
    )
    longer = train.fit(
        "dnn4", seed=2, epochs=2, data=small_data, run_dir=run_dir, verbose=False
    )
    straight = train.fit(
        "dnn4", seed=2, epochs=2, data=small_data, run_dir=tmp_path / "s", verbose=False
    )
    assert short.summary["epochs"] == 1 and longer.summary["epochs"] == 2
    assert metrics_from(longer) == metrics_from(straight)
