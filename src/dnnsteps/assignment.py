"""The course assignment as data, a checker, and the submission a student hands in.

Rules: fewer than 15,000 parameters, no fully connected layer, no bias, and at
least 99.4% validation (test) accuracy within 20 epochs. The layer rules look
at every layer (``layers.walk``), nested sub-models and custom layers included.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras

from . import layers, tables
from .errors import DnnstepsError

MAX_PARAMS = 15_000
TARGET_ACCURACY = 0.994
MAX_EPOCHS = 20

MODEL_FILE = "model.keras"
LOG_FILE = "log.csv"
README_FILE = "README.md"
# What submit wrote (names and SHA-256), so it can tell its own folder from a user's.
MANIFEST_FILE = ".dnnsteps-submission.json"

STRATEGY_PLACEHOLDER = (
    "_Replace this paragraph: what you changed from the starter and why (receptive "
    "field, where you pool, batch norm, dropout, learning rate), and what each change "
    "did to the accuracy._"
)


class SubmissionError(DnnstepsError):
    """A submission folder or its log cannot be written or read as asked."""


@dataclass(frozen=True)
class RuleResult:
    rule: str
    required: str
    actual: str
    passed: bool


def _val_accuracy(history) -> list[float]:
    if isinstance(history, keras.callbacks.History):
        history = history.history
    if isinstance(history, dict):
        return list(history.get("val_accuracy", []))
    return [float(v) for v in history]


def model_rules(model) -> list[RuleResult]:
    """The rules a model alone can be checked against (no training log needed)."""
    params = int(model.count_params())
    dense = layers.fully_connected(model)
    biased = layers.biased(model)
    return [
        RuleResult("parameters", f"< {MAX_PARAMS:,}", f"{params:,}", params < MAX_PARAMS),
        RuleResult("fully connected layers", "none", ", ".join(dense) or "none", not dense),
        RuleResult("biases", "none", ", ".join(biased) or "none", not biased),
    ]


def accuracy_rule(history) -> RuleResult:
    """>= 99.4% in one of the first 20 epochs (entry i of ``history`` is epoch i + 1)."""
    val = _val_accuracy(history)
    within = val[:MAX_EPOCHS]
    best = max(within) if within else None
    first = next((i + 1 for i, v in enumerate(within) if v >= TARGET_ACCURACY), None)
    if best is None:
        reached = "no validation accuracy recorded"
    else:
        reached = f"{best:.2%} best" + (
            f", {TARGET_ACCURACY:.1%} first at epoch {first}" if first else ""
        )
        late = next(
            (i + 1 for i, v in enumerate(val) if i >= MAX_EPOCHS and v >= TARGET_ACCURACY),
            None,
        )
        if not first and late:
            reached += f" (reached only at epoch {late})"
    return RuleResult(
        "validation accuracy",
        f">= {TARGET_ACCURACY:.1%} within {MAX_EPOCHS} epochs",
        reached,
        first is not None,
    )


def check(model, history=None) -> list[RuleResult]:
    """One row per rule; ``history`` is a Keras History, its dict, or val accuracies.

    Without a history only the model's rules are checked.
    """
    results = model_rules(model)
    if history is not None:
        results.append(accuracy_rule(history))
    return results


def passed(results) -> bool:
    return all(r.passed for r in results)


def failures(results) -> list[str]:
    """One short line per failed rule, e.g. ``parameters: 20,000 (required < 15,000)``."""
    return [
        f"{r.rule}: {r.actual} (required {r.required})" for r in results if not r.passed
    ]


def format_table(results) -> str:
    """A Markdown table: rule | required | actual | passed."""
    rows = [[r.rule, r.required, r.actual, "yes" if r.passed else "NO"] for r in results]
    return tables.markdown(["rule", "required", "actual", "passed"], rows)


def verdict(results) -> str:
    """One line for the end of a run: met, or which rules were missed."""
    if passed(results):
        return "The model meets every rule of the assignment."
    return "Not there yet: " + "; ".join(failures(results)) + "."


# The training log -------------------------------------------------------------


def read_log(path) -> list[dict]:
    """A Keras ``CSVLogger`` log (``epoch``, ``val_accuracy``, ...), epochs counted from 1.

    ``CSVLogger`` counts epochs from 0, this package's run logs from 1: either
    is accepted, but the epochs must run on one by one with none missing.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SubmissionError(f"{path} not found.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{path} cannot be read ({exc}).") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("epoch", "val_accuracy") if c not in (reader.fieldnames or [])]
    if missing:
        raise SubmissionError(
            f"{path} has no {' or '.join(missing)} column; a Keras CSVLogger log has both."
        )
    rows = []
    for number, row in enumerate(reader, start=2):
        try:
            parsed = {
                k: (int(float(v)) if k == "epoch" else float(v))
                for k, v in row.items()
                if k and v not in (None, "")
            }
            value = parsed["val_accuracy"]
            parsed["epoch"]
        except (KeyError, ValueError):
            raise SubmissionError(
                f"{path} line {number}: epoch and val_accuracy must be numbers."
            ) from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise SubmissionError(
                f"{path} line {number}: val_accuracy {value} is not between 0 and 1."
            )
        rows.append(parsed)
    if not rows:
        raise SubmissionError(f"{path} holds no epochs.")
    epochs = [r["epoch"] for r in rows]
    start = epochs[0]
    if start not in (0, 1) or epochs != list(range(start, start + len(rows))):
        raise SubmissionError(
            f"{path}: epochs must run 0, 1, 2, ... (CSVLogger) or 1, 2, 3, ... "
            "with none repeated or missing."
        )
    for r in rows:
        r["epoch"] += 1 - start
    return rows


