"""The training images in batches, in an order drawn from ``(seed, epoch)`` alone (not
from each Keras version's shuffle), so a resumed epoch sees the order it would have had."""

from __future__ import annotations

import math

import keras
import numpy as np


class Batches(keras.utils.PyDataset):
    """``model.fit(Batches(x, y, batch_size=128, seed=SEED), shuffle=False)``: Keras's own
    shuffle of a PyDataset uses Python's global generator, which a resume cannot restore."""

    def __init__(self, x, y, batch_size: int, seed: int):
        super().__init__()
        if len(x) != len(y) or len(y) == 0 or batch_size < 1:
            raise ValueError(f"Batches needs as many images as labels, at least one, and a batch "
                             f"size of 1 or more (got {len(x)} images, {len(y)} labels, "
                             f"batch_size={batch_size}).")  # fmt: skip
        self.x, self.y = np.asarray(x), np.asarray(y)
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.epoch = 0  # the epoch the next pass serves; resumable sets it on a resume
        self._order = self.order(0)
        self.served: list[int] = []  # the batches asked for in this pass, in order

    def order(self, epoch: int) -> np.ndarray:
        """The order of the images in ``epoch`` (from 0): a function of seed and epoch."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.y))

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, index: int):
        self.served.append(index)
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_begin(self):
        # Keras calls this once per pass, after the callbacks' on_epoch_begin.
        self._order = self.order(self.epoch)
        self.epoch += 1
        self.served = []

    def in_order(self) -> bool:
        """Whether this pass asked for the batches in order (``fit(shuffle=False)``)."""
        return self.served == list(range(len(self.served)))
