"""The maintainer's runner (tools/run_notebooks.py) and the README tables it rebuilds.

Records, skipping, stale marking, normalisation and tables are tested on hand-made
files with papermill's execution replaced; one slow test runs two tiny notebooks
through papermill for real.
"""

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))

import nbfiles  # noqa: E402
import readme_tables  # noqa: E402
import run_notebooks  # noqa: E402

README = "intro\n{}\nold table\n{}\nmiddle\n{}\nold seeds\n{}\noutro\n".format(
    *readme_tables.TABLE, *readme_tables.SEEDS
)
# What a notebook's last cell does: dnnsteps.results.record writes only where the
# runner asks (DNNSTEPS_RECORD) and only in full mode.
RECORD_CELL = """
# what results.record(NOTEBOOK, model, history, ...) does:
import json, os, pathlib
folder = os.environ.get("DNNSTEPS_RECORD")
if folder and os.environ.get("DNNSTEPS_SMOKE") != "1":
    record = json.loads({record!r})
    record["seen"] = {{k: os.environ.get(k) for k in ("DNNSTEPS_SMOKE", "DNNSTEPS_STRICT")}}
    record["ran_with_seed"] = SEED
    pathlib.Path(folder, NOTEBOOK + ".json").write_text(json.dumps(record))
print("trained", NOTEBOOK)
"""


def a_record(name="DNN4_batch_norm", **changes):
    """A full run's record (the schema of dnnsteps.results.record) that meets its target."""
    record = {
        "schema": 3,
        "notebook": name,
        "step": "dnn4",
        "seed": 0,
        "mode": "full",
        "params": 11232,
        "macs_per_image": 1085616,
        "recipe": {
            "epochs": 4,
            "batch_size": 128,
            "learning_rate": 0.001,
            "target": 0.99,
            "target_epoch": None,
            "hold_last": 0,
        },
        "accuracy": [0.9, 0.95, 0.97, 0.98],
        "val_accuracy": [0.98, 0.991, 0.993, 0.992],
        "loss": [0.3, 0.1, 0.05, 0.04],
        "val_loss": [0.1, 0.05, 0.04, 0.04],
        "test_accuracy": 0.992,
        "test_loss": 0.04,
        "seconds_per_epoch": 11.84,
        "device": "CPU: test",
        "versions": {"keras": "3", "backend": "jax"},
        "stale": False,
    }
    record.update(changes)
    return record


RECORDS = "results.record(NOTEBOOK, model, history, test_accuracy, test_loss)"


def a_notebook(root, stem, body=RECORDS, step="dnn4", outputs=()):
    """notebooks/<stem>.ipynb: a parameters cell, then ``body``; no paired script."""
    params = nbformat.v4.new_code_cell(f"SEED = 0\nNOTEBOOK = {stem!r}")
    params.metadata["tags"] = ["parameters"]
    last = nbformat.v4.new_code_cell(body)
    last.outputs = [nbformat.v4.new_output(kind, **o) for kind, o in outputs]
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell(f"# {stem}"), params, last],
        metadata={"dnnsteps": {"step": step}, "kernelspec": dict(nbfiles.KERNELSPEC)},
    )
    path = root / "notebooks" / f"{stem}.ipynb"
    path.parent.mkdir(exist_ok=True)
    nbfiles.write(nb, path)
    return path


def write_record(root, record):
    path = root / "results" / f"{record['notebook']}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def read_record(root, name):
    return json.loads((root / "results" / f"{name}.json").read_text())


@pytest.fixture
def project(tmp_path):
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "results").mkdir()
    return tmp_path


@pytest.fixture
def executed(monkeypatch):
    """papermill replaced: each run is logged with its record's state at that moment;
    ``outcome[name]`` says what the notebook does (write its record, fail, nothing)."""
    log, outcome = [], {}

    def execute(path, parameters):
        record = path.parents[1] / "results" / f"{path.stem}.json"
        before = json.loads(record.read_text()) if record.exists() else None
        log.append(
            (path.stem, before and before.get("stale"), dict(os.environ), parameters)
        )
        what = outcome.get(path.stem, "record")
        if what == "record":
            record.write_text(json.dumps(a_record(path.stem)))
        return "TargetMissed: dnn4 missed its target" if what == "fail" else None

    monkeypatch.setattr(run_notebooks, "execute", execute)
    return log, outcome


