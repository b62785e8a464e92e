"""Hand-ins graded from their text: READMEs and notebooks as students push them.

Every fixture is text, shaped like what students of this course paste: Keras 3 and
Keras 2 epoch lines, LearningRateScheduler lines between epochs, tf.keras's bar-less and
verbose=2 lines, notebook prompts, HTML line breaks, summaries in both formats, an
evaluate result on the next line or bare, a parameter count said only in prose, several
runs in one README. Nothing here trains a model.
"""

import json

import pytest

from dnnsteps import cli, grade, handin_text, models

HONEST = [0.9790, 0.9841, 0.9876, 0.9901, 0.9915, 0.9921, 0.9925, 0.9931, 0.9929, 0.9936]
HONEST += [0.9938, 0.9942, 0.9945, 0.9941, 0.9946, 0.9944, 0.9948, 0.9947, 0.9950, 0.9949]
SHORT = [v - 0.0030 for v in HONEST]  # never reaches 99.4%


def keras3(val, seed=0, bar=False):
    """``model.fit`` under Keras 3: verbose=2 lines, or verbose=1 with its bar."""
    lines = []
    for i, v in enumerate(val, 1):
        loss = f"loss: {0.3 / i + seed / 1e4:.4f}"
        head = (
            "469/469 ━━━━━━━━━━━━━━━━━━━━ 9s 19ms/step"
            if bar
            else "938/938 - 12s - 13ms/step"
        )
        lines += [f"Epoch {i}/{len(val)}", f"{head} - accuracy: {v - 0.004:.4f} - {loss} "
                  f"- val_accuracy: {v:.4f} - val_loss: {0.02 + seed / 1e4:.4f}"]  # fmt: skip
    return "\n".join(lines)


def keras2(val, seed=0, style="bar", key="val_acc"):
    """Keras 2 / tf.keras, LearningRateScheduler(verbose=1) lines between the epochs."""
    lines = ["Train on 60000 samples, validate on 10000 samples"]
    for i, v in enumerate(val, 1):
        rate = round(0.003 / (1 + 0.319 * (i - 1)), 10)
        head = {"bar": "60000/60000 [==============================] - 7s 112us/step",
                "bare": "60000/60000 - 17s 285us/step", "verbose2": " - 3s"}[style]  # fmt: skip
        lines += [f"Epoch {i}/{len(val)}", "",
                  f"Epoch {i:05d}: LearningRateScheduler setting learning rate to {rate}.",
                  f"{head} - loss: {0.3 / i + seed / 1e4:.4f} - acc: {v - 0.01:.4f} - "
                  f"val_loss: {0.02 + seed / 1e4:.4f} - {key}: {v:.4f}"]  # fmt: skip
    return "\n".join(lines)


def summary2(rows, bias_free_params=None):
    """``model.summary()`` as Keras 2 printed it (long type names cut at 12 letters)."""
    line = "_" * 65
    out = ['Model: "sequential_1"', line, "Layer (type)                 Output Shape"
           "              Param #   ", "=" * 65]  # fmt: skip
    for name, kind, shape, params in rows:
        out += [f"{f'{name} ({kind[:12]}'}{')' * (len(kind) <= 12):<29}"
                f"{str((None, *shape)):<26}{params:<10}", line]  # fmt: skip
    total = sum(r[3] for r in rows)
    return "\n".join([*out[:-1], "=" * 65, f"Total params: {total:,}",
                      f"Trainable params: {total:,}", "Non-trainable params: 0", line])  # fmt: skip


def summary3(model):
    """``model.summary()`` as Keras 3 prints it, boxes and wrapped type names included."""
    lines = []
    model.summary(print_fn=lambda text, line_break=True: lines.append(text))
    return "\n".join(lines)


