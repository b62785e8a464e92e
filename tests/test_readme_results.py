"""The README's results and seeds tables, number by number, against ``results/*.json``
with every accuracy read as Keras prints it (4 decimals): a float32 0.99419999 is the
0.9942 the notebook's log shows, and reaches a target of 0.9942."""

import json
from pathlib import Path

import pytest

from dnnsteps.results import as_printed

ROOT = Path(__file__).resolve().parents[1]
RECORDS = {
    p.stem: json.loads(p.read_text())
    for p in sorted((ROOT / "results").glob("*.json"))
    if p.stem.startswith(("DNN", "CODE"))
}
pytestmark = pytest.mark.full_run_outputs


def table(marker: str) -> list[list[str]]:
    """The README's table between ``<!-- marker:start/end -->``: its header, then rows."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"<!-- {marker}:start -->")[1].split(f"<!-- {marker}:end -->")[0]
    lines = [ln.strip().strip("|").split("|") for ln in body.splitlines() if ln[:2] == "| "]
    return [[cell.strip() for cell in line] for line in lines if "---" not in line[0]]


def percent(value) -> str:
    return f"{as_printed(value):.2%}"


def results_rows() -> dict[str, dict]:
    header, *rows = table("results")
    return {row[0]: dict(zip(header, row)) for row in rows}


def test_every_record_has_one_row():
    assert sorted(results_rows()) == sorted(RECORDS)


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_each_number_of_its_row_is_the_record_as_printed(name):
    row, record = results_rows()[name], RECORDS[name]
    recipe, target = record["recipe"], record["recipe"]["target"]
    val = [as_printed(v) for v in record["val_accuracy"]]
    first = next((i for i, v in enumerate(val, 1) if v >= target), None)
    last = recipe["hold_last"]
    held = not last or all(
        min(as_printed(v) for v in curve[-last:]) >= target
        for curve in (record.get("seeds") or {"0": val}).values()
    )
    met = first is not None and first <= (recipe["target_epoch"] or len(val)) and held
    assert row["params"] == f"{record['params']:,}"
    assert row["MACs/image"] == f"{record['macs_per_image']:,}"
    assert row["best val acc (epoch)"] == f"{max(val):.2%} ({val.index(max(val)) + 1})"
    assert row["test acc (last epoch)"] == percent(record["test_accuracy"])
    assert row["first epoch at target"] == str(first or "-")
    assert row["target met"].split(":")[0] == ("yes" if met else "no")
    assert row["s/epoch"] == f"{record['seconds_per_epoch']:.1f}"


def test_each_number_of_the_seeds_table_is_the_record_as_printed():
    (record,) = [r for r in RECORDS.values() if r.get("seeds")]
    last, target = record["recipe"]["hold_last"], record["recipe"]["target"]
    header, *rows = table("seeds")
    assert header[-1] == f"holds {percent(target)}"
    assert [row[0] for row in rows] == sorted(record["seeds"], key=int)
    for seed, tail, lowest, holds in rows:
        printed = [as_printed(v) for v in record["seeds"][seed][-last:]]
        assert tail == ", ".join(f"{v:.2%}" for v in printed)
        assert lowest == f"{min(printed):.2%}"
        assert holds == ("yes" if min(printed) >= target else "no")
