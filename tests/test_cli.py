import os
import re
import subprocess
import sys
from types import SimpleNamespace

import keras
import pytest

from dnnsteps import assignment, cli, models

L = keras.layers


def cli_run(*args, smoke=True, **env):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    if smoke:
        env["DNNSTEPS_SMOKE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "dnnsteps", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


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
        (("train", "dnn8", "--lr", "fast"), "argument --lr: expected a number, got 'fast'"),
        (
            ("train", "dnn8", "--batch-size", "-5"),
            "argument --batch-size: must be at least 1",
        ),
        (("train", "dnn8", "--seed", "-1"), "argument --seed: must be 0 or more"),
        (("train", "dnn8", "--seed", str(2**32)), "at most 4,294,967,295"),
        (("check", "dnn8", "--seed", str(2**40)), "at most 4,294,967,295"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        (("grade",), "the following arguments are required: folder"),
    ],
)
def test_bad_arguments_are_one_error_line_and_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as stopped:
        cli.main(list(args))
    assert stopped.value.code == 2
    assert message in one_error_line(capsys.readouterr().err)


def test_arguments_are_parsed_before_tensorflow_is_imported():
    code = (
        "import sys\n"
        "from dnnsteps import cli\n"
        "try:\n"
        "    cli.main(['train', 'dnn8', '--seed', str(2**32)])\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["2", "False", "False"], done.stderr
    assert "at most 4,294,967,295" in done.stderr


def test_unknown_step_is_an_error_line(capsys):
    assert cli.main(["summary", "dnn9"]) == 2
    assert "error: unknown model 'dnn9'; choose one of: dnn1" in capsys.readouterr().err


def test_summary_prints_layers_rf_and_params():
    done = cli_run("summary", "dnn8")
    assert done.returncode == 0, done.stderr
    params = models.build("dnn8").count_params()
    assert f"parameters: {params:,}" in done.stdout
    assert "RF 28x28" in done.stdout and "dnn8: follows every rule of thumb." in done.stdout


def test_suite_with_a_missing_root_is_an_error(tmp_path, capsys):
    assert cli.main(["suite", "--root", str(tmp_path / "nonexistent")]) == 2
    assert "is not the project's root" in one_error_line(capsys.readouterr().err)


# check PATH: a saved model or a submission folder ---------------------------------------


def good_model():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(4, 3, use_bias=False),
            L.Conv2D(10, 1, use_bias=False),
            L.GlobalAveragePooling2D(),
            L.Softmax(),
        ]
    )


def submitted(tmp_path, model, values):
    history = keras.callbacks.History()
    history.history = {"val_accuracy": list(values)}
    result = SimpleNamespace(model=model, history=history, run_dir=None)
    return assignment.submit(
        result, tmp_path / "sub", evaluation={"loss": 0.1, "accuracy": values[-1]}
    )


def test_check_a_passing_submission_folder(tmp_path, capsys):
    folder = submitted(tmp_path, good_model(), [0.99, 0.9945])
    assert cli.main(["check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "| validation accuracy | >= 99.4% within 20 epochs | 99.45% best" in out
    assert "| NO |" not in out


def test_check_a_submission_that_reaches_the_target_too_late(tmp_path, capsys):
    folder = submitted(tmp_path, good_model(), [0.99] * 20 + [0.995])
    assert cli.main(["check", str(folder)]) == 1
    assert "(reached only at epoch 21) | NO |" in capsys.readouterr().out


def test_check_a_saved_model_with_a_nested_dense(tmp_path, capsys):
    head = keras.Sequential(
        [L.GlobalAveragePooling2D(), L.Dense(10, use_bias=False, name="fc")], name="head"
    )
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), L.Conv2D(4, 3, use_bias=False), head]
    )
    model.save(tmp_path / "m.keras")
    assert cli.main(["check", str(tmp_path / "m.keras")]) == 1
    out = capsys.readouterr().out
    assert "| fully connected layers | none | head/fc | NO |" in out
    assert "validation accuracy: not checked" in out


