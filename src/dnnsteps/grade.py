"""Grade a folder of hand-ins (submission or run folders, and .zip files as handed in).

Each model is loaded with ``safe_mode`` (no code from a submission runs) and
measured on the 10,000 MNIST test images (the 1,000-image smoke subset under
DNNSTEPS_SMOKE=1) under three input conventions: raw 0-255 pixels (the course's
models standardise inside), ``x / 255`` and MNIST standardisation. One of them
must reproduce the log's last ``val_accuracy`` within 0.1 points (the closest
one is reported): a log that no weights reproduce is caught. Nothing in the graded
folder is ever written; zips are extracted into a temporary folder.
"""

from __future__ import annotations

import csv
import io
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from . import config, data, resume, rules
from .errors import DnnstepsError

COLUMNS = ("submission", "verdict", "params", "claimed_val_accuracy",
           "measured_test_accuracy", "input", "reasons")  # fmt: skip
INPUT_SHAPE = (28, 28, 1)
TOLERANCE = 0.001  # 0.1 percentage points
MAX_UNZIPPED = 50 * 2**20  # bytes a handed-in zip may expand to
CONVENTIONS = {
    "raw 0-255": lambda x: x,
    "x / 255": lambda x: x / 255.0,
    "standardised": lambda x: (x / 255.0 - data.MEAN) / data.STD,
}


@dataclass
class Grade:
    submission: str
    verdict: str = "pass"  # pass, fail or invalid
    params: int | None = None
    claimed: float | None = None
    measured: float | None = None
    input: str = ""  # the convention that reproduced the claim
    reasons: list[str] = field(default_factory=list)

    def row(self) -> dict:
        number = lambda v: "" if v is None else f"{v:.4f}"  # noqa: E731
        values = (self.submission, self.verdict, "" if self.params is None else self.params,
                  number(self.claimed), number(self.measured), self.input,
                  "; ".join(self.reasons))  # fmt: skip
        return dict(zip(COLUMNS, values))


class _Invalid(Exception):
    """A submission that cannot be graded; the message is its reason."""


def test_set(smoke: bool | None = None):
    """Raw MNIST test pixels (float32, (N, 28, 28, 1)) and labels; smoke subset in smoke mode."""
    return data.mnist(smoke=smoke)[1]


