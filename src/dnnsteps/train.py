"""One ``fit`` for every step: seeded, resumable, one log line per epoch.

Training runs one Keras ``fit`` call per epoch over a permutation drawn from
``(seed, epoch)``. That makes the data order a function of the epoch number
alone, so a run killed after epoch k and resumed from its backup continues
exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from . import config, data, models
from .config import default_strategy, seed_everything
from .errors import ConfigError, DataError, is_integer
from .models import Recipe
from .records import RunSummary
from .rundir import RunDir, architecture_id, crash_point, settings_id, sha256

RUNS_ENV = "DNNSTEPS_RUNS"


@dataclass
class TrainResult:
    """What ``fit`` returns: the trained model, its Keras History and a summary."""

    model: keras.Model
    history: keras.callbacks.History
    summary: dict
    run_dir: Path


class EpochLog(keras.callbacks.Callback):
    """Prints one line per epoch and records it in ``rows`` and the run's CSV log."""

    def __init__(self, run: RunDir, total_epochs: int, verbose: bool = True, rows=()):
        super().__init__()
        self.run, self.total, self.verbose = run, total_epochs, verbose
        self.rows = list(rows)
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {
            "epoch": epoch + 1,
            "loss": float(logs.get("loss", np.nan)),
            "accuracy": float(logs.get("accuracy", np.nan)),
            "val_loss": float(logs.get("val_loss", np.nan)),
            "val_accuracy": float(logs.get("val_accuracy", np.nan)),
            "lr": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "seconds": round(time.perf_counter() - self._start, 2),
        }
        self.rows.append(row)
        self.run.write_log(self.rows)
        if self.verbose:
            print(format_epoch(row, self.total), flush=True)


class BackUpEpoch(keras.callbacks.Callback):
    """After each epoch: ``best.keras`` if validation accuracy improved, then the
    weights and optimizer state, then the manifest that names them (all atomic)."""

    def __init__(self, run: RunDir, log: EpochLog, epochs: int):
        super().__init__()
        self.run, self.log, self.epochs = run, log, epochs
        self.best = max((r["val_accuracy"] for r in log.rows), default=None)

    def on_epoch_end(self, epoch, logs=None):
        current = self.log.rows[-1]["val_accuracy"]
        if self.best is None or current > self.best:
            self.best = current
            self.run.save_keras(self.model, self.run.best_model, weights_only=False)
        self.run.back_up(self.model, self.log.rows, self.epochs)


class Continuous(keras.callbacks.Callback):
    """The caller's callbacks, shown one continuous training.

    Training runs one Keras ``fit`` per epoch; this proxy forwards every epoch and
    batch event but calls ``on_train_begin``/``on_train_end`` once, so stateful
    callbacks (``EarlyStopping``) count across epochs. Their state is not saved:
    after a resume they start counting again.
    """

    def __init__(self, callbacks, model, epochs: int):
        super().__init__()
        self.inner = keras.callbacks.CallbackList(list(callbacks), model=model)
        self.epochs = epochs

    def set_model(self, model):
        super().set_model(model)
        self.inner.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.inner.set_params({**params, "epochs": self.epochs})

    def begin(self):
        self.inner.on_train_begin()

    def end(self):
        self.inner.on_train_end()


def _forward(name):
    def method(self, *args, **kwargs):
        return getattr(self.inner, name)(*args, **kwargs)

    method.__name__ = name
    return method


for _name in (
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
):
    setattr(Continuous, _name, _forward(_name))


def check_callbacks(callbacks) -> list:
    """The caller's callbacks, or one clear error for those ``fit`` cannot honour."""
    callbacks = list(callbacks or ())
    for cb in callbacks:
        if not isinstance(cb, keras.callbacks.Callback):
            raise ConfigError(
                f"callbacks must be keras.callbacks.Callback objects, got {cb!r}."
            )
        if isinstance(cb, keras.callbacks.BackupAndRestore):
            raise ConfigError(
                "fit backs up every epoch itself (and resumes from it); "
                "remove the BackupAndRestore callback."
            )
        if isinstance(cb, keras.callbacks.EarlyStopping) and cb.restore_best_weights:
            raise ConfigError(
                "EarlyStopping(restore_best_weights=True) is not supported: a run's final "
                "weights are its last epoch's, and best.keras holds the best epoch. "
                "Use EarlyStopping without restore_best_weights and load best.keras."
            )
    return callbacks


def _all_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _all_layers(layer)


