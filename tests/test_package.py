"""The package's lazy attributes: its modules load on first use, and an unknown name is
an AttributeError, as Python's ``hasattr`` and IPython's completion expect."""

import subprocess
import sys

import pytest

import dnnsteps


def test_an_unknown_name_is_an_attribute_error():
    assert not hasattr(dnnsteps, "no_such_module")
    with pytest.raises(AttributeError, match="'dnnsteps' has no attribute 'x'"):
        dnnsteps.x  # noqa: B018
    assert getattr(dnnsteps, "__wrapped__", None) is None


def test_modules_and_resumable_load_on_first_use():
    assert dnnsteps.errors.DnnstepsError is dnnsteps.DnnstepsError
    assert dnnsteps.resumable is dnnsteps.resume.resumable


def test_a_module_that_fails_to_import_is_not_hidden(tmp_path):
    """A module of the package missing what it needs says so (not "no attribute")."""
    (tmp_path / "keras.py").write_text(
        "raise ModuleNotFoundError('no keras', name='keras')"
    )
    code = "import dnnsteps\ndnnsteps.models"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 1 and "ModuleNotFoundError: no keras" in done.stderr
