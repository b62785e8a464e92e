"""The main job: run the notebooks in full mode, in place, then rebuild the README tables.

    python tools/run_notebooks.py [--only DNN8 ...] [--force] [--smoke] [-p NAME=VALUE]

Each notebook runs through papermill in its own kernel, in course order. Its last cell
writes its record, ``results/<NOTEBOOK>.json`` (``dnnsteps.results.record`` writes only
when ``DNNSTEPS_RECORD`` names the results folder, as here). A notebook whose record is
current is skipped unless ``--force`` (one that records nothing, CODE9: once it holds
outputs without an error). Before a notebook runs its record is marked
``"stale"``, so a run that fails or is killed leaves it stale, and the next run of this
command runs it again (its training resumes from its run folder's backups). The
executed notebook replaces the committed one, without papermill's traces; the tables
and ``results/summary.png`` are then rebuilt from every record. Exit code: 0, 1 when a
notebook failed (one line each; the others still run), 2 for a usage mistake.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbfiles
import readme_tables
from readme_tables import UsageError

ROOT = Path(__file__).resolve().parents[1]
TOOLING = ("papermill", "nbformat", "jupytext", "ipykernel")
# The kernel papermill starts: this Python, declared in a temporary Jupyter folder for
# the run only (the user's own kernels are neither read nor changed).
KERNEL = "dnnsteps-run"


def notebooks_in_order(folder: Path, only=()) -> list[Path]:
    """The course's notebooks (DNN1..DNN8, CODE9), or those whose names start with ``only``."""
    paths = [p for p in folder.glob("*.ipynb") if p.stem[:3] in ("DNN", "COD")]
    paths.sort(key=lambda p: readme_tables.course_order(p.stem))
    if only:
        wanted = tuple(o.lower() for o in only)
        paths = [p for p in paths if p.stem.lower().startswith(wanted)]
        if not paths:
            raise UsageError(
                f"no notebook matches {' '.join(only)}; names start DNN1..DNN8 or CODE9."
            )
    return paths


