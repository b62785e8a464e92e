"""Grading submissions: every verdict, every way a submission can be broken.

Grading re-evaluates each model on the 10,000 MNIST test images; these tests
use the 1,000-image smoke subset and tiny untrained models. Where a test needs
a model that "reaches" an accuracy, the labels are the model's own predictions
(so it scores 100%), which makes the log's claim the only thing that varies.
"""

import csv
import hashlib
import io

import keras
import numpy as np
import pytest

from dnnsteps import cli, grade

L = keras.layers


@pytest.fixture(scope="module")
def images():
    x, _ = grade.mnist_test_set(smoke=True)
    return x[:200]


def tiny(*head, shape=(28, 28, 1)):
    return keras.Sequential(
        [
            keras.Input(shape),
            L.Conv2D(4, 3, use_bias=False),
            *(head or (L.Conv2D(10, 1, use_bias=False), L.GlobalAveragePooling2D())),
            L.Softmax(),
        ]
    )


def own_labels(model, x):
    return np.argmax(model.predict(x, verbose=0), axis=-1)


def submission(root, name, model=None, val=(0.99, 0.995, 0.9995), log=None):
    """A folder as a student hands it in: model.keras and a CSVLogger log.csv."""
    folder = root / name
    folder.mkdir(parents=True)
    if model is not None:
        model.save(folder / "model.keras")
    if log is None:
        log = "epoch,accuracy,val_accuracy\n" + "".join(
            f"{i},0.99,{v}\n" for i, v in enumerate(val)
        )
    if log is not False:
        (folder / "log.csv").write_text(log)
    return folder


def graded(tmp_path, images, model, **kw):
    folder = submission(tmp_path, "s", model, **kw)
    return grade.grade_one(folder, images, own_labels(model, images))


def test_a_good_submission_passes(tmp_path, images):
    g = graded(tmp_path, images, tiny())
    assert (g.verdict, g.reasons) == ("pass", [])
    assert g.measured == 1.0 and g.claimed == 0.9995 and g.params == tiny().count_params()


def test_a_claim_the_weights_do_not_reproduce_fails(tmp_path, images):
    g = graded(tmp_path, images, tiny(), val=(0.99, 0.995, 0.9985))
    assert g.verdict == "fail"
    assert g.reasons == [
        "not reproduced: the weights measure 100.00%, the log's last val_accuracy "
        "says 99.85% (more than 0.1 points apart)"
    ]


def test_reaching_the_target_only_at_epoch_21_fails(tmp_path, images):
    g = graded(tmp_path, images, tiny(), val=[0.99] * 20 + [0.9995])
    assert g.verdict == "fail"
    assert any("reached only at epoch 21" in r for r in g.reasons)
    assert any("log has 21 epochs" in r for r in g.reasons)


def test_a_nested_dense_fails(tmp_path, images):
    head = keras.Sequential(
        [L.GlobalAveragePooling2D(), L.Dense(10, use_bias=False, name="fc")], name="h"
    )
    g = graded(tmp_path, images, tiny(head))
    assert g.verdict == "fail"
    assert g.reasons == ["fully connected layers: h/fc (required none)"]


def test_a_biased_separable_convolution_fails(tmp_path, images):
    model = tiny(L.SeparableConv2D(10, 3, name="sep"), L.GlobalAveragePooling2D())
    g = graded(tmp_path, images, model)
    assert g.verdict == "fail" and g.reasons == ["biases: sep (required none)"]


def test_an_over_budget_model_fails(tmp_path, images):
    model = tiny(
        L.Conv2D(64, 3, use_bias=False),
        L.Conv2D(64, 3, use_bias=False),
        L.Conv2D(10, 1, use_bias=False),
        L.GlobalAveragePooling2D(),
    )
    g = graded(tmp_path, images, model)
    assert g.verdict == "fail" and g.params > 15_000
    assert g.reasons == [f"parameters: {g.params:,} (required < 15,000)"]


def invalid(tmp_path, images, **kw):
    folder = submission(tmp_path, "s", **kw)
    g = grade.grade_one(folder, images, np.zeros(len(images), "int32"))
    assert g.verdict == "invalid" and len(g.reasons) == 1
    return g.reasons[0]