# A model within the rules, and broken ones, as summary rows: (name, type, shape, params)
CONVS = [("conv2d_1", "Conv2D", (26, 26, 10), 90),
         ("batch_normalization_1", "BatchNormalization", (26, 26, 10), 40),
         ("conv2d_2", "Conv2D", (24, 24, 16), 1440),
         ("max_pooling2d_1", "MaxPooling2D", (12, 12, 16), 0),
         ("conv2d_3", "Conv2D", (12, 12, 10), 160),
         ("conv2d_4", "Conv2D", (10, 10, 16), 1440),
         ("conv2d_5", "Conv2D", (8, 8, 16), 2304),
         ("conv2d_6", "Conv2D", (6, 6, 16), 2304)]  # fmt: skip
LAWFUL = [
    *CONVS,
    ("conv2d_7", "Conv2D", (1, 1, 10), 5760),
    ("flatten_1", "Flatten", (10,), 0),
]
DENSE = [*CONVS, ("flatten_1", "Flatten", (576,), 0), ("dense_1", "Dense", (10,), 5760)]
BIASED = [("conv2d_1", "Conv2D", (26, 26, 12), 120), *LAWFUL[1:]]  # 3x3, 1 -> 12 channels
WIDE = [*CONVS[:-1], ("conv2d_6", "Conv2D", (6, 6, 24), 3456), ("conv2d_7", "Conv2D", (1, 1, 10), 8640)]  # fmt: skip
# The course's eighth network, biases included (16,604 parameters): batch norm and
# dropout after every 3x3 convolution but the last, a 1x1 before the max-pool
CONV_BN = [(f"conv2d_{i}", (s, s, c), p) for i, (s, c, p) in enumerate(
    [(26, 16, 160), (24, 32, 4640), (24, 10, 330), (10, 16, 1456), (8, 16, 2320),
     (6, 16, 2320), (4, 16, 2320), (1, 10, 2570)], 1)]  # fmt: skip
COURSE_DNN8 = []
for i, (name, shape, params) in enumerate(CONV_BN, 1):
    COURSE_DNN8.append((name, "Conv2D", shape, params))
    if i == 3:
        COURSE_DNN8.append(("max_pooling2d_1", "MaxPooling2D", (12, 12, 10), 0))
    else:
        COURSE_DNN8 += [(f"batch_normalization_{i}", "BatchNormalization", shape, 4 * shape[-1]),
                        (f"dropout_{i}", "Dropout", shape, 0)]  # fmt: skip
COURSE_DNN8 += [
    ("flatten_1", "Flatten", (10,), 0),
    ("activation_1", "Activation", (10,), 0),
]


def notebook(*cells):
    """An .ipynb's JSON: (source, output text) per code cell, outputs as Jupyter saves them."""
    return json.dumps({"nbformat": 4, "cells": [
        {"cell_type": "code", "source": src.splitlines(True), "outputs": [
            {"output_type": "stream", "name": "stdout", "text": out.splitlines(True)}]}
        for src, out in cells]})  # fmt: skip


