"""Training that survives a dead session: one Keras callback for a plain ``model.fit``.

Each run lives in ``runs/<model name>-<key>``, keyed by a hash of everything that decides
it (``recipe``), backed up after every epoch, and resumed by running the same cell again.
docs/resume.md: the folder, the guarantees, and why not Keras's ``BackupAndRestore``.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import re
import sys
import time
import weakref
from pathlib import Path

import keras
import numpy as np

from . import config, runfiles
from .batches import Batches
from .errors import DnnstepsError
from .runfiles import LOG_FILE, MODEL_FILE, atomic_write, fingerprint

RUN_FILE = "run.json"
KEEP_BACKUPS = 2
SCHEDULE_EPOCHS = 200  # a schedule is keyed by its rates over this many epochs
_OURS = re.compile(
    r"(run\.json|log\.csv|model\.keras|backup-\d+\.(weights\.h5|json)|\.lock|\.tmp-.*)"
)
_LOCKS: dict[str, object] = {}  # run folder -> this process's lock
# An optimizer's settings when it first trains (a schedule changes its rate as it goes),
# and each model's last recipe with its starting weights. Weak: nothing is kept alive.
_COMPILED = weakref.WeakKeyDictionary()
_STARTS = weakref.WeakKeyDictionary()
# Keras's callbacks that change what training does, besides a schedule
_CHANGERS = (keras.callbacks.ReduceLROnPlateau, keras.callbacks.EarlyStopping,
             keras.callbacks.SwapEMAWeights)  # fmt: skip
_SETTINGS = ("monitor", "factor", "patience", "min_delta", "min_lr", "cooldown", "mode",
             "baseline", "restore_best_weights", "start_from_epoch")  # fmt: skip


def _without_names(value):
    """A config without layer names, so re-running a model cell finds its run."""
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, list):
        return [_without_names(v) for v in value]
    return value


def schedule_rates(schedule, learning_rate: float, epochs: int = SCHEDULE_EPOCHS):
    """The rates ``LearningRateScheduler(schedule)`` sets, epoch by epoch, while it can."""
    rates = []
    for epoch in range(epochs):
        try:
            try:
                learning_rate = float(schedule(epoch, learning_rate))
            except TypeError:
                learning_rate = float(schedule(epoch))
        except Exception:  # noqa: BLE001 - a schedule defined only over its epochs
            break
        rates.append(learning_rate)
    return rates


def _effect(callback, learning_rate: float):
    """What a callback does to training, as key material; ``None``: it only watches."""
    if isinstance(callback, keras.callbacks.LearningRateScheduler):
        return ["LearningRateScheduler", schedule_rates(callback.schedule, learning_rate)]
    if isinstance(callback, _CHANGERS):
        settings = {k: getattr(callback, k) for k in _SETTINGS if hasattr(callback, k)}
        return [type(callback).__name__, settings]
    return None


def seed_states(model) -> list:
    """The state variables of the model's random generators (dropout's)."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


def recipe(model, batches: Batches, callbacks=()) -> dict:
    """Everything but the starting weights that decides what ``fit`` will train."""
    optimizer = model.optimizer
    compiled = _COMPILED.setdefault(optimizer, _without_names(optimizer.get_config()))
    settings = model.get_compile_config() or {}
    rate = float(compiled.get("learning_rate") or 0.0)
    compile_keys = ("loss", "loss_weights", "metrics", "weighted_metrics")
    # A smoke run stops after two epochs: it never shares a folder with a full run, even
    # on the same images (a full run's keys stay as they were).
    smoke = {"smoke": True} if config.smoke_mode() else {}
    return {
        **smoke,
        "layers": _without_names(model.get_config()),
        "optimizer": [type(optimizer).__name__, compiled],
        **{k: settings.get(k) for k in compile_keys},
        "batches": [batches.batch_size, batches.seed, fingerprint(batches.x, batches.y)],
        "backend": keras.backend.backend(),
        "callbacks": [e for c in callbacks if (e := _effect(c, rate)) is not None],
    }


def _start_of(model, recipe_key: str) -> tuple[str, list]:
    """The weights this recipe started from if it was the model's last; else the current."""
    last = _STARTS.get(model)
    if last is None or last[0] != recipe_key:
        arrays = [np.asarray(keras.ops.convert_to_numpy(v)) for v in
                  [*model.weights, *seed_states(model)]]  # fmt: skip
        last = _STARTS[model] = (recipe_key, fingerprint(*arrays), arrays)
    return last[1], last[2]


def _fit_callbacks(callback) -> list:
    """The callbacks of the starting ``fit``: Keras passes no list, so find its caller's."""
    frame = inspect.currentframe()
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList) and callback in owner.callbacks:
            return list(owner.callbacks)
        frame = frame.f_back
    print("Could not see model.fit's other callbacks: a changed schedule will not "
          "start a new run folder; pass fresh=True after changing one.")  # fmt: skip
    return []


