"""A training run's directory: what it holds and whether it belongs to this run.

Layout: ``run.json`` (what is being trained), ``log.csv`` (one row per finished
epoch), ``backup/`` (Keras BackupAndRestore state), ``best.keras`` (best
validation accuracy so far), ``final.weights.h5`` and ``summary.json`` once done.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

from .errors import CheckpointError, RunDirError

LOG_FIELDS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def architecture_id(model) -> str:
    """A short hash of the model's layer configuration (not its weights)."""
    config = json.dumps(json.loads(model.to_json())["config"]["layers"], sort_keys=True)
    return hashlib.sha256(config.encode()).hexdigest()[:16]


def _comparable(identity: dict) -> dict:
    """What must match to continue a run: everything but the number of epochs,
    so asking for more epochs extends a run instead of refusing it."""
    recipe = {k: v for k, v in identity.get("recipe", {}).items() if k != "epochs"}
    return {**identity, "recipe": recipe}


class RunDir:
    def __init__(self, path):
        self.path = Path(path)

    # Paths -----------------------------------------------------------------
    @property
    def run_file(self) -> Path:
        return self.path / "run.json"

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

    # Checks ----------------------------------------------------------------
    def ensure_writable(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise RunDirError(
                f"cannot write the run directory {self.path} ({exc.strerror or exc}). "
                "Pass run_dir= (or --run-dir) pointing to a writable folder."
            ) from None

    def claim(self, identity: dict, fresh: bool = False) -> None:
        """Record what this run is; refuse (touching nothing) a directory of another run."""
        if fresh:
            self.clear()
        if self.run_file.exists():
            try:
                existing = json.loads(self.run_file.read_text())
            except (OSError, ValueError):
                existing = {}
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
        self.run_file.write_text(json.dumps(identity, indent=2, sort_keys=True))

    def clear(self) -> None:
        """Remove this run's state (only the files this module writes)."""
        for name in (
            "run.json",
            "log.csv",
            "best.keras",
            "final.weights.h5",
            "summary.json",
        ):
            (self.path / name).unlink(missing_ok=True)
        shutil.rmtree(self.backup_dir, ignore_errors=True)
        shutil.rmtree(self.path / "tensorboard", ignore_errors=True)

    def read_identity(self) -> dict | None:
        """What run.json says this run is (None when absent or unreadable)."""
        try:
            return json.loads(self.run_file.read_text())
        except (OSError, ValueError):
            return None

    # Progress --------------------------------------------------------------
    def backed_up_epochs(self) -> int:
        """How many epochs the backup holds (0 when none)."""
        meta = self.backup_dir / "training_metadata.json"
        if not meta.exists():
            return 0
        try:
            return int(json.loads(meta.read_text())["epoch"])
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(
                f"the backup in {self.backup_dir} is unreadable ({exc}). "
                "Use fresh=True (--fresh) to start over."
            ) from None

    def read_log(self) -> list[dict]:
        if not self.log_file.exists():
            return []
        with self.log_file.open(newline="") as f:
            return [
                {k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()}
                for row in csv.DictReader(f)
            ]

    def truncate_log(self, epochs_done: int) -> list[dict]:
        """Keep exactly one row for each epoch the backup holds; drop the rest."""
        rows = {r["epoch"]: r for r in self.read_log() if r["epoch"] <= epochs_done}
        kept = [rows[e] for e in sorted(rows)]
        self._write_rows(kept)
        return kept

    def append_log(self, row: dict) -> None:
        new = not self.log_file.exists()
        with self.log_file.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({k: row[k] for k in LOG_FIELDS})
            f.flush()
            os.fsync(f.fileno())

    def _write_rows(self, rows) -> None:
        tmp = self.log_file.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.log_file)

    def read_summary(self) -> dict | None:
        if not self.summary_file.exists():
            return None
        return json.loads(self.summary_file.read_text())

    def write_summary(self, summary: dict) -> None:
        self.summary_file.write_text(json.dumps(summary, indent=2, sort_keys=True))
