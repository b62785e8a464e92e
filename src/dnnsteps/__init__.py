"""dnnsteps: eight small steps from a first all-convolutional net to 99.4% on MNIST."""

import importlib
import os

# Quiet TensorFlow's C++ start-up chatter (notebook outputs stay readable).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from . import config, errors  # noqa: E402
from .errors import DnnstepsError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["DnnstepsError", "config", "data", "errors", "models"]


def __getattr__(name):
    """``dnnsteps.data`` and ``dnnsteps.models`` load on first use: importing the
    package (and parsing the command line) does not start TensorFlow."""
    if name in ("data", "models"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
