"""The committed notebooks: outputs of one real full run, and records and tables that
agree with them.

Every test here reads outputs of the last full run (``python tools/run_notebooks.py``),
so they carry the ``full_run_outputs`` marker: deselect them with
``-m "not full_run_outputs"`` while a notebook change waits for its full run.
"""

import json
import sys
from pathlib import Path

import nbformat
import pytest

from dnnsteps import models
from dnnsteps.results import as_printed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nbfiles  # noqa: E402
import readme_tables  # noqa: E402

PATHS = sorted((ROOT / "notebooks").glob("DNN*.ipynb"))
ALL = sorted((ROOT / "notebooks").glob("*.ipynb"))


def read(path):
    return nbformat.read(path, as_version=4)


def outputs_text(nb) -> str:
    """Every text a student sees in the outputs: streams, errors, rich text."""
    return "".join(
        o.get("text", "") + o.get("evalue", "") + o.get("data", {}).get("text/plain", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def record_of(path) -> dict:
    return json.loads((ROOT / "results" / f"{path.stem}.json").read_text())


@pytest.mark.full_run_outputs
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_outputs_are_a_full_run_of_the_recipe(path):
    record = record_of(path)
    recipe = models.RECIPES[record["step"]]
    assert record["mode"] == "full" and not record["stale"]
    assert len(record["val_accuracy"]) == recipe.epochs
    text = outputs_text(read(path))
    assert f"Epoch {recipe.epochs}/{recipe.epochs}" in text, "smoke outputs committed?"
    assert "469/469" in text or "938/938" in text  # 60,000 images a epoch
    assert "Traceback" not in text


@pytest.mark.full_run_outputs
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_the_record_is_what_the_notebook_shows(path):
    record, text = record_of(path), outputs_text(read(path))
    assert f"test accuracy {record['test_accuracy']:.2%}" in text
    assert f"{record['params']:,} parameters" in text
    val = record["val_accuracy"]
    assert f"last epoch {val[-1]:.2%}" in text
    assert f"val_accuracy: {val[-1]:.4f}" in text  # Keras's own log line of the last epoch


@pytest.mark.full_run_outputs
def test_the_readme_tables_are_generated_from_the_records():
    records = readme_tables.load_records(ROOT / "results")
    readme = (ROOT / "README.md").read_text()
    assert readme_tables.results_table(records).strip() in readme
    dnn8 = records["DNN8_assignment"]
    assert readme_tables.seeds_table(dnn8).strip() in readme


@pytest.mark.full_run_outputs
def test_dnn8_trains_and_shows_five_seeds_that_hold():
    (path,) = [p for p in PATHS if p.name.startswith("DNN8")]
    record, text = record_of(path), outputs_text(read(path))
    recipe = models.RECIPES["dnn8"]
    assert sorted(record["seeds"]) == ["0", "1", "2", "3", "4"]
    for seed, val in record["seeds"].items():
        assert len(val) == recipe.epochs
        lowest = min(as_printed(v) for v in val[-recipe.hold_last :])
        assert lowest >= recipe.target, f"seed {seed}"
        assert f"| {seed} | " in text  # its row in the printed seeds table


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_notebooks_are_committed_normalised(path):
    """No papermill cell or metadata, no execution timestamps: small, stable diffs."""
    nb = read(path)
    before = nbformat.writes(nb)
    nbfiles.normalise(nb)
    assert nbformat.writes(nb) == before, "run python tools/sync_notebooks.py"
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