def test_notebooks_run_in_course_order_and_only_selects(tmp_path):
    for stem in ("CODE9_a", "DNN10_x", "DNN2_b", "DNN1_a", "notes"):
        a_notebook(tmp_path, stem)
    folder = tmp_path / "notebooks"
    names = [p.stem for p in run_notebooks.notebooks_in_order(folder)]
    assert names == ["DNN1_a", "DNN2_b", "DNN10_x", "CODE9_a"]
    only = run_notebooks.notebooks_in_order(folder, ["code9", "dnn2"])
    assert [p.stem for p in only] == ["DNN2_b", "CODE9_a"]
    with pytest.raises(readme_tables.UsageError, match="no notebook matches DNN7"):
        run_notebooks.notebooks_in_order(folder, ["DNN7"])


def test_a_record_is_current_unless_missing_stale_or_unreadable(tmp_path):
    path = tmp_path / "DNN4_batch_norm.json"
    assert not run_notebooks.is_current(path)
    path.write_text(json.dumps(a_record()))
    assert run_notebooks.is_current(path)
    path.write_text(json.dumps(a_record(stale=True)))
    assert not run_notebooks.is_current(path)
    path.write_text("{half a rec")
    assert not run_notebooks.is_current(path)
    run_notebooks.update_record(path, stale=True)  # not a record: left as it is
    assert path.read_text() == "{half a rec"


def test_current_records_are_skipped_the_others_marked_stale_then_run(project, executed):
    log, _ = executed
    for stem in ("DNN1_a", "DNN2_b", "DNN3_c"):
        a_notebook(project, stem)
    write_record(project, a_record("DNN1_a"))
    write_record(project, a_record("DNN2_b", test_accuracy=0.5, stale=True))
    assert run_notebooks.main([], root=project) == 0
    # DNN1 skipped; DNN2 ran with its record marked stale; DNN3 had none.
    assert [(name, stale) for name, stale, *_ in log] == [
        ("DNN2_b", True),
        ("DNN3_c", None),
    ]
    assert read_record(project, "DNN2_b")["test_accuracy"] == 0.992
    assert read_record(project, "DNN2_b")["notebook_seconds"] >= 0
    assert read_record(project, "DNN1_a") == a_record("DNN1_a")  # untouched


def test_force_runs_a_notebook_whose_record_is_current(project, executed):
    log, _ = executed
    a_notebook(project, "DNN1_a")
    write_record(project, a_record("DNN1_a"))
    assert run_notebooks.main(["--force"], root=project) == 0
    assert [(name, stale) for name, stale, *_ in log] == [("DNN1_a", True)]


def test_a_failure_leaves_its_record_stale_and_the_others_run(project, executed, capsys):
    log, outcome = executed
    for stem in ("DNN1_a", "DNN2_b", "DNN3_c"):
        a_notebook(project, stem)
    write_record(project, a_record("DNN1_a", stale=True))
    outcome.update(DNN1_a="fail", DNN2_b="nothing")
    assert run_notebooks.main([], root=project) == 1
    assert [name for name, *_ in log] == ["DNN1_a", "DNN2_b", "DNN3_c"]
    assert read_record(project, "DNN1_a")["stale"] is True
    assert not read_record(project, "DNN3_c").get("stale")
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "failed: DNN1_a: TargetMissed: dnn4 missed its target",
        "failed: DNN2_b: ran, but did not write its record (its last cell calls results.record)",
    ]
    # The tables are rebuilt from what there is; the stale row says so.
    assert "| DNN1_a (stale) |" in (project / "README.md").read_text()


def test_a_notebook_that_records_nothing_runs_until_it_holds_clean_outputs(
    project, executed
):
    log, outcome = executed
    outcome.update(CODE9_a="nothing", CODE9_b="nothing", CODE9_c="nothing")
    text = ("stream", dict(name="stdout", text="trained\n"))
    error = ("error", dict(ename="ValueError", evalue="x", traceback=[]))
    a_notebook(project, "CODE9_a", "train()", outputs=[text])
    a_notebook(project, "CODE9_b", "train()", outputs=[text, error])
    a_notebook(project, "CODE9_c", "train()")
    assert run_notebooks.main([], root=project) == 0  # no record asked of them
    assert [name for name, *_ in log] == ["CODE9_b", "CODE9_c"]


