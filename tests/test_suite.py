"""The suite: which notebooks run, what --force clears, what a failure leaves behind.

``run_suite`` and ``run_notebook`` run for real on tiny notebooks; only the kernel
is replaced by a stand-in that executes each code cell in this process.
"""

import json
import os
from unittest import mock

import nbclient
import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from dnnsteps import notebooks, suite
from dnnsteps.errors import DnnstepsError
from dnnsteps.records import RecordError, RunRecord, SeedsRecord
from dnnsteps.rundir import RunDir

# What a notebook's training leaves: a result in the step's run folder.
TRAIN_CELL = """
import os, pathlib
run = pathlib.Path(os.environ["DNNSTEPS_RUNS"]) / "{step}-seed0-0000abcd"
run.mkdir(parents=True, exist_ok=True)
(run / "result.json").write_text({record!r})
print("trained {step}")
"""


def train_cell(run_record, step: str, **changes) -> str:
    record = run_record(model=step, **changes)
    return TRAIN_CELL.format(step=step, record=json.dumps(record))


class InProcessClient:
    """Stands in for nbclient's NotebookClient: runs code cells with exec()."""

    executed: list[str] = []

    def __init__(self, nb, **kwargs):
        self.nb = nb

    def execute(self, env=None):
        with mock.patch.dict(os.environ, env or {}, clear=env is not None):
            self._run_cells()
        InProcessClient.executed.append(notebooks.step_of(self.nb))
        return self.nb

    def _run_cells(self):
        for cell in self.nb.cells:
            if cell.cell_type != "code":
                continue
            try:
                exec(cell.source, {"print": lambda *a: None})
            except Exception as exc:
                cell.outputs = [
                    nbformat.v4.new_output(
                        "error", ename=type(exc).__name__, evalue=str(exc), traceback=[]
                    )
                ]
                raise CellExecutionError("", type(exc).__name__, str(exc)) from exc
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]


@pytest.fixture
def rebuilt(monkeypatch):
    """The metrics each call of the suite's rebuild (README table, plots) was given."""
    calls = []
    monkeypatch.setattr(suite, "rebuild", lambda root, metrics: calls.append(metrics))
    return calls


@pytest.fixture
def project(tmp_path, monkeypatch, rebuilt, run_record):
    """A repository with two tiny notebooks, the in-process kernel, and the
    environment the suite sets restored afterwards."""
    for name in ("DNNSTEPS_FULL", "DNNSTEPS_SMOKE", "DNNSTEPS_RUNS", "DNNSTEPS_STRICT"):
        monkeypatch.setenv(name, "")  # recorded, so the suite's changes are undone
    monkeypatch.setenv("DNNSTEPS_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(nbclient, "NotebookClient", InProcessClient)
    monkeypatch.setattr(suite, "NotebookClient", InProcessClient, raising=False)
    monkeypatch.setattr(InProcessClient, "executed", [])
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "results").mkdir()
    for stem, step in (("DNN1_first", "dnn1"), ("DNN2_second", "dnn2")):
        add_notebook(tmp_path, stem, step, train_cell(run_record, step, notebook=stem))
    return tmp_path


def add_notebook(root, stem, step, source, outputs=False):
    cell = nbformat.v4.new_code_cell(source)
    if outputs:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="old\n")]
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"dnnsteps": {"step": step}})
    path = root / "notebooks" / f"{stem}.ipynb"
    notebooks.write(nb, path)
    return path


def metrics(root):
    return json.loads((root / "results" / "metrics.json").read_text())


def a_run(runs_root, name):
    """A run folder holding a run's own file and one the user put there."""
    run = RunDir(runs_root / name)
    run.path.mkdir(parents=True)
    run.run_file.write_text("{}")
    (run.path / "mine.txt").write_text("kept")
    return run


def test_every_notebook_runs_and_its_record_reaches_metrics(project, rebuilt):
    found = suite.run_suite(project)
    assert InProcessClient.executed == ["dnn1", "dnn2"]
    assert set(metrics(project)) == {"DNN1_first", "DNN2_second"} == set(found)
    assert metrics(project)["DNN2_second"]["model"] == "dnn2"
    assert rebuilt == [found]
    nb = notebooks.read(project / "notebooks" / "DNN1_first.ipynb")
    assert notebooks.has_outputs(nb)  # what ran is saved into the notebook


def test_a_notebook_already_run_is_skipped(project, capsys, run_record):
    old = run_record(notebook="DNN1_first", test_accuracy=0.5)
    (project / "results" / "metrics.json").write_text(json.dumps({"DNN1_first": old}))
    add_notebook(project, "DNN1_first", "dnn1", "raise RuntimeError('ran')", outputs=True)
    suite.run_suite(project)
    assert InProcessClient.executed == ["dnn2"]
    assert metrics(project)["DNN1_first"] == {**old, "schema": RunRecord.SCHEMA}
    assert "DNN1_first: already run (use --force" in capsys.readouterr().out


