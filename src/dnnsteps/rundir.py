"""A training run's directory: what it holds, who may write it, and what is safe in it.

Layout: ``run.json`` (what is being trained), ``log.csv`` (one row per finished
epoch), ``backup/epoch-NNNN.npz`` (weights and optimizer state after an epoch; the
newest two are kept), ``manifest.json`` (which backups are good, with their
checksums and the log rows they stand for), ``best.keras`` (best validation
accuracy so far), ``final.weights.h5`` and ``summary.json`` once done, and
``result.json`` when a notebook records the run. ``.lock`` holds the OS lock.

Every file is written to a temporary name in the same folder, flushed to disk
and renamed over the old one, so a kill at any moment leaves either the old or
the new file, never half of one. The manifest is written last: a backup counts
only once the manifest names it.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import hashlib
import io
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np

from .errors import CheckpointError, ConfigError, RunDirError

LOG_FIELDS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
CRASH_ENV = "DNNSTEPS_CRASH_AT"
MANIFEST_FORMAT = 1
KEEP_STATES = 2  # the newest backup and the one before, in case the newest is damaged
# Files a run writes at its top level (the backup/ and tensorboard/ folders too).
OWN_FILES = (
    "run.json",
    "manifest.json",
    "log.csv",
    "best.keras",
    "final.weights.h5",
    "summary.json",
    "result.json",
)
OWN_DIRS = ("backup", "tensorboard")
LOCK_NAME = ".lock"


# Writing files ----------------------------------------------------------------


def crash_point(point: str, epoch=None) -> None:
    """Test hook: ``DNNSTEPS_CRASH_AT=point:epoch`` kills this process right here.

    The crash-injection tests use it to stop a run at the worst moments (halfway
    through a write, between two files); unset, it does nothing.
    """
    if os.environ.get(CRASH_ENV) == f"{point}:{epoch}":
        os.kill(os.getpid(), signal.SIGKILL)


def tmp_path(path: Path) -> Path:
    """``final.weights.h5`` -> ``final.tmp.weights.h5``: same folder, same suffixes
    (Keras picks the format from them), recognisably temporary."""
    base, dot, rest = path.name.partition(".")
    return path.with_name(f"{base}.tmp{dot}{rest}")


def _is_tmp(name: str) -> bool:
    return ".tmp." in name or name.endswith(".tmp")


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_error(path: Path, exc: OSError) -> RunDirError:
    """One line for a failed write; the run's last good state is still there."""
    reason = exc.strerror or str(exc)
    hint = " (free some space)" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return RunDirError(
        f"cannot write {path}: {reason}{hint}. The run's last finished epoch is kept; "
        "run the same command again to resume."
    )


def atomic_write(path, write, crash: str | None = None, epoch=None) -> None:
    """Write ``path`` by calling ``write(tmp)``, then fsync and rename over ``path``.

    ``write`` may be a Keras save (given the temporary path, with the right
    suffixes). An ``OSError`` (a full disk, a vanished folder) becomes one
    ``RunDirError``; the old file, if any, is untouched.
    """
    path = Path(path)
    tmp = tmp_path(path)
    try:
        write(tmp)
        if crash:
            crash_point(crash, epoch)
        _fsync_path(tmp)
        os.replace(tmp, path)
        _fsync_path(path.parent, directory=True)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_bytes(path, data: bytes, crash: str | None = None, epoch=None) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            if crash:
                # A kill halfway through the bytes: what a torn write leaves.
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
                crash_point(crash, epoch)
            f.write(data)

    atomic_write(path, write)


def atomic_json(path, value) -> None:
    atomic_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def require_space(folder: Path, nbytes: int) -> None:
    """Refuse a write that cannot fit: HDF5 may crash outright on a full disk."""
    free = shutil.disk_usage(folder).free
    if free < 2 * nbytes + (1 << 20):
        raise write_error(
            folder, OSError(errno.ENOSPC, f"only {free:,} bytes free, need {nbytes:,}")
        )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Identity ------------------------------------------------------------------------


def _without_names(value):
    """A layer configuration with every ``name`` removed: Keras numbers automatic
    names per session (conv2d, conv2d_1, ...), so the same layers built twice, or
    built by a notebook and by ``models.build``, would otherwise look different."""
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, list):
        return [_without_names(v) for v in value]
    return value


