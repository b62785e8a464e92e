"""What a run ran on: device and library versions, for logs and results."""

from __future__ import annotations

import os
import platform


def device_name() -> str:
    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"GPU: {details.get('device_name', gpus[0].name)} x{len(gpus)}"
    except Exception:  # noqa: BLE001 - fall back to describing the CPU
        pass
    return f"CPU: {platform.machine()}, {os.cpu_count()} cores"


def versions() -> dict:
    import keras

    found = {"python": platform.python_version(), "keras": keras.__version__}
    try:
        import tensorflow as tf

        found["tensorflow"] = tf.__version__
    except ImportError:
        pass
    found["backend"] = keras.backend.backend()
    return found
