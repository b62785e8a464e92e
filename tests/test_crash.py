"""Crash injection: runs killed with SIGKILL at the worst moments, then run again.

Each kill point is a hook in the package (``DNNSTEPS_CRASH_AT=point:epoch``); one
more kill lands at a random moment. After every kill the rerun must exit 0 with
each epoch logged once, the metrics of an uninterrupted run, and final weights
that evaluate to the logged accuracy.
"""

import json
import os
import random
import subprocess
import sys
import textwrap
import time

import pytest

from dnnsteps.rundir import CRASH_ENV, RunDir

EPOCHS = 3
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")

TINY = textwrap.dedent(
    """
    import keras
    from dnnsteps import data
    from dnnsteps.models import Recipe

    RECIPE = Recipe(epochs=3, target_accuracy=0.5, batch_size=32)

    def tiny():
        keras.utils.set_random_seed(0)
        return keras.Sequential(
            [
                keras.Input((28, 28, 1), name="image"),
                keras.layers.Flatten(name="flat"),
                keras.layers.Dense(16, activation="relu", name="hidden"),
                keras.layers.Dropout(0.2, name="drop"),
                keras.layers.Dense(10, activation="softmax", name="out"),
            ],
            name="tiny",
        )

    def small():
        (xt, yt), (xv, yv) = data.load_mnist()
        return data.subset(xt, yt, 400, seed=1), data.subset(xv, yv, 200, seed=1)
    """
)

CHILD = textwrap.dedent(
    """
    import json, sys
    import keras
    from tiny import RECIPE, small, tiny
    from dnnsteps import train

    arrays = small()
    result = train.fit(
        tiny(), recipe=RECIPE, epochs=3, seed=4, data=arrays, run_dir=sys.argv[1]
    )
    x, y = train.prepare_data(train._given_data(arrays), False, 0)[1]
    y = keras.utils.to_categorical(y, 10)
    fresh = tiny()
    fresh.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    fresh.load_weights(result.run_dir / "final.weights.h5")
    print("RESULT " + json.dumps({
        "summary_final": result.summary["final_val_accuracy"],
        "model": result.model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"],
        "reloaded": fresh.evaluate(x, y, verbose=0, return_dict=True)["accuracy"],
    }))
    """
)


@pytest.fixture
def child(tmp_path):
    (tmp_path / "tiny.py").write_text(TINY)
    (tmp_path / "child.py").write_text(CHILD)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(tmp_path)}
    env.pop(CRASH_ENV, None)

    def start(run_dir, crash=None):
        extra = {CRASH_ENV: crash} if crash else {}
        return subprocess.Popen(
            [sys.executable, str(tmp_path / "child.py"), str(run_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, **extra},
        )

    return start


def finish(process):
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def epochs_logged(run_dir):
    return [r["epoch"] for r in RunDir(run_dir).read_log()]


def metrics(rows):
    return [[row[k] for k in METRICS] for row in rows]


def uninterrupted(tmp_path):
    """The same run, never killed (in this process: it has TensorFlow loaded)."""
    sys.path.insert(0, str(tmp_path))
    try:
        import tiny

        from dnnsteps import train

        return train.fit(
            tiny.tiny(),
            recipe=tiny.RECIPE,
            epochs=EPOCHS,
            seed=4,
            data=tiny.small(),
            run_dir=tmp_path / "straight",
            verbose=False,
        )
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("tiny", None)


def check_finished(run_dir, out, straight):
    rows = RunDir(run_dir).read_log()
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))
    assert metrics(rows) == metrics(RunDir(straight.run_dir).read_log())
    result = json.loads(out.split("RESULT ", 1)[1])
    assert result["summary_final"] == rows[-1]["val_accuracy"]
    assert result["model"] == pytest.approx(rows[-1]["val_accuracy"], abs=1e-6)
    assert result["reloaded"] == pytest.approx(rows[-1]["val_accuracy"], abs=1e-6)


# Kill points in the order one run meets them; each rerun dies at the next one.
CHAIN = (
    ("state-write:1", []),  # halfway through writing epoch 1's backup
    ("state-written:2", [1]),  # epoch 2's backup written, the manifest not yet
    ("backed-up:3", [1, 2, 3]),  # the last epoch backed up, nothing final saved
    ("final-write:3", [1, 2, 3]),  # inside the final weights' write
)


def test_killed_at_each_point_then_rerun_matches_an_uninterrupted_run(tmp_path, child):
    run_dir = tmp_path / "run"
    for point, logged in CHAIN:
        code, out, err = finish(child(run_dir, crash=point))
        assert code == -9, f"{point}: {err[-2000:]}"
        # The log may hold the killed epoch's row; the rerun must settle it.
        assert epochs_logged(run_dir)[: len(logged)] == logged, point
        assert "Traceback" not in err
    straight = uninterrupted(tmp_path)
    code, out, err = finish(child(run_dir))
    assert code == 0, err[-3000:]
    assert "Traceback" not in err
    check_finished(run_dir, out, straight)
    # The last good state was used, never retrained: the rerun trained nothing.
    assert "Epoch  3/3" in out and "Resuming" in out


def test_killed_at_a_random_moment_then_rerun_matches(tmp_path, child):
    delay = random.Random().uniform(3.0, 12.0)
    run_dir = tmp_path / "run"
    process = child(run_dir)
    time.sleep(delay)
    process.kill()
    finish(process)
    logged = epochs_logged(run_dir)
    assert logged == list(range(1, len(logged) + 1)), f"killed after {delay:.1f} s"
    straight = uninterrupted(tmp_path)
    code, out, err = finish(child(run_dir))
    assert code == 0, f"killed after {delay:.1f} s: {err[-3000:]}"
    check_finished(run_dir, out, straight)
