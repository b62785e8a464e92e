"""The committed notebooks' outputs: a real full run, and what they say agrees with it.

Every test here reads outputs of the last full run (``python -m dnnsteps suite``), so
they carry the ``full_run_outputs`` marker: deselect them with
``-m "not full_run_outputs"`` while a recipe change waits for its full run.
"""

import json
from pathlib import Path

import nbformat
import pytest

from dnnsteps import models, notebooks, results, seeds

ROOT = Path(__file__).resolve().parents[1]
PATHS = sorted((ROOT / "notebooks").glob("DNN*.ipynb"))
METRICS_FILE = ROOT / "results" / "metrics.json"
SEEDS_FILE = ROOT / "results" / "dnn8_seeds.json"


def outputs_text(nb) -> str:
    """Every text a student sees in the outputs: streams, errors, rich text."""
    return "".join(
        o.get("text", "") + o.get("evalue", "") + o.get("data", {}).get("text/plain", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def record_cell(nb):
    (cell,) = [c for c in nb.cells if "results.finish(" in c.source]
    return cell


@pytest.mark.full_run_outputs
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_outputs_are_a_full_run(path):
    nb = notebooks.read(path)
    recipe = models.get_step(notebooks.step_of(nb)).recipe
    assert notebooks.logged_epochs(nb) >= recipe.epochs, "smoke outputs committed?"
    record = record_cell(nb).outputs[0]["text"]
    assert "(full mode)" in record and "60,000 training images" in record


@pytest.mark.full_run_outputs
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_metrics_agree_with_the_notebook(path):
    nb = notebooks.read(path)
    metrics = json.loads(METRICS_FILE.read_text())[path.stem]
    record = "".join(o.get("text", "") for o in record_cell(nb).outputs)
    assert f"test accuracy {metrics['test_accuracy']:.2%}" in record
    assert f"{metrics['params']:,}" in outputs_text(nb)
    # The notebook's own verdict on its targets is the one the metrics give.
    problems = results.check_targets(metrics)
    if problems:
        assert all(p in record for p in problems) and "missed its target" in record
    else:
        assert f"{metrics['model']}: met every target." in record


@pytest.mark.full_run_outputs
def test_readme_table_is_generated_from_metrics():
    readme = (ROOT / "README.md").read_text()
    table = readme.split(results.TABLE_START)[1].split(results.TABLE_END)[0]
    assert (
        table.strip() == results.results_table(json.loads(METRICS_FILE.read_text())).strip()
    )


@pytest.mark.full_run_outputs
def test_dnn8_shows_its_three_seeds():
    (path,) = [p for p in PATHS if p.name.startswith("DNN8")]
    text = outputs_text(notebooks.read(path))
    recipe = models.get_step("dnn8").recipe
    parts = text.split("--- dnn8, seed ")[1:]
    assert [int(part.split("\n")[0]) for part in parts] == list(seeds.SEEDS[1:])
    for part in parts:  # every extra seed's log runs to the recipe's last epoch
        assert f"Epoch {recipe.epochs:>2}/{recipe.epochs} " in part
    record = json.loads(SEEDS_FILE.read_text())
    assert record["mode"] == "full" and sorted(record["seeds"]) == ["0", "1", "2"]
    assert record["params"] == models.build("dnn8").count_params()
    for s in record["seeds"].values():
        tail = s["val_accuracy_curve"][-recipe.hold_last :]
        assert (min(tail) >= recipe.target_accuracy) == (not s["problems"])
        assert ", ".join(f"{v:.2%}" for v in tail) in text
    readme = (ROOT / "README.md").read_text()
    block = readme.split(results.SEEDS_START)[1].split(results.SEEDS_END)[0]
    assert block.strip() == results.seeds_table(record).strip()


def test_fewer_epochs_than_the_recipe_are_detected():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("run = train.fit(model)")
    cell.outputs = [
        nbformat.v4.new_output(
            "stream", name="stdout", text="Epoch  1/9 - 2s - loss: 2.1 - accuracy: 0.3\n"
        ),
        nbformat.v4.new_output(
            "stream", name="stdout", text="Epoch  2/9 - 2s - loss: 2.0 - accuracy: 0.4\n"
        ),
    ]
    nb.cells.append(cell)
    assert notebooks.logged_epochs(nb) == 2


@pytest.mark.parametrize(
    "path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem
)
def test_metadata_is_normalised(path):
    nb = notebooks.read(path)
    assert set(nb.metadata) == {"kernelspec", "language_info", "colab", "dnnsteps"}
    assert nb.metadata.kernelspec.name == "python3"
    assert [c.id for c in nb.cells] == [f"cell-{i:02d}" for i in range(len(nb.cells))]
    assert not any("execution" in c.metadata for c in nb.cells)


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