# The submission README --------------------------------------------------------


def report(model, history_rows, evaluation, strategy: str, title: str = "") -> str:
    """The README a student hands in: strategy, rules, every epoch, test evaluation.

    ``history_rows`` are the run's epoch log rows; ``evaluation`` is
    ``model.evaluate(..., return_dict=True)`` on the 10k test set.
    """
    from .train import format_epoch

    results = check(model, [r["val_accuracy"] for r in history_rows])
    total = len(history_rows)
    logs = "\n".join(format_epoch(r, total) for r in history_rows)
    evaluated = ", ".join(f"{k}: {float(v):.4f}" for k, v in evaluation.items())
    said = "meets every rule" if passed(results) else "does NOT meet every rule"
    return f"""# {title or model.name}: MNIST assignment submission

The model {said} of the assignment.

## Strategy
{strategy.strip() or STRATEGY_PLACEHOLDER}

## Rules
{format_table(results)}

## Parameters
Total parameters: {model.count_params():,}

## Test-set evaluation (`model.evaluate` on the 10,000 MNIST test images)
{evaluated}

## Training log (one line per epoch)
```
{logs}
```
"""


# Writing files without losing anyone's work -------------------------------------


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_new_file(path, text: str, force: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically; an existing file only with ``force``.

    Missing parent folders are created; a temporary file in the same folder is
    renamed over the target, so a crash leaves the old file or the new one.
    """
    path = Path(path)
    if path.is_dir():
        raise SubmissionError(f"{path} is a folder; give a file name.")
    if path.exists() and not force:
        raise SubmissionError(f"{path} already exists; pass --force to replace it.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            _fsync_write(Path(tmp), text.encode("utf-8"))
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        raise SubmissionError(f"cannot write {path} ({exc.strerror or exc}).") from None
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_own_submission(folder) -> bool:
    """True when ``folder`` holds exactly what ``submit`` wrote there, unchanged."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        files = manifest["files"]
        present = {p.name for p in folder.iterdir()} - {MANIFEST_FILE}
        return present == set(files) and all(
            _digest(folder / name) == digest for name, digest in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _log_csv(rows) -> str:
    """Rows in Keras ``CSVLogger`` form: ``epoch`` from 0, then the metrics sorted."""
    keys = sorted({k for r in rows for k in r} - {"epoch"})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for r in rows:
        writer.writerow([int(r["epoch"]) - 1, *(r.get(k, "") for k in keys)])
    return out.getvalue()


def _rows_of(result) -> list[dict]:
    """The epoch rows of a training result: its run's log, else its Keras History."""
    run_dir = getattr(result, "run_dir", None)
    if run_dir is not None and (Path(run_dir) / LOG_FILE).exists():
        try:
            return read_log(Path(run_dir) / LOG_FILE)
        except SubmissionError:
            pass  # an unreadable run log: the History still has every epoch
    history = result.history.history
    rows = []
    for i in range(len(history.get("val_accuracy", []))):
        row = {k: float(v[i]) for k, v in history.items() if i < len(v)}
        row.setdefault("lr", row.get("learning_rate", math.nan))
        for key in ("loss", "accuracy", "val_loss", "seconds"):
            row.setdefault(key, math.nan if key != "seconds" else 0.0)
        rows.append({"epoch": i + 1, **row})
    return rows


def submit(result, folder, *, strategy: str = "", evaluation=None, title: str = "CODE9"):
    """Write the folder a student hands in: ``README.md``, ``model.keras``, ``log.csv``.

    ``result`` is what ``train.fit`` returned (its model holds the last epoch's
    weights); ``evaluation`` is ``model.evaluate`` on the test set (computed
    when not given). The folder is built beside the target and swapped in, so
    a crash never leaves half a submission; an existing folder is replaced only
    when it is one ``submit`` wrote and nobody has changed since.
    """
    folder = Path(folder)
    if folder.exists() and not is_own_submission(folder):
        raise SubmissionError(
            f"{folder} exists and is not an unchanged submission written by submit(); "
            "it was left untouched. Move it away or choose another folder."
        )
    model = result.model
    rows = _rows_of(result)
    if evaluation is None:
        from .train import evaluate

        evaluation = evaluate(model)
    readme = report(model, rows, evaluation, strategy, title=title)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        staging.chmod(0o755)  # mkdtemp's folders are private; a submission is not
    except OSError as exc:
        raise SubmissionError(f"cannot write {folder} ({exc.strerror or exc}).") from None
    try:
        _fsync_write(staging / README_FILE, readme.encode("utf-8"))
        _fsync_write(staging / LOG_FILE, _log_csv(rows).encode("utf-8"))
        model.save(staging / MODEL_FILE)
        manifest = {
            "files": {
                name: _digest(staging / name)
                for name in (README_FILE, LOG_FILE, MODEL_FILE)
            }
        }
        _fsync_write(staging / MANIFEST_FILE, json.dumps(manifest, indent=2).encode())
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old."))
            os.replace(folder, old / folder.name)
            os.replace(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, folder)
    except OSError as exc:
        raise SubmissionError(f"cannot write {folder} ({exc.strerror or exc}).") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
