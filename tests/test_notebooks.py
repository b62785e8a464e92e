"""The committed notebooks: shape, metadata, and outputs from a real full run."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from dnnsteps import beyond, models, notebooks, results

ROOT = Path(__file__).resolve().parents[1]
PATHS = sorted((ROOT / "notebooks").glob("DNN*.ipynb"))
METRICS = json.loads((ROOT / "results" / "metrics.json").read_text())


def record_cell(nb):
    """The run-record cell (the last cell of the step itself; extras may follow it)."""
    (cell,) = [c for c in nb.cells if "results.finish(" in c.source]
    return cell


def test_there_are_eight_steps_in_order():
    assert [p.name[:4] for p in PATHS] == [f"DNN{i}" for i in range(1, 9)]
    assert [notebooks.step_of(notebooks.read(p)) for p in PATHS] == list(models.NAMES)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_shape(path):
    nb = notebooks.read(path)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert len(re.findall(r"(?m)^# ", markdown)) == 1
    assert nb.cells[0].source.startswith("# DNN")
    assert "colab.research.google.com/github/" in nb.cells[0].source
    assert "## Overview" in nb.cells[0].source
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "SEED = " in tagged[0].source
    assert "import dnnsteps" in nb.cells[2].source  # the one setup cell


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_metadata_is_normalised(path):
    nb = notebooks.read(path)
    assert set(nb.metadata) == {"kernelspec", "language_info", "colab", "dnnsteps"}
    assert nb.metadata.kernelspec.name == "python3"
    assert [c.id for c in nb.cells] == [f"cell-{i:02d}" for i in range(len(nb.cells))]
    assert not any("execution" in c.metadata for c in nb.cells)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_outputs_are_a_full_run(path):
    nb = notebooks.read(path)
    recipe = models.get_step(notebooks.step_of(nb)).recipe
    assert notebooks.logged_epochs(nb) >= recipe.epochs, "smoke outputs committed?"
    record = record_cell(nb).outputs[0]["text"]
    assert "(full mode)" in record and "60,000 training images" in record


def test_fewer_epochs_than_the_recipe_are_detected():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("run = train.fit(model)")
    cell.outputs = [
        nbformat.v4.new_output(
            "stream", name="stdout", text="Epoch  1/1 - 2s - loss: 2.1 - accuracy: 0.3\n"
        )
    ]
    nb.cells.append(cell)
    assert notebooks.logged_epochs(nb) == 1 < models.get_step("dnn8").recipe.epochs


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_metrics_agree_with_the_notebook(path):
    nb = notebooks.read(path)
    metrics = METRICS[path.stem]
    record = record_cell(nb).outputs[0]["text"]
    assert f"test accuracy {metrics['test_accuracy']:.2%}" in record
    assert f"{metrics['params']:,} parameters" in "".join(
        o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
    )
    # The notebook's own verdict on its targets is the one the metrics give.
    verdict = "".join(
        o.get("text", "") + o.get("evalue", "") for o in record_cell(nb).outputs
    )
    problems = results.check_targets(metrics)
    if problems:
        assert all(p in verdict for p in problems) and "TargetMissed" in json.dumps(
            record_cell(nb).outputs
        )
    else:
        assert f"{metrics['model']}: met every target." in verdict


def test_readme_table_is_generated_from_metrics():
    readme = (ROOT / "README.md").read_text()
    table = readme.split(results.TABLE_START)[1].split(results.TABLE_END)[0]
    assert table.strip() == results.results_table(METRICS).strip()


def test_noise_is_stripped_from_outputs():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text=(
                "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                "E0000 00:00:1795421157.432239    3959 cuda_platform.cc:52] failed call to cuInit\n"
            ),
        ),
        nbformat.v4.new_output("stream", name="stderr", text="UserWarning: real\n"),
    ]
    nb.cells.append(cell)
    notebooks.normalise(nb)
    assert [o["text"] for o in nb.cells[0].outputs] == ["UserWarning: real\n"]


LITE_FILE = ROOT / "results" / "dnn8_lite.json"


def test_dnn8_goes_further_with_three_seeds_of_the_record_small_model():
    (path,) = [p for p in PATHS if p.name.startswith("DNN8")]
    nb = notebooks.read(path)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    recipe = models.get_step("dnn8_lite").recipe
    parts = text.split("--- dnn8_lite, seed ")[1:]
    assert [int(part.split("\n")[0]) for part in parts] == list(beyond.SEEDS)
    for part in parts:  # every seed's log runs to the recipe's last epoch
        assert f"Epoch {recipe.epochs:>2}/{recipe.epochs} " in part
    lite = json.loads(LITE_FILE.read_text())
    assert lite["mode"] == "full" and sorted(lite["seeds"]) == ["0", "1", "2"]
    assert lite["params"] == models.build("dnn8_lite").count_params()
    assert f"{lite['params']:,} parameters" in text
    # What the README and the notebook claim is what the record shows.
    for s in lite["seeds"].values():
        tail = s["val_accuracy_curve"][-recipe.hold_last :]
        assert (min(tail) >= recipe.target_accuracy) == (not s["problems"])
        assert ", ".join(f"{v:.2%}" for v in tail) in text
    readme = (ROOT / "README.md").read_text()
    block = readme.split(results.EXTRA_START)[1].split(results.EXTRA_END)[0]
    assert block.strip() == results.extra_table(lite).strip()
