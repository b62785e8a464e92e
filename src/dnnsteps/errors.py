"""One exception for every mistake a user can fix, and the type checks validation shares."""

import numbers


class DnnstepsError(Exception):
    """A mistake the user can fix; the message says how (the CLI prints it as one line)."""


def is_integer(value) -> bool:
    """An int or NumPy integer, but not a bool: ``True`` is not an epoch count."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """An int or float (NumPy's too), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
