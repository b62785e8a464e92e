"""Learning-rate schedules as plain ``epoch -> lr`` functions (epoch from 0), as
``LearningRateScheduler`` takes them: a resumed run gets the rate it would have had."""

from __future__ import annotations

import math
from collections.abc import Callable

from .errors import DnnstepsError, is_integer, is_number

Schedule = Callable[[int], float]


def _positive(name: str, value) -> float:
    if not is_number(value) or not value > 0:
        raise DnnstepsError(f"{name} must be a positive number, got {value!r}.")
    if not math.isfinite(value):
        raise DnnstepsError(f"{name} must be finite, got {value!r}.")
    return float(value)


def _non_negative(name: str, value) -> float:
    if not is_number(value) or not value >= 0:
        raise DnnstepsError(f"{name} must be a number >= 0, got {value!r}.")
    return float(value)


def _integer(name: str, value, minimum: int = 0) -> int:
    if not is_integer(value) or value < minimum:
        raise DnnstepsError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def constant(lr: float = 0.001) -> Schedule:
    lr = _positive("learning rate", lr)

    def schedule(epoch: int) -> float:
        _integer("epoch", epoch)
        return lr

    return schedule


def inverse_time(lr0: float = 0.003, decay: float = 0.319) -> Schedule:
    """DNN7's decay: ``round(lr0 / (1 + decay * epoch), 10)``; fast early, gentle late."""
    lr0 = _positive("lr0", lr0)
    decay = _non_negative("decay", decay)
    return lambda epoch: round(lr0 / (1.0 + decay * _integer("epoch", epoch)), 10)


def one_cycle(
    peak: float = 0.01,
    epochs: int = 15,
    warmup: float = 0.25,
    start_div: float = 10.0,
    end_div: float = 100.0,
    tail: int = 0,
) -> Schedule:
    """Warm up to ``peak``, cosine-anneal to ``peak / end_div``; the last ``tail`` epochs
    stay there, so they measure a settled net."""
    peak = _positive("peak", peak)
    epochs = _integer("epochs", epochs, 1) - _integer("tail", tail)
    epochs = max(1, epochs)  # a short (smoke) run keeps at least one cycle epoch
    if not 0.0 <= warmup < 1.0:
        raise DnnstepsError(f"warmup must be a fraction in [0, 1), got {warmup!r}.")
    start_div = _positive("start_div", start_div)
    end_div = _positive("end_div", end_div)
    warm_epochs = max(1, round(warmup * epochs)) if warmup > 0 else 0

    def lr(epoch: int) -> float:
        epoch = min(_integer("epoch", epoch), epochs - 1)
        if epoch < warm_epochs:
            start = peak / start_div
            return start + (peak - start) * epoch / warm_epochs
        span = max(1, epochs - 1 - warm_epochs)
        progress = (epoch - warm_epochs) / span
        low = peak / end_div
        return low + (peak - low) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return lr


def table(schedule: Schedule, epochs: int) -> list[tuple[int, float]]:
    """(epoch, lr) pairs, for printing or plotting."""
    return [(e, schedule(e)) for e in range(epochs)]
