"""The hand-in folder: README, model.keras and a log exactly as Keras's CSVLogger writes it."""

import subprocess
import sys
import types
import zipfile

import keras
import pytest

from dnnsteps import runfiles, submission
from dnnsteps.errors import DnnstepsError

L = keras.layers
VAL = [0.985, 0.991, 0.9942]
LOGS = {
    "accuracy": [0.9, 0.95, 0.97],
    "learning_rate": [0.001, 0.0005, 0.00025],
    "loss": [0.3, 0.2, 0.1],
    "val_accuracy": VAL,
    "val_loss": [0.05, 0.04, 0.03],
}
EVALUATION = {"loss": 0.03, "accuracy": 0.9942}


def all_conv():
    """A tiny model that follows every layer rule."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(4, 3, use_bias=False),
            L.Conv2D(10, 1, use_bias=False),
            L.GlobalAveragePooling2D(),
            L.Softmax(),
        ]
    )


def written(folder, **kw):
    kw = {"evaluation": EVALUATION, **kw}
    return submission.write(folder, all_conv(), kw.pop("history", LOGS), **kw)


def build_model():
    return all_conv()  # shown in the README through inspect.getsource


def test_readme_holds_rules_code_every_epoch_evaluation_and_a_strategy_prompt(tmp_path):
    folder = written(tmp_path / "sub", code=(build_model, "model.fit(x, y)"))
    text = (folder / "README.md").read_text()
    assert text.startswith("# CODE9: MNIST assignment submission")
    assert "| biases | none | none | yes |" in text
    assert "| validation accuracy | >= 99.4% within 20 epochs | 99.42% best" in text
    assert "```python\ndef build_model():\n    return all_conv()" in text
    assert "```python\nmodel.fit(x, y)\n```" in text
    assert "| 1 | 0.3000 | 0.9000 | 0.0500 | 0.9850 |" in text
    assert "| 3 | 0.1000 | 0.9700 | 0.0300 | 0.9420 |" not in text  # columns in order
    assert "| 3 | 0.1000 | 0.9700 | 0.0300 | 0.9942 |" in text
    assert "loss 0.0300, accuracy 0.9942" in text
    assert text.rstrip().endswith(submission.PLACEHOLDER)
    strategy = written(tmp_path / "b", strategy="\n  Batch norm.\n").joinpath("README.md")
    assert strategy.read_text().rstrip().endswith("## Strategy\nBatch norm.")


@pytest.mark.slow
def test_log_is_what_keras_csvlogger_writes(tmp_path):
    """The same logs through Keras's own CSVLogger and through write give one file."""
    logger = keras.callbacks.CSVLogger(str(tmp_path / "keras.csv"))
    logger.set_model(all_conv())
    logger.on_train_begin()
    for epoch in range(3):
        logger.on_epoch_end(epoch, {k: v[epoch] for k, v in LOGS.items()})
    logger.on_train_end()
    folder = written(tmp_path / "sub")
    assert (folder / "log.csv").read_text() == (tmp_path / "keras.csv").read_text()
    assert [r["val_accuracy"] for r in runfiles.read_log(folder)] == VAL
    loaded = runfiles.load_model(folder / "model.keras")
    assert loaded.count_params() == all_conv().count_params()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keras.csv", "sub"]  # no staging


def test_history_log_rows_and_old_lr_key_give_the_same_log(tmp_path):
    history = keras.callbacks.History()
    history.history = dict(LOGS)
    rows = runfiles.read_log(written(tmp_path / "a", history=history))
    old = {("lr" if k == "learning_rate" else k): v for k, v in LOGS.items()}
    logs = [(written(tmp_path / n, history=h) / "log.csv").read_text()
            for n, h in (("b", rows), ("c", old))]  # fmt: skip
    assert logs == [(tmp_path / "a" / "log.csv").read_text()] * 2
    without = {k: v for k, v in LOGS.items() if k != "learning_rate"}
    header = (written(tmp_path / "d", history=without) / "log.csv").read_text()
    assert header.splitlines()[0] == "epoch,accuracy,loss,val_accuracy,val_loss"


@pytest.mark.parametrize(
    "history, message",
    [({"loss": [0.1]}, "no val_accuracy"), ([], "holds no epochs")],
)
def test_a_history_without_validation_is_refused(tmp_path, history, message):
    with pytest.raises(DnnstepsError, match=message):
        written(tmp_path / "sub", history=history)
    assert not (tmp_path / "sub").exists()


def test_code_without_readable_source_is_one_clear_error(tmp_path):
    with pytest.raises(DnnstepsError, match="pass the code as a string"):
        written(tmp_path / "sub", code=(len,))


def test_write_replaces_its_own_folder_and_nothing_else(tmp_path):
    folder = written(tmp_path / "sub", strategy="first")
    written(folder, strategy="second")
    assert "second" in (folder / "README.md").read_text()
    (folder / "README.md").write_text("edited by hand")
    with pytest.raises(DnnstepsError, match="left untouched"):
        written(folder)
    assert (folder / "README.md").read_text() == "edited by hand"
    written(folder, strategy="third", force=True)  # an edited folder of its own: force
    assert "third" in (folder / "README.md").read_text()

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(DnnstepsError, match="left untouched"):
        written(foreign, force=True)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_an_extra_file_makes_the_folder_no_longer_its_own(tmp_path):
    folder = written(tmp_path / "sub")
    assert submission.is_own(folder)
    (folder / "extra.txt").write_text("mine")
    assert not submission.is_own(folder)


def test_zip_holds_the_folder_and_replaces_only_its_own_zip(tmp_path):
    folder = written(tmp_path / "sub")
    target = submission.zip(folder)
    assert target == tmp_path / "sub.zip"
    with zipfile.ZipFile(target) as zf:
        names = sorted(zf.namelist())
        assert zf.read("sub/log.csv") == (folder / "log.csv").read_bytes()
    assert names == sorted(f"sub/{p.name}" for p in folder.iterdir())
    assert submission.zip(folder) == target  # its own zip: replaced
    target.write_bytes(b"a zip of the student's own")
    with pytest.raises(DnnstepsError, match="not written by dnnsteps"):
        submission.zip(folder)
    assert target.read_bytes() == b"a zip of the student's own"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DnnstepsError, match="not a submission folder"):
        submission.zip(tmp_path / "empty")


def test_offer_download_uses_colab_when_there_and_prints_elsewhere(
    tmp_path, monkeypatch, capsys
):
    folder = written(tmp_path / "sub")
    monkeypatch.setitem(sys.modules, "google.colab", None)  # not in Colab
    assert submission.offer_download(folder) == tmp_path / "sub.zip"
    assert str(tmp_path / "sub.zip") in capsys.readouterr().out
    downloaded = []
    colab = types.ModuleType("google.colab")
    colab.files = types.SimpleNamespace(download=downloaded.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    submission.offer_download(folder)
    assert downloaded == [str(tmp_path / "sub.zip")]


@pytest.mark.slow
def test_git_keeps_the_submission_model_but_ignores_other_models():
    paths = ["notebooks/submission/model.keras", "notebooks/submission/log.csv",
             "runs/dnn8-abc/model.keras", "notebooks/other.keras"]  # fmt: skip
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths], capture_output=True, text=True
    )
    assert done.stdout.split() == paths[2:], done.stderr
