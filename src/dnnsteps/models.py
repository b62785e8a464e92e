"""The eight steps, each its notebook's model cell word for word (a test keeps the two
equal) so the CLI, the tests and the benchmark train the net a student reads, with recipes.
Every model takes raw pixels (0-255) and standardises them in its first layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import layers

from . import schedules
from .errors import DnnstepsError

INPUT_SHAPE = (28, 28, 1)


@dataclass(frozen=True)
class Recipe:
    """How a step is trained (the notebook's recipe cell) and what it must reach."""

    epochs: int
    batch_size: int = 128
    learning_rate: float = 0.001
    schedule: Callable[[int], float] | None = None  # epoch (from 0) -> rate; None: constant
    target: float = 0.0  # test accuracy to reach
    target_epoch: int | None = None  # ... by this epoch (from 1); None: by the last
    hold_last: int = 0  # ... and hold in each of the last N epochs


def dnn1() -> keras.Sequential:
    """A first all-convolutional net: 3x3 stacks, a max-pool and a 1x1, a conv output."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
            # Convolution block 1: edges and gradients
            layers.Conv2D(16, 3, use_bias=False),  # 26x26x16, RF 3
            layers.ReLU(),
            layers.Conv2D(32, 3, use_bias=False),  # 24x24x32, RF 5
            layers.ReLU(),
            # Transition block: halve the map, then merge 32 channels into 16
            layers.MaxPooling2D(2),  # 12x12x32, RF 6
            layers.Conv2D(16, 1, use_bias=False),  # 12x12x16, RF 6
            layers.ReLU(),
            # Convolution block 2: parts of digits
            layers.Conv2D(32, 3, use_bias=False),  # 10x10x32, RF 10
            layers.ReLU(),
            layers.Conv2D(64, 3, use_bias=False),  # 8x8x64, RF 14
            layers.ReLU(),
            layers.Conv2D(64, 3, use_bias=False),  # 6x6x64, RF 18
            layers.ReLU(),
            # Output block: 10 channels, then one 6x6 kernel per class, then softmax
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
            layers.ReLU(),
            layers.Conv2D(10, 6, use_bias=False),  # 1x1x10, RF 28
            layers.Flatten(),  # 10
            layers.Softmax(),
        ],
        name="dnn1",
    )


def dnn2() -> keras.Sequential:
    """DNN1 with more kernels after the max-pool, where they are cheap to run."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
            # Convolution block 1: edges and gradients
            layers.Conv2D(16, 3, use_bias=False),  # 26x26x16, RF 3
            layers.ReLU(),
            layers.Conv2D(32, 3, use_bias=False),  # 24x24x32, RF 5
            layers.ReLU(),
            # Transition block: halve the map, then merge 32 channels into 16
            layers.MaxPooling2D(2),  # 12x12x32, RF 6
            layers.Conv2D(16, 1, use_bias=False),  # 12x12x16, RF 6
            layers.ReLU(),
            # Convolution block 2: parts of digits, with 64, 96 and 128 kernels
            layers.Conv2D(64, 3, use_bias=False),  # 10x10x64, RF 10
            layers.ReLU(),
            layers.Conv2D(96, 3, use_bias=False),  # 8x8x96, RF 14
            layers.ReLU(),
            layers.Conv2D(128, 3, use_bias=False),  # 6x6x128, RF 18
            layers.ReLU(),
            # Output block: 10 channels, then one 6x6 kernel per class, then softmax
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
            layers.ReLU(),
            layers.Conv2D(10, 6, use_bias=False),  # 1x1x10, RF 28
            layers.Flatten(),  # 10
            layers.Softmax(),
        ],
        name="dnn2",
    )


