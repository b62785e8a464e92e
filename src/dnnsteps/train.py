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

from . import config, data, environment, models
from .distribute import default_strategy
from .errors import ConfigError
from .models import Recipe
from .rundir import RunDir, architecture_id
from .seeding import seed_everything

RUNS_ENV = "DNNSTEPS_RUNS"


@dataclass
class TrainResult:
    """What ``fit`` returns: the trained model, its Keras History and a summary."""

    model: keras.Model
    history: keras.callbacks.History
    summary: dict
    run_dir: Path


class EpochLog(keras.callbacks.Callback):
    """Prints one line per epoch and appends it to the run's CSV log."""

    def __init__(self, run: RunDir, total_epochs: int, verbose: bool = True):
        super().__init__()
        self.run, self.total, self.verbose = run, total_epochs, verbose
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
        self.run.append_log(row)
        if self.verbose:
            print(format_epoch(row, self.total), flush=True)


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


def default_run_dir(name: str, seed: int, smoke: bool) -> Path:
    root = Path(os.environ.get(RUNS_ENV, "runs"))
    return root / f"{name}{'-smoke' if smoke else ''}-seed{seed}"


def _prepare_data(data_arg, smoke: bool, seed: int):
    if data_arg is None:
        return data.load_dataset(smoke=smoke, seed=seed)
    try:
        (x_train, y_train), (x_test, y_test) = data_arg
    except (TypeError, ValueError):
        raise ConfigError(
            "data must be ((x_train, y_train), (x_test, y_test)), like load_mnist()."
        ) from None
    data.validate_arrays(x_train, y_train, "train")
    data.validate_arrays(x_test, y_test, "test")
    return (data.preprocess(x_train), np.asarray(y_train, "int32")), (
        data.preprocess(x_test),
        np.asarray(y_test, "int32"),
    )


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


def summarise(rows: list[dict], recipe: Recipe, keras_model, **extra) -> dict:
    """Best validation accuracy, first epoch at target, speed, from the epoch log."""
    val = [r["val_accuracy"] for r in rows]
    best = int(np.argmax(val)) if val else None
    at_target = [r["epoch"] for r in rows if r["val_accuracy"] >= recipe.target_accuracy]
    seconds = [r["seconds"] for r in rows]
    to_target = round(float(np.sum(seconds[: at_target[0]])), 1) if at_target else None
    return {
        "params": int(keras_model.count_params()),
        "epochs": len(rows),
        "best_val_accuracy": float(val[best]) if val else None,
        "best_epoch": int(rows[best]["epoch"]) if val else None,
        "final_val_accuracy": float(val[-1]) if val else None,
        "final_train_accuracy": float(rows[-1]["accuracy"]) if rows else None,
        "target_accuracy": recipe.target_accuracy,
        "target_epoch": recipe.target_epoch,
        "first_epoch_at_target": at_target[0] if at_target else None,
        "seconds_to_target": to_target,
        "seconds_per_epoch": round(float(np.mean(seconds)), 2) if seconds else None,
        "total_seconds": round(float(np.sum(seconds)), 1),
        "val_accuracy_curve": [round(v, 6) for v in val],
        "recipe": dataclasses.asdict(recipe),
        **extra,
    }


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

    Re-running the same call continues from the last finished epoch, and a
    finished run is loaded rather than retrained (``fresh=True`` starts over);
    asking a finished run for more epochs continues it from where it stopped.
    """
    smoke = config.smoke_mode() if smoke is None else smoke
    overrides = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if smoke and epochs is None:
        overrides["epochs"] = config.SMOKE_EPOCHS
    name, recipe = _resolve(model, step, recipe, overrides)
    strategy = strategy or default_strategy()

    seed_everything(seed)
    if isinstance(model, str):
        with strategy.scope():
            model = models.get_step(name).build(recipe)
    (x_train, y_train), (x_test, y_test) = _prepare_data(data, smoke, seed)

    run = RunDir(run_dir or default_run_dir(name, seed, smoke))
    run.ensure_writable()
    identity = {
        "model": name,
        "architecture": architecture_id(model),
        "seed": seed,
        "smoke": smoke,
        "train_size": int(len(x_train)),
        "recipe": dataclasses.asdict(recipe),
    }
    run.claim(identity, fresh=fresh)
    extra = {
        "model": name,
        "seed": seed,
        "mode": "smoke" if smoke else "full",
        "train_size": int(len(x_train)),
        "test_size": int(len(x_test)),
        "device": environment.device_name(),
        "strategy": type(strategy).__name__,
        "versions": environment.versions(),
    }

    with strategy.scope():
        model.compile(
            optimizer=keras.optimizers.Adam(recipe.learning_rate),
            loss=keras.losses.CategoricalCrossentropy(
                label_smoothing=recipe.label_smoothing
            ),
            metrics=["accuracy"],
            steps_per_execution=_steps_per_execution(strategy),
        )

    finished = run.read_summary()
    if finished is not None and finished["epochs"] < recipe.epochs:
        # More epochs asked of a finished run: extend it from its last backup.
        run.summary_file.unlink()
        finished = None
    if finished is not None and run.final_weights.exists():
        model.optimizer.build(model.trainable_variables)
        model.load_weights(run.final_weights)
        if verbose:
            print(f"{run.path}: already trained ({finished['epochs']} epochs); loaded it.")
            for row in run.read_log():
                print(format_epoch(row, recipe.epochs))
        return TrainResult(model, history_from_rows(run.read_log()), finished, run.path)

    done = run.backed_up_epochs()
    rows = run.truncate_log(done)
    if done and verbose:
        print(f"Resuming {run.path} after epoch {done}/{recipe.epochs}.")
        for row in rows:
            print(format_epoch(row, recipe.epochs))
    prior_best = max((r["val_accuracy"] for r in rows), default=None)
    keras_callbacks = [
        keras.callbacks.LearningRateScheduler(recipe.lr_schedule()),
        ReseedRandomLayers(seed),
        EpochLog(run, recipe.epochs, verbose),
        keras.callbacks.BackupAndRestore(str(run.backup_dir), delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(
            str(run.best_model),
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            initial_value_threshold=prior_best,
        ),
    ]
    if tensorboard:
        keras_callbacks.append(keras.callbacks.TensorBoard(str(run.path / "tensorboard")))
    keras_callbacks += list(callbacks)

    y_train_hot = keras.utils.to_categorical(y_train, 10)
    y_test_hot = keras.utils.to_categorical(y_test, 10)
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
            break

    rows = run.read_log()
    summary = summarise(rows, recipe, model, **extra)
    model.save_weights(run.final_weights)
    run.write_summary(summary)
    return TrainResult(model, history_from_rows(rows), summary, run.path)


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
