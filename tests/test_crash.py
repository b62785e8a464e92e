"""Training processes killed with SIGKILL at the worst moments, then run again.

tests/crash_driver.py trains a tiny model for three epochs with ``resumable`` in a
subprocess, and kills itself at a chosen point (it wraps ``dnnsteps.runfiles._publish``;
dnnsteps has no test hook). Each rerun resumes from what the kill left and dies at the
next point; the last rerun finishes. After every kill the log holds whole epochs, each
once, and every rerun says how it resumed; at the end the log and the metrics equal an
uninterrupted run's, bit for bit, and model.keras reproduces the log's last
val_accuracy. One more kill lands at a seeded random moment of the training.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from crash_driver import arrays, rows_of, same_run

from dnnsteps import runfiles

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only"),
]


@pytest.fixture(scope="module", autouse=True)
def full_mode():
    """These runs train their own tiny data in full: the README's test command sets
    DNNSTEPS_SMOKE=1, whose two-epoch stop would cut every three-epoch run short."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DNNSTEPS_SMOKE", raising=False)
        yield


DRIVER = Path(__file__).with_name("crash_driver.py")
OURS = ("Resuming", "Loaded the finished run", "The backup of epoch")


def start(folder, point=None, pace=0.0):
    """The driver on ``folder``, killing itself at ``point``; stderr goes to a file."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    env["CRASH_DRIVER_PACE"] = str(pace)
    err = open(Path(folder).with_suffix(".stderr"), "w+")  # noqa: SIM115 - closed in finish
    process = subprocess.Popen(
        [sys.executable, str(DRIVER), str(folder), *([point] if point else [])],
        stdout=subprocess.PIPE, stderr=err, text=True, env=env,
    )  # fmt: skip
    process.err = err
    return process


def finish(process, timeout=600):
    out = process.communicate(timeout=timeout)[0]
    process.err.seek(0)
    err = process.err.read()
    process.err.close()
    return process.returncode, out, err


def said(out, folder, *expected):
    """Whether dnnsteps's lines in ``out`` start as ``expected`` (F: the run folder)."""
    lines = [line.replace(str(folder), "F") for line in out.splitlines()]
    ours = [line for line in lines if line.startswith(OURS)]
    return len(ours) == len(expected) and all(map(str.startswith, ours, expected))


def epochs_in(folder):
    path = Path(folder) / runfiles.LOG_FILE
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The same training, never killed, in a fresh process as the killed runs are: this
    process's global switches (op determinism, seeds) depend on the tests run before it."""
    folder = tmp_path_factory.mktemp("straight") / "run"
    code, out, err = finish(start(folder))
    assert code == 0, err[-3000:]
    history = json.loads(out.split("RESULT ", 1)[1])["history"]
    return dict(history=history, log=runfiles.read_log(folder))


def check_finished(folder, out, straight, kept):
    """The run is whole: every epoch once, the uninterrupted run's metrics (the first
    ``kept`` epochs on any backend, see crash_driver.same_run), a model that reproduces
    the log."""
    result = json.loads(out.split("RESULT ", 1)[1])
    assert result["run_dir"] == str(folder)
    log = runfiles.read_log(folder)
    same_run(log, straight["log"], kept)
    assert rows_of(result["history"]) == log
    model = runfiles.load_model(folder / runfiles.MODEL_FILE)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    accuracy = model.evaluate(*arrays()[1], verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(log[-1]["val_accuracy"], abs=1e-6)
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")]


# Kill points in the order the reruns meet them: (point, what the process that dies
# there says first about the state the kill before left, the epochs its kill leaves in
# the log). "after:backup-3.json" is after the last backup, the log not yet updated.
FELL_BACK = "The backup of epoch {} in F is incomplete; using the one before."
LOADED = "Loaded the finished run in F (3 epochs"
CHAIN = (
    ("tear:backup-1.weights.h5", [], []),  # inside the first weights write
    ("after:backup-2.weights.h5", [], [0]),  # between weights and metadata
    ("tear:backup-3.json", [FELL_BACK.format(2), "Resuming F after epoch 1 of 3."], [0, 1]),
    (
        "after:backup-3.json",
        [FELL_BACK.format(3), "Resuming F after epoch 2 of 3."],
        [0, 1],
    ),
    ("tear:model.keras", [LOADED], [0, 1, 2]),  # after the last backup: inside the save
)


def test_killed_at_each_point_then_rerun_matches_an_uninterrupted_run(tmp_path, straight):
    folder = tmp_path / "run"
    for point, says, logged in CHAIN:
        code, out, err = finish(start(folder, point))
        assert code == -signal.SIGKILL, f"{point}: {code}\n{out[-2000:]}\n{err[-3000:]}"
        assert f"KILL {point}" in out and "Traceback" not in err, point
        assert said(out, folder, *says), f"{point}: {out}"
        assert epochs_in(folder) == logged, point
    code, out, err = finish(start(folder))
    assert code == 0, err[-3000:]
    assert said(out, folder, LOADED) and "Traceback" not in err
    check_finished(folder, out, straight, kept=1)  # the chain first resumed after epoch 1


def test_killed_at_a_random_moment_then_rerun_matches(tmp_path, straight):
    """The moment is drawn (seeded) from the second and third epochs' time, the driver
    slowed down to make them last; a draw that lands after the run ended is redrawn."""
    draws = random.Random(0)
    for attempt in range(5):
        folder = tmp_path / f"run{attempt}"
        delay = draws.uniform(0.0, 1.5)
        process = start(folder, pace=0.2)  # epochs 2 and 3 last 2 s or more
        for line in process.stdout:  # the first epoch is backed up when the second starts
            if line.strip() == "EPOCH 1":
                break
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        code, out, err = finish(process)
        if code == 0:  # finished before the kill: draw again
            continue
        where = f"killed {delay:.2f} s after epoch 2 began (attempt {attempt})"
        assert code == -signal.SIGKILL, f"{where}: {code}\n{err[-3000:]}"
        logged = epochs_in(folder)
        print(
            where, "; logged:", logged, "; left:", sorted(p.name for p in folder.iterdir())
        )
        assert list(folder.glob("backup-*.json")), where
        assert logged == list(range(len(logged))) and logged, where
        code, out, err = finish(start(folder))
        assert code == 0, f"{where}: {err[-3000:]}"
        assert "Traceback" not in err, where
        check_finished(folder, out, straight, kept=len(logged))
        return
    pytest.fail("every drawn moment came after the training had finished")