def read_record(path: Path) -> dict | None:
    """A notebook's record, or None when there is none (or it is unreadable)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_current(path: Path) -> bool:
    """A record that exists and is not stale: its notebook needs no run."""
    record = read_record(path)
    return record is not None and not record.get("stale", False)


def update_record(path: Path, **changes) -> None:
    """Change a few keys of an existing record (a missing or unreadable one is left alone)."""
    record = read_record(path)
    if record is not None:
        nbfiles.atomic_write(path, json.dumps({**record, **changes}, indent=1) + "\n")


def writes_record(nb) -> bool:
    """Whether a notebook records its run (CODE9, the student's starter, does not)."""
    return any("results.record(" in c.source for c in nb.cells if c.cell_type == "code")


def up_to_date(path: Path, results: Path) -> bool:
    """A notebook that needs no run: its record is current or, for a notebook that
    records nothing, it holds outputs and no error."""
    nb = nbfiles.read(path)
    if writes_record(nb):
        return is_current(results / f"{path.stem}.json")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    return bool(outputs) and all(o.get("output_type") != "error" for o in outputs)


def pair_differs(path: Path) -> bool:
    """Whether the notebook's cells differ from its paired script's (the edited source)."""
    import jupytext

    script = path.with_suffix(".py")
    if not script.exists():
        return False
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    return cells(jupytext.read(script)) != cells(nbfiles.read(path))


@contextlib.contextmanager
def kernel_environment(results: Path, smoke: bool = False):
    """The kernels' environment (papermill's kernel inherits this process's): full
    mode, strict targets, records to ``results``, the ``KERNEL`` kernelspec in a
    temporary folder first on ``JUPYTER_PATH``; all restored afterwards.

    No MPLBACKEND: the kernel then picks its inline backend, which needs no display
    and puts the figures into the notebook (``Agg`` would drop them all).
    """
    saved = dict(os.environ)
    for name in ("DNNSTEPS_SMOKE", "DNNSTEPS_FULL", "DNNSTEPS_RECORD", "MPLBACKEND"):
        os.environ.pop(name, None)
    os.environ["DNNSTEPS_STRICT"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if smoke:  # a check of the notebooks and this runner: smoke runs record nothing
        os.environ["DNNSTEPS_SMOKE"] = "1"
    else:
        os.environ["DNNSTEPS_RECORD"] = str(results.resolve())
    from ipykernel.kernelspec import write_kernel_spec

    try:
        with tempfile.TemporaryDirectory(prefix="dnnsteps-jupyter.") as jupyter:
            write_kernel_spec(Path(jupyter, "kernels", KERNEL))
            os.environ["JUPYTER_PATH"] = os.pathsep.join(
                filter(None, [jupyter, saved.get("JUPYTER_PATH")])
            )
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute(path: Path, parameters: dict) -> str | None:
    """Run a notebook with papermill and save what ran (a failure too) in its place.

    Returns None, or the error in one line.
    """
    import papermill

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path.name
        try:
            papermill.execute_notebook(
                str(path),
                str(out),
                parameters=parameters,
                kernel_name=KERNEL,
                progress_bar=True,
                cwd=str(path.parent),
            )
            error = None
        except papermill.PapermillExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}".splitlines()[0]
        except Exception as exc:  # noqa: BLE001 - a dead kernel must not stop the others
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if out.exists():
            nbfiles.write(nbfiles.read(out), path)
    return error


def run_one(path: Path, results: Path, parameters: dict, smoke: bool) -> str | None:
    """Mark the record stale, run the notebook, check it wrote its record."""
    if pair_differs(path):
        return f"{path.stem}.py and its .ipynb differ: run python tools/sync_notebooks.py {path.stem}"
    record = results / f"{path.stem}.json"
    update_record(record, stale=True)
    started = time.monotonic()
    error = execute(path, parameters)
    if error or smoke or not writes_record(nbfiles.read(path)):
        return error
    if not is_current(record):
        return "ran, but did not write its record (its last cell calls results.record)"
    update_record(record, notebook_seconds=round(time.monotonic() - started, 1))
    return None


def run_all(paths, results: Path, force=False, parameters=None, smoke=False) -> list:
    """Every notebook in turn; returns (name, outcome, seconds, error) for each."""
    results.mkdir(exist_ok=True)
    outcomes = []
    for i, path in enumerate(paths, 1):
        label = f"[{i}/{len(paths)}] {path.stem}"
        if not force and not smoke and up_to_date(path, results):
            print(f"{label}: up to date, skipped (--force runs it again)")
            outcomes.append((path.stem, "skipped", 0.0, None))
            continue
        print(f"{label}: running", flush=True)
        started = time.monotonic()
        with kernel_environment(results, smoke):
            error = run_one(path, results, parameters or {}, smoke)
        seconds = time.monotonic() - started
        print(
            f"{label}: {'FAILED: ' + error if error else 'done'} ({seconds / 60:.1f} min)"
        )
        outcomes.append((path.stem, "FAILED" if error else "ran", seconds, error))
    return outcomes


def report(outcomes: list) -> int:
    """Wall time per notebook, one line per failure; the exit code."""
    if not outcomes:
        return 0
    print("\nnotebook                        result    wall time")
    for name, outcome, seconds, _ in outcomes:
        wall = f"{seconds / 60:.1f} min" if outcome != "skipped" else "-"
        print(f"{name:<31} {outcome:<9} {wall}")
    failed = [(name, error) for name, outcome, _, error in outcomes if error]
    for name, error in failed:
        print(f"failed: {name}: {error}", file=sys.stderr)
    return 1 if failed else 0


def parameter(text: str) -> tuple:
    """NAME=VALUE with a Python literal VALUE (a bare word is a string)."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", default=(), metavar="NAME", help="e.g. DNN8 CODE9")
    p.add_argument(
        "--force", action="store_true", help="run notebooks whose record is current"
    )
    p.add_argument(
        "--smoke", action="store_true", help="smoke mode: checks notebooks, records nothing"
    )
    p.add_argument(
        "-p",
        "--parameter",
        type=parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a papermill parameter for every notebook run",
    )
    p.add_argument(
        "--tables", action="store_true", help="only rebuild the tables from results/"
    )
    return p


def main(argv=None, root: Path = ROOT) -> int:
    args = parser().parse_args(argv)
    missing = [n for n in TOOLING if importlib.util.find_spec(n) is None]
    try:
        if missing:
            raise UsageError(
                f"{', '.join(missing)} not installed; install with: pip install -r requirements.txt"
            )
        outcomes = []
        if not args.tables:
            paths = notebooks_in_order(root / "notebooks", args.only)
            outcomes = run_all(
                paths, root / "results", args.force, dict(args.parameter), args.smoke
            )
        if not args.smoke:
            written = readme_tables.rebuild(root)
            print(f"rebuilt {', '.join(written) or 'nothing: no records in results/'}")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return report(outcomes)


if __name__ == "__main__":
    sys.exit(main())
