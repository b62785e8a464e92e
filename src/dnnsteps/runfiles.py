"""The files a run folder holds, written so that a kill never leaves a torn one: each
goes to a temporary file, synced, that then replaces the target in one ``os.replace``.
The training log is Keras's CSVLogger layout; models load in safe mode only."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import DnnstepsError

if TYPE_CHECKING:
    import keras

LOG_FILE = "log.csv"
MODEL_FILE = "model.keras"


def _sync_folder(folder: Path) -> None:
    """Make a rename durable; only POSIX can open a directory to sync it."""
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _publish(tmp: Path, path: Path) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _sync_folder(path.parent)


def write_with(path, write) -> None:
    """``write(tmp)`` fills a temp file that replaces ``path``; an error leaves ``path`` whole."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")  # keeps the suffix Keras checks for
    try:
        write(tmp)
        if path.exists():  # the new file keeps the permissions of the one it replaces
            os.chmod(tmp, path.stat().st_mode & 0o777)
        _publish(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DnnstepsError(f"could not write {path} ({exc.strerror or exc}); what was saved "
                            "before is kept: free some space or fix the folder, then run "
                            "again to resume.") from None  # fmt: skip


def atomic_write(path, data: bytes | str) -> None:
    data = data.encode() if isinstance(data, str) else data
    write_with(path, lambda tmp: Path(tmp).write_bytes(data))


def write_new(path, data: bytes | str, force: bool = False) -> Path:
    """Write ``path`` atomically, refusing to replace a file that is already there."""
    path = Path(path)
    if path.exists() and not force:
        raise DnnstepsError(f"{path} exists; choose another file or pass --force.")
    atomic_write(path, data)
    return path


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_model(path) -> keras.Model:
    """A saved ``.keras`` model, loaded in safe mode (no code from the file runs)."""
    import keras  # here: the writers above serve tools that start no backend

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable model is one message
        text = " ".join(str(exc).split())[:200]
        raise DnnstepsError(f"cannot load {path}: {type(exc).__name__}: {text}") from None


def log_text(rows) -> str:
    """CSVLogger's layout: ``epoch`` (from 0), then the metrics in sorted order."""
    keys = sorted({k for row in rows for k in row} - {"epoch"})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for row in rows:
        writer.writerow(
            [row["epoch"], *(repr(float(row[k])) if k in row else "" for k in keys)]
        )
    return out.getvalue()


def read_log(path) -> list[dict]:
    """The rows of a Keras CSVLogger log (a file, or a folder holding ``log.csv``)."""
    path = Path(path)
    path = path / LOG_FILE if path.is_dir() else path
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [
            {k: int(v) if k == "epoch" else float(v) for k, v in row.items() if v}
            for row in csv.DictReader(lines)
        ]
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise DnnstepsError(f"cannot read the training log {path}: {exc}") from None
    if not rows or any("epoch" not in row for row in rows):
        raise DnnstepsError(f"{path} holds no epochs; expected a Keras CSVLogger log.")
    return rows


def fingerprint(*parts) -> str:
    """SHA-256 of arrays and JSON-able values, the same in every session (no addresses)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.shape}{part.dtype}".encode())
            digest.update(memoryview(np.ascontiguousarray(part)).cast("B"))
        else:
            text = json.dumps(part, sort_keys=True, default=str)
            digest.update(re.sub(r" at 0x[0-9a-fA-F]+", "", text).encode())
    return digest.hexdigest()
