"""Notebook files as committed: what ran, without the machine and the tool that ran it.

Papermill leaves an injected-parameters cell, an error banner on a failure, run times
in the metadata of the notebook and of every cell, and the kernel's full
language_info; none of it is content, so all of it goes before a notebook is written.
"""

from __future__ import annotations

import re

from dnnsteps.runfiles import atomic_write  # noqa: F401 - the tools' writer too

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
# Cells papermill adds: the parameters it injected, the banner over a failed run.
ADDED_TAGS = {"injected-parameters", "papermill-error-cell-tag"}
CELL_KEYS_DROPPED = ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled")
# TensorFlow's C++ start-up and graph chatter (not the user's output).
_BACKEND_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\).*"
    r"|[IWE]\d{4} [\d:. ]+\s*\d+ \S+:\d+\].*"
    r"|To enable the following instructions.*|This TensorFlow binary is optimized.*)$"
)


def normalise(nb) -> None:
    """Keep what matters: the cells, their outputs, the kernelspec and the step."""
    keep = {k: nb.metadata[k] for k in ("dnnsteps",) if k in nb.metadata}
    nb.metadata.clear()
    nb.metadata.update(
        kernelspec=dict(KERNELSPEC),
        language_info={"name": "python"},
        colab={"provenance": []},
        **keep,
    )
    nb.cells = [c for c in nb.cells if not ADDED_TAGS & set(c.metadata.get("tags", []))]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = [out for out in map(_without_noise, cell.outputs) if out]
        for key in CELL_KEYS_DROPPED:
            cell.metadata.pop(key, None)
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
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
    import nbformat  # here, so the runner can say it is missing in one line

    return nbformat.read(path, as_version=4)


def write(nb, path) -> None:
    """Normalise, then replace ``path`` atomically (a kill leaves the old or the new file)."""
    import nbformat

    normalise(nb)
    text = nbformat.writes(nb)
    atomic_write(path, text if text.endswith("\n") else text + "\n")
