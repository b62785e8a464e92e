"""The eight steps: each architecture with its training recipe, in one place.

Notebooks, the CLI, the tests and the benchmark all read ``STEPS``, so a
figure shown in one place cannot drift from the others. Every step keeps the
same skeleton (two 3x3 convs, max-pool + 1x1 transition, three 3x3 convs,
output block) so exactly one thing changes from one step to the next.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import keras

from . import schedules
from .blocks import (
    conv_block,
    output_block,
    pooled_conv_block,
    transition_block,
    validate_kind,
    validate_rate,
)
from .errors import ConfigError, is_integer, is_number

INPUT_SHAPE = (28, 28, 1)
BLOCKS = ("c1", "c2", "t1", "c3", "c4", "c5")  # every block but the output block
AFTER_THE_POOL = ("c3", "c4")


@dataclass(frozen=True)
class Recipe:
    """How a step is trained and what it must reach."""

    epochs: int
    target_accuracy: float
    target_epoch: int | None = None  # reach the target by this (1-based) epoch
    hold_last: int = 0  # the target must hold in each of the last N epochs
    batch_size: int = 128
    learning_rate: float = 0.001
    schedule: str = "constant"
    schedule_args: dict = field(default_factory=dict)
    dropout: float = 0.0
    dropout_kind: str = "dropout"
    augment: bool = False
    label_smoothing: float = 0.0

    def __post_init__(self):
        if not is_integer(self.hold_last):
            raise ConfigError(f"hold_last must be an integer, got {self.hold_last!r}.")
        if self.hold_last < 0:
            raise ConfigError(f"hold_last must be >= 0, got {self.hold_last}.")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not is_integer(value) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
        lr = self.learning_rate
        if not is_number(lr) or not 0 < lr < 10:
            raise ConfigError(f"learning_rate must be a number in (0, 10), got {lr!r}.")
        validate_rate(self.dropout)
        validate_kind(self.dropout_kind)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(
                f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}."
            )
        if self.schedule not in schedules.NAMES:
            raise ConfigError(
                f"unknown schedule {self.schedule!r}; choose one of {schedules.NAMES}."
            )

    def lr_schedule(self) -> schedules.Schedule:
        return schedules.make(
            self.schedule, self.learning_rate, self.epochs, **self.schedule_args
        )


@dataclass(frozen=True)
class Step:
    """One notebook's model: what it changes, how it is built, how it is trained."""

    name: str
    title: str
    changes: str
    widths: tuple[int, int, int, int, int, int]
    recipe: Recipe
    batch_norm: bool = True
    gap_output: bool = False
    use_bias: bool = False
    lean_stem: bool = False  # c1 without BN, c2 pooled before its BN: see skeleton()
    dropout_after: tuple[str, ...] = AFTER_THE_POOL  # blocks followed by dropout

    def build(self, recipe: Recipe | None = None) -> keras.Model:
        recipe = recipe or self.recipe
        return skeleton(
            self.widths,
            name=self.name,
            batch_norm=self.batch_norm,
            dropout=recipe.dropout,
            dropout_kind=recipe.dropout_kind,
            gap_output=self.gap_output,
            use_bias=self.use_bias,
            augment=recipe.augment,
            lean_stem=self.lean_stem,
            dropout_after=self.dropout_after,
        )


def augmentation_layers():
    """Small rotations and shifts: digits stay readable, the net sees more variety."""
    return [
        keras.layers.RandomRotation(7 / 360, fill_mode="constant", name="aug_rotate"),
        keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", name="aug_shift"),
    ]


def skeleton(
    widths,
    *,
    name: str,
    batch_norm: bool,
    dropout: float = 0.0,
    dropout_kind: str = "dropout",
    gap_output: bool = False,
    use_bias: bool = False,
    augment: bool = False,
    lean_stem: bool = False,
    dropout_after: tuple[str, ...] = AFTER_THE_POOL,
) -> keras.Model:
    """28 -> [3x3 c1] 26 -> [3x3 c2] 24 -> [pool, 1x1 t] 12 -> [3x3 c3] 10
    -> [3x3 c4] 8 -> [3x3 c5] 6 -> output block -> 10 class probabilities.

    ``lean_stem`` keeps batch norm off the 26x26 and 24x24 maps, where its
    element-wise work costs more time than the convolutions: c1 is conv -> ReLU,
    and c2 max-pools straight after its conv, before BN and ReLU. The receptive
    fields stay the same, and on a CPU an epoch takes about 40% less time.
    """
    if len(widths) != 6 or any(int(w) < 1 for w in widths):
        raise ConfigError(f"widths must be six positive channel counts, got {widths!r}.")
    unknown = set(dropout_after) - set(BLOCKS)
    if unknown:
        raise ConfigError(
            f"dropout_after names unknown blocks {sorted(unknown)}; blocks: {BLOCKS}."
        )
    c1, c2, t, c3, c4, c5 = widths
    kw = dict(batch_norm=batch_norm, use_bias=use_bias)

    def drop(block):
        rate = dropout if block in dropout_after else 0.0
        return dict(dropout=rate, dropout_kind=dropout_kind)

    layers = [keras.Input(INPUT_SHAPE, name="image")]
    if augment:
        layers += augmentation_layers()
    if lean_stem:
        stem = [
            *conv_block(c1, name="c1", use_bias=use_bias, **drop("c1")),
            *pooled_conv_block(c2, name="c2", **kw, **drop("c2")),
            *conv_block(t, 1, name="t1", **kw, **drop("t1")),
        ]
    else:
        stem = [
            *conv_block(c1, name="c1", **kw, **drop("c1")),
            *conv_block(c2, name="c2", **kw, **drop("c2")),
            *transition_block(t, name="t1", **kw, **drop("t1")),
        ]
    layers += [
        *stem,
        *conv_block(c3, name="c3", **kw, **drop("c3")),
        *conv_block(c4, name="c4", **kw, **drop("c4")),
        *conv_block(c5, name="c5", **kw, **drop("c5")),
        *output_block(None if gap_output else 6, **kw),
    ]
    return keras.Sequential(layers, name=name)


