"""The notebooks as source: paired scripts, shared cells, the model and the training in
plain sight, and recipes equal to the package's.

These tests read the notebooks' code, not their outputs, so they hold in every checkout
whether or not a full run has been committed.
"""

import inspect
import re
from pathlib import Path

import jupytext
import keras
import nbformat
import numpy as np
import pytest
import tomllib

from dnnsteps import models, schedules

ROOT = Path(__file__).resolve().parents[1]
STEP_NOTEBOOKS = sorted((ROOT / "notebooks").glob("DNN*.ipynb"))
ALL_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"][
    "Repository"
]
# Words for the people who run the notebooks as tests, not for the student reading them.
MAINTAINER_WORDS = re.compile(r"papermill|NBVAL|nbval-|smoke|full mode|the tests", re.I)


def read(path):
    return nbformat.read(path, as_version=4)


def step_of(path) -> str:
    return read(path).metadata["dnnsteps"]["step"]


def tagged(nb, tag):
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def setup_cell(nb):
    (cell,) = [c for c in nb.cells if c.source.startswith("# Setup:")]
    return cell


def markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_there_are_eight_steps_in_the_course_order_then_the_assignment():
    assert [p.name[:4] for p in STEP_NOTEBOOKS] == [f"DNN{i}" for i in range(1, 9)]
    assert [step_of(p) for p in ALL_NOTEBOOKS] == ["code9", *models.NAMES[:8]]


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_is_paired_with_its_script(path):
    script = path.with_suffix(".py")
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert cells(jupytext.read(script)) == cells(read(path)), (
        f"{path.name} and {script.name} differ: run python tools/sync_notebooks.py"
    )


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_shape(path):
    nb = read(path)
    assert len(re.findall(r"(?m)^# ", markdown(nb))) == 1, "one H1"
    first = nb.cells[0].source
    assert first.startswith("# ") and "## Overview" in first
    repo = REPOSITORY.removeprefix("https://github.com/")
    assert (
        f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/{path.name}"
        in first
    )
    (parameters,) = tagged(nb, "parameters")
    setup = nb.cells.index(setup_cell(nb))
    assert setup < nb.cells.index(parameters)
    assert not [c for c in nb.cells[:setup] if c.cell_type == "code"], "code before setup"
    assert re.findall(r"(?m)^## (.+)$", markdown(nb))[-1] == "Try it", "exercises come last"
    assert 2 <= len(re.findall(r"(?m)^\d\. ", nb.cells[-1].source)) <= 4


def test_the_setup_cell_is_shared():
    cells = {p.stem: setup_cell(read(p)).source for p in ALL_NOTEBOOKS}
    first = cells[STEP_NOTEBOOKS[0].stem]
    assert f'"git+{REPOSITORY}"' in first
    assert [name for name, source in cells.items() if source != first] == []


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_nothing_in_the_students_view_speaks_to_maintainers(path):
    found = [c.source for c in read(path).cells if MAINTAINER_WORDS.search(c.source)]
    assert not found, f"maintainer words in {path.name}: {found[0][:120]!r}"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_training_is_plain_keras(path):
    code = "\n".join(c.source for c in read(path).cells if c.cell_type == "code")
    for call in (
        "model.compile(",
        ".fit(",
        "model.evaluate(",
        "resumable(",
        "keras.optimizers.Adam(",
    ):
        assert call in code, f"{path.name} has no {call}"
    assert "train.fit" not in code and "train.evaluate" not in code
    if models.RECIPES[step_of(path)].schedule is not None:
        assert "keras.callbacks.LearningRateScheduler(" in code


def _list_lines(source: str) -> list[str]:
    """The lines of the layer list: from ``keras.Input`` to the closing bracket."""
    lines = [line.strip() for line in source.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("keras.Input("))
    end = next(i for i in range(start, len(lines)) if lines[i] == "],")
    return lines[start:end]


def _model_from_cell(path, seed):
    (cell,) = tagged(read(path), "model")
    scope = {"keras": keras, "layers": keras.layers, "SEED": seed}
    exec(compile(cell.source.replace("model.summary()", ""), str(path), "exec"), scope)  # noqa: S102
    return cell.source, scope["model"] if "model" in scope else scope["build_model"](seed)


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_the_model_cell_is_the_packages_model(path):
    """Word for word the package's function, and the same initial weights for a seed."""
    step = step_of(path)
    source, shown = _model_from_cell(path, seed=3)
    make, _ = models.get(step)
    assert _list_lines(source) == _list_lines(inspect.getsource(make))
    built = models.build(step, seed=3)
    assert shown.name == built.name == step
    for a, b in zip(shown.get_weights(), built.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_the_recipe_cell_is_the_packages_recipe(path):
    (cell,) = tagged(read(path), "recipe")
    scope = {"schedules": schedules, "keras": keras}
    exec(compile(cell.source, str(path), "exec"), scope)  # noqa: S102
    recipe = models.RECIPES[step_of(path)]
    assert (scope["EPOCHS"], scope["BATCH_SIZE"]) == (recipe.epochs, recipe.batch_size)
    assert scope["LEARNING_RATE"] == recipe.learning_rate
    shown = scope.get("SCHEDULE")
    if recipe.schedule is None:
        assert shown is None
    else:
        epochs = range(recipe.epochs + 5)
        assert [shown(e) for e in epochs] == [recipe.schedule(e) for e in epochs]


@pytest.mark.parametrize(
    "before, after", zip(STEP_NOTEBOOKS, STEP_NOTEBOOKS[1:]), ids=lambda p: p.stem
)
def test_an_overview_says_when_the_epochs_change(before, after):
    """A step that trains longer or shorter than the one before says so up front."""
    old, new = (models.RECIPES[step_of(p)].epochs for p in (before, after))
    if old != new:
        overview = read(after).cells[0].source
        assert f"{new} epochs" in overview and str(old) in overview, after.name


def test_the_concept_table_points_at_real_sections():
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    table = next((t.read_text() for t in texts if "| concept |" in t.read_text()), None)
    assert table, "no concept table in README.md or docs/"
    rows = re.findall(r"\| \[[^\]]+\]\((?:\.\./)?notebooks/([^)]+)\): (.+) \|", table)
    assert len(rows) >= 15
    headings = {
        p.name: set(re.findall(r"(?m)^#+ (.+)$", markdown(read(p)))) for p in ALL_NOTEBOOKS
    }
    every = set().union(*headings.values())
    for name, sections in rows:
        for section in sections.split(" / "):
            assert section in headings[name] or section in every, f"{name}: {section!r}"
