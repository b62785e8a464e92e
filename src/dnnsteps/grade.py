"""Grade a folder of hand-ins (sub-folders and .zip files), of whichever kind each holds.

A model, loaded in safe mode, must reproduce its log's last val_accuracy within 0.1 points
on the test images; a notebook or README is audited from its text (``handin_text``), not
re-run. Copies are flagged, never failed. Nothing in the folder is written.
"""

from __future__ import annotations

import csv
import functools
import io
import stat
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import keras
import numpy as np

from . import config, data, handin_text, models, rules, runfiles
from .errors import DnnstepsError
from .models import INPUT_SHAPE
from .runfiles import LOG_FILE, MODEL_FILE

COLUMNS = ("submission", "verdict", "graded", "params", "claimed_val_accuracy",
           "measured_test_accuracy", "input", "flags", "reasons")  # fmt: skip
RE_RUN, FROM_TEXT = "re-run on the test images", "audited from text (not re-run)"
TOLERANCE = 0.001  # 0.1 percentage points
MAX_UNZIPPED = 50 * 2**20  # bytes a handed-in zip may expand to
CONVENTIONS = {"raw 0-255": lambda x: x, "x / 255": lambda x: x / 255.0,
               "standardised": lambda x: (x / 255.0 - data.MEAN) / data.STD}  # fmt: skip
# The course's eighth network (16,604 parameters, biases included) as its summary shows
# it: each convolution's output, in order (an architecture leaves batch norm out).
COURSE_DNN8 = tuple(f"conv:{s}" for s in
                    "26x26x16 24x24x32 24x24x10 10x10x16 8x8x16 6x6x16 4x4x16 1x1x10".split())  # fmt: skip


@dataclass
class Grade:
    submission: str
    verdict: str = "pass"  # pass, fail or invalid
    graded: str = ""  # RE_RUN, or FROM_TEXT with the file and the run taken
    params: int | None = None
    claimed: float | None = None
    measured: float | None = None
    input: str = ""  # the convention that reproduced the claim
    reasons: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # the instructor decides
    keys: dict = field(default_factory=dict, repr=False)  # what copies share

    def row(self) -> dict:
        number = lambda v: "" if v is None else f"{v:.4f}"  # noqa: E731
        values = (self.submission, self.verdict, self.graded,
                  "" if self.params is None else self.params, number(self.claimed),
                  number(self.measured), self.input, "; ".join(self.flags),
                  "; ".join(self.reasons))  # fmt: skip
        return dict(zip(COLUMNS, values))


class _Invalid(Exception):
    """A submission that cannot be graded; the message is its reason."""


