"""The README's results and seeds tables and results/summary.png, from results/*.json.

A record is one notebook's full run (written by ``dnnsteps.results.record``), judged
here against the recipe it ran with: a later recipe change does not rewrite history.
A record marked ``"stale"`` predates its notebook's last run attempt (still running,
killed or failed); its row says so. Accuracies are read as Keras prints them, to 4
decimals (``dnnsteps.results.as_printed``), before any comparison.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from nbfiles import atomic_write

from dnnsteps.results import as_printed, first_epoch_at

TABLE = ("<!-- results:start -->", "<!-- results:end -->")
SEEDS = ("<!-- seeds:start -->", "<!-- seeds:end -->")


class UsageError(Exception):
    """A mistake the maintainer can fix (the tools print it as one ``error:`` line)."""


def course_order(name: str) -> tuple:
    """DNN1..DNN8, then CODE9: the order the course teaches them."""
    found = re.match(r"([A-Z]+)(\d+)", name)
    kind, number = (found.group(1), int(found.group(2))) if found else (name, 0)
    return (kind != "DNN", number, name)


def load_records(results_dir) -> dict:
    """Every notebook record in a results folder (other JSON, e.g. bench.json, skipped)."""
    found = {}
    for path in Path(results_dir).glob("*.json"):
        record = json.loads(path.read_text())
        if isinstance(record, dict) and record.get("notebook") == path.stem:
            found[path.stem] = record
    return dict(sorted(found.items(), key=lambda item: course_order(item[0])))


def problems(record: dict) -> list[str]:
    """What a full run missed of its recipe's targets (empty: every target met)."""
    recipe, curve = record["recipe"], [as_printed(v) for v in record["val_accuracy"]]
    target, last = recipe["target"], recipe.get("hold_last") or 0
    found = []
    if len(curve) < recipe["epochs"]:
        found.append(f"ran {len(curve)} of {recipe['epochs']} epochs")
    if max(curve, default=0.0) < target:
        found.append(f"best {max(curve, default=0.0):.2%} < {target:.2%}")
    first, by = first_epoch_at(curve, target), recipe.get("target_epoch")
    if by and first is not None and first > by:
        found.append(f"first at epoch {first}, not by epoch {by}")
    for seed, seed_curve in sorted((record.get("seeds") or {"0": curve}).items()):
        if last and as_printed(min(seed_curve[-last:])) < target:
            found.append(f"seed {seed} did not hold {target:.2%} over the last {last}")
    return found


def course_figure(recipe: dict) -> str:
    figure = f"{recipe['target']:.2%}"
    if recipe.get("target_epoch"):
        figure += f" by epoch {recipe['target_epoch']}"
    if recipe.get("hold_last"):
        figure += f", held over the last {recipe['hold_last']} epochs"
    return figure


def markdown(header, rows, right=()) -> str:
    """A pipe table; ``right``: the indices of the columns of numbers."""
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    return "\n".join(
        "| " + " | ".join(map(str, line)) + " |" for line in [header, rule, *rows]
    )


def results_row(name: str, r: dict) -> list:
    curve, recipe, per_epoch = (
        [as_printed(v) for v in r["val_accuracy"]],
        r.get("recipe"),
        r.get("seconds_per_epoch"),
    )
    best = max(range(len(curve)), key=curve.__getitem__)
    missed = problems(r) if recipe else ["no recipe to judge by"]
    return [
        f"{name} (stale)" if r.get("stale") else name,
        f"{r['params']:,}",
        f"{r['macs_per_image']:,}",
        f"{curve[best]:.2%} ({best + 1})",
        f"{r['test_accuracy']:.2%}",
        course_figure(recipe) if recipe else "-",
        (recipe and first_epoch_at(curve, recipe["target"])) or "-",
        "no: " + "; ".join(missed) if missed else "yes",
        f"{per_epoch:.1f}" if per_epoch else "-",
    ]


