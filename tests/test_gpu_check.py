"""The GPU check (tools/gpu_check.sh): its test command, and the whole script end to
end in its --tiny mode on this CPU (smoke mode, DNN3, a 60 s deadline)."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import gpu_check  # noqa: E402

JAX_LINE = (
    'DNNSTEPS_SMOKE=1 KERAS_BACKEND=jax python -m pytest -m "backends" tests '
    "notebooks/DNN8_assignment.ipynb --nbval-lax --nbval-sanitize-with tests/nbval.cfg"
)


def test_the_test_command_is_the_readmes_jax_command(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        f"```bash\nDNNSTEPS_SMOKE=1 python -m pytest tests\n{JAX_LINE}\n```\n"
    )
    cmd = gpu_check.test_command(readme, tiny=False)
    assert cmd[0] == sys.executable and cmd[1:6] == [
        "-m",
        "pytest",
        "-m",
        "backends",
        "tests",
    ]
    assert cmd[-2:] == ["--nbval-sanitize-with", "tests/nbval.cfg"]
    tiny = gpu_check.test_command(readme, tiny=True)
    assert tiny[1:5] == ["-m", "pytest", "-m", "backends"]
    assert tiny[-1] == "notebooks/DNN1_first_all_conv_net.ipynb"
    assert "tests" not in tiny and "tests/nbval.cfg" in tiny
    readme.write_text("no JAX command here\n")
    assert "backends" in gpu_check.test_command(readme, tiny=False)


def test_a_command_past_its_time_limit_is_killed_with_its_children(tmp_path):
    log = tmp_path / "log"
    script = "import subprocess, time; subprocess.Popen(['sleep', '60']); print('up', flush=True); time.sleep(60)"
    code, seconds = gpu_check.run([sys.executable, "-c", script], log, timeout=2)
    assert code == 124 and seconds < 30
    assert log.read_text() == "up\n"


def digest(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "runs" not in p.parts)
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


@pytest.mark.slow
def test_tiny_mode_runs_every_step_and_reports_each(tmp_path):
    before = digest(ROOT / "notebooks"), digest(ROOT / "results")
    env = {
        **os.environ,
        "OUT": str(tmp_path),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    env.pop("GPU_CHECK_DEADLINE", None)
    proc = subprocess.run(
        ["bash", str(ROOT / "tools" / "gpu_check.sh"), "--tiny"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert report["tiny"] and report["finished"] and report["failed"] == []
    assert report["deadline_s"] == 60 and report["install"].startswith("skipped")
    stack = report["stack"]
    assert stack["backend"] == "jax" and stack["versions"]["backend"] == "jax"
    assert stack["device"] and stack["devices"]
    assert stack["train_dnn3_one_epoch"]["rc"] == 0
    assert len(stack["train_dnn3_one_epoch"]["log"]) == 1
    assert report["tests"]["rc"] == 0 and " passed" in report["tests"]["summary"]
    assert report["tests"]["command"].endswith("notebooks/DNN1_first_all_conv_net.ipynb")
    ((name, notebook),) = report["notebooks"].items()
    assert name == "DNN3_fewer_parameters" and notebook["status"] == "ok"
    (run,) = notebook["runs"].values()
    assert run["epochs"] == 2 and 0 < run["last_val_accuracy"] <= run["best_val_accuracy"]
    assert (tmp_path / "check.log").read_text().count("wrote ") >= 1
    # The notebooks ran in a copy: the tree's notebooks and results are as they were.
    assert (digest(ROOT / "notebooks"), digest(ROOT / "results")) == before


def test_no_notebook_but_the_first_starts_after_the_deadline(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(gpu_check, "run", lambda cmd, log: ran.append(cmd[-1]) or (0, 1.0))
    monkeypatch.setattr(gpu_check, "STARTED", gpu_check.time.time() - 1000)
    report = gpu_check.Report(tmp_path / "gpu_check.json")
    gpu_check.notebooks(report, tmp_path, tiny=False, deadline=480)
    first, *others = json.loads(report.path.read_text())["notebooks"].values()
    assert ran == ["DNN1_first_all_conv_net"] and first["status"] == "ok"
    assert len(others) >= 8
    assert {n["status"] for n in others} == {"not started: past the deadline"}


def test_dnn8_skips_its_extra_seeds_when_time_is_short(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(gpu_check, "run", lambda cmd, log: ran.append(cmd) or (1, 100.0))
    report = gpu_check.Report(tmp_path / "gpu_check.json")
    # No time passes on this clock: 250 s are left before each notebook, whatever the
    # machine's load; each notebook "took" 100 s, so DNN8's three seeds (300 s) do not fit.
    gpu_check.notebooks(
        report, tmp_path, tiny=False, deadline=250, clock=lambda: gpu_check.STARTED
    )
    skipped = [cmd[-1] for cmd in ran if gpu_check.SKIP_SEEDS in cmd]
    assert skipped == ["DNN8_assignment"] and len(ran) == 9
    saved = json.loads(report.path.read_text())
    assert saved["dnn8_extra_seeds"].startswith(f"skipped ({gpu_check.SKIP_SEEDS})")
    assert saved["notebooks"]["DNN1_first_all_conv_net"]["status"] == "failed (exit code 1)"
