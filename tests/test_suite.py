"""The suite's bookkeeping: which runs belong to a notebook, and what reaches results/."""

import json

from dnnsteps import suite
from dnnsteps.rundir import RunDir


def test_a_notebooks_runs_include_its_extras_but_not_smoke_runs(tmp_path):
    for name in (
        "dnn8-seed0",
        "dnn8_lite-seed0",
        "dnn8_lite-seed2",
        "dnn8_lite-smoke-seed0",
        "dnn7-seed0",
    ):
        (tmp_path / name).mkdir()
    names = [r.path.name for r in suite._notebook_runs(tmp_path, "dnn8")]
    assert names == ["dnn8-seed0", "dnn8_lite-seed0", "dnn8_lite-seed2"]


def test_force_clears_the_extras_too(tmp_path):
    run = RunDir(tmp_path / "dnn8_lite-seed1")
    run.path.mkdir()
    run.run_file.write_text("{}")
    (run.path / "mine.txt").write_text("kept")
    for each in suite._notebook_runs(tmp_path, "dnn8"):
        each.clear()
    assert not run.run_file.exists() and (run.path / "mine.txt").exists()


def test_only_full_mode_extra_records_reach_results(tmp_path):
    runs, results_dir = tmp_path / "runs", tmp_path / "results"
    runs.mkdir()
    results_dir.mkdir()
    (runs / "dnn8_lite-seeds.json").write_text(json.dumps({"mode": "full"}))
    (runs / "dnn8_lite-smoke-seeds.json").write_text(json.dumps({"mode": "smoke"}))
    suite._collect_extras(runs, results_dir)
    assert [p.name for p in results_dir.iterdir()] == ["dnn8_lite.json"]
    assert json.loads((results_dir / "dnn8_lite.json").read_text())["mode"] == "full"
