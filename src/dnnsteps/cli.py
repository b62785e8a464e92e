"""``python -m dnnsteps``: train, summary, check, report, grade and the full suite.

Arguments are parsed before anything imports TensorFlow, so a mistake is
answered at once, with one ``error:`` line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are 32-bit


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one ``error: ...`` line (exit code 2)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _int_in(minimum: int, maximum: int | None, words: str):
    """An argparse type: a whole number in [minimum, maximum] (``words`` says so)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number, got {text!r}"
            ) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {words}, got {value}")
        return value

    return parse


_positive_int = _int_in(1, None, "at least 1")
_seed = _int_in(0, MAX_SEED, f"0 or more (at most {MAX_SEED:,})")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m dnnsteps", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a step on MNIST (resumes if interrupted)")
    t.add_argument("model", help="dnn1 .. dnn8, or dnn8_lite")
    t.add_argument("--epochs", type=_positive_int)
    t.add_argument("--seed", type=_seed, default=0)
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--lr", type=_positive_float, help="learning rate (or schedule start)")
    t.add_argument("--run-dir", type=Path)
    t.add_argument(
        "--fresh", action="store_true", help="discard this run's state and start over"
    )
    t.add_argument("--tensorboard", action="store_true")

    s = sub.add_parser(
        "summary", help="layers, output shapes, receptive fields, parameters"
    )
    s.add_argument("model")

    c = sub.add_parser(
        "check",
        help="check a trained step, a saved model (.keras) or a submission folder "
        "against the assignment's rules",
    )
    c.add_argument("target", help="a step (dnn8), a .keras file or a submission folder")
    c.add_argument("--seed", type=_seed, default=0)
    c.add_argument("--run-dir", type=Path)

    r = sub.add_parser("report", help="write the submission README for a trained step")
    r.add_argument("model")
    r.add_argument("--seed", type=_seed, default=0)
    r.add_argument("--run-dir", type=Path)
    r.add_argument("--out", type=Path, default=Path("SUBMISSION.md"))
    r.add_argument("--force", action="store_true", help="replace an existing --out file")

    g = sub.add_parser(
        "grade", help="grade a folder of submissions (one subfolder per student)"
    )
    g.add_argument("folder", type=Path)
    g.add_argument("--out", type=Path, help="also write the grades as CSV")
    g.add_argument("--force", action="store_true", help="replace an existing --out file")

    u = sub.add_parser("suite", help="run all notebooks in full mode and rebuild results/")
    u.add_argument("--only", nargs="+", help="e.g. DNN8")
    u.add_argument("--force", action="store_true", help="rerun notebooks already run")
    u.add_argument("--root", type=Path, default=Path("."))
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from .errors import DnnstepsError

    try:
        return COMMANDS[args.command](args)
    except DnnstepsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2


# Commands: each imports what it needs (TensorFlow only once it is needed) -------


def _train(args) -> int:
    from . import models, train

    models.get_step(args.model)  # an unknown name fails before any data loads
    result = train.fit(
        args.model,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        run_dir=args.run_dir,
        fresh=args.fresh,
        tensorboard=args.tensorboard,
    )
    s = result.summary
    print(
        f"{s['model']}: {s['params']:,} params, best val accuracy "
        f"{s['best_val_accuracy']:.4f} at epoch {s['best_epoch']}, "
        f"{s['seconds_per_epoch']:.1f} s/epoch; run dir {result.run_dir}"
    )
    return 0


def _summary(args) -> int:
    from . import models, receptive_field, review

    model = models.build(args.model)
    model.summary()
    print()
    receptive_field.print_table(model)
    print(f"\nparameters: {model.count_params():,}")
    print(f"multiply-adds per image: {receptive_field.macs_per_image(model):,}")
    review.print_review(model)
    return 0


def _trained(args):
    """The finished run of ``args.model`` (trains nothing; says how to train it)."""
    import json

    from . import config, models, train
    from .errors import DnnstepsError
    from .rundir import RunDir

    step = models.get_step(args.model)
    run = RunDir(
        args.run_dir or train.default_run_dir(step.name, args.seed, config.smoke_mode())
    )
    if run.read_summary() is None or not run.run_file.exists():
        raise DnnstepsError(
            f"no finished run in {run.path}; train it first: "
            f"python -m dnnsteps train {step.name} --seed {args.seed}"
        )
    identity = json.loads(run.run_file.read_text())
    recipe = identity["recipe"]
    result = train.fit(
        step.name,
        seed=identity["seed"],
        run_dir=run.path,
        smoke=identity["smoke"],
        epochs=recipe["epochs"],
        batch_size=recipe["batch_size"],
        learning_rate=recipe["learning_rate"],
        verbose=False,
    )
    return result, identity["smoke"]


