import json
from types import SimpleNamespace

import keras
import pytest

from dnnsteps import assignment, layers, models

L = keras.layers
PASSING = [0.985, 0.991, 0.9935, 0.9942, 0.9946]


def by_rule(results):
    return {r.rule: r.passed for r in results}


def sequential(*body, name="m"):
    return keras.Sequential([keras.Input((28, 28, 1)), *body], name=name)


def all_conv():
    """A tiny model that follows every layer rule."""
    return sequential(
        L.Conv2D(4, 3, use_bias=False),
        L.Conv2D(10, 1, use_bias=False),
        L.GlobalAveragePooling2D(),
        L.Softmax(),
    )


class Head(L.Layer):
    """A custom layer that hides a Dense inside itself."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = L.Dense(10, use_bias=False, name="inner")

    def call(self, x):
        return self.inner(x)


def test_dnn8_with_a_good_history_passes_every_rule():
    results = assignment.check(models.build("dnn8"), PASSING)
    assert by_rule(results) == {
        "parameters": True,
        "fully connected layers": True,
        "biases": True,
        "validation accuracy": True,
    }
    assert assignment.passed(results)
    assert "first at epoch 4" in results[-1].actual
    assert assignment.verdict(results) == "The model meets every rule of the assignment."


def test_too_many_parameters():
    results = assignment.check(models.build("dnn5"), PASSING)
    assert by_rule(results)["parameters"] is False
    assert [r.rule for r in results if not r.passed] == ["parameters"]
    assert assignment.verdict(results).startswith("Not there yet: parameters: ")


def test_without_a_history_only_the_model_rules_are_checked():
    assert [r.rule for r in assignment.check(all_conv())] == [
        "parameters",
        "fully connected layers",
        "biases",
    ]


def test_top_level_fully_connected_layer():
    model = sequential(
        L.Conv2D(4, 3, use_bias=False),
        L.GlobalAveragePooling2D(),
        L.Dense(10, use_bias=False),
    )
    checked = by_rule(assignment.check(model, PASSING))
    assert checked["fully connected layers"] is False and checked["parameters"] is True


def test_dense_nested_in_a_sequential_is_found():
    head = keras.Sequential(
        [L.Flatten(), L.Dense(10, use_bias=False, name="fc")], name="head"
    )
    model = sequential(L.Conv2D(4, 3, use_bias=False), L.MaxPooling2D(4), head)
    (rule,) = [r for r in assignment.check(model) if r.rule == "fully connected layers"]
    assert not rule.passed and rule.actual == "head/fc"
    assert [layer.name for layer in model.layers if isinstance(layer, L.Dense)] == []


def test_dense_nested_in_a_functional_sub_model_and_a_custom_layer():
    x = keras.Input((28, 28, 1))
    y = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, use_bias=False)(x))
    inner_in = keras.Input((4,))
    inner = keras.Model(
        inner_in, L.Dense(10, use_bias=False, name="fc")(inner_in), name="sub"
    )
    model = keras.Model(x, Head(name="custom")(inner(y)))
    found = layers.fully_connected(model)
    assert found == ["sub/fc", "custom/inner"]
    assert not by_rule(assignment.check(model))["fully connected layers"]


def test_einsum_dense_is_fully_connected():
    model = sequential(L.Flatten(), L.EinsumDense("ab,bc->ac", output_shape=10))
    assert layers.fully_connected(model) == [model.layers[-1].name]


@pytest.mark.parametrize(
    "layer",
    [
        L.Conv2D(4, 3),
        L.SeparableConv2D(4, 3),
        L.DepthwiseConv2D(3),
        L.Conv2DTranspose(4, 3),
        L.Dense(4),
        L.EinsumDense("abcd,de->abce", output_shape=(28, 28, 4), bias_axes="e"),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_every_layer_kind_with_a_bias_is_caught(layer):
    model = sequential(layer)
    (rule,) = [r for r in assignment.check(model) if r.rule == "biases"]
    assert not rule.passed and rule.actual == layer.name


@pytest.mark.parametrize(
    "layer",
    [L.Conv1D(4, 3), L.Conv3D(4, 3)],
    ids=lambda layer: type(layer).__name__,
)
def test_1d_and_3d_convolutions_hold_biases_too(layer):
    assert layers.has_bias(layer) and not layers.has_bias(type(layer)(4, 3, use_bias=False))


def test_batch_norm_beta_is_not_a_bias_and_bias_free_layers_pass():
    model = sequential(
        L.SeparableConv2D(4, 3, use_bias=False),
        L.BatchNormalization(),
        L.Conv2D(10, 1, use_bias=False),
        L.GlobalAveragePooling2D(),
    )
    assert by_rule(assignment.check(model))["biases"] is True


def test_bias_inside_a_nested_model_is_found():
    block = keras.Sequential([L.Conv2D(4, 3)], name="block")
    model = sequential(block, L.Conv2D(10, 1, use_bias=False))
    assert layers.biased(model) == [f"block/{block.layers[0].name}"]


@pytest.mark.parametrize(
    "history, note",
    [
        ([0.99, 0.9939], ""),
        ([0.99] * 20 + [0.995], "reached only at epoch 21"),
        ([], "no validation accuracy recorded"),
    ],
)
def test_accuracy_below_target_or_too_late(history, note):
    results = assignment.check(models.build("dnn8"), history)
    assert [r.rule for r in results if not r.passed] == ["validation accuracy"]
    assert note in results[-1].actual


def test_history_object_is_accepted():
    history = keras.callbacks.History()
    history.history = {"val_accuracy": PASSING}
    assert assignment.passed(assignment.check(models.build("dnn8"), history))


def rows(values):
    return [
        dict(
            epoch=i + 1,
            loss=0.1,
            accuracy=0.99,
            val_loss=0.02,
            val_accuracy=v,
            lr=0.001,
            seconds=30.0,
        )
        for i, v in enumerate(values)
    ]


def test_report_holds_every_epoch_rules_and_evaluation():
    model = models.build("dnn8")
    params = f"{model.count_params():,}"
    text = assignment.report(
        model,
        rows(PASSING),
        {"loss": 0.0191, "accuracy": 0.9946},
        "Global average pooling.",
        title="DNN8",
    )
    assert text.startswith("# DNN8: MNIST assignment submission")
    assert "meets every rule" in text
    assert text.count("Epoch ") == 5 and "Epoch  5/5" in text
    assert "accuracy: 0.9946" in text and f"Total parameters: {params}" in text
    assert f"| parameters | < 15,000 | {params} | yes |" in text
    assert "## Strategy\nGlobal average pooling." in text


# The training log -----------------------------------------------------------------


def write(path, text):
    path.write_text(text)
    return path


def test_read_log_accepts_csvlogger_and_run_logs(tmp_path):
    zero = assignment.read_log(
        write(tmp_path / "a.csv", "epoch,val_accuracy\n0,0.5\n1,0.6\n")
    )
    one = assignment.read_log(
        write(tmp_path / "b.csv", "epoch,val_accuracy\n1,0.5\n2,0.6\n")
    )
    assert [r["epoch"] for r in zero] == [r["epoch"] for r in one] == [1, 2]
    assert [r["val_accuracy"] for r in zero] == [0.5, 0.6]


@pytest.mark.parametrize(
    "text, message",
    [
        ("epoch,accuracy\n0,0.5\n", "no val_accuracy column"),
        ("val_accuracy\n0.5\n", "no epoch column"),
        ("epoch,val_accuracy\n0,0.5\n2,0.6\n", "none repeated or missing"),
        ("epoch,val_accuracy\n0,0.5\n0,0.6\n", "none repeated or missing"),
        ("epoch,val_accuracy\n0,nan\n", "not between 0 and 1"),
        ("epoch,val_accuracy\n0,high\n", "must be numbers"),
        ("epoch,val_accuracy\n", "holds no epochs"),
    ],
)
def test_read_log_refuses_a_broken_log(tmp_path, text, message):
    with pytest.raises(assignment.SubmissionError, match=message):
        assignment.read_log(write(tmp_path / "log.csv", text))


# Writing files -----------------------------------------------------------------------


def test_write_new_file_refuses_to_overwrite_without_force(tmp_path):
    target = write(tmp_path / "mine.md", "my own notes")
    with pytest.raises(assignment.SubmissionError, match="already exists"):
        assignment.write_new_file(target, "new")
    assert target.read_text() == "my own notes"
    assignment.write_new_file(target, "new", force=True)
    assert target.read_text() == "new"
    nested = assignment.write_new_file(tmp_path / "a" / "b" / "c.md", "x")
    assert nested.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "mine.md"]  # no temp left
    with pytest.raises(assignment.SubmissionError, match="is a folder"):
        assignment.write_new_file(tmp_path / "a", "x", force=True)


def trained(values=PASSING, run_dir=None):
    """What train.fit returns, as far as submit looks at it."""
    history = keras.callbacks.History()
    history.history = {
        "loss": [0.1] * len(values),
        "accuracy": [0.99] * len(values),
        "val_loss": [0.02] * len(values),
        "val_accuracy": list(values),
        "lr": [0.001] * len(values),
    }
    return SimpleNamespace(model=all_conv(), history=history, run_dir=run_dir)


EVALUATION = {"loss": 0.02, "accuracy": 0.9946}


def test_submit_writes_readme_model_and_a_csvlogger_log(tmp_path):
    folder = assignment.submit(trained(), tmp_path / "sub", evaluation=EVALUATION)
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert names == ["README.md", "log.csv", "model.keras"]
    readme = (folder / "README.md").read_text()
    assert "_Replace this paragraph" in readme  # an empty strategy leaves a prompt
    assert "accuracy: 0.9946" in readme and "Epoch  5/5" in readme
    assert "| biases | none | none | yes |" in readme
    log = (folder / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,") and log[1].startswith(
        "0,"
    )  # CSVLogger counts from 0
    assert [r["val_accuracy"] for r in assignment.read_log(folder / "log.csv")] == PASSING
    loaded = keras.saving.load_model(folder / "model.keras", safe_mode=True, compile=False)
    assert loaded.count_params() == all_conv().count_params()
    assert [p.name for p in tmp_path.iterdir()] == ["sub"]  # no staging folder left


def test_submit_prefers_the_run_log(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write(
        run_dir / "log.csv",
        "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n"
        "1,0.3,0.9,0.1,0.97,0.001,12.5\n",
    )
    folder = assignment.submit(
        trained(run_dir=run_dir), tmp_path / "sub", evaluation=EVALUATION
    )
    assert "Epoch  1/1 - 12s" in (folder / "README.md").read_text()


def test_submit_replaces_its_own_folder_but_nothing_else(tmp_path):
    folder = tmp_path / "sub"
    assignment.submit(trained(), folder, strategy="first", evaluation=EVALUATION)
    assignment.submit(trained(), folder, strategy="second", evaluation=EVALUATION)
    assert "second" in (folder / "README.md").read_text()

    (folder / "README.md").write_text("edited by hand")
    with pytest.raises(assignment.SubmissionError, match="left untouched"):
        assignment.submit(trained(), folder, evaluation=EVALUATION)
    assert (folder / "README.md").read_text() == "edited by hand"

    foreign = tmp_path / "mine"
    foreign.mkdir()
    write(foreign / "notes.txt", "keep me")
    with pytest.raises(assignment.SubmissionError, match="left untouched"):
        assignment.submit(trained(), foreign, evaluation=EVALUATION)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_a_manifest_does_not_protect_extra_files(tmp_path):
    folder = assignment.submit(trained(), tmp_path / "sub", evaluation=EVALUATION)
    assert assignment.is_own_submission(folder)
    write(folder / "extra.txt", "mine")
    assert not assignment.is_own_submission(folder)
    manifest = json.loads((folder / assignment.MANIFEST_FILE).read_text())
    assert set(manifest["files"]) == {"README.md", "log.csv", "model.keras"}
