"""Step targets and the README results table, judged on hand-made records.

The numbers come from the steps' recipes, so a recipe change does not break these.
"""

import dataclasses
import json
import types

import keras
import pytest

from dnnsteps import models, results
from dnnsteps.errors import DnnstepsError
from dnnsteps.records import RunRecord, RunSummary


def recipe(name):
    return models.get_step(name).recipe


def step_with(rule):
    """The first step whose recipe uses a rule: each rule is tested where it applies."""
    return next(n for n in models.NAMES if getattr(recipe(n), rule))


def above(name):
    return round(recipe(name).target_accuracy + 0.001, 4)


def below(name):
    return round(recipe(name).target_accuracy - 0.0015, 4)


def record(name="dnn8", **changes):
    r = recipe(name)
    base = dict(
        model=name,
        mode="full",
        epochs=r.epochs,
        val_accuracy_curve=[above(name)] * r.epochs,
        best_val_accuracy=above(name),
        best_epoch=r.epochs - 1,
        first_epoch_at_target=r.target_epoch or 1,
        final_train_accuracy=0.995,
        test_accuracy=0.9954,
        params=14066,
        macs_per_image=1_000_000,
        target_accuracy=r.target_accuracy,
        seconds_per_epoch=40.0,
        device="CPU",
        wall_seconds=600.0,
    )
    base.update(changes)
    return base


def test_a_run_that_meets_its_targets():
    for name in models.NAMES:
        assert results.check_targets(record(name)) == [], name
    assert results.verdict(record(), strict=True) is True


def dipped(name):
    """Above target everywhere but the last epoch, inside the hold window."""
    return [above(name)] * (recipe(name).epochs - 1) + [below(name)]


def misses():
    """(step, changes, the problem's first words) for each rule a run can miss."""
    r = recipe("dnn8")
    timed, held = step_with("target_epoch"), step_with("hold_last")
    by = f"target not reached by epoch {recipe(timed).target_epoch}"
    return [
        ("dnn8", dict(epochs=3), f"ran 3 of the recipe's {r.epochs} epochs"),
        (
            "dnn8",
            dict(best_val_accuracy=below("dnn8")),
            f"best val accuracy {below('dnn8'):.2%} < target {r.target_accuracy:.2%}",
        ),
        (timed, dict(first_epoch_at_target=None), by),
        (timed, dict(first_epoch_at_target=recipe(timed).target_epoch + 1), by),
        (held, dict(val_accuracy_curve=dipped(held)), "val accuracy did not hold"),
    ]


@pytest.mark.parametrize("name, changes, problem", misses())
def test_missed_targets_are_named(name, changes, problem):
    problems = results.check_targets(record(name, **changes))
    assert any(p.startswith(problem) for p in problems), problems
    with pytest.raises(results.TargetMissed, match=f"{name}: "):
        results.verdict(record(name, **changes), strict=True)


def test_a_miss_is_reported_not_raised_outside_strict_mode(capsys):
    assert results.verdict(record(epochs=3), strict=False) is False
    assert "missed its target" in capsys.readouterr().out


def test_smoke_runs_only_need_to_learn():
    smoke = dict(mode="smoke", epochs=2, test_accuracy=0.1)
    assert results.check_targets(record(**smoke, final_train_accuracy=0.3)) == []
    assert results.check_targets(record(**smoke, final_train_accuracy=0.15)) == [
        "smoke training accuracy 15.00% is not above 20%"
    ]


def test_readme_table_is_replaced_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{results.TABLE_START}\nold\n{results.TABLE_END}\noutro\n")
    results.update_readme(readme, {"DNN8_x": record(best_val_accuracy=0.9991)})
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro") and text.endswith("outro\n")
    r = recipe("dnn8")
    row = (
        f"| DNN8_x | 14,066 | 1,000,000 | 99.91% ({r.epochs - 1}) | 99.54% "
        f"| {r.target_accuracy:.2%} | {r.target_epoch or 1} | yes | 40 |"
    )
    assert row in text


@pytest.mark.parametrize("text", ["no markers", f"{results.TABLE_START}\nno end marker"])
def test_readme_without_markers_is_refused(tmp_path, text):
    readme = tmp_path / "README.md"
    readme.write_text(text)
    with pytest.raises(DnnstepsError, match="markers"):
        results.update_readme(readme, {"DNN8_x": record()})
    assert readme.read_text() == text


def test_a_missed_target_is_shown_in_the_table():
    table = results.results_table({"DNN8_x": record(best_val_accuracy=below("dnn8"))})
    assert f"| no: best val accuracy {below('dnn8'):.2%} < target" in table


def test_finish_saves_the_record_beside_the_run(tmp_path, capsys, run_record):
    # One 1x1 convolution on 2x2 images: 4 positions x 1x1x1x3 weights = 12 MACs.
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Conv2D(3, 1)])
    own = {f.name for f in dataclasses.fields(RunSummary)}
    summary = {k: v for k, v in run_record(model="dnn8").items() if k in own}
    run = types.SimpleNamespace(summary=summary, model=model, run_dir=str(tmp_path))
    got = results.finish(run, {"accuracy": 0.99, "loss": 0.03}, "DNN8_x")
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved == got and saved["schema"] == RunRecord.SCHEMA
    assert RunRecord.load(tmp_path / "result.json").notebook == "DNN8_x"
    assert saved["macs_per_image"] == 12 and saved["notebook"] == "DNN8_x"
    assert (saved["test_accuracy"], saved["test_loss"]) == (0.99, 0.03)
    assert saved["best_val_accuracy"] == summary["best_val_accuracy"]
    assert saved["versions"]["keras"] == keras.__version__
    assert "notebook: DNN8_x (full mode)" in capsys.readouterr().out
