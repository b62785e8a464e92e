"""One exception family, so callers (and the CLI) can tell user mistakes from bugs."""


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