def architecture_id(model) -> str:
    """A short hash of the model's layer configuration (not its weights or names)."""
    layers = _without_names(json.loads(model.to_json())["config"]["layers"])
    return hashlib.sha256(json.dumps(layers, sort_keys=True).encode()).hexdigest()[:16]


def _comparable(identity: dict) -> dict:
    """What must match to continue a run: everything but the number of epochs,
    so asking for more epochs extends a run instead of refusing it."""
    recipe = {k: v for k, v in identity.get("recipe", {}).items() if k != "epochs"}
    return {**identity, "recipe": recipe}


def settings_id(architecture: str, recipe: dict) -> str:
    """8 hex digits naming an architecture and recipe (epochs aside): a default run
    directory per variant, so editing a model trains it instead of clashing."""
    text = json.dumps(
        _comparable({"architecture": architecture, "recipe": recipe}), sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:8]


# Progress -------------------------------------------------------------------------


def _rows_from_csv(text: str) -> list[dict]:
    """The log's rows; a torn or foreign line is skipped, not fatal."""
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            rows.append(
                {k: (int(row[k]) if k == "epoch" else float(row[k])) for k in LOG_FIELDS}
            )
        except (KeyError, TypeError, ValueError):
            continue
    return rows


def _rows_to_csv(rows) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=LOG_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: r[k] for k in LOG_FIELDS} for r in rows)
    return out.getvalue().encode()


def _state_arrays(model) -> dict:
    """Everything training continues from: the model's variables (batch-norm
    statistics included) and the optimizer's (step count, moments)."""
    arrays = {f"w{i}": np.asarray(v.numpy()) for i, v in enumerate(model.weights)}
    arrays.update(
        {f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)}
    )
    return arrays


def _load_state(model, path: Path) -> None:
    """Assign a backup's arrays to the model, all or nothing."""
    with np.load(path) as saved:
        arrays = {k: saved[k] for k in saved.files}  # reading checks each CRC
    targets = [(f"w{i}", v) for i, v in enumerate(model.weights)]
    targets += [(f"o{i}", v) for i, v in enumerate(model.optimizer.variables)]
    if set(arrays) != {name for name, _ in targets}:
        raise ValueError("it holds other variables than this model")
    for name, variable in targets:
        if tuple(arrays[name].shape) != tuple(variable.shape):
            raise ValueError(f"{name} has shape {arrays[name].shape}, not {variable.shape}")
    for name, variable in targets:
        variable.assign(arrays[name])