EVALUATE = "score = model.evaluate(X_test, Y_test, verbose=0)\nprint(score)\n"
FIXTURES = {
    # name: (files, verdict, what the reasons or the graded column must say)
    "honest_keras3": (
        {
            "README.md": f"# CODE9\n\n{summary3(models.code9())}\n\n## Logs\n"
            f"```\n{keras3(HONEST, 1)}\n```\n\n313/313 - 1s - 3ms/step - accuracy: "
            "0.9949 - loss: 0.0177\n\n## Strategy\nGAP, batch norm."
        },
        "pass",
        "",
    ),
    "honest_prose_count": (
        {
            "README.md": f"Logs\n\n{keras2(HONEST, 2)}\n<keras.callbacks.History"
            " at 0x7f2d25df49b0>\n\nscore = model.evaluate(X_test, Y_test)</br>\n"
            "[0.0177, 0.9949]</br>\n\nWe reduced the total params to 13538, "
            "within 15k parameters."
        },
        "pass",
        "no summary",
    ),  # fmt: skip
    "over_budget": (
        {"README.md": f"{summary2(WIDE)}\n\n{keras2(HONEST, 3)}"},
        "fail",
        "parameters: 17,570 (from the summary) (required < 15,000)",
    ),
    "dense_head": (
        {"README.md": f"{summary2(DENSE)}\n\n{keras3(HONEST, 4)}"},
        "fail",
        "fully connected layers: dense_1 (required none)",
    ),
    "biases": (
        {"README.md": f"{summary2(BIASED)}\n{keras3(HONEST, 5, bar=True)}"},
        "fail",
        "biases: conv2d_1 (required none)",
    ),
    "claim_above_log": (
        {
            "README.md": f"{summary2(LAWFUL)}\n{keras2(SHORT, 6)}\n\n{EVALUATE}"
            "Out[37]: [0.0201, 0.9952]\n\nIt reached 99.52% accuracy."
        },
        "fail",
        "claim above the log: 0.9952",
    ),  # fmt: skip
    "old_keys_tf_keras": (
        {
            "README.md": f"{summary2(LAWFUL)}\n{keras2(HONEST, 7, 'bare')}\n\n"
            f"{keras2(HONEST, 8, 'verbose2', key='val_accuracy')}"
        },
        "pass",
        "cannot tell which is the result",
    ),  # fmt: skip
    "notebook_only": (
        {
            "CODE9.ipynb": notebook(
                ("model.summary()", summary2(LAWFUL)),
                ("model.fit(x, y, epochs=20)", keras3(HONEST, 9)),
                (EVALUATE, "[0.0180, 0.9949]"),
            )
        },
        "pass",
        "audited from text (not re-run): CODE9.ipynb",
    ),  # fmt: skip
    "course_dnn8": (
        {"README.md": f"{summary2(COURSE_DNN8)}\n{keras2(HONEST, 10)}"},
        "fail",
        "biases: conv2d_1, conv2d_2, conv2d_3, conv2d_4, conv2d_5, conv2d_6, "
        "conv2d_7, conv2d_8",
    ),  # fmt: skip
    "our_dnn8": (
        {"README.md": f"{summary3(models.dnn8())}\n{keras3(HONEST, 11)}"},
        "pass",
        "",
    ),
    "twin_a": ({"README.md": f"{summary2(LAWFUL)}\n{keras2(HONEST, 12)}"}, "pass", ""),
    "twin_b": (
        {"README.md": f"My logs:\n\n{keras2(HONEST, 12)}\n13,538 parameters"},
        "pass",
        "",
    ),
    "too_many_epochs": (
        {"README.md": f"{summary2(LAWFUL)}\n{keras3(SHORT + [0.9951], 13)}"},
        "fail",
        "log has 21 epochs",
    ),
    "garbage": (
        {
            "README.md": "# My assignment\n\nI could not finish it. Total: 12",
            "x.ipynb": "{not json",
        },
        "invalid",
        "no training log (Epoch N/M, val accuracy) in garbage/README.md, garbage/x.ipynb",
    ),  # fmt: skip
    "empty": (
        {"notes.txt": "nothing here"},
        "invalid",
        "empty has no model.keras, no README",
    ),
}
FLAGS = {"course_dnn8": "architecture of the course's DNN8",
         "our_dnn8": "architecture of dnnsteps's DNN8",
         "twin_a": "same log as twin_b", "twin_b": "same log as twin_a"}  # fmt: skip


def write(root, name, files):
    for path, text in files.items():
        (root / name / path).parent.mkdir(parents=True, exist_ok=True)
        (root / name / path).write_text(text)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    for name, (files, _, _) in FIXTURES.items():
        write(root, name, files)
    return root, {g.submission: g for g in grade.grade_all(root)}


