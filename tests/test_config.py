"""Modes are asked for, never guessed from the hardware (a GPU is simulated here)."""

import subprocess
import sys

import pytest

from dnnsteps import config
from dnnsteps.errors import DnnstepsError


@pytest.fixture
def gpu(monkeypatch):
    """A machine that shows a GPU, as far as dnnsteps can tell."""
    monkeypatch.setattr(config, "accelerators", lambda: ["NVIDIA H200"])


def test_smoke_flag_means_smoke_on_a_gpu_machine(monkeypatch, gpu):
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    monkeypatch.delenv("DNNSTEPS_FULL", raising=False)
    assert config.gpu_visible() and config.smoke_mode()
    assert config.device_name() == "GPU: NVIDIA H200 x1"


def test_full_flag_means_full_and_strict(monkeypatch, gpu):
    monkeypatch.delenv("DNNSTEPS_SMOKE", raising=False)
    monkeypatch.delenv("DNNSTEPS_STRICT", raising=False)
    monkeypatch.setenv("DNNSTEPS_FULL", "1")
    assert not config.smoke_mode() and config.strict()
    monkeypatch.delenv("DNNSTEPS_FULL")
    assert not config.smoke_mode() and not config.strict()  # a student's notebook


def test_both_flags_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("DNNSTEPS_SMOKE", "1")
    monkeypatch.setenv("DNNSTEPS_FULL", "1")
    with pytest.raises(DnnstepsError, match="set one of them"):
        config.smoke_mode()


@pytest.mark.slow
def test_a_subprocess_with_a_simulated_gpu_still_trains_the_smoke_subset(tmp_path):
    """The CLI in its own process, with the GPU detection patched to report one."""
    script = (
        "import sys; from dnnsteps import config, cli\n"
        "config.accelerators = lambda: ['NVIDIA H200']\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    env = {**__import__("os").environ, "DNNSTEPS_SMOKE": "1"}
    env.pop("DNNSTEPS_FULL", None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "train",
            "dnn3",
            "--epochs",
            "3",
            "--seed",
            "0",
            "--run-dir",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Smoke mode stops after two epochs on the 2,000-image subset, GPU or not.
    assert "Epoch 2/3" in done.stdout and "Epoch 3/3" not in done.stdout
    assert (
        "16/16" in done.stdout and "469/469" not in done.stdout
    )  # 2,000 images, batch 128
