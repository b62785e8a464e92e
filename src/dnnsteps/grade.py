"""Grade a folder of submissions: rules, the log's claim, and the weights themselves.

Each subfolder is one submission (``model.keras``, ``log.csv``, optionally
``README.md``). A model is loaded with ``safe_mode`` (no code from a
submission runs) and re-evaluated on the 10,000 MNIST test images; the weights
``submit`` hands in are the last epoch's, so the measured accuracy must match
the log's last ``val_accuracy`` within 0.1 points. With ``DNNSTEPS_SMOKE=1``
(the tests) the 1,000-image smoke subset stands in for the test set.
Nothing in the graded folder is written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import assignment, config, data, tables
from .errors import DnnstepsError

COLUMNS = (
    "submission",
    "verdict",
    "params",
    "claimed_val_accuracy",
    "measured_test_accuracy",
    "reasons",
)
TOLERANCE = 0.001  # 0.1 percentage points
INPUT_SHAPE = (28, 28, 1)


@dataclass
class Grade:
    submission: str
    verdict: str = "pass"  # pass, fail or invalid
    params: int | None = None
    claimed: float | None = None
    measured: float | None = None
    reasons: list[str] = field(default_factory=list)

    def row(self) -> dict:
        return {
            "submission": self.submission,
            "verdict": self.verdict,
            "params": "" if self.params is None else self.params,
            "claimed_val_accuracy": "" if self.claimed is None else f"{self.claimed:.4f}",
            "measured_test_accuracy": ""
            if self.measured is None
            else f"{self.measured:.4f}",
            "reasons": "; ".join(self.reasons),
        }


class _Invalid(Exception):
    """A submission that cannot be graded; the message is its reason."""


def mnist_test_set(smoke: bool | None = None):
    """The preprocessed MNIST test images and labels (the smoke subset in smoke mode)."""
    smoke = config.smoke_mode() if smoke is None else smoke
    _, (x, y) = data.load_mnist()
    if smoke:
        x, y = data.subset(x, y, config.SMOKE_TEST_SIZE, seed=0)
    return data.preprocess(x), np.asarray(y, "int32")


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _load(folder: Path):
    from .checkpoints import load

    try:
        model = load(folder / assignment.MODEL_FILE)
    except DnnstepsError as exc:
        raise _Invalid(_one_line(f"{assignment.MODEL_FILE}: {exc}")) from None
    if tuple(model.input_shape[1:]) != INPUT_SHAPE:
        raise _Invalid(
            f"input shape {tuple(model.input_shape[1:])}; MNIST images are {INPUT_SHAPE}"
        )
    if tuple(model.output_shape[1:]) != (data.NUM_CLASSES,):
        raise _Invalid(f"output shape {tuple(model.output_shape[1:])}; expected (10,)")
    return model


def measure(model, x, y) -> float:
    """Accuracy of ``model``'s most probable class (no compile, no loss needed)."""
    predicted = np.argmax(model.predict(x, batch_size=500, verbose=0), axis=-1)
    return float(np.mean(predicted == y))


def grade_one(folder, x, y) -> Grade:
    """One submission's grade; a broken one is ``invalid`` with its reason."""
    folder = Path(folder)
    grade = Grade(folder.name)
    try:
        for name in (assignment.MODEL_FILE, assignment.LOG_FILE):
            if not (folder / name).is_file():
                raise _Invalid(f"no {name}")
        try:
            rows = assignment.read_log(folder / assignment.LOG_FILE)
        except DnnstepsError as exc:
            raise _Invalid(_one_line(f"{assignment.LOG_FILE}: {exc}")) from None
        grade.claimed = rows[-1]["val_accuracy"]
        model = _load(folder)
        grade.params = int(model.count_params())
        try:
            grade.measured = measure(model, x, y)
        except Exception as exc:  # noqa: BLE001 - any failure to run is the submission's
            raise _Invalid(_one_line(f"model cannot be evaluated: {exc}")) from None
    except _Invalid as exc:
        grade.verdict, grade.reasons = "invalid", [str(exc)]
        return grade
    results = assignment.check(model, [r["val_accuracy"] for r in rows])
    grade.reasons += assignment.failures(results)
    if len(rows) > assignment.MAX_EPOCHS:
        grade.reasons.append(
            f"log has {len(rows)} epochs: the handed-in weights were trained longer "
            f"than {assignment.MAX_EPOCHS} epochs"
        )
    if abs(grade.measured - grade.claimed) > TOLERANCE:
        grade.reasons.append(
            f"not reproduced: the weights measure {grade.measured:.2%}, the log's last "
            f"val_accuracy says {grade.claimed:.2%} (more than 0.1 points apart)"
        )
    grade.verdict = "fail" if grade.reasons else "pass"
    return grade


def submissions(root) -> list[Path]:
    """The submission folders in ``root`` (hidden folders skipped), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise DnnstepsError(f"{root} is not a folder of submissions.")
    found = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise DnnstepsError(f"{root} holds no submission folders (one per student).")
    return found


def grade_all(root, smoke: bool | None = None) -> list[Grade]:
    folders = submissions(root)
    x, y = mnist_test_set(smoke)
    return [grade_one(folder, x, y) for folder in folders]


def to_csv(grades) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(g.row() for g in grades)
    return out.getvalue()


def to_markdown(grades) -> str:
    rows = [[str(v).replace("|", "\\|") for v in g.row().values()] for g in grades]
    return tables.markdown(COLUMNS, rows)
