"""The command line: one error line for every mistake, check's exit codes, train."""

import os
import re
import subprocess
import sys

import keras
import pytest

from dnnsteps import cli, models, runfiles, submission

L = keras.layers
# TensorFlow's C++ start-up lines, which no setting silences once it is imported.
BACKEND = re.compile(
    r"^(WARNING: All log messages before absl|[IWE]\d{4} [\d:. ]+\s*\d+ \S+:\d+\])"
)


def one_error_line(err: str) -> str:
    """The single ``error: ...`` line of a failed command."""
    lines = [line for line in err.splitlines() if line.strip() and not BACKEND.match(line)]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("train", "dnn8", "--epochs", "0"),
            "argument --epochs: must be at least 1, got 0",
        ),
        (("train", "dnn8", "--epochs", "two"), "expected a whole number, got 'two'"),
        (("train", "dnn8", "--seed", "-1"), "argument --seed: must be 0 to 4,294,967,295"),
        (("train", "dnn8", "--seed", str(2**32)), "must be 0 to 4,294,967,295"),
        (("train",), "the following arguments are required: step"),
        (("suite",), "invalid choice: 'suite'"),
        (("report", "dnn8"), "invalid choice: 'report'"),
        (("grade",), "the following arguments are required: folder"),
    ],
)
def test_bad_arguments_are_one_error_line_and_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as stopped:
        cli.main(list(args))
    assert stopped.value.code == 2
    assert message in one_error_line(capsys.readouterr().err)


@pytest.mark.slow
def test_arguments_are_parsed_before_keras_is_imported():
    code = (
        "import sys\nfrom dnnsteps import cli\n"
        "try:\n    cli.main(['train', 'dnn8', '--seed', '-1'])\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["2", "False", "False"], done.stderr


@pytest.mark.parametrize("command", ["summary", "train"])
def test_an_unknown_step_is_an_error_line(capsys, command):
    assert cli.main([command, "dnn9"]) == 2
    assert "unknown step 'dnn9'; choose one of: dnn1" in capsys.readouterr().err


def test_summary_prints_layers_receptive_fields_and_review(capsys):
    assert cli.main(["summary", "dnn8"]) == 0
    out = capsys.readouterr().out
    assert f"parameters: {models.build('dnn8').count_params():,}" in out
    assert "RF 28x28" in out and "dnn8 follows all of them." in out


# check: a step, a saved model, a submission or run folder ---------------------------


def good_model():
    return keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(4, 3, use_bias=False),
                             L.Conv2D(10, 1, use_bias=False), L.GlobalAveragePooling2D(),
                             L.Softmax()])  # fmt: skip


def handed_in(tmp_path, values):
    return submission.write(tmp_path / "sub", good_model(), {"val_accuracy": list(values)},
                            evaluation=(0.1, values[-1]))  # fmt: skip


def test_check_a_passing_submission_folder(tmp_path, capsys):
    assert cli.main(["check", str(handed_in(tmp_path, [0.99, 0.9945]))]) == 0
    out = capsys.readouterr().out
    assert "| validation accuracy | >= 99.4% within 20 epochs | 99.45% best" in out
    assert "| NO |" not in out and "not checked" not in out


def test_check_a_submission_that_reaches_the_target_too_late(tmp_path, capsys):
    assert cli.main(["check", str(handed_in(tmp_path, [0.99] * 20 + [0.995]))]) == 1
    assert "(reached only at epoch 21) | NO |" in capsys.readouterr().out


def test_check_a_saved_model_checks_its_layers_only(tmp_path, capsys):
    head = keras.Sequential(
        [L.GlobalAveragePooling2D(), L.Dense(10, use_bias=False, name="fc")], name="head"
    )
    bad = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(4, 3, use_bias=False), head])
    bad.save(tmp_path / "bad.keras")
    good_model().save(tmp_path / "good.keras")
    assert cli.main(["check", str(tmp_path / "bad.keras")]) == 1
    out = capsys.readouterr().out
    assert "| fully connected layers | none | head/fc | NO |" in out
    assert "validation accuracy: not checked" in out
    assert cli.main(["check", str(tmp_path / "good.keras")]) == 0


@pytest.mark.parametrize("step, code", [("dnn8", 0), ("dnn5", 1)])
def test_check_a_step_checks_its_untrained_model(capsys, step, code):
    assert cli.main(["check", step]) == code
    params = models.build(step).count_params()
    assert f"| parameters | < 15,000 | {params:,} |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: p / "missing.keras", "missing.keras not found"),
        (lambda p: p / "no" / "such", "not found (give a .keras file"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "has no model.keras"),
        (lambda p: (p / "x.txt").write_text("hi") and p / "x.txt", "is not a .keras file"),
        (lambda p: "dnn99", "'dnn99' is neither a file or folder nor a step"),
    ],
    ids=["missing-keras", "missing-path", "empty-folder", "other-file", "unknown-name"],
)
def test_check_bad_input_is_one_error_line(tmp_path, capsys, setup, message):
    assert cli.main(["check", str(setup(tmp_path))]) == 2
    assert message in one_error_line(capsys.readouterr().err)


def test_check_a_folder_with_a_broken_log(tmp_path, capsys):
    folder = handed_in(tmp_path, [0.99])
    (folder / "log.csv").write_text("epoch,accuracy\n0,0.9\n")
    assert cli.main(["check", str(folder)]) == 2
    assert "lacks val_accuracy" in one_error_line(capsys.readouterr().err)


@pytest.mark.slow
def test_train_then_check_and_grade_the_run_folder(tmp_path):
    """``train`` fits like the notebook, in a resumable run folder that checks and
    grades like a submission (raw pixels in: the model standardises)."""
    env = {**os.environ, "DNNSTEPS_SMOKE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = tmp_path / "class" / "run"

    def dnnsteps(*args):
        command = [sys.executable, "-m", "dnnsteps", *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)

    trained = dnnsteps("train", "dnn7", "--epochs", "2", "--run-dir", run)
    assert trained.returncode == 0, trained.stderr
    rows = runfiles.read_log(run)
    schedule = models.get("dnn7")[1].schedule
    assert [r["learning_rate"] for r in rows] == pytest.approx([schedule(0), schedule(1)])
    assert f"accuracy {rows[-1]['val_accuracy']:.4f}" in trained.stdout  # model.evaluate
    checked = dnnsteps("check", run)
    assert checked.returncode == 1 and "| validation accuracy |" in checked.stdout
    graded = dnnsteps("grade", tmp_path / "class")
    assert graded.returncode == 0, graded.stderr
    assert "| run | fail |" in graded.stdout and "| raw 0-255 |" in graded.stdout
    assert "not reproduced" not in graded.stdout