def test_a_lambda_layer_is_refused_without_running_it(tmp_path, images):
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Lambda(lambda t: t * 2),
            L.Conv2D(10, 28, use_bias=False),
            L.Flatten(),
            L.Softmax(),
        ]
    )
    reason = invalid(tmp_path, images, model=model)
    assert reason.startswith("model.keras: cannot load") and "safe" in reason


def test_a_corrupt_model_file_is_invalid(tmp_path, images):
    folder = submission(tmp_path, "s")
    (folder / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    g = grade.grade_one(folder, images, np.zeros(len(images), "int32"))
    assert g.verdict == "invalid" and g.reasons[0].startswith("model.keras: cannot load")
    assert g.claimed == 0.9995  # what could be read is still reported


@pytest.mark.parametrize(
    "kw, reason",
    [
        (dict(log=False), "no log.csv"),
        (dict(log="epoch,accuracy\n0,0.5\n"), "log.csv: "),
        (dict(log="epoch,val_accuracy\n0,0.9\n5,0.99\n"), "none repeated or missing"),
    ],
)
def test_a_missing_or_broken_log_is_invalid(tmp_path, images, kw, reason):
    assert reason in invalid(tmp_path, images, model=tiny(), **kw)


def test_no_model_file_is_invalid(tmp_path, images):
    assert invalid(tmp_path, images) == "no model.keras"


def test_a_wrong_input_shape_is_invalid(tmp_path, images):
    reason = invalid(tmp_path, images, model=tiny(shape=(32, 32, 1)))
    assert reason.startswith("input shape (32, 32, 1)")


def tree(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    } | {str(p.relative_to(root)): "dir" for p in root.rglob("*") if p.is_dir()}


@pytest.fixture
def class_of(tmp_path):
    root = tmp_path / "class"
    submission(root, "ada", tiny())
    broken = submission(root, "bob")
    (broken / "model.keras").write_bytes(b"garbage")
    submission(root, "cy", tiny(L.Conv2D(10, 26), L.Flatten()))
    (root / ".hidden").mkdir()
    (root / "notes.txt").write_text("not a submission")
    return root


def test_grade_all_grades_every_folder_and_changes_nothing(class_of, monkeypatch):
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    before = tree(class_of)
    grades = grade.grade_all(class_of)
    assert tree(class_of) == before
    assert [(g.submission, g.verdict) for g in grades] == [
        ("ada", "fail"),  # untrained: its 10% does not reproduce the log's 99.95%
        ("bob", "invalid"),
        ("cy", "fail"),
    ]
    assert any(r.startswith("not reproduced") for r in grades[0].reasons)
    assert "biases: " in "; ".join(grades[2].reasons)
    table = grade.to_markdown(grades).splitlines()
    assert table[0] == "| " + " | ".join(grade.COLUMNS) + " |" and len(table) == 5
    rows = list(csv.DictReader(io.StringIO(grade.to_csv(grades))))
    assert [r["verdict"] for r in rows] == ["fail", "invalid", "fail"]
    assert rows[1]["params"] == "" and rows[1]["claimed_val_accuracy"] == "0.9995"


def test_a_folder_without_submissions_is_an_error(tmp_path):
    with pytest.raises(grade.DnnstepsError, match="holds no submission folders"):
        grade.grade_all(tmp_path)


def test_cli_grade_writes_csv_and_never_overwrites(class_of, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    out = tmp_path / "grades" / "grades.csv"
    assert cli.main(["grade", str(class_of), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| ada | fail |" in printed and "| bob | invalid |" in printed
    assert "measured on the 1,000-image smoke subset" in printed
    header = out.read_text().splitlines()[0]
    assert (
        header
        == "submission,verdict,params,claimed_val_accuracy,measured_test_accuracy,reasons"
    )
    first = out.read_text()

    assert cli.main(["grade", str(class_of), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "already exists" in err and err.count("\n") == 1
    assert out.read_text() == first

    assert cli.main(["grade", str(class_of), "--out", str(class_of / "g.csv")]) == 2
    assert "inside" in capsys.readouterr().err and not (class_of / "g.csv").exists()

    out.write_text("old")
    assert cli.main(["grade", str(class_of), "--out", str(out), "--force"]) == 0
    assert out.read_text() == first
