"""dnnsteps: eight small steps from a first all-convolutional net to 99.4% on MNIST.
Importing it starts no backend: modules load on first use (the CLI parses first)."""

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow's C++ start-up

from .errors import DnnstepsError  # noqa: E402

__version__ = "0.2.0"
__all__ = ["DnnstepsError", "resumable"]


def __getattr__(name):
    if name == "resumable":
        from .resume import resumable

        return resumable
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise  # a module of ours that needs something missing
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
