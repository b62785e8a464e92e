"""The main job: run all eight notebooks in full mode, then rebuild ``results/``.

Notebooks are executed in place (their committed outputs are the real run),
already-run notebooks are skipped unless ``force``, and a killed run resumes
from its backups the next time.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from nbclient.exceptions import CellExecutionError

from . import models, notebooks, records, results
from .errors import DnnstepsError
from .rundir import RunDir

SEED = 0


class SuiteFailed(DnnstepsError):
    """One or more notebooks raised (a missed target, a broken cell)."""


def _notebook_runs(runs_root: Path, step: str) -> list[RunDir]:
    """The step's runs, every seed and settings variant (e.g. dnn8-seed0-1a2b3c4d,
    dnn8-seed2-...), smoke runs aside."""
    if not runs_root.exists():
        return []
    found = sorted(runs_root.glob(f"{step}-seed*-*"))
    return [RunDir(p) for p in found if p.is_dir() and "-smoke" not in p.name]


def _notebook_result(runs_root: Path, step: str) -> records.RunRecord | None:
    """The newest ``result.json`` among the step's own runs (None when none)."""
    own = [r.result_file for r in _notebook_runs(runs_root, step)]
    own = [f for f in own if f.parent.name.startswith(f"{step}-seed{SEED}-") and f.exists()]
    if not own:
        return None
    return records.RunRecord.load(max(own, key=lambda f: f.stat().st_mtime))


def _progress(runs_root: Path, step: str, label: str, stop: threading.Event):
    """Every few seconds, the newest epoch of whichever of the notebook's runs moved."""
    seen = {}
    while not stop.wait(5):
        for run in _notebook_runs(runs_root, step):
            rows = run.read_log() if run.log_file.exists() else []
            if not rows or seen.get(run.path) == len(rows):
                continue
            seen[run.path] = len(rows)
            identity = run.read_identity() or {}
            epochs = identity.get("recipe", {}).get("epochs", len(rows))
            per_epoch = sum(r["seconds"] for r in rows) / len(rows)
            left = max(0, epochs - len(rows)) * per_epoch
            last = rows[-1]
            print(
                f"  {label} ({run.path.name}): epoch {last['epoch']}/{epochs}, "
                f"val_accuracy {last['val_accuracy']:.4f}, "
                f"about {left / 60:.1f} min of this run left",
                flush=True,
            )


def kernel_env(runs_root: Path) -> dict:
    """The environment a notebook's kernel runs in: full mode, strict targets, the
    suite's runs folder. This process's own environment is left as it is."""
    env = {k: v for k, v in os.environ.items() if k != "DNNSTEPS_SMOKE"}
    env.update(DNNSTEPS_FULL="1", DNNSTEPS_STRICT="1", DNNSTEPS_RUNS=str(runs_root))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_notebook(
    path: Path, runs_root: Path, label: str, force: bool
) -> records.RunRecord | None:
    from nbclient import NotebookClient

    nb = notebooks.read(path)
    step = notebooks.step_of(nb)
    if force:
        for each in _notebook_runs(runs_root, step):
            each.clear()
    stop = threading.Event()
    watcher = threading.Thread(
        target=_progress, args=(runs_root, step, label, stop), daemon=True
    )
    watcher.start()
    started = time.time()
    try:
        client = NotebookClient(
            nb,
            timeout=None,
            kernel_name="python3",
            record_timing=False,
            # TensorFlow's C++ logs go to the terminal, not into the notebook.
            extra_arguments=["--IPKernelApp.capture_fd_output=False"],
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute(env=kernel_env(runs_root))
    finally:
        stop.set()
        watcher.join()
        notebooks.write(nb, path)  # keep what ran, even a failure, for inspection
    elapsed = time.time() - started
    print(f"  {label}: done in {elapsed / 60:.1f} min", flush=True)
    record = _notebook_result(runs_root, step)
    if record is not None:
        # The whole notebook, extra sections included, as the suite timed it.
        record.notebook_seconds = round(elapsed, 1)
    return record


def run_suite(root=".", only=None, force: bool = False) -> dict:
    root = Path(root).resolve()
    paths = sorted((root / "notebooks").glob("DNN*.ipynb")) + sorted(
        (root / "notebooks").glob("CODE*.ipynb")
    )
    if only:
        wanted = [o.lower() for o in only]
        paths = [p for p in paths if any(p.stem.lower().startswith(w) for w in wanted)]
        if not paths:
            raise SystemExit(
                f"no notebook matches {only}; names start DNN1..DNN8 or CODE9."
            )
    metrics_file = root / "results" / "metrics.json"
    metrics = records.load_metrics(metrics_file)
    runs_root = root / "runs"
    failed = []
    for i, path in enumerate(paths, 1):
        label = f"[{i}/{len(paths)}] {path.stem}"
        nb = notebooks.read(path)
        recorded = path.stem in metrics or notebooks.step_of(nb) not in models.NAMES
        if recorded and notebooks.has_outputs(nb) and not force:
            print(f"{label}: already run (use --force to run again)", flush=True)
            continue
        print(f"{label}: running", flush=True)
        try:
            record = run_notebook(path, runs_root, label, force)
        except CellExecutionError as exc:
            failed.append(path.stem)
            print(f"{label}: FAILED\n{str(exc)[-1500:]}", flush=True)
            # A missed target still leaves a finished run's record: keep it in the
            # table (marked as missed) rather than dropping the notebook.
            step = notebooks.step_of(notebooks.read(path))
            record = _notebook_result(runs_root, step)
            if record is None:
                continue
        if record is None:  # a notebook that is not a step (CODE9) records no result
            continue
        # Re-read before saving: another run of the suite may have recorded meanwhile.
        metrics = {**records.load_metrics(metrics_file), path.stem: record}
        records.save_metrics(metrics, metrics_file)
        _collect_seeds(runs_root, root / "results")
    metrics = {name: record.to_json() for name, record in metrics.items()}
    rebuild(root, metrics)
    if failed:
        raise SuiteFailed(
            f"notebooks that failed: {', '.join(failed)} (outputs kept for inspection)"
        )
    return metrics


def _collect_seeds(runs_root: Path, results_dir: Path) -> None:
    """Copy the full-mode multi-seed records (DNN8's three seeds) to results/."""
    for found in runs_root.glob("*-seeds.json"):
        if "-smoke-" not in found.name:
            model = found.name.removesuffix("-seeds.json")
            record = records.SeedsRecord.load(found)
            record.save(results_dir / f"{model}_seeds.json")


def rebuild(root: Path, metrics: dict) -> None:
    """Regenerate the README table and results/summary.png from metrics.json."""
    if not metrics:
        return
    results.update_readme(root / "README.md", metrics)
    seeds = root / "results" / "dnn8_seeds.json"
    if seeds.exists():
        record = records.SeedsRecord.load(seeds).to_json()
        results.update_readme_seeds(root / "README.md", record)
    curves = {name: m["val_accuracy_curve"] for name, m in metrics.items()}
    import matplotlib

    matplotlib.use("Agg")
    from . import plots

    plots.suite_summary(metrics, curves, save=root / "results" / "summary.png")
    print(f"wrote {root / 'results'}/metrics.json, summary.png and the README table")
