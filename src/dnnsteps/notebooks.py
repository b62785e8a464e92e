"""Notebook files: normalised metadata, so diffs show content, not machines."""

from __future__ import annotations

import re

import nbformat

# TensorFlow's C++ start-up and graph chatter (not the user's output).
_BACKEND_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\).*"
    r"|[IWE]\d{4} [\d:. ]+\s*\d+ \S+:\d+\].*"
    r"|To enable the following instructions.*|This TensorFlow binary is optimized.*)$"
)

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
        if cell.cell_type == "code":
            cell.outputs = [out for out in map(_without_noise, cell.outputs) if out]
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        cell["id"] = f"cell-{i:02d}"


def _without_noise(output):
    """The output without backend log lines; None when nothing else is left."""
    if output.get("output_type") != "stream" or output.get("name") != "stderr":
        return output
    lines = [
        line
        for line in output["text"].splitlines()
        if line and not _BACKEND_NOISE.match(line)
    ]
    if not lines:
        return None
    output["text"] = "\n".join(lines) + "\n"
    return output


def read(path):
    return nbformat.read(path, as_version=4)


def write(nb, path) -> None:
    normalise(nb)
    nbformat.write(nb, path)


def step_of(nb) -> str:
    return nb.metadata["dnnsteps"]["step"]


def has_outputs(nb) -> bool:
    return any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


_EPOCH_LINE = re.compile(r"^Epoch\s+(\d+)/(\d+) - ", re.M)


def logged_epochs(nb) -> int:
    """The highest epoch number in the notebook's training log outputs (0 if none)."""
    found = [
        int(m.group(1))
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
        for m in _EPOCH_LINE.finditer(out.get("text", ""))
    ]
    return max(found, default=0)
