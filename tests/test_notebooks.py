"""The committed notebooks: shape, metadata, and outputs from a real full run."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from dnnsteps import models, notebooks, results

ROOT = Path(__file__).resolve().parents[1]
PATHS = sorted((ROOT / "notebooks").glob("DNN*.ipynb"))
METRICS = json.loads((ROOT / "results" / "metrics.json").read_text())


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
    record = nb.cells[-1].outputs[0]["text"]
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
    record = nb.cells[-1].outputs[0]["text"]
    assert f"test accuracy {metrics['test_accuracy']:.2%}" in record
    assert f"{metrics['params']:,} parameters" in "".join(
        o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
    )
    # The notebook's own verdict on its targets is the one the metrics give.
    verdict = "".join(o.get("text", "") + o.get("evalue", "") for o in nb.cells[-1].outputs)
    problems = results.check_targets(metrics)
    if problems:
        assert all(p in verdict for p in problems) and "TargetMissed" in json.dumps(
            nb.cells[-1].outputs
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