def results_table(records: dict) -> str:
    header = ["notebook", "params", "MACs/image", "best val acc (epoch)"]
    header += ["test acc (last epoch)", "course figure", "first epoch at target"]
    header += ["target met", "s/epoch"]
    rows = [results_row(name, r) for name, r in records.items()]
    devices = sorted({r["device"] for r in records.values()})
    seeds = sorted({str(r["seed"]) for r in records.values() if r.get("seed") is not None})
    minutes = sum(r.get("notebook_seconds", 0) for r in records.values()) / 60
    lines = [markdown(header, rows, right=(1, 2, 4, 6, 8)), ""]
    lines.append(
        (f"Seed {', '.join(seeds)}, full" if seeds else "Full")
        + f" MNIST (60,000 train / 10,000 test), on {', '.join(devices)}; "
        f"wall time of the notebooks together: {minutes:.0f} min."
    )
    if any(r.get("stale") for r in records.values()):
        lines.append(
            "(stale): recorded before the notebook's latest version or run attempt, which "
            "has not finished; `python tools/run_notebooks.py --only NAME` runs it again."
        )
    return "\n".join(lines)


def seeds_table(record: dict) -> str:
    """Per seed: the last epochs the hold rule reads, their lowest, and the verdict."""
    recipe = record["recipe"]
    last, target = recipe.get("hold_last") or 3, recipe["target"]
    header = ["seed", f"val accuracy, last {last} epochs", "lowest", f"holds {target:.2%}"]
    rows = []
    for seed, curve in sorted(record["seeds"].items(), key=lambda kv: int(kv[0])):
        tail = [as_printed(v) for v in curve[-last:]]
        held = len(curve) >= recipe["epochs"] and min(tail) >= target
        rows.append(
            [
                seed,
                ", ".join(f"{v:.2%}" for v in tail),
                f"{min(tail):.2%}",
                "yes" if held else "no",
            ]
        )
    stale = " This record is stale (see above)." if record.get("stale") else ""
    return "\n".join(
        [
            markdown(header, rows, right=(0, 2)),
            "",
            f"`{record['step']}`: **{record['params']:,} parameters**; {recipe['epochs']} "
            f"epochs per seed, full MNIST, on {record['device']} (from the "
            f"{record['notebook']} notebook's run).{stale}",
        ]
    )


def replace_between(readme, markers: tuple, body: str) -> None:
    """Replace the text between a README's two marker lines (refused without them)."""
    readme, (start, end) = Path(readme), markers
    text = readme.read_text()
    if start not in text or end not in text.split(start, 1)[1]:
        raise UsageError(f"{readme} has no {start} ... {end} markers.")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    atomic_write(readme, f"{head}{start}\n{body}\n{end}{tail}")


def summary_png(records: dict, path) -> None:
    """Best val accuracy against parameters, beside every notebook's val curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_p, ax_c) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, r in records.items():
        label, curve = name.split("_")[0], [100 * v for v in r["val_accuracy"]]
        ax_p.plot(r["params"], max(curve), "o")
        ax_p.annotate(
            label,
            (r["params"], max(curve)),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=8,
        )
        ax_c.plot(range(1, len(curve) + 1), curve, "o-", ms=3, label=label)
    ax_p.set(
        xscale="log",
        xlabel="parameters",
        ylabel="best val accuracy (%)",
        title="Accuracy vs parameters",
    )
    ax_c.set(
        xlabel="epoch",
        ylabel="val accuracy (%)",
        ylim=(97.5, 99.8),
        title="Validation accuracy per epoch",
    )
    ax_c.legend(fontsize=8, ncol=2)
    for ax in (ax_p, ax_c):
        ax.axhline(99.4, color="grey", ls="--", lw=1)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def rebuild(root) -> list[str]:
    """Rewrite both README tables and results/summary.png; returns what it wrote."""
    root = Path(root)
    records = load_records(root / "results")
    if not records:
        return []
    replace_between(root / "README.md", TABLE, results_table(records))
    seeded = [r for r in records.values() if r.get("seeds")]
    if seeded:
        replace_between(root / "README.md", SEEDS, seeds_table(seeded[-1]))
    summary_png(records, root / "results" / "summary.png")
    return ["README.md", "results/summary.png"]
