"""dnnsteps: eight small steps from a first all-convolutional net to 99.4% on MNIST."""

import os

# Quiet TensorFlow's C++ start-up chatter (notebook outputs stay readable).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from . import config, data, errors, models  # noqa: E402
from .errors import DnnstepsError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["DnnstepsError", "config", "data", "errors", "models"]
