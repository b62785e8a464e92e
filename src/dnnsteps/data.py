"""MNIST that loads offline and fails clearly.

``load_mnist`` looks, in order, at: the ``path`` argument, the ``MNIST_NPZ``
environment variable, ``data/mnist.npz`` in the project, Keras's cache; only
when none exists does it download through Keras.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import DnnstepsError

ENV_VAR = "MNIST_NPZ"
KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
# Statistics of the MNIST training pixels after scaling to [0, 1]; each model's first
# layer standardises with them: (x / 255 - MEAN) / STD.
MEAN = 0.1307
STD = 0.3081

_FIX = (
    "Delete or replace it: point MNIST_NPZ (or load_mnist(path=...)) at a good copy "
    "of Keras's mnist.npz, or remove it so Keras can download a fresh one."
)


def _project_data_file() -> Path:
    # src/dnnsteps/data.py -> project root (an editable or source checkout).
    return Path(__file__).resolve().parents[2] / "data" / "mnist.npz"


def _keras_cache_file() -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "mnist.npz"


def candidate_paths(path: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """Where ``load_mnist`` looks, in order, as (where-from, path) pairs."""
    places: list[tuple[str, Path]] = []
    if path is not None:
        places.append(("path argument", Path(path)))
    if os.environ.get(ENV_VAR):
        places.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR])))
    places.append(("project data/", Path.cwd() / "data" / "mnist.npz"))
    project = _project_data_file()
    if project != places[-1][1]:
        places.append(("project data/", project))
    places.append(("Keras cache", _keras_cache_file()))
    return places


def read_npz(path: str | os.PathLike):
    """Read and validate one MNIST npz; any problem raises one ``DnnstepsError``."""
    path = Path(path)
    if not path.is_file():
        raise DnnstepsError(f"MNIST file not found: {path}. {_FIX}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in KEYS if k not in npz.files]
            if missing:
                raise DnnstepsError(
                    f"{path} is not an MNIST npz: missing keys {missing} "
                    f"(found {sorted(npz.files)}). {_FIX}"
                )
            arrays = {k: npz[k] for k in KEYS}
    except DnnstepsError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DnnstepsError(f"{path} is truncated or corrupt ({exc}). {_FIX}") from None
    train = (arrays["x_train"], arrays["y_train"])
    test = (arrays["x_test"], arrays["y_test"])
    for split, (x, y) in (("train", train), ("test", test)):
        try:
            validate_arrays(x, y, split=split, require_uint8=True)
        except DnnstepsError as exc:
            raise DnnstepsError(f"{path}: {exc} {_FIX}") from None
    return train, test


def validate_arrays(x, y, split: str = "data", require_uint8: bool = False) -> None:
    """Check images and labels look like MNIST; raise one clear ``DnnstepsError`` if not."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 4 and x.shape[-1] == 1:
        image_shape = x.shape[1:3]
    elif x.ndim == 3:
        image_shape = x.shape[1:]
    else:
        raise DnnstepsError(
            f"{split} images have shape {x.shape}; expected (N, 28, 28) or (N, 28, 28, 1)."
        )
    if tuple(image_shape) != IMAGE_SHAPE:
        raise DnnstepsError(f"{split} images are {image_shape}; expected 28x28.")
    if require_uint8 and x.dtype != np.uint8:
        raise DnnstepsError(f"{split} images have dtype {x.dtype}; expected uint8.")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DnnstepsError(f"{split} images have dtype {x.dtype}; expected numbers.")
    if y.ndim != 1:
        raise DnnstepsError(
            f"{split} labels have shape {y.shape}; expected (N,) class ids."
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise DnnstepsError(f"{split} labels have dtype {y.dtype}; expected integers 0-9.")
    if len(x) != len(y):
        raise DnnstepsError(f"{split} has {len(x)} images but {len(y)} labels.")
    if len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise DnnstepsError(
            f"{split} labels range {y.min()}..{y.max()}; expected class ids 0-9."
        )


def load_mnist(path: str | os.PathLike | None = None):
    """Return ``(x_train, y_train), (x_test, y_test)`` as uint8, like Keras's loader.

    An explicitly named file (argument or ``MNIST_NPZ``) must be good: a bad one
    raises rather than silently falling back to another copy.
    """
    places = candidate_paths(path)
    for origin, candidate in places:
        explicit = origin in ("path argument", f"${ENV_VAR}")
        if candidate.is_file() or explicit:
            return read_npz(candidate)
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:  # noqa: BLE001 - any download failure gets one message
        looked = "\n".join(f"  - {origin}: {p}" for origin, p in places)
        raise DnnstepsError(
            "MNIST is not available offline and the download failed "
            f"({type(exc).__name__}: {exc}).\nLooked in:\n{looked}\n"
            f"Fix: download mnist.npz once and set {ENV_VAR}=/path/to/mnist.npz."
        ) from None
    validate_arrays(x_train, y_train, "train", require_uint8=True)
    validate_arrays(x_test, y_test, "test", require_uint8=True)
    return (x_train, y_train), (x_test, y_test)


def subset(x, y, size: int, seed: int = 0):
    """A deterministic, class-stratified subset of ``size`` samples (same seed, same rows)."""
    y = np.asarray(y)
    if size >= len(y):
        return x, y
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    per_class = np.floor(counts / counts.sum() * size).astype(int)
    # Hand out the rounding remainder to the largest classes.
    for i in np.argsort(-counts)[: size - per_class.sum()]:
        per_class[i] += 1
    picked = [
        rng.choice(np.flatnonzero(y == c), n, replace=False)
        for c, n in zip(classes, per_class)
    ]
    index = np.sort(np.concatenate(picked))
    return np.asarray(x)[index], y[index]


def mnist(smoke: bool | None = None, path=None):
    """``(x_train, y_train), (x_test, y_test)`` as the models take them: raw pixels 0-255
    as float32 of shape (N, 28, 28, 1), labels as int32. In smoke mode (or ``smoke=True``)
    a stratified 2,000/1,000 subset.

    There is no preprocessing step: every model standardises its input in its first
    layer, so a saved model takes raw pixels and nothing can be normalised twice.
    """
    from . import config

    smoke = config.smoke_mode() if smoke is None else smoke
    (x_train, y_train), (x_test, y_test) = load_mnist(path)
    if smoke:
        x_train, y_train = subset(x_train, y_train, config.SMOKE_TRAIN_SIZE)
        x_test, y_test = subset(x_test, y_test, config.SMOKE_TEST_SIZE)

    def as_model_input(x, y):
        return np.asarray(x, "float32")[..., None], np.asarray(y, "int32")

    return as_model_input(x_train, y_train), as_model_input(x_test, y_test)
