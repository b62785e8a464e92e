"""The benchmark script runs end to end (one epoch on a subset) and writes its table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_bench_smoke_writes_json_and_readme_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- bench:start -->\nSTALE\n<!-- bench:end -->\nb\n")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench.py"),
            "--smoke",
            "--models",
            "keras_example",
            "dnn8",
            "--out",
            str(out),
            "--readme",
            str(readme),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = json.loads(out.read_text())["models"]
    assert [r["model"] for r in records] == ["keras_example", "dnn8"]
    example = records[0]
    assert example["params"] == 34_826 and example["mode"] == "smoke"
    assert example["macs_per_image"] > 0 and example["host_peak_rss_mb"] > 0
    assert example["images_per_second"] > 0 and example["device"]
    text = readme.read_text()
    assert "STALE" not in text and "| 34,826 |" in text and text.endswith("b\n")


@pytest.mark.slow
def test_bench_rejects_an_unknown_model():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--models", "nope"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "invalid choice: 'nope'" in proc.stderr


def test_profile_groups_ops_by_layer_type():
    layer_kind = _script("profile_ops").layer_kind
    types = {"c2_bn": "BatchNormalization", "conv2d": "Conv2D", "conv2d_1": "Conv2D"}
    grad = "StatefulPartitionedCall/gradient_tape/dnn8_1/c2_bn_1/moments/Sum"
    assert layer_kind(grad, types) == ("backward", "BatchNormalization")
    forward = "StatefulPartitionedCall/keras_example_1/conv2d_1/convolution"
    assert layer_kind(forward, types) == ("forward", "Conv2D")
    assert layer_kind("StatefulPartitionedCall/Adam/AssignAddVariableOp", types) is None
    assert layer_kind("ExecutorState::Process", types) is None


def test_training_stops_at_the_target_as_keras_prints_it():
    import types

    bench = _script("bench")
    model = types.SimpleNamespace(stop_training=False)
    stop = bench.StopAtTarget(0.9942)
    stop.set_model(model)
    stop.on_epoch_begin(0)
    stop.on_epoch_end(0, {"val_accuracy": 0.99414999})  # Keras prints 0.9941
    assert not model.stop_training
    stop.on_epoch_begin(1)
    stop.on_epoch_end(1, {"val_accuracy": 0.99419999})  # Keras prints 0.9942
    assert model.stop_training


def test_the_benchmark_imports_and_measures_without_posix_resource(monkeypatch):
    """Windows has no ``resource``: the script still imports, and leaves host memory out."""
    monkeypatch.setitem(sys.modules, "resource", None)  # import resource: ImportError
    bench = _script("bench")
    assert "host_peak_rss_mb" not in bench.peak_memory_mb()


def test_the_record_small_net_keeps_the_rules_under_5900_parameters():
    from dnnsteps import rules

    model = _script("small").small_net()
    assert model.count_params() < 5_900
    assert rules.passed(rules.check(model)) and rules.passed(rules.review(model))


@pytest.mark.slow
def test_small_smoke_adds_seeds_to_its_record_and_writes_the_table(tmp_path):
    speed = tmp_path / "speed.md"
    speed.write_text("a\n<!-- small:start -->\nSTALE\n<!-- small:end -->\nb\n")
    out = tmp_path / "small.json"
    script = [sys.executable, str(ROOT / "benchmarks" / "small.py"), "--smoke"]
    paths = ["--out", str(out), "--readme", str(speed)]
    for seeds in (["0"], ["1"]):
        proc = subprocess.run(script + ["--seeds", *seeds] + paths, capture_output=True,
                              text=True, timeout=600)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.read_text())
    assert list(record["seeds"]) == ["0", "1"] and record["mode"] == "smoke"
    assert all(len(val) == record["epochs"] == 2 for val in record["seeds"].values())
    assert record["seeds"]["0"] != record["seeds"]["1"]
    text = speed.read_text()
    assert "STALE" not in text and "| 1 |" in text and text.endswith("b\n")


@pytest.mark.slow
def test_small_refuses_a_file_it_did_not_write(tmp_path):
    out = tmp_path / "notes.json"
    out.write_text('["mine"]')
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "small.py"),
            "--out",
            str(out),
            "--no-readme",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "is not a record of this script" in proc.stderr
    assert out.read_text() == '["mine"]'


@pytest.mark.full_run_outputs
def test_the_speed_page_shows_the_committed_benchmark_records():
    speed = (ROOT / "docs" / "speed.md").read_text()
    bench = json.loads((ROOT / "results" / "bench.json").read_text())["models"]
    assert _script("bench").table(bench) in speed
    small = json.loads((ROOT / "results" / "small.json").read_text())
    assert _script("small").seeds_section(small) in speed
