"""The hand-in: a repository whose root README pastes what Keras printed, the notebook,
model.keras and a log exactly as Keras's CSVLogger writes it."""

import contextlib
import io
import re
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import keras
import nbformat
import pytest

from dnnsteps import data, resume, runfiles, submission
from dnnsteps.batches import Batches
from dnnsteps.errors import DnnstepsError

ROOT = Path(__file__).resolve().parents[1]
CODE9 = ROOT / "notebooks" / "CODE9_assignment"
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
SECTIONS = ("## Rules", "## Parameters", "## Model", "## Training log",
            "## `model.evaluate`", "## Strategy")  # fmt: skip
KERAS_EPOCH = re.compile(
    r"(?m)^Epoch (\d+)/3\n\d+/\d+ - \d+m?s - .*val_accuracy: \d\.\d{4}"
)


def all_conv(seed=0):
    """A tiny model that follows every layer rule."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Rescaling(1 / 255),
            L.Conv2D(4, 3, use_bias=False),
            L.ReLU(),
            L.Conv2D(10, 1, use_bias=False),
            L.GlobalAveragePooling2D(),
            L.Softmax(),
        ],
        name="tinyconv",
    )


def written(folder, **kw):
    kw = {"evaluation": EVALUATION, "strategy": "Batch norm.", **kw}
    return submission.write(folder, all_conv(), kw.pop("history", LOGS), **kw)


class StopAfter(keras.callbacks.Callback):
    """Ends the fit after ``epochs`` epochs, as a session that dies there would."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = epoch + 1 >= self.epochs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real run of 3 epochs on 300 images, printed by Keras (verbose=2): 2 epochs,
    a new session that resumes for the 3rd, a third that loads the finished run."""
    runs = tmp_path_factory.mktemp("runs")
    (x, y), (xv, yv) = data.mnist(smoke=True)
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.delenv("DNNSTEPS_SMOKE", raising=False)  # all 3 epochs
        for stop in (StopAfter(2), StopAfter(3), StopAfter(3)):
            model = all_conv()  # each session builds its model afresh
            batches = Batches(x[:300], y[:300], batch_size=100, seed=0)
            model.compile(optimizer=keras.optimizers.Adam(0.01),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"])  # fmt: skip
            history = model.fit(batches, epochs=3, shuffle=False, verbose=2,
                                validation_data=(xv[:200], yv[:200]),
                                callbacks=[resume.resumable(runs, data=batches), stop])  # fmt: skip
        evaluation = model.evaluate(xv[:200], yv[:200], verbose=0)
    return model, history, evaluation, printed.getvalue()


def test_readme_pastes_every_epoch_keras_printed_after_a_resume_and_a_load(
    trained, tmp_path
):
    model, history, evaluation, printed = trained
    assert "Resuming" in printed and "Loaded the finished run" in printed
    folder = submission.write(tmp_path / "repo", model, history, evaluation=evaluation,
                              strategy="\n  Batch norm, then a one-cycle rate.\n")  # fmt: skip
    text = (folder / "README.md").read_text()
    at = [text.index(s) for s in SECTIONS]
    assert at == sorted(at)
    assert "| biases | none | none | yes |" in text
    assert f"## Parameters\n{model.count_params():,} parameters (the" in text
    assert f"Total params: {model.count_params()} " in text  # the summary, no optimizer
    assert "Optimizer params" not in text and text.count(" (Conv2D) ") == 2
    epochs = KERAS_EPOCH.findall(text)
    assert epochs == ["1", "2", "3"]  # the 2 of the first session, the 3rd resumed
    assert all(at[3] < text.index(e) < at[4] for e in history.printed)
    assert all(e in printed for e in history.printed)  # as Keras printed them
    assert f"loss: {evaluation[0]:.4f} - accuracy: {evaluation[1]:.4f}" in text
    assert text.endswith("## Strategy\nBatch norm, then a one-cycle rate.\n")


def test_a_history_without_printed_lines_says_so(tmp_path):
    text = written(tmp_path / "sub").joinpath("README.md").read_text()
    assert "## Training log\n3 epochs, as Keras printed them." in text
    assert "Keras printed for 3 of the 3 epochs were not kept" in text
    assert "| 3 | 0.1000" not in text and "Epoch 1/" not in text  # nothing rebuilt


def test_a_progress_bar_keeps_its_last_state():
    history = types.SimpleNamespace(printed=["Epoch 1/1\n1/2 [=>.]\x08\x08\r2/2 done\n"])
    assert "Epoch 1/1\n2/2 done\n```" in submission._printed(history, 1)


def test_the_unedited_strategy_is_refused_in_one_line_and_nothing_is_written(tmp_path):
    starter = f"Starter model. {submission.PLACEHOLDER}"
    with pytest.raises(DnnstepsError, match="STRATEGY still holds") as refused:
        written(tmp_path / "sub", strategy=starter)
    assert "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []
    folder = written(tmp_path / "sub")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(DnnstepsError, match="nothing was written"):
        written(folder, strategy=starter)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert submission.PLACEHOLDER in CODE9.with_suffix(".py").read_text()  # its STRATEGY


def test_the_saved_notebook_goes_in_with_its_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"})]
    nbformat.write(nb, "CODE9.ipynb")
    folder = written("sub", notebook="CODE9.ipynb")
    assert (folder / "CODE9.ipynb").read_bytes() == Path("CODE9.ipynb").read_bytes()
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "CODE9.ipynb", "README.md", "log.csv", "model.keras"]  # fmt: skip
    assert "CODE9.ipynb" not in [
        p.name for p in written("b", notebook="gone.ipynb").iterdir()
    ]


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
        written(tmp_path / "new" / "sub", history=history)
    assert list(tmp_path.iterdir()) == []  # not even the folder above


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


def test_zip_unzips_to_the_repository_root_and_replaces_only_its_own_zip(tmp_path):
    folder = written(tmp_path / "sub")
    target = submission.zip(folder)
    assert target == tmp_path / "sub.zip"
    with zipfile.ZipFile(target) as zf:
        zf.extractall(tmp_path / "unzipped")
    unzipped = {p.name: p.read_bytes() for p in (tmp_path / "unzipped").iterdir()}
    assert sorted(unzipped) == ["README.md", "log.csv", "model.keras"]  # no manifest
    assert unzipped["README.md"] == (folder / "README.md").read_bytes()
    assert submission.zip(folder) == target  # its own zip: replaced
    target.write_bytes(b"a zip of the student's own")
    with pytest.raises(DnnstepsError, match="not written by dnnsteps"):
        submission.zip(folder)
    assert target.read_bytes() == b"a zip of the student's own"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DnnstepsError, match="not a submission folder"):
        submission.zip(tmp_path / "empty")


def test_offer_download_names_paths_relative_and_uses_colab_when_there(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    folder = written("sub")
    monkeypatch.setitem(sys.modules, "google.colab", None)  # not in Colab
    assert submission.offer_download(tmp_path / "sub") == tmp_path / "sub.zip"
    out = capsys.readouterr().out
    assert "sub/ (README.md, log.csv, model.keras), zipped as sub.zip." in out
    assert "It holds no notebook: add yours" in out
    assert str(tmp_path) not in out and len(out.splitlines()) == 2
    downloaded = []
    colab = types.ModuleType("google.colab")
    colab.files = types.SimpleNamespace(download=downloaded.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    submission.offer_download(folder)
    assert downloaded == ["sub.zip"]


def test_code9_s_saved_outputs_name_no_absolute_path():
    nb = nbformat.read(CODE9.with_suffix(".ipynb"), as_version=4)
    outputs = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                      for c in nb.cells for o in c.get("outputs", []))  # fmt: skip
    assert not re.findall(r"(?m)(?:^|[\s'\"(])/[\w.-]+/[\w.-]+/", outputs)


@pytest.mark.slow
def test_git_keeps_the_submission_model_but_ignores_other_models():
    paths = ["notebooks/submission/model.keras", "notebooks/submission/log.csv",
             "runs/dnn8-abc/model.keras", "notebooks/other.keras"]  # fmt: skip
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths], capture_output=True, text=True
    )
    assert done.stdout.split() == paths[2:], done.stderr