def test_force_runs_an_already_run_notebook_again(project, run_record):
    old = run_record(notebook="DNN1_first", test_accuracy=0.5)
    (project / "results" / "metrics.json").write_text(json.dumps({"DNN1_first": old}))
    cell = train_cell(run_record, "dnn1", notebook="DNN1_first", test_accuracy=0.75)
    add_notebook(project, "DNN1_first", "dnn1", cell, outputs=True)
    suite.run_suite(project, force=True)
    assert InProcessClient.executed == ["dnn1", "dnn2"]
    assert metrics(project)["DNN1_first"]["test_accuracy"] == 0.75


def test_only_runs_the_named_notebooks(project):
    suite.run_suite(project, only=["dnn2"])
    assert InProcessClient.executed == ["dnn2"]
    assert set(metrics(project)) == {"DNN2_second"}


def test_only_with_no_match_names_the_choices_and_runs_nothing(project):
    with pytest.raises((SystemExit, DnnstepsError), match="no notebook matches"):
        suite.run_suite(project, only=["dnn9"])
    assert InProcessClient.executed == []
    assert not (project / "results" / "metrics.json").exists()


def test_a_failing_notebook_fails_the_suite_but_not_the_others(project):
    path = add_notebook(project, "DNN1_first", "dnn1", "raise RuntimeError('broken cell')")
    with pytest.raises(suite.SuiteFailed, match="DNN1_first"):
        suite.run_suite(project)
    assert InProcessClient.executed == ["dnn2"]
    assert set(metrics(project)) == {"DNN2_second"}
    # The failed notebook keeps its error output for inspection.
    (cell,) = notebooks.read(path).cells
    assert cell.outputs[0]["evalue"] == "broken cell"


def test_force_clears_every_seed_of_the_step_but_not_user_files(project):
    runs = project / "runs"
    own, seed2 = a_run(runs, "dnn1-seed0-1a2b3c4d"), a_run(runs, "dnn1-seed2-5e6f7a8b")
    other, smoke = a_run(runs, "dnn2-seed0-1a2b3c4d"), a_run(runs, "dnn1-seed0-smoke-00ff")
    suite.run_notebook(project / "notebooks" / "DNN1_first.ipynb", runs, "DNN1", force=True)
    assert not own.run_file.exists() and not seed2.run_file.exists()
    assert (own.path / "mine.txt").exists() and (seed2.path / "mine.txt").exists()
    assert other.run_file.exists() and smoke.run_file.exists()


def test_without_force_a_killed_run_is_kept_to_resume_from(project):
    runs = project / "runs"
    own = a_run(runs, "dnn1-seed0-1a2b3c4d")
    record = suite.run_notebook(
        project / "notebooks" / "DNN1_first.ipynb", runs, "DNN1", force=False
    )
    assert own.run_file.exists()
    assert record.model == "dnn1" and record.notebook_seconds >= 0


def test_only_full_mode_seed_records_reach_results(tmp_path, seeds_record):
    runs, results_dir = tmp_path / "runs", tmp_path / "results"
    runs.mkdir()
    results_dir.mkdir()
    (runs / "dnn8-seeds.json").write_text(json.dumps(seeds_record(mode="full")))
    (runs / "dnn8-smoke-seeds.json").write_text(json.dumps(seeds_record(mode="smoke")))
    suite._collect_seeds(runs, results_dir)
    assert [p.name for p in results_dir.iterdir()] == ["dnn8_seeds.json"]
    saved = json.loads((results_dir / "dnn8_seeds.json").read_text())
    assert saved == {**seeds_record(mode="full"), "schema": SeedsRecord.SCHEMA}


def test_a_seeds_record_from_a_newer_version_is_refused(tmp_path, seeds_record):
    runs, results_dir = tmp_path / "runs", tmp_path / "results"
    runs.mkdir()
    results_dir.mkdir()
    (results_dir / "dnn8_seeds.json").write_text("kept")
    newer = {**seeds_record(), "schema": SeedsRecord.SCHEMA + 1}
    (runs / "dnn8-seeds.json").write_text(json.dumps(newer))
    with pytest.raises(RecordError, match="newer"):
        suite._collect_seeds(runs, results_dir)
    assert (results_dir / "dnn8_seeds.json").read_text() == "kept"


def test_the_kernel_gets_full_strict_mode_and_this_process_keeps_its_own(
    project, monkeypatch, run_record
):
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    seen = []
    add_notebook(
        project,
        "DNN3_env",
        "dnn3",
        "import os\nseen.append({k: os.environ.get(k) for k in "
        "('DNNSTEPS_FULL', 'DNNSTEPS_STRICT', 'DNNSTEPS_SMOKE', 'DNNSTEPS_RUNS')})\n"
        + train_cell(run_record, "dnn3", notebook="DNN3_env"),
    )
    monkeypatch.setitem(
        __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__), "seen", seen
    )
    before = dict(os.environ)
    suite.run_suite(project, only=["DNN3"])
    assert dict(os.environ) == before
    assert seen == [
        {
            "DNNSTEPS_FULL": "1",
            "DNNSTEPS_STRICT": "1",
            "DNNSTEPS_SMOKE": None,
            "DNNSTEPS_RUNS": str(project / "runs"),
        }
    ]