def test_check_a_good_saved_model_passes(tmp_path, capsys):
    good_model().save(tmp_path / "m.keras")
    assert cli.main(["check", str(tmp_path / "m.keras")]) == 0


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: p / "missing.keras", "not found"),
        (
            lambda p: (p / "bad.keras").write_bytes(b"junk") and p / "bad.keras",
            "cannot load",
        ),
        (lambda p: (p / "empty").mkdir() or p / "empty", "has no model.keras or log.csv"),
        (lambda p: (p / "x.txt").write_text("hi") and p / "x.txt", "is not a .keras file"),
        (lambda p: "dnn99", "'dnn99' is neither a file or folder nor a step"),
    ],
    ids=["missing", "corrupt", "empty-folder", "other-file", "unknown-name"],
)
def test_check_bad_input_is_one_error_line(tmp_path, capsys, setup, message):
    target = setup(tmp_path)
    assert cli.main(["check", str(target)]) == 2
    assert message in one_error_line(capsys.readouterr().err)


def test_check_a_lambda_model_is_refused_in_safe_mode(tmp_path, capsys):
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), L.Lambda(lambda t: t * 2), L.Conv2D(10, 28), L.Flatten()]
    )
    model.save(tmp_path / "lambda.keras")
    assert cli.main(["check", str(tmp_path / "lambda.keras")]) == 2
    assert "safe" in one_error_line(capsys.readouterr().err)


def test_check_a_folder_with_a_broken_log(tmp_path, capsys):
    folder = submitted(tmp_path, good_model(), [0.99])
    (folder / "log.csv").write_text("epoch,accuracy\n0,0.9\n")
    assert cli.main(["check", str(folder)]) == 2
    assert "no val_accuracy column" in one_error_line(capsys.readouterr().err)


# Step names: train, check and report -------------------------------------------------------


def test_check_before_training_says_how_to_train(tmp_path):
    done = cli_run("check", "dnn8", "--run-dir", tmp_path / "none")
    assert done.returncode == 2
    assert "train it first: python -m dnnsteps train dnn8" in one_error_line(done.stderr)


def test_report_refuses_an_existing_out_file_before_any_work(tmp_path, capsys):
    out = tmp_path / "SUBMISSION.md"
    out.write_text("my notes")
    assert cli.main(["report", "dnn8", "--run-dir", str(tmp_path), "--out", str(out)]) == 2
    assert "already exists; pass --force" in one_error_line(capsys.readouterr().err)
    assert out.read_text() == "my notes"
    assert cli.main(["report", "dnn8", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_train_then_check_and_report(tmp_path):
    runs = {"DNNSTEPS_RUNS": str(tmp_path / "runs")}
    params = f"{models.build('dnn8').count_params():,}"
    trained = cli_run("train", "dnn8", **runs)
    assert trained.returncode == 0, trained.stderr
    assert "Epoch  2/2" in trained.stdout and f"{params} params" in trained.stdout
    # check and report find the smoke run they were just told about.
    checked = cli_run("check", "dnn8", **runs)
    # Two smoke epochs cannot reach 99.4%: the accuracy rule fails, the others pass.
    assert checked.returncode == 1, checked.stderr
    assert f"| parameters | < 15,000 | {params} | yes |" in checked.stdout
    assert "| validation accuracy |" in checked.stdout and "| NO |" in checked.stdout
    out = tmp_path / "new" / "folder" / "SUBMISSION.md"  # parents are created
    reported = cli_run("report", "dnn8", "--out", out, **runs)
    assert reported.returncode == 1 and out.exists(), reported.stderr
    text = out.read_text()
    assert "Epoch  2/2" in text and "does NOT meet every rule" in text
    again = cli_run("report", "dnn8", "--out", out, **runs)
    assert again.returncode == 2 and "already exists" in one_error_line(again.stderr)
    out.write_text("old")
    forced = cli_run("report", "dnn8", "--out", out, "--force", **runs)
    assert forced.returncode == 1 and out.read_text() == text