class ReseedRandomLayers(keras.callbacks.Callback):
    """Sets every random layer's (dropout, augmentation) RNG from ``(seed, epoch)``.

    Keras keeps those RNG states outside the saved weights; deriving them from
    the epoch makes a resumed epoch draw the same masks as an uninterrupted one.
    """

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def _generators(self):
        for layer in _all_layers(self.model):
            for value in vars(layer).values():
                if isinstance(value, keras.random.SeedGenerator):
                    yield value

    def on_epoch_begin(self, epoch, logs=None):
        for i, generator in enumerate(self._generators()):
            start = np.random.default_rng([self.seed, epoch, i]).integers(2**30)
            dtype = keras.backend.standardize_dtype(generator.state.dtype)
            generator.state.assign(np.array([start, 0], dtype=dtype))


def format_epoch(row: dict, total: int) -> str:
    return (
        f"Epoch {row['epoch']:>2}/{total} - {row['seconds']:.0f}s"
        f" - loss: {row['loss']:.4f} - accuracy: {row['accuracy']:.4f}"
        f" - val_loss: {row['val_loss']:.4f} - val_accuracy: {row['val_accuracy']:.4f}"
        f" - lr: {row['lr']:.6g}"
    )


SEED_LIMIT = 2**32  # NumPy's global seed (set by keras.utils.set_random_seed) must fit


def check_seed(seed) -> int:
    if not is_integer(seed):
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}.")
    if not 0 <= seed < SEED_LIMIT:
        raise ConfigError(
            f"seed must be an integer >= 0 and below 2**32 ({SEED_LIMIT - 1}), got {seed}."
        )
    return int(seed)


def default_run_dir(name: str, seed: int, smoke: bool, model=None, recipe=None) -> Path:
    """``runs/<name>-seed<seed>[-smoke]-<settings>``: one folder per variant, where
    ``<settings>`` hashes the architecture and recipe (epochs aside, so more epochs
    extend a run). Without ``model``/``recipe``, the step's own are used."""
    if recipe is None:
        recipe = models.recipe(name)
    if model is None:
        model = models.get_step(name).build(recipe)
    root = Path(os.environ.get(RUNS_ENV, "runs"))
    settings = settings_id(architecture_id(model), dataclasses.asdict(recipe))
    return root / f"{name}-seed{seed}{'-smoke' if smoke else ''}-{settings}"


def _given_data(data_arg):
    """A caller's ``data=``, checked and preprocessed (None: MNIST, loaded when needed)."""
    if data_arg is None:
        return None
    try:
        (x_train, y_train), (x_test, y_test) = data_arg
    except (TypeError, ValueError):
        raise ConfigError(
            "data must be ((x_train, y_train), (x_test, y_test)), like load_mnist()."
        ) from None
    data.validate_arrays(x_train, y_train, "train")
    data.validate_arrays(x_test, y_test, "test")
    return _non_empty(
        (
            (data.preprocess(x_train), np.asarray(y_train, "int32")),
            (data.preprocess(x_test), np.asarray(y_test, "int32")),
        )
    )


def _non_empty(arrays):
    for (x, _), split in zip(arrays, ("training", "test")):
        if len(x) == 0:
            raise DataError(f"the {split} split is empty; training needs images in both.")
    return arrays


def prepare_data(given, smoke: bool, seed: int):
    """The arrays to train on: the caller's, or MNIST (the smoke subset in smoke mode)."""
    if given is not None:
        return given
    return _non_empty(data.load_dataset(smoke=smoke, seed=seed))


def _resolve(model, step, recipe, overrides):
    """Work out (name, step-or-None, recipe) from what the caller gave."""
    if isinstance(model, str):
        step = step or model
    elif not isinstance(model, keras.Model):
        raise ConfigError(f"model must be a step name or a keras.Model, got {model!r}.")
    if recipe is None:
        if step is None:
            raise ConfigError("training a custom model needs recipe=Recipe(...) or step=.")
        recipe = models.recipe(step)
    try:
        recipe = dataclasses.replace(recipe, **overrides)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
    name = step or (model.name if isinstance(model, keras.Model) else str(model))
    return name, recipe


@dataclass(frozen=True)
class Plan:
    """Everything ``fit`` settled before touching disk or data."""

    name: str
    recipe: Recipe
    seed: int
    smoke: bool


def resolve(
    model,
    step=None,
    seed=0,
    epochs=None,
    batch_size=None,
    learning_rate=None,
    recipe=None,
    smoke=None,
) -> Plan:
    """Settings from the caller's arguments, validated (nothing built or written)."""
    seed = check_seed(seed)
    smoke = config.smoke_mode() if smoke is None else smoke
    overrides = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if smoke and epochs is None:
        overrides["epochs"] = config.SMOKE_EPOCHS
    name, recipe = _resolve(model, step, recipe, overrides)
    return Plan(name, recipe, seed, bool(smoke))


