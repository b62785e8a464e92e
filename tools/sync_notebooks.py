"""Write each notebook's .ipynb from its paired percent script, keeping outputs.

The scripts (``notebooks/*.py``, jupytext percent format) are what an author edits
and reviews; the .ipynb files carry the outputs of the last full run. jupytext's
``--update`` keeps the outputs of every code cell whose source did not change, so a
prose edit does not throw a run away. Where ruff is installed, the code cells are
formatted and the script is rewritten from the formatted notebook. Usage: ``python tools/sync_notebooks.py [NAME...]``.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import nbfiles

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def sync(script: Path) -> Path:
    target = script.with_suffix(".ipynb")
    args = [sys.executable, "-m", "jupytext", "--to", "ipynb", "--quiet"]
    if target.exists():
        args.append("--update")
    subprocess.run([*args, str(script)], check=True)
    nbfiles.write(nbfiles.read(target), target)
    if shutil.which("ruff"):  # format the code cells, then carry that back to the script
        subprocess.run(["ruff", "format", "--quiet", str(target)], check=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "jupytext",
                "--to",
                "py:percent",
                "--quiet",
                str(target),
            ],
            check=True,
        )
    return target


def main(argv: list[str]) -> int:
    scripts = [NOTEBOOKS / f"{name.removesuffix('.py')}.py" for name in argv] or sorted(
        NOTEBOOKS.glob("*.py")
    )
    for script in scripts:
        if not script.exists():
            print(f"error: {script} does not exist", file=sys.stderr)
            return 2
        print(f"wrote {sync(script).relative_to(NOTEBOOKS.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
