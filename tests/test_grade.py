"""Grading: verdicts, the three input conventions, broken submissions, zips as handed in.

Models are tiny and untrained; where one must "reach" an accuracy, the labels are
its own predictions (100%), so the log's claim is the only thing that varies.
"""

import hashlib
import zipfile

import keras
import numpy as np
import pytest

from dnnsteps import cli, data, grade, models, submission

L = keras.layers


@pytest.fixture(scope="module")
def images():
    x, _ = data.mnist(smoke=True)[1]
    return x[:200]


def tiny(*head, shape=(28, 28, 1)):
    """A rule-abiding model: no bias, no fully connected layer."""
    head = head or (L.Conv2D(10, 1, use_bias=False), L.GlobalAveragePooling2D())
    body = [keras.Input(shape), L.Conv2D(4, 3, use_bias=False), L.ReLU()]
    return keras.Sequential([*body, *head, L.Softmax()])


def linear():
    """Its offset makes the three conventions' predictions differ (with this seed)."""
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((28, 28, 1)), L.Rescaling(1.0, offset=-1.0),
                             L.Conv2D(10, 28, use_bias=False), L.Flatten(), L.Softmax()])  # fmt: skip


def own_labels(model, x):
    return np.argmax(model.predict(x, verbose=0), axis=-1)


def submission_folder(root, name, model=None, val=(0.99, 0.995, 0.9995), log=None):
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


def graded(tmp_path, images, model, convention="raw 0-255", **kw):
    folder = submission_folder(tmp_path, "s", model, **kw)
    labels = own_labels(model, grade.CONVENTIONS[convention](images))
    return grade.grade_one(folder, images, labels)


@pytest.mark.parametrize("convention", list(grade.CONVENTIONS))
def test_the_convention_that_reproduces_the_log_is_named(tmp_path, images, convention):
    expected = {"raw 0-255": [0, 255], "x / 255": [0, 1],
                "standardised": [-0.1307 / 0.3081, (1 - 0.1307) / 0.3081]}  # fmt: skip
    pixels = grade.CONVENTIONS[convention](np.array([0.0, 255.0]))
    np.testing.assert_allclose(pixels, expected[convention], rtol=1e-6)
    g = graded(tmp_path, images, linear(), convention)
    assert (g.verdict, g.reasons, g.input) == ("pass", [], convention)
    assert g.measured == 1.0 and g.claimed == 0.9995 and g.params == 7840


def test_a_claim_no_convention_reproduces_fails(tmp_path, images):
    g = graded(tmp_path, images, linear(), val=(0.99, 0.995, 0.9985))
    assert g.verdict == "fail" and g.input == ""
    (reason,) = g.reasons
    assert reason.startswith("not reproduced: the weights measure 100.00% (raw 0-255), ")
    assert reason.endswith("the log's last val_accuracy says 99.85%")


def test_reaching_the_target_only_at_epoch_21_fails(tmp_path, images):
    g = graded(tmp_path, images, tiny(), val=[0.99] * 20 + [0.9995])
    assert g.verdict == "fail"
    assert any("reached only at epoch 21" in r for r in g.reasons)
    assert any("log has 21 epochs" in r for r in g.reasons)


def test_a_broken_rule_fails_with_the_rule_s_message(tmp_path, images):
    head = keras.Sequential([L.GlobalAveragePooling2D(),
                             L.Dense(10, use_bias=False, name="fc")], name="h")  # fmt: skip
    g = graded(tmp_path, images, tiny(head))
    assert g.verdict == "fail" and g.input == "raw 0-255"
    assert g.reasons == ["fully connected layers: h/fc (required none)"]


def invalid(tmp_path, images, **kw):
    folder = submission_folder(tmp_path, "s", **kw)
    g = grade.grade_one(folder, images, np.zeros(len(images), "int32"))
    assert g.verdict == "invalid" and len(g.reasons) == 1
    return g.reasons[0]


def test_a_lambda_layer_is_refused_without_running_it(tmp_path, images):
    ran = []
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Lambda(lambda t: ran.append(1) or t),
                              L.Conv2D(10, 28, use_bias=False), L.Flatten()])  # fmt: skip
    ran.clear()
    reason = invalid(tmp_path, images, model=model)
    assert reason.startswith("cannot load model.keras") and not ran
    assert "arbitrary code execution" in reason


