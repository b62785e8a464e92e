"""The records a run leaves, one dataclass per kind, written and read only here.

``RunSummary`` (a run's ``summary.json``), ``RunRecord`` (a notebook's record of
that run: ``result.json``, collected into ``results/metrics.json``) and
``SeedsRecord`` (several seeds of one step: ``results/<model>_seeds.json``). Each
file carries a ``schema`` number, so a file from a newer dnnsteps is refused
rather than misread; files written before the number existed read as schema 1.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DnnstepsError
from .rundir import atomic_json

LEGACY_SCHEMA = 1  # files without a "schema" key: the same keys, unversioned


class RecordError(DnnstepsError, ValueError):
    """A record file this version of dnnsteps cannot read."""


def _schema(value: dict, newest: int, source: str) -> int:
    schema = value.get("schema", LEGACY_SCHEMA)
    if type(schema) is not int or schema < 0:  # JSON gives int; True is no schema
        raise RecordError(f"{source} has an invalid schema {schema!r}.")
    if schema > newest:
        raise RecordError(
            f"{source} has schema {schema}, newer than the {newest} this dnnsteps "
            "reads; upgrade dnnsteps to read it."
        )
    return schema


def _fields(cls, value: dict, source: str) -> dict:
    """The keys of ``value`` as constructor arguments, or one line naming what is off."""
    if not isinstance(value, dict):
        raise RecordError(f"{source} is not a JSON object.")
    known = {f.name: f for f in dataclasses.fields(cls)}
    given = {k: v for k, v in value.items() if k != "schema"}
    unknown = sorted(set(given) - set(known))
    missing = sorted(
        name
        for name, f in known.items()
        if name not in given
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    )
    if unknown or missing:
        what = [f"unknown keys {unknown}"] if unknown else []
        what += [f"missing keys {missing}"] if missing else []
        raise RecordError(f"{source} is not a {cls.__name__}: {'; '.join(what)}.")
    return given


class _Record:
    """JSON, schema and file handling shared by the record dataclasses."""

    SCHEMA = 2
    OPTIONAL: tuple[str, ...] = ()  # keys written only when they hold a value

    def to_json(self) -> dict:
        value = dataclasses.asdict(self)
        for key in self.OPTIONAL:
            if value[key] is None:
                del value[key]
        return {**value, "schema": self.SCHEMA}

    @classmethod
    def from_json(cls, value: dict, source: str | None = None):
        source = source or f"a {cls.__name__}"
        if isinstance(value, dict):
            _schema(value, cls.SCHEMA, source)
        return cls(**cls._convert(_fields(cls, value, source), source))

    @classmethod
    def _convert(cls, given: dict, source: str) -> dict:
        return given

    def save(self, path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_json(path, self.to_json())

    @classmethod
    def load(cls, path):
        return cls.from_json(_read(path), source=str(path))


def _read(path):
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise RecordError(f"cannot read {path} ({exc.strerror or exc}).") from None
    except ValueError:
        raise RecordError(f"{path} is not valid JSON.") from None


@dataclass(kw_only=True)
class RunSummary(_Record):
    """What a finished run reached, computed from its epoch log (``train.summarise``)."""

    OPTIONAL = ("final_weights_sha256",)

    model: str
    seed: int
    mode: str  # "full" or "smoke"
    params: int
    epochs: int
    best_val_accuracy: float | None
    best_epoch: int | None
    final_val_accuracy: float | None
    final_train_accuracy: float | None
    target_accuracy: float
    target_epoch: int | None
    first_epoch_at_target: int | None
    seconds_to_target: float | None
    seconds_per_epoch: float | None
    total_seconds: float
    val_accuracy_curve: list[float]
    recipe: dict  # the Recipe the run trained with, as its fields
    train_size: int
    test_size: int
    device: str
    strategy: str
    versions: dict
    final_weights_sha256: str | None = None


@dataclass(kw_only=True)
class RunRecord(RunSummary):
    """A run as its notebook closed it: the summary, the test set, cost and time."""

    OPTIONAL = ("final_weights_sha256", "notebook_seconds")

    notebook: str
    test_accuracy: float
    test_loss: float
    macs_per_image: int
    wall_seconds: float
    notebook_seconds: float | None = None  # the whole notebook, as the suite timed it

    @classmethod
    def from_summary(cls, summary: RunSummary, **notebook) -> RunRecord:
        """The summary's fields with the notebook's (which win: e.g. its device)."""
        own = {f.name: getattr(summary, f.name) for f in dataclasses.fields(RunSummary)}
        return cls(**{**own, **notebook})


@dataclass(kw_only=True)
class SeedResult:
    """One seed's run inside a ``SeedsRecord``."""

    val_accuracy_curve: list[float]
    best_val_accuracy: float
    best_epoch: int
    epochs: int
    seconds_per_epoch: float | None
    problems: list[str] = field(default_factory=list)  # its missed targets


@dataclass(kw_only=True)
class SeedsRecord(_Record):
    """Several seeds of one step, and whether its target held for each."""

    model: str
    notebook: str
    mode: str
    params: int
    target_accuracy: float
    hold_last: int
    seeds: dict[str, SeedResult]  # keyed by the seed, as a string (JSON keys)
    device: str
    versions: dict

    @classmethod
    def _convert(cls, given: dict, source: str) -> dict:
        seeds = given["seeds"]
        if not isinstance(seeds, dict):
            raise RecordError(f"{source}: seeds is not a JSON object.")
        given["seeds"] = {
            str(seed): SeedResult(**_fields(SeedResult, run, f"{source}, seed {seed}"))
            for seed, run in seeds.items()
        }
        return given


def load_metrics(path) -> dict[str, RunRecord]:
    """The suite's records by notebook name (empty when the file is not there yet)."""
    path = Path(path)
    if not path.exists():
        return {}
    value = _read(path)
    if not isinstance(value, dict):
        raise RecordError(f"{path} is not a JSON object.")
    return {
        name: RunRecord.from_json(record, source=f"{path}, {name}")
        for name, record in value.items()
    }


def save_metrics(metrics: dict[str, RunRecord], path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_json(path, {name: record.to_json() for name, record in metrics.items()})
