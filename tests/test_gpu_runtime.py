"""A GPU runtime as Keras sees it, simulated on this CPU.

Keras picks XLA inside ``model.compile`` when TensorFlow's unfiltered device list shows
a non-CPU device, and keeps it off only if op determinism is already on; XLA with
determinism has no max-pool gradient. The prelude below adds a GPU to both device lists
(the one Keras reads and the "GPU" one), then DNN1's and DNN8's code cells run in
notebook order, in smoke mode, as a student's Colab runs them. A control run switches
determinism on after ``compile`` and must fail at the first ``fit``: proof that Keras
saw the simulated GPU.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        keras.backend.backend() != "tensorflow", reason="Keras's XLA choice on TensorFlow"
    ),
]

PRELUDE = """
import tensorflow as tf
_real = tf.config.list_physical_devices
_gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
def _with_a_gpu(device_type=None):
    found = _real(device_type)
    return [*found, _gpu] if device_type in (None, "GPU") else found
tf.config.list_physical_devices = _with_a_gpu
"""

REPORT = """
from tensorflow.python.data.ops import debug_mode
print("REPORT", json.dumps({"jit_compile": model.jit_compile,
      "tf_data_debug_mode": bool(debug_mode.DEBUG_MODE),
      "keras_sees_a_gpu": any(d.device_type != "CPU" for d in tf.config.list_physical_devices())}))
"""


def code_cells(name: str) -> list[str]:
    (path,) = NOTEBOOKS.glob(f"{name}_*.ipynb")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]

    # IPython's %pip line (not run: dnnsteps is installed) as plain Python
    def plain(line: str) -> str:
        return (
            line[: len(line) - len(line.lstrip())] + "pass"
            if line.lstrip().startswith("%")
            else line
        )

    return ["\n".join(map(plain, s.splitlines())) for s in sources]


def run(cells: list[str], folder: Path) -> subprocess.CompletedProcess:
    script = folder / "cells.py"
    script.write_text("\n\n".join(["import json", PRELUDE, *cells, REPORT]))
    env = {**os.environ, "DNNSTEPS_SMOKE": "1", "MPLBACKEND": "Agg"}
    env.pop("DNNSTEPS_FULL", None)
    return subprocess.run(
        [sys.executable, str(script)], cwd=folder, env=env, capture_output=True,
        text=True, timeout=900,
    )  # fmt: skip


def report(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    (line,) = [ln for ln in done.stdout.splitlines() if ln.startswith("REPORT ")]
    return json.loads(line.removeprefix("REPORT "))


@pytest.mark.parametrize("name", ["DNN1", "DNN8"])
def test_on_a_gpu_runtime_the_notebook_trains_in_notebook_order(name, tmp_path):
    done = run(code_cells(name), tmp_path)
    found = report(done)
    assert found == {"jit_compile": False, "tf_data_debug_mode": False,
                     "keras_sees_a_gpu": True}  # fmt: skip
    assert "op determinism" in done.stdout  # the seed cell says what it switched on
    assert "val_accuracy" in done.stdout  # the first fit trained and printed its epochs


def test_the_simulated_gpu_is_real_to_keras_determinism_after_compile_fails(tmp_path):
    cells = code_cells("DNN1")
    seeded = [i for i, c in enumerate(cells) if c.startswith("repeatable(SEED)")]
    (fit,) = [i for i, c in enumerate(cells) if "history = model.fit(" in c]
    compile_and_fit = cells[fit].replace(
        "history = model.fit(", "repeatable(SEED)\nhistory = model.fit("
    )
    late = [c for i, c in enumerate(cells[:fit]) if i not in seeded] + [compile_and_fit]
    done = run(late, tmp_path)
    assert done.returncode != 0
    assert "deterministic XLA implementation" in done.stderr
