"""A notebook's closing record, the step targets, and the suite's results table."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from . import config, models, receptive_field, tables
from .errors import DnnstepsError
from .records import RunRecord, RunSummary, load_metrics
from .rundir import RunDir

STARTED = time.time()  # when dnnsteps was imported: a notebook's setup cell
TABLE_START = "<!-- results:start -->"
TABLE_END = "<!-- results:end -->"
SEEDS_START = "<!-- seeds:start -->"
SEEDS_END = "<!-- seeds:end -->"
PARAM_TOLERANCE = 0.10


class TargetMissed(DnnstepsError, AssertionError):
    """A full run did not reach its step's target."""


def finish(run, test: dict, notebook: str) -> dict:
    """Record what this run was (and on what), print it, and save it beside the run."""
    record = RunRecord.from_summary(
        RunSummary.from_json(run.summary),
        notebook=notebook,
        test_accuracy=test["accuracy"],
        test_loss=test["loss"],
        macs_per_image=receptive_field.macs_per_image(run.model),
        wall_seconds=round(time.time() - STARTED, 1),
        device=config.device_name(),
        versions=config.versions(),
    )
    record.save(RunDir(run.run_dir).result_file)
    record = record.to_json()
    print(f"notebook: {notebook} ({record['mode']} mode)")
    print(
        f"seed {record['seed']}, {record['epochs']} epochs, {record['train_size']:,} training images"
    )
    print(
        f"test accuracy {record['test_accuracy']:.2%}, best val accuracy {record['best_val_accuracy']:.2%} (epoch {record['best_epoch']})"
    )
    print(f"device: {record['device']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in record["versions"].items()))
    print(f"wall time: {record['wall_seconds']:.0f} s")
    return record


def recipe_of(record: dict) -> models.Recipe:
    """The recipe a record's run trained with; its step's recipe for records without one.

    A record is judged by the rules it ran under, not by a recipe changed since.
    """
    stored = record.get("recipe")
    if not stored:
        return models.get_step(record["model"]).recipe
    known = {f.name for f in dataclasses.fields(models.Recipe)}
    try:
        return models.Recipe(**{k: v for k, v in stored.items() if k in known})
    except TypeError as exc:
        raise DnnstepsError(
            f"the {record.get('model', '?')} record's recipe is incomplete ({exc})."
        ) from None


def check_targets(record: dict) -> list[str]:
    """What a run failed to reach (empty when it met every target of its recipe)."""
    recipe = recipe_of(record)
    problems = []
    if record["mode"] == "smoke":
        # One epoch on 2,000 images shows learning, not the target. Training
        # accuracy (batch statistics) is the sign: after 16 steps batch norm's
        # moving averages are still mostly their initial values, so test accuracy
        # of a batch-normalised net says little yet.
        accuracy = record["final_train_accuracy"]
        if not accuracy > 0.2:
            problems.append(f"smoke training accuracy {accuracy:.2%} is not above 20%")
        return problems
    if record["epochs"] < recipe.epochs:
        problems.append(f"ran {record['epochs']} of the recipe's {recipe.epochs} epochs")
    if record["best_val_accuracy"] < recipe.target_accuracy:
        problems.append(
            f"best val accuracy {record['best_val_accuracy']:.2%} < target {recipe.target_accuracy:.2%}"
        )
    held = record["val_accuracy_curve"][-recipe.hold_last :] if recipe.hold_last else []
    if held and min(held) < recipe.target_accuracy:
        problems.append(
            f"val accuracy did not hold {recipe.target_accuracy:.2%} in each of the last "
            f"{recipe.hold_last} epochs ({', '.join(f'{v:.2%}' for v in held)})"
        )
    first = record["first_epoch_at_target"]
    if recipe.target_epoch and (first is None or first > recipe.target_epoch):
        problems.append(
            f"target not reached by epoch {recipe.target_epoch} (first: {first})"
        )
    return problems


def report(miss: str | None, passed: str, strict: bool | None = None) -> bool:
    """Print a verdict: ``passed``, or the ``miss``, which raises instead when strict.

    In a notebook a miss is a result worth reading, not a traceback; the suite and
    the tests set ``DNNSTEPS_STRICT=1`` so a miss fails them.
    """
    strict = config.strict_targets() if strict is None else strict
    if miss is not None:
        if strict:
            raise TargetMissed(miss.rstrip("."))
        print(miss)
        return False
    print(passed)
    return True


def verdict(record: dict, strict: bool | None = None) -> bool:
    """Print whether the run met its step's targets (see ``report``)."""
    problems = check_targets(record)
    miss = f"{record['model']}: missed its target: " + "; ".join(problems) + "."
    what = "smoke run learned" if record["mode"] == "smoke" else "met every target"
    return report(miss if problems else None, f"{record['model']}: {what}.", strict)


# Reading a run next to the previous step's ---------------------------------


def best_and_final(summary: dict) -> str:
    """The best epoch and the last epoch side by side, as a small Markdown-like table.

    The test set doubles as the validation set (as in the course), so "best
    epoch" is chosen by looking at the test set: the last epoch's number is the
    honest one, the best epoch's an upper bound.
    """
    curve = summary["val_accuracy_curve"]
    lines = [
        "                 epoch  test (= validation) accuracy",
        f"best epoch       {summary['best_epoch']:>5}  {summary['best_val_accuracy']:.2%}",
        f"last epoch       {summary['epochs']:>5}  {curve[-1]:.2%}",
        f"train accuracy, last epoch: {summary['final_train_accuracy']:.2%}"
        f" (gap to test: {100 * (summary['final_train_accuracy'] - curve[-1]):+.2f} points)",
    ]
    return "\n".join(lines)


def reference_metrics() -> dict:
    """The committed full-run records (results/metrics.json of the repository).

    Found from a notebook's folder (``../results``) or the repository root;
    empty where the repository is not around (e.g. a package installed in Colab).
    """
    for candidate in (Path("../results/metrics.json"), Path("results/metrics.json")):
        if candidate.exists():
            return {name: r.to_json() for name, r in load_metrics(candidate).items()}
    return {}


def _row(label: str, m: dict) -> str:
    curve = m["val_accuracy_curve"]
    gap = 100 * (m["final_train_accuracy"] - curve[-1])
    return (
        f"{label:<28} {m['params']:>7,} {m['epochs']:>6} "
        f"{m['best_val_accuracy']:>8.2%} ({m['best_epoch']:>2}) {curve[-1]:>8.2%} "
        f"{m['final_train_accuracy']:>8.2%} {gap:>+6.2f}"
    )


def compare(summary: dict, notebook: str, previous: str) -> str:
    """This run beside the previous step's full run, computed from the records.

    Same seed, same data: the rows differ by the one change between the steps.
    """
    header = (
        f"{'':<28} {'params':>7} {'epochs':>6} {'best test (epoch)':>17} "
        f"{'last':>8} {'train':>8} {'gap':>6}"
    )
    lines = [header, _row(notebook, summary)]
    before = reference_metrics().get(previous)
    if before:
        lines.append(_row(previous, before))
    else:
        lines.append(f"{previous:<28} (no full-run record here: see the README's results)")
    if summary["mode"] == "smoke":
        lines.append("(this run is a smoke run on 2,000 images: compare after a full run)")
    lines.append("gap = train minus test accuracy at the last epoch, in points")
    return "\n".join(lines)


# The suite's results ---------------------------------------------------------


def results_table(metrics: dict) -> str:
    header = [
        "notebook",
        "params",
        "MACs/image",
        "best val acc (epoch)",
        "test acc",
        "target",
        "first epoch at target",
        "target met",
        "s/epoch",
    ]
    rows = []
    for name in sorted(metrics):
        m = metrics[name]
        problems = check_targets(m)
        rows.append(
            [
                name,
                f"{m['params']:,}",
                f"{m['macs_per_image']:,}",
                f"{m['best_val_accuracy']:.2%} ({m['best_epoch']})",
                f"{m['test_accuracy']:.2%}",
                f"{m['target_accuracy']:.2%}",
                m["first_epoch_at_target"] or "-",
                "yes" if not problems else "no: " + "; ".join(problems),
                f"{m['seconds_per_epoch']:.0f}",
            ]
        )
    lines = [tables.markdown(header, rows, right=(1, 2, 4, 6, 8))]
    devices = sorted({m["device"] for m in metrics.values()})
    total = sum(m.get("notebook_seconds", m["wall_seconds"]) for m in metrics.values())
    lines.append("")
    lines.append(
        f"Seed 0, full MNIST (60,000 train / 10,000 test), on {', '.join(devices)}; "
        f"wall time of the notebooks together: {total / 60:.0f} min."
    )
    return "\n".join(lines)


def replace_between(readme, start: str, end: str, body: str) -> None:
    """Replace the text between two marker lines of a README (refused without them)."""
    readme = Path(readme)
    text = readme.read_text()
    if start not in text or end not in text:
        raise DnnstepsError(f"{readme} has no {start} ... {end} markers.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{body}\n{end}{tail}")


def update_readme(readme, metrics: dict) -> None:
    """Replace the text between the results markers with the table from ``metrics``."""
    replace_between(readme, TABLE_START, TABLE_END, results_table(metrics))


def lowest_of_last(curve: list[float], epochs: int) -> float:
    """The lowest value of a curve's last ``epochs`` epochs: what a hold rule checks."""
    return min(curve[-epochs:])


def lowest_held(record: dict) -> dict[str, float]:
    """Per seed, the lowest val accuracy of the last ``hold_last`` epochs."""
    last = record["hold_last"] or 1
    return {
        seed: lowest_of_last(s["val_accuracy_curve"], last)
        for seed, s in sorted(record["seeds"].items())
    }


def seeds_table(record: dict) -> str:
    """A model's multi-seed record (see ``seeds.record``) as a README table."""
    last = record["hold_last"] or 1
    header = [
        "seed",
        f"val accuracy, last {last} epochs",
        "lowest",
        "best (epoch)",
        f"holds {record['target_accuracy']:.2%}",
    ]
    lowest = lowest_held(record)
    rows = [
        [
            seed,
            ", ".join(f"{v:.2%}" for v in s["val_accuracy_curve"][-last:]),
            f"{lowest[seed]:.2%}",
            f"{s['best_val_accuracy']:.2%} ({s['best_epoch']})",
            "yes" if not s["problems"] else "no",
        ]
        for seed, s in sorted(record["seeds"].items())
    ]
    lines = [tables.markdown(header, rows, right=(0, 2))]
    epochs = sorted({s["epochs"] for s in record["seeds"].values()})
    lines += [
        "",
        f"`{record['model']}`: **{record['params']:,} parameters**, no bias, no fully "
        f"connected layer; {', '.join(map(str, epochs))} epochs per seed, full MNIST, "
        f"on {record['device']} (from the DNN8 notebook's run).",
    ]
    return "\n".join(lines)


def update_readme_seeds(readme, record: dict) -> None:
    replace_between(readme, SEEDS_START, SEEDS_END, seeds_table(record))
