"""``python -m dnnsteps``: train a step, check a model against the rules, grade, summary.

Arguments are parsed before Keras is imported, so a mistake is answered at once;
every mistake is one ``error: ...`` line on stderr and exit code 2.
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


def _int_in(minimum: int, maximum: int, words: str):

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, "
                                             f"got {text!r}") from None  # fmt: skip
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be {words}, got {value}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m dnnsteps", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train",
                       help="train a step as its notebook does (resumes if stopped)")  # fmt: skip
    t.add_argument("step", help="dnn1 .. dnn8 or code9")
    t.add_argument("--epochs", type=_int_in(1, 10_000, "at least 1"),
                   help="default: recipe's")  # fmt: skip
    t.add_argument("--seed", type=_int_in(0, MAX_SEED, f"0 to {MAX_SEED:,}"), default=0)
    t.add_argument("--run-dir", type=Path,
                   help="the run folder (default: runs/<model>-<key>)")  # fmt: skip
    t.add_argument("--fresh", action="store_true", help="discard the run folder's state")
    c = sub.add_parser("check", help="check a model against the assignment's rules")
    c.add_argument("target", help="a step, a .keras file, a submission or run folder")
    g = sub.add_parser("grade", help="grade hand-ins: folders or zips, models or READMEs")
    g.add_argument("folder", type=Path)
    g.add_argument("--out", type=Path, help="also write the grades as CSV (grades.csv)")
    g.add_argument("--force", action="store_true", help="replace an existing --out file")
    s = sub.add_parser("summary", help="layers, parameters and receptive fields of a step")
    s.add_argument("step")
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


def _train(args) -> int:
    """Compile and fit exactly as the notebooks do, then ``model.evaluate``."""
    from . import models

    _, recipe = models.get(args.step)  # an unknown step fails before any data loads
    import keras

    from . import config, data, resume
    from .batches import Batches

    config.repeatable(args.seed)
    (x_train, y_train), (x_test, y_test) = data.mnist()
    train = Batches(x_train, y_train, batch_size=recipe.batch_size, seed=args.seed)
    with config.use_all_accelerators():  # several GPUs: one copy of the model on each
        model = models.build(args.step, args.seed)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=recipe.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    callbacks = [resume.resumable(data=train, fresh=args.fresh, folder=args.run_dir)]
    if recipe.schedule is not None:
        callbacks.insert(0, keras.callbacks.LearningRateScheduler(recipe.schedule))
    history = model.fit(
        train,
        epochs=args.epochs or recipe.epochs,
        shuffle=False,  # Batches shuffles, from the seed and the epoch
        validation_data=(x_test, y_test),
        callbacks=callbacks,
        verbose=2,
    )
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"model.evaluate: loss {loss:.4f}, accuracy {accuracy:.4f}")
    print(f"run folder: {getattr(history, 'run_dir', args.run_dir)}")
    return 0


def _check(args) -> int:
    """The rules table for a step (untrained), a .keras file, or a folder with its log."""
    from . import models, rules
    from .errors import DnnstepsError
    from .grade import log_rows
    from .runfiles import MODEL_FILE, load_model

    path, history = Path(args.target), None
    if path.is_dir():
        history = log_rows(path)
        model = load_model(path / MODEL_FILE)
    elif path.is_file():
        if path.suffix != ".keras":
            raise DnnstepsError(f"{path} is not a .keras file or a submission folder.")
        model = load_model(path)
    elif path.suffix == ".keras" or "/" in args.target or "\\" in args.target:
        raise DnnstepsError(f"{path} not found (give a .keras file or a "
                            "submission folder).")  # fmt: skip
    else:
        try:
            model = models.build(args.target)
        except DnnstepsError:
            raise DnnstepsError(f"{args.target!r} is neither a file or folder nor a step "
                                f"(one of: {', '.join(models.NAMES)}).") from None  # fmt: skip
    findings = rules.check(model, history)
    print(rules.check_table(findings))
    if history is None:
        print("\nvalidation accuracy: not checked (no training log; check the folder "
              "that holds model.keras and log.csv).")  # fmt: skip
    return 0 if rules.passed(findings) else 1


def _grade(args) -> int:
    from . import grade

    return grade.main(args.folder, out=args.out, force=args.force)


def _summary(args) -> int:
    from . import models, receptive_field, rules

    model = models.build(args.step)
    model.summary()
    print()
    receptive_field.print_table(model)
    print(f"\nparameters: {model.count_params():,}")
    rules.print_review(model)
    return 0


COMMANDS = {"train": _train, "check": _check, "grade": _grade, "summary": _summary}