@pytest.mark.parametrize("name", FIXTURES)
def test_each_fixture_gets_its_verdict(graded, name):
    g = graded[1][name]
    _, verdict, said = FIXTURES[name]
    assert g.verdict == verdict, g.reasons
    assert said in " ".join([g.graded, *g.reasons]), (g.graded, g.reasons)
    assert g.flags == ([FLAGS[name]] if name in FLAGS else []), g.flags
    assert (g.measured, g.input) == (None, "")  # nothing was run
    if verdict != "invalid":
        assert g.graded.startswith("audited from text (not re-run): ")
        assert all(r.startswith(("parameters", "fully", "biases", "validation", "claim", "log has"))
                   for r in g.reasons)  # fmt: skip
    else:  # the folder is named relative to the graded folder
        assert str(graded[0]) not in g.reasons[0] and name in g.reasons[0]


def test_numbers_read_from_the_text(graded):
    g = graded[1]
    assert (g["honest_keras3"].params, g["honest_keras3"].claimed) == (
        models.code9().count_params(), 0.9949)  # fmt: skip
    assert g["honest_prose_count"].params == 13538  # "within 15k parameters" is the limit
    assert (
        g["course_dnn8"].params == 16604
        and g["our_dnn8"].params == models.dnn8().count_params()
    )
    assert "parameters: 16,604" in g["course_dnn8"].reasons[0]
    assert "(99.20% best)" in g["claim_above_log"].reasons[0]


