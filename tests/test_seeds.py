"""DNN8's rule: the target holds in each of the last epochs, for every seed."""

import json

import pytest

from dnnsteps import models, results, seeds

CURVE = [0.98] * 12 + [0.9941, 0.9945, 0.9943]


def summary(seed=0, curve=CURVE, mode="full"):
    return dict(
        model="dnn8",
        seed=seed,
        mode=mode,
        params=models.build("dnn8").count_params(),
        epochs=len(curve),
        val_accuracy_curve=curve,
        best_val_accuracy=max(curve),
        best_epoch=curve.index(max(curve)) + 1,
        final_val_accuracy=curve[-1],
        final_train_accuracy=curve[-1],
        first_epoch_at_target=13,
        target_accuracy=0.994,
        seconds_per_epoch=10.0,
    )


def test_a_target_that_holds_passes():
    assert results.check_targets(summary()) == []
    assert seeds.verdict([summary(s) for s in seeds.SEEDS], strict=True)


def test_one_dip_in_the_last_epochs_fails_and_names_the_seed():
    dipped = CURVE[:-2] + [0.9938, 0.9950]
    problems = results.check_targets(summary(curve=dipped))
    assert problems == [
        "val accuracy did not hold 99.40% in each of the last 3 epochs "
        "(99.41%, 99.38%, 99.50%)"
    ]
    runs = [summary(0), summary(1), summary(2, curve=dipped)]
    with pytest.raises(results.TargetMissed, match="seed 2: val accuracy did not hold"):
        seeds.verdict(runs, strict=True)
    assert seeds.verdict(runs, strict=False) is False  # reported, not raised


def test_a_peak_earlier_does_not_count():
    early = [0.995] + [0.993] * 14
    assert results.check_targets(summary(curve=early))


def test_seeds_table_and_record(tmp_path, monkeypatch):
    monkeypatch.setenv("DNNSTEPS_RUNS", str(tmp_path))
    runs = [summary(0), summary(1, curve=CURVE[:-1] + [0.9930])]
    table = seeds.table(runs)
    assert f"| 0 | {runs[0]['params']:,} | 15 |" in table
    lines = table.splitlines()
    assert lines[2].endswith("| yes |") and lines[3].endswith("| no |")
    assert "99.41%, 99.45%, 99.30% | 99.30%" in lines[3]
    rec = seeds.record(runs, notebook="DNN8_x")
    saved = json.loads((tmp_path / "dnn8-seeds.json").read_text())
    assert saved == json.loads(json.dumps(rec))
    assert saved["seeds"]["1"]["problems"] and not saved["seeds"]["0"]["problems"]
    readme = tmp_path / "README.md"
    readme.write_text(f"a\n{results.SEEDS_START}\nSTALE\n{results.SEEDS_END}\nb\n")
    results.update_readme_seeds(readme, saved)
    text = readme.read_text()
    assert "STALE" not in text and f"**{saved['params']:,} parameters**" in text


def test_smoke_runs_only_need_to_learn():
    assert results.check_targets(summary(mode="smoke", curve=[0.4])) == []
    assert results.check_targets(summary(mode="smoke", curve=[0.1]))


def test_no_seeds_is_a_clear_error():
    with pytest.raises(models.ConfigError, match="at least one seed"):
        seeds.train_seeds("dnn8", seeds=())
