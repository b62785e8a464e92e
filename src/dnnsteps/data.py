"""MNIST that loads offline and fails clearly: ``load_mnist`` reads the first copy
``candidate_paths`` finds, and downloads through Keras only when there is none."""

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

_FIX = ("Delete or replace it: point MNIST_NPZ (or load_mnist(path=...)) at a good copy "
        "of Keras's mnist.npz, or remove it so Keras can download a fresh one.")  # fmt: skip


def _project_data_file() -> Path:  # src/dnnsteps/data.py -> a source checkout's data/
    return Path(__file__).resolve().parents[2] / "data" / "mnist.npz"


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
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    places.append(("Keras cache", Path(home) / "datasets" / "mnist.npz"))
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
                raise DnnstepsError(f"{path} is not an MNIST npz: missing keys {missing} "
                                    f"(found {sorted(npz.files)}). {_FIX}")  # fmt: skip
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
    x, y = np.asarray(x), np.asarray(y)
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] == 1)):
        raise DnnstepsError(f"{split} images have shape {x.shape}; expected (N, 28, 28) "
                            "or (N, 28, 28, 1).")  # fmt: skip
    if tuple(x.shape[1:3]) != IMAGE_SHAPE:
        raise DnnstepsError(f"{split} images are {x.shape[1:3]}; expected 28x28.")
    if require_uint8 and x.dtype != np.uint8:
        raise DnnstepsError(f"{split} images have dtype {x.dtype}; expected uint8.")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DnnstepsError(f"{split} images have dtype {x.dtype}; expected numbers.")
    if y.ndim != 1:
        raise DnnstepsError(f"{split} labels have shape {y.shape}; "
                            "expected (N,) class ids.")  # fmt: skip
    if not np.issubdtype(y.dtype, np.integer):
        raise DnnstepsError(f"{split} labels have dtype {y.dtype}; expected integers 0-9.")
    if len(x) != len(y):
        raise DnnstepsError(f"{split} has {len(x)} images but {len(y)} labels.")
    if len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise DnnstepsError(f"{split} labels range {y.min()}..{y.max()}; "
                            "expected class ids 0-9.")  # fmt: skip


def load_mnist(path: str | os.PathLike | None = None):
    """MNIST as Keras's loader gives it; a bad named file raises, never falls back."""
    places = candidate_paths(path)
    for origin, candidate in places:
        if candidate.is_file() or origin in ("path argument", f"${ENV_VAR}"):
            return read_npz(candidate)
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:  # noqa: BLE001 - any download failure gets one message
        looked = "\n".join(f"  - {origin}: {p}" for origin, p in places)
        raise DnnstepsError("MNIST is not available offline and the download failed "
                            f"({type(exc).__name__}: {exc}).\nLooked in:\n{looked}\nFix: download "
                            f"mnist.npz once and set {ENV_VAR}=/path/to/mnist.npz.") from None  # fmt: skip
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
    """Raw pixels as float32 (N, 28, 28, 1) and int32 labels, as the models take them (they
    standardise inside); in smoke mode, a stratified 2,000/1,000 subset."""
    from . import config

    smoke = config.smoke_mode() if smoke is None else smoke
    (x_train, y_train), (x_test, y_test) = load_mnist(path)
    if smoke:
        x_train, y_train = subset(x_train, y_train, config.SMOKE_TRAIN_SIZE)
        x_test, y_test = subset(x_test, y_test, config.SMOKE_TEST_SIZE)

    def as_model_input(x, y):
        return np.asarray(x, "float32")[..., None], np.asarray(y, "int32")

    return as_model_input(x_train, y_train), as_model_input(x_test, y_test)
