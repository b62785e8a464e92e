"""The GPU check's three steps (tools/gpu_check.sh installs, then runs this).

1. the stack: Keras on JAX, the devices, one epoch of DNN3 through the CLI;
2. the README's JAX test command, in smoke mode (a time limit of its own);
3. every notebook in full mode through tools/run_notebooks.py, in a copy of the
   repository (the tree itself is left as it was), until the deadline.

Everything lands in ``$OUT/gpu_check.json``, rewritten after every step and notebook,
so a check cut short still says what finished. No notebook but the first starts after
the deadline (``GPU_CHECK_DEADLINE`` seconds from the start, default 480), and DNN8
skips its extra seeds (``GPU_CHECK_SKIP_SEEDS``) when less than three times the last
notebook's time is left. ``--tiny`` proves it all on a CPU: smoke mode, DNN1 under
nbval, DNN3 alone, a 60 s deadline.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from nbfiles import atomic_write
from run_notebooks import notebooks_in_order, read_record

ROOT = Path(__file__).resolve().parents[1]
STARTED = float(os.environ.get("GPU_CHECK_STARTED", time.time()))
TESTS = (
    "DNNSTEPS_SMOKE=1 KERAS_BACKEND=jax python -m pytest -m backends tests notebooks "
    "--nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval.cfg"
)
TINY_TESTS = ["notebooks/DNN1_first_all_conv_net.ipynb"]
# The papermill parameter that leaves out DNN8's extra seeds when time is short (DNN8's
# parameters cell names the seeds it trains).
SKIP_SEEDS = os.environ.get("GPU_CHECK_SKIP_SEEDS", "SEEDS=(0,)")


class Report(dict):
    """The JSON file, written again on every change."""

    def __init__(self, path: Path, **fields):
        super().__init__(fields)
        self.path = path

    def save(self, **changes) -> None:
        self.update(changes, elapsed_s=round(time.time() - STARTED, 1))
        atomic_write(self.path, json.dumps(self, indent=2) + "\n")


def run(cmd, log: Path, timeout=None, env=None) -> tuple[int, float]:
    """Run a command, its output to the terminal and to ``log``; (exit code, seconds).

    Past ``timeout`` its whole process group is killed (kernels too) and the code is 124.
    """
    started = time.time()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        kill = lambda: os.killpg(proc.pid, signal.SIGKILL)  # noqa: E731
        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        try:
            for line in proc.stdout:
                sys.stdout.buffer.write(line)
                sys.stdout.flush()
                out.write(line)
            code = proc.wait()
        finally:
            if timer:
                timer.cancel()
            with contextlib.suppress(ProcessLookupError):
                kill()  # what the command left running
    seconds = time.time() - started
    return (124 if timeout and seconds >= timeout else code), seconds


def read_log(folder: Path) -> list[dict]:
    """A run folder's log.csv (Keras's CSVLogger columns) as numbers; [] when absent."""
    path = folder / "log.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)]


def stack(report: Report, work: Path, tiny: bool) -> None:
    """Step 1: which backend and devices, and one epoch of DNN3 through the CLI."""
    probe = (
        "import json, keras, jax; from dnnsteps import config; print('STACK', json.dumps("
        "dict(backend=keras.backend.backend(), devices=[str(d) for d in jax.devices()], "
        "device=config.device_name(), versions=config.versions())))"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    lines = [ln for ln in found.stdout.splitlines() if ln.startswith("STACK ")]
    info = json.loads(lines[-1][6:]) if lines else {"error": found.stderr[-2000:]}
    report.save(stack=info)
    run_dir = work / "dnn3-epoch1"
    cmd = [sys.executable, *"-m dnnsteps train dnn3 --epochs 1 --seed 0".split()]
    env = {**os.environ, **({"DNNSTEPS_SMOKE": "1"} if tiny else {})}
    code, seconds = run([*cmd, "--run-dir", str(run_dir)], work / "train.log", env=env)
    info["train_dnn3_one_epoch"] = {"rc": code, "seconds": round(seconds, 1)}
    info["train_dnn3_one_epoch"]["log"] = read_log(run_dir)
    report.save(stack=info)


def test_command(readme: Path, tiny: bool) -> list[str]:
    """The README's JAX test command (or the default), as argv; ``tiny``: DNN1 only."""
    found = [
        line.strip()
        for line in readme.read_text().splitlines()
        if "KERAS_BACKEND=jax" in line and "pytest" in line
    ]
    words = shlex.split(found[0] if found else TESTS)
    words = [w for w in words if not re.match(r"^[A-Z_]+=", w)]  # the environment
    if tiny:
        paths = [i for i, w in enumerate(words) if _is_test_path(words, i)]
        words = [w for i, w in enumerate(words) if i not in paths] + TINY_TESTS
    return [sys.executable if words[0] in ("python", "python3") else words[0], *words[1:]]


def _is_test_path(words: list, i: int) -> bool:
    word, before = words[i], words[i - 1] if i else ""
    looks = word in ("tests", "notebooks") or word.startswith(("tests/", "notebooks/"))
    return looks and not before.startswith("--")


