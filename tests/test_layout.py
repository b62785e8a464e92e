"""Where the repository keeps what: lessons alone in notebooks/, test and tool setup at
the root and in tests/, and CI running exactly the README's test commands."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_notebooks_folder_holds_lessons_and_their_scripts_only():
    files = [
        p
        for p in (ROOT / "notebooks").iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix != ".zip"
    ]
    assert {p.suffix for p in files} == {".ipynb", ".py"}
    for path in files:
        pair = path.with_suffix(".py" if path.suffix == ".ipynb" else ".ipynb")
        assert pair.exists(), f"{path.name} has no paired {pair.name}"


def test_ci_runs_exactly_the_readmes_test_commands():
    def commands(text):
        return [ln for ln in text.splitlines() if "python -m pytest tests" in ln]

    readme = commands((ROOT / "README.md").read_text())
    assert commands((ROOT / ".ci" / "run").read_text()) == readme[:2]
    for line in readme:
        config = re.search(r"--nbval-sanitize-with (\S+)", line)
        assert config is None or (ROOT / config.group(1)).is_file(), line


@pytest.mark.slow
def test_the_notebooks_alone_are_strict_and_dnn1_and_dnn8_run_on_both_backends(tmp_path):
    (tmp_path / "probe.py").write_text(
        "import os\n\ndef pytest_collection_finish(session):\n"
        "    print('STRICT', os.environ.get('DNNSTEPS_STRICT'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DNNSTEPS_STRICT"}
    env["PYTHONPATH"] = str(tmp_path)
    args = "-m pytest --collect-only -q -p probe -m backends notebooks --nbval-lax"
    done = subprocess.run(
        [sys.executable, *args.split()], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert "STRICT 1" in done.stdout, done.stdout + done.stderr
    files = {ln.split("::")[0] for ln in done.stdout.splitlines() if "::" in ln}
    assert files == {
        "notebooks/DNN1_first_all_conv_net.ipynb",
        "notebooks/DNN8_assignment.ipynb",
    }


def test_the_readme_front_page_stays_short():
    """The front page is the course map, the commands and the results; the rest is docs/."""
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 150
