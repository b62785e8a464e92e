"""The notebooks as source: paired scripts, shared cells, the model in plain sight.

These tests read the notebooks' code, not their outputs, so they hold in every
checkout whether or not a full run has been committed.
"""

import re
from pathlib import Path

import jupytext
import keras
import numpy as np
import pytest
import tomllib

from dnnsteps import models, notebooks

ROOT = Path(__file__).resolve().parents[1]
STEP_NOTEBOOKS = sorted((ROOT / "notebooks").glob("DNN*.ipynb"))
ALL_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"][
    "Repository"
]


def tagged(nb, tag):
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def setup_cell(nb):
    (cell,) = [c for c in nb.cells if c.source.startswith("# Setup:")]
    return cell


def shared_part(source: str) -> str:
    """The setup cell up to its imports: the part every notebook must share."""
    return source.split("\nimport keras", 1)[0]


def test_there_are_eight_steps_in_the_course_order():
    assert [p.name[:4] for p in STEP_NOTEBOOKS] == [f"DNN{i}" for i in range(1, 9)]
    assert [notebooks.step_of(notebooks.read(p)) for p in STEP_NOTEBOOKS] == list(
        models.NAMES
    )
    titles = [models.get_step(n).title for n in models.NAMES]
    assert titles[5:7] == ["Dropout", "Learning-rate schedule"]


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_is_paired_with_its_script(path):
    script = path.with_suffix(".py")
    assert script.exists(), f"{script.name} missing: notebooks are authored as scripts"
    from_script = jupytext.read(script)
    from_notebook = notebooks.read(path)
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert cells(from_script) == cells(from_notebook), (
        f"{path.name} and {script.name} differ: run python tools/sync_notebooks.py"
    )


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_shape(path):
    nb = notebooks.read(path)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert len(re.findall(r"(?m)^# ", markdown)) == 1, "one H1"
    first = nb.cells[0].source
    assert first.startswith("# ") and "## Overview" in first
    badge = f"https://colab.research.google.com/github/{REPOSITORY.removeprefix('https://github.com/')}/blob/main/notebooks/{path.name}"
    assert badge in first
    (parameters,) = tagged(nb, "parameters")
    assert "SEED = " in parameters.source
    assert nb.cells.index(setup_cell(nb)) < nb.cells.index(parameters)
    code_before_setup = [
        c for c in nb.cells[: nb.cells.index(setup_cell(nb))] if c.cell_type == "code"
    ]
    assert not code_before_setup
    headings = re.findall(r"(?m)^## (.+)$", markdown)
    assert headings[-1] == "Try it", "exercises come last"
    exercises = nb.cells[-1].source
    assert 2 <= len(re.findall(r"(?m)^\d\. ", exercises)) <= 4


def test_the_setup_cell_is_shared():
    parts = {
        p.stem: shared_part(setup_cell(notebooks.read(p)).source) for p in ALL_NOTEBOOKS
    }
    first = parts[STEP_NOTEBOOKS[0].stem]
    assert f'"git+{REPOSITORY}"' in first
    assert [name for name, part in parts.items() if part != first] == []


@pytest.mark.parametrize("path", STEP_NOTEBOOKS, ids=lambda p: p.stem)
def test_the_parameters_cell_names_its_step(path):
    nb = notebooks.read(path)
    (parameters,) = tagged(nb, "parameters")
    assert f'STEP = "{notebooks.step_of(nb)}"' in parameters.source
    assert f'NOTEBOOK = "{path.stem}"' in parameters.source


def _model_from_cell(path, seed=0):
    (cell,) = tagged(notebooks.read(path), "model")
    assert "keras.layers" in cell.source or "layers." in cell.source
    scope = {"keras": keras, "layers": keras.layers, "SEED": seed}
    scope["STEP"] = notebooks.step_of(notebooks.read(path))
    code = cell.source.replace("model.summary()", "")
    exec(compile(code, str(path), "exec"), scope)  # noqa: S102 - our own notebook
    return scope["model"]


def _signature(model):
    return [
        (type(layer).__name__, tuple(layer.output.shape), layer.count_params())
        for layer in model.layers
    ]


@pytest.mark.parametrize("path", STEP_NOTEBOOKS, ids=lambda p: p.stem)
def test_the_model_cell_is_the_step(path):
    """The layers a student reads are the step's: same layers, shapes, parameters and
    the same initial weights for the same seed."""
    shown = _model_from_cell(path, seed=3)
    built = models.build(notebooks.step_of(notebooks.read(path)), seed=3)
    assert _signature(shown) == _signature(built)
    for a, b in zip(shown.get_weights(), built.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not any(isinstance(layer, keras.layers.Dense) for layer in shown.layers)


def test_the_readme_concept_table_points_at_real_sections():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Where each concept is taught")[1].split("\n## ")[0]
    rows = re.findall(r"\| \[[^\]]+\]\(notebooks/([^)]+)\): (.+) \|", table)
    assert len(rows) >= 15
    for name, sections in rows:
        markdown = "\n".join(
            c.source
            for c in notebooks.read(ROOT / "notebooks" / name).cells
            if c.cell_type == "markdown"
        )
        headings = set(re.findall(r"(?m)^#+ (.+)$", markdown))
        for section in sections.split(" / "):
            if section in headings:
                continue
            # A row may name sections of two notebooks (DNN8 / CODE9).
            others = [
                p
                for p in ALL_NOTEBOOKS
                if section
                in "\n".join(
                    c.source for c in notebooks.read(p).cells if c.cell_type == "markdown"
                )
            ]
            assert others, f"{name} has no section {section!r}"
