"""Several seeds of one step: train each, and check that its target *holds* (every
one of the last epochs, every seed), not just peaks once.

A single best epoch can be luck; a rule over the last epochs of three seeds is
what makes a "smallest net at 99.4%" claim worth believing.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import config, models, tables, train
from .records import SeedResult, SeedsRecord
from .results import check_targets, recipe_of, report

SEEDS = (0, 1, 2)


def train_seeds(
    name: str, seeds=SEEDS, epochs: int | None = None, verbose=True, build=None
) -> list:
    """One resumable run per seed (each its own run dir); returns their summaries.

    ``build(seed)`` makes the model to train (a notebook's own layers); without it
    the step's model is built from ``models``.
    """
    if not seeds:
        raise models.ConfigError("seeds must name at least one seed, e.g. (0, 1, 2).")
    summaries = []
    for seed in seeds:
        if verbose:
            print(f"--- {name}, seed {seed}")
        model = build(seed) if build is not None else name
        run = train.fit(model, step=name, seed=seed, epochs=epochs, verbose=verbose)
        summaries.append(run.summary)
    return summaries


def table(summaries: list[dict]) -> str:
    """Per seed: the last epochs the rule looks at, their minimum, and the verdict."""
    recipe = recipe_of(summaries[0])
    last = recipe.hold_last or 1
    header = [
        "seed",
        "params",
        "epochs",
        f"last {last} epochs' val accuracy",
        "lowest",
        "best (epoch)",
        f"holds {recipe.target_accuracy:.2%}",
    ]
    rows = []
    for s in summaries:
        tail = s["val_accuracy_curve"][-last:]
        verdict = "yes" if not check_targets(s) else "no"
        if s["mode"] == "smoke":
            verdict = f"smoke run: {'learned' if verdict == 'yes' else 'did not learn'}"
        rows.append(
            [
                s["seed"],
                f"{s['params']:,}",
                s["epochs"],
                ", ".join(f"{v:.2%}" for v in tail),
                f"{min(tail):.2%}",
                f"{s['best_val_accuracy']:.2%} ({s['best_epoch']})",
                verdict,
            ]
        )
    return tables.markdown(header, rows, right=(0, 1, 2, 4))


def record(summaries: list[dict], notebook: str) -> dict:
    """What the seeds showed, saved beside the runs (the suite copies it to results/)."""
    first = summaries[0]
    rec = SeedsRecord(
        model=first["model"],
        notebook=notebook,
        mode=first["mode"],
        params=first["params"],
        target_accuracy=first["target_accuracy"],
        hold_last=recipe_of(first).hold_last,
        seeds={
            str(s["seed"]): SeedResult(
                val_accuracy_curve=s["val_accuracy_curve"],
                best_val_accuracy=s["best_val_accuracy"],
                best_epoch=s["best_epoch"],
                epochs=s["epochs"],
                seconds_per_epoch=s["seconds_per_epoch"],
                problems=check_targets(s),
            )
            for s in summaries
        },
        device=config.device_name(),
        versions=config.versions(),
    )
    root = Path(os.environ.get(train.RUNS_ENV, "runs"))
    smoke = "-smoke" if rec.mode == "smoke" else ""
    rec.save(root / f"{rec.model}{smoke}-seeds.json")
    return rec.to_json()


def verdict(summaries: list[dict], strict: bool | None = None) -> bool:
    """Print whether every seed met the rule (smoke runs: whether each learned); a
    miss raises only when strict (see ``results.report``)."""
    problems = [
        f"seed {s['seed']}: {'; '.join(check_targets(s))}"
        for s in summaries
        if check_targets(s)
    ]
    model = summaries[0]["model"]
    miss = f"{model}: does not hold: " + " | ".join(problems)
    smoke = summaries[0]["mode"] == "smoke"
    passed = f"{model}: {'smoke runs learned' if smoke else 'holds for every seed'}."
    return report(miss if problems else None, passed, strict)
