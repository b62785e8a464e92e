import os
import subprocess
import sys

import pytest


def cli(*args, smoke=True):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if smoke:
        env["DNNSTEPS_SMOKE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "dnnsteps", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (("summary", "dnn9"), "error: unknown model 'dnn9'; choose one of: dnn1"),
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
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_clear_line_and_non_zero_exit(args, message):
    done = cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_summary_prints_layers_rf_and_params():
    done = cli("summary", "dnn8")
    assert done.returncode == 0, done.stderr
    assert "parameters: 11,736" in done.stdout
    assert "RF 28x28" in done.stdout and "dnn8: follows every rule of thumb." in done.stdout


def test_check_before_training_says_how_to_train(tmp_path):
    done = cli("check", "dnn8", "--run-dir", tmp_path / "none")
    assert done.returncode == 2
    assert "train it first: python -m dnnsteps train dnn8" in done.stderr


def test_train_then_check_and_report(tmp_path):
    run_dir = tmp_path / "run"
    trained = cli("train", "dnn8", "--run-dir", run_dir)
    assert trained.returncode == 0, trained.stderr
    assert "Epoch  2/2" in trained.stdout and "11,736 params" in trained.stdout
    checked = cli("check", "dnn8", "--run-dir", run_dir)
    # Two smoke epochs cannot reach 99.4%: the accuracy rule fails, the others pass.
    assert checked.returncode == 1, checked.stderr
    assert "| parameters | < 15,000 | 11,736 | yes |" in checked.stdout
    assert "| validation accuracy |" in checked.stdout and "| NO |" in checked.stdout
    out = tmp_path / "SUBMISSION.md"
    reported = cli("report", "dnn8", "--run-dir", run_dir, "--out", out)
    assert reported.returncode == 1 and out.exists()
    assert "Epoch  2/2" in out.read_text() and "does NOT meet every rule" in out.read_text()
