"""The course assignment as data, a checker, and the submission report.

Rules: fewer than 15,000 parameters, no fully connected layer, no convolution
bias, and at least 99.4% validation (test) accuracy within 20 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

MAX_PARAMS = 15_000
TARGET_ACCURACY = 0.994
MAX_EPOCHS = 20


@dataclass(frozen=True)
class RuleResult:
    rule: str
    required: str
    actual: str
    passed: bool


def _val_accuracy(history) -> list[float]:
    if isinstance(history, keras.callbacks.History):
        history = history.history
    if isinstance(history, dict):
        return list(history.get("val_accuracy", []))
    return [float(v) for v in history]


def check(model, history) -> list[RuleResult]:
    """One row per rule; ``history`` is a Keras History, its dict, or val accuracies."""
    params = int(model.count_params())
    dense = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    biased = [
        layer.name
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
        and layer.use_bias
    ]
    val = _val_accuracy(history)
    within = val[:MAX_EPOCHS]
    best = max(within) if within else None
    first = next((i + 1 for i, v in enumerate(within) if v >= TARGET_ACCURACY), None)
    reached = (
        f"{best:.2%} best"
        + (f", {TARGET_ACCURACY:.1%} first at epoch {first}" if first else "")
        if best is not None
        else "no validation accuracy recorded"
    )
    return [
        RuleResult("parameters", f"< {MAX_PARAMS:,}", f"{params:,}", params < MAX_PARAMS),
        RuleResult("fully connected layers", "none", ", ".join(dense) or "none", not dense),
        RuleResult("convolution biases", "none", ", ".join(biased) or "none", not biased),
        RuleResult(
            "validation accuracy",
            f">= {TARGET_ACCURACY:.1%} within {MAX_EPOCHS} epochs",
            reached,
            first is not None,
        ),
    ]


def passed(results) -> bool:
    return all(r.passed for r in results)


def format_table(results) -> str:
    """A Markdown table: rule | required | actual | passed."""
    lines = ["| rule | required | actual | passed |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {r.rule} | {r.required} | {r.actual} | {'yes' if r.passed else 'NO'} |"
        for r in results
    ]
    return "\n".join(lines)


def report(model, history_rows, evaluation, strategy: str, title: str = "") -> str:
    """The README a student hands in: strategy, rules, every epoch, test evaluation.

    ``history_rows`` are the run's epoch log rows; ``evaluation`` is
    ``model.evaluate(..., return_dict=True)`` on the 10k test set.
    """
    from .train import format_epoch

    results = check(model, [r["val_accuracy"] for r in history_rows])
    total = len(history_rows)
    logs = "\n".join(format_epoch(r, total) for r in history_rows)
    evaluated = ", ".join(f"{k}: {float(v):.4f}" for k, v in evaluation.items())
    verdict = "meets every rule" if passed(results) else "does NOT meet every rule"
    return f"""# {title or model.name}: MNIST assignment submission

The model {verdict} of the assignment.

## Strategy
{strategy.strip()}

## Rules
{format_table(results)}

## Parameters
Total parameters: {model.count_params():,}

## Test-set evaluation (`model.evaluate` on the 10,000 MNIST test images)
{evaluated}

## Training log (one line per epoch)
```
{logs}
```
"""