def test_a_corrupt_model_is_invalid_and_the_log_s_claim_still_reported(tmp_path, images):
    folder = submission_folder(tmp_path, "s")
    (folder / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    g = grade.grade_one(folder, images, np.zeros(len(images), "int32"))
    assert g.verdict == "invalid" and g.reasons[0].startswith("cannot load model.keras")
    assert g.claimed == 0.9995


@pytest.mark.parametrize(
    "kw, reason",
    [
        (dict(log=False), "has no log.csv"),
        (dict(log="epoch,accuracy\n0,0.5\n"), "lacks val_accuracy in some epoch"),
        (dict(log="epoch,val_accuracy\n0,high\n"), "cannot read the training log"),
        (dict(), "has no model.keras"),
        (dict(model=tiny(shape=(32, 32, 1))), "expected (28, 28, 1) images in"),
    ],
)
def test_a_missing_or_broken_file_is_invalid(tmp_path, images, kw, reason):
    kw.setdefault("model", tiny() if "log" in kw else None)
    assert reason in invalid(tmp_path, images, **kw)


# Zips as handed in ----------------------------------------------------------------


def zipped(path, members, symlink=None):
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path


GOOD_LOG = "epoch,val_accuracy\n0,0.5\n"


@pytest.mark.parametrize(
    "members, symlink, reason",
    [
        ({"/abs/model.keras": "x", "log.csv": GOOD_LOG}, None, "points outside the zip"),
        ({"../model.keras": "x", "log.csv": GOOD_LOG}, None, "points outside the zip"),
        ({"s/a/../../../model.keras": "x"}, None, "points outside the zip"),
        ({"log.csv": GOOD_LOG}, "model.keras", "is a symbolic link"),
        ({"big.bin": "0" * 2000, "model.keras": "x"}, None, "more than"),
        ({"a/model.keras": "x", "b/model.keras": "x"}, None, "holds 2 model.keras"),
    ],
    ids=["absolute", "parent", "nested-parent", "symlink", "too-big", "two-models"],
)
def test_an_unsafe_zip_is_invalid_and_nothing_is_extracted(
    tmp_path, monkeypatch, members, symlink, reason
):
    monkeypatch.setattr(grade, "MAX_UNZIPPED", 1000)
    archive = zipped(tmp_path / "s.zip", members, symlink)
    target = tmp_path / "out" / "x"
    with pytest.raises(grade._Invalid, match=reason):
        grade.locate(grade.unzip(archive, target))
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and target not in p.parents]
    assert outside == [archive] and not (tmp_path / "abs").exists()
    assert target.exists() == reason.startswith("holds")  # checked before extracting


def tree(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(root.rglob("*"))}  # fmt: skip


@pytest.fixture
def class_of(tmp_path):
    """A class's hand-ins: folders, a submission's zip, broken ones, and noise."""
    root = tmp_path / "class"
    submission_folder(root, "ada", tiny())
    broken = submission_folder(root, "bob")
    (broken / "model.keras").write_bytes(b"garbage")
    submission_folder(root, "cy", tiny(L.Conv2D(10, 26), L.Flatten()))
    sub = submission.write(tmp_path / "dee", tiny(), {"val_accuracy": [0.9995]},
                           evaluation=(0.1, 0.9995))  # fmt: skip
    submission.zip(sub).rename(root / "dee.zip")
    (root / "eve.zip").write_bytes(b"not a zip")
    (root / ".hidden").mkdir()
    (root / "notes.txt").write_text("not a submission")
    return root


def test_grade_all_grades_folders_and_zips_and_changes_nothing(class_of, monkeypatch):
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    before = tree(class_of)
    grades = grade.grade_all(class_of)
    assert tree(class_of) == before
    assert [(g.submission, g.verdict, g.flags) for g in grades] == [
        ("ada", "fail", ["same log as cy"]),  # untrained: no convention reproduces 99.95%
        ("bob", "invalid", []),
        ("cy", "fail", ["same log as ada"]),
        ("dee.zip", "fail", []),
        ("eve.zip", "invalid", []),
    ]
    assert [g.graded for g in grades] == [grade.RE_RUN, "", grade.RE_RUN, grade.RE_RUN, ""]
    reasons = " ".join(r for g in grades for r in g.reasons)
    assert str(class_of) not in reasons and "dnnsteps-grade-" not in reasons
    assert grades[0].reasons[0].startswith("not reproduced")
    assert grades[3].params == tiny().count_params() and grades[3].claimed == 0.9995
    assert "biases: " in "; ".join(grades[2].reasons)
    assert grades[4].reasons[0].startswith("cannot unzip")
    table = grade.to_markdown(grades).splitlines()
    assert table[0] == "| " + " | ".join(grade.COLUMNS) + " |" and len(table) == 7