def tests(report: Report, work: Path, tiny: bool) -> None:
    """Step 2: the tests in smoke mode under JAX, within their own time limit."""
    cmd = test_command(ROOT / "README.md", tiny)
    limit = float(os.environ.get("GPU_CHECK_TEST_SECONDS", 120 if tiny else 150))
    env = {**os.environ, "DNNSTEPS_SMOKE": "1", "KERAS_BACKEND": "jax"}
    log = Path(report.path).parent / "tests.log"
    log.unlink(missing_ok=True)
    code, seconds = run(cmd, log, timeout=limit, env=env)
    lines = log.read_text(errors="replace").splitlines()
    outcome = re.compile(r"\d+ (passed|failed|errors?|deselected)\b.* in [\d.]+s")
    summary = next((ln.strip("= ") for ln in reversed(lines) if outcome.search(ln)), "")
    report.save(
        tests=dict(
            command=shlex.join(cmd),
            rc=code,
            seconds=round(seconds, 1),
            timed_out=code == 124,
            summary=summary,
        )
    )


def copy_repository(work: Path) -> Path:
    """A copy to run the notebooks in: records, tables and outputs stay out of the tree."""
    copy = work / "repo"
    skip = shutil.ignore_patterns("runs", "__pycache__", ".ipynb_checkpoints", "submission")
    for name in ("notebooks", "src", "tools"):
        shutil.copytree(ROOT / name, copy / name, ignore=skip)
    for name in ("README.md", "pyproject.toml"):
        shutil.copy2(ROOT / name, copy / name)
    (copy / "results").mkdir()
    return copy


def results_of(copy: Path, name: str, since: float) -> dict:
    """What a notebook's run showed: its record (full mode), else its runs' logs (smoke)."""
    record = read_record(copy / "results" / f"{name}.json")
    if record and not record.get("stale"):
        curve = record["val_accuracy"]
        best = max(range(len(curve)), key=curve.__getitem__)
        return dict(
            seconds_per_epoch=record["seconds_per_epoch"],
            epochs=len(curve),
            best_val_accuracy=curve[best],
            best_epoch=best + 1,
            last_val_accuracy=curve[-1],
            test_accuracy=record["test_accuracy"],
            device=record["device"],
            backend=record["versions"].get("backend"),
            versions=record["versions"],
            record=record,
        )
    runs = {}
    for log in sorted((copy / "notebooks" / "runs").glob("*/log.csv")):
        rows = read_log(log.parent) if log.stat().st_mtime >= since else []
        if rows:
            curve = [row["val_accuracy"] for row in rows]
            runs[log.parent.name] = dict(
                epochs=len(rows), best_val_accuracy=max(curve), last_val_accuracy=curve[-1]
            )
    return {"seconds_per_epoch": None, "runs": runs}


def notebooks(
    report: Report, work: Path, tiny: bool, deadline: float, clock=time.time
) -> None:
    """Step 3: each notebook in turn through the main-job runner, until the deadline
    (``clock``: seconds, as ``time.time`` counts them; tests pass their own)."""
    copy = copy_repository(work)
    runner = [sys.executable, str(copy / "tools" / "run_notebooks.py"), "--force"]
    runner += ["--smoke"] if tiny else []
    paths = notebooks_in_order(copy / "notebooks", ["DNN3"] if tiny else ())
    found, last_wall = report.setdefault("notebooks", {}), 0.0
    for i, path in enumerate(paths):
        left = STARTED + deadline - clock()
        if left <= 0 and i:  # the first always runs: every check times a notebook
            found[path.stem] = {"status": "not started: past the deadline"}
            report.save()
            continue
        extra = []
        if path.stem.startswith("DNN8") and left < 3 * last_wall:
            extra = ["-p", SKIP_SEEDS]
            report["dnn8_extra_seeds"] = (
                f"skipped ({SKIP_SEEDS}): {left:.0f} s left, about {3 * last_wall:.0f} s "
                "needed; the record's seeds_run says which seeds trained"
            )
        found[path.stem] = {
            "status": "running",
            "started_at_s": round(time.time() - STARTED),
        }
        report.save()
        started = time.time()
        code, wall = run([*runner, *extra, "--only", path.stem], work / "notebooks.log")
        last_wall = wall
        status = "ok" if code == 0 else f"failed (exit code {code})"
        found[path.stem] = dict(
            status=status,
            wall_seconds=round(wall, 1),
            **results_of(copy, path.stem, started),
        )
        report.save()


def main(argv: list[str]) -> int:
    tiny = "--tiny" in argv
    out = Path(os.environ.get("OUT") or ROOT / "out").resolve()
    out.mkdir(parents=True, exist_ok=True)
    deadline = float(os.environ.get("GPU_CHECK_DEADLINE", 60 if tiny else 480))
    report = Report(out / "gpu_check.json", tiny=tiny, deadline_s=deadline, finished=False)
    report.save(install=os.environ.get("GPU_CHECK_INSTALL", "not run through gpu_check.sh"))
    with tempfile.TemporaryDirectory(prefix="gpu_check.") as work:
        stack(report, Path(work), tiny)
        tests(report, Path(work), tiny)
        notebooks(report, Path(work), tiny, deadline)
    failed = [
        name for name, n in report["notebooks"].items() if n["status"].startswith("failed")
    ]
    train = report["stack"].get("train_dnn3_one_epoch", {}).get("rc", 1)
    failed += ["stack"] if train else []
    failed += ["tests"] if report["tests"]["rc"] else []
    report.save(finished=True, failed=failed)
    print(f"wrote {report.path}; failed: {', '.join(failed) or 'nothing'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