class RunDir:
    def __init__(self, path):
        self.path = Path(path)

    # Paths -----------------------------------------------------------------
    @property
    def run_file(self) -> Path:
        return self.path / "run.json"

    @property
    def manifest_file(self) -> Path:
        return self.path / "manifest.json"

    @property
    def log_file(self) -> Path:
        return self.path / "log.csv"

    @property
    def backup_dir(self) -> Path:
        return self.path / "backup"

    @property
    def best_model(self) -> Path:
        return self.path / "best.keras"

    @property
    def final_weights(self) -> Path:
        return self.path / "final.weights.h5"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def result_file(self) -> Path:
        return self.path / "result.json"

    @property
    def lock_file(self) -> Path:
        return self.path / LOCK_NAME

    def state_file(self, epoch: int) -> Path:
        return self.backup_dir / f"epoch-{epoch:04d}.npz"

    # Ownership ---------------------------------------------------------------
    def refuse_foreign(self) -> None:
        """Refuse (touching nothing) a folder with files that no run of ours wrote."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(
                f"{self.path} is a file, not a run directory; choose a folder."
            )
        if not self.path.is_dir() or self.run_file.exists():
            return
        foreign = sorted(
            p.name
            for p in self.path.iterdir()
            if p.name != LOCK_NAME and not _is_tmp(p.name)
        )
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise RunDirError(
                f"{self.path} is not a dnnsteps run directory (it holds {shown} but no "
                "run.json); it was left untouched. Choose an empty or new folder."
            )

    def ensure_writable(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            atomic_bytes(self.path / ".write-test", b"ok")
            (self.path / ".write-test").unlink()
        except (OSError, RunDirError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise RunDirError(
                f"cannot write the run directory {self.path} ({reason}). "
                "Pass run_dir= (or --run-dir) pointing to a writable folder."
            ) from None

    @contextlib.contextmanager
    def locked(self):
        """Hold this run's OS lock (the kernel releases it if the process dies)."""
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunDirError(
                f"{self.path} is in use by another training process (PID {holder}); "
                "wait for it to finish, or use another run_dir."
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield self
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def claim(self, identity: dict, fresh: bool = False) -> None:
        """Record what this run is; refuse (touching nothing) a directory of another run."""
        self.refuse_foreign()
        if fresh:
            self.clear()
        existing = self.read_identity()
        if existing is None and self.run_file.exists():
            print(f"{self.path}/run.json is unreadable; starting this run again.")
            self.clear()
        elif existing is not None:
            if existing.get("architecture") != identity["architecture"]:
                raise CheckpointError(
                    f"{self.path} holds a checkpoint of a different architecture "
                    f"(model {existing.get('model', '?')!r}); it was left untouched. "
                    "Use another run_dir, or fresh=True (--fresh) to discard it."
                )
            differs = sorted(
                k
                for k in identity
                if _comparable(existing).get(k) != _comparable(identity)[k]
            )
            if differs:
                raise CheckpointError(
                    f"{self.path} holds a run with other settings ({', '.join(differs)}); "
                    "it was left untouched. Use another run_dir, or fresh=True "
                    "(--fresh) to start over."
                )
        atomic_json(self.run_file, identity)

    def clear(self) -> None:
        """Remove this run's state: every file a run writes, and only those."""
        for name in OWN_FILES:
            (self.path / name).unlink(missing_ok=True)
        for name in OWN_DIRS:
            shutil.rmtree(self.path / name, ignore_errors=True)
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        """Temporary files a killed write left behind (ours only: ``*.tmp.*``)."""
        for folder in (self.path, self.backup_dir):
            if folder.is_dir():
                for p in folder.iterdir():
                    if _is_tmp(p.name) and p.is_file():
                        p.unlink(missing_ok=True)

    def read_identity(self) -> dict | None:
        """What run.json says this run is (None when absent or unreadable)."""
        try:
            value = json.loads(self.run_file.read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    # Progress --------------------------------------------------------------
    def read_manifest(self) -> dict | None:
        """The last good progress record (None when absent or unreadable)."""
        try:
            value = json.loads(self.manifest_file.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(value, dict) or value.get("format") != MANIFEST_FORMAT:
            return None
        return value

    def backed_up_epochs(self) -> int:
        """How many epochs the manifest says are safely backed up (0 when none)."""
        manifest = self.read_manifest()
        return int(manifest["epoch"]) if manifest else 0

    def read_log(self) -> list[dict]:
        try:
            return _rows_from_csv(self.log_file.read_text())
        except OSError:
            return []

    def write_log(self, rows) -> None:
        atomic_bytes(self.log_file, _rows_to_csv(rows))

    def restore(self, model, epochs: int) -> tuple[int, list[dict], dict | None]:
        """Load the newest good backup into ``model``: (epochs done, their log rows,
        manifest). Falls back to the backup before, or to epoch 0, with one line."""
        manifest = self.read_manifest()
        if manifest is None:
            if self.manifest_file.exists() or self.read_log() or self.backup_dir.exists():
                print(
                    f"{self.path}: no readable progress record (manifest.json); "
                    "starting this run again from epoch 1."
                )
            self._reset_progress()
            return 0, [], None
        done = int(manifest["epoch"])
        if done > epochs:
            raise ConfigError(
                f"{self.path} already holds {done} epochs; asking for {epochs} would "
                f"discard trained epochs. Ask for {done} or more, or use another run_dir "
                "(or fresh=True) to train a shorter run."
            )
        rows = [r for r in manifest["rows"] if r["epoch"] <= done]
        for state in manifest["states"]:
            path = self.path / state["file"]
            try:
                if sha256(path) != state["sha256"]:
                    raise ValueError("its checksum does not match")
                _load_state(model, path)
            except (OSError, ValueError, KeyError) as exc:
                print(
                    f"{self.path}: the backup of epoch {state['epoch']} is unusable "
                    f"({type(exc).__name__}: {exc})."
                )
                continue
            epoch = int(state["epoch"])
            if epoch != done:
                print(f"{self.path}: resuming from the backup of epoch {epoch} instead.")
            rows = [r for r in rows if r["epoch"] <= epoch]
            self._settle(rows, manifest)
            if epoch != done:  # what the backup in use stands for
                manifest = {**manifest, "epoch": epoch, "stopped": False}
            return epoch, rows, manifest
        if done:
            print(f"{self.path}: no usable backup; starting this run again from epoch 1.")
        self._reset_progress()
        return 0, [], None

    def _settle(self, rows, manifest) -> None:
        """Make the log match the backup in use and drop leftovers of killed writes."""
        if self.read_log() != rows:
            self.write_log(rows)
        self._remove_tmp()
        named = {self.path / s["file"] for s in manifest["states"]}
        if self.backup_dir.is_dir():
            for p in self.backup_dir.glob("epoch-*.npz"):
                if p not in named:
                    p.unlink(missing_ok=True)

    def _reset_progress(self) -> None:
        for name in ("manifest.json", "log.csv", "best.keras", "final.weights.h5"):
            (self.path / name).unlink(missing_ok=True)
        for name in ("summary.json", "result.json"):
            (self.path / name).unlink(missing_ok=True)
        shutil.rmtree(self.backup_dir, ignore_errors=True)
        self._remove_tmp()

    def back_up(self, model, rows, epochs: int, stopped: bool = False) -> None:
        """Save the state after ``len(rows)`` epochs, then name it in the manifest."""
        epoch = rows[-1]["epoch"]
        path = self.state_file(epoch)
        buffer = io.BytesIO()
        np.savez(buffer, **_state_arrays(model))
        self.backup_dir.mkdir(exist_ok=True)
        atomic_bytes(path, buffer.getvalue(), crash="state-write", epoch=epoch)
        crash_point("state-written", epoch)
        previous = self.read_manifest()
        states = [{"epoch": epoch, "file": f"backup/{path.name}", "sha256": sha256(path)}]
        if previous:
            states += [s for s in previous["states"] if s["epoch"] < epoch]
        states = states[:KEEP_STATES]
        atomic_json(
            self.manifest_file,
            {
                "format": MANIFEST_FORMAT,
                "epoch": epoch,
                "epochs": epochs,
                "stopped": stopped,
                "rows": list(rows),
                "states": states,
            },
        )
        keep = {s["file"] for s in states}
        for p in self.backup_dir.glob("epoch-*.npz"):
            if f"backup/{p.name}" not in keep:
                p.unlink(missing_ok=True)
        crash_point("backed-up", epoch)

    def mark_stopped(self) -> None:
        """A callback ended training early: the run is finished at its last epoch."""
        manifest = self.read_manifest()
        if manifest and not manifest.get("stopped"):
            atomic_json(self.manifest_file, {**manifest, "stopped": True})

    # Results ---------------------------------------------------------------
    def save_keras(self, model, path: Path, weights_only: bool, crash=None, epoch=None):
        """``model.save`` / ``save_weights`` to ``path``, atomically."""
        nbytes = sum(int(np.prod(v.shape)) * 4 for v in model.weights)
        if getattr(model, "optimizer", None) is not None:
            nbytes += sum(int(np.prod(v.shape)) * 4 for v in model.optimizer.variables)
        try:
            require_space(path.parent, nbytes)
        except OSError as exc:
            raise write_error(path, exc) from None

        def write(tmp):
            (model.save_weights if weights_only else model.save)(str(tmp))

        atomic_write(path, write, crash=crash, epoch=epoch)

    def read_summary(self) -> dict | None:
        try:
            value = json.loads(self.summary_file.read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def finished_summary(self) -> dict | None:
        """The summary, if it and the final weights describe the same finished model."""
        summary = self.read_summary()
        manifest = self.read_manifest()
        if summary is None or manifest is None or not self.final_weights.is_file():
            return None
        if summary.get("epochs") != manifest["epoch"]:
            return None
        if summary.get("final_weights_sha256") != sha256(self.final_weights):
            return None
        return summary

    def invalidate_results(self) -> None:
        """More epochs are coming: what described the shorter run no longer holds."""
        for path in (self.summary_file, self.result_file):
            path.unlink(missing_ok=True)