def test_twins_and_our_dnn8_are_flagged_not_failed(tmp_path, monkeypatch):
    """The same weights in two folders (their logs differ), both dnnsteps's DNN8."""
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    model = models.dnn8()
    submission_folder(tmp_path / "class", "a", model)
    submission_folder(tmp_path / "class", "b", model, val=(0.99, 0.9995))
    submission_folder(tmp_path / "class", "c", tiny(), val=(0.9, 0.95))
    a, b, c = grade.grade_all(tmp_path / "class")
    assert a.flags == ["architecture of dnnsteps's DNN8", "same weights as b"]
    assert b.flags == ["architecture of dnnsteps's DNN8", "same weights as a"]
    assert c.flags == [] and a.verdict == b.verdict == "fail"  # untrained: not reproduced
    assert a.reasons[0].startswith("not reproduced")


def test_a_folder_without_submissions_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(grade.DnnstepsError, match="holds no submission folders"):
        grade.grade_all(tmp_path)


def test_cli_grade_writes_csv_once_and_never_inside_the_class(
    class_of, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    out = tmp_path / "grades.csv"
    assert cli.main(["grade", str(class_of), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| ada | fail |" in printed and "| bob | invalid |" in printed
    assert printed.endswith(
        "\n\n5 hand-ins: 0 pass, 3 fail, 2 invalid; 3 re-run on the 1,000-image smoke "
        f"subset, 0 audited from text (not re-run); 2 flagged.\nwrote {out}\n"
    )
    first = out.read_text()
    assert first.splitlines()[0] == ",".join(grade.COLUMNS)
    assert cli.main(["grade", str(class_of), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == first
    assert cli.main(["grade", str(class_of), "--out", str(class_of / "g.csv")]) == 2
    assert "inside" in capsys.readouterr().err and not (class_of / "g.csv").exists()
    out.write_text("old")
    assert cli.main(["grade", str(class_of), "--out", str(out), "--force"]) == 0
    assert out.read_text() == first


@pytest.mark.slow
def test_a_submission_trained_the_course_s_old_way_on_x_over_255_is_reproduced(tmp_path):
    """No Rescaling layer, trained on x / 255, logged by Keras's own CSVLogger."""
    (x_train, y_train), (x_test, y_test) = data.mnist(smoke=True)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(8, 3, use_bias=False),
                              L.BatchNormalization(momentum=0.5), L.ReLU(), L.MaxPooling2D(2),
                              L.Flatten(), L.Dense(10, use_bias=False), L.Softmax()])  # fmt: skip
    adam = keras.optimizers.Adam(0.01)
    model.compile(adam, "sparse_categorical_crossentropy", metrics=["accuracy"])
    folder = tmp_path / "class" / "old"
    folder.mkdir(parents=True)
    model.fit(x_train[:300] / 255, y_train[:300], batch_size=16, verbose=0,
              validation_data=(x_test / 255, y_test),
              callbacks=[keras.callbacks.CSVLogger(str(folder / "log.csv"))])  # fmt: skip
    model.save(folder / "model.keras")
    (g,) = grade.grade_all(tmp_path / "class", smoke=True)
    assert (g.input, g.verdict) == ("x / 255", "fail"), g.reasons
    assert not any(r.startswith("not reproduced") for r in g.reasons)
    assert abs(g.measured - g.claimed) <= grade.TOLERANCE and g.claimed > 0.3  # learnt


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="grades under TF")
def test_a_submission_trained_under_jax_is_graded_under_tensorflow(tmp_path):
    """The CLI trains in a JAX process (a resumable run folder: model.keras + log.csv);
    this TensorFlow process grades it, and the weights reproduce the JAX log."""
    import os
    import subprocess
    import sys

    folder = tmp_path / "class" / "jax_run"
    env = {**os.environ, "KERAS_BACKEND": "jax", "DNNSTEPS_SMOKE": "1"}
    env.pop("DNNSTEPS_FULL", None)
    done = subprocess.run(
        [sys.executable, "-m", "dnnsteps", "train", "dnn3", "--epochs", "2", "--seed", "0",
         "--run-dir", str(folder)],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (g,) = grade.grade_all(tmp_path / "class", smoke=True)
    assert keras.backend.backend() == "tensorflow"
    assert g.input == "raw 0-255", g.reasons
    assert abs(g.measured - g.claimed) <= grade.TOLERANCE and g.claimed > 0.3