def _refuse_foreign(folder: Path) -> list[str]:
    """The names in ``folder``; refuses a folder that holds anything dnnsteps did not write."""
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    foreign = [n for n in names if not _OURS.fullmatch(n)]
    only_hidden = all(n.startswith(".") for n in names)
    if foreign or (names and RUN_FILE not in names and not only_hidden):
        shown = ", ".join(sorted(foreign or names)[:3])
        raise DnnstepsError(f"{folder} is not a dnnsteps run folder (it holds {shown}); "
                            "choose another folder.")  # fmt: skip
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
        raise DnnstepsError(f"{run_file} is unreadable ({type(exc).__name__}); start the run "
                            "over with fresh=True (--fresh), which deletes only dnnsteps's "
                            "own files.") from None  # fmt: skip
    if found != key:
        raise DnnstepsError(f"{folder} holds another run (a different model, recipe or data); use "
                            "another folder, or fresh=True (--fresh) to start over there.")  # fmt: skip


def _lock(folder: Path):
    from filelock import FileLock, Timeout

    lock = _LOCKS.setdefault(str(folder), FileLock(str(folder / ".lock"), timeout=0))
    try:
        lock.acquire()
    except Timeout:
        raise DnnstepsError(f"{folder} is being trained by another process; wait for it "
                            "or stop it.") from None  # fmt: skip
    return lock


def _backups(folder: Path) -> list[int]:
    matches = (re.match(r"backup-(\d+)\.", p.name) for p in folder.glob("backup-*"))
    return sorted({int(m[1]) for m in matches if m}, reverse=True)


def _read_backup(folder: Path, epoch: int) -> dict:
    """A backup's commit record, checked against its weights; raises ValueError if torn."""
    meta = json.loads((folder / f"backup-{epoch}.json").read_text(encoding="utf-8"))
    if meta["epoch"] != epoch or len(meta["rows"]) != epoch:
        raise ValueError("inconsistent")
    if runfiles.sha256(folder / f"backup-{epoch}.weights.h5") != meta["sha256"]:
        raise ValueError("weights do not match")
    return meta


def _assign(variables, values) -> None:
    for variable, value in zip(variables, values):
        variable.assign(np.asarray(value, dtype=variable.dtype))


def _restore(model, folder: Path, start: list) -> dict:
    """Load the newest whole backup (else the start weights) into ``model``; its record."""
    for epoch in _backups(folder):
        try:
            meta = _read_backup(folder, epoch)
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(folder / f"backup-{epoch}.weights.h5")
            _assign(seed_states(model), meta.get("seeds", []))
            return meta
        except (OSError, ValueError, KeyError, TypeError):
            print(f"The backup of epoch {epoch} in {folder} is incomplete; using the one "
                  "before.")  # fmt: skip
    _assign([*model.weights, *seed_states(model)], start)
    return {"epoch": 0, "rows": [], "seconds": [], "printed": []}


