"""What a run reached, judged against its step's target and set beside the step before:
``record`` prints (and in a full run of the tooling, saves) ``results/<NOTEBOOK>.json``;
``compare`` reads the previous notebook's, from a clone or as the package ships it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import config
from .errors import DnnstepsError

SCHEMA = 3
RECORD_ENV = "DNNSTEPS_RECORD"


def as_printed(value) -> float:
    """An accuracy as Keras prints it (0.99419999: 0.9942), as every target compares it."""
    return round(float(value), 4)


def first_epoch_at(curve, target: float) -> int | None:
    """The first epoch (from 1) whose accuracy, as printed, reaches ``target``; else None."""
    return next((i for i, v in enumerate(curve, 1) if as_printed(v) >= target), None)


def curves(history) -> dict[str, list[float]]:
    """Per-metric lists from a Keras History, its dict, or log rows."""
    history = getattr(history, "history", history)
    if isinstance(history, list):
        keys = {k for row in history for k in row} - {"epoch"}
        history = {k: [row.get(k) for row in history] for k in keys}
    return {k: [float(v) for v in values] for k, values in history.items()}


def best_and_final(history) -> str:
    """The best epoch and the last one, side by side: the last is the honest figure."""
    val = [as_printed(v) for v in curves(history)["val_accuracy"]]
    best = max(range(len(val)), key=val.__getitem__)
    return (f"best val accuracy {val[best]:.2%} at epoch {best + 1} of {len(val)}; "
            f"last epoch {val[-1]:.2%}")  # fmt: skip


def _recipe(step: str):
    from . import models  # here, so the README's tools read results without Keras

    return models.get(step)[1]


def _best_by_target_epoch(recipe, val) -> float:
    """The best accuracy, as printed, up to the epoch the target must be reached by."""
    return max((as_printed(v) for v in val[: recipe.target_epoch or None]), default=0.0)


def missed(step: str, val: list[float]) -> str | None:
    """Why ``val`` misses step's target, or None when it meets it."""
    recipe, val = _recipe(step), [as_printed(v) for v in val]
    by, best = recipe.target_epoch or len(val), _best_by_target_epoch(recipe, val)
    if not val or best < recipe.target:
        return f"{recipe.target:.2%} not reached by epoch {by} (best {best:.2%})"
    if recipe.hold_last:
        lowest = min(val[-recipe.hold_last :])
        if lowest < recipe.target:
            return f"{recipe.target:.2%} not held over the last {recipe.hold_last} epochs (lowest {lowest:.2%})"
    return None


# A course figure is one run of the course's; ours differ seed to seed by about 0.15
# points (DNN8's five seeds end between 99.42% and 99.53%). A full run fails a step
# that falls further below its course figure than this: broken training, not a seed.
COURSE_FIGURE_SLACK = 0.003


def verdict(step: str, history) -> bool:
    """Print whether the run met its step's target; in strict mode a real miss raises:
    any miss of a rule held over several epochs (DNN8), and a course figure missed by
    more than ``COURSE_FIGURE_SLACK``."""
    recipe = _recipe(step)
    if config.smoke_mode():
        print(f"smoke run: the {recipe.target:.2%} target is judged in full runs only.")
        return True
    val = curves(history)["val_accuracy"]
    why = missed(step, val)
    if why is None:
        print(f"{step}: target met ({recipe.target:.2%}).")
        return True
    short = recipe.target - _best_by_target_epoch(recipe, val)
    if config.strict() and (recipe.hold_last or short > COURSE_FIGURE_SLACK):
        raise DnnstepsError(f"{step}: target missed: {why}.")
    if not recipe.hold_last:
        why += (f"; {short * 10_000:.0f} of 10,000 test images short of the course's "
                "single run")  # fmt: skip
    print(f"{step}: target missed: {why}.")
    return False


def seeds_table(runs: dict[int, list[float]], step: str) -> str:
    """One row per seed: the last epochs the hold rule reads, their lowest, the verdict."""
    recipe = _recipe(step)
    last = recipe.hold_last or 1
    lines = [f"| seed | last {last} epochs | lowest | holds {recipe.target:.2%} |"]
    lines.append("| ---: | --- | ---: | --- |")
    for seed, val in runs.items():
        tail = " / ".join(f"{v:.2%}" for v in val[-last:])
        holds = "yes" if missed(step, val) is None else "no"
        lines.append(f"| {seed} | {tail} | {min(val[-last:]):.2%} | {holds} |")
    return "\n".join(lines)


def _record_dirs() -> list:
    """Where committed records may be: this clone's results/, else the package's copy."""
    from importlib import resources

    found = [Path.cwd().parent / "results", Path.cwd() / "results"]
    try:
        found.append(resources.files("dnnsteps.records"))
    except ModuleNotFoundError:  # an install made before the records were package data
        pass
    return found


def load_record(notebook: str) -> dict | None:
    for folder in _record_dirs():
        path = folder / f"{notebook}.json"
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
    return None


def compare(history, notebook: str, previous: str) -> str:
    """This run beside the previous notebook's committed full run."""
    mine = curves(history)
    rows = [("this run", mine["val_accuracy"], mine.get("accuracy", []))]
    before = load_record(previous)
    if before is None:
        return (f"No record of {previous} here (its full run writes "
                f"results/{previous}.json).")  # fmt: skip
    rows.insert(0, (previous.split("_")[0], before["val_accuracy"], before["accuracy"]))
    lines = ["| run | epochs | best val acc | last val acc | last train acc | gap |"]
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, val, train in rows:
        val, train = [as_printed(v) for v in val], [as_printed(v) for v in train]
        gap = f"{(train[-1] - val[-1]) * 100:+.2f}" if train else ""
        lines.append(f"| {name} | {len(val)} | {max(val):.2%} | {val[-1]:.2%} | "
                     f"{train[-1]:.2%} | {gap} |")  # fmt: skip
    if before.get("stale"):
        lines.append(f"\n({previous}'s record is from an older version of that notebook.)")
    return "\n".join(lines)


def record(notebook, model, history, test_accuracy, test_loss, seeds=None) -> dict:
    """Print this run's figures; in a full run of the tooling, save them for the tables."""
    from . import models
    from .receptive_field import macs_per_image
    from .runfiles import atomic_write

    recipe = models.RECIPES.get(model.name)
    recipe_keys = "epochs batch_size learning_rate target target_epoch hold_last".split()
    found = curves(history)
    value = {
        "schema": SCHEMA,
        "notebook": notebook,
        "step": model.name,
        "mode": "smoke" if config.smoke_mode() else "full",
        "params": int(model.count_params()),
        "macs_per_image": macs_per_image(model),
        "recipe": {k: getattr(recipe, k) for k in recipe_keys} if recipe else None,
        **{k: found.get(k, []) for k in ("accuracy", "val_accuracy", "loss", "val_loss")},
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "seconds_per_epoch": getattr(history, "seconds_per_epoch", None),
        "device": config.device_name(),
        "versions": config.versions(),
        "stale": False,
    }
    if seeds:
        value["seeds"] = {str(k): list(v) for k, v in seeds.items()}
    print(f"{notebook}: {value['params']:,} parameters, {best_and_final(history)}")
    print(f"model.evaluate: test accuracy {test_accuracy:.2%}, loss {test_loss:.4f}")
    folder = os.environ.get(RECORD_ENV)
    if folder and value["mode"] == "full":
        atomic_write(Path(folder) / f"{notebook}.json", json.dumps(value, indent=1) + "\n")
    return value