def summarise(rows: list[dict], recipe: Recipe, keras_model, **extra) -> RunSummary:
    """Best validation accuracy, first epoch at target, speed, from the epoch log."""
    val = [r["val_accuracy"] for r in rows]
    best = int(np.argmax(val)) if val else None
    at_target = [r["epoch"] for r in rows if r["val_accuracy"] >= recipe.target_accuracy]
    seconds = [r["seconds"] for r in rows]
    to_target = round(float(np.sum(seconds[: at_target[0]])), 1) if at_target else None
    return RunSummary(
        params=int(keras_model.count_params()),
        epochs=len(rows),
        best_val_accuracy=float(val[best]) if val else None,
        best_epoch=int(rows[best]["epoch"]) if val else None,
        final_val_accuracy=float(val[-1]) if val else None,
        final_train_accuracy=float(rows[-1]["accuracy"]) if rows else None,
        target_accuracy=recipe.target_accuracy,
        target_epoch=recipe.target_epoch,
        first_epoch_at_target=at_target[0] if at_target else None,
        seconds_to_target=to_target,
        seconds_per_epoch=round(float(np.mean(seconds)), 2) if seconds else None,
        total_seconds=round(float(np.sum(seconds)), 1),
        val_accuracy_curve=[round(v, 6) for v in val],
        recipe=dataclasses.asdict(recipe),
        **extra,
    )


def history_from_rows(rows: list[dict]) -> keras.callbacks.History:
    history = keras.callbacks.History()
    history.epoch = [r["epoch"] - 1 for r in rows]
    history.history = {
        key: [r[key] for r in rows]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
    }
    return history


def _steps_per_execution(strategy) -> int:
    """Many steps per call on one device; one per call across replicas (see config)."""
    return config.STEPS_PER_EXECUTION if strategy.num_replicas_in_sync == 1 else 1


def _compile(model, recipe: Recipe, strategy) -> None:
    with strategy.scope():
        model.compile(
            optimizer=keras.optimizers.Adam(recipe.learning_rate),
            loss=keras.losses.CategoricalCrossentropy(
                label_smoothing=recipe.label_smoothing
            ),
            metrics=["accuracy"],
            steps_per_execution=_steps_per_execution(strategy),
        )
        model.optimizer.build(model.trainable_variables)


def _is_finished(manifest: dict | None, epochs: int) -> bool:
    """All asked epochs backed up, or a callback stopped the run short of them."""
    if not manifest:
        return False
    return manifest["epoch"] == epochs or (
        bool(manifest.get("stopped")) and epochs <= manifest["epochs"]
    )


def _refuse_fewer_epochs(run: RunDir, epochs: int) -> None:
    done = run.backed_up_epochs()
    if done > epochs:
        raise ConfigError(
            f"{run.path} already holds {done} epochs; asking for {epochs} would discard "
            f"trained epochs. Ask for {done} or more, or use another run_dir (or "
            "fresh=True) to train a shorter run."
        )


def load_finished(model, plan: Plan, run: RunDir, verbose: bool = True):
    """The finished run in ``run`` loaded into ``model`` (compiled), or None.

    Needs no data: the weights, summary and log were written together and are
    checked against each other (a mismatch means "not finished": train it out).
    """
    manifest = run.read_manifest()
    summary = run.finished_summary()
    if summary is None or not _is_finished(manifest, plan.recipe.epochs):
        return None
    try:
        model.load_weights(run.final_weights)
    except Exception:  # noqa: BLE001 - an unloadable file means: finish it again
        return None
    rows = [r for r in manifest["rows"] if r["epoch"] <= manifest["epoch"]]
    if run.read_log() != rows:
        run.write_log(rows)
    if verbose:
        print(f"{run.path}: already trained ({summary['epochs']} epochs); loaded it.")
        for row in rows:
            print(format_epoch(row, plan.recipe.epochs))
    return TrainResult(model, history_from_rows(rows), summary, run.path)


