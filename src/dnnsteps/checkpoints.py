"""Loading saved models safely, and refusing one saved from another architecture."""

from __future__ import annotations

from pathlib import Path

import keras

from .errors import CheckpointError
from .rundir import architecture_id


def load(path, expected=None) -> keras.Model:
    """Load a ``.keras`` file with ``safe_mode`` (no arbitrary code runs).

    With ``expected`` (a model or a step name), a file saved from a different
    architecture raises ``CheckpointError``; the file itself is never modified.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}.")
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds for a bad file
        raise CheckpointError(
            f"cannot load {path} safely ({type(exc).__name__}: {exc}). It may be "
            "corrupt, or hold code (a Lambda layer) that safe mode refuses to run."
        ) from None
    if expected is not None:
        if isinstance(expected, str):
            from .models import build

            expected = build(expected)
        if architecture_id(model) != architecture_id(expected):
            raise CheckpointError(
                f"{path} holds model {model.name!r} ({model.count_params():,} params), "
                f"not {expected.name!r} ({expected.count_params():,} params). "
                "Load it with the model it was saved from."
            )
    return model