# Warm up from 0.001 to 0.01 over the first quarter, then anneal along a cosine to
# 0.0001: big steps while the net is far from a minimum, tiny ones at the end.
# DNN5-DNN7 share one architecture: GAP output, the last 3x3 layers widened.
_GAP_WIDTHS = (10, 20, 10, 20, 28, 32)

_ONE_CYCLE = dict(learning_rate=0.01, schedule="one_cycle")

STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step(
            "dnn1",
            "First all-convolutional network",
            "A plain stack of 3x3 convolutions, one max-pool with a 1x1 merge, and a "
            "conv output layer: no fully connected layer at all.",
            widths=(16, 32, 16, 32, 64, 64),
            batch_norm=False,
            recipe=Recipe(epochs=3, target_accuracy=0.9828),
        ),
        Step(
            "dnn2",
            "More capacity",
            "Wider layers after the max-pool (where they are cheap to run): does "
            "capacity buy accuracy?",
            widths=(16, 32, 16, 64, 96, 128),
            batch_norm=False,
            recipe=Recipe(epochs=15, target_accuracy=0.9918),
        ),
        Step(
            "dnn3",
            "Far fewer parameters",
            "The same skeleton with about a sixth of the kernels: how much accuracy "
            "do 170k parameters really buy?",
            widths=(8, 16, 8, 16, 16, 16),
            batch_norm=False,
            recipe=Recipe(epochs=10, target_accuracy=0.9884),
        ),
        Step(
            "dnn4",
            "Batch normalisation",
            "Batch norm after every convolution but the last: each layer sees "
            "inputs of a steady scale, so the small net trains faster and further.",
            widths=(8, 16, 8, 16, 16, 16),
            recipe=Recipe(epochs=10, target_accuracy=0.9897),
        ),
        Step(
            "dnn5",
            "More kernels within budget",
            "Spend the 20k budget on kernels, not on the output: the 6x6 output "
            "convolution (3,600 parameters, a fully connected layer in disguise) "
            "becomes global average pooling (none), and the parameters it frees "
            "become kernels in the last 3x3 layers. Validation every epoch now "
            "shows the train/test gap.",
            widths=_GAP_WIDTHS,
            gap_output=True,
            recipe=Recipe(epochs=10, target_accuracy=0.9905),
        ),
        Step(
            "dnn6",
            "Dropout",
            "Dropout (10%) after every block but the output, as in the course, "
            "against the train/test gap; the same parameters and a constant rate.",
            widths=_GAP_WIDTHS,
            gap_output=True,
            dropout_after=BLOCKS,
            recipe=Recipe(epochs=21, target_accuracy=0.9940, dropout=0.1),
        ),
        Step(
            "dnn7",
            "Learning-rate schedule",
            "The course's decay, 0.003 / (1 + 0.319 * epoch): large steps early, "
            "smaller ones as the net settles; the same net as DNN6.",
            widths=_GAP_WIDTHS,
            gap_output=True,
            dropout_after=BLOCKS,
            recipe=Recipe(
                epochs=15,
                target_accuracy=0.9942,
                target_epoch=14,
                dropout=0.1,
                learning_rate=0.003,
                schedule="inverse_time",
                schedule_args={"decay": 0.319},
            ),
        ),
        Step(
            "dnn8",
            "The assignment: under 15k parameters",
            "Trimmed to 7,560 parameters where trimming also saves work (a lean stem "
            "and 16 kernels in the last two 3x3 layers); 5% dropout after the pool; "
            "batches of 64 and a one-cycle schedule whose last 3 epochs run at its "
            "floor rate, so the target holds instead of peaking once.",
            widths=(8, 16, 8, 16, 16, 16),
            gap_output=True,
            lean_stem=True,
            recipe=Recipe(
                epochs=15,
                target_accuracy=0.9940,
                hold_last=3,
                batch_size=64,
                dropout=0.05,
                schedule_args={"tail": 3},
                **_ONE_CYCLE,
            ),
        ),
    )
}
NAMES = tuple(STEPS)


def get_step(name: str) -> Step:
    """The step called ``name``; an unknown name lists what exists."""
    key = str(name).strip().lower()
    found = STEPS.get(key)
    if found is None:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(NAMES)}.")
    return found


def recipe(name: str, **overrides) -> Recipe:
    """The step's recipe with ``overrides`` (validated: bad values raise ConfigError)."""
    base = get_step(name).recipe
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Recipe)}
    if unknown:
        raise ConfigError(
            f"unknown recipe setting(s) {sorted(unknown)}; "
            f"known: {[f.name for f in dataclasses.fields(Recipe)]}."
        )
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(base, **overrides)


def build(name: str, seed: int | None = None, **overrides) -> keras.Model:
    """Build step ``name`` (e.g. ``"dnn8"``); recipe overrides such as ``dropout=0.1``.

    ``seed`` fixes the initial weights (the same seed ``train.fit`` takes).
    """
    step = get_step(name)
    chosen = recipe(name, **overrides)
    if seed is not None:
        from .config import default_strategy, seed_everything

        seed_everything(seed)
        with default_strategy().scope():
            return step.build(chosen)
    return step.build(chosen)