def train(
    model,
    plan: Plan,
    run: RunDir,
    arrays,
    strategy,
    callbacks=(),
    tensorboard=False,
    verbose=True,
) -> TrainResult:
    """Train ``model`` (compiled) from the run's last good backup to its last epoch,
    then save the final weights and summary from that same state."""
    recipe, seed = plan.recipe, plan.seed
    (x_train, y_train), (x_test, y_test) = arrays
    done, rows, manifest = run.restore(model, recipe.epochs)
    if done and verbose:
        print(f"Resuming {run.path} after epoch {done}/{recipe.epochs}.")
        for row in rows:
            print(format_epoch(row, recipe.epochs))
    log = EpochLog(run, recipe.epochs, verbose, rows)
    keras_callbacks = [
        keras.callbacks.LearningRateScheduler(recipe.lr_schedule()),
        ReseedRandomLayers(seed),
        log,
    ]
    keras_callbacks.append(BackUpEpoch(run, log, recipe.epochs))
    # The caller's callbacks see each epoch once it is safely backed up.
    user = Continuous(callbacks, model, recipe.epochs) if callbacks else None
    if user:
        keras_callbacks.append(user)
    if tensorboard:
        keras_callbacks.append(keras.callbacks.TensorBoard(str(run.path / "tensorboard")))

    if not _is_finished(manifest, recipe.epochs):
        run.invalidate_results()
        y_train_hot = keras.utils.to_categorical(y_train, 10)
        y_test_hot = keras.utils.to_categorical(y_test, 10)
        if user:
            user.set_params({"epochs": recipe.epochs, "verbose": 0})
            user.begin()
        for epoch in range(done, recipe.epochs):
            order = np.random.default_rng([seed, epoch]).permutation(len(x_train))
            model.fit(
                x_train[order],
                y_train_hot[order],
                batch_size=recipe.batch_size,
                initial_epoch=epoch,
                epochs=epoch + 1,
                shuffle=False,
                validation_data=(x_test, y_test_hot),
                callbacks=keras_callbacks,
                verbose=0,
            )
            if model.stop_training:  # a callback (e.g. EarlyStopping) ended the run
                run.mark_stopped()
                break
        if user:
            user.end()
    rows = log.rows
    extra = {
        "model": plan.name,
        "seed": seed,
        "mode": "smoke" if plan.smoke else "full",
        "train_size": int(len(x_train)),
        "test_size": int(len(x_test)),
        "device": config.device_name(),
        "strategy": type(strategy).__name__,
        "versions": config.versions(),
    }
    summary = summarise(rows, recipe, model, **extra)
    last = rows[-1]["epoch"]
    run.save_keras(
        model, run.final_weights, weights_only=True, crash="final-write", epoch=last
    )
    summary.final_weights_sha256 = sha256(run.final_weights)
    crash_point("final-saved", last)
    summary.save(run.summary_file)
    return TrainResult(model, history_from_rows(rows), summary.to_json(), run.path)


def fit(
    model="dnn8",
    *,
    step: str | None = None,
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    recipe: Recipe | None = None,
    smoke: bool | None = None,
    data=None,
    run_dir=None,
    fresh: bool = False,
    tensorboard: bool = False,
    strategy=None,
    callbacks=(),
    verbose: bool = True,
) -> TrainResult:
    """Train a step (by name) or a model with a step's recipe; resume if interrupted.

    Re-running the same call continues from the last backed-up epoch, and a
    finished run is loaded rather than retrained (``fresh=True`` starts over);
    asking a finished run for more epochs continues it from where it stopped.
    The default run directory follows the settings, so a changed model or
    recipe trains in its own folder.
    """
    plan = resolve(model, step, seed, epochs, batch_size, learning_rate, recipe, smoke)
    callbacks = check_callbacks(callbacks)
    given = _given_data(data)
    strategy = strategy or default_strategy()

    seed_everything(plan.seed)
    if isinstance(model, str):
        with strategy.scope():
            model = models.get_step(plan.name).build(plan.recipe)
    run = RunDir(
        run_dir or default_run_dir(plan.name, plan.seed, plan.smoke, model, plan.recipe)
    )
    run.refuse_foreign()
    run.ensure_writable()
    with run.locked():
        if not fresh:
            _refuse_fewer_epochs(run, plan.recipe.epochs)
        run.claim(
            {
                "model": plan.name,
                "architecture": architecture_id(model),
                "seed": plan.seed,
                "smoke": plan.smoke,
                "train_size": None if given is None else int(len(given[0][0])),
                "recipe": dataclasses.asdict(plan.recipe),
            },
            fresh=fresh,
        )
        _compile(model, plan.recipe, strategy)
        loaded = load_finished(model, plan, run, verbose)
        if loaded is not None:
            return loaded
        arrays = prepare_data(given, plan.smoke, plan.seed)
        return train(model, plan, run, arrays, strategy, callbacks, tensorboard, verbose)


def evaluate(model, smoke: bool | None = None, seed: int = 0) -> dict:
    """``model.evaluate`` on the MNIST test set (10,000 images; the subset in smoke mode)."""
    smoke = config.smoke_mode() if smoke is None else smoke
    _, (x_test, y_test) = data.load_dataset(smoke=smoke, seed=seed)
    result = model.evaluate(
        x_test,
        keras.utils.to_categorical(y_test, 10),
        batch_size=512,
        verbose=0,
        return_dict=True,
    )
    return {k: float(v) for k, v in result.items()}
