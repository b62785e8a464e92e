"""One exception family, so callers (and the CLI) can tell user mistakes from bugs,
and the two type checks every validation shares."""

import numbers


class DnnstepsError(Exception):
    """A mistake the user can fix; the message says how."""


class DataError(DnnstepsError, ValueError):
    """MNIST could not be found, read or trusted."""


class ConfigError(DnnstepsError, ValueError):
    """An unknown model name or a hyper-parameter out of range."""


class CheckpointError(DnnstepsError):
    """A saved model or run directory does not belong to this model."""


class RunDirError(DnnstepsError, OSError):
    """The run directory cannot be written."""


def is_integer(value) -> bool:
    """An int or NumPy integer, but not a bool: ``True`` is not an epoch count."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """An int or float (NumPy's too), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
