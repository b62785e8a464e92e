"""The repository a student hands in (README.md at its root, the notebook, model.keras,
log.csv), zipped. The README pastes what Keras printed, never a table rebuilt from
numbers: only real lines can be trusted. Written atomically, and only over a folder this
module wrote and nobody changed since (a manifest of SHA-256 digests tells).
"""

from __future__ import annotations

import builtins
import hashlib
import inspect
import io
import json
import math
import os
import re
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
PLACEHOLDER = "(Replace this with your strategy.)"  # in CODE9's STRATEGY until edited


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


def _printed(history, count: int) -> str:
    """The epochs' lines as Keras printed them; a progress bar's redraws (``verbose=1``)
    keep only their last state."""
    printed = list(getattr(history, "printed", None) or [])
    text = re.sub(r"[^\n]*\r(?!\n)", "", "".join(printed))
    log = f"```text\n{text}```\n" if printed else ""
    if len(printed) < count:  # a History that ``resumable`` did not give
        log += (f"\n_The lines Keras printed for {count - len(printed)} of the {count} "
                "epochs were not kept (train with `dnnsteps.resumable`); log.csv holds "
                "every epoch._\n")  # fmt: skip
    return log


def _evaluated(evaluation) -> str:
    """``model.evaluate``'s result (its list, dict or loss), named as Keras names them."""
    if not isinstance(evaluation, dict):
        values = evaluation if isinstance(evaluation, (list, tuple)) else [evaluation]
        evaluation = dict(builtins.zip(("loss", "accuracy"), values))
    return " - ".join(f"{k}: {float(v):.4f}" for k, v in evaluation.items())


def readme(model, history, *, summary, evaluation, strategy="", title="CODE9") -> str:
    """The README in the course's order: rules, parameters, the summary, every epoch as
    Keras printed it, ``model.evaluate`` and the strategy."""
    rows = epochs(history)
    found = rules.check(model, rows)
    said = "meets every rule" if rules.passed(found) else "does NOT meet every rule"
    images = "the 1,000-image smoke subset" if config.smoke_mode() else "10,000 test images"
    return (
        f"# {title}: MNIST assignment submission\n\n"
        f"The model {said} of the assignment.\n\n## Rules\n{rules.check_table(found)}\n\n"
        f"## Parameters\n{model.count_params():,} parameters (the assignment allows fewer "
        f"than {rules.MAX_PARAMS:,}).\n\n## Model\n```text\n{summary.strip()}\n```\n\n"
        f"## Training log\n{len(rows)} epochs, as Keras printed them.\n\n"
        f"{_printed(history, len(rows))}\n"
        f"## `model.evaluate` on {images}\n```text\n{_evaluated(evaluation)}\n```\n\n"
        f"## Strategy\n{inspect.cleandoc(strategy) or '_No strategy given._'}\n"
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


def _fill(staging: Path, model, history, notebook, **readme_kw) -> None:
    """The files, each written atomically. The summary is that of model.keras as loaded
    back: after training, the model's own would count the optimizer's variables."""
    runfiles.write_with(staging / runfiles.MODEL_FILE, model.save)
    summary = []
    runfiles.load_model(staging / runfiles.MODEL_FILE).summary(print_fn=summary.append)
    text = readme(model, history, summary="".join(summary), **readme_kw)
    runfiles.atomic_write(staging / README_FILE, text)
    runfiles.atomic_write(staging / runfiles.LOG_FILE, runfiles.log_text(epochs(history)))
    if notebook is not None and Path(notebook).is_file():  # as last saved, outputs too
        runfiles.atomic_write(staging / Path(notebook).name, Path(notebook).read_bytes())
    runfiles.atomic_write(staging / MANIFEST_FILE, json.dumps(_digests(staging), indent=1))


def write(folder, model, history, *, evaluation, strategy="", notebook=None,
          title="CODE9", force=False) -> Path:  # fmt: skip
    """Write the repository to hand in; ``notebook``: the saved .ipynb to add, if there.
    Refuses CODE9's unedited strategy. Replaces only a folder it wrote, unchanged;
    ``force`` also one it wrote that was edited since (never one without its manifest).
    Built beside the target and swapped in: a crash leaves the old folder or the new one.
    """
    folder = Path(folder)
    if PLACEHOLDER in strategy:
        raise DnnstepsError("STRATEGY still holds the starter's text: write your own in "
                            "its cell, run it, then run this cell again (nothing was written).")  # fmt: skip
    edited_own = force and (folder / MANIFEST_FILE).is_file()
    if folder.exists() and not edited_own and not is_own(folder):
        raise DnnstepsError(
            f"{folder} exists and is not an unchanged submission written by dnnsteps; "
            "it was left untouched. Move it away or choose another folder."
        )
    epochs(history)  # a history without validation is refused before anything is written
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        staging.chmod(0o755)  # mkdtemp's folders are private; a submission is not
        _fill(staging, model, history, notebook, evaluation=evaluation,
              strategy=strategy, title=title)  # fmt: skip
        old = staging.with_name(staging.name + ".old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise DnnstepsError(f"cannot write {folder} ({exc.strerror or exc}).") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def zip(folder) -> Path:  # noqa: A001 - the name the course uses
    """Write ``<folder>.zip``, the folder's files at its root (the repository's root);
    replaces only its own zip."""
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
            if path.is_file() and not path.is_symlink() and path.name != MANIFEST_FILE:
                archive.write(path, path.name)
    runfiles.atomic_write(target, buffer.getvalue())
    return target


def offer_download(folder) -> Path:
    """Zip the folder; in Colab, download the zip. Paths print relative to the notebook:
    an output saved in a notebook names no machine's folders."""
    folder, target = Path(folder), zip(folder)
    names = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST_FILE)
    print(f"Your repository: {os.path.relpath(folder)}/ ({', '.join(names)}), "
          f"zipped as {os.path.relpath(target)}.")  # fmt: skip
    if not any(n.endswith(".ipynb") for n in names):
        print("It holds no notebook: add yours, saved with its outputs (see below).")
    try:
        from google.colab import files
    except ImportError:
        return target
    files.download(str(target))
    return target
