"""Training that survives a dead session: one Keras callback for a plain ``model.fit``.

``resumable(runs)`` gives the callback. Each run lives in its own folder,
``runs/<model name>-<key>``, where the key is a hash of what decides the run: the
layers, the optimizer, the loss, the batches per epoch, the initial weights (so the
seed) and the training data. Edit the model and it trains afresh in a new folder;
run the same cell again and it picks up where it stopped.

After every epoch the callback writes, each file atomically (a temporary file, then a
rename): ``backup-N.weights.h5`` (weights and optimizer state), ``backup-N.json`` (the
epoch's commit point: the log so far and the weights' SHA-256) and ``log.csv`` (Keras's
CSVLogger columns). Only the two newest backups are kept. When training starts it
loads the newest backup that is whole, falling back to the one before with one printed
line, and continues after its epoch; a finished run is loaded instead of retrained,
and ends with ``model.keras``. A file lock keeps a second process off a running run.

Why not ``keras.callbacks.BackupAndRestore``: it writes weights and then metadata in
place, so a kill between the two trains an epoch twice, and a torn metadata file
stops it with a traceback.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
from pathlib import Path

import keras
import numpy as np

from . import config
from .errors import DnnstepsError

LOG_FILE = "log.csv"
MODEL_FILE = "model.keras"
RUN_FILE = "run.json"
KEEP_BACKUPS = 2
_OURS = re.compile(
    r"(run\.json|log\.csv|model\.keras|backup-\d+\.(weights\.h5|json)|\.lock|\.tmp-.*)"
)
_LOCKS: dict[
    str, object
] = {}  # run folder -> this process's lock (an interrupted fit keeps it)


# Files ---------------------------------------------------------------------------------


def _sync_folder(folder: Path) -> None:
    """Make a rename durable; only POSIX can open a directory to sync it."""
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _tmp(path: Path) -> Path:
    return path.with_name(f".tmp-{path.name}")  # keeps the suffix Keras checks for


def _publish(tmp: Path, path: Path) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _sync_folder(path.parent)


def _write_with(path, write) -> None:
    """``write(tmp)`` fills a temporary file, which then replaces ``path`` in one step.
    A full disk or a read-only folder is one clear error; the old file stays whole."""
    path = Path(path)
    tmp = _tmp(path)
    try:
        write(tmp)
        _publish(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DnnstepsError(
            f"could not write {path} ({exc.strerror or exc}); what was saved before is "
            "kept: free some space or fix the folder, then run again to resume."
        ) from None


def atomic_write(path, data: bytes | str) -> None:
    data = data.encode() if isinstance(data, str) else data
    _write_with(path, lambda tmp: Path(tmp).write_bytes(data))


def write_new(path, data: bytes | str, force: bool = False) -> Path:
    """Write ``path`` atomically, refusing to replace a file that is already there."""
    path = Path(path)
    if path.exists() and not force:
        raise DnnstepsError(f"{path} exists; choose another file or pass --force.")
    atomic_write(path, data)
    return path


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_model(path) -> keras.Model:
    """A saved ``.keras`` model, loaded in safe mode (no code from the file runs)."""
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable model is one message
        text = " ".join(str(exc).split())[:200]
        raise DnnstepsError(f"cannot load {path}: {type(exc).__name__}: {text}") from None


# The log -------------------------------------------------------------------------------


def log_text(rows) -> str:
    """CSVLogger's layout: ``epoch`` (from 0), then the metrics in sorted order."""
    keys = sorted({k for row in rows for k in row} - {"epoch"})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for row in rows:
        writer.writerow(
            [row["epoch"], *(repr(float(row[k])) if k in row else "" for k in keys)]
        )
    return out.getvalue()


def read_log(path) -> list[dict]:
    """The rows of a Keras CSVLogger log (a file, or a folder holding ``log.csv``)."""
    path = Path(path)
    path = path / LOG_FILE if path.is_dir() else path
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [
            {
                k: int(v) if k == "epoch" else float(v)
                for k, v in row.items()
                if v not in ("", None)
            }
            for row in csv.DictReader(lines)
        ]
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise DnnstepsError(f"cannot read the training log {path}: {exc}") from None
    if not rows or any("epoch" not in row for row in rows):
        raise DnnstepsError(f"{path} holds no epochs; expected a Keras CSVLogger log.")
    return rows


# The run folder ------------------------------------------------------------------------


def _without_names(value):
    """A config without layer names, so re-running a model cell finds its run."""
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, list):
        return [_without_names(v) for v in value]
    return value


def fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.shape}{part.dtype}".encode())
            digest.update(memoryview(np.ascontiguousarray(part)).cast("B"))
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def run_key(model, steps, data_key: str) -> str:
    """What decides a run: layers, optimizer, loss, batches, initial weights, data."""
    return fingerprint(
        _without_names(model.get_config()),
        _without_names(model.optimizer.get_config()),
        re.sub(r" at 0x[0-9a-fA-F]+", "", str(model.loss)),  # no address: same next session
        steps,
        data_key,
        *[np.asarray(w) for w in model.get_weights()],
    )[:12]


def _refuse_foreign(folder: Path) -> list[str]:
    """The names in ``folder``; refuses a folder that holds anything dnnsteps did not write."""
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    foreign = [n for n in names if not _OURS.fullmatch(n)]
    if foreign or (
        names and RUN_FILE not in names and not all(n.startswith(".") for n in names)
    ):
        shown = ", ".join(sorted(foreign or names)[:3])
        raise DnnstepsError(
            f"{folder} is not a dnnsteps run folder (it holds {shown}); choose another folder."
        )
    return names


def _claim(folder: Path, key: str, names: list[str], fresh: bool) -> None:
    """Make ``folder`` this run's (under its lock); ``fresh`` deletes only our own files."""
    if fresh:  # run.json last: a kill midway leaves a folder that is still a run
        for name in sorted(names, key=lambda n: n == RUN_FILE):
            if name != ".lock":
                (folder / name).unlink(missing_ok=True)
    run_file = folder / RUN_FILE
    if not run_file.exists():
        atomic_write(run_file, json.dumps({"dnnsteps": 1, "key": key}))
        return
    try:
        found = json.loads(run_file.read_text(encoding="utf-8"))["key"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DnnstepsError(
            f"{run_file} is unreadable ({type(exc).__name__}); start the run over with "
            "fresh=True (--fresh), which deletes only dnnsteps's own files."
        ) from None
    if found != key:
        raise DnnstepsError(
            f"{folder} holds another run (a different model, recipe or data); use another "
            "folder, or fresh=True (--fresh) to start over there."
        )


def _lock(folder: Path):
    from filelock import FileLock, Timeout

    lock = _LOCKS.setdefault(str(folder), FileLock(str(folder / ".lock"), timeout=0))
    try:
        lock.acquire()
    except Timeout:
        raise DnnstepsError(
            f"{folder} is being trained by another process; wait for it or stop it."
        ) from None
    return lock


def _backups(folder: Path) -> list[int]:
    found = {
        int(m.group(1))
        for p in folder.glob("backup-*")
        if (m := re.match(r"backup-(\d+)\.", p.name))
    }
    return sorted(found, reverse=True)


def _read_backup(folder: Path, epoch: int) -> dict:
    """A backup's commit record, checked against its weights; raises ValueError if torn."""
    meta = json.loads((folder / f"backup-{epoch}.json").read_text(encoding="utf-8"))
    if meta["epoch"] != epoch or len(meta["rows"]) != epoch:
        raise ValueError("inconsistent")
    if sha256(folder / f"backup-{epoch}.weights.h5") != meta["sha256"]:
        raise ValueError("weights do not match")
    return meta


def _restore(model, folder: Path) -> dict:
    """Load the newest whole backup into ``model``; its record, or an empty one."""
    initial = model.get_weights()
    for epoch in _backups(folder):
        try:
            meta = _read_backup(folder, epoch)
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(folder / f"backup-{epoch}.weights.h5")
            return meta
        except (OSError, ValueError, KeyError, TypeError):
            print(
                f"The backup of epoch {epoch} in {folder} is incomplete; using the one before."
            )
    model.set_weights(initial)
    return {"epoch": 0, "rows": [], "seconds": []}


def seed_epoch(key: str, epoch: int) -> None:
    """Seed the order in which ``model.fit`` shows this epoch's batches from the run and
    the epoch: a new order every epoch, the same one in every run of the same settings,
    and after a resume the order the epoch would have had (JAX shuffles with NumPy's
    generator; TensorFlow, in tf.data's debug mode, with its global seed)."""
    seed = (int(key, 16) + epoch) % 2**32
    np.random.seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.random.set_seed(seed)


# The callback --------------------------------------------------------------------------


class ResumableTraining(keras.callbacks.Callback):
    """Backs up every epoch and resumes after the last finished one; see the module."""

    def __init__(self, runs="runs", data_key: str = "", fresh: bool = False, folder=None):
        super().__init__()
        self.runs, self.data_key, self.fresh = Path(runs), data_key, fresh
        self.folder = Path(folder) if folder is not None else None
        self.smoke = config.smoke_mode()

    def _run_folder(self) -> tuple[Path, str]:
        # The key is taken once per model object: re-running only the fit cell after an
        # interruption (weights already changed) must find the same run.
        key = getattr(self.model, "_dnnsteps_run_key", None)
        if key is None:
            key = run_key(self.model, self.params.get("steps"), self.data_key)
            self.model._dnnsteps_run_key = key
        return self.folder or self.runs / f"{self.model.name}-{key}", key

    def on_train_begin(self, logs=None):
        self.run_dir, key = self._run_folder()
        epochs = self.params["epochs"]
        self.goal = min(epochs, config.SMOKE_EPOCHS) if self.smoke else epochs
        names = _refuse_foreign(self.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.lock = _lock(self.run_dir)
        try:
            _claim(self.run_dir, key, names, self.fresh)
            self.fresh = False  # only the first fit call starts over
            self.state = _restore(self.model, self.run_dir)
            done = self.state["epoch"]
            if done > self.goal:
                raise DnnstepsError(
                    f"{self.run_dir} already has {done} epochs; ask for at least {done}, "
                    "or start over with fresh=True (--fresh)."
                )
            atomic_write(self.run_dir / LOG_FILE, log_text(self.state["rows"]))
            if done < self.goal:  # a model.keras of fewer epochs would outlive a kill
                (self.run_dir / MODEL_FILE).unlink(missing_ok=True)
        except BaseException:
            self.lock.release(force=True)
            raise
        self.trained = False
        if done == self.goal:
            last = self.state["rows"][-1].get("val_accuracy", float("nan"))
            print(
                f"Loaded the finished run in {self.run_dir} ({done} epochs, last val_accuracy "
                f"{last:.2%}) instead of training it again; fresh=True retrains it."
            )
            self.model._initial_epoch = epochs
        elif done:
            print(f"Resuming {self.run_dir} after epoch {done} of {self.goal}.")
            self.model._initial_epoch = done

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
        seed_epoch(self.model._dnnsteps_run_key, epoch)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}}
        if "learning_rate" not in row:
            row["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
        state = self.state
        state["rows"].append(row)
        state["seconds"].append(round(time.perf_counter() - self.started, 2))
        state["epoch"] = n = epoch + 1
        weights = self.run_dir / f"backup-{n}.weights.h5"
        _write_with(weights, self.model.save_weights)
        state["sha256"] = sha256(weights)
        atomic_write(self.run_dir / f"backup-{n}.json", json.dumps(state))
        atomic_write(self.run_dir / LOG_FILE, log_text(state["rows"]))
        for old in _backups(self.run_dir)[KEEP_BACKUPS:]:
            for path in self.run_dir.glob(f"backup-{old}.*"):
                path.unlink()
        self.trained = True
        if n >= self.goal:
            self.model.stop_training = True  # the smoke subset stops early

    def on_train_end(self, logs=None):
        try:
            model_file = self.run_dir / MODEL_FILE
            if self.state["epoch"] == self.goal and (
                self.trained or not model_file.exists()
            ):
                _write_with(model_file, self.model.save)
            self.model.history = self._whole_history()
        finally:
            self.model._initial_epoch = None
            self.lock.release(force=True)

    def _whole_history(self) -> keras.callbacks.History:
        """Every epoch of the run, also those trained before a resume."""
        history = keras.callbacks.History()
        history.set_model(self.model)
        history.set_params(self.params)
        rows = self.state["rows"]
        history.epoch = [row["epoch"] for row in rows]
        keys = sorted({k for row in rows for k in row} - {"epoch"})
        history.history = {k: [row.get(k) for row in rows] for k in keys}
        history.run_dir = str(self.run_dir)
        seconds = self.state["seconds"]
        history.seconds_per_epoch = sum(seconds) / len(seconds) if seconds else None
        return history


def resumable(
    runs="runs", data=None, fresh: bool = False, folder=None
) -> ResumableTraining:
    """The callback that makes ``model.fit`` survive a dead session.

    ``runs``: the folder that holds every run (in Colab, a folder on a mounted Drive keeps
    runs across sessions). ``data``: the training arrays, ``(x_train, y_train)``, so that
    other data trains in another folder. ``fresh``: start this run over. ``folder``: use
    exactly this run folder (the CLI's ``--run-dir``). Training is made repeatable too:
    one seed gives the same epochs every time on the same machine.
    """
    config.make_repeatable()
    data_key = fingerprint(*[np.asarray(a) for a in data]) if data is not None else ""
    return ResumableTraining(runs, data_key, fresh, folder)