def dnn3() -> keras.Sequential:
    """The same skeleton with about a sixth of DNN1's kernels."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
            # Convolution block 1: edges and gradients
            layers.Conv2D(8, 3, use_bias=False),  # 26x26x8, RF 3
            layers.ReLU(),
            layers.Conv2D(16, 3, use_bias=False),  # 24x24x16, RF 5
            layers.ReLU(),
            # Transition block: halve the map, then merge 16 channels into 8
            layers.MaxPooling2D(2),  # 12x12x16, RF 6
            layers.Conv2D(8, 1, use_bias=False),  # 12x12x8, RF 6
            layers.ReLU(),
            # Convolution block 2: parts of digits, 16 kernels per layer
            layers.Conv2D(16, 3, use_bias=False),  # 10x10x16, RF 10
            layers.ReLU(),
            layers.Conv2D(16, 3, use_bias=False),  # 8x8x16, RF 14
            layers.ReLU(),
            layers.Conv2D(16, 3, use_bias=False),  # 6x6x16, RF 18
            layers.ReLU(),
            # Output block: 10 channels, then one 6x6 kernel per class, then softmax
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
            layers.ReLU(),
            layers.Conv2D(10, 6, use_bias=False),  # 1x1x10, RF 28
            layers.Flatten(),  # 10
            layers.Softmax(),
        ],
        name="dnn3",
    )


def dnn4() -> keras.Sequential:
    """DNN3 with batch norm after every convolution but the 6x6 output kernel."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
            # Convolution block 1: edges and gradients
            layers.Conv2D(8, 3, use_bias=False),  # 26x26x8, RF 3
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(16, 3, use_bias=False),  # 24x24x16, RF 5
            layers.BatchNormalization(),
            layers.ReLU(),
            # Transition block: halve the map, then merge 16 channels into 8
            layers.MaxPooling2D(2),  # 12x12x16, RF 6
            layers.Conv2D(8, 1, use_bias=False),  # 12x12x8, RF 6
            layers.BatchNormalization(),
            layers.ReLU(),
            # Convolution block 2: parts of digits
            layers.Conv2D(16, 3, use_bias=False),  # 10x10x16, RF 10
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(16, 3, use_bias=False),  # 8x8x16, RF 14
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(16, 3, use_bias=False),  # 6x6x16, RF 18
            layers.BatchNormalization(),
            layers.ReLU(),
            # Output block: 10 channels, then one 6x6 kernel per class, then softmax
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(10, 6, use_bias=False),  # 1x1x10, RF 28
            layers.Flatten(),  # 10
            layers.Softmax(),
        ],
        name="dnn4",
    )


def dnn5() -> keras.Sequential:
    """Global average pooling instead of the 6x6 kernel; the freed budget becomes kernels."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
            # Convolution block 1: edges and gradients
            layers.Conv2D(10, 3, use_bias=False),  # 26x26x10, RF 3
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(20, 3, use_bias=False),  # 24x24x20, RF 5
            layers.BatchNormalization(),
            layers.ReLU(),
            # Transition block: halve the map, then merge 20 channels into 10
            layers.MaxPooling2D(2),  # 12x12x20, RF 6
            layers.Conv2D(10, 1, use_bias=False),  # 12x12x10, RF 6
            layers.BatchNormalization(),
            layers.ReLU(),
            # Convolution block 2: parts of digits, with the most kernels at the end
            layers.Conv2D(20, 3, use_bias=False),  # 10x10x20, RF 10
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(28, 3, use_bias=False),  # 8x8x28, RF 14
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(32, 3, use_bias=False),  # 6x6x32, RF 18
            layers.BatchNormalization(),
            layers.ReLU(),
            # Output block: 10 class maps, the mean of each, softmax
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
            layers.GlobalAveragePooling2D(),  # 10, RF 28
            layers.Softmax(),
        ],
        name="dnn5",
    )


def dnn6() -> keras.Sequential:
    """DNN5 with 10% dropout after every block but the output."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
            # Convolution block 1: edges and gradients
            layers.Conv2D(10, 3, use_bias=False),  # 26x26x10, RF 3
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            layers.Conv2D(20, 3, use_bias=False),  # 24x24x20, RF 5
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            # Transition block: halve the map, then merge 20 channels into 10
            layers.MaxPooling2D(2),  # 12x12x20, RF 6
            layers.Conv2D(10, 1, use_bias=False),  # 12x12x10, RF 6
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            # Convolution block 2: parts of digits
            layers.Conv2D(20, 3, use_bias=False),  # 10x10x20, RF 10
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            layers.Conv2D(28, 3, use_bias=False),  # 8x8x28, RF 14
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            layers.Conv2D(32, 3, use_bias=False),  # 6x6x32, RF 18
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            # Output block: 10 class maps, the mean of each, softmax
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
            layers.GlobalAveragePooling2D(),  # 10, RF 28
            layers.Softmax(),
        ],
        name="dnn6",
    )


