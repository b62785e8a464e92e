"""The Colab path: one repository URL, and a setup cell that installs from it.

The install test is slow (a fresh virtual environment and a pip install,
about half a minute) and runs in CI like every other test. TensorFlow is not
downloaded: a ``.pth`` file lends the fresh environment this environment's
site-packages, whose editable ``dnnsteps`` is not visible through it.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"][
    "Repository"
]
BADGE = re.compile(r"https://colab\.research\.google\.com/github/([^)\s\"']+)")
INSTALL = re.compile(r"git\+(https?://[^\s\"'{}]+)")


def cells(path, kind):
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def setup_cell(path) -> str:
    (cell,) = [c for c in cells(path, "code") if c.startswith("# Setup:")]
    return cell


def test_the_repository_url_is_a_github_repository():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPOSITORY)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_badge_points_at_this_notebook_in_the_repository(path):
    slug = REPOSITORY.removeprefix("https://github.com/")
    expected = f"{slug}/blob/main/notebooks/{path.name}"
    badges = [m for text in cells(path, "markdown") for m in BADGE.findall(text)]
    assert badges and set(badges) == {expected}
    assert expected in cells(path, "markdown")[0]  # the badge sits under the title


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_cell_installs_from_the_repository(path):
    cell = setup_cell(path)
    assert "%pip install" in cell
    assert INSTALL.findall(cell) == [REPOSITORY]


def _digest_dist_info(site: Path) -> str:
    found = sorted(site.glob("dnnsteps-*.dist-info/RECORD")) + sorted(
        site.glob("__editable__*dnnsteps*")
    )
    return hashlib.sha256(b"".join(p.read_bytes() for p in found)).hexdigest()


def _source_copy(target: Path) -> Path:
    """What a clone holds that ``pip install`` needs: the project file, docs, src/."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, target / name)
    for folder in ("src", "results"):
        shutil.copytree(
            ROOT / folder,
            target / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
        )
    return target


RUN_CELL = """
import sys
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
result = shell.run_cell(open(sys.argv[1]).read())
if isinstance(result.error_in_exec, SystemExit):
    print("EXIT:", result.error_in_exec)
    raise SystemExit(3)
result.raise_error()
import dnnsteps
print("IMPORTED:", dnnsteps.__file__)
"""


@pytest.mark.slow
def test_setup_cell_installs_dnnsteps_into_a_fresh_environment(tmp_path):
    (dnn1,) = [p for p in NOTEBOOKS if p.name.startswith("DNN1")]
    (tmp_path / "cell.py").write_text(setup_cell(dnn1))
    (tmp_path / "run_cell.py").write_text(RUN_CELL)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=60)
    python = venv / "bin" / "python"
    fresh_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    our_site = Path(sysconfig.get_paths()["purelib"])
    Path(fresh_site, "borrowed.pth").write_text(f"{our_site}\n")
    work = tmp_path / "work"  # no ../src here: the clone branch of the cell is not taken
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", TF_CPP_MIN_LOG_LEVEL="3")

    def run(source, *args):
        return subprocess.run(
            [python, *args],
            cwd=work,
            env={**env, "DNNSTEPS_SOURCE": str(source)},
            capture_output=True,
            text=True,
            timeout=180,
        )

    probe = "import importlib.util as u; print(u.find_spec('dnnsteps'), bool(u.find_spec('keras')))"
    assert run("", "-c", probe).stdout.split() == ["None", "True"]
    before = _digest_dist_info(our_site)

    # A source that cannot be installed: pip says why, then the import names the package.
    failed = run(tmp_path / "nowhere", tmp_path / "run_cell.py", tmp_path / "cell.py")
    assert failed.returncode == 1, failed.stderr
    assert "No module named 'dnnsteps'" in failed.stdout + failed.stderr

    done = run(
        _source_copy(tmp_path / "copy"), tmp_path / "run_cell.py", tmp_path / "cell.py"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    imported = done.stdout.split("IMPORTED: ")[1].strip()
    assert Path(imported).is_relative_to(Path(fresh_site))
    assert _digest_dist_info(our_site) == before  # this environment was not touched


@pytest.mark.slow
def test_the_records_travel_inside_the_package_wherever_pip_puts_it(tmp_path):
    """As in Colab, where pip puts data files under /usr/local/share, not sys.prefix:
    installed into a folder of its own, read from a folder with no results/ beside it."""
    target = tmp_path / "installed"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target,
         _source_copy(tmp_path / "copy")], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    probe = (
        "import sys; from dnnsteps import results; print(results.__file__); "
        "print(results.load_record('DNN1_first_all_conv_net')['notebook'])"
    )
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(  # -S: without site-packages, where this checkout is installed
        [sys.executable, "-S", "-c", probe], cwd=work, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(target)}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    where, name = done.stdout.split()
    assert Path(where).is_relative_to(target) and name == "DNN1_first_all_conv_net"