def _one_line(text, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unzip(archive: Path, target: Path) -> Path:
    """Extract a handed-in zip into ``target`` safely; returns the folder with model.keras.

    Refuses absolute or escaping member paths, symlinks, and more than MAX_UNZIPPED bytes.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if sum(m.file_size for m in members) > MAX_UNZIPPED:
                raise _Invalid(f"zip expands to more than {MAX_UNZIPPED // 2**20} MB")
            for m in members:
                name = m.filename.replace("\\", "/")
                parts = PurePosixPath(name).parts
                if name.startswith("/") or ":" in name or ".." in parts:
                    raise _Invalid(f"zip member {m.filename!r} points outside the zip")
                if stat.S_ISLNK(m.external_attr >> 16):
                    raise _Invalid(f"zip member {m.filename!r} is a symbolic link")
            for m in members:
                zf.extract(m, target)
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as exc:
        raise _Invalid(_one_line(f"cannot unzip: {exc}")) from None
    folders = [
        p.parent for p in target.rglob(resume.MODEL_FILE) if "__MACOSX" not in p.parts
    ]
    if len(folders) != 1:
        raise _Invalid(f"zip holds {len(folders)} model.keras files; expected one")
    return folders[0]


def log_rows(folder: Path) -> list[dict]:
    """The log of a submission or run folder, which must hold model.keras too."""
    for name in (resume.MODEL_FILE, resume.LOG_FILE):
        if not (folder / name).is_file():
            raise DnnstepsError(
                f"{folder} has no {name}; a submission folder holds "
                f"{resume.MODEL_FILE} and {resume.LOG_FILE}."
            )
    rows = resume.read_log(folder / resume.LOG_FILE)
    if any("val_accuracy" not in r for r in rows):
        raise DnnstepsError(f"{folder / resume.LOG_FILE} lacks val_accuracy in some epoch.")
    return rows


def measure(model, x, y) -> float:
    """Accuracy of ``model``'s most probable class (no compile needed)."""
    predicted = np.argmax(model.predict(x, batch_size=500, verbose=0), axis=-1)
    return float(np.mean(predicted == y))


def _reproduce(grade: Grade, model, x, y) -> None:
    """Set ``measured`` and ``input``: the convention closest to the log's claim."""
    try:
        measured = {name: measure(model, f(x), y) for name, f in CONVENTIONS.items()}
    except Exception as exc:  # noqa: BLE001 - any failure to run is the submission's
        raise _Invalid(_one_line(f"model cannot be evaluated: {exc}")) from None
    name = min(measured, key=lambda k: abs(measured[k] - grade.claimed))
    grade.measured = measured[name]
    if abs(grade.measured - grade.claimed) <= TOLERANCE:
        grade.input = name
        return
    said = ", ".join(f"{v:.2%} ({k})" for k, v in measured.items())
    grade.reasons.append(
        f"not reproduced: the weights measure {said}; the log's last "
        f"val_accuracy says {grade.claimed:.2%}"
    )


def grade_one(folder, x, y, name=None) -> Grade:
    """One submission's grade; a broken one is ``invalid`` with its one-line reason."""
    folder = Path(folder)
    grade = Grade(name or folder.name)
    try:
        try:
            rows = log_rows(folder)
            grade.claimed = rows[-1]["val_accuracy"]
            model = resume.load_model(folder / resume.MODEL_FILE)
        except DnnstepsError as exc:
            raise _Invalid(_one_line(str(exc).replace(f"{folder}/", ""))) from None
        grade.params = int(model.count_params())
        if tuple(model.input_shape[1:]) != INPUT_SHAPE or model.output_shape[1:] != (10,):
            raise _Invalid(f"input {model.input_shape[1:]}, output {model.output_shape[1:]}: "
                           "expected (28, 28, 1) images in, 10 classes out")  # fmt: skip
        _reproduce(grade, model, x, y)
    except _Invalid as exc:
        grade.verdict, grade.reasons = "invalid", [str(exc)]
        return grade
    grade.reasons += [f.message for f in rules.check(model, rows) if not f.passed]
    if len(rows) > rules.MAX_EPOCHS:
        grade.reasons.append(f"log has {len(rows)} epochs: the handed-in weights were "
                             f"trained longer than {rules.MAX_EPOCHS} epochs")  # fmt: skip
    grade.verdict = "fail" if grade.reasons else "pass"
    return grade


def handed_in(root) -> list[Path]:
    """The submission folders and .zip files in ``root`` (hidden ones skipped), by name."""
    root = Path(root)
    if not root.is_dir():
        raise DnnstepsError(f"{root} is not a folder of submissions.")
    found = sorted(p for p in root.iterdir() if not p.name.startswith(".")
                   and (p.is_dir() or p.suffix.lower() == ".zip"))  # fmt: skip
    if not found:
        raise DnnstepsError(f"{root} holds no submission folders or .zip files.")
    return found


def grade_all(root, smoke: bool | None = None) -> list[Grade]:
    """Grade every hand-in in ``root``; a broken one never stops the batch."""
    paths = handed_in(root)
    x, y = test_set(smoke)
    grades = []
    with tempfile.TemporaryDirectory(prefix="dnnsteps-grade-") as tmp:
        for i, path in enumerate(paths):
            try:
                folder = path if path.is_dir() else unzip(path, Path(tmp) / str(i))
            except _Invalid as exc:
                grades.append(Grade(path.name, "invalid", reasons=[str(exc)]))
            else:
                grades.append(grade_one(folder, x, y, name=path.name))
    return grades


def to_csv(grades) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(g.row() for g in grades)
    return out.getvalue()


def to_markdown(grades) -> str:
    rows = [COLUMNS, *(g.row().values() for g in grades)]
    lines = ["| " + " | ".join(str(v).replace("|", "\\|") for v in r) + " |" for r in rows]
    return "\n".join([lines[0], "|" + " --- |" * len(COLUMNS), *lines[1:]])


def main(root, out=None, force=False) -> int:
    """``python -m dnnsteps grade``: print the table, optionally write ``out`` as CSV."""
    root = Path(root)
    if out is not None and Path(out).resolve().is_relative_to(root.resolve()):
        raise DnnstepsError(f"--out {out} is inside {root}; grading changes nothing there.")
    grades = grade_all(root)
    print(to_markdown(grades))
    images = "the 1,000-image smoke subset" if config.smoke_mode() else "10,000 test images"
    print(f"\n{len(grades)} submissions, measured on {images}.")
    if out is not None:
        resume.write_new(out, to_csv(grades), force=force)
        print(f"wrote {out}")
    return 0
