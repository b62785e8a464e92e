"""Notebook files: normalised metadata, so diffs show content, not machines."""

from __future__ import annotations

import nbformat

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def normalise(nb) -> None:
    """Keep only what matters: kernelspec, language, the step, Colab's provenance."""
    keep = {k: nb.metadata[k] for k in ("dnnsteps",) if k in nb.metadata}
    nb.metadata.clear()
    nb.metadata.update(
        {
            "kernelspec": dict(KERNELSPEC),
            "language_info": {"name": "python"},
            "colab": {"provenance": []},
            **keep,
        }
    )
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        cell["id"] = f"cell-{i:02d}"


def read(path):
    return nbformat.read(path, as_version=4)


def write(nb, path) -> None:
    normalise(nb)
    nbformat.write(nb, path)


def step_of(nb) -> str:
    return nb.metadata["dnnsteps"]["step"]


def has_outputs(nb) -> bool:
    return any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
