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
    return f"CPU: {cpu_model()}, {platform.machine()}, {os.cpu_count()} cores"


def cpu_model() -> str:
    """The CPU's name and widest vector unit: two "2-core CPUs" can differ 3x in speed."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    isa = next(
        (
            label
            for flag, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"))
            if flag in flags
        ),
        None,
    )
    return f"{name} ({isa})" if isa else name


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
