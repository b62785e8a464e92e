"""A tiny resumable training, killed on purpose: the subprocess of tests/test_crash.py.

``python crash_driver.py RUN_DIR [MODE:FILE[#N]]`` trains a tiny model for three epochs
with ``resumable(folder=RUN_DIR)``. With a kill point it SIGKILLs itself when dnnsteps
publishes FILE (a temporary file renamed onto it) for the N-th time (default 1):
``tear`` (its temporary file half written), ``before`` (the temporary file whole, not
yet renamed) or ``after`` (just renamed). The kill is patched in here, from outside:
dnnsteps has no test hook. It prints ``TRAINING`` when training starts, ``EPOCH n`` as
epoch n (from 0) starts, ``KILL ...`` just before it dies and ``RESULT <json>`` at the end.

The tests import ``tiny``, ``arrays`` and ``fit`` too, so one run means one thing.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time

import keras

from dnnsteps import data, resume, runfiles
from dnnsteps.batches import Batches

EPOCHS = 3


@functools.cache
def arrays():
    """300 training and 200 validation images of the smoke subset."""
    (xt, yt), (xv, yv) = data.mnist(smoke=True)
    return (xt[:300], yt[:300]), (xv[:200], yv[:200])


def tiny(seed=0, width=16):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="tiny",
    )


def fit(
    model=None,
    train=None,
    epochs=EPOCHS,
    callbacks=(),
    loss=None,
    verbose=0,
    seed=0,
    learning_rate=0.01,
    **kw,
):
    """Compile and fit as a notebook does, with ``resumable(**kw)`` first and then
    ``callbacks`` (so a callback that stops the run sees the epoch backed up)."""
    model = model or tiny()
    train = Batches(*(train or arrays()[0]), batch_size=64, seed=seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=loss or "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        train,
        epochs=epochs,
        shuffle=False,
        validation_data=arrays()[1],
        callbacks=[resume.resumable(data=train, **kw), *callbacks],
        verbose=verbose,
    )
    return model, history


# A resumed run is the uninterrupted run, bit for bit, on a CPU: each epoch's order of
# the batches follows from the seed and the epoch (dnnsteps.batches).
EXACT_RESUME = True


def rows_of(history: dict) -> list[dict]:
    """``history.history`` as the log's rows."""
    return [{"epoch": i, **dict(zip(history, values))}
            for i, values in enumerate(zip(*history.values()))]  # fmt: skip


def same_run(rows, expected, kept: int) -> None:
    """``rows`` are the uninterrupted run's ``expected`` rows: the first ``kept`` epochs
    (trained before any interruption) always, bit for bit; all of them where resuming
    is exact (see EXACT_RESUME)."""
    assert [row["epoch"] for row in rows] == [row["epoch"] for row in expected]
    assert rows[:kept] == expected[:kept]
    if EXACT_RESUME:
        assert rows == expected


def killing_publish(point: str, die):
    """``runfiles._publish``, wrapped to call ``die()`` at ``point`` (``MODE:FILE[#N]``)."""
    mode, _, name = point.partition(":")
    name, _, nth = name.partition("#")
    assert mode in ("tear", "before", "after"), point
    real, seen = runfiles._publish, [0]

    def publish(tmp, path):
        hit = path.name == name and seen[0] + 1 == int(nth or 1)
        seen[0] += path.name == name
        if hit and mode != "after":
            if mode == "tear":
                os.truncate(tmp, tmp.stat().st_size // 2)
            die()
        real(tmp, path)
        if hit and mode == "after":
            die()

    return publish


def _sigkill(point):
    def die():
        print(f"KILL {point}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    return die


class _Markers(keras.callbacks.Callback):
    """Lines a test waits for; ``CRASH_DRIVER_PACE`` seconds of sleep after each batch
    stretch the training, so that a kill at a random moment lands inside it."""

    def on_train_begin(self, logs=None):
        print("TRAINING", flush=True)

    def on_epoch_begin(self, epoch, logs=None):
        print(f"EPOCH {epoch}", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(float(os.environ.get("CRASH_DRIVER_PACE", "0")))


def main(argv) -> None:
    folder = argv[0]
    if len(argv) > 1:
        runfiles._publish = killing_publish(argv[1], _sigkill(argv[1]))
    _, history = fit(folder=folder, callbacks=[_Markers()], verbose=2)
    print("RESULT " + json.dumps({"history": history.history, "run_dir": history.run_dir}))


if __name__ == "__main__":
    main(sys.argv[1:])