def dnn7() -> keras.Sequential:
    """DNN6's net, unchanged: DNN7 changes only how it is trained."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
            # Convolution block 1: edges and gradients
            layers.Conv2D(10, 3, use_bias=False),  # 26x26x10, RF 3
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            layers.Conv2D(20, 3, use_bias=False),  # 24x24x20, RF 5
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            # Transition block: halve the map, then merge 20 channels into 10
            layers.MaxPooling2D(2),  # 12x12x20, RF 6
            layers.Conv2D(10, 1, use_bias=False),  # 12x12x10, RF 6
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            # Convolution block 2: parts of digits
            layers.Conv2D(20, 3, use_bias=False),  # 10x10x20, RF 10
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            layers.Conv2D(28, 3, use_bias=False),  # 8x8x28, RF 14
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            layers.Conv2D(32, 3, use_bias=False),  # 6x6x32, RF 18
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.1),
            # Output block: 10 class maps, the mean of each, softmax
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
            layers.GlobalAveragePooling2D(),  # 10, RF 28
            layers.Softmax(),
        ],
        name="dnn7",
    )


def dnn8() -> keras.Sequential:
    """The assignment's net: 7,560 parameters, a lean first block, 5% dropout."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
            # Convolution block 1, lean: no batch norm on the 26x26 and 24x24 maps
            layers.Conv2D(8, 3, use_bias=False),  # 26x26x8, RF 3
            layers.ReLU(),
            layers.Conv2D(16, 3, use_bias=False),  # 24x24x16, RF 5
            # Transition block: pool first, then normalise the 12x12 map, merge
            layers.MaxPooling2D(2),  # 12x12x16, RF 6
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(8, 1, use_bias=False),  # 12x12x8, RF 6
            layers.BatchNormalization(),
            layers.ReLU(),
            # Convolution block 2: parts of digits
            layers.Conv2D(16, 3, use_bias=False),  # 10x10x16, RF 10
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.05),
            layers.Conv2D(16, 3, use_bias=False),  # 8x8x16, RF 14
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.05),
            layers.Conv2D(16, 3, use_bias=False),  # 6x6x16, RF 18
            layers.BatchNormalization(),
            layers.ReLU(),
            # Output block: 10 class maps, the mean of each, softmax
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
            layers.GlobalAveragePooling2D(),  # 10, RF 28
            layers.Softmax(),
        ],
        name="dnn8",
    )


def code9() -> keras.Sequential:
    """CODE9's starter: under budget, no batch norm; the student's to improve."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
            # Convolution block 1: edges and gradients
            layers.Conv2D(8, 3, use_bias=False),  # 26x26x8, RF 3
            layers.ReLU(),
            layers.Conv2D(12, 3, use_bias=False),  # 24x24x12, RF 5
            layers.ReLU(),
            # Transition block: halve the map, then merge 12 channels into 8
            layers.MaxPooling2D(2),  # 12x12x12, RF 6
            layers.Conv2D(8, 1, use_bias=False),  # 12x12x8, RF 6
            layers.ReLU(),
            # Convolution block 2: parts of digits
            layers.Conv2D(12, 3, use_bias=False),  # 10x10x12, RF 10
            layers.ReLU(),
            layers.Conv2D(16, 3, use_bias=False),  # 8x8x16, RF 14
            layers.ReLU(),
            layers.Conv2D(16, 3, use_bias=False),  # 6x6x16, RF 18
            layers.ReLU(),
            # Output block: 10 class maps, the mean of each, softmax
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
            layers.GlobalAveragePooling2D(),  # 10, RF 28
            layers.Softmax(),
        ],
        name="code9",
    )


RECIPES: dict[str, Recipe] = {
    "dnn1": Recipe(epochs=3, target=0.9828),
    "dnn2": Recipe(epochs=15, target=0.9918),
    "dnn3": Recipe(epochs=10, target=0.9884),
    "dnn4": Recipe(epochs=10, target=0.9897),
    "dnn5": Recipe(epochs=10, target=0.9905),
    "dnn6": Recipe(epochs=21, target=0.9940),
    "dnn7": Recipe(epochs=15, learning_rate=0.003, target=0.9942, target_epoch=14,
                   schedule=schedules.inverse_time(0.003, decay=0.319)),
    "dnn8": Recipe(epochs=15, learning_rate=0.01, target=0.9940, hold_last=3,
                   schedule=schedules.one_cycle(peak=0.01, epochs=15, tail=5)),
    "code9": Recipe(epochs=20, target=0.9940),
}  # fmt: skip
NAMES = tuple(RECIPES)
_BUILDERS = {f.__name__: f for f in (dnn1, dnn2, dnn3, dnn4, dnn5, dnn6, dnn7, dnn8, code9)}


def get(name: str) -> tuple[Callable[[], keras.Sequential], Recipe]:
    """The step's model function and recipe; an unknown name lists the known ones."""
    key = str(name).strip().lower()
    if key not in RECIPES:
        raise DnnstepsError(f"unknown step {name!r}; choose one of: {', '.join(NAMES)}.")
    return _BUILDERS[key], RECIPES[key]


def build(name: str, seed: int | None = None) -> keras.Sequential:
    """Step ``name``'s model; with ``seed``, the initial weights its notebook gets (it seeds
    Keras for the process, as the notebook's model cell visibly does)."""
    make, _ = get(name)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    return make()