def _looks_like_path(text: str) -> bool:
    return Path(text).exists() or "/" in text or "\\" in text or text.endswith(".keras")


def _check_path(path: Path) -> int:
    """``check`` on a saved model or a submission folder: the rules, no training."""
    from . import assignment, checkpoints
    from .errors import DnnstepsError

    if not path.exists():
        raise DnnstepsError(
            f"{path} not found (give a .keras file or a submission folder)."
        )
    if path.is_dir():
        missing = [
            n
            for n in (assignment.MODEL_FILE, assignment.LOG_FILE)
            if not (path / n).is_file()
        ]
        if missing:
            raise DnnstepsError(
                f"{path} has no {' or '.join(missing)}; a submission folder holds "
                f"{assignment.MODEL_FILE} and {assignment.LOG_FILE}."
            )
        rows = assignment.read_log(path / assignment.LOG_FILE)
        model = checkpoints.load(path / assignment.MODEL_FILE)
        checked = assignment.check(model, [r["val_accuracy"] for r in rows])
    else:
        if path.suffix != ".keras":
            raise DnnstepsError(f"{path} is not a .keras file or a submission folder.")
        model = checkpoints.load(path)
        checked = assignment.check(model)
    print(assignment.format_table(checked))
    if not path.is_dir():
        print(
            "\nvalidation accuracy: not checked (a .keras file holds no training log; "
            "check the submission folder with its log.csv)."
        )
    return 0 if assignment.passed(checked) else 1


def _check(args) -> int:
    if _looks_like_path(args.target):
        return _check_path(Path(args.target))
    from . import assignment, models
    from .errors import ConfigError, DnnstepsError

    try:
        models.get_step(args.target)
    except ConfigError:
        raise DnnstepsError(
            f"{args.target!r} is neither a file or folder nor a step "
            f"(one of: {', '.join(models.NAMES)})."
        ) from None
    args.model = args.target
    result, _ = _trained(args)
    checked = assignment.check(result.model, result.history.history["val_accuracy"])
    print(assignment.format_table(checked))
    return 0 if assignment.passed(checked) else 1


def _report(args) -> int:
    from . import assignment, models, train
    from .errors import DnnstepsError
    from .rundir import RunDir

    if args.out.is_dir():
        raise DnnstepsError(f"--out {args.out} is a folder; give a file name.")
    if args.out.exists() and not args.force:
        raise DnnstepsError(f"--out {args.out} already exists; pass --force to replace it.")
    result, smoke = _trained(args)
    step = models.get_step(args.model)
    evaluation = train.evaluate(result.model, smoke=smoke)
    text = assignment.report(
        result.model,
        RunDir(result.run_dir).read_log(),
        evaluation,
        strategy=f"{step.title}. {step.changes}",
        title=step.name,
    )
    assignment.write_new_file(args.out, text, force=args.force)
    print(f"wrote {args.out}")
    checked = assignment.check(result.model, result.history.history["val_accuracy"])
    return 0 if assignment.passed(checked) else 1


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _grade(args) -> int:
    from . import assignment, config, grade
    from .errors import DnnstepsError

    if not args.folder.is_dir():
        raise DnnstepsError(f"{args.folder} is not a folder of submissions.")
    if args.out is not None:
        if _inside(args.out, args.folder):
            raise DnnstepsError(
                f"--out {args.out} is inside {args.folder}; grading changes nothing there."
            )
        if args.out.is_dir():
            raise DnnstepsError(f"--out {args.out} is a folder; give a file name.")
        if args.out.exists() and not args.force:
            raise DnnstepsError(
                f"--out {args.out} already exists; pass --force to replace it."
            )
    grades = grade.grade_all(args.folder)
    print(grade.to_markdown(grades))
    images = "the 1,000-image smoke subset" if config.smoke_mode() else "10,000 test images"
    print(f"\n{len(grades)} submissions, measured on {images}.")
    if args.out is not None:
        assignment.write_new_file(args.out, grade.to_csv(grades), force=args.force)
        print(f"wrote {args.out}")
    return 0


def _suite(args) -> int:
    from .errors import DnnstepsError

    notebooks = args.root / "notebooks"
    if not notebooks.is_dir() or not any(notebooks.glob("DNN*.ipynb")):
        raise DnnstepsError(
            f"{args.root} is not the project's root (no notebooks/DNN*.ipynb there); "
            "run from the clone or pass --root."
        )
    from . import suite

    try:
        suite.run_suite(args.root, only=args.only, force=args.force)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            raise DnnstepsError(exc.code) from None
        raise
    return 0


COMMANDS = {
    "train": _train,
    "summary": _summary,
    "check": _check,
    "report": _report,
    "grade": _grade,
    "suite": _suite,
}
