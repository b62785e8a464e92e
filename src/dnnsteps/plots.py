"""Figures for the notebooks: each function returns the figure and can save a PNG."""

from __future__ import annotations

import keras
import matplotlib.pyplot as plt
import numpy as np

from .errors import DnnstepsError


def _finish(fig, save):
    fig.tight_layout()
    if save:
        fig.savefig(save, dpi=100)
    return fig


def _history_dict(history) -> dict:
    """A Keras History, its ``.history`` dict, or log rows, as ``{metric: [per epoch]}``."""
    history = getattr(history, "history", history)
    if isinstance(history, dict):
        return history
    rows = list(history)
    return {k: [r[k] for r in rows] for k in (rows[0] if rows else {})}


def _after_first(values) -> list:
    """The epochs after the first (all when there is one), to set a y limit from: the
    first epoch's poor figure would squash the later epoch-to-epoch swings flat."""
    return list(values[1:]) or list(values)


def training_curves(history, title: str = "", save=None):
    """Loss and accuracy, train vs validation, per epoch.

    ``history``: a Keras History, its dict, or log rows. The y-axes are set from the
    epochs after the first (with a small margin), so the first epoch's low accuracy
    and high loss run off the chart and the later swings stay visible.
    """
    h = _history_dict(history)
    epochs = np.arange(1, len(h["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.plot(epochs, h[metric], "o-", label="train")
        ax.plot(epochs, h[f"val_{metric}"], "o-", label="validation")
        ax.set(
            xlabel="epoch (y axis fits epochs 2+)", ylabel=metric, title=metric.capitalize()
        )
        ax.grid(alpha=0.3)
        ax.legend()
    loss = [max(p) for p in zip(h["loss"], h["val_loss"])]
    ax_loss.set_ylim(0, max(_after_first(loss)) * 1.1)
    acc = [min(p) for p in zip(h["accuracy"], h["val_accuracy"])]
    ax_acc.set_ylim(min(_after_first(acc)) - 0.002, None)
    if title:
        fig.suptitle(title)
    return _finish(fig, save)


def predictions(model, x, batch_size: int = 512) -> np.ndarray:
    return np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=1)


def misclassified(model, x, y, count: int = 24, save=None):
    """A grid of wrongly classified digits, titled true -> predicted."""
    pred = predictions(model, x)
    wrong = np.flatnonzero(pred != y)[:count]
    cols = 8
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.4))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, i in zip(np.ravel(axes), wrong):
        ax.imshow(np.squeeze(x[i]), cmap="gray_r")
        ax.set_title(f"{y[i]} -> {pred[i]}", fontsize=9)
    fig.suptitle(
        f"{int((pred != y).sum())} of {len(y)} test digits misclassified (true -> predicted)"
    )
    return _finish(fig, save)


def confusion_matrix(model, x, y, save=None):
    """10x10 counts of true vs predicted class (diagonal = correct)."""
    pred = predictions(model, x)
    matrix = np.zeros((10, 10), dtype=int)
    np.add.at(matrix, (np.asarray(y), pred), 1)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(np.log1p(matrix), cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        if n:
            ax.text(j, i, n, ha="center", va="center", fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    ax.set(xticks=range(10), yticks=range(10))
    return _finish(fig, save)


def first_layer_kernels(model, save=None):
    """The first convolution's 3x3 kernels: the edge and blob detectors it learned."""
    conv = next((x for x in model.layers if isinstance(x, keras.layers.Conv2D)), None)
    if conv is None:
        raise DnnstepsError(f"{model.name} has no Conv2D layer.")
    kernel = np.asarray(conv.kernel)  # (k, k, cin, cout)
    count = kernel.shape[-1]
    fig, axes = plt.subplots(1, count, figsize=(count * 0.9, 1.3))
    for i, ax in enumerate(np.ravel(axes)):
        ax.imshow(kernel[:, :, 0, i], cmap="RdBu_r")
        ax.axis("off")
    fig.suptitle("First-layer kernels")
    return _finish(fig, save)


def feature_maps(model, image, layers: int = 4, per_layer: int = 8, save=None):
    """What one digit (raw pixels, as the model takes them) looks like after each of
    the first few ReLUs (ReLU layers or layers with a relu activation)."""
    relu = keras.activations.relu
    convs = [
        x
        for x in model.layers
        if isinstance(x, keras.layers.ReLU) or getattr(x, "activation", None) is relu
    ][:layers]
    if not convs:
        raise DnnstepsError(f"{model.name} has no ReLU whose output could be shown.")
    probe = keras.Model(model.inputs, [layer.output for layer in convs])
    outputs = probe.predict(np.asarray(image)[None], verbose=0)
    if not isinstance(outputs, list):
        outputs = [outputs]
    fig, axes = plt.subplots(
        len(outputs), per_layer + 1, figsize=((per_layer + 1) * 1.1, len(outputs) * 1.2)
    )
    axes = np.atleast_2d(axes)
    for row, (layer, maps) in enumerate(zip(convs, outputs)):
        axes[row, 0].imshow(np.squeeze(image), cmap="gray_r")
        axes[row, 0].set_ylabel(layer.name, fontsize=8)
        for col in range(per_layer + 1):
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
        for col in range(min(per_layer, maps.shape[-1])):
            axes[row, col + 1].imshow(maps[0, :, :, col], cmap="viridis")
        axes[row, 0].set_title(f"{maps.shape[1]}x{maps.shape[2]}", fontsize=8)
    fig.suptitle("Feature maps of one digit, layer by layer")
    return _finish(fig, save)


def images(pictures, titles=(), cmap: str = "gray_r", size: float = 1.6, save=None):
    """A row of 2-D arrays side by side (digits, filtered digits, kernels)."""
    pictures = [np.squeeze(np.asarray(p)) for p in pictures]
    fig, axes = plt.subplots(1, len(pictures), figsize=(size * len(pictures), size + 0.4))
    for i, (ax, picture) in enumerate(zip(np.atleast_1d(axes), pictures)):
        ax.imshow(picture, cmap=cmap)
        ax.set_xticks([])
        ax.set_yticks([])
        if i < len(titles):
            ax.set_title(titles[i], fontsize=9)
    return _finish(fig, save)


def seed_curves(curves: dict, target: float | None = None, save=None):
    """Validation accuracy per epoch, one line per seed (``{seed: [val_accuracy, ...]}``):
    does the target *hold* whatever the initial weights and batch order?"""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for seed, val in curves.items():
        ax.plot(
            range(1, len(val) + 1), [100 * v for v in val], "o-", ms=3, label=f"seed {seed}"
        )
    if target is not None:
        ax.axhline(100 * target, color="grey", ls="--", lw=1, label=f"{target:.2%}")
    ax.set(xlabel="epoch", ylabel="val accuracy (%)", title="Validation accuracy per seed")
    ax.set_ylim(bottom=100 * min(min(_after_first(v)) - 0.002 for v in curves.values()))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _finish(fig, save)
