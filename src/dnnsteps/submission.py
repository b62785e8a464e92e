"""The folder a student hands in (README.md, model.keras, log.csv), zipped for the download.

Written atomically, and only over a folder this module wrote and nobody changed since
(a manifest of SHA-256 digests tells its own folder from a student's).
"""

from __future__ import annotations

import builtins
import hashlib
import inspect
import io
import json
import math
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from . import config, rules, runfiles
from .errors import DnnstepsError

README_FILE = "README.md"
MANIFEST_FILE = ".dnnsteps-submission.json"
ZIP_COMMENT = b"dnnsteps submission"  # marks a zip this module wrote (and may replace)
LOG_COLUMNS = ("accuracy", "learning_rate", "loss", "val_accuracy", "val_loss")
README_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy")
PLACEHOLDER = (
    "_Replace this paragraph: what you changed from the starter and why (receptive "
    "field, where you pool, batch norm, dropout, learning rate), and what each change "
    "did to the accuracy._"
)


def epochs(history) -> list[dict]:
    """One row per epoch (``epoch`` from 0) from a Keras History, its dict, or log rows."""
    history = getattr(history, "history", history)
    if isinstance(history, dict):
        count = max(map(len, history.values()), default=0)
        rows = [{k: v[i] for k, v in history.items() if i < len(v)} for i in range(count)]
    else:
        rows = [dict(r) for r in history]
    out = []
    for i, row in enumerate(rows):
        if "lr" in row:
            row.setdefault("learning_rate", row["lr"])
        clean = {k: float(row[k]) for k in LOG_COLUMNS if row.get(k) is not None}
        if not math.isfinite(clean.get("val_accuracy", math.nan)):
            raise DnnstepsError(
                f"epoch {i + 1} has no val_accuracy; fit with validation_data"
            )
        out.append({"epoch": i, **clean})
    if not out:
        raise DnnstepsError("the history holds no epochs; pass model.fit's History.")
    return out


def _source(item) -> str:
    if isinstance(item, str):
        return inspect.cleandoc(item)
    try:
        return inspect.getsource(item).rstrip()
    except (OSError, TypeError):
        raise DnnstepsError(
            f"cannot read the source of {item!r}; pass the code as a string instead."
        ) from None


def _evaluated(model, evaluation) -> dict:
    """``model.evaluate``'s result as a dict; computed on the test set when not given."""
    if evaluation is None:
        from . import data

        _, (x, y) = data.mnist()
        evaluation = model.evaluate(x, y, verbose=0, return_dict=True)
    if isinstance(evaluation, dict):
        return {k: float(v) for k, v in evaluation.items()}
    if isinstance(evaluation, (list, tuple)):
        return dict(builtins.zip(("loss", "accuracy"), map(float, evaluation)))
    return {"loss": float(evaluation)}


def readme(model, rows, *, code=(), strategy="", evaluation=None, title="CODE9") -> str:
    """The README: rules, code, every epoch, ``model.evaluate`` and the strategy."""
    found = rules.check(model, rows)
    said = "meets every rule" if rules.passed(found) else "does NOT meet every rule"
    blocks = (
        "\n\n".join(f"```python\n{_source(c)}\n```" for c in code) or "_No code given._"
    )
    table = [
        "| epoch | loss | accuracy | val_loss | val_accuracy |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = (f"{r[k]:.4f}" if k in r else "" for k in README_COLUMNS)
        table.append(f"| {r['epoch'] + 1} | " + " | ".join(cells) + " |")
    images = "the 1,000-image smoke subset" if config.smoke_mode() else "10,000 test images"
    evaluated = ", ".join(f"{k} {v:.4f}" for k, v in _evaluated(model, evaluation).items())
    return (
        f"# {title}: MNIST assignment submission\n\n"
        f"The model {said} of the assignment ({model.count_params():,} parameters).\n\n"
        f"## Rules\n{rules.check_table(found)}\n\n## Model and training code\n{blocks}\n\n"
        f"## Training log\n" + "\n".join(table) + "\n\n"
        f"## `model.evaluate` on {images}\n{evaluated}\n\n"
        f"## Strategy\n{inspect.cleandoc(strategy) or PLACEHOLDER}\n"
    )


def _digests(folder: Path) -> dict:
    files = (p for p in folder.iterdir() if p.name != MANIFEST_FILE)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def is_own(folder) -> bool:
    """True when ``folder`` holds exactly what ``write`` put there, unchanged."""
    folder = Path(folder)
    try:
        return json.loads((folder / MANIFEST_FILE).read_text()) == _digests(folder)
    except (OSError, ValueError):
        return False


def write(folder, model, history, *, code=(), strategy="", evaluation=None, title="CODE9",
          force=False) -> Path:  # fmt: skip
    """Write the submission folder: README.md (``code``, functions or strings, shown as
    Python), model.keras, log.csv. Replaces only a folder it wrote, unchanged; ``force``
    also one it wrote that was edited since (never one without its manifest). Built
    beside the target and swapped in: a crash leaves the old folder or the new one.
    """
    folder = Path(folder)
    edited_own = force and (folder / MANIFEST_FILE).is_file()
    if folder.exists() and not edited_own and not is_own(folder):
        raise DnnstepsError(
            f"{folder} exists and is not an unchanged submission written by dnnsteps; "
            "it was left untouched. Move it away or choose another folder."
        )
    rows = epochs(history)
    text = readme(
        model, rows, code=code, strategy=strategy, evaluation=evaluation, title=title
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        staging.chmod(0o755)  # mkdtemp's folders are private; a submission is not
        runfiles.atomic_write(staging / README_FILE, text)
        runfiles.atomic_write(staging / runfiles.LOG_FILE, runfiles.log_text(rows))
        model.save(staging / runfiles.MODEL_FILE)
        runfiles.atomic_write(
            staging / MANIFEST_FILE, json.dumps(_digests(staging), indent=1)
        )
        if folder.exists():
            old = staging.with_name(staging.name + ".old")
            os.replace(folder, old)
            os.replace(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, folder)
    except OSError as exc:
        raise DnnstepsError(f"cannot write {folder} ({exc.strerror or exc}).") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def zip(folder) -> Path:  # noqa: A001 - the name the course uses
    """Write ``<folder>.zip`` (files under ``<folder name>/``); replaces only its own zip."""
    folder = Path(folder)
    if not all((folder / n).is_file() for n in (runfiles.MODEL_FILE, runfiles.LOG_FILE)):
        raise DnnstepsError(
            f"{folder} is not a submission folder (no model.keras or log.csv)."
        )
    target = folder.with_name(folder.name + ".zip")
    try:
        with zipfile.ZipFile(target) as old:
            ours = old.comment == ZIP_COMMENT
    except FileNotFoundError:
        ours = True
    except (OSError, zipfile.BadZipFile):
        ours = False
    if not ours:
        raise DnnstepsError(
            f"{target} exists and was not written by dnnsteps; move it away."
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.comment = ZIP_COMMENT
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.is_symlink():
                archive.write(path, f"{folder.name}/{path.name}")
    runfiles.atomic_write(target, buffer.getvalue())
    return target


def offer_download(folder) -> Path:
    """Zip the folder; in Colab, download the zip, elsewhere say where it is."""
    target = zip(folder)
    try:
        from google.colab import files
    except ImportError:
        print(f"Hand in {target.resolve()} (or push {folder} with its model.keras).")
    else:
        files.download(str(target))
    return target
