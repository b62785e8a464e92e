import pytest

from dnnsteps import results
from dnnsteps.errors import DnnstepsError


def record(**changes):
    base = dict(
        model="dnn8",
        mode="full",
        epochs=11,
        best_val_accuracy=0.9956,
        best_epoch=10,
        first_epoch_at_target=9,
        test_accuracy=0.9954,
        params=14066,
        macs_per_image=1_000_000,
        target_accuracy=0.9946,
        seconds_per_epoch=40.0,
        device="CPU",
        wall_seconds=600.0,
    )
    base.update(changes)
    return base


def test_a_run_that_meets_its_targets():
    assert results.check_targets(record()) == []


@pytest.mark.parametrize(
    "changes, problem",
    [
        (dict(epochs=3), "ran 3 of the recipe's 11 epochs"),
        (dict(best_val_accuracy=0.9931), "best val accuracy 99.31% < target 99.46%"),
        (dict(first_epoch_at_target=None), "target not reached by epoch 11 (first: None)"),
        (dict(first_epoch_at_target=12), "target not reached by epoch 11 (first: 12)"),
    ],
)
def test_missed_targets_are_named(changes, problem):
    problems = results.check_targets(record(**changes))
    assert any(p.startswith(problem) for p in problems), problems
    with pytest.raises(results.TargetMissed, match="dnn8: "):
        results.assert_targets(record(**changes))


def test_smoke_runs_only_need_to_learn():
    smoke = dict(mode="smoke", epochs=2, test_accuracy=0.1)
    assert results.check_targets(record(**smoke, final_train_accuracy=0.3)) == []
    assert results.check_targets(record(**smoke, final_train_accuracy=0.1)) == [
        "smoke training accuracy 10.00% is not above 20%"
    ]


def test_readme_table_is_replaced_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{results.TABLE_START}\nold\n{results.TABLE_END}\noutro\n")
    results.update_readme(readme, {"DNN8_x": record()})
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro") and text.endswith("outro\n")
    assert (
        "| DNN8_x | 14,066 | 1,000,000 | 99.56% (10) | 99.54% | 99.46% | 9 | yes | 40 |"
        in text
    )


def test_readme_without_markers_is_refused(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers")
    with pytest.raises(DnnstepsError, match="markers"):
        results.update_readme(readme, {"DNN8_x": record()})
    assert readme.read_text() == "no markers"


def test_a_missed_target_is_shown_in_the_table():
    table = results.results_table({"DNN8_x": record(best_val_accuracy=0.9938)})
    assert "| no: best val accuracy 99.38% < target 99.46%" in table