def test_a_notebook_out_of_step_with_its_script_is_not_run(project, executed, capsys):
    log, _ = executed
    path = a_notebook(project, "DNN1_a")
    write_record(project, a_record("DNN1_a"))
    path.with_suffix(".py").write_text("# %%\nprint('edited, not synced')\n")
    assert run_notebooks.main(["--force"], root=project) == 1
    assert log == []
    assert read_record(project, "DNN1_a")["stale"] is False  # nothing ran
    assert "sync_notebooks.py DNN1_a" in capsys.readouterr().err


def test_the_kernel_runs_full_and_strict_and_this_process_keeps_its_environment(
    project, executed, monkeypatch
):
    log, _ = executed
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as the tests set it
    a_notebook(project, "DNN1_a")
    before = dict(os.environ)
    run_notebooks.main(["-p", "EXTRA_SEEDS=()", "-p", "RUNS=runs"], root=project)
    assert dict(os.environ) == before
    ((_, _, env, parameters),) = log
    assert "DNNSTEPS_SMOKE" not in env and env["DNNSTEPS_STRICT"] == "1"
    assert env["DNNSTEPS_RECORD"] == str(project / "results")
    assert "MPLBACKEND" not in env  # the kernel's inline backend keeps the figures
    assert parameters == {"EXTRA_SEEDS": (), "RUNS": "runs"}


def test_the_kernel_is_this_python_declared_for_the_run_only(tmp_path, monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager

    user, other = tmp_path / "user", tmp_path / "other"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(user))  # the user's own kernels
    monkeypatch.setenv("JUPYTER_PATH", str(other))
    with run_notebooks.kernel_environment(tmp_path / "results"):
        spec = KernelSpecManager().get_kernel_spec(run_notebooks.KERNEL)
        folder = Path(spec.resource_dir).parents[1]
        assert spec.argv[0] == sys.executable
        assert os.environ["JUPYTER_PATH"].split(os.pathsep) == [str(folder), str(other)]
    assert not folder.exists() and not user.exists()
    assert os.environ["JUPYTER_PATH"] == str(other)


def test_smoke_mode_runs_every_notebook_records_nothing_and_keeps_the_tables(
    project, executed
):
    log, outcome = executed
    a_notebook(project, "DNN1_a")
    write_record(project, a_record("DNN1_a"))
    outcome["DNN1_a"] = "nothing"
    assert run_notebooks.main(["--smoke"], root=project) == 0
    ((_, _, env, _),) = log
    assert env["DNNSTEPS_SMOKE"] == "1" and "DNNSTEPS_RECORD" not in env
    assert (project / "README.md").read_text() == README


def test_missing_tooling_is_one_error_line(project, monkeypatch, capsys):
    real = run_notebooks.importlib.util.find_spec
    monkeypatch.setattr(
        run_notebooks.importlib.util,
        "find_spec",
        lambda name: None if name == "papermill" else real(name),
    )
    assert run_notebooks.main([], root=project) == 2
    assert capsys.readouterr().err == (
        "error: papermill not installed; install with: pip install -r requirements.txt\n"
    )


def papermill_run(nb):
    """What papermill leaves in a notebook it ran, a failure included."""
    injected = nbformat.v4.new_code_cell("SEED = 1\n")
    injected.metadata["tags"] = ["injected-parameters"]
    banner = nbformat.v4.new_markdown_cell("<span>An Exception was encountered</span>")
    banner.metadata["tags"] = ["papermill-error-cell-tag"]
    nb.cells = [banner, *nb.cells[:2], injected, *nb.cells[2:]]
    nb.metadata.papermill = {"duration": 3.2, "parameters": {"SEED": 1}}
    nb.metadata.language_info = {"name": "python", "version": "3.12.3", "mimetype": "x"}
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3 (ipykernel)"}
    for cell in nb.cells:
        cell.metadata.papermill = {"status": "completed", "duration": 0.1}
        cell.metadata.execution = {"iopub.status.busy": "2026-11-30T10:00:00"}
        cell.metadata.setdefault("tags", [])
    return nb


def test_normalise_removes_what_papermill_adds(tmp_path):
    path = a_notebook(tmp_path, "DNN1_a")
    committed = path.read_text()
    nb = papermill_run(nbfiles.read(path))
    nbfiles.write(nb, path)
    assert path.read_text() == committed


