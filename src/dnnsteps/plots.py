"""Figures for the notebooks: each function returns the figure and can save a PNG."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def _finish(fig, save):
    fig.tight_layout()
    if save:
        fig.savefig(save, dpi=100)
    return fig


def _history_dict(history):
    return history.history if hasattr(history, "history") else dict(history)


def training_curves(history, title: str = "", save=None):
    """Loss and accuracy, train vs validation, per epoch."""
    h = _history_dict(history)
    epochs = np.arange(1, len(h["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_loss.plot(epochs, h["loss"], "o-", label="train")
    ax_loss.plot(epochs, h["val_loss"], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_acc.plot(epochs, h["accuracy"], "o-", label="train")
    ax_acc.plot(epochs, h["val_accuracy"], "o-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
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
    for i in range(10):
        for j in range(10):
            if matrix[i, j]:
                ax.text(j, i, matrix[i, j], ha="center", va="center", fontsize=7)
    ax.set(
        xlabel="predicted",
        ylabel="true",
        xticks=range(10),
        yticks=range(10),
        title="Confusion matrix",
    )
    return _finish(fig, save)


def _first_conv(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            return layer
    raise ValueError(f"{model.name} has no Conv2D layer.")


def first_layer_kernels(model, save=None):
    """The first convolution's 3x3 kernels: the edge and blob detectors it learned."""
    kernel = np.asarray(_first_conv(model).kernel)  # (k, k, cin, cout)
    count = kernel.shape[-1]
    fig, axes = plt.subplots(1, count, figsize=(count * 0.9, 1.3))
    for i, ax in enumerate(np.ravel(axes)):
        ax.imshow(kernel[:, :, 0, i], cmap="RdBu_r")
        ax.axis("off")
    fig.suptitle("First-layer kernels")
    return _finish(fig, save)


def feature_maps(model, image, layers: int = 4, per_layer: int = 8, save=None):
    """What one digit looks like after each of the first few conv blocks."""
    import keras

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.ReLU)][
        :layers
    ]
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


def accuracy_vs_params(metrics: dict, save=None):
    """Best validation accuracy against parameter count, one point per step."""
    names = sorted(metrics)
    params = [metrics[n]["params"] for n in names]
    acc = [100 * metrics[n]["best_val_accuracy"] for n in names]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(params, acc, "o")
    for name, p, a in zip(names, params, acc):
        ax.annotate(
            name.split("_")[0],
            (p, a),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    ax.axhline(99.4, color="grey", ls="--", lw=1, label="99.4% target")
    ax.axvline(15_000, color="grey", ls=":", lw=1, label="15k parameters")
    ax.set(
        xscale="log",
        xlabel="parameters",
        ylabel="best validation accuracy (%)",
        title="Accuracy vs parameters",
    )
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _finish(fig, save)


def suite_summary(metrics: dict, curves: dict, save=None):
    """Accuracy vs parameters beside every step's validation curve."""
    fig, (ax_p, ax_c) = plt.subplots(1, 2, figsize=(12, 4.2))
    names = sorted(metrics)
    for name in names:
        m = metrics[name]
        ax_p.plot(m["params"], 100 * m["best_val_accuracy"], "o")
        ax_p.annotate(
            name.split("_")[0],
            (m["params"], 100 * m["best_val_accuracy"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
        if name in curves:
            val = curves[name]
            ax_c.plot(
                range(1, len(val) + 1),
                [100 * v for v in val],
                "o-",
                ms=3,
                label=name.split("_")[0],
            )
    ax_p.axhline(99.4, color="grey", ls="--", lw=1)
    ax_p.set(
        xscale="log",
        xlabel="parameters",
        ylabel="best val accuracy (%)",
        title="Accuracy vs parameters",
    )
    ax_c.axhline(99.4, color="grey", ls="--", lw=1)
    ax_c.set(
        xlabel="epoch",
        ylabel="val accuracy (%)",
        ylim=(97.5, 99.8),
        title="Validation accuracy per epoch",
    )
    ax_c.legend(fontsize=8, ncol=2)
    for ax in (ax_p, ax_c):
        ax.grid(alpha=0.3)
    return _finish(fig, save)


def seed_curves(summaries: list[dict], target: float | None = None, save=None):
    """Validation accuracy per epoch, one line per seed: does the target *hold*?"""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for s in summaries:
        val = s["val_accuracy_curve"]
        ax.plot(
            range(1, len(val) + 1),
            [100 * v for v in val],
            "o-",
            ms=3,
            label=f"seed {s['seed']}",
        )
    if target is not None:
        ax.axhline(100 * target, color="grey", ls="--", lw=1, label=f"{target:.2%}")
    low = min(min(s["val_accuracy_curve"]) for s in summaries)
    ax.set(
        xlabel="epoch",
        ylabel="val accuracy (%)",
        ylim=(max(100 * low - 0.1, 97.5), 99.8) if low > 0.975 else None,
        title=f"{summaries[0]['model']}: validation accuracy per seed",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
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
