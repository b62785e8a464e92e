"""``python -m dnnsteps``: train, summary, check, report and the full suite."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _int_at_least(minimum: int, words: str):
    """An argparse type: a whole number >= ``minimum`` (``words`` says so on error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {words}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "at least 1")
_seed = _int_at_least(0, "0 or more")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dnnsteps", description=__doc__)
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

    for name, text in (
        ("check", "check a trained step against the assignment's rules"),
        ("report", "write the submission README for a trained step"),
    ):
        c = sub.add_parser(name, help=text)
        c.add_argument("model")
        c.add_argument("--seed", type=_seed, default=0)
        c.add_argument("--run-dir", type=Path)
        if name == "report":
            c.add_argument("--out", type=Path, default=Path("SUBMISSION.md"))

    r = sub.add_parser("suite", help="run all notebooks in full mode and rebuild results/")
    r.add_argument("--only", nargs="+", help="e.g. DNN8")
    r.add_argument("--force", action="store_true", help="rerun notebooks already run")
    r.add_argument("--root", type=Path, default=Path("."))
    return p


def _trained(args):
    """The finished run of ``args.model`` (trains nothing; says how to train it)."""
    import json

    from . import models, train
    from .errors import DnnstepsError
    from .rundir import RunDir

    step = models.get_step(args.model)
    run = RunDir(args.run_dir or train.default_run_dir(step.name, args.seed, False))
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


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from .errors import DnnstepsError

    try:
        return _dispatch(args)
    except DnnstepsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    if args.command == "train":
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
    if args.command == "summary":
        from . import complexity, models, receptive_field, review

        model = models.build(args.model)
        model.summary()
        print()
        receptive_field.print_table(model)
        print(f"\nparameters: {model.count_params():,}")
        print(f"multiply-adds per image: {complexity.macs_per_image(model):,}")
        review.print_review(model)
        return 0
    if args.command in ("check", "report"):
        from . import assignment, models, train

        result, smoke = _trained(args)
        rows = result.history.history["val_accuracy"]
        checked = assignment.check(result.model, rows)
        if args.command == "check":
            print(assignment.format_table(checked))
            return 0 if assignment.passed(checked) else 1
        from .rundir import RunDir

        step = models.get_step(args.model)
        evaluation = train.evaluate(result.model, smoke=smoke)
        text = assignment.report(
            result.model,
            RunDir(result.run_dir).read_log(),
            evaluation,
            strategy=f"{step.title}. {step.changes}",
            title=step.name,
        )
        args.out.write_text(text)
        print(f"wrote {args.out}")
        return 0 if assignment.passed(checked) else 1
    if args.command == "suite":
        from . import suite

        suite.run_suite(args.root, only=args.only, force=args.force)
        return 0
    raise AssertionError(args.command)