def test_normalise_keeps_outputs_but_drops_backend_log_lines():
    cell = nbformat.v4.new_code_cell("fit()")
    noise = "I0000 00:00:1796032591.848741    4159 port.cc:153] oneDNN custom operations"
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=f"{noise}\nslow epoch\n"),
        nbformat.v4.new_output("stream", name="stderr", text=f"{noise}\n"),
        nbformat.v4.new_output("stream", name="stdout", text="Epoch 1/2\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nbfiles.normalise(nb)
    texts = [(o["name"], o["text"]) for o in nb.cells[0].outputs]
    assert texts == [("stderr", "slow epoch\n"), ("stdout", "Epoch 1/2\n")]


def test_results_table_rows_from_records():
    records = {
        "DNN4_batch_norm": a_record(),
        "DNN7_x": a_record(
            "DNN7_x",
            stale=True,
            notebook_seconds=90,
            recipe={**a_record()["recipe"], "target_epoch": 2},
        ),
    }
    table = readme_tables.results_table(records)
    assert (
        "| DNN4_batch_norm | 11,232 | 1,085,616 | 99.30% (3) | 99.20% | 99.00% | 2 "
        "| yes | 11.8 |" in table
    )
    assert (
        "| DNN7_x (stale) | 11,232 | 1,085,616 | 99.30% (3) | 99.20% | 99.00% by epoch 2 |"
        in table
    )
    assert "on CPU: test; wall time of the notebooks together: 2 min." in table
    assert "(stale): " in table


def test_a_record_without_seed_recipe_or_timing_still_has_a_row():
    record = a_record(recipe=None, seconds_per_epoch=None)
    del record["seed"]
    row = readme_tables.results_row("DNN4_batch_norm", record)
    assert row[5:] == ["-", "-", "no: no recipe to judge by", "-"]
    table = readme_tables.results_table({"DNN4_batch_norm": record})
    assert "\n\nFull MNIST (60,000 train / 10,000 test), on CPU: test;" in table


@pytest.mark.parametrize(
    "changes, problem",
    [
        (dict(val_accuracy=[0.98, 0.985, 0.989]), "ran 3 of 4 epochs"),
        (dict(val_accuracy=[0.98, 0.985, 0.989, 0.9899]), "best 98.99% < 99.00%"),
        (
            dict(recipe={**a_record()["recipe"], "target_epoch": 1}),
            "first at epoch 2, not by epoch 1",
        ),
        (
            dict(
                val_accuracy=[0.98, 0.991, 0.989, 0.992],
                recipe={**a_record()["recipe"], "hold_last": 3},
            ),
            "seed 0 did not hold 99.00% over the last 3",
        ),
        (
            dict(
                recipe={**a_record()["recipe"], "hold_last": 2},
                seeds={"0": [0.99] * 4, "2": [0.99, 0.99, 0.991, 0.9899]},
            ),
            "seed 2 did not hold",
        ),
    ],
)
def test_a_missed_target_is_named_in_its_row(changes, problem):
    row = readme_tables.results_row("DNN4_batch_norm", a_record(**changes))
    assert row[7].startswith("no: ") and problem in row[7], row[7]
    assert readme_tables.results_row("DNN4_batch_norm", a_record())[7] == "yes"


def test_the_tables_read_accuracies_as_keras_prints_them():
    p = 0.9941999912261963  # a float32 that Keras prints as 0.9942
    assert readme_tables.first_epoch_at([0.99, p], 0.9942) == 2
    recipe = {**a_record()["recipe"], "target": 0.9942, "target_epoch": 2, "hold_last": 2}
    assert (
        readme_tables.problems(a_record(recipe=recipe, val_accuracy=[0.99, p, p, p])) == []
    )
    curve = [0.99, p, 0.9946, 0.99460001]  # the last two both print 0.9946
    record = a_record(recipe=recipe, val_accuracy=curve, seeds={"0": [0.99, p, p, p]})
    row = readme_tables.results_row("DNN7_x", record)
    assert row[3] == "99.46% (3)" and row[6:8] == [2, "yes"]
    seeds = readme_tables.seeds_table(record).splitlines()
    assert seeds[2] == "| 0 | 99.42%, 99.42% | 99.42% | yes |"


def test_seeds_table_reads_the_hold_rule_from_the_recipe():
    recipe = {**a_record()["recipe"], "target": 0.994, "hold_last": 3}
    seeds = {
        "1": [0.99, 0.995, 0.9941, 0.9946],
        "0": [0.99, 0.995, 0.995, 0.995],
        "2": [0.99, 0.995, 0.9939, 0.996],
    }
    table = readme_tables.seeds_table(a_record(recipe=recipe, seeds=seeds, params=7560))
    lines = table.splitlines()
    assert lines[0] == "| seed | val accuracy, last 3 epochs | lowest | holds 99.40% |"
    assert lines[2:5] == [
        "| 0 | 99.50%, 99.50%, 99.50% | 99.50% | yes |",
        "| 1 | 99.50%, 99.41%, 99.46% | 99.41% | yes |",
        "| 2 | 99.50%, 99.39%, 99.60% | 99.39% | no |",
    ]
    assert "`dnn4`: **7,560 parameters**; 4 epochs per seed" in table


def test_rebuild_replaces_only_between_the_markers(project):
    write_record(project, a_record())
    write_record(project, a_record("DNN8_x", seeds={"0": [0.99] * 4}))
    (project / "results" / "bench.json").write_text('{"models": []}')  # not a record
    assert readme_tables.rebuild(project) == ["README.md", "results/summary.png"]
    text = (project / "README.md").read_text()
    assert text.startswith("intro\n<!-- results:start -->\n| notebook |")
    assert (
        "old table" not in text
        and "old seeds" not in text
        and "\nmiddle\n" in text
        and text.endswith("-->\noutro\n")
    )
    assert text.index("| DNN4_batch_norm |") < text.index("| DNN8_x |")
    assert "| 0 | 99.00%, 99.00%, 99.00% | 99.00% | yes |" in text
    assert (project / "results" / "summary.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("text", ["no markers", f"{readme_tables.TABLE[0]}\nno end marker"])
def test_a_readme_without_markers_is_refused_and_left_alone(project, text, capsys):
    (project / "README.md").write_text(text)
    write_record(project, a_record())
    assert run_notebooks.main(["--tables"], root=project) == 2
    assert (project / "README.md").read_text() == text
    assert capsys.readouterr().err.startswith("error: ")


def test_parameters_are_python_literals_or_words():
    assert run_notebooks.parameter("EXTRA_SEEDS=()") == ("EXTRA_SEEDS", ())
    assert run_notebooks.parameter("SEED=2") == ("SEED", 2)
    assert run_notebooks.parameter("RUNS=/tmp/runs") == ("RUNS", "/tmp/runs")
    with pytest.raises(Exception, match="not NAME=VALUE"):
        run_notebooks.parameter("2=3")


@pytest.mark.slow
def test_papermill_runs_notebooks_in_place_and_leaves_no_trace(project, capsys):
    """Two tiny notebooks through papermill and a real kernel: one records, one fails."""
    record = json.dumps(a_record("DNN1_a", stale=False))
    path = a_notebook(project, "DNN1_a", RECORD_CELL.format(record=record))
    failing = a_notebook(project, "DNN2_b", "raise RuntimeError('broken cell')")
    write_record(project, a_record("DNN2_b"))
    assert run_notebooks.main(["--force", "-p", "SEED=3"], root=project) == 1
    saved = read_record(project, "DNN1_a")
    assert saved["seen"] == {"DNNSTEPS_SMOKE": None, "DNNSTEPS_STRICT": "1"}
    assert saved["ran_with_seed"] == 3 and saved["notebook_seconds"] > 0
    assert read_record(project, "DNN2_b")["stale"] is True
    nb = nbfiles.read(path)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert nb.cells[2].outputs[0]["text"] == "trained DNN1_a\n"
    assert "papermill" not in json.dumps(nb) and "execution" not in nb.cells[2].metadata
    assert nb.metadata.language_info == {"name": "python"}
    (error,) = [
        o for o in nbfiles.read(failing).cells[2].outputs if o.output_type == "error"
    ]
    assert error.evalue == "broken cell"  # a failure is kept for inspection
    assert "failed: DNN2_b: RuntimeError: broken cell" in capsys.readouterr().err
    assert "| DNN1_a | 11,232 |" in (project / "README.md").read_text()


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_atomic_write_leaves_a_readable_file_and_keeps_a_replaced_files_mode(tmp_path):
    """A new file gets the usual mode (umask's), a replaced file keeps its own: a private
    temporary file must not leave a record or notebook readable by its owner only."""
    umask = os.umask(0o022)
    os.umask(umask)
    new, kept = tmp_path / "new.json", tmp_path / "kept.ipynb"
    nbfiles.atomic_write(new, "{}")
    kept.write_text("old")
    kept.chmod(0o640)
    nbfiles.atomic_write(kept, "new")
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask
    assert kept.stat().st_mode & 0o777 == 0o640
    assert kept.read_text() == "new"