class _Tee(io.StringIO):
    """Keeps what is printed while passing it on to the real output."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream

    def write(self, text):
        self.stream.write(text)
        return super().write(text)

    def flush(self):
        self.stream.flush()


class ResumableTraining(keras.callbacks.ProgbarLogger):
    """Backs up every epoch and resumes after the last finished one; as the progress
    printer (Keras then adds no other), it keeps each epoch's lines for the hand-in."""

    def __init__(self, batches: Batches, runs="runs", fresh=False, folder=None):
        super().__init__()
        self.batches, self.runs, self.fresh = batches, Path(runs), fresh
        self.folder = Path(folder) if folder is not None else None
        self.smoke = config.smoke_mode()

    def set_params(self, params):
        super().set_params(params)  # ProgbarLogger's keeps only what it prints with
        self.params = params

    def _printing(self, method, *args):
        with contextlib.redirect_stdout(_Tee(sys.stdout)) as tee:
            method(*args)
        return tee.getvalue()

    def _run_folder(self) -> tuple[Path, str, list]:
        if self.params.get("steps") not in (None, len(self.batches)):
            raise DnnstepsError("resumable(data=...) must be the Batches that model.fit trains on: "
                                f"fit has {self.params['steps']} batches per epoch, data= has "
                                f"{len(self.batches)}.")  # fmt: skip
        wanted = fingerprint(recipe(self.model, self.batches, _fit_callbacks(self)))
        start_key, start = _start_of(self.model, wanted)
        key = fingerprint(wanted, start_key)[:12]
        return self.folder or self.runs / f"{self.model.name}-{key}", key, start

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.run_dir, key, start = self._run_folder()
        epochs = self.params["epochs"]
        self.goal = min(epochs, config.SMOKE_EPOCHS) if self.smoke else epochs
        names = _refuse_foreign(self.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.lock = _lock(self.run_dir)
        try:
            _claim(self.run_dir, key, names, self.fresh)
            self.fresh = False  # only the first fit call starts over
            self.state = _restore(self.model, self.run_dir, start)
            done = self.state["epoch"]
            if done > self.goal:
                raise DnnstepsError(f"{self.run_dir} already has {done} epochs; ask for at least "
                                    f"{done}, or start over with fresh=True (--fresh).")  # fmt: skip
            atomic_write(self.run_dir / LOG_FILE, runfiles.log_text(self.state["rows"]))
            if done < self.goal:  # a model.keras of fewer epochs would outlive a kill
                (self.run_dir / MODEL_FILE).unlink(missing_ok=True)
        except BaseException:
            self.lock.release(force=True)
            raise
        self._announce(done, epochs)

    def _announce(self, done: int, epochs: int) -> None:
        """Say what is loaded or resumed; Keras's fit then starts after ``done``."""
        self.trained = False
        if done == self.goal:
            last = self.state["rows"][-1].get("val_accuracy", float("nan"))
            print(f"Loaded the finished run in {self.run_dir} ({done} epochs, last val_accuracy "
                  f"{last:.4f}) instead of training it again; fresh=True retrains it.")  # fmt: skip
            self.model._initial_epoch = epochs  # read by fit right after this call
        elif done:
            print(f"Resuming {self.run_dir} after epoch {done} of {self.goal}.")
            self.model._initial_epoch = done

    def on_epoch_begin(self, epoch, logs=None):
        self.model._initial_epoch = None  # fit has read it; an interrupted fit leaves none
        self.batches.epoch = epoch  # this epoch's order of the batches
        self.started = time.perf_counter()
        self.printed = self._printing(super().on_epoch_begin, epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if batch == 0:
            self._check_order()

    def _check_order(self) -> None:
        if not self.batches.in_order():
            raise DnnstepsError("model.fit reordered the batches: pass shuffle=False (Batches "
                                "shuffles them itself, from its seed and the epoch).")  # fmt: skip

    def on_epoch_end(self, epoch, logs=None):
        self._check_order()
        printed = self.printed + self._printing(super().on_epoch_end, epoch, logs)
        row = {"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}}
        if "learning_rate" not in row:
            row["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
        state = self.state
        state["rows"].append(row)
        state["seconds"].append(round(time.perf_counter() - self.started, 2))
        state.setdefault("printed", []).append(printed)
        state["seeds"] = [keras.ops.convert_to_numpy(v).tolist()
                          for v in seed_states(self.model)]  # fmt: skip
        self._commit(epoch + 1)
        self.trained = True
        if epoch + 1 >= self.goal:
            self.model.stop_training = True  # the smoke subset stops early

    def _commit(self, n: int) -> None:
        """Weights, then the commit record, then the log; then drop old backups."""
        state = self.state
        state["epoch"] = n
        weights = self.run_dir / f"backup-{n}.weights.h5"
        runfiles.write_with(weights, self.model.save_weights)
        state["sha256"] = runfiles.sha256(weights)
        atomic_write(self.run_dir / f"backup-{n}.json", json.dumps(state))
        atomic_write(self.run_dir / LOG_FILE, runfiles.log_text(state["rows"]))
        for old in _backups(self.run_dir)[KEEP_BACKUPS:]:
            for path in self.run_dir.glob(f"backup-{old}.*"):
                path.unlink()

    def on_train_end(self, logs=None):
        try:
            model_file = self.run_dir / MODEL_FILE
            finished = self.state["epoch"] == self.goal
            if finished and (self.trained or not model_file.exists()):
                runfiles.write_with(model_file, self.model.save)
            self.model.history = self._whole_history()
        finally:
            self.model._initial_epoch = None
            self.lock.release(force=True)

    def _whole_history(self) -> keras.callbacks.History:
        """Every epoch of the run and the lines Keras printed, also from before a resume."""
        history = keras.callbacks.History()
        history.set_model(self.model)
        history.set_params(self.params)
        rows = self.state["rows"]
        history.epoch = [row["epoch"] for row in rows]
        keys = sorted({k for row in rows for k in row} - {"epoch"})
        history.history = {k: [row.get(k) for row in rows] for k in keys}
        history.run_dir = str(self.run_dir)
        history.printed = list(self.state.get("printed", []))
        seconds = self.state["seconds"]
        history.seconds_per_epoch = sum(seconds) / len(seconds) if seconds else None
        return history


def resumable(runs="runs", data=None, fresh: bool = False, folder=None):
    """The callback that makes ``model.fit`` survive a dead session. ``runs``: the folder
    of every run (in Colab, on a mounted Drive); ``data``: the ``Batches`` that ``fit``
    trains on; ``fresh``: start over; ``folder``: exactly this folder (``--run-dir``)."""
    if not isinstance(data, Batches):
        raise DnnstepsError("resumable(data=...) takes the Batches that model.fit trains on, e.g. "
                            "train = Batches(x_train, y_train, batch_size=BATCH_SIZE, seed=SEED).")  # fmt: skip
    return ResumableTraining(data, runs, fresh, folder)
