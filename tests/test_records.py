"""The run records: typed, versioned, read back as written, judged by their own recipe."""

import dataclasses
import json
from pathlib import Path

import pytest

from dnnsteps import models, records, results
from dnnsteps.records import RecordError, RunRecord, RunSummary, SeedsRecord

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_ONLY = {f.name for f in dataclasses.fields(RunSummary)}


def summary_json(record: dict) -> dict:
    return {k: v for k, v in record.items() if k in SUMMARY_ONLY}


def test_each_record_round_trips_through_its_file(tmp_path, run_record, seeds_record):
    cases = [
        (RunSummary, summary_json(run_record())),
        (RunRecord, run_record()),
        (RunRecord, run_record(notebook_seconds=123.4)),
        (SeedsRecord, seeds_record()),
    ]
    for i, (kind, value) in enumerate(cases):
        record = kind.from_json(value)
        path = tmp_path / f"{i}.json"
        record.save(path)
        saved = json.loads(path.read_text())
        assert saved == {**value, "schema": kind.SCHEMA}  # the same keys, versioned
        assert kind.load(path) == record
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "0.json",
        "1.json",
        "2.json",
        "3.json",
    ]


def test_a_record_is_a_summary_plus_the_notebook_fields(run_record):
    summary = RunSummary.from_json(summary_json(run_record()))
    record = RunRecord.from_summary(
        summary,
        notebook="DNN1_first",
        test_accuracy=0.99,
        test_loss=0.03,
        macs_per_image=1000,
        wall_seconds=100.0,
    )
    assert record.to_json() == RunRecord.from_json(run_record()).to_json()
    assert "notebook_seconds" not in record.to_json()


def test_a_newer_schema_is_refused_and_the_file_left_alone(
    tmp_path, run_record, seeds_record
):
    path = tmp_path / "result.json"
    text = json.dumps({**run_record(), "schema": RunRecord.SCHEMA + 1})
    path.write_text(text)
    with pytest.raises(RecordError, match="newer than the .* upgrade dnnsteps"):
        RunRecord.load(path)
    assert path.read_text() == text
    with pytest.raises(RecordError, match="schema"):
        SeedsRecord.from_json({**seeds_record(), "schema": SeedsRecord.SCHEMA + 1})


def test_files_without_a_schema_read_as_the_first_one(run_record):
    assert "schema" not in run_record()
    assert RunRecord.from_json(run_record()).test_accuracy == 0.99
    assert RunRecord.from_json({**run_record(), "schema": 1}).model == "dnn1"


@pytest.mark.parametrize(
    "change, problem",
    [
        (dict(surprise=1), r"unknown keys \['surprise'\]"),
        (dict(test_accuracy=None), None),  # None is a value; only absence is missing
    ],
)
def test_keys_are_checked(run_record, change, problem):
    if problem is None:
        assert RunRecord.from_json(run_record(**change)).test_accuracy is None
        return
    with pytest.raises(RecordError, match=problem):
        RunRecord.from_json(run_record(**change))


def test_missing_keys_are_named(run_record, seeds_record, tmp_path):
    value = run_record()
    del value["test_loss"]
    with pytest.raises(RecordError, match=r"not a RunRecord: missing keys \['test_loss'\]"):
        RunRecord.from_json(value)
    broken = seeds_record()
    del broken["seeds"]["0"]["best_epoch"]
    with pytest.raises(RecordError, match=r"seed 0 .*missing keys \['best_epoch'\]"):
        SeedsRecord.from_json(broken)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RecordError, match="not valid JSON"):
        RunRecord.load(tmp_path / "bad.json")


def test_metrics_round_trip(tmp_path, run_record):
    path = tmp_path / "results" / "metrics.json"
    assert records.load_metrics(path) == {}
    metrics = {"DNN1_first": RunRecord.from_json(run_record())}
    records.save_metrics(metrics, path)
    assert records.load_metrics(path) == metrics


@pytest.mark.full_run_outputs
def test_the_committed_metrics_read_back_unchanged():
    committed = json.loads((ROOT / "results" / "metrics.json").read_text())
    loaded = records.load_metrics(ROOT / "results" / "metrics.json")
    assert sorted(loaded) == sorted(committed) and committed
    for name, record in loaded.items():
        assert isinstance(record, RunRecord) and record.notebook == name
        again = record.to_json()
        assert {k: v for k, v in again.items() if k != "schema"} == committed[name]


@pytest.mark.full_run_outputs
def test_the_committed_seeds_record_reads_back_unchanged():
    path = ROOT / "results" / "dnn8_seeds.json"
    committed = json.loads(path.read_text())
    record = SeedsRecord.load(path)
    assert sorted(record.seeds) == ["0", "1", "2"]
    assert (
        record.seeds["0"].val_accuracy_curve
        == committed["seeds"]["0"]["val_accuracy_curve"]
    )
    assert {k: v for k, v in record.to_json().items() if k != "schema"} == committed


def test_targets_are_judged_by_the_recipe_the_run_used(run_record):
    today = models.get_step("dnn1").recipe
    # The run reached today's target, but it trained under a stricter recipe.
    stricter = dataclasses.replace(today, target_accuracy=0.995)
    reached = round(today.target_accuracy + 0.001, 4)
    curve = [reached] * today.epochs
    run = run_record(
        val_accuracy_curve=curve,
        best_val_accuracy=reached,
        recipe=dataclasses.asdict(stricter),
    )
    assert results.recipe_of(run) == stricter
    problems = results.check_targets(run)
    assert problems == [f"best val accuracy {reached:.2%} < target 99.50%"]
    # And a run under a looser recipe than today's is not failed by today's.
    looser = dataclasses.replace(today, target_accuracy=0.95, epochs=today.epochs + 5)
    low = run_record(
        val_accuracy_curve=[0.96] * looser.epochs,
        best_val_accuracy=0.96,
        epochs=looser.epochs,
        recipe=dataclasses.asdict(looser),
    )
    assert results.check_targets(low) == []
    # Without a stored recipe, the step's own recipe is the rule.
    assert results.check_targets({**low, "recipe": None})