def _one_line(text, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unzip(archive: Path, target: Path) -> Path:
    """Extract a zip into ``target``; escaping paths, links and zip bombs are refused."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if sum(m.file_size for m in members) > MAX_UNZIPPED:
                raise _Invalid(f"zip expands to more than {MAX_UNZIPPED // 2**20} MB")
            for m in members:
                name = m.filename.replace("\\", "/")
                if name.startswith("/") or ":" in name or ".." in PurePosixPath(name).parts:
                    raise _Invalid(f"zip member {m.filename!r} points outside the zip")
                if stat.S_ISLNK(m.external_attr >> 16):
                    raise _Invalid(f"zip member {m.filename!r} is a symbolic link")
            for m in members:
                zf.extract(m, target)
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as exc:
        raise _Invalid(_one_line(f"cannot unzip: {exc}")) from None
    return target


def locate(folder: Path) -> tuple[Path | None, list[Path]]:
    """Where model.keras is (or None), and the READMEs and notebooks, shallowest first."""
    found = sorted((p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and not
                    any(s.startswith((".", "__MACOSX")) for s in p.relative_to(folder).parts)),
                   key=lambda p: (len(p.parts), p.suffix == ".ipynb"))  # fmt: skip
    models_at = [p.parent for p in found if p.name == MODEL_FILE]
    if len(models_at) > 1:
        raise _Invalid(f"holds {len(models_at)} {MODEL_FILE} files; expected one")
    texts = [p for p in found if p.stem.lower() == "readme" or p.suffix == ".ipynb"]
    return (models_at or [None])[0], texts


def log_rows(folder: Path) -> list[dict]:
    """The log of a submission or run folder, which must hold model.keras too."""
    for name in (MODEL_FILE, LOG_FILE):
        if not (folder / name).is_file():
            raise DnnstepsError(f"{folder} has no {name}; a submission folder holds "
                                f"{MODEL_FILE} and {LOG_FILE}.")  # fmt: skip
    rows = runfiles.read_log(folder / LOG_FILE)
    if any("val_accuracy" not in r for r in rows):
        raise DnnstepsError(f"{folder / LOG_FILE} lacks val_accuracy in some epoch.")
    return rows


def _reproduce(grade: Grade, model, x, y) -> None:
    """Set ``measured`` and ``input``: the convention closest to the log's claim."""
    predicted = lambda x: np.argmax(model.predict(x, batch_size=500, verbose=0), axis=-1)  # noqa: E731
    try:
        measured = {k: float(np.mean(predicted(f(x)) == y)) for k, f in CONVENTIONS.items()}
    except Exception as exc:  # noqa: BLE001 - any failure to run is the submission's
        raise _Invalid(_one_line(f"model cannot be evaluated: {exc}")) from None
    name = min(measured, key=lambda k: abs(measured[k] - grade.claimed))
    grade.measured = measured[name]
    if abs(grade.measured - grade.claimed) <= TOLERANCE:
        grade.input = name
        return
    said = ", ".join(f"{v:.2%} ({k})" for k, v in measured.items())
    grade.reasons.append(f"not reproduced: the weights measure {said}; the log's last "
                         f"val_accuracy says {grade.claimed:.2%}")  # fmt: skip


def architecture(model) -> tuple[str, ...]:
    """Each weighted layer but batch norm as type:output, as ``handin_text`` reads a summary."""
    skip = (keras.Model, keras.layers.BatchNormalization)
    try:
        return tuple(f"{type(x).__name__[:4].lower()}:{'x'.join(map(str, x.output.shape[1:]))}"
                     for x in rules.walk(model) if x.count_params() and not isinstance(x, skip))  # fmt: skip
    except (AttributeError, ValueError, TypeError):  # a layer never called: no output
        return ()


def _finish(grade: Grade, findings, epochs: int) -> Grade:
    grade.reasons += [f.message for f in findings if not f.passed]
    if epochs > rules.MAX_EPOCHS:
        grade.reasons.append(f"log has {epochs} epochs: more than {rules.MAX_EPOCHS}")
    grade.verdict = "fail" if grade.reasons else "pass"
    return grade


def grade_one(folder, x, y, name=None) -> Grade:
    """One model hand-in's grade; a broken one is ``invalid`` with its one-line reason."""
    folder = Path(folder)
    grade = Grade(name or folder.name)
    try:
        try:
            rows = log_rows(folder)
            grade.claimed = rows[-1]["val_accuracy"]
            model = runfiles.load_model(folder / MODEL_FILE)
        except DnnstepsError as exc:
            said = str(exc).replace(f"{folder}/", "").replace(str(folder), grade.submission)
            raise _Invalid(_one_line(said)) from None
        grade.params, grade.graded = int(model.count_params()), RE_RUN
        if tuple(model.input_shape[1:]) != INPUT_SHAPE or model.output_shape[1:] != (10,):
            raise _Invalid(f"input {model.input_shape[1:]}, output {model.output_shape[1:]}: "
                           "expected (28, 28, 1) images in, 10 classes out")  # fmt: skip
        grade.keys = {"architecture": architecture(model), "log": str(rows),
                      "weights": runfiles.fingerprint(*model.get_weights())}  # fmt: skip
        _reproduce(grade, model, x, y)
    except _Invalid as exc:
        grade.verdict, grade.reasons = "invalid", [str(exc)]
        return grade
    return _finish(grade, rules.check(model, rows), len(rows))


def grade_text(texts: list[Path], name: str) -> Grade:
    """The first README or notebook with a training log, audited on a model's rules."""
    for path in texts:
        text = path.read_text(encoding="utf-8", errors="replace")
        found = handin_text.audit(handin_text.notebook_text(text) if path.suffix == ".ipynb" else text)  # fmt: skip
        if any(found.val):  # an epoch with its val accuracy
            break
    else:
        raise _Invalid(f"no training log (Epoch N/M, val accuracy) in "
                       f"{', '.join(map(str, texts))}")  # fmt: skip
    grade = Grade(name, graded="; ".join([f"{FROM_TEXT}: {path.name}", *found.notes]))
    grade.params, grade.claimed, n = found.params, found.val[-1], found.params
    grade.keys = {"architecture": found.architecture, "log": found.log_key}
    said = "not shown" if n is None else f"{n:,} (from the {found.params_from})"
    limit = f"< {rules.MAX_PARAMS:,}"
    findings = [rules.finding("parameters", limit, said, (n or 1e9) < rules.MAX_PARAMS)]
    if found.layers_shown:
        findings += rules.layer_rules(found.dense, found.biased)
    grade.graded += "" if found.layers_shown else "; no summary: Dense, biases unchecked"
    val = [v or 0.0 for v in found.val]
    above = [c for c in found.claims if c[1] - c[2] > max(val)]
    if above:
        grade.reasons.append(f"claim above the log: {max(above, key=lambda c: c[1])[0]} is "
                             f"more than any epoch of the log reaches ({max(val):.2%} best)")  # fmt: skip
    return _finish(grade, [*findings, rules.accuracy_rule(val)], found.epochs)


def _grade_path(path: Path, folder: Path, test_data) -> Grade:
    """One hand-in, of whichever kind it holds; its reasons name it relative to DIR."""
    try:
        model_at, texts = locate(unzip(path, folder) if path.is_file() else folder)
        if model_at and ((model_at / LOG_FILE).is_file() or not texts):
            grade = grade_one(model_at, *test_data(), name=path.name)
        elif texts:
            grade = grade_text(texts, path.name)
        else:
            raise _Invalid(f"{folder} has no {MODEL_FILE}, no README and no "
                           "notebook: nothing to grade")  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - one row per hand-in, whatever it holds
        reason = str(exc) if isinstance(exc, _Invalid) else f"{type(exc).__name__}: {exc}"
        grade = Grade(path.name, "invalid", reasons=[reason])
    grade.reasons = [_one_line(r.replace(str(folder), path.name)) for r in grade.reasons]
    return grade


def flag_copies(grades: list[Grade]) -> None:
    """Flag the course's DNN8, ours, and hand-ins sharing weights or a log with a twin."""
    ours = architecture(models.dnn8())
    said = {COURSE_DNN8: "the course's DNN8", ours: "dnnsteps's DNN8"}
    for g in grades:
        if g.keys.get("architecture") in said:
            g.flags.append(f"architecture of {said[g.keys['architecture']]}")
        for key in "weights", "log":
            twins = [t.submission for t in grades
                     if t is not g and g.keys.get(key) and t.keys.get(key) == g.keys[key]]  # fmt: skip
            g.flags += [f"same {key} as {', '.join(twins)}"] if twins else []


def grade_all(root, smoke: bool | None = None) -> list[Grade]:
    """Grade every hand-in in ``root``; a broken one never stops the batch."""
    root = Path(root)
    if not root.is_dir():
        raise DnnstepsError(f"{root} is not a folder of submissions.")
    paths = sorted(p for p in root.iterdir() if not p.name.startswith(".")
                   and (p.is_dir() or p.suffix.lower() == ".zip"))  # fmt: skip
    if not paths:
        raise DnnstepsError(f"{root} holds no submission folders or .zip files.")
    test_data = functools.cache(lambda: data.mnist(smoke=smoke)[1])  # only for a model
    with tempfile.TemporaryDirectory(prefix="dnnsteps-grade-") as tmp:
        grades = [_grade_path(p, p if p.is_dir() else Path(tmp) / str(i), test_data)
                  for i, p in enumerate(paths)]  # fmt: skip
    flag_copies(grades)
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
    """``python -m dnnsteps grade``: the table and the summary line; ``out``: the CSV too."""
    root = Path(root)
    if out is not None and Path(out).resolve().is_relative_to(root.resolve()):
        raise DnnstepsError(f"--out {out} is inside {root}; grading changes nothing there.")
    if out is not None and Path(out).exists() and not force:  # said before grading forty
        raise DnnstepsError(f"{out} exists; choose another file or pass --force.")
    if out is not None and not Path(out).resolve().parent.is_dir():
        raise DnnstepsError(f"--out {out}: its folder does not exist.")
    grades = grade_all(root)
    tally = Counter([g.verdict for g in grades] + [g.graded.split(":")[0] for g in grades])
    smoke = config.smoke_mode()
    images = "the 1,000-image smoke subset" if smoke else "the 10,000 test images"
    print(f"{to_markdown(grades)}\n\n{len(grades)} hand-ins: {tally['pass']} pass, "
          f"{tally['fail']} fail, {tally['invalid']} invalid; {tally[RE_RUN]} re-run on "
          f"{images}, {tally[FROM_TEXT]} {FROM_TEXT}; {sum(bool(g.flags) for g in grades)} flagged.")  # fmt: skip
    if out is not None:
        runfiles.write_new(out, to_csv(grades), force=force)
        print(f"wrote {out}")
    return 0