def test_cli_prints_the_summary_line_and_writes_the_csv(graded, tmp_path, capsys):
    out = tmp_path / "grades.csv"
    assert cli.main(["grade", str(graded[0]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    n = len(FIXTURES)
    assert f"\n\n{n} hand-ins: 7 pass, 6 fail, 2 invalid; 0 re-run on " in printed
    assert f", {n - 2} audited from text (not re-run); 4 flagged.\n" in printed
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(grade.COLUMNS) and len(lines) == n + 1
    assert lines[1].startswith("biases,fail,audited from text (not re-run): README.md,")
    assert cli.main(["grade", str(graded[0]), "--out", str(out)]) == 2  # refuses at once
    assert capsys.readouterr().err.startswith(f"error: {out} exists")


def test_a_heading_or_the_evaluate_line_names_the_run_taken():
    first, final = keras2(SHORT, 1), keras2(HONEST, 2)
    a = handin_text.audit(f"## First try\n{first}\n\n## Final model\n{final}\n\n## Results of other "
                          f"architectures\n{keras3(SHORT[:5], 3)}")  # fmt: skip
    assert a.val == HONEST and a.notes == ["run 2 of 3 taken: the one under 'Final model'"]
    a = handin_text.audit(f"{final}\n{EVALUATE}\n[0.0201, 0.9949]\n\n{keras3(SHORT, 4)}")
    assert a.val == HONEST and "the complete log before the evaluate line" in a.notes[0]
    stopped = "\n".join(keras3(HONEST, 5).splitlines()[:14])  # Epoch 7/20, interrupted
    a = handin_text.audit(f"{stopped}\nKeyboardInterrupt\n{final}")
    assert a.val == HONEST and a.notes == ["run 2 of 2 taken: the only complete log"]
    a = handin_text.audit(f"{final}\n\n{keras3(SHORT, 6)}")
    assert a.val == SHORT and "cannot tell which is the result" in a.notes[0]


def test_lines_a_markdown_paragraph_joined_are_read():
    joined = keras2(HONEST, 1).replace("\n\n", " ").replace("\n", " ")
    a = handin_text.audit(joined + "\n\nmodel.evaluate(on test data)[0.0193, 0.9949]")
    assert a.val == HONEST and a.epochs == 20 and a.claims == [("0.9949", 0.9949, 5e-5)]


@pytest.mark.parametrize(
    "said, params",
    [("reduced the total params to 15070", 15070), ("Total params: 14,754", 14754),
     ("13.5k params in all", 13500), ("under 15k parameters, we used 9,862 parameters", 9862),
     ("Parameters < 15,000", None), ("Number of parameters: 14,322", 14322)],
)  # fmt: skip
def test_a_count_said_in_prose_is_read_and_the_limit_is_not(said, params):
    assert handin_text.audit(f"{keras3(HONEST)}\n{said}\n").params == params


def test_a_summary_printed_after_training_counts_the_model_not_its_optimizer():
    import keras

    from dnnsteps import models

    model = models.dnn8()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)  # as after fit: Adam's moments
    shown = summary3(model)
    assert "Optimizer params" in shown and isinstance(model, keras.Model)
    assert handin_text.audit(f"{shown}\n{keras3(HONEST)}").params == model.count_params()


def test_bias_is_inferred_from_a_conv_row_s_count():
    for rows, biased in [(BIASED, ["conv2d_1"]), (LAWFUL, []), (COURSE_DNN8[:7], ["conv2d_1", "conv2d_2", "conv2d_3"])]:  # fmt: skip
        assert handin_text.audit(f"{summary2(rows)}\n{keras3(HONEST)}").biased == biased


def test_a_rounded_or_target_percentage_is_no_false_claim():
    text = f"{keras3(SHORT)}\nBest val accuracy 99.2%, the target is 99.4% accuracy.\n"
    assert [c[0] for c in handin_text.audit(text).claims] == ["99.2%"]


def test_a_repository_downloaded_as_a_zip_and_junk_are_graded_without_a_traceback(tmp_path):
    import zipfile

    root = tmp_path / "class"
    root.mkdir()
    with zipfile.ZipFile(root / "ada.zip", "w") as zf:  # GitHub's "Download ZIP"
        zf.writestr("EVA-S2-main/README.md", f"{summary2(LAWFUL)}\n{keras2(HONEST, 1)}")
        zf.writestr("EVA-S2-main/.ipynb_checkpoints/x-checkpoint.ipynb", "{}")
    write(root, "bob", {"README.md": "Epoch 1/20 \x00\x9f\xff" * 50, "x.ipynb": "[1, 2]"})
    (root / "bob" / "README.md").write_bytes(b"\xff\xfe\x00Epoch 3/2 val_acc: 9" * 99)
    ada, bob = grade.grade_all(root)
    assert (ada.verdict, ada.graded, ada.params) == (
        "pass",
        f"{grade.FROM_TEXT}: README.md",
        13538,
    )
    assert bob.verdict == "invalid" and bob.reasons[0].startswith("no training log")
    assert (
        str(root) not in bob.reasons[0] and "bob/README.md, bob/x.ipynb" in bob.reasons[0]
    )


def test_a_summary_whose_lines_were_joined_by_html_breaks_is_read():
    text = summary2(COURSE_DNN8[:7]).replace("\n", "</br>") + "\n" + keras3(HONEST)
    assert handin_text.audit(text).biased == ["conv2d_1", "conv2d_2", "conv2d_3"]


def test_cli_mistakes_are_one_error_line_and_change_nothing(graded, tmp_path, capsys):
    root = graded[0]
    before = sorted(p.stat().st_mtime_ns for p in root.rglob("*"))
    (tmp_path / "kept.csv").write_text("old")
    for args, said in [
        ([str(tmp_path / "nowhere")], "is not a folder of submissions"),
        ([str(root), "--out", str(root / "g.csv")], "is inside"),
        ([str(root), "--out", str(tmp_path / "kept.csv")], "exists; choose another file"),
        ([str(root), "--out", str(tmp_path / "no" / "g.csv")], "its folder does not exist"),
        ([str(root / "empty")], "holds no submission folders or .zip files"),
    ]:
        assert cli.main(["grade", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and said in err and err.count("\n") == 1, err
    assert (tmp_path / "kept.csv").read_text() == "old" and not (root / "g.csv").exists()
    assert sorted(p.stat().st_mtime_ns for p in root.rglob("*")) == before
